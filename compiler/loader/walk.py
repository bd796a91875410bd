"""Walk a config tree safely: nothing outside ROOT, nothing special, nothing huge.

Layout (SPEC §2)::

    ROOT/vpn.yaml
    ROOT/tests.yaml                       (reachability assertions, SPEC §8)
    ROOT/<instance>/instance.yaml
    ROOT/<instance>/peers/<peer>.yaml
"""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path
from typing import Final

from compiler.diagnostics import Diagnostics
from compiler.loader.source import SourceFile
from compiler.loader.yamlread import YamlError, decode, parse
from compiler.model.types import NAME_RE

MAX_BYTES: Final = 1 << 20
YAML_SUFFIXES: Final = (".yaml", ".yml")


@dataclasses.dataclass
class RawInstance:
    """An instance folder as found on disk."""

    name: str
    dir: Path
    name_ok: bool
    source: SourceFile | None = None
    peers: dict[str, SourceFile] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class RawTree:
    """Everything the loader read: parsed YAML files and other files (for the secret scan)."""

    root: Path
    vpn: SourceFile | None = None
    tests: SourceFile | None = None
    instances: dict[str, RawInstance] = dataclasses.field(default_factory=dict)
    others: list[SourceFile] = dataclasses.field(default_factory=list)

    def sources(self) -> list[SourceFile]:
        """Every parsed YAML file, in a stable order."""
        out = [s for s in (self.vpn, self.tests) if s is not None]
        for inst in self.instances.values():
            if inst.source is not None:
                out.append(inst.source)
            out.extend(inst.peers.values())
        return out


def _is_yaml(name: str) -> bool:
    return name.endswith(YAML_SUFFIXES)


class _Walker:
    def __init__(self, root: Path, diags: Diagnostics, parse: bool = True,
                 skip: frozenset[str] = frozenset()) -> None:
        self.root = root
        self.diags = diags
        self.parse = parse
        self.skip = skip

    def _inside(self, path: Path) -> bool:
        return path == self.root or self.root in path.parents

    def safe_target(self, entry: os.DirEntry[str], path: Path | None = None) -> Path | None:
        """The real path of an entry if it may be read, else ``None`` (with a diagnostic)."""
        path = Path(entry.path) if path is None else path
        if entry.is_symlink():
            real = Path(os.path.realpath(path))
            if not self._inside(real) or not real.exists():
                self.diags.add(
                    "file-unsafe",
                    f"'{entry.name}' is a symlink that leaves the config tree (or dangles); "
                    "replace it with the file itself",
                    path,
                )
                return None
            return real
        return path

    def read_file(self, entry: os.DirEntry[str], parse_yaml: bool) -> SourceFile | None:
        """Read a regular file of at most 1 MiB; refuse anything else without reading it."""
        path = Path(entry.path)
        real = self.safe_target(entry, path)
        if real is None:
            return None
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError as exc:
            self.diags.add("file-unsafe", f"cannot open '{entry.name}': {exc.strerror}", path)
            return None
        try:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                self.diags.add(
                    "file-unsafe", f"'{entry.name}' is not a regular file; it was not read", path
                )
                return None
            if st.st_size > MAX_BYTES:
                self.diags.add(
                    "file-unsafe",
                    f"'{entry.name}' is {st.st_size} bytes, over the 1 MiB limit; it was not read",
                    path,
                )
                return None
            # os.read, not a buffered file object: this runs once per peer file.
            chunks = [os.read(fd, MAX_BYTES + 1)]
            while chunks[-1] and sum(map(len, chunks)) <= MAX_BYTES:
                chunks.append(os.read(fd, MAX_BYTES + 1))
            data = b"".join(chunks)
        finally:
            os.close(fd)
        if not parse_yaml:
            return SourceFile(path, data.decode("utf-8", errors="replace"))
        try:
            text = decode(data)
        except YamlError as exc:
            self.diags.add("yaml-syntax", exc.message, path, exc.line, exc.column)
            return SourceFile(path, data.decode("utf-8", errors="replace"), ok=False)
        source = SourceFile(path, text)
        if self.parse:
            parse_source(source, self.diags)
        else:
            source.ok = False  # not parsed yet: see parse_source
        return source

    def scan(self, directory: Path) -> list[os.DirEntry[str]]:
        """Entries of a directory, hidden ones skipped, in name order."""
        try:
            with os.scandir(directory) as it:
                entries = [e for e in it if not e.name.startswith(".")]
        except OSError as exc:
            self.diags.add(
                "file-unsafe", f"cannot list '{directory.name}': {exc.strerror}", directory
            )
            return []
        return sorted(entries, key=lambda e: e.name)

    def is_dir(self, entry: os.DirEntry[str]) -> bool:
        """A directory we may descend into (an in-tree symlink to one counts)."""
        if not entry.is_dir(follow_symlinks=True):
            return False
        return self.safe_target(entry) is not None

    def other(self, entry: os.DirEntry[str], tree: RawTree, where: str) -> None:
        """A file outside the layout: a stray YAML file warns; everything is secret-scanned."""
        if entry.is_dir(follow_symlinks=False) or (
            entry.is_symlink() and entry.is_dir(follow_symlinks=True)
        ):
            if self.is_dir(entry):
                for sub in self.scan(Path(entry.path)):
                    self.other(sub, tree, where)
            return
        if _is_yaml(entry.name):
            self.diags.add(
                "file-unexpected",
                f"'{entry.name}' is not part of the tree layout ({where}); it was ignored",
                Path(entry.path),
            )
        if entry.is_symlink():
            real = Path(os.path.realpath(entry.path))
            if not self._inside(real):
                return  # never read outside ROOT; an ignored file needs no diagnostic
        if entry.is_file(follow_symlinks=True):
            src = self.read_file(entry, parse_yaml=False)
            if src is not None:
                tree.others.append(src)

    def instance(self, entry: os.DirEntry[str], tree: RawTree) -> None:
        """Load one instance folder: ``instance.yaml`` and ``peers/*.yaml``."""
        name = entry.name
        ok = bool(NAME_RE.match(name))
        inst = RawInstance(name, Path(entry.path), ok)
        if name in self.skip:  # known unchanged (see compiler.incremental): not read
            tree.instances[name] = inst
            return
        if not ok:
            self.diags.add(
                "name-invalid",
                f"instance folder name '{name}' is not a safe identifier "
                "(lower-case letters, digits and inner hyphens, 1-32 characters)",
                inst.dir,
            )
        for sub in self.scan(inst.dir):
            if sub.name in ("instance.yaml", "instance.yml") and inst.source is None:
                inst.source = self.read_file(sub, parse_yaml=True)
            elif sub.name == "peers" and self.is_dir(sub):
                self.peers(Path(sub.path), inst, tree)
            else:
                self.other(sub, tree, "expected instance.yaml and peers/")
        if inst.source is None and not any(
            (inst.dir / n).exists() for n in ("instance.yaml", "instance.yml")
        ):
            self.diags.add(
                "schema",
                f"instance folder '{name}' has no instance.yaml; add one (see `mvpn init`)",
                inst.dir,
            )
        tree.instances[name] = inst

    def peers(self, directory: Path, inst: RawInstance, tree: RawTree) -> None:
        """Load the peer files of one instance."""
        for sub in self.scan(directory):
            if not _is_yaml(sub.name) or sub.is_dir(follow_symlinks=False):
                self.other(sub, tree, "peers/ holds one <peer>.yaml per peer")
                continue
            stem = sub.name.rsplit(".", 1)[0]
            if not NAME_RE.match(stem):
                self.diags.add(
                    "name-invalid",
                    f"peer file name '{stem}' is not a safe identifier "
                    "(lower-case letters, digits and inner hyphens, 1-32 characters)",
                    Path(sub.path),
                )
                continue
            if stem in inst.peers:
                self.diags.add(
                    "name-invalid",
                    f"peer '{stem}' is defined twice ({stem}.yaml and {stem}.yml); keep one",
                    Path(sub.path),
                )
                continue
            src = self.read_file(sub, parse_yaml=True)
            if src is not None:
                inst.peers[stem] = src


def parse_source(source: SourceFile, diags: Diagnostics) -> None:
    """Parse a YAML file that was read with ``walk(..., parse=False)``."""
    try:
        source.data, source.ok = parse(source.text), True
    except YamlError as exc:
        diags.add("yaml-syntax", exc.message, source.path, exc.line, exc.column)
        source.data, source.ok = None, False


def walk(
    root: Path, diags: Diagnostics, parse: bool = True, skip: frozenset[str] = frozenset()
) -> RawTree:
    """Read a config tree rooted at ``root`` (an existing directory).

    With ``parse=False`` YAML files are read and decoded but not parsed (``ok`` is
    False until :func:`parse_source`): an incremental compile parses only what changed.
    Instance folders named in ``skip`` are not read at all (they stay empty).
    """
    root = Path(os.path.realpath(root))
    walker = _Walker(root, diags, parse, skip)
    tree = RawTree(root)
    for entry in walker.scan(root):
        name = entry.name
        if name in ("vpn.yaml", "vpn.yml") and tree.vpn is None:
            tree.vpn = walker.read_file(entry, parse_yaml=True)
        elif name in ("tests.yaml", "tests.yml") and tree.tests is None:
            tree.tests = walker.read_file(entry, parse_yaml=True)
        elif (entry.is_dir(follow_symlinks=True) and not entry.is_symlink()) or (
            entry.is_symlink() and entry.is_dir(follow_symlinks=True)
        ):
            if walker.safe_target(entry) is None:
                continue
            path = Path(entry.path)
            if any((path / n).exists() for n in ("instance.yaml", "instance.yml", "peers")):
                walker.instance(entry, tree)
            else:
                walker.other(entry, tree, "a folder without instance.yaml is not an instance")
        else:
            walker.other(entry, tree,
                         "ROOT holds vpn.yaml, tests.yaml and one folder per instance")
    return tree
