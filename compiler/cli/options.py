"""Arguments several subcommands take, and how they are read: the config tree, the secret file."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from compiler import DEFAULT_ROOT
from compiler.keys import load_secret
from compiler.keys.secret import secret_file_mode


def add_root(parser: argparse.ArgumentParser) -> None:
    """The optional ``ROOT`` argument: the config tree, ``sites`` when not given."""
    parser.add_argument("root", nargs="?", default=DEFAULT_ROOT,
                        help=f"config tree (default: {DEFAULT_ROOT})")


def read_secret(secret_file: str | None) -> bytes | None:
    """The secret of ``--secret-file`` or ``$MVPN_SECRET`` (None: a redacted run)."""
    secret = load_secret(Path(secret_file) if secret_file else None, os.environ)
    warn_secret_file(secret_file)
    return secret


def warn_secret_file(path: str | None) -> None:
    """Warn when other users may read or write the secret file (ssh refuses such keys)."""
    if path is None:
        return
    mode = secret_file_mode(Path(path))
    if mode is not None:
        print(f"mvpn: warning: secret file {path} has mode {mode:04o}: other users can "
              f"access it; restrict it with chmod 600 {path}", file=sys.stderr)
