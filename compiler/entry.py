"""The process entry point of ``mvpn``: Ctrl-C is one line and exit 130 from the start.

Importing the compiler (jinja2, cryptography, pydantic, networkx) takes about half a
second; a Ctrl-C in that time used to print a traceback of whatever was being imported.
This module imports nothing heavy: it installs a SIGINT handler that says one line and
ends the process (nothing has been written yet, so nothing needs undoing), then imports
the command line, which replaces the handler once it can unwind cleanly.

A recompile's largest cost is verifying the previous build (a status per output file, in a
child process: :mod:`compiler.engine.scan`). For ``mvpn compile`` that child is started here,
before the import, so it works while this process imports; the compile takes it only if it
scanned the very folder the command line names (parsed by argparse later) and nothing changed
the build meanwhile, so a wrong guess here costs a scan, never a wrong build.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

from compiler import DEFAULT_ROOT


def _interrupted(signum: int, frame: object) -> None:
    os.write(2, b"mvpn: interrupted\n")
    os._exit(130)


def run() -> NoReturn:
    """``mvpn`` and ``python -m compiler``."""
    signal.signal(signal.SIGINT, _interrupted)
    folders = compile_folders(sys.argv[1:])
    if folders is not None:
        from compiler.engine.scan import start_early

        start_early(*folders)
    from compiler.cli.main import run as cli_run

    cli_run()


def compile_folders(argv: Sequence[str]) -> tuple[str, str | None] | None:
    """The output folder and tree of an ``mvpn compile`` that uses the cache, else None.

    A guess ahead of argparse, for :func:`compiler.engine.scan.start_early` only: options are
    recognised by the prefixes argparse accepts for them (``--out``, ``-oDIR``, ``--output=DIR``).
    """
    if not argv or argv[0] != "compile":
        return None
    out, roots = "build", list[str]()
    args = iter(argv[1:])
    for arg in args:
        if arg == "--":
            roots.extend(args)
            break
        name, eq, value = arg.partition("=")
        if name.startswith("--no-c") and "--no-cache".startswith(name):
            return None
        if len(name) > 3 and "--output".startswith(name):
            out = value if eq else next(args, out)
        elif arg.startswith("-o"):
            out = arg[2:] or next(args, out)
        elif len(name) > 3 and "--secret-file".startswith(name) and not eq:
            next(args, None)
        elif not arg.startswith("-"):
            roots.append(arg)
    return out, (roots[0] if len(roots) == 1 else None if roots else DEFAULT_ROOT)
