"""The stat keys of a config tree's instance folders: whether anything in a folder changed.

A recompile must know which instance folders changed before it reads them: at 100k peers,
reading and parsing every file is most of a check. A folder's key digests the status of
everything in it (:func:`stat_keys`); the cache records it with the instance's input key
(:mod:`compiler.incremental`). Only the file system is touched here (no parsing, nothing of
the compiler): the process entry can take the keys in a child before the compiler is even
imported (:mod:`compiler.engine.scan`).
"""

from __future__ import annotations

import hashlib
import os
import stat
import time
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

#: A file changed this recently may change again within one timestamp tick unnoticed.
RACY_NS = 2_000_000_000


def stat_keys(root: Path, only: Collection[str] | None = None,
              claim: Callable[[int], bool] | None = None, reverse: bool = False,
              ) -> dict[str, str | None]:
    """Per instance folder (of ``only``, if given), a digest of the status of everything in it.

    Taken *before* the files are read, and recorded with the instance's input key: when a
    later compile finds the same stat key, nothing in the folder was written, renamed or
    replaced since (inode, size, mtime and ctime, which no one can set back, all agree), so
    the recorded input key still holds and the folder is not read at all. Folders with
    anything but files and ``peers/``, or touched in the last two seconds, get None (as
    does every folder while ``vpn.yaml`` was touched in the last two seconds: ``{}``).

    ``claim``: the folders are shared with other processes (by position among the folders,
    in name order; :class:`compiler.engine.portable.Claims`): only those ``claim`` grants
    are keyed here, from the last one first when ``reverse``.
    """
    keys: dict[str, str | None] = {}
    now = time.time_ns()
    with os.scandir(root) as entries:
        items = sorted(entries, key=lambda e: e.name)
    # vpn.yaml is an input of every instance: its status is part of every key.
    common = hashlib.sha256()
    for item in items:
        if item.name in ("vpn.yaml", "vpn.yml"):
            st = item.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or max(st.st_mtime_ns, st.st_ctime_ns) > now - RACY_NS:
                return {}
            common.update(f"{item.name}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}"
                          f"\0{st.st_ctime_ns}\n".encode())
    folders = [e for e in items if e.is_dir(follow_symlinks=False)
               and (only is None or e.name in only)]
    for i in range(len(folders) - 1, -1, -1) if reverse else range(len(folders)):
        if claim is None or claim(i):
            keys[folders[i].name] = _folder_key(folders[i].path, common, now)
    return keys


def _folder_key(path: str, common: Any, now: int) -> str | None:
    """The stat key of one instance folder (see :func:`stat_keys`), or None: read it.

    Each name is looked up in its open folder (``fstatat``), not by a path from the top:
    100k peer files at 100k peers, and a recompile takes this key of every folder.
    """
    digest = common.copy()
    todo = [(path, "")]
    while todo:
        folder, prefix = todo.pop()
        lines = []
        try:
            fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return None  # the walk reports what is wrong with it
        try:
            for name in sorted(os.listdir(fd)):
                st = os.stat(name, dir_fd=fd, follow_symlinks=False)
                if stat.S_ISDIR(st.st_mode) and not prefix and name == "peers":
                    todo.append((f"{folder}/{name}", "peers/"))
                elif not stat.S_ISREG(st.st_mode) or max(
                    st.st_mtime_ns, st.st_ctime_ns
                ) > now - RACY_NS:
                    return None
                lines.append(f"{prefix}{name}\0{st.st_mode}\0{st.st_ino}\0{st.st_size}"
                             f"\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n")
        except OSError:
            return None
        finally:
            os.close(fd)
        digest.update("".join(lines).encode())
    return str(digest.hexdigest())
