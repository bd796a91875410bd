"""The SPEC §9 baseline: parse every YAML file of a tree with PyYAML's C loader alone.

    python -m benchmarks.parse_only ROOT

No checks, no models: ``yaml.load(text, Loader=CSafeLoader)`` over every ``.yaml`` file,
found with ``os.walk``. This is the floor `mvpn check` is measured against.
"""

from __future__ import annotations

import os
import sys

import yaml


def parse_tree(root: str) -> int:
    """Parse every YAML file under ``root``; returns how many were parsed."""
    count = 0
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if name.endswith((".yaml", ".yml")):
                with open(os.path.join(folder, name), encoding="utf-8") as fh:
                    yaml.load(fh.read(), Loader=yaml.CSafeLoader)
                count += 1
    return count


if __name__ == "__main__":
    print(parse_tree(sys.argv[1]))
