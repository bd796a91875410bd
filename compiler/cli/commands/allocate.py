"""``mvpn allocate``: fill every missing tunnel address (and ``auto/N`` subnet) in place."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compiler import api
from compiler.cli.options import add_root
from compiler.cli.output import display_path
from compiler.cli.report import EXIT_ERRORS, EXIT_OK, Subparsers, print_diagnostics


def cmd_allocate(args: argparse.Namespace) -> int:
    """``mvpn allocate``: fill missing tunnel addresses in place."""
    result = api.allocate(Path(args.root))
    raw = result.check.estate.raw
    print_diagnostics(result.diagnostics, "text", raw.sources() + raw.others)
    if not result.ok:
        print("mvpn: no address was assigned", file=sys.stderr)
        return EXIT_ERRORS
    cwd = Path.cwd()
    for s in result.subnets:
        print(f"{display_path(s.source.path, cwd)}:{s.line}: subnet {s.prefix}")
    for a in result.assignments:
        print(f"{display_path(a.peer.source.path, cwd)}:{a.line}: {a.field} {a.address}")
    if not result.assignments and not result.subnets:
        print("nothing to allocate: every peer has its addresses")
    return EXIT_OK


def register(sub: Subparsers) -> None:
    """Add ``allocate`` to the parser."""
    p = sub.add_parser("allocate", help="fill every missing address with the lowest free one")
    add_root(p)
    p.set_defaults(func=cmd_allocate)
