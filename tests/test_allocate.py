"""``mvpn allocate``: lowest free addresses, byte-minimal edits, never a moved address."""

from __future__ import annotations

import ipaddress
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compiler.allocate.splice import SpliceError, insert_keys
from compiler.allocate.subnets import _Taken
from compiler.api import allocate, check
from compiler.cli import main
from tests.support.trees import INSTANCE, build_file_tree, client, estate, site

V6_INSTANCE = {**INSTANCE, "wireguard": {"port": 51820, "network": "10.255.0.0/24",
                                         "network6": "fd00:255::/64"}}


def _without(text: str, lines: list[int]) -> str:
    kept = [line for i, line in enumerate(text.splitlines(keepends=True), 1) if i not in lines]
    return "".join(kept)


def test_cli_assigns_lowest_free_and_reports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = estate(**{
        "acme-eu__instance_DOT_yaml": V6_INSTANCE,
        "acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.2", ["10.20.0.0/24"],
                                                address6="fd00:255::3"),
        "acme-eu__peers__alice_DOT_yaml": {"type": "client", "user": "alice@example.com"},
        "acme-eu__peers__carol_DOT_yaml": {"type": "client", "user": "carol@example.com",
                                           "protocol": "openvpn"},
        "acme-eu__peers__dan_DOT_yaml": client("dan@example.com", "10.255.0.4"),
    })
    build_file_tree(tmp_path / "sites", files)  # type: ignore[arg-type]
    monkeypatch.chdir(tmp_path)
    assert main(["allocate"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines() == [
        "sites/acme-eu/peers/alice.yaml:3: address 10.255.0.3",
        "sites/acme-eu/peers/alice.yaml:4: address6 fd00:255::2",
        "sites/acme-eu/peers/carol.yaml:4: address 10.254.0.2",
        "sites/acme-eu/peers/dan.yaml:4: address6 fd00:255::4",
    ]
    assert (tmp_path / "sites/acme-eu/peers/carol.yaml").read_text() == (
        "type: client\nuser: carol@example.com\nprotocol: openvpn\naddress: 10.254.0.2\n"
    )
    assert check(tmp_path / "sites").ok
    assert main(["allocate"]) == 0
    assert capsys.readouterr().out == "nothing to allocate: every peer has its addresses\n"


ROUND_TRIP = {
    "comments and blank lines": (
        "# yaml-language-server: $schema=../../../schemas/peer.schema.json\n"
        "# Alice's laptop\n"
        "type: client   # a device\n"
        "\n"
        "user: alice@example.com\n"
        "\n"
        "# split tunnel for now\n"
        "route_all: false  # ask before changing\n"
        "\n"
        "key_epoch: 1\n",
        "route_all: false  # ask before changing\naddress: 10.255.0.2\n",
    ),
    "flow style and odd spacing": (
        "type:     site\n"
        "site:   'berlin'\n"
        "subnets: [ 10.20.0.0/24 ,10.21.0.0/24 ]   # two LANs\n"
        "description: \"Berlin \\\"HQ\\\"\"\n"
        "routeros:   \"7.18\"\n",
        "subnets: [ 10.20.0.0/24 ,10.21.0.0/24 ]   # two LANs\naddress: 10.255.0.2\n",
    ),
    "block sequence at key indent, then comment": (
        "type: site\n"
        "site: berlin\n"
        "subnets:\n"
        "- 10.20.0.0/24\n"
        "-   10.21.0.0/24\n"
        "# keep this comment where it is\n"
        "key_epoch: 1\n",
        "-   10.21.0.0/24\naddress: 10.255.0.2\n# keep",
    ),
    "indented document and multi-line flow": (
        "  type: site\n"
        "  site: berlin\n"
        "  subnets: [10.20.0.0/24,\n"
        "            10.21.0.0/24]\n"
        "  allow_broad: false\n",
        "            10.21.0.0/24]\n  address: 10.255.0.2\n  allow_broad",
    ),
    "CRLF line endings": (
        "type: client\r\nuser: alice@example.com\r\nprotocol: wireguard\r\nkey_epoch: 1\r\n",
        "protocol: wireguard\r\naddress: 10.255.0.2\r\nkey_epoch",
    ),
    "anchor key last, without final newline": (
        "key_epoch: 1\ntype: client\nuser: alice@example.com",
        "user: alice@example.com\naddress: 10.255.0.2",
    ),
    "quoted keys and a folded block scalar": (
        '"type": client\n'
        "'description': >-\n"
        "  Alice's laptop\n"
        "user: >-\n"
        "  alice@example.com\n"
        "key_epoch: 1\n",
        "  alice@example.com\naddress: 10.255.0.2\nkey_epoch",
    ),
}


@pytest.mark.parametrize("name", sorted(ROUND_TRIP))
def test_round_trip_diff_is_only_the_inserted_line(tmp_path: Path, name: str) -> None:
    text, expected = ROUND_TRIP[name]
    root = build_file_tree(tmp_path, estate(**{"acme-eu__peers__alice_DOT_yaml": None,
                                               "acme-eu__peers__berlin_DOT_yaml": None}))  # type: ignore[arg-type]
    path = root / "acme-eu/peers/peer.yaml"
    path.parent.mkdir()
    path.write_bytes(text.encode())
    result = allocate(root)
    assert result.ok, [d.message for d in result.diagnostics]
    [a] = result.assignments
    new = path.read_bytes().decode()
    assert expected in new
    if text.endswith("\n"):
        assert _without(new, [a.line]) == text  # only the inserted line differs
    else:
        assert new == text + "\naddress: 10.255.0.2"  # the old bytes are a prefix
    assert new.splitlines()[a.line - 1].strip() == "address: 10.255.0.2"
    assert check(root).ok


def test_flow_mapping_document_gets_a_pair() -> None:
    text = "{type: client, user: alice@example.com}  # one line\n"
    new, lines = insert_keys(text, [("address", "10.255.0.2"), ("address6", "fd00::2")])
    assert new == ("{type: client, user: alice@example.com, address: 10.255.0.2, "
                   "address6: fd00::2}  # one line\n")
    assert lines == [1, 1]  # one line per key, both on the same line (issue 11.7)


def test_splice_refuses_what_is_not_a_mapping() -> None:
    with pytest.raises(SpliceError, match="not a mapping"):
        insert_keys("- a\n", [("address", "10.0.0.2")])


def test_bom_is_kept(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path, estate(**{"acme-eu__peers__alice_DOT_yaml": None}))  # type: ignore[arg-type]
    path = root / "acme-eu/peers/bob.yaml"
    path.write_bytes(b"\xef\xbb\xbftype: client\nuser: bob@example.com\n")
    assert allocate(root).ok
    assert path.read_bytes() == b"\xef\xbb\xbftype: client\nuser: bob@example.com\n" \
        b"address: 10.255.0.2\n"


def test_pool_exhausted_exits_1_at_file_line_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    small = {**INSTANCE, "wireguard": {"port": 51820, "network": "10.255.0.0/29"}}
    files: dict[str, object] = {"vpn.yaml": estate()["vpn.yaml"], "acme-eu/instance.yaml": small}
    for i in range(2, 7):  # .1 is the hub, .7 the broadcast: .2-.6 are all there is
        files[f"acme-eu/peers/p{i}.yaml"] = client(f"p{i}@example.com", f"10.255.0.{i}")
    files["acme-eu/peers/zed.yaml"] = "type: client\nuser: zed@example.com\nprotocol: wireguard\n"
    files["acme-eu/peers/ann.yaml"] = "type: client\nuser: ann@example.com\nprotocol: openvpn\n"
    build_file_tree(tmp_path / "sites", files)  # type: ignore[arg-type]
    monkeypatch.chdir(tmp_path)
    assert main(["allocate"]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == (
        "sites/acme-eu/peers/zed.yaml:3:11: error[pool-exhausted] no free IPv4 address left "
        "for 'address' in 10.255.0.0/29, the WireGuard network of instance 'acme-eu'; "
        "enlarge it in acme-eu/instance.yaml or remove peers that are gone"
    )
    assert "no address was assigned" in captured.err
    # the OpenVPN peer could have had one, but a failed run writes no file at all
    assert "address" not in (tmp_path / "sites/acme-eu/peers/ann.yaml").read_text()


def test_refuses_a_tree_with_other_errors(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    root = build_file_tree(tmp_path, estate(**{
        "acme-eu__peers__alice_DOT_yaml": "type: client\nuser: alice@example.com\n",
        "acme-eu__peers__eve_DOT_yaml": "type: client\nuser: eve@example.com\nadress: x\n",
    }))  # type: ignore[arg-type]
    before = (root / "acme-eu/peers/alice.yaml").read_text()
    assert main(["allocate", str(root)]) == 1
    out = capsys.readouterr().out
    assert "error[schema] unknown key 'adress'; did you mean 'address'?" in out
    assert "address-missing" not in out
    assert (root / "acme-eu/peers/alice.yaml").read_text() == before


# --- property: for any sequence of add/remove/allocate, no address moves or is shared -----

# Tiny pools, so that sequences run into full pools as often as they succeed:
# WireGuard .2-.6 and ::2-::3, OpenVPN .2-.6 (a /29 is the smallest OpenVPN serves).
SMALL = {**INSTANCE, "wireguard": {"port": 51820, "network": "10.255.0.0/29",
                                   "network6": "fd00:255::/126"},
         "openvpn": {"port": 1194, "transport": "udp", "network": "10.254.0.0/29"}}

_op = st.one_of(
    st.tuples(st.just("add"), st.sampled_from(["client", "site"]),
              st.sampled_from(["wireguard", "openvpn"])),
    st.tuples(st.just("remove"), st.integers(0, 30), st.just("")),
    st.tuples(st.just("allocate"), st.just(""), st.just("")),
)


def _addresses(root: Path) -> dict[str, tuple[object, object]]:
    result = check(root)
    return {key: (p.config.address, p.config.address6)
            for inst in result.estate.instances.values()
            for key, p in ((p.key, p) for p in inst.peers.values())}


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(_op, min_size=1, max_size=25))
def test_no_address_ever_moves_or_is_shared(ops: list[tuple[str, object, str]]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = build_file_tree(Path(tmp), {"vpn.yaml": estate()["vpn.yaml"],  # type: ignore[dict-item]
                                           "acme-eu/instance.yaml": SMALL})
        peers = root / "acme-eu/peers"
        peers.mkdir()
        counter = 0
        for op, a, b in ops:
            if op == "add":
                counter += 1
                name = f"p{counter}"
                doc = (f"type: site\nsite: s{counter}\nprotocol: {b}\n"
                       f"subnets: [10.{counter}.0.0/24]\n" if a == "site"
                       else f"type: client\nuser: u{counter}@example.com\nprotocol: {b}\n")
                (peers / f"{name}.yaml").write_text(doc)
            elif op == "remove":
                files = sorted(peers.iterdir())
                if files:
                    files[int(a) % len(files)].unlink()  # type: ignore[call-overload]
            else:
                before = _addresses(root)
                texts = {p.name: p.read_text() for p in peers.iterdir()}
                result = allocate(root)
                after = _addresses(root)
                for key, (v4, v6) in before.items():  # nothing already there moves
                    assert after[key][0] == v4 if v4 is not None else True
                    assert after[key][1] == v6 if v6 is not None else True
                event("allocated" if result.ok else "pool exhausted")
                if result.ok:
                    assert check(root).ok
                    taken = [x for pair in after.values() for x in pair if x is not None]
                    assert len(taken) == len(set(taken))
                    assert all(v4 is not None for v4, _ in after.values())
                else:
                    assert {d.code for d in result.diagnostics} == {"pool-exhausted"}
                    assert {p.name: p.read_text() for p in peers.iterdir()} == texts


def test_a_test_about_a_new_peer_does_not_block_allocate(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # Issue 12: a new peer and an assertion about it; check said "run mvpn allocate" while
    # allocate refused because the assertion failed (the peer had no address to send from).
    files = estate(**{
        "acme-eu__peers__carol_DOT_yaml": "type: client\nuser: carol@example.com\n",
        "tests_DOT_yaml": "- {from: acme-eu/carol, to: 10.20.0.5, port: 22/tcp, expect: allow}\n"
                          "- {from: acme-eu/carol, to: 10.99.0.5, expect: allow}\n",
    })
    build_file_tree(tmp_path / "sites", files)  # type: ignore[arg-type]
    monkeypatch.chdir(tmp_path)
    assert main(["check"]) == 1
    assert [line.split(" error")[0] for line in capsys.readouterr().out.splitlines()
            if " error[" in line] == ["sites/acme-eu/peers/carol.yaml:1:1:"]
    assert main(["allocate"]) == 0
    assert capsys.readouterr().out == "sites/acme-eu/peers/carol.yaml:3: address 10.255.0.2\n"
    # with the address there, the assertion is evaluated: the first holds, the second not
    assert main(["check"]) == 1
    out = capsys.readouterr().out
    assert out.startswith(
        "sites/tests.yaml:2:3: error[test-failed] expected allow, but acme-eu/carol -> "
        "10.99.0.5 icmp is deny: the profile of carol does not route 10.99.0.5 into the "
        "tunnel (path: acme-eu/carol (10.255.0.2))\n")
    assert "sites/tests.yaml:1:" not in out


# ------------------------------------------------------------------ auto/N subnets (SPEC §10)

AGGREGATED = {**INSTANCE, "routing": {"pushed_routes": ["10.0.0.0/16"],
                                      "aggregates": ["10.20.0.0/22"]}}


def test_auto_subnets_are_numbered_from_the_aggregates_never_reusing_a_prefix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = estate(**{
        "vpn_DOT_yaml": {"domain": "vpn.example.net", "regions": ["fra", "iad"]},
        # a pushed route inside the aggregate is taken too
        "acme-eu__instance_DOT_yaml": {**AGGREGATED, "routing": {
            "pushed_routes": ["10.0.0.0/16", "10.20.2.0/25"], "aggregates": ["10.20.0.0/22"]}},
        # berlin holds 10.20.0.0/24 (from estate()); another instance uses 10.20.1.128/25
        "acme-us__instance_DOT_yaml": {**INSTANCE, "hostname": "acme-us", "region": "iad"},
        "acme-us__peers__chicago_DOT_yaml": site("chicago", "10.255.0.10", ["10.20.1.128/25"]),
        "acme-eu__peers__munich_DOT_yaml": (
            "type: site\nsite: munich\nsubnets: [ auto/24 ,  auto/26 ]  # two LANs\n"),
    })
    build_file_tree(tmp_path / "sites", files)  # type: ignore[arg-type]
    monkeypatch.chdir(tmp_path)
    before = check(tmp_path / "sites")
    assert [(d.code, d.line, d.column, d.message) for d in before.diagnostics.sorted()] == [
        ("address-missing", 3, 12, "subnets[0]: subnet 'auto/24' is not numbered yet; run "
         "`mvpn allocate` to take a free /24 from the instance's aggregates"),
        ("address-missing", 3, 23, "subnets[1]: subnet 'auto/26' is not numbered yet; run "
         "`mvpn allocate` to take a free /26 from the instance's aggregates"),
    ]
    assert main(["allocate"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "sites/acme-eu/peers/munich.yaml:3: subnet 10.20.3.0/24",
        "sites/acme-eu/peers/munich.yaml:3: subnet 10.20.1.0/26",
        "sites/acme-eu/peers/munich.yaml:4: address 10.255.0.2",
    ]
    # Only the placeholders changed (spacing and comment kept); the address was added.
    assert (tmp_path / "sites/acme-eu/peers/munich.yaml").read_text() == (
        "type: site\nsite: munich\nsubnets: [ 10.20.3.0/24 ,  10.20.1.0/26 ]  # two LANs\n"
        "address: 10.255.0.2\n")
    after = check(tmp_path / "sites")
    assert after.ok, [d.message for d in after.diagnostics]
    assert list(after.diagnostics) == []  # chicago's /25 and the pushed /25 were skipped


def test_auto_subnet_without_room_refuses_and_writes_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    files = estate(**{
        "acme-eu__instance_DOT_yaml": AGGREGATED,
        "acme-eu__peers__munich_DOT_yaml": "type: site\nsite: munich\nsubnets: [auto/24]\n",
        "acme-eu__peers__paris_DOT_yaml": "type: site\nsite: paris\nsubnets: [auto/16]\n",
        "acme-eu__peers__lyon_DOT_yaml": "type: site\nsite: lyon\nsubnets: [auto/64]\n",
        "acme-eu__peers__carol_DOT_yaml": {"type": "client", "user": "carol@example.com"},
    })
    root = build_file_tree(tmp_path / "sites", files)  # type: ignore[arg-type]
    texts = {p: p.read_bytes() for p in root.rglob("*.yaml")}
    monkeypatch.chdir(tmp_path)
    assert main(["allocate"]) == 1
    captured = capsys.readouterr()
    assert [line for line in captured.out.splitlines() if "error[" in line] == [
        "sites/acme-eu/peers/lyon.yaml:3:11: error[pool-exhausted] no free /64 left for "
        "'auto/64' in the IPv6 aggregates of instance 'acme-eu' (none declared); add or "
        "enlarge routing.aggregates in acme-eu/instance.yaml",
        "sites/acme-eu/peers/paris.yaml:3:11: error[pool-exhausted] no free /16 left for "
        "'auto/16' in the IPv4 aggregates of instance 'acme-eu' (10.20.0.0/22); add or "
        "enlarge routing.aggregates in acme-eu/instance.yaml",
    ]
    assert {p: p.read_bytes() for p in root.rglob("*.yaml")} == texts


def test_a_failed_address_allocation_puts_the_numbered_subnets_back(tmp_path: Path) -> None:
    instance = {**AGGREGATED, "wireguard": {"port": 51820, "network": "10.255.0.0/30"}}
    files = estate(**{
        "acme-eu__instance_DOT_yaml": instance,
        "acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.2", ["10.20.0.0/24"]),
        "acme-eu__peers__alice_DOT_yaml": None,
        "acme-eu__peers__munich_DOT_yaml": "type: site\nsite: munich\nsubnets: [auto/24]\n",
    })
    root = build_file_tree(tmp_path / "sites", files)  # type: ignore[arg-type]
    texts = {p: p.read_bytes() for p in root.rglob("*.yaml")}
    result = allocate(root)
    assert [d.code for d in result.diagnostics] == ["pool-exhausted"]  # no tunnel address
    assert {p: p.read_bytes() for p in root.rglob("*.yaml")} == texts


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.integers(24, 32)), max_size=12),
       st.integers(24, 30))
def test_first_free_block_matches_a_brute_force_search(
        used: list[tuple[int, int]], length: int) -> None:
    within = ipaddress.ip_network("10.0.0.0/24")
    nets = [ipaddress.ip_network((int(within.network_address) + (v >> (32 - n) << (32 - n)), n))
            for v, n in used]
    got = _Taken(nets).first_free(within, length)
    expected = next((b for b in within.subnets(new_prefix=length)
                     if not any(b.overlaps(n) for n in nets)), None)
    assert got == expected
