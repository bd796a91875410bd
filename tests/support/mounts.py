"""Real file-system failures for tests: a small tmpfs (disk full), remounted read-only.

Mounting needs root (CAP_SYS_ADMIN); without it the test is skipped, except under
CI=true, where every test must run.
"""

from __future__ import annotations

import contextlib
import subprocess
from collections.abc import Iterator
from pathlib import Path

from tests.support.tools import skip_or_fail


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, check=False)


@contextlib.contextmanager
def tmpfs(path: Path, size: str = "256k") -> Iterator[Path]:
    """A fresh tmpfs of ``size`` mounted at ``path`` for the duration of the block."""
    path.mkdir(parents=True, exist_ok=True)
    done = _run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "tmpfs", str(path))
    if done.returncode != 0:
        skip_or_fail(f"mounting a tmpfs needs root: {done.stderr.strip()}")
    try:
        yield path
    finally:
        _run("umount", "-l", str(path))


def read_only(path: Path) -> None:
    """Remount the tmpfs at ``path`` read-only (EROFS for every write, even as root)."""
    done = _run("mount", "-o", "remount,ro", str(path))
    assert done.returncode == 0, done.stderr


def immutable(path: Path, on: bool = True) -> None:
    """``chattr +i``: the file can be neither replaced nor linked, even by root."""
    done = _run("chattr", "+i" if on else "-i", str(path))
    if done.returncode != 0:
        skip_or_fail(f"chattr +i needs root and ext4/xfs: {done.stderr.strip()}")
