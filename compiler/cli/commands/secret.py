"""``mvpn secret new FILE``: make the organisation secret (and say how to store it in CI)."""

from __future__ import annotations

import argparse
import shlex
from pathlib import Path

from compiler.cli.report import EXIT_OK, Subparsers


def cmd_secret_new(args: argparse.Namespace) -> int:
    """Write a fresh secret to FILE; print where it is and what to do, never the secret."""
    from compiler.keys.generate import new_secret_file

    path = Path(args.file)
    new_secret_file(path)
    quoted = shlex.quote(str(path))
    print(f"wrote a new organisation secret to {path} (mode 0600)")
    print("store it as the MVPN_SECRET secret of the config repository's CI, e.g.:")
    print(f"  gh secret set MVPN_SECRET < {quoted}")
    print("keep it out of git (mvpn init's .gitignore ignores *.b64) and where your team "
          "keeps secrets: whoever has it can derive every key")
    return EXIT_OK


def register(sub: Subparsers) -> None:
    """Add ``mvpn secret`` and its subcommands."""
    p = sub.add_parser("secret", help="the organisation secret every key is derived from")
    inner = p.add_subparsers(dest="secret_command", required=True, metavar="COMMAND")
    q = inner.add_parser("new", help="write a fresh random secret to FILE (mode 0600; an "
                         "existing file is never overwritten)")
    q.add_argument("file", metavar="FILE", help="where to write it, e.g. org-secret.b64")
    q.set_defaults(func=cmd_secret_new)
