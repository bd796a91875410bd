"""``mvpn allocate`` on hostile or unusual files, and all-or-nothing writing (issue 11: 7, 8)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.cli import main
from tests.support.mounts import immutable, read_only, tmpfs
from tests.support.trees import INSTANCE, build_file_tree, estate

V6_INSTANCE = {**INSTANCE, "wireguard": {"port": 51820, "network": "10.255.0.0/24",
                                         "network6": "fd00:255::/64"}}
ALICE = "type: client\nuser: alice@example.com\n"
BOB = "type: client\nuser: bob@example.com\n"


def _tree(root: Path, **files: object) -> Path:
    """The small estate with alice and bob (no addresses yet) and ``files`` on top
    (``acme_eu__peers__x_DOT_yaml`` names ``acme-eu/peers/x.yaml``)."""
    named = {k.replace("acme_eu", "acme-eu"): v for k, v in files.items()}
    build_file_tree(root, estate(**{  # type: ignore[arg-type]
        "acme-eu__peers__alice_DOT_yaml": ALICE, "acme-eu__peers__bob_DOT_yaml": BOB,
        **named}))
    return root


def _peers(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted((root / "acme-eu/peers").iterdir())}


def test_flow_style_file_in_an_ipv6_instance(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 7: two keys go into one flow mapping, both reported at its line (was a crash)."""
    _tree(tmp_path / "sites", acme_eu__instance_DOT_yaml=V6_INSTANCE,
          acme_eu__peers__bob_DOT_yaml=None,
          acme_eu__peers__alice_DOT_yaml="# laptop\n{type: client, user: alice@example.com}\n")
    monkeypatch.chdir(tmp_path)
    assert main(["allocate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "sites/acme-eu/peers/alice.yaml:2: address 10.255.0.2",
        "sites/acme-eu/peers/alice.yaml:2: address6 fd00:255::2",
        "sites/acme-eu/peers/berlin.yaml:7: address6 fd00:255::3",
    ]
    assert (tmp_path / "sites/acme-eu/peers/alice.yaml").read_text() == (
        "# laptop\n{type: client, user: alice@example.com, address: 10.255.0.2, "
        "address6: fd00:255::2}\n")
    assert main(["check"]) == 0


@pytest.mark.parametrize(("text", "expected"), [
    (ALICE + "address: ~\nkey_epoch: 1\n", ALICE + "address: 10.255.0.2\nkey_epoch: 1\n"),
    (ALICE + "address: null   # soon\n", ALICE + "address: 10.255.0.2   # soon\n"),
    (ALICE + "address:\n", ALICE + "address: 10.255.0.2\n"),
    ("{type: client, address: ~, user: alice@example.com}\n",
     "{type: client, address: 10.255.0.2, user: alice@example.com}\n"),
])
def test_an_empty_address_is_filled_where_it_stands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    text: str, expected: str,
) -> None:
    """Item 8: ``address: ~`` means "not set yet" (it was refused as a duplicate key)."""
    _tree(tmp_path / "sites", acme_eu__peers__bob_DOT_yaml=None,
          acme_eu__peers__alice_DOT_yaml=text)
    monkeypatch.chdir(tmp_path)
    assert main(["allocate"]) == 0
    line = expected.splitlines().index(
        next(x for x in expected.splitlines() if "10.255.0.2" in x)) + 1
    assert capsys.readouterr().out == f"sites/acme-eu/peers/alice.yaml:{line}: address 10.255.0.2\n"
    assert (tmp_path / "sites/acme-eu/peers/alice.yaml").read_text() == expected


def test_an_empty_address_then_address6_in_an_ipv6_instance(tmp_path: Path) -> None:
    root = _tree(tmp_path, acme_eu__instance_DOT_yaml=V6_INSTANCE,
                 acme_eu__peers__bob_DOT_yaml=None,
                 acme_eu__peers__alice_DOT_yaml=ALICE + "address: ~\nkey_epoch: 1\n")
    assert main(["allocate", str(root)]) == 0
    assert (root / "acme-eu/peers/alice.yaml").read_text() == (
        ALICE + "address: 10.255.0.2\naddress6: fd00:255::2\nkey_epoch: 1\n")


@pytest.mark.parametrize("newline", [b"\r", b"\r\n"])
@pytest.mark.parametrize("final", [True, False])
def test_line_endings_are_kept(tmp_path: Path, newline: bytes, final: bool) -> None:
    """Item 8: a CR-only file gets CR, not LF (nor CRLF), with or without a final break."""
    text = b"type: client" + newline + b"user: alice@example.com" + (newline if final else b"")
    root = _tree(tmp_path, acme_eu__peers__bob_DOT_yaml=None,
                 acme_eu__peers__alice_DOT_yaml=text)
    assert main(["allocate", str(root)]) == 0
    assert (root / "acme-eu/peers/alice.yaml").read_bytes() == (
        text + (b"" if final else newline) + b"address: 10.255.0.2" + (newline if final else b""))


def test_a_symlinked_peer_file_edits_its_target(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 8: the link stays a link (git keeps it so); the file it points to gets the key."""
    root = _tree(tmp_path / "sites", acme_eu__peers__bob_DOT_yaml=None,
                 acme_eu__peers__alice_DOT_yaml=None, common__alice_DOT_txt=ALICE)
    (root / "acme-eu/peers/alice.yaml").symlink_to("../../common/alice.txt")
    monkeypatch.chdir(tmp_path)
    assert main(["allocate"]) == 0
    assert capsys.readouterr().out == "sites/acme-eu/peers/alice.yaml:3: address 10.255.0.2\n"
    link = root / "acme-eu/peers/alice.yaml"
    assert link.is_symlink() and os.readlink(link) == "../../common/alice.txt"
    assert (root / "common/alice.txt").read_text() == ALICE + "address: 10.255.0.2\n"


def test_a_rename_failing_midway_puts_back_every_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Item 8: the second replace fails (injected): the first file is as it was, exit 2."""
    root = _tree(tmp_path / "sites")
    monkeypatch.chdir(tmp_path)
    before = _peers(root)
    real = os.replace
    calls: list[str] = []

    def failing(src: str | Path, dst: str | Path) -> None:
        calls.append(Path(dst).name)
        if Path(dst).name == "bob.yaml" and not Path(src).name.startswith(".bob.yaml.mvpn-allocate-old"):
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(os, "replace", failing)
    assert main(["allocate"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err == ("mvpn: error: cannot write a peer file: No space left on device; "
                            "no file was changed (sites/acme-eu/peers/bob.yaml)\n")
    assert calls == ["alice.yaml", "bob.yaml", "alice.yaml"]  # alice replaced, then put back
    assert _peers(root) == before  # no staged or backup file left behind either


def test_an_immutable_peer_file_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(tmp_path / "sites")
    monkeypatch.chdir(tmp_path)
    before = _peers(root)
    immutable(root / "acme-eu/peers/bob.yaml")
    try:
        assert main(["allocate"]) == 2
        assert capsys.readouterr().err == (
            "mvpn: error: cannot write a peer file: Operation not permitted; no file was "
            "changed (sites/acme-eu/peers/bob.yaml)\n")
        assert _peers(root) == before
    finally:
        immutable(root / "acme-eu/peers/bob.yaml", on=False)


def test_a_read_only_peers_folder_changes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(tmp_path / "sites", acme_eu__peers__alice_DOT_yaml=None,
                 acme_eu__peers__bob_DOT_yaml=None)
    with tmpfs(root / "acme-eu/peers") as peers:
        (peers / "alice.yaml").write_text(ALICE)
        (peers / "bob.yaml").write_text(BOB)
        read_only(peers)
        monkeypatch.chdir(tmp_path)
        assert main(["allocate"]) == 2
        assert capsys.readouterr().err == (
            "mvpn: error: cannot write a peer file: Read-only file system; no file was "
            "changed (sites/acme-eu/peers/alice.yaml)\n")
        assert _peers(root) == {"alice.yaml": ALICE.encode(), "bob.yaml": BOB.encode()}


def test_a_full_disk_changes_nothing_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _tree(tmp_path / "sites", acme_eu__peers__alice_DOT_yaml=None,
                 acme_eu__peers__bob_DOT_yaml=None)
    with tmpfs(root / "acme-eu/peers", size="64k") as peers:
        (peers / "alice.yaml").write_text(ALICE)
        (peers / "bob.yaml").write_text(BOB)
        fd = os.open(peers / ".filler", os.O_WRONLY | os.O_CREAT)
        try:  # take every free block
            while os.write(fd, b"\0" * 4096):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        monkeypatch.chdir(tmp_path)
        assert main(["allocate"]) == 2
        assert capsys.readouterr().err == (
            "mvpn: error: cannot write a peer file: No space left on device; no file was "
            "changed (sites/acme-eu/peers/alice.yaml)\n")
        (peers / ".filler").unlink()
        assert _peers(root) == {"alice.yaml": ALICE.encode(), "bob.yaml": BOB.encode()}
