"""One compile at a time per output folder: an advisory lock on the output's parent.

Two compiles into the same ``-o`` raced: each staged and swapped, and the loser could
fail after its build was already swapped in. The lock is ``flock`` on the parent folder
itself, not on a lock file: it leaves nothing behind, it is released by the kernel when
the process dies (a killed compile never leaves a stale lock), and the parent is exactly
the scope that needs it (the stage, the spare and ``.mvpn-cache/`` all live there).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


def _missing(folder: Path) -> list[Path]:
    """``folder`` and its ancestors that do not exist yet, deepest first."""
    out: list[Path] = []
    while not folder.exists() and folder.parent != folder:
        out.append(folder)
        folder = folder.parent
    return out


@contextlib.contextmanager
def output_lock(out: Path, waiting: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold the lock of ``out``'s parent while the block runs.

    A missing parent is created for the lock and removed again if it is still empty at
    the end (a compile that wrote nothing leaves nothing). ``waiting`` hears the folder
    once if another compile holds it; this one then waits for it.
    """
    parent = Path(os.path.abspath(out)).parent
    told = False
    while True:
        created = _missing(parent)
        parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None and not told:
                waiting(parent)
                told = True
            fcntl.flock(fd, fcntl.LOCK_EX)
        # The holder may have removed the folder we waited on (it had created it): lock
        # the folder that is there now, not a deleted one.
        with contextlib.suppress(OSError):
            if os.stat(parent).st_ino == os.fstat(fd).st_ino:
                break
        os.close(fd)
    try:
        yield
    finally:
        for folder in created:  # deepest first; a folder with anything in it stays
            with contextlib.suppress(OSError):
                folder.rmdir()
        os.close(fd)  # releases the lock
