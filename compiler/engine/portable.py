"""The build's platform-dependent calls, each with a fallback where the platform lacks it.

``os.sched_getaffinity`` (Linux), ``renameat2`` (Linux libc) and the ``fork`` start method
(not on Windows; not the default on macOS) are only there on some platforms (``malloc_trim``,
glibc's, is process tuning: :mod:`compiler.runtime`). Every caller
goes through here, and every fallback gives the same output bytes: only speed and the
atomicity of the final swap differ (see :mod:`compiler.engine.write`).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import multiprocessing
import os
import signal
import sys
import tempfile
from pathlib import Path

_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
#: Where Linux lists processes (a variable so tests can take it away).
PROC = Path("/proc")


def cpu_count() -> int:
    """CPUs this process may run on (its affinity mask where the OS has one)."""
    affinity = getattr(os, "sched_getaffinity", None)
    if affinity is not None:
        return max(1, len(affinity(0)))
    return max(1, os.cpu_count() or 1)


def can_fork() -> bool:
    """Whether workers can be forked.

    They inherit the checked estate instead of unpickling it, so without ``fork`` the build
    renders in this process (same bytes, one core).
    """
    return "fork" in multiprocessing.get_all_start_methods()


_PR_SET_PDEATHSIG = 1


def die_with_parent(parent: int) -> None:
    """In a forked helper: be killed when ``parent`` ends (Linux ``prctl``), or end now if it did.

    A helper that only serves its parent (the build scan) must not outlive it: a parent killed
    by a signal, or one whose command failed early, does not wait for it. Elsewhere the helper
    ends on its own, at its first write to the closed pipe.
    """
    with contextlib.suppress(OSError, AttributeError):
        if sys.platform.startswith("linux"):  # prctl is in the C library the process has
            ctypes.CDLL(None).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # the parent ended before the call: nobody is listening
        os._exit(1)


class Claims:
    """Numbered items shared out among a process and its forked children: first come, first served.

    Item ``i`` goes to the first process that locks byte ``i`` of a file they all hold open
    (a POSIX record lock: the kernel decides, and a process's claims end with it). A process
    that finds an item claimed skips it; whoever needs the whole does what is left once
    the others are done. The file is unlinked from the start (``memfd`` on Linux).
    """

    def __init__(self) -> None:
        create = getattr(os, "memfd_create", None)
        if create is not None:
            self.fd = create("mvpn-claims", getattr(os, "MFD_CLOEXEC", 0))
        else:
            self.fd, path = tempfile.mkstemp(prefix="mvpn-claims-")
            os.unlink(path)

    def close(self) -> None:
        """Release this process's claims and the file (idempotent)."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def claim(self, item: int) -> bool:
        """Whether this process now has ``item`` (False: another one claimed it first)."""
        try:
            fcntl.lockf(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB, 1, item)
        except OSError:
            return False
        return True


def exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths (Linux ``renameat2``); False where unsupported."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name, use_errno=True)
    except OSError:
        return False
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    res = fn(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(res == 0)


def alive(pid: int) -> bool:
    """Whether process ``pid`` exists (``/proc`` on Linux, signal 0 on other POSIX systems).

    Where neither works, every process counts as alive: a stale stage is then left behind
    (harmless, removed by hand) rather than a running build's stage removed.
    """
    if PROC.is_dir() and (PROC / "self").exists():
        return (PROC / str(pid)).exists()
    if os.name != "posix":
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    return True
