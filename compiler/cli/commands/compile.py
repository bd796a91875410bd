"""``mvpn compile``: check the tree, then build its artifacts into the output folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compiler import api
from compiler.cli.options import add_root, read_secret
from compiler.cli.progress import ProgressBar
from compiler.cli.progress import wanted as progress_wanted
from compiler.cli.report import EXIT_ERRORS, EXIT_OK, Subparsers, print_diagnostics


def cmd_compile(args: argparse.Namespace) -> int:
    """``mvpn compile``: check, then build the artifacts."""
    secret = read_secret(args.secret_file)
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


def register(sub: Subparsers) -> None:
    """Add ``compile`` to the parser."""
    p = sub.add_parser("compile", help="check, then build the artifacts")
    add_root(p)
    p.add_argument("-o", "--output", default="build", help="output directory (default: build)")
    p.add_argument("--secret-file", help="file with the base64 organisation secret "
                   "(default: $MVPN_SECRET; without either, a redacted build)")
    p.add_argument("--qr", action=argparse.BooleanOptionalAction, default=True,
                   help="QR codes for WireGuard client profiles (default: on)")
    p.add_argument("--cache", action=argparse.BooleanOptionalAction, default=True,
                   help="reuse unchanged work, recorded in .mvpn-cache/ beside the output "
                   "(default: on; the output is the same bytes either way)")
    p.set_defaults(func=cmd_compile)
