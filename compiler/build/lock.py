"""One compile at a time per output folder: an advisory lock on the output's parent.

Two compiles into the same ``-o`` raced: each staged and swapped, and the loser could
fail after its build was already swapped in. The lock is ``flock`` on the parent folder
itself, not on a lock file: it creates nothing, it is released by the kernel when the
process dies (a killed compile never leaves a stale lock), and the parent is exactly the
scope that needs it (the stage, the spare and ``.mvpn-cache/`` all live there).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Callable, Iterator
from pathlib import Path


@contextlib.contextmanager
def output_lock(out: Path, waiting: Callable[[Path], None] | None = None) -> Iterator[None]:
    """Hold the lock of ``out``'s parent (created if missing); ``waiting`` hears the folder
    once if another compile holds it, then this one waits for it."""
    parent = Path(os.path.abspath(out)).parent
    parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if waiting is not None:
                waiting(parent)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock
