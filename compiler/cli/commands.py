"""Subcommands beyond check and schema."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

from compiler import api
from compiler.cli.progress import ProgressBar
from compiler.cli.progress import wanted as progress_wanted
from compiler.cli.report import DEFAULT_ROOT, EXIT_ERRORS, EXIT_OK, print_diagnostics
from compiler.keys import load_secret
from compiler.keys.secret import secret_file_mode


def cmd_compile(args: argparse.Namespace) -> int:
    """``mvpn compile``: check, then build the artifacts."""
    secret = load_secret(Path(args.secret_file) if args.secret_file else None, os.environ)
    warn_secret_file(args.secret_file)
    bar = ProgressBar(sys.stderr, "compiling") if progress_wanted(sys.stderr) else None
    try:
        result = api.compile_tree(Path(args.root), Path(args.output), secret, qr=args.qr,
                                  cache=args.cache, progress=bar, waiting=_waiting)
    finally:
        if bar is not None:
            bar.close()
    raw = result.check.estate.raw
    print_diagnostics(result.check.diagnostics, "text", raw.sources() + raw.others)
    if result.build is None or result.stats is None:
        print("mvpn: nothing was built: the tree has errors", file=sys.stderr)
        return EXIT_ERRORS
    instances, secrets = result.built()
    stats = result.stats
    print(
        f"compiled {instances} instance{'' if instances == 1 else 's'} into {args.output} "
        f"(secrets: {secrets}; {stats.written} written, "
        f"{stats.unchanged} unchanged, {stats.removed} removed)"
    )
    return EXIT_OK


def _waiting(folder: Path) -> None:
    print(f"mvpn: waiting for another compile into {folder} to finish", file=sys.stderr,
          flush=True)


def warn_secret_file(path: str | None) -> None:
    """Warn when other users may read or write the secret file (ssh refuses such keys)."""
    if path is None:
        return
    mode = secret_file_mode(Path(path))
    if mode is not None:
        print(f"mvpn: warning: secret file {path} has mode {mode:04o}: other users can "
              f"access it; restrict it with chmod 600 {path}", file=sys.stderr)


def register(sub: Any) -> None:
    """Add the remaining subcommands to the parser."""
    p = sub.add_parser("compile", help="check, then build the artifacts")
    p.add_argument("root", nargs="?", default=DEFAULT_ROOT,
                   help=f"config tree (default: {DEFAULT_ROOT})")
    p.add_argument("-o", "--output", default="build", help="output directory (default: build)")
    p.add_argument("--secret-file", help="file with the base64 organisation secret "
                   "(default: $MVPN_SECRET; without either, a redacted build)")
    p.add_argument("--qr", action=argparse.BooleanOptionalAction, default=True,
                   help="QR codes for WireGuard client profiles (default: on)")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                   help="reuse unchanged work, recorded in .mvpn-cache/ beside the output "
                   "(default: on; the output is the same bytes either way)")
    p.set_defaults(func=cmd_compile)
