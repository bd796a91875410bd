"""What every subcommand shares: exit codes, the default tree, printing diagnostics.

Below :mod:`compiler.cli.main` (which maps exceptions to exit codes) and beside nothing else:
a subcommand module imports this, never ``main``, so the CLI has no import cycle.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TextIO

from compiler import COMPILER_ID
from compiler.cli.output import render
from compiler.diagnostics import Diagnostics
from compiler.loader.source import SourceFile

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT: what a shell reports for a command killed by Ctrl-C

#: The config tree a command works on when none is given (every command: one name).
DEFAULT_ROOT = "sites"


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
