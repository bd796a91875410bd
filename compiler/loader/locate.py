"""Find the config tree a path belongs to, the way git finds ``.git``.

``mvpn check sites/acme-eu`` and ``mvpn check .`` at the repository's top both mean the
tree that holds them: most checks look across instances (duplicate hostnames, overlapping
routes, ``tests.yaml``), so a folder checked on its own would say nothing true. The walk
goes up from the path to the first folder that holds ``vpn.yaml`` (the tree's top) or a
``sites/`` folder (a config repository's top), and never above a repository's top
(a folder with ``.git``).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from compiler.diagnostics import UsageError

_TOP_FILES = ("vpn.yaml", "vpn.yml")
_TREE = "sites"


@dataclasses.dataclass(frozen=True)
class Located:
    """The tree to check and the part of it the user asked about."""

    root: Path
    #: Diagnostics outside this folder (or file) are not shown; the root itself: all.
    focus: Path
    #: False when no folder up from the path looked like a tree (the path is used as it is).
    found: bool = True

    def shows(self, file: Path) -> bool:
        """Whether a diagnostic at ``file`` is under the path the user gave."""
        return file == self.focus or file.is_relative_to(self.focus)


def _is_top(folder: Path) -> Path | None:
    if any((folder / name).is_file() for name in _TOP_FILES):
        return folder
    if (folder / _TREE).is_dir():
        return folder / _TREE
    return None


def locate(path: Path) -> Located:
    """The tree ``path`` belongs to; ``path`` itself when no folder above it looks like one.

    Raises :class:`UsageError` when ``path`` does not exist.
    """
    if not path.exists():
        raise UsageError(f"config tree '{path}' does not exist")
    start = Path(os.path.realpath(path))
    folder = start if start.is_dir() else start.parent
    while True:
        root = _is_top(folder)
        if root is not None:
            break
        if (folder / ".git").exists() or folder.parent == folder:
            return Located(start, start, found=False)  # no tree above: the path as given
        folder = folder.parent
    if root.is_relative_to(start):  # `mvpn check .` at a repository's top: all of it
        return Located(root, root)
    if not start.is_relative_to(root):
        raise UsageError(f"'{path}' is not part of the config tree '{root}' "
                         "(found by walking up from it)")
    return Located(root, start)
