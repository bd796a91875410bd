"""``mvpn``: argument parsing and the one place that maps failures to exit codes.

Exit codes (SPEC §6): 0 success (warnings allowed), 1 the tree has errors,
2 usage or environment error. Nothing below prints a traceback for bad input.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import errno
import io
import json
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Final, NoReturn, TextIO

from compiler import COMPILER_ID, api, runtime
from compiler.checks.reach import Verdict
from compiler.cli.output import display_path, render
from compiler.cli.report import (
    DEFAULT_ROOT,
    EXIT_ERRORS,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    line_lookup,
    print_diagnostics,
)
from compiler.diagnostics import Diagnostics, EnvironmentFailureError, UsageError
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
    from compiler.cli import deploy, status

    deploy.register(sub)
    status.register(sub)
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
        code = func(args)
        sys.stdout.flush()  # a stdout that cannot be written fails this run, here
        return code
    except BaseException as exc:
        return failed(exc)


#: OS errors that mean the machine refused, not that mvpn has a bug: each is
#: ``error: <what> (<path>)``, exit 2. Anything else from the OS is an internal error.
ENVIRONMENT_ERRNOS: Final = frozenset({
    errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.ENAMETOOLONG,
    errno.ENOENT, errno.EBUSY, errno.EXDEV, errno.EIO, errno.EMLINK, errno.ENOTDIR,
    errno.EISDIR, errno.ELOOP, errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ETXTBSY,
    errno.ESTALE, errno.EEXIST, errno.ENOTEMPTY, errno.EFBIG,
})


def _shown(path: Path | str | None) -> str:
    """A path as messages show it: relative inside the working directory."""
    if path is None:
        return "?"
    if str(path).startswith("<"):  # a stream, like <stdout>
        return str(path)
    try:
        return display_path(Path(os.fsdecode(path)).absolute(), Path.cwd())
    except OSError:  # the working directory is gone
        return os.fsdecode(path)


def failed(exc: BaseException) -> int:
    """Print what stopped a command (one line on stderr) and return its exit code.

    Usage and environment errors exit 2; Ctrl-C 130 (128 + SIGINT, what shells report);
    a reader that closed the pipe early (``| head``) wanted no more output: 0. Only an
    exception that none of these explains is an internal error, i.e. a bug of ours.
    """
    if isinstance(exc, KeyboardInterrupt):
        return interrupted()
    if isinstance(exc, BrokenPipeError):
        return EXIT_OK
    if isinstance(exc, EnvironmentFailureError):
        where = f" ({_shown(exc.path)})" if exc.path is not None else ""
        _say(f"mvpn: error: {exc.what}{where}")
        return EXIT_USAGE
    if isinstance(exc, UsageError):
        _say(f"mvpn: error: {exc}")
        return EXIT_USAGE
    if isinstance(exc, OSError) and exc.errno in ENVIRONMENT_ERRNOS:
        what = str(exc.strerror or type(exc).__name__)
        if exc.filename2 is not None:
            what = f"{what} (and {_shown(exc.filename2)})"
        where = f" ({_shown(exc.filename)})" if exc.filename is not None else ""
        _say(f"mvpn: error: {what}{where}")
        return EXIT_USAGE
    if isinstance(exc, SystemExit):
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if not isinstance(exc, Exception):
        raise exc
    if os.environ.get("MVPN_DEBUG"):
        raise exc
    _say(f"mvpn: internal error: {type(exc).__name__}: {exc} "
         "(set MVPN_DEBUG=1 for a traceback)")
    return EXIT_USAGE


def _say(line: str) -> None:
    """One line on stderr; nothing if stderr itself is closed (the exit code still tells)."""
    with contextlib.suppress(Exception):
        print(line, file=sys.stderr, flush=True)


def interrupted() -> int:
    """Ctrl-C: one line and exit code 130, however deep the interrupt landed.

    By now the interrupt has unwound (a build removed its stage, allocate put its files
    back); a further Ctrl-C must not print a traceback while the process exits, so from
    here on SIGINT ends it at once.
    """
    if runtime.one_shot():  # a process of its own (not a test calling main())
        signal.signal(signal.SIGINT, _exit_interrupted)
    _say("mvpn: interrupted")
    return EXIT_INTERRUPTED


def _exit_interrupted(*_: object) -> None:
    os._exit(EXIT_INTERRUPTED)  # "interrupted" was already said once


class _Stdout(io.TextIOBase):
    """stdout that turns a write failure into :class:`EnvironmentFailureError`.

    ``mvpn check >&-`` must not print a traceback: a closed stdout is an environment
    error (exit 2, like any output that cannot be written), not a bug. A reader that
    closed a pipe early is left to :func:`failed` as BrokenPipeError.
    """

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def _guard(self, exc: OSError) -> EnvironmentFailureError:
        return EnvironmentFailureError(
            f"cannot write to standard output: {exc.strerror or exc}", "<stdout>")

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._guard(exc) from None

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            raise
        except OSError as exc:
            raise self._guard(exc) from None

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()


def _standard_streams() -> None:
    """Make fds 0-2 safe before anything is opened.

    A closed fd 1 would otherwise be taken by the next file opened (a build artifact, a
    lock) and a child process (git) would write into it. It is filled with /dev/null
    opened read-only, so writes still fail (EBADF) and are reported, never lost silently.
    """
    for fd, flags in ((0, os.O_RDONLY), (1, os.O_RDONLY), (2, os.O_WRONLY)):
        try:
            os.fstat(fd)
        except OSError:
            opened = os.open(os.devnull, flags)
            if opened != fd:  # pragma: no cover - a lower fd was free: fds 0-2 are in order
                os.dup2(opened, fd)
                os.close(opened)
    if sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    if sys.stderr is None:  # print(file=None) would write to stdout instead
        sys.stderr = open(2, "w", encoding="utf-8", closefd=False)  # noqa: SIM115
    sys.stdout = _Stdout(sys.stdout)


def run() -> NoReturn:
    """The process entry point (``mvpn``, ``python -m compiler``): :func:`main`, then exit.

    It exits without tearing down the interpreter's heap: after checking a 100k-peer
    tree, freeing millions of objects one by one took longer than a fifth of the check,
    for nothing, as the process ends anyway. Output is flushed first.
    """
    try:
        _standard_streams()
        try:
            os.getcwd()
        except FileNotFoundError:
            raise EnvironmentFailureError("the working directory no longer exists",
                                     os.environ.get("PWD", ".")) from None
        runtime.enter_one_shot()
        # Start-up is over (compiler.entry caught Ctrl-C so far): from here an interrupt
        # unwinds as KeyboardInterrupt, so a build removes its stage on the way out.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        code = main()
    except BaseException as exc:
        code = failed(exc)
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):  # already reported by failed(), or no stream
            stream.flush()
    os._exit(code)
