"""What the user is told: exit codes, diagnostics, and the one mapping of failures to exit codes.

Every subcommand module imports this (and never :mod:`compiler.cli.main`, which imports
them): exit codes and the default tree are named once, diagnostics are printed one way,
and :func:`failed` is the only place an exception becomes a line on stderr and an exit
code, so no input, however broken, ends in a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, TextIO, TypeAlias

from compiler import COMPILER_ID, runtime
from compiler.cli.output import display_path, render
from compiler.diagnostics import Diagnostics, EnvironmentFailureError, UsageError
from compiler.loader.source import SourceFile
from compiler.terminal import neutralize

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command killed by Ctrl-C

#: What a subcommand module's ``register`` adds its parser to (``mvpn COMMAND``).
Subparsers: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def line_lookup(sources: Sequence[SourceFile]) -> Callable[[Path], Sequence[str] | None]:
    """The lines of each source file by path, for the quotes under a diagnostic."""
    by_path = {s.path: s for s in sources}

    def lines(path: Path) -> Sequence[str] | None:
        src = by_path.get(path)
        return src.lines if src is not None else None

    return lines


def print_diagnostics(diags: Diagnostics, fmt: str, sources: Sequence[SourceFile]) -> None:
    """Print diagnostics in one of the four formats to stdout."""
    text = render(
        diags.sorted(), fmt,  # type: ignore[arg-type]
        cwd=Path.cwd(), lines=line_lookup(sources), color=use_color(sys.stdout),
        tool_version=COMPILER_ID.split()[1],
    )
    if text:
        sys.stdout.write(text)


#: OS errors that mean the machine refused, not that mvpn has a bug: each is
#: ``error: <what> (<path>)``, exit 2. Anything else from the OS is an internal error.
ENVIRONMENT_ERRNOS: Final = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
    errno.ENOENT, errno.EBUSY, errno.EXDEV, errno.EIO, errno.EMLINK, errno.ENOTDIR,
    errno.EISDIR, errno.ELOOP, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ETXTBSY,
    errno.ESTALE, errno.EEXIST, errno.ENOTEMPTY, errno.EFBIG,
})


def _shown(path: Path | str | None) -> str:
    """A path as messages show it: relative inside the working directory."""
    if path is None:
        return "?"
    if str(path).startswith("<"):  # a stream, like <stdout>
        return str(path)
    try:
        return display_path(Path(os.fsdecode(path)).absolute(), Path.cwd())
    except OSError:  # the working directory is gone
        return os.fsdecode(path)


def failed(exc: BaseException) -> int:
    """Print what stopped a command (one line on stderr) and return its exit code.

    Usage and environment errors exit 2; Ctrl-C 130 (128 + SIGINT, what shells report);
    a reader that closed the pipe early (``| head``) wanted no more output: 0. Only an
    exception that none of these explains is an internal error, i.e. a bug of ours.
    """
    if isinstance(exc, KeyboardInterrupt):
        return interrupted()
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK
    if isinstance(exc, EnvironmentFailureError):
        where = f" ({_shown(exc.path)})" if exc.path is not None else ""
        _say(f"mvpn: error: {exc.what}{where}")
        return EXIT_USAGE
    if isinstance(exc, UsageError):
        _say(f"mvpn: error: {exc}")
        return EXIT_USAGE
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
        what = str(exc.strerror or type(exc).__name__)
        if exc.filename2 is not None:
            what = f"{what} (and {_shown(exc.filename2)})"
        where = f" ({_shown(exc.filename)})" if exc.filename is not None else ""
        _say(f"mvpn: error: {what}{where}")
        return EXIT_USAGE
    if isinstance(exc, SystemExit):
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if not isinstance(exc, Exception):
        raise exc
    if os.environ.get("MVPN_DEBUG"):
        raise exc
    _say(f"mvpn: internal error: {type(exc).__name__}: {exc} "
         "(set MVPN_DEBUG=1 for a traceback)")
    return EXIT_USAGE


def _say(line: str) -> None:
    """One line on stderr; nothing if stderr itself is closed (the exit code still tells).

    Control and bidi characters are shown as escapes: a message may quote a path or a value
    given on the command line or found in the tree, and it must stay one readable line.
    """
    with contextlib.suppress(Exception):
        print(neutralize(line), file=sys.stderr, flush=True)


def interrupted() -> int:
    """Ctrl-C: one line and exit code 130, however deep the interrupt landed.

    By now the interrupt has unwound (a build removed its stage, allocate put its files
    back); a further Ctrl-C must not print a traceback while the process exits, so from
    here on SIGINT ends it at once.
    """
    if runtime.one_shot():  # a process of its own (not a test calling main())
        signal.signal(signal.SIGINT, _exit_interrupted)
    _say("mvpn: interrupted")
    return EXIT_INTERRUPTED


def _exit_interrupted(*_: object) -> None:
    os._exit(EXIT_INTERRUPTED)  # "interrupted" was already said once
