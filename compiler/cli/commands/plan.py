"""``mvpn plan``: what the working tree changes compared with a git revision."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from compiler import api
from compiler.cli.options import add_root, read_secret
from compiler.cli.report import EXIT_ERRORS, EXIT_OK, Subparsers, print_diagnostics
from compiler.diagnostics import UsageError


def cmd_plan(args: argparse.Namespace) -> int:
    """``mvpn plan``: what the working tree changes compared with a git revision."""
    from compiler.plan.render import render_plan

    base = args.base or default_base(os.environ)
    secret = read_secret(args.secret_file)
    result = api.plan(Path(args.root), base, secret)
    if not result.ok:
        for label, check in (("base", result.base), ("head", result.head)):
            if check is not None and not check.ok:
                print(f"mvpn: the tree at {result.label(label)} has errors:", file=sys.stderr)
                raw = check.estate.raw
                print_diagnostics(check.diagnostics, "text", raw.sources() + raw.others)
        return EXIT_ERRORS
    assert result.diff is not None
    text = render_plan(result.diff, args.format)
    if args.comment_file:
        from compiler.plan.render import fit_comment

        Path(args.comment_file).write_text(fit_comment(render_plan(result.diff, "markdown")),
                                           encoding="utf-8")
    sys.stdout.write(text)
    return EXIT_OK


def default_base(env: Mapping[str, str]) -> str:
    """``--base`` when not given: the pull request's base branch in GitHub Actions."""
    ref = env.get("GITHUB_BASE_REF", "")
    if ref:
        return f"origin/{ref}"
    raise UsageError("plan needs --base REV (in a GitHub pull request it defaults to "
                     "origin/<base branch>)")


def register(sub: Subparsers) -> None:
    """Add ``plan`` to the parser."""
    p = sub.add_parser("plan", help="what a change does, compared with a git revision")
    add_root(p)
    p.add_argument("--base", metavar="REV",
                   help="git revision to compare with, e.g. origin/main (default in a GitHub "
                        "pull request: origin/$GITHUB_BASE_REF)")
    p.add_argument("--format", choices=["text", "markdown", "json"], default="text")
    p.add_argument("--comment-file", metavar="FILE",
                   help="also write the Markdown plan cut to fit a GitHub comment "
                        "(65,536 characters; summary first, a note where it is cut)")
    p.add_argument("--secret-file", help="compare derived artifacts (default: $MVPN_SECRET; "
                   "without either, redacted ones); no secret is ever printed")
    p.set_defaults(func=cmd_plan)
