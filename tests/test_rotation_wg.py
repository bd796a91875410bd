"""WireGuard during a two-step hub key rotation: wg1 on ``next_port``, peers moved one by one.

Step 1 with ``wireguard.next_port`` runs a second hub interface, wg1, with the new epoch's
key; a WireGuard peer with ``hub_key_epoch: <key_epoch>`` is one of its peers (and no longer
wg0's), and its artifacts carry the new key and ``next_port``. Step 2 with ``wireguard.port``
set to the old ``next_port`` gives it the same artifacts byte for byte, so it never
re-imports. The namespace suite (``tests/test_rotation_e2e.py``) runs it on real daemons.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.api import check, compile_tree
from compiler.keys import KeyRing
from compiler.render import FAMILIES, instance_views
from tests.support.trees import (
    TEST_SECRET,
    build_file_tree,
    client,
    compile_estate,
    estate,
    rows,
    site,
)

RING = KeyRing(TEST_SECRET)
CODE = "key-rotation-invalid"
EU = "acme-eu/instance.yaml"


def _instance(wireguard: str = "  next_port: 51821\n", epochs: str = "key_epoch: 2\n"
              "retiring_key_epoch: 1\n", extra: str = "") -> str:
    # wireguard's lines are 3-5 (next_port: 6), openvpn 7, then the epochs from line 8.
    return ("hostname: acme-eu\nregion: fra\nwireguard:\n  port: 51820\n"
            "  network: 10.255.0.0/24\n" + wireguard +
            "openvpn: {port: 1194, transport: udp, network: 10.254.0.0/24}\n" + epochs + extra)


def _rows(tmp_path: Path, instance: str, **peers: object) -> list[Any]:
    files = estate()
    files[EU] = instance
    for name, doc in peers.items():
        files[f"acme-eu/peers/{name}.yaml"] = doc
    return rows(tmp_path, files)


# --------------------------------------------------------------------------- next_port

def test_next_port_without_retiring_key_epoch_is_refused_at_its_line(tmp_path: Path) -> None:
    assert _rows(tmp_path, _instance(epochs="key_epoch: 2\n")) == [
        (CODE, "error", EU, 6, 14,
         "wireguard.next_port 51821 is only used during step 1 of a hub key rotation (with "
         "retiring_key_epoch): after step 2 set wireguard.port to it and remove next_port")]


def test_a_next_port_equal_to_the_wireguard_port_is_a_port_conflict_at_both_lines(
        tmp_path: Path) -> None:
    message = ("{0} and {1} both listen on UDP port 51820 of this hub; the second would fail "
               "with 'Address already in use': give each its own port")
    second = "WireGuard's second interface (next_port)"
    assert _rows(tmp_path, _instance("  next_port: 51820\n")) == [
        ("port-conflict", "error", EU, 4, 9, message.format("WireGuard", second)),
        ("port-conflict", "error", EU, 6, 14, message.format(second, "WireGuard"))]


def test_a_next_port_equal_to_openvpn_over_udp_conflicts_over_tcp_not(tmp_path: Path) -> None:
    found = _rows(tmp_path, _instance("  next_port: 1194\n"))
    assert [(r[0], r[3]) for r in found] == [("port-conflict", 6), ("port-conflict", 7)]
    assert found[0][5].startswith("WireGuard's second interface (next_port) and OpenVPN both "
                                  "listen on UDP port 1194")
    tcp = _instance("  next_port: 1194\n").replace("transport: udp", "transport: tcp")
    assert _rows(tmp_path / "tcp", tcp) == []


def test_next_port_on_the_hub_resolvers_port_conflicts(tmp_path: Path) -> None:
    found = _rows(tmp_path, _instance("  next_port: 53\n",
                                      extra="dns: {records: {intranet.corp.example: 10.0.0.80}}\n"))
    assert [(r[0], r[3], r[4]) for r in found] == [("port-conflict", 6, 14)]


def test_an_uplink_named_wg1_is_refused_while_wg1_runs(tmp_path: Path) -> None:
    assert _rows(tmp_path, _instance(extra="uplink: wg1\n")) == [
        (CODE, "error", EU, 10, 9,
         "uplink 'wg1' is the name of the hub's second WireGuard interface during the "
         "rotation (wireguard.next_port); name the hub's real uplink")]
    assert _rows(tmp_path / "step2", _instance("", "key_epoch: 2\n", "uplink: wg1\n")) == []


@pytest.mark.parametrize(("value", "message"), [
    ('"51821"', "wireguard.next_port: expected a whole number, got '51821'"),
    ("true", "wireguard.next_port: expected a whole number, got boolean true"),
    ("0", "wireguard.next_port: input should be greater than or equal to 1"),
    ("65536", "wireguard.next_port: input should be less than or equal to 65535"),
])
def test_next_port_is_a_strict_port_number(tmp_path: Path, value: str, message: str) -> None:
    assert _rows(tmp_path, _instance(f"  next_port: {value}\n")) == [
        ("schema", "error", EU, 6, 14, message)]


# --------------------------------------------------------------------------- hub_key_epoch

def _peer_rows(tmp_path: Path, instance: str, **extra: object) -> list[Any]:
    doc = {**client("carol@example.com", "10.255.0.13"), **extra}
    return _rows(tmp_path, instance, carol=doc)


@pytest.mark.parametrize(("instance", "value", "message"), [
    (_instance(), 3, "hub_key_epoch 3 is neither key_epoch 2 (moved to the new hub key) nor "
     "retiring_key_epoch 1 (the old key) of instance 'acme-eu'"),
    (_instance(""), 2, "hub_key_epoch 2 moves this peer to the new hub key, but instance "
     "'acme-eu' has no wireguard.next_port for it: add one (a second UDP port) or remove "
     "hub_key_epoch"),
    (_instance("", "key_epoch: 2\n"), 1, "hub_key_epoch 1 is not instance 'acme-eu''s "
     "key_epoch 2: outside step 1 of a hub key rotation every WireGuard peer has the hub's "
     "current key; remove hub_key_epoch or set it to 2"),
])
def test_a_hub_key_epoch_that_moves_nothing_is_refused_at_its_line(
        tmp_path: Path, instance: str, value: int, message: str) -> None:
    # The peer file: type, user, address, hub_key_epoch (line 4, column 16).
    assert _peer_rows(tmp_path, instance, hub_key_epoch=value) == [
        (CODE, "error", "acme-eu/peers/carol.yaml", 4, 16, message)]


def test_hub_key_epoch_on_an_openvpn_peer_is_refused(tmp_path: Path) -> None:
    doc = {**client("carol@example.com", "10.254.0.13"), "protocol": "openvpn",
           "hub_key_epoch": 2}
    assert _rows(tmp_path, _instance(), carol=doc) == [
        (CODE, "error", "acme-eu/peers/carol.yaml", 5, 16,
         "hub_key_epoch 2: an OpenVPN peer follows the hub's CAs (both are trusted during "
         "step 1); remove hub_key_epoch")]


@pytest.mark.parametrize(("instance", "value"), [
    (_instance(), 1), (_instance(), 2),  # step 1: the old key or moved
    (_instance("", "key_epoch: 2\n"), 2),  # after step 2: the moved peers' leftover
])
def test_hub_key_epochs_that_mean_something_check_clean(
        tmp_path: Path, instance: str, value: int) -> None:
    assert _peer_rows(tmp_path, instance, hub_key_epoch=value) == []


def test_hub_key_epoch_is_a_strict_integer(tmp_path: Path) -> None:
    assert _peer_rows(tmp_path, _instance(), hub_key_epoch="2") == [
        ("schema", "error", "acme-eu/peers/carol.yaml", 4, 16,
         "hub_key_epoch: expected a whole number, got '2'")]


# --------------------------------------------------------------------------- the artifacts

def _build(tmp_path: Path, name: str, epochs: Mapping[str, int],
           wireguard: Mapping[str, object] | None = None, moved: tuple[str, ...] = (),
           hub_key_epoch: int = 2) -> dict[str, bytes]:
    """acme-eu of the compile estate with ``epochs``, ``wireguard`` keys and moved peers."""
    files: dict[str, Any] = compile_estate()
    inst = files["acme-eu/instance.yaml"]
    files["acme-eu/instance.yaml"] = {**inst, **epochs,
                                      "wireguard": {**inst["wireguard"], **(wireguard or {})}}
    for peer in moved:
        rel = f"acme-eu/peers/{peer}.yaml"
        files[rel] = {**files[rel], "hub_key_epoch": hub_key_epoch}
    root = build_file_tree(tmp_path / f"{name}-tree", files)
    out = tmp_path / f"{name}-out"
    result = compile_tree(root, out, TEST_SECRET, qr=False)
    assert result.check.ok, [d.message for d in result.check.diagnostics.sorted()]
    base = out / "acme-eu"
    return {p.relative_to(base).as_posix(): p.read_bytes() for p in base.rglob("*")
            if p.is_file() and p.name != "VERSION"}


def _changed(a: dict[str, bytes], b: dict[str, bytes]) -> set[str]:
    return {name for name in a.keys() | b.keys() if a.get(name) != b.get(name)}


NEXT = {"next_port": 51821}
STEP1 = {"key_epoch": 2, "retiring_key_epoch": 1}
STEP2 = {"key_epoch": 2}
#: The WireGuard peers' artifacts in the compile estate (dave brings his own key).
BERLIN = {"sites/berlin.conf", "sites/berlin.rsc"}


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, bytes]]:
    tmp = tmp_path_factory.mktemp("wgrotation")
    return {
        "step1": _build(tmp, "step1", STEP1),
        "next": _build(tmp, "next", STEP1, NEXT),
        "stay": _build(tmp, "stay", STEP1, NEXT, ("alice", "berlin"), hub_key_epoch=1),
        "moved": _build(tmp, "moved", STEP1, NEXT, ("alice", "berlin")),
        "step2": _build(tmp, "step2", STEP2, {"port": 51821}, ("alice", "berlin")),
        "unswitched": _build(tmp, "unswitched", STEP2, None, ("alice", "berlin")),
    }


def _peers(conf: bytes) -> list[str]:
    """The peer names of a hub WireGuard config (the comment above each [Peer])."""
    return re.findall(r"^# (\S+) \((?:site|client)", conf.decode(), re.MULTILINE)


def _value(conf: bytes, key: str) -> list[str]:
    return re.findall(rf"^{key} = (.*)$", conf.decode(), re.MULTILINE)


def test_next_port_alone_adds_wg1_and_changes_no_peer_artifact(
        builds: dict[str, dict[str, bytes]]) -> None:
    # The hub's installer learns about wg1 (and its port, for the firewall warning).
    assert _changed(builds["step1"], builds["next"]) == {"hub/wireguard/wg1.conf",
                                                         "hub/apply.sh"}
    wg1 = builds["next"]["hub/wireguard/wg1.conf"]
    assert _peers(wg1) == []
    # A hub_key_epoch naming the retiring epoch is the default: nothing moves.
    assert _changed(builds["next"], builds["stay"]) == set()


def test_moving_peers_changes_their_artifacts_and_the_hubs_interfaces_only(
        builds: dict[str, dict[str, bytes]]) -> None:
    assert _changed(builds["next"], builds["moved"]) == {
        "hub/wireguard/wg0.conf", "hub/wireguard/wg1.conf", "clients/alice.conf", *BERLIN}


def test_wg0_keeps_the_old_key_and_the_unmoved_peers_wg1_the_new_key_and_the_moved(
        builds: dict[str, dict[str, bytes]]) -> None:
    wg0, wg1 = (builds["moved"][f"hub/wireguard/{i}.conf"] for i in ("wg0", "wg1"))
    assert _peers(wg0) == ["bob", "dave"]
    assert sorted(_peers(wg1)) == ["alice", "berlin"]
    assert _value(wg0, "PrivateKey") == [RING.wireguard_hub("acme-eu", 1).private_key]
    assert _value(wg1, "PrivateKey") == [RING.wireguard_hub("acme-eu", 2).private_key]
    assert (_value(wg0, "ListenPort"), _value(wg1, "ListenPort")) == (["51820"], ["51821"])
    # wg0 holds the tunnel networks and routes the aggregates; wg1 only the hub's addresses as
    # host prefixes (a second connected /24 would compete with wg0's), and no aggregate.
    assert _value(wg0, "Address") == ["10.255.0.1/24, fd00:255::1/64"]
    assert _value(wg1, "Address") == ["10.255.0.1/32, fd00:255::1/128"]
    # (berlin's 2001:db8:20::/64 on wg1 is inside the aggregate: the longer prefix wins.)
    assert _value(wg0, "PostUp") == ["ip -6 route replace 2001:db8:20::/48 dev %i"]
    assert _value(wg1, "PostUp") == []
    # The moved site's AllowedIPs (tunnel address and LANs) are wg1's routes now.
    assert "10.255.0.10/32, fd00:255::10/128, 10.20.0.0/24, 2001:db8:20::/64" in _value(
        wg1, "AllowedIPs")
    assert wg1.decode().startswith("# mvpn acme-eu hub/wireguard/wg1.conf version ")


def test_a_moved_peers_artifacts_carry_the_new_key_and_next_port(
        builds: dict[str, dict[str, bytes]]) -> None:
    new_key = RING.wireguard_hub("acme-eu", 2).public_key
    old_key = RING.wireguard_hub("acme-eu", 1).public_key
    alice, bob = builds["moved"]["clients/alice.conf"], builds["moved"]["clients/bob.conf"]
    assert _value(alice, "PublicKey") == [new_key]
    assert _value(alice, "Endpoint") == ["acme-eu.vpn.example.net:51821"]
    assert _value(bob, "PublicKey") == [old_key]
    assert _value(bob, "Endpoint") == ["acme-eu.vpn.example.net:51820"]
    rsc = builds["moved"]["sites/berlin.rsc"].decode()
    assert f'public-key="{new_key}"' in rsc and "endpoint-port=51821" in rsc


def test_step_two_with_the_port_switched_leaves_moved_peers_byte_for_byte(
        builds: dict[str, dict[str, bytes]]) -> None:
    moved, step2 = builds["moved"], builds["step2"]
    for rel in ("clients/alice.conf", *BERLIN):
        assert step2[rel] == moved[rel], rel
    # wg1 is gone: wg0 has every peer, with wg1's key on wg1's port.
    assert "hub/wireguard/wg1.conf" not in step2
    wg0 = step2["hub/wireguard/wg0.conf"]
    assert sorted(_peers(wg0)) == ["alice", "berlin", "bob", "dave"]
    assert _value(wg0, "PrivateKey") == [RING.wireguard_hub("acme-eu", 2).private_key]
    assert _value(wg0, "ListenPort") == ["51821"]
    # The peers that stayed on wg0 are the ones cut off: their artifacts change.
    assert step2["clients/bob.conf"] != moved["clients/bob.conf"]


def test_step_two_without_the_port_switch_would_change_the_moved_peers(
        builds: dict[str, dict[str, bytes]]) -> None:
    """Why the README's step 2 sets wireguard.port to the old next_port (the oracle above)."""
    changed = _changed(builds["moved"], builds["unswitched"])
    assert {"clients/alice.conf", *BERLIN} <= changed
    assert _value(builds["unswitched"]["clients/alice.conf"], "Endpoint") == [
        "acme-eu.vpn.example.net:51820"]


def test_apply_sh_knows_wg1_only_while_it_runs(builds: dict[str, dict[str, bytes]]) -> None:
    with_wg1, without = builds["moved"]["hub/apply.sh"], builds["step2"]["hub/apply.sh"]
    assert b"HAS_WG1=1\n" in with_wg1 and b'PORTS="udp/51820 udp/51821 udp/1194"' in with_wg1
    assert b"HAS_WG1=0\n" in without and b'PORTS="udp/51821 udp/1194"' in without


def test_a_site_without_ipv6_moves_with_host_prefixes_of_ipv4_only(tmp_path: Path) -> None:
    files: dict[str, Any] = estate()
    files[EU] = _instance()
    files["acme-eu/peers/berlin.yaml"] = {**site("berlin", "10.255.0.10", ["10.20.0.0/24"]),
                                          "hub_key_epoch": 2}
    root = build_file_tree(tmp_path / "tree", files)
    assert compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False).check.ok
    wg1 = (tmp_path / "out/acme-eu/hub/wireguard/wg1.conf").read_bytes()
    assert _value(wg1, "Address") == ["10.255.0.1/32"]
    assert _value(wg1, "AllowedIPs") == ["10.255.0.10/32, 10.20.0.0/24"]


# --------------------------------------------------------------------------- any subset moved

#: The compile estate's WireGuard peers (dave brings his own key: moved all the same).
WG_PEERS = ("alice", "berlin", "bob", "dave")


def _render(files: Mapping[str, object]) -> dict[str, str]:
    """Every artifact of acme-eu rendered in memory (version slots unfilled), by path."""
    with tempfile.TemporaryDirectory() as tmp:
        root = build_file_tree(Path(tmp), files)  # type: ignore[arg-type]
        result = check(root)
        assert result.ok, [d.message for d in result.diagnostics.sorted()]
        (view,) = [v for v in instance_views(result.estate, RING) if v.name == "acme-eu"]
        return {a.path: a.text for family in FAMILIES.values() for a in family(view)}


def _tree(epochs: Mapping[str, int], wireguard: Mapping[str, object],
          moved: frozenset[str]) -> dict[str, Any]:
    files: dict[str, Any] = compile_estate()
    inst = files["acme-eu/instance.yaml"]
    files["acme-eu/instance.yaml"] = {**inst, **epochs,
                                      "wireguard": {**inst["wireguard"], **wireguard}}
    for peer in moved:
        files[f"acme-eu/peers/{peer}.yaml"] = {**files[f"acme-eu/peers/{peer}.yaml"],
                                               "hub_key_epoch": 2}
    return files


@functools.cache
def _plain_step1() -> dict[str, str]:
    """The oracle: step 1 without next_port (every peer on wg0, as before this feature)."""
    return _render(_tree(STEP1, {}, frozenset()))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.frozensets(st.sampled_from(WG_PEERS)))
def test_any_moved_subset_splits_the_hub_and_keeps_every_moved_peer_at_step_two(
        moved: frozenset[str]) -> None:
    step1 = _render(_tree(STEP1, NEXT, moved))
    step2 = _render(_tree(STEP2, {"port": 51821}, moved))
    peer_files = {p for p in step1 if p.startswith(("clients/", "sites/"))}
    for path in peer_files:
        owner = path.split("/")[1].split(".")[0]
        if owner in moved:  # the new key and port from step 1 on, the same text at step 2
            assert step2[path] == step1[path], path
        else:  # not moved: what step 1 gives without next_port
            assert step1[path] == _plain_step1()[path], path
    assert sorted(_peers(step1["hub/wireguard/wg1.conf"].encode())) == sorted(moved)
    assert sorted(_peers(step1["hub/wireguard/wg0.conf"].encode())) == sorted(
        set(WG_PEERS) - moved)
    assert "hub/wireguard/wg1.conf" not in step2
