"""The shape of the command line (issue 13): one module per subcommand, one failure mapping.

Every subcommand module is registered, and registers its own parser and run function; an
exception from any of them becomes the same one line and exit code (``report.failed``);
the import-linter contracts name every module of the package; the one-shot exit flushes.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from compiler import api, runtime
from compiler.cli import commands, main
from compiler.diagnostics import EnvironmentFailureError, UsageError
from tests.support.trees import build_file_tree, compile_estate

REPO = Path(__file__).resolve().parents[1]
CLI = importlib.import_module("compiler.cli.main")  # `compiler.cli.main` is the function

#: `mvpn --help` lists the subcommands in this order (the order of main.COMMANDS).
ORDER = ["check", "schema", "compile", "allocate", "plan", "graph", "init", "secret", "deploy",
         "status"]


def _subparsers(parser: argparse.ArgumentParser, dest: str) -> dict[str, argparse.ArgumentParser]:
    sub = next(a for a in parser._actions if a.dest == dest)
    assert isinstance(sub.choices, dict)
    return sub.choices


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    return _subparsers(CLI.build_parser(), "command")


def test_every_subcommand_module_is_registered_in_help_order() -> None:
    modules = sorted(m.name for m in pkgutil.iter_modules(commands.__path__))
    assert modules == sorted(ORDER)
    assert [m.__name__.rsplit(".", 1)[1] for m in CLI.COMMANDS] == ORDER
    assert list(_subcommands()) == ORDER


def test_each_subcommand_runs_a_function_of_its_own_module() -> None:
    for name, parser in _subcommands().items():
        if name == "secret":  # `secret new`: the run function sits on the inner parser
            func = _subparsers(parser, "secret_command")["new"].get_default("func")
        else:
            func = parser.get_default("func")
        assert func.__module__ == f"compiler.cli.commands.{name}", name


def _boom(*_: object, **__: object) -> None:
    raise RuntimeError("boom")


#: Each subcommand with the first call it makes below the CLI, made to fail.
FIRST_CALL = [
    (["check", "{tree}"], api, "check"),
    (["graph", "{tree}"], api, "check"),
    (["allocate", "{tree}"], api, "allocate"),
    (["compile", "{tree}", "-o", "{tmp}/out"], api, "compile_tree"),
    (["plan", "{tree}", "--base", "HEAD"], api, "plan"),
    (["schema", "-o", "{tmp}/schemas"], "compiler.schema", "write_schemas"),
    (["init", "{tmp}/repo"], "compiler.scaffold", "init_repo"),
    (["secret", "new", "{tmp}/s.b64"], "compiler.keys.generate", "new_secret_file"),
    (["deploy", "acme-eu", "--host", "hub"], "compiler.deploy.remote", "check_host"),
    (["status", "acme-eu", "--host", "hub"], "compiler.deploy.remote", "check_host"),
]


@pytest.mark.parametrize(("argv", "target", "name"), FIRST_CALL, ids=str)
def test_any_subcommand_reports_an_unexpected_exception_the_same_way(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        argv: list[str], target: object, name: str) -> None:
    if isinstance(target, str):
        target = importlib.import_module(target)
    tree = build_file_tree(tmp_path / "sites", compile_estate())
    monkeypatch.delenv("MVPN_SECRET", raising=False)
    monkeypatch.delenv("MVPN_DEBUG", raising=False)
    monkeypatch.setattr(target, name, _boom)
    assert main([a.format(tree=tree, tmp=tmp_path) for a in argv]) == 2
    out = capsys.readouterr()
    assert out.out == ""
    assert out.err == "mvpn: internal error: RuntimeError: boom (set MVPN_DEBUG=1 for a traceback)\n"


#: What a command may raise, and what the user is told (one line on stderr) and the exit code.
FAILURES: list[tuple[BaseException, str, int]] = [
    (UsageError("plan needs --base REV"), "mvpn: error: plan needs --base REV\n", 2),
    (EnvironmentFailureError("cannot write", "out/x"), "mvpn: error: cannot write (out/x)\n", 2),
    (EnvironmentFailureError("cannot write to standard output: Bad file descriptor", "<stdout>"),
     "mvpn: error: cannot write to standard output: Bad file descriptor (<stdout>)\n", 2),
    (OSError(errno.ENOSPC, "No space left on device", "out/x"),
     "mvpn: error: No space left on device (out/x)\n", 2),
    (OSError(errno.EXDEV, "Invalid cross-device link", "a", None, "b"),
     "mvpn: error: Invalid cross-device link (and b) (a)\n", 2),
    (OSError(errno.ENOEXEC, "Exec format error"),
     "mvpn: internal error: OSError: [Errno 8] Exec format error "
     "(set MVPN_DEBUG=1 for a traceback)\n", 2),
    (KeyboardInterrupt(), "mvpn: interrupted\n", 130),
    (BrokenPipeError(errno.EPIPE, "Broken pipe"), "", 0),  # `| head` read what it wanted
    (SystemExit(3), "", 3),
]


@pytest.mark.parametrize(("exc", "err", "code"), FAILURES, ids=lambda v: repr(v)[:40])
def test_one_mapping_from_exceptions_to_exit_codes(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        exc: BaseException, err: str, code: int) -> None:
    monkeypatch.chdir(tmp_path)  # paths in messages are shown relative to it
    monkeypatch.delenv("MVPN_DEBUG", raising=False)

    def raises(_: Path) -> None:
        raise exc

    monkeypatch.setattr(api, "check", raises)
    tree = build_file_tree(tmp_path / "sites", compile_estate())
    assert main(["graph", str(tree)]) == code
    assert capsys.readouterr().err == err


def test_mvpn_debug_lets_an_internal_error_through(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MVPN_DEBUG", "1")
    monkeypatch.setattr(api, "check", _boom)
    with pytest.raises(RuntimeError, match="boom"):
        main(["graph", str(tmp_path)])


def test_the_one_shot_exit_flushes_what_was_printed(tmp_path: Path) -> None:
    # Into a pipe, stdout is block-buffered: without the flush, os._exit loses the text.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    code = ("import sys; from compiler import runtime; print('kept', end=''); "
            "print('said', file=sys.stderr, end=''); runtime.exit_now(3)")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=REPO, env=env, check=False)
    assert (proc.returncode, proc.stdout, proc.stderr) == (3, "kept", "said")
    assert not runtime.one_shot()  # a test process is no one-shot process


def _sources(contract: str) -> set[str]:
    """The ``source_modules`` of the import-linter contract whose name starts so."""
    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]
    found = next(c for c in contracts["contracts"] if c["name"].startswith(contract))
    return set(found["source_modules"])


def _top_level() -> set[str]:
    import compiler

    return {m.name for m in pkgutil.iter_modules(compiler.__path__)}


def test_the_forbidden_contracts_name_every_module_of_the_package() -> None:
    # A new module of compiler/ must join these lists, or it could import the CLI / runtime.
    everything = {f"compiler.{m}" for m in _top_level()}
    above = {"compiler.cli", "compiler.entry", "compiler.__main__"}
    assert _sources("Only the process entry imports the CLI") == everything - above
    assert _sources("Process tuning (runtime)") == (
        everything - above - {"compiler.api", "compiler.runtime"})
