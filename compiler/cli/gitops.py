"""The GitOps subcommands: allocate, plan, graph, init."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from compiler import api
from compiler.cli.commands import warn_secret_file
from compiler.cli.output import display_path
from compiler.cli.report import DEFAULT_ROOT, EXIT_ERRORS, EXIT_OK, print_diagnostics
from compiler.diagnostics import UsageError
from compiler.keys import load_secret
from compiler.repofiles import DEFAULT_ACTION


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


def cmd_plan(args: argparse.Namespace) -> int:
    """``mvpn plan``: what the working tree changes compared with a git revision."""
    from compiler.plan.render import render_plan

    base = args.base or default_base(os.environ)
    secret = load_secret(Path(args.secret_file) if args.secret_file else None, os.environ)
    warn_secret_file(args.secret_file)
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


def cmd_init(args: argparse.Namespace) -> int:
    """``mvpn init``: a new config repository with an example tree."""
    from compiler.scaffold import init_repo

    written = init_repo(Path(args.dir), args.action)
    cwd = Path.cwd()
    for path in written:
        print(f"wrote {display_path(path.absolute(), cwd)}")
    print(f"next: cd {args.dir} && mvpn allocate && mvpn check && mvpn compile")
    return EXIT_OK


def _root(p: Any) -> None:
    p.add_argument("root", nargs="?", default=DEFAULT_ROOT,
                   help=f"config tree (default: {DEFAULT_ROOT})")


def register(sub: Any) -> None:
    """Add the GitOps subcommands to the parser."""
    p = sub.add_parser("allocate", help="fill every missing address with the lowest free one")
    _root(p)
    p.set_defaults(func=cmd_allocate)

    p = sub.add_parser("plan", help="what a change does, compared with a git revision")
    _root(p)
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

    p = sub.add_parser("graph", help="the topology as Mermaid, DOT or JSON")
    _root(p)
    p.add_argument("--format", choices=["mermaid", "dot", "json"], default="mermaid")
    p.set_defaults(func=cmd_graph)

    p = sub.add_parser("init", help="a new config repository with an example tree")
    p.add_argument("dir", help="folder to create (absent, empty or holding only .git)")
    p.add_argument("--action", default=DEFAULT_ACTION, metavar="OWNER/REPO",
                   help="GitHub repository of mvpn the workflows and pre-commit use, "
                        f"pinned to this version's tag (default: {DEFAULT_ACTION})")
    p.set_defaults(func=cmd_init)
