"""The loader: find the tree, read its YAML with positions, walk it into raw files."""
