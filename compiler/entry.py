"""The process entry point of ``mvpn``: Ctrl-C is one line and exit 130 from the start.

Importing the compiler (jinja2, cryptography, pydantic, networkx) takes about half a
second; a Ctrl-C in that time used to print a traceback of whatever was being imported.
This module imports nothing heavy: it installs a SIGINT handler that says one line and
ends the process (nothing has been written yet, so nothing needs undoing), then imports
the command line, which replaces the handler once it can unwind cleanly.
"""

from __future__ import annotations

import os
import signal
from typing import NoReturn


def _interrupted(signum: int, frame: object) -> None:
    os.write(2, b"mvpn: interrupted\n")
    os._exit(130)


def run() -> NoReturn:
    """``mvpn`` and ``python -m compiler``."""
    signal.signal(signal.SIGINT, _interrupted)
    from compiler.cli.main import run as cli_run

    cli_run()
