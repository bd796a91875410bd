"""``mvpn check PATH`` finds its tree like git finds ``.git``; a clean check says so once.

Also the ``--explain`` interface: valid JSON with ``--format json``, and a help text that
shows the arguments as they are taken.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.loader.locate import locate
from tests.support.trees import build_file_tree, estate, site


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config repository: ``sites/`` with two instances, a problem in each; cwd its top."""
    files = estate(**{
        "acme-eu__peers__bad_DOT_yaml": "type: client\nuser: bad@example.com\nadress: x\n",
        "acme-us__instance_DOT_yaml": {"hostname": "acme-us", "region": "iad",
                                       "wireguard": {"port": 51820, "network": "10.250.0.0/24"}},
        "acme-us__peers__nyc_DOT_yaml": site("nyc", "10.250.0.1", ["10.30.0.0/24"]),
    })
    build_file_tree(tmp_path / "sites", files)  # type: ignore[arg-type]
    (tmp_path / ".git").mkdir()
    monkeypatch.chdir(tmp_path)
    return tmp_path


def _errors(out: str) -> list[str]:
    return [line.split(": ", 1)[0] for line in out.splitlines() if ": error[" in line]


ALL = ["sites/acme-eu/peers/bad.yaml:3:1", "sites/acme-us/peers/nyc.yaml:6:10"]


@pytest.mark.parametrize(("argv", "shown", "note"), [
    (["check"], ALL, None),
    (["check", "sites"], ALL, None),
    (["check", "."], ALL, None),
    (["check", "sites/acme-eu"], ALL[:1], "(1 more problem elsewhere in sites, not under "
                                          "sites/acme-eu)"),
    (["check", "sites/acme-us/peers/nyc.yaml"], ALL[1:], "(1 more problem elsewhere in sites, "
                                                        "not under sites/acme-us/peers/nyc.yaml)"),
])
def test_check_finds_the_tree_and_shows_what_is_under_the_path(
    repo: Path, capsys: pytest.CaptureFixture[str], argv: list[str], shown: list[str],
    note: str | None,
) -> None:
    assert main(argv) == 1
    out = capsys.readouterr().out
    assert _errors(out) == shown
    assert (out.splitlines()[-1] == note) if note else "elsewhere" not in out


def test_a_path_inside_an_instance_checks_across_instances(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # a hostname clash is only visible with both instances: checking one folder alone
    # used to run no checks at all and exit 0
    files = estate(**{"acme-us__instance_DOT_yaml": {
        "hostname": "acme-eu", "region": "iad",
        "wireguard": {"port": 51820, "network": "10.250.0.0/24"}}})
    build_file_tree(tmp_path / "sites", files)  # type: ignore[arg-type]
    monkeypatch.chdir(tmp_path / "sites/acme-us")
    assert main(["check", "."]) == 1
    assert "error[hostname-duplicate]" in capsys.readouterr().out
    assert main(["check"]) == 1  # no argument, inside the tree: the whole tree
    assert "error[hostname-duplicate]" in capsys.readouterr().out


def test_an_empty_tree_is_a_warning(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / ".git").mkdir()  # the walk up stops at the repository's top
    (tmp_path / "empty").mkdir()
    monkeypatch.chdir(tmp_path / "empty")
    assert main(["check", "."]) == 0
    assert capsys.readouterr().out == (
        ".:1:1: warning[tree-empty] no instance in this tree: a folder per hub with an "
        "instance.yaml (mvpn init DIR writes an example tree)\n\nFound 1 warning.\n")
    assert main(["check", ".", "--strict"]) == 1
    capsys.readouterr()
    assert main(["check"]) == 2  # no path and nothing that looks like a tree: say so
    assert capsys.readouterr().err == (
        "mvpn: error: no config tree here: no vpn.yaml or sites/ in this folder or above it "
        "(mvpn check PATH, or mvpn init DIR for a new one)\n")
    (tmp_path / "empty/vpn.yaml").write_text("domain: vpn.example.net\n")
    assert main(["check", "--format", "json"]) == 0
    [diag] = json.loads(capsys.readouterr().out)["diagnostics"]
    assert (diag["code"], diag["file"], diag["line"]) == ("tree-empty", "vpn.yaml", 1)


def test_a_path_beside_the_tree_is_a_usage_error(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "docs").mkdir()
    assert main(["check", "docs"]) == 2
    assert capsys.readouterr().err == (
        f"mvpn: error: 'docs' is not part of the config tree '{repo.resolve()}/sites' "
        "(found by walking up from it)\n")
    assert main(["check", "nowhere"]) == 2
    assert "config tree 'nowhere' does not exist" in capsys.readouterr().err


def test_locate_never_walks_above_a_repository(tmp_path: Path) -> None:
    build_file_tree(tmp_path, {"vpn.yaml": "{}\n"})  # a tree above the repository
    inner = tmp_path / "repo/deep"
    inner.mkdir(parents=True)
    (tmp_path / "repo/.git").mkdir()
    assert locate(inner).root == inner.resolve()
    (tmp_path / "repo/.git").rmdir()
    assert locate(inner).root == tmp_path.resolve()


def test_a_clean_check_prints_one_line_on_a_terminal(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (repo / "sites/acme-eu/peers/bad.yaml").unlink()
    (repo / "sites/acme-us/peers/nyc.yaml").write_text(
        (repo / "sites/acme-us/peers/nyc.yaml").read_text().replace("10.250.0.1", "10.250.0.2"))
    assert main(["check"]) == 0
    assert capsys.readouterr().out == ""  # a pipe, a file, CI logs: nothing
    tty = _Tty()
    monkeypatch.setattr("sys.stdout", tty)
    assert main(["check"]) == 0
    assert tty.getvalue() == "checked 2 instances, 3 peers: no problems\n"


# --- --explain ------------------------------------------------------------------------


def test_explain_with_json_prints_one_json_document(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--format", "json", "--explain", "acme-eu/alice", "10.20.0.5",
                 "22/tcp"]) == 1
    doc = json.loads(capsys.readouterr().out)  # raised on the old output
    assert doc["errors"] == 2
    assert doc["explain"] == {
        "from": "acme-eu/alice", "to": "10.20.0.5", "probe": "22/tcp", "verdict": "allow",
        "path": ["acme-eu/alice (10.255.0.11)", "hub acme-eu",
                 "site berlin (berlin) LAN (10.20.0.5)"],
        "decided_by": "the firewall default (allow)",
        "at": {"file": "sites/acme-eu/instance.yaml", "line": 1}}
    assert main(["check", "--format", "sarif", "--explain", "acme-eu/alice", "10.0.0.1"]) == 2
    assert capsys.readouterr().err == (
        "mvpn: error: --explain prints text or JSON: use --format text or json\n")


def test_explain_help_shows_the_arguments_as_they_are_taken(
    capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", "--help"]) == 0
    usage = " ".join(capsys.readouterr().out.split())
    assert "[--explain FROM TO [PORT/PROTO]]" in usage
    assert "..." not in usage  # not shown as repeatable: it is refused
    assert main(["check", "--explain", "a/b", "10.0.0.1", "icmp", "extra"]) == 2
