"""``mvpn schema``: write the JSON Schemas of the three config file kinds."""

from __future__ import annotations

import argparse
from pathlib import Path

from compiler.cli.report import EXIT_OK, Subparsers


def cmd_schema(args: argparse.Namespace) -> int:
    """``mvpn schema``: write the JSON Schemas of the config files."""
    from compiler.schema import write_schemas

    for path in write_schemas(Path(args.output)):
        print(f"wrote {path}")
    return EXIT_OK


def register(sub: Subparsers) -> None:
    """Add ``schema`` to the parser."""
    p = sub.add_parser("schema", help="write the JSON Schemas of the config files")
    p.add_argument("-o", "--output", default="schemas", help="directory (default: schemas)")
    p.set_defaults(func=cmd_schema)
