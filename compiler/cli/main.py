"""``mvpn``: the parser built from the subcommand modules, and the process around a command.

Exit codes (SPEC §6): 0 success (warnings allowed), 1 the tree has errors, 2 usage or
environment error, 130 interrupted; :func:`compiler.cli.report.failed` decides them for
whatever a command raises. A new subcommand is one module in :mod:`compiler.cli.commands`
(with its ``register``) plus its name in :data:`COMMANDS`.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn, Protocol

from compiler import COMPILER_ID, runtime
from compiler.cli.commands import allocate, check, deploy, graph, init, plan, schema, secret, status
from compiler.cli.commands import compile as compile_
from compiler.cli.report import EXIT_USAGE, Subparsers, failed
from compiler.cli.streams import guard_standard_streams
from compiler.diagnostics import EnvironmentFailureError


class Command(Protocol):
    """A subcommand module: ``register`` adds its parser, with ``func`` its run function."""

    def register(self, sub: Subparsers) -> None:
        """Add the subcommand's parser (arguments, help, ``set_defaults(func=...)``)."""


#: Every subcommand, in the order ``mvpn --help`` lists them.
COMMANDS: tuple[Command, ...] = (
    check, schema, compile_, allocate, plan, graph, init, secret, deploy, status,
)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    parser = argparse.ArgumentParser(
        prog="mvpn", description="Check and compile a VPN estate kept as YAML in git.",
    )
    parser.add_argument("--version", action="version", version=COMPILER_ID)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        command.register(sub)
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


def run() -> NoReturn:
    """The process entry point (``mvpn``, ``python -m compiler``): :func:`main`, then exit.

    The process runs one command (:func:`compiler.runtime.enter_one_shot`) and ends with
    :func:`compiler.runtime.exit_now`, which skips tearing down the heap.
    """
    try:
        guard_standard_streams()
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
    runtime.exit_now(code)
