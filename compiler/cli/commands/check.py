"""``mvpn check``: find the tree, check all of it, report what is under the given path.

Also ``--explain FROM TO [PORT/PROTO]``: the path a packet takes and the rule that decides.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from collections.abc import Sequence
from pathlib import Path

from compiler import COMPILER_ID, DEFAULT_ROOT, api
from compiler.checks.reach import Verdict
from compiler.cli.output import display_path, render
from compiler.cli.report import (
    EXIT_ERRORS,
    EXIT_OK,
    Subparsers,
    line_lookup,
    print_diagnostics,
)
from compiler.diagnostics import Diagnostics, UsageError
from compiler.loader.source import SourceFile
from compiler.terminal import plural


def cmd_check(args: argparse.Namespace) -> int:
    """``mvpn check``: find the tree, check all of it, report what is under the given path."""
    from compiler.loader.locate import locate

    explain = _explain_args(args.explain) if args.explain else None
    if explain is not None and args.format not in ("text", "json"):
        raise UsageError("--explain prints text or JSON: use --format text or json")
    if args.root is not None:
        where = locate(Path(args.root))
    else:  # `mvpn check` anywhere in a config repository: all of its tree
        default = Path(DEFAULT_ROOT)
        where = locate(default if default.exists() else Path("."))
        if not where.found:
            raise UsageError("no config tree here: no vpn.yaml or sites/ in this folder or "
                             "above it (mvpn check PATH, or mvpn init DIR for a new one)")
        where = dataclasses.replace(where, focus=where.root)
    result = api.check(where.root)
    raw = result.estate.raw
    diags = Diagnostics()
    diags.extend(d for d in result.diagnostics if where.shows(d.file))
    hidden = len(result.diagnostics) - len(diags)
    verdict = api.explain(result, *explain) if explain is not None else None
    if args.format == "json":
        _print_json(diags, raw.sources() + raw.others, verdict, explain)
    else:
        print_diagnostics(diags, args.format, raw.sources() + raw.others)
    if hidden and args.format == "text":
        top = display_path(where.root, Path.cwd())
        print(f"({plural(hidden, 'more problem')} elsewhere in {top}, not under {args.root})")
    if args.format == "text" and not diags and not hidden and sys.stdout.isatty():
        print(_clean_line(result))
    failed = diags.errors > 0 or (args.strict and diags.warnings > 0)
    if verdict is not None and explain is not None and args.format == "text":
        sys.stdout.write(_explain_text(verdict, *explain))
    return EXIT_ERRORS if failed else EXIT_OK


def _clean_line(result: api.CheckResult) -> str:
    """The one line a clean check prints on a terminal: what was checked."""
    instances = result.estate.instances
    peers = sum(len(inst.peers) for inst in instances.values())
    return (f"checked {plural(len(instances), 'instance')}, {plural(peers, 'peer')}: "
            "no problems")


def _print_json(diags: Diagnostics, sources: Sequence[SourceFile], verdict: Verdict | None,
                explain: tuple[str, str, str] | None) -> None:
    """``--format json``: one JSON document, with the ``--explain`` verdict in it."""
    text = render(diags.sorted(), "json", cwd=Path.cwd(), lines=line_lookup(sources),
                  color=False, tool_version=COMPILER_ID.split()[1])
    if verdict is None or explain is None:
        sys.stdout.write(text)
        return
    doc = json.loads(text)
    where = None
    if verdict.file is not None:
        line, _col = verdict.file.pos(verdict.loc)
        where = {"file": display_path(verdict.file.path, Path.cwd()), "line": line}
    src, dst, probe = explain
    doc["explain"] = {"from": src, "to": dst, "probe": probe,
                      "verdict": "allow" if verdict.allowed else "deny",
                      "path": verdict.path, "decided_by": verdict.decided_by, "at": where}
    sys.stdout.write(json.dumps(doc, indent=2, ensure_ascii=True) + "\n")


def _explain_text(verdict: Verdict, src: str, dst: str, probe: str) -> str:
    where = ""
    if verdict.file is not None:
        line, _col = verdict.file.pos(verdict.loc)
        where = f" ({display_path(verdict.file.path, Path.cwd())}:{line})"
    return (f"{src} -> {dst} {probe}: {'allow' if verdict.allowed else 'deny'}\n"
            f"  path: {' -> '.join(verdict.path)}\n"
            f"  decided by: {verdict.decided_by}{where}\n")


def _explain_args(values: Sequence[str]) -> tuple[str, str, str]:
    """``--explain FROM TO [PORT/PROTO]``, checked before the tree is read."""
    from compiler.model.access import parse_peer_ref, parse_probe
    from compiler.model.types import parse_address

    if len(values) not in (2, 3):
        raise UsageError("--explain takes FROM TO [PORT/PROTO], e.g. "
                         "--explain acme-eu/alice 10.20.0.5 443/tcp")
    probe = values[2] if len(values) == 3 else "icmp"
    for parse, value in ((parse_peer_ref, values[0]), (parse_address, values[1]),
                         (parse_probe, probe)):
        try:
            parse(value)
        except ValueError as exc:
            raise UsageError(f"--explain: {exc}") from None
    return values[0], values[1], probe


class _HelpFormatter(argparse.HelpFormatter):
    """Shows ``--explain FROM TO [PORT/PROTO]`` as it is taken: once, two or three values.

    argparse has no "two or three" arity; ``nargs="+"`` would be shown as repeatable.
    """

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if action.dest == "explain":
            return "FROM TO [PORT/PROTO]"
        return super()._format_args(action, default_metavar)


def register(sub: Subparsers) -> None:
    """Add ``check`` to the parser."""
    p = sub.add_parser("check", help="load and check a config tree",
                       formatter_class=_HelpFormatter)
    p.add_argument("root", nargs="?",
                   help="the tree, or a folder or file in it: the whole tree is checked "
                        "(found like git finds .git: up to vpn.yaml or sites/) and what is "
                        "under this path is shown (default: sites)")
    p.add_argument("--format", choices=["text", "json", "github", "sarif"], default="text")
    p.add_argument("--strict", action="store_true", help="warnings fail the check too")
    p.add_argument("--explain", nargs="+", metavar="ARG",
                   help="print the path from INSTANCE/PEER to an address and the rule that "
                        "decides (PORT/PROTO like 443/tcp; default icmp)")
    p.set_defaults(func=cmd_check)
