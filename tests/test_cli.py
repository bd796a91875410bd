"""The command line contract of SPEC §6: exit codes, formats, paths, strictness."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.cli import main, progress
from compiler.cli.progress import ProgressBar
from tests.support.trees import build_file_tree, estate

REPO = Path(__file__).resolve().parents[1]


def test_example_estate_checks_clean(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(REPO / "sites")]) == 0
    assert capsys.readouterr().out == ""  # quiet when all is well


def test_exit_codes(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", str(tmp_path / "missing")]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert main(["check", "--format", "xml", str(tmp_path)]) == 2
    assert main(["frobnicate"]) == 2
    bad = build_file_tree(tmp_path / "bad", estate(**{"acme-eu__peers__x_DOT_yaml": "type: [\n"}))  # type: ignore[arg-type]
    assert main(["check", str(bad)]) == 1


def test_a_failure_is_one_line_whatever_the_path_holds(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A path given on the command line is quoted with its control characters escaped."""
    root = tmp_path / "a\nb\x1b[31m\u202e"
    assert main(["check", str(root)]) == 2
    err = capsys.readouterr().err
    assert err == f"mvpn: error: config tree '{tmp_path}/a\\nb\\x1b[31m\\u202e' does not exist\n"


def test_strict_makes_warnings_fail(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build_file_tree(tmp_path, estate(**{"stray_DOT_yaml": "a: 1\n"}))  # type: ignore[arg-type]
    assert main(["check", str(root)]) == 0
    assert "warning[file-unexpected]" in capsys.readouterr().out
    assert main(["check", "--strict", str(root)]) == 1


def test_paths_relative_inside_cwd_absolute_outside(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build_file_tree(tmp_path / "repo" / "sites", estate(**{"stray_DOT_yaml": "a: 1\n"}))  # type: ignore[arg-type]
    monkeypatch.chdir(tmp_path / "repo")
    main(["check", "sites", "--format", "json"])
    doc = json.loads(capsys.readouterr().out)
    assert doc == {
        "diagnostics": [{
            "code": "file-unexpected", "severity": "warning",
            "message": "'stray.yaml' is not part of the tree layout "
                       "(ROOT holds vpn.yaml, tests.yaml and one folder per instance); it was ignored",
            "file": "sites/stray.yaml", "line": 1, "column": 1,
        }],
        "errors": 0, "warnings": 1,
    }
    monkeypatch.chdir(tmp_path / "repo" / "sites" / "acme-eu")
    main(["check", str(root), "--format", "github"])
    line = capsys.readouterr().out.strip()
    assert line.startswith(f"::warning file={root.resolve()}/stray.yaml,line=1,col=1,")


def test_python_dash_m_compiler(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path, estate(**{"acme-eu__peers__x_DOT_yaml": {"type": "client"}}))  # type: ignore[arg-type]
    env = {k: v for k, v in os.environ.items() if k != "MVPN_SECRET"}
    proc = subprocess.run(
        [sys.executable, "-m", "compiler", "check", str(root), "--format", "json"],
        capture_output=True, text=True, check=False, cwd=tmp_path, env=env,
    )
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    assert [d["code"] for d in doc["diagnostics"]] == ["schema"]
    assert doc["diagnostics"][0]["file"] == "acme-eu/peers/x.yaml"
    assert doc["errors"] == 1


def test_compile_with_errors_writes_nothing(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "t", estate(**{"acme-eu__peers__x_DOT_yaml": {"type": "client"}}))  # type: ignore[arg-type]
    out = tmp_path / "out"
    assert main(["compile", str(root), "-o", str(out)]) == 1
    assert not out.exists()


def test_compile_refuses_bad_secret(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build_file_tree(tmp_path / "t", estate())  # type: ignore[arg-type]
    secret = tmp_path / "secret"
    secret.write_text("c2hvcnQ=\n")  # base64 of "short"
    assert main(["compile", str(root), "-o", str(tmp_path / "out"),
                 "--secret-file", str(secret)]) == 2
    err = capsys.readouterr().err
    assert "secret" in err and "c2hvcnQ" not in err


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_draws_then_erases_itself() -> None:
    stream = _Tty()
    now = [0.0]
    bar = ProgressBar(stream, "compiling", clock=lambda: now[0])
    bar(1, 4)  # within the first half second: nothing
    assert stream.getvalue() == ""
    now[0] = 1.0
    bar(2, 4)
    now[0] = 1.01
    bar(3, 4)  # too soon after the last redraw
    bar(4, 4)  # but the end is always drawn
    bar.close()
    frames = stream.getvalue().split("\r")
    assert frames[1] == "compiling [###############...............]  50% 2/4 peers"
    assert frames[2] == "compiling [##############################] 100% 4/4 peers"
    assert frames[3] == " " * len(frames[2]) and frames[4] == ""


def test_compile_progress_only_on_a_terminal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build_file_tree(tmp_path / "t", estate())  # type: ignore[arg-type]
    monkeypatch.delenv("MVPN_SECRET", raising=False)
    assert main(["compile", str(root), "-o", str(tmp_path / "a")]) == 0
    plain = capsys.readouterr()
    assert plain.err == ""  # not a terminal: no bar, no escape codes
    tty = _Tty()
    monkeypatch.setattr(sys, "stderr", tty)
    monkeypatch.setattr(progress, "DELAY", 0.0)
    monkeypatch.setenv("TERM", "xterm")
    assert main(["compile", str(root), "-o", str(tmp_path / "b")]) == 0
    assert capsys.readouterr().out == plain.out.replace(str(tmp_path / "a"), str(tmp_path / "b"))
    drawn = tty.getvalue()
    assert "\rcompiling [" in drawn and "100% 2/2 peers" in drawn
    assert drawn.endswith("\r")  # erased: the terminal keeps only the summary line


def test_readme_shows_every_command_with_an_example() -> None:
    from compiler.cli.main import build_parser

    readme = (REPO / "README.md").read_text()
    assert readme.split("```sh\n", 1)[1].startswith("make compile")  # the two commands first
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    commands = sorted(sub.choices)  # type: ignore[arg-type]
    assert commands == ["allocate", "check", "compile", "deploy", "graph", "init", "plan", "schema",
                        "secret", "status"]
    for command in commands:
        assert f"$ mvpn {command}" in readme, command
