"""The folders beside the output: the one module that knows their names.

A compile into ``out`` works in ``out``'s parent folder (also the scope of the output lock,
:mod:`compiler.engine.lock`): ``.mvpn-cache/`` holds the cache state, ``.<out>.mvpn-stage-<pid>``
the build being written, ``.<out>.mvpn-old-<pid>`` the previous build during a swap without
``RENAME_EXCHANGE``, and ``.<out>.mvpn-spare`` the build before the current one, updated in
place into the next. The pid marks a folder of a live compile: the others are left-overs of a
killed one, cleaned up by the next. ``mvpn init``'s ``.gitignore`` lists the same names.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Final

CACHE_DIR: Final = ".mvpn-cache"
_STAGE_MARK: Final = ".mvpn-stage-"
_BACKUP_MARK: Final = ".mvpn-old-"
_SPARE_MARK: Final = ".mvpn-spare"


def cache_dir(out: Path) -> Path:
    """The cache folder of compiles into ``out`` (shared by every output of that parent)."""
    return out.parent / CACHE_DIR


def state_file(out: Path, folder: Path | None = None) -> Path:
    """The cache state of compiles into ``out`` (absolute): one file per output folder."""
    name = hashlib.sha256(str(out).encode()).hexdigest()[:16]
    return (folder if folder is not None else cache_dir(out)) / f"build-{name}.json"


def spare_of(out: Path) -> Path:
    """Where the build before the current one is kept, to be updated into the next one."""
    return out.parent / f".{out.name}{_SPARE_MARK}"


def stage_of(out: Path) -> Path:
    """The stage of this process for ``out`` (named by the pid: a dead one's is removed later)."""
    return out.parent / f".{out.name}{_STAGE_MARK}{os.getpid()}"


def backup_of(out: Path) -> Path:
    """Where this process keeps the previous build while two renames swap in the new one."""
    return out.parent / f".{out.name}{_BACKUP_MARK}{os.getpid()}"


def stages(out: Path) -> Iterator[Path]:
    """The stages of every compile into ``out``, this one's and killed ones'."""
    return out.parent.glob(f".{out.name}{_STAGE_MARK}*")


def backups(out: Path) -> Iterator[Path]:
    """The previous builds kept by compiles into ``out`` that swapped with two renames."""
    return out.parent.glob(f".{out.name}{_BACKUP_MARK}*")


def owner_pid(path: Path) -> int | None:
    """The pid in the name of a stage or backup, if any."""
    pid = path.name.rsplit("-", 1)[-1]
    return int(pid) if pid.isdigit() else None
