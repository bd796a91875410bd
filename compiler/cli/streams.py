"""The standard streams of the ``mvpn`` process: fds 0-2 made safe, stdout failures reported.

Only :func:`compiler.cli.main.run` (a process of its own) calls :func:`guard_standard_streams`;
a test or a library caller of :func:`compiler.cli.main.main` keeps its own streams.
"""

from __future__ import annotations

import io
import os
import sys
from typing import TextIO

from compiler.diagnostics import EnvironmentFailureError


class _Stdout(io.TextIOBase):
    """stdout that turns a write failure into :class:`EnvironmentFailureError`.

    ``mvpn check >&-`` must not print a traceback: a closed stdout is an environment
    error (exit 2, like any output that cannot be written), not a bug. A reader that
    closed a pipe early is left to :func:`compiler.cli.report.failed` as BrokenPipeError.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _guard(self, exc: OSError) -> EnvironmentFailureError:
        return EnvironmentFailureError(
            f"cannot write to standard output: {exc.strerror or exc}", "<stdout>")

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._guard(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._guard(exc) from None

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


def guard_standard_streams() -> None:
    """Make fds 0-2 safe before anything is opened.

    A closed fd 1 would otherwise be taken by the next file opened (a build artifact, a
    lock) and a child process (git) would write into it. It is filled with /dev/null
    opened read-only, so writes still fail (EBADF) and are reported, never lost silently.
    """
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, flags)
            if opened != fd:  # pragma: no cover - a lower fd was free: fds 0-2 are in order
                os.dup2(opened, fd)
                os.close(opened)
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stderr is None:  # print(file=None) would write to stdout instead
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = _Stdout(sys.stdout)
