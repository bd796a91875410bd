"""``mvpn``: argument parsing and the one place that maps failures to exit codes.

Exit codes (SPEC §6): 0 success (warnings allowed), 1 the tree has errors,
2 usage or environment error. Nothing below prints a traceback for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import NoReturn, TextIO

from compiler import COMPILER_ID, api
from compiler.checks.reach import Verdict
from compiler.cli.output import display_path, plural, render
from compiler.diagnostics import Diagnostics, UsageError
from compiler.loader.source import SourceFile

EXIT_OK, EXIT_ERRORS, EXIT_USAGE = 0, 1, 2
DEFAULT_ROOT = "sites"


def use_color(stream: TextIO) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set."""
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    return stream.isatty()


def _line_lookup(sources: Sequence[SourceFile]) -> Callable[[Path], Sequence[str] | None]:
    by_path = {s.path: s for s in sources}

    def lines(path: Path) -> Sequence[str] | None:
        src = by_path.get(path)
        return src.lines if src is not None else None

    return lines


def print_diagnostics(diags: Diagnostics, fmt: str, sources: Sequence[SourceFile]) -> None:
    """Print diagnostics in one of the four formats to stdout."""
    text = render(
        diags.sorted(), fmt,  # type: ignore[arg-type]
        cwd=Path.cwd(), lines=_line_lookup(sources), color=use_color(sys.stdout),
        tool_version=COMPILER_ID.split()[1],
    )
    if text:
        sys.stdout.write(text)


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
    text = render(diags.sorted(), "json", cwd=Path.cwd(), lines=_line_lookup(sources),
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


def cmd_schema(args: argparse.Namespace) -> int:
    """``mvpn schema``: write the JSON Schemas of the config files."""
    from compiler.schema import write_schemas

    for path in write_schemas(Path(args.output)):
        print(f"wrote {path}")
    return EXIT_OK


class _HelpFormatter(argparse.HelpFormatter):
    """Shows ``--explain FROM TO [PORT/PROTO]`` as it is taken: once, two or three values.

    argparse has no "two or three" arity; ``nargs="+"`` would be shown as repeatable.
    """

    def _format_args(self, action: argparse.Action, default_metavar: str) -> str:
        if action.dest == "explain":
            return "FROM TO [PORT/PROTO]"
        return super()._format_args(action, default_metavar)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mvpn", description="Check and compile a VPN estate kept as YAML in git.",
    )
    parser.add_argument("--version", action="version", version=COMPILER_ID)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

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

    p = sub.add_parser("schema", help="write the JSON Schemas of the config files")
    p.add_argument("-o", "--output", default="schemas", help="directory (default: schemas)")
    p.set_defaults(func=cmd_schema)

    from compiler.cli import commands, gitops, secretcmd

    commands.register(sub)
    gitops.register(sub)
    secretcmd.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``mvpn``; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse exits 2 on usage errors, 0 on --help
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    func: Callable[[argparse.Namespace], int] = args.func
    try:
        return func(args)
    except UsageError as exc:
        print(f"mvpn: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("mvpn: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as exc:  # a bug of ours: one line, the traceback only on request
        if os.environ.get("MVPN_DEBUG"):
            raise
        print(f"mvpn: internal error: {type(exc).__name__}: {exc} "
              "(set MVPN_DEBUG=1 for a traceback)", file=sys.stderr)
        return EXIT_USAGE


def run() -> NoReturn:
    """The process entry point (``mvpn``, ``python -m compiler``): :func:`main`, then exit.

    It exits without tearing down the interpreter's heap: after checking a 100k-peer
    tree, freeing millions of objects one by one took longer than a fifth of the check,
    for nothing, as the process ends anyway. Output is flushed first.
    """
    api.ONE_SHOT = True
    code = main()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)
