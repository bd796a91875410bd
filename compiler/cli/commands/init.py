"""``mvpn init DIR``: a new config repository with an example tree, CI and pre-commit."""

from __future__ import annotations

import argparse
from pathlib import Path

from compiler.cli.output import display_path
from compiler.cli.report import EXIT_OK, Subparsers
from compiler.repofiles import DEFAULT_ACTION


def cmd_init(args: argparse.Namespace) -> int:
    """``mvpn init``: a new config repository with an example tree."""
    from compiler.scaffold import init_repo

    written = init_repo(Path(args.dir), args.action)
    cwd = Path.cwd()
    for path in written:
        print(f"wrote {display_path(path.absolute(), cwd)}")
    print(f"next: cd {args.dir} && mvpn allocate && mvpn check && mvpn compile")
    return EXIT_OK


def register(sub: Subparsers) -> None:
    """Add ``init`` to the parser."""
    p = sub.add_parser("init", help="a new config repository with an example tree")
    p.add_argument("dir", help="folder to create (absent, empty or holding only .git)")
    p.add_argument("--action", default=DEFAULT_ACTION, metavar="OWNER/REPO",
                   help="GitHub repository of mvpn the workflows and pre-commit use, "
                        f"pinned to this version's tag (default: {DEFAULT_ACTION})")
    p.set_defaults(func=cmd_init)
