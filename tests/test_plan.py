"""``mvpn plan --base REV`` against a real git repository."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from compiler.cli import main
from compiler.keys import KeyRing
from compiler.plan.render import MARKDOWN_MARKER, code, fit_comment
from tests.support.trees import TEST_SECRET, TEST_SECRET_B64, build_file_tree, compile_estate


def git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    env.pop("GIT_DIR", None)
    env.pop("GIT_INDEX_FILE", None)
    proc = subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True)
    return proc.stdout


@pytest.fixture
def repo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A config repository with the compile estate committed on ``main``; cwd is its top."""
    monkeypatch.delenv("MVPN_SECRET", raising=False)
    root = tmp_path / "repo"
    build_file_tree(root / "sites", compile_estate())
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "estate")
    monkeypatch.chdir(root)
    return root


def _pull_request(repo: Path) -> None:
    """A realistic PR: add a site, make alice route-all, remove erin; allocate; commit."""
    git(repo, "checkout", "-q", "-b", "pr")
    (repo / "sites/acme-eu/peers/munich.yaml").write_text(
        "# new office, opened in May\ntype: site\nsite: munich-office\n"
        "protocol: wireguard\nsubnets: [10.22.0.0/24]\n")
    alice = repo / "sites/acme-eu/peers/alice.yaml"
    alice.write_text(alice.read_text().replace("type: client\n", "type: client\nroute_all: true\n"))
    git(repo, "rm", "-q", "sites/acme-us/peers/erin.yaml")
    assert main(["allocate"]) == 0
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "munich, alice route-all, erin leaves")


def test_plan_names_exactly_the_changes_of_a_pr(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _pull_request(repo)
    capsys.readouterr()
    status, head = git(repo, "status", "--porcelain"), git(repo, "rev-parse", "HEAD")
    assert main(["plan", "--base", "main", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert git(repo, "status", "--porcelain") == status == ""  # tree and index untouched
    assert git(repo, "rev-parse", "HEAD") == head
    assert doc["root"] == "sites"
    assert doc["instances"] == []
    assert [(c["kind"], c["key"], c["file"], c["fields"]) for c in doc["peers"]] == [
        ("changed", "acme-eu/alice", "sites/acme-eu/peers/alice.yaml",
         [{"field": "route_all", "old": False, "new": True}]),
        ("added", "acme-eu/munich", "sites/acme-eu/peers/munich.yaml", []),
        ("removed", "acme-us/erin", "sites/acme-us/peers/erin.yaml", []),
    ]
    assert doc["routes"] == [
        {"kind": "added", "instance": "acme-eu", "item": "10.22.0.0/24", "owner": "munich"}]
    assert doc["addresses"] == [
        {"kind": "added", "instance": "acme-eu", "item": "10.255.0.2", "owner": "munich"},
        {"kind": "added", "instance": "acme-eu", "item": "fd00:255::2", "owner": "munich"},
        {"kind": "removed", "instance": "acme-us", "item": "10.253.0.11", "owner": "erin"},
    ]
    assert doc["dns"] == []
    arts = {(a["kind"], f"{a['instance']}/{a['path']}") for a in doc["artifacts"]}
    assert arts == {
        # the new site, inside acme-eu's aggregates: its own scripts, its hub peer and the
        # hub's firewall (alice's route-all, and the rule naming "sites"); no other router's
        # script and no other profile (SPEC §10)
        ("added", "acme-eu/sites/munich.rsc"), ("added", "acme-eu/sites/munich.conf"),
        ("changed", "acme-eu/hub/wireguard/wg0.conf"), ("changed", "acme-eu/hub/nftables.conf"),
        # alice: route-all profile
        ("changed", "acme-eu/clients/alice.conf"),
        # erin: profile and certificate gone, CCD and hub config without her; the firewall's
        # "clients" no longer holds her address
        ("removed", "acme-us/clients/erin.ovpn"), ("removed", "acme-us/hub/openvpn/ccd/erin"),
        ("changed", "acme-us/hub/nftables.conf"),
    }
    assert [(a["kind"], a["key"], a["who"]) for a in doc["hubs"]] == [
        ("changed", "acme-eu", "acme-eu"), ("changed", "acme-us", "acme-us")]
    assert [(a["kind"], a["key"], a["artifacts"]) for a in doc["routers"]] == [
        ("added", "acme-eu/munich", ["sites/munich.rsc"]),
    ]
    assert [(a["kind"], a["key"], a["who"]) for a in doc["profiles"]] == [
        ("changed", "acme-eu/alice", "alice@example.com"),  # route-all, not munich
    ]
    assert [(a["kind"], a["key"], a["who"]) for a in doc["retired"]] == [
        ("removed", "acme-us/erin", "erin@example.com")]


def _site_only_repo(tmp_path: Path) -> Path:
    """The compile estate without the firewall rule naming "sites" (it lists every site's
    addresses), committed on ``main``."""
    files = compile_estate()
    inst = files["acme-eu/instance.yaml"]
    rules = inst["firewall"]["rules"]  # type: ignore[index]
    inst["firewall"] = {"default": "allow", "rules": rules[:1]}
    root = tmp_path / "repo"
    build_file_tree(root / "sites", files)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "estate")
    return root


@pytest.mark.parametrize(("protocol", "files"), [
    ("wireguard", ["hub/wireguard/wg0.conf", "sites/munich.conf", "sites/munich.rsc"]),
    ("openvpn", ["hub/openvpn/ccd/munich", "sites/munich.ovpn", "sites/munich.rsc"]),
])
def test_plan_of_a_site_added_inside_the_aggregates_is_the_hub_and_the_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    protocol: str, files: list[str],
) -> None:
    """SPEC §10: exactly the hub to redeploy and the new site's script; no other router, no
    profile, and on the hub only the new peer's own file (no firewall, no server.conf)."""
    monkeypatch.delenv("MVPN_SECRET", raising=False)
    repo = _site_only_repo(tmp_path)
    monkeypatch.chdir(repo)
    (repo / "sites/acme-eu/peers/munich.yaml").write_text(
        f"type: site\nsite: munich-office\nprotocol: {protocol}\nsubnets: [10.22.0.0/24]\n")
    assert main(["allocate"]) == 0
    capsys.readouterr()
    assert main(["plan", "--base", "main", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert sorted((a["kind"], a["path"]) for a in doc["artifacts"]) == sorted(
        ("changed" if f.startswith("hub/wireguard") else "added", f) for f in files)
    assert [(a["kind"], a["key"]) for a in doc["hubs"]] == [("changed", "acme-eu")]
    assert [(a["kind"], a["key"], a["artifacts"]) for a in doc["routers"]] == [
        ("added", "acme-eu/munich", ["sites/munich.rsc"])]
    assert (doc["profiles"], doc["retired"]) == ([], [])
    assert main(["plan", "--base", "main"]) == 0
    assert capsys.readouterr().out.endswith(
        "Peers: 1 to add, 0 to change, 0 to remove. 3 artifacts change; "
        "1 router to re-run; 0 new profiles to hand out.\n")


def test_plan_text_and_markdown(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _pull_request(repo)
    capsys.readouterr()
    commit = git(repo, "rev-parse", "main").strip()[:7]
    assert main(["plan", "--base", "main"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"mvpn plan: sites at main ({commit}) -> working tree\n\nPeers\n"
                           "  ~ acme-eu/alice  client alice@example.com, wireguard, route-all  "
                           "(sites/acme-eu/peers/alice.yaml)\n"
                           "      route_all: false -> true\n"
                           "  + acme-eu/munich  site munich-office, wireguard  "
                           "(sites/acme-eu/peers/munich.yaml)\n"
                           "  - acme-us/erin  client erin@example.com, openvpn  "
                           "(sites/acme-us/peers/erin.yaml)\nRoutes\n"
                           "  + acme-eu 10.22.0.0/24 (munich)\n")
    assert text.endswith("Peers: 1 to add, 1 to change, 1 to remove. 8 artifacts change; "
                         "1 router to re-run; 1 new profile to hand out.\n")
    assert main(["plan", "--base", "main", "--format", "markdown"]) == 0
    md = capsys.readouterr().out
    assert md.startswith(MARKDOWN_MARKER + "\n## mvpn plan for <code>sites</code>\n")
    block = md.split("```mermaid\n", 1)[1].split("```", 1)[0]
    assert '  p2("munich<br/>added")\n' in block
    assert "  class p2,n1 added\n" in block and "  class p3 removed\n" in block
    assert "| + | <code>acme-eu/munich</code> | <code>munich-office</code> | " \
        "<code>sites/munich.rsc</code> |" in md


def test_no_changes(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["plan", "--base", "HEAD"]) == 0
    assert capsys.readouterr().out.endswith(
        "No changes: both trees compile to the same artifacts.\n")


def test_uncommitted_edits_are_the_head(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    inst = repo / "sites/acme-eu/instance.yaml"
    inst.write_text(inst.read_text().replace("- 10.0.0.53", "- 10.0.0.53\n  - 10.0.0.54"))
    assert main(["plan", "--base", "HEAD", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(c["kind"], c["key"], c["fields"]) for c in doc["instances"]] == [
        ("changed", "acme-eu",
         [{"field": "dns.servers", "old": ["10.0.0.53"], "new": ["10.0.0.53", "10.0.0.54"]}])]
    assert doc["dns"] == [
        {"kind": "added", "instance": "acme-eu", "item": "10.0.0.54", "owner": "server"}]
    # The instance has dns.records, so clients ask the hub's resolver: only its config
    # changes, no profile does.
    assert doc["profiles"] == []
    assert {(a["kind"], f"{a['instance']}/{a['path']}") for a in doc["artifacts"]} == {
        ("changed", "acme-eu/hub/dns/dnsmasq.conf")}
    assert doc["routers"] == []


def test_usage_errors_exit_2(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["plan", "--base", "no-such-branch"]) == 2
    assert "unknown git revision 'no-such-branch'" in capsys.readouterr().err
    assert main(["plan", "--base", "--output=/tmp/x"]) == 2
    elsewhere = build_file_tree(tmp_path / "plain", compile_estate())
    assert main(["plan", str(elsewhere), "--base", "main"]) == 2
    assert "is not inside a git repository" in capsys.readouterr().err


def test_errors_in_either_tree_exit_1(repo: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = repo / "sites/acme-eu/peers/zed.yaml"
    bad.write_text("type: client\nuser: zed@example.com\nadress: 10.255.0.99\n")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "typo")
    bad.unlink()
    assert main(["plan", "--base", "HEAD"]) == 1
    captured = capsys.readouterr()
    assert "the tree at HEAD" in captured.err
    assert "HEAD:sites/acme-eu/peers/zed.yaml:3:1: error[schema] unknown key 'adress'" \
        in captured.out


def test_root_new_at_head_is_all_added(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MVPN_SECRET", raising=False)
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "README.md").write_text("config\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "empty")
    build_file_tree(repo / "net", compile_estate())
    assert main(["plan", str(repo / "net"), "--base", "main", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["root"] == "net"
    assert {c["kind"] for c in doc["peers"] + doc["instances"]} == {"added"}
    assert len(doc["peers"]) == 8


def test_derived_plan_shows_rotation_and_prints_no_key(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    secret = tmp_path / "secret"
    secret.write_text(TEST_SECRET_B64)
    alice = repo / "sites/acme-eu/peers/alice.yaml"
    doc = yaml.safe_load(alice.read_text())
    doc["key_epoch"] = 2
    alice.write_text(yaml.safe_dump(doc))
    for fmt in ("text", "markdown", "json"):
        assert main(["plan", "--base", "HEAD", "--secret-file", str(secret),
                     "--format", fmt]) == 0
        out = capsys.readouterr().out
        assert "clients/alice.conf" in out
        ring = KeyRing(TEST_SECRET)
        for epoch in (1, 2):
            assert ring.wireguard_peer("acme-eu", "alice", epoch).private_key not in out
        assert ring.wireguard_hub("acme-eu", 1).private_key not in out


def test_markdown_escapes_free_text() -> None:
    hostile = "<img src=x onerror=alert(1)> @org/team | `x` [a](javascript:b) **b**"
    out = code(hostile)
    assert out.startswith("<code>") and out.endswith("</code>")
    inner = out[len("<code>"):-len("</code>")]
    for bad in "<>@|`[]*":
        assert bad not in inner


def test_root_at_the_top_of_the_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("MVPN_SECRET", raising=False)
    repo = build_file_tree(tmp_path / "top", compile_estate())
    (repo / "acme-eu/peers/zed.yaml").write_text("type: client\nuser: z@example.com\nadress: x\n")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "all")
    monkeypatch.chdir(repo)
    assert main(["plan", ".", "--base", "main"]) == 1
    assert "main:acme-eu/peers/zed.yaml:3:1: error[schema]" in capsys.readouterr().out
    (repo / "acme-eu/peers/zed.yaml").unlink()
    git(repo, "commit", "-q", "-am", "fix")
    assert main(["plan", ".", "--base", "main~1", "--format", "json"]) == 1  # base still bad
    capsys.readouterr()
    assert main(["plan", ".", "--base", "main", "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["root"] == "." and doc["empty"] is True


@pytest.mark.parametrize("target", ["/etc/passwd", "../../../../outside.yaml"])
def test_a_symlink_leaving_the_tree_at_the_base_is_a_diagnostic(
    repo: Path, target: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue 11 item 6: git archive holds the link; the tar filter refuses it: file-unsafe."""
    evil = repo / "sites/acme-eu/peers/evil.yaml"
    evil.symlink_to(target)
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "link")
    evil.unlink()
    assert main(["plan", "--base", "HEAD"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == (
        "HEAD:sites/acme-eu/peers/evil.yaml:1:1: error[file-unsafe] 'evil.yaml' is a symlink "
        "that leaves the config tree (or dangles); replace it with the file itself")
    assert "internal error" not in captured.err


# --- the PR comment fits GitHub's limit; --base defaults to the PR's base --------------


def test_base_defaults_to_the_pull_requests_base_branch(
    repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("GITHUB_BASE_REF", raising=False)
    assert main(["plan"]) == 2
    assert capsys.readouterr().err == (
        "mvpn: error: plan needs --base REV (in a GitHub pull request it defaults to "
        "origin/<base branch>)\n")
    monkeypatch.setenv("GITHUB_BASE_REF", "main")
    assert main(["plan"]) == 2  # origin/main, which this clone does not have
    assert "unknown git revision 'origin/main'" in capsys.readouterr().err
    git(repo, "update-ref", "refs/remotes/origin/main", "HEAD")
    assert main(["plan"]) == 0
    assert capsys.readouterr().out.startswith("mvpn plan: sites at origin/main (")


def test_comment_file_fits_github_and_cuts_details_with_a_note(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    peers = repo / "sites/acme-eu/peers"
    for i in range(400):  # a big change: 400 new users, ~800 artifact rows
        (peers / f"user{i:03d}.yaml").write_text(f"type: client\nuser: u{i}@example.com\n")
    inst = repo / "sites/acme-eu/instance.yaml"
    inst.write_text(inst.read_text().replace("10.255.0.0/24", "10.255.0.0/21"))
    assert main(["allocate"]) == 0
    capsys.readouterr()
    assert main(["plan", "--base", "main", "--format", "markdown",
                 "--comment-file", "comment.md"]) == 0
    full = capsys.readouterr().out
    comment = (repo / "comment.md").read_text()
    assert len(full) > 65_536 >= len(comment)
    assert comment.startswith(MARKDOWN_MARKER + "\n")
    summary = next(line for line in full.splitlines() if line.startswith("**Peers: "))
    assert summary == ("**Peers: 400 to add, 0 to change, 0 to remove. Instances: 0 to add, "
                       "1 to change, 0 to remove. 409 artifacts change; 2 routers to re-run; "
                       "402 new profiles to hand out.**")
    assert summary in comment
    cut = len(full.split("\n")) - (len(comment.split("\n")) - 3)  # - blank, note, end
    assert comment.endswith(
        f"**The plan is longer than a GitHub comment allows: {cut} lines cut here.** "
        "The full plan is in this workflow run (its job summary, and the `mvpn-plan` "
        "artifact).\n")
    assert comment.count("```") % 2 == 0
    assert full.startswith(comment.split("\n\n**The plan is longer")[0] + "\n")
    # a plan that fits is written as it is
    git(repo, "add", "sites")
    git(repo, "commit", "-q", "-m", "400 users")
    assert main(["plan", "--base", "HEAD", "--format", "markdown",
                 "--comment-file", "small.md"]) == 0
    assert (repo / "small.md").read_text() == capsys.readouterr().out


_BLOCK = st.one_of(
    st.integers(0, 60).map(lambda n: ["```mermaid", *["  i1 --- p1"] * n, "```", ""]),
    st.integers(0, 60).map(lambda n: ["<details><summary>Artifacts</summary>", "",
                                      *["| ~ | <code>a</code> |"] * n, "</details>", ""]),
    st.integers(0, 60).map(lambda n: ["### Peers", "", *["| + | x" * 9 + " |"] * n, ""]),
)


@given(st.lists(_BLOCK, max_size=12), st.integers(min_value=1000, max_value=6000))
def test_fit_comment_never_exceeds_the_limit_nor_breaks_a_block(
    blocks: list[list[str]], limit: int
) -> None:
    text = "\n".join(["<!-- mvpn-plan -->", "**summary**", "",
                      *(line for block in blocks for line in block)])
    out = fit_comment(text, limit)
    assert len(out) <= limit
    if len(text) <= limit:
        assert out == text
        return
    assert out.startswith("<!-- mvpn-plan -->\n**summary**\n")
    assert out.endswith("`mvpn-plan` artifact).\n")
    lines = out.split("\n")
    assert sum(line.startswith("```") for line in lines) % 2 == 0  # no open code block
    assert sum(line.startswith("<details>") for line in lines) == \
        sum(line.startswith("</details>") for line in lines)
    assert lines[-3] == ""  # the note stands apart: a table before it has ended


def test_fit_comment_drops_a_cut_diagram_and_closes_details() -> None:
    head = ["<!-- mvpn-plan -->", "**summary**", ""]
    diagram = "\n".join([*head, "```mermaid", *["  i1 --- p1"] * 500, "```", ""])
    out = fit_comment(diagram, 2000)
    assert out.split("\n")[:4] == [*head, ""] and "```" not in out
    details = "\n".join([*head, "<details><summary>Artifacts</summary>", "",
                         *["| ~ | <code>a</code> |"] * 500, "</details>", ""])
    lines = fit_comment(details, 2000).split("\n")
    assert lines[-6:] == ["| ~ | <code>a</code> |", "</details>", "", "", lines[-2], ""]
    assert lines[-2].startswith("**The plan is longer than a GitHub comment allows: ")


def _epochs(repo: Path, text: str) -> None:
    inst = repo / "sites/acme-eu/instance.yaml"
    lines = [line for line in inst.read_text().splitlines(keepends=True)
             if not line.startswith(("key_epoch:", "retiring_key_epoch:"))]
    inst.write_text("".join(lines) + text)


def _rotation_lines(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("Hub key rotation"))
    return lines[start:lines.index("", start)]


def test_plan_names_who_must_re_import_at_each_step_of_a_hub_key_rotation(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _epochs(repo, "key_epoch: 2\nretiring_key_epoch: 1\n")
    assert main(["plan", "--base", "HEAD"]) == 0
    assert _rotation_lines(capsys.readouterr().out) == [
        "Hub key rotation acme-eu: step 1 of 2: key_epoch 1 -> 2; the hub trusts both CAs "
        "and keeps its keys",
        "  re-import before step 2 (OpenVPN: refused after it on an older profile)",
        "  ~ acme-eu/carol (carol@example.com): clients/carol.ovpn",
        "  ~ acme-eu/hamburg (hamburg-office): sites/hamburg.rsc",
        "  unchanged until step 2, then a new profile (WireGuard: the hub's key changes only "
        "there)",
        "  ~ acme-eu/alice (alice@example.com): clients/alice.conf",
        "  ~ acme-eu/berlin (berlin-office): sites/berlin.rsc",
        "  ~ acme-eu/bob (bob@example.com): clients/bob.conf",
        "  ~ acme-eu/dave (dave@example.com): clients/dave.conf",
    ]
    git(repo, "commit", "-q", "-am", "step 1")
    _epochs(repo, "key_epoch: 2\n")
    assert main(["plan", "--base", "HEAD"]) == 0
    out = _rotation_lines(capsys.readouterr().out)
    assert out[:3] == [
        "Hub key rotation acme-eu: step 2 of 2: epoch 1 retired, the hub switches to key_epoch 2",
        "  refused from now on unless re-imported during step 1 (OpenVPN)",
        "  ~ acme-eu/carol (carol@example.com): clients/carol.ovpn",
    ]
    assert out[4] == "  need their new profile now (WireGuard)"
    git(repo, "commit", "-q", "-am", "step 2")
    _epochs(repo, "key_epoch: 3\n")
    assert main(["plan", "--base", "HEAD", "--format", "json"]) == 0
    (rotation,) = json.loads(capsys.readouterr().out)["rotations"]
    assert rotation["title"] == ("in one step: key_epoch 2 -> 3 cuts every peer off until it "
                                 "re-imports (retiring_key_epoch rotates in two steps)")
    assert [g["title"] for g in rotation["groups"]] == [
        "need their new profile now (OpenVPN)", "need their new profile now (WireGuard)"]
    assert main(["plan", "--base", "HEAD~2", "--format", "markdown"]) == 0
    assert "### Hub key rotation <code>acme-eu</code>" in capsys.readouterr().out


def _wireguard_ports(repo: Path, old: str, new: str) -> None:
    inst = repo / "sites/acme-eu/instance.yaml"
    text = inst.read_text()
    assert old in text
    inst.write_text(text.replace(old, new))


def _move(repo: Path, *peers: str) -> None:
    for peer in peers:
        with (repo / f"sites/acme-eu/peers/{peer}.yaml").open("a") as doc:
            doc.write("hub_key_epoch: 2\n")


def test_plan_lists_only_the_wireguard_peers_not_yet_moved_to_wg1(
    repo: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _epochs(repo, "key_epoch: 2\nretiring_key_epoch: 1\n")
    _wireguard_ports(repo, "  port: 51820\n", "  port: 51820\n  next_port: 51821\n")
    _move(repo, "alice")
    assert main(["plan", "--base", "HEAD"]) == 0
    assert _rotation_lines(capsys.readouterr().out)[3:] == [
        "  ~ acme-eu/hamburg (hamburg-office): sites/hamburg.rsc",
        "  moved to the new hub key now: hand out the new profile (WireGuard, wg1)",
        "  ~ acme-eu/alice (alice@example.com): clients/alice.conf",
        "  not moved yet: set hub_key_epoch: 2 and hand out the new profile before step 2, "
        "which cuts them off (WireGuard)",
        "  ~ acme-eu/berlin (berlin-office): sites/berlin.rsc",
        "  ~ acme-eu/bob (bob@example.com): clients/bob.conf",
        "  ~ acme-eu/dave (dave@example.com): clients/dave.conf",
    ]
    git(repo, "commit", "-q", "-am", "step 1, alice moved")
    _move(repo, "berlin", "bob")  # a later commit of step 1: only what it moves is new
    assert main(["plan", "--base", "HEAD"]) == 0
    out = _rotation_lines(capsys.readouterr().out)
    assert out[0] == ("Hub key rotation acme-eu: step 1 of 2: key_epoch 1 -> 2; the hub trusts "
                      "both CAs and keeps its keys; WireGuard peers move to wg1 (port 51821) "
                      "one by one")
    assert out[4:] == [
        "  moved to the new hub key now: hand out the new profile (WireGuard, wg1)",
        "  ~ acme-eu/berlin (berlin-office): sites/berlin.rsc",
        "  ~ acme-eu/bob (bob@example.com): clients/bob.conf",
        "  not moved yet: set hub_key_epoch: 2 and hand out the new profile before step 2, "
        "which cuts them off (WireGuard)",
        "  ~ acme-eu/dave (dave@example.com): clients/dave.conf",
    ]
    git(repo, "commit", "-q", "-am", "step 1, berlin and bob moved")
    # Step 2 as the README says: wg0 takes wg1's port. Only dave was left on the old key.
    _epochs(repo, "key_epoch: 2\n")
    _wireguard_ports(repo, "  port: 51820\n  next_port: 51821\n", "  port: 51821\n")
    assert main(["plan", "--base", "HEAD"]) == 0
    assert _rotation_lines(capsys.readouterr().out)[4:] == [
        "  need their new profile now (WireGuard)",
        "  ~ acme-eu/dave (dave@example.com): clients/dave.conf",
    ]
    # Step 2 with the port left as it was: the moved peers' profiles would change.
    _wireguard_ports(repo, "  port: 51821\n", "  port: 51820\n")
    assert main(["plan", "--base", "HEAD"]) == 0
    assert _rotation_lines(capsys.readouterr().out)[6:] == [
        "  warning: wireguard.port is not step 1's next_port 51821: these peers moved to wg1 "
        "get a changed profile and must re-import (set wireguard.port to it)",
        "  ~ acme-eu/alice (alice@example.com): clients/alice.conf",
        "  ~ acme-eu/berlin (berlin-office): sites/berlin.rsc",
        "  ~ acme-eu/bob (bob@example.com): clients/bob.conf",
    ]
