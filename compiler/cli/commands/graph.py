"""``mvpn graph``: the topology of a checked tree as Mermaid, DOT or JSON."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from compiler import api
from compiler.cli.options import add_root
from compiler.cli.report import EXIT_ERRORS, EXIT_OK, Subparsers, print_diagnostics


def cmd_graph(args: argparse.Namespace) -> int:
    """``mvpn graph``: the topology as Mermaid, DOT or JSON."""
    from compiler.topology import render_topology, topology

    result = api.check(Path(args.root))
    if not result.ok:
        raw = result.estate.raw
        print_diagnostics(result.diagnostics, "text", raw.sources() + raw.others)
        return EXIT_ERRORS
    sys.stdout.write(render_topology(topology(result.graph), args.format))
    return EXIT_OK


def register(sub: Subparsers) -> None:
    """Add ``graph`` to the parser."""
    p = sub.add_parser("graph", help="the topology as Mermaid, DOT or JSON")
    add_root(p)
    p.add_argument("--format", choices=["mermaid", "dot", "json"], default="mermaid")
    p.set_defaults(func=cmd_graph)
