"""Bring an instance's folder in the stage to the new build's files in place.

The stage of a recompile is the spare build (the build before the current one: mostly hard
links to the current build's files, see :mod:`compiler.engine.engine`). An instance rendered
or linked again used to be removed from it and made anew: at 1,000 peers about 2,000 unlinks,
then 2,000 links, for the few files that changed. When the spare's copy of the instance is
verified (its files are as the spare's record says), it is updated instead: a file it holds
as needed is left alone, one the current build holds as needed is linked from it, any other
is written as a new file, and what the new build no longer has is removed.

**A file of the stage is never written through.** It may be a hard link to the current
build's file, which must stay intact until the swap: a file that changes is unlinked and a
new one created (:func:`compiler.engine.write.write_new`, ``O_EXCL``), never opened for
writing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Collection, Iterable
from pathlib import Path
from typing import NamedTuple

from compiler.engine.cache import Entry
from compiler.engine.write import _same


class Held(NamedTuple):
    """What the stage holds of an instance: its files (verified) and what they contain."""

    files: dict[str, Entry]  # by path in the build, as found and held to the spare's digest
    shas: dict[str, str]  # their SHA-256 by the spare's manifest fragment (VERSION: none)

    def has(self, stage: str, rel: str, sha: str, data: bytes, mode: int) -> bool:
        """Whether the stage's file at ``rel`` already is ``data`` (``sha``) with ``mode``."""
        held = self.files.get(rel)
        if held is None or held.mode != mode:
            return False
        known = self.shas.get(rel)
        if known is not None:
            return known == sha
        return _same(Path(stage, rel), data, mode)  # a VERSION file: a few bytes, read


def folders(rels: Iterable[str]) -> set[str]:
    """Every folder the files ``rels`` are in, with each folder around it (``a``, ``a/b``)."""
    found: set[str] = set()
    for parent in {rel.rpartition("/")[0] for rel in rels}:
        folder = parent
        while folder and folder not in found:
            found.add(folder)
            folder = folder.rpartition("/")[0]
    return found


def prune(stage: str, held: Iterable[str], kept: Collection[str], needed: set[str]) -> None:
    """Remove the files of ``held`` not in ``kept`` and the folders ``needed`` does not name.

    Files first, then the folders left (a whole folder the new build has no use for, like
    ``clients/`` once the last client is gone, or one in the way of a file of that name).
    """
    gone = [rel for rel in held if rel not in kept]
    for rel in gone:
        os.unlink(f"{stage}/{rel}")
    # Shallowest first: removing a folder takes the folders inside it along.
    for folder in sorted(folders(gone) - needed, key=lambda f: f.count("/")):
        with contextlib.suppress(FileNotFoundError):
            shutil.rmtree(f"{stage}/{folder}")


__all__ = ["Held", "folders", "prune"]
