"""Issue 17, unit level: IPv6 inside OpenVPN, and the IPv6 block of route-all OpenVPN clients.

The same is proven on real daemons in ``tests/test_ovpn6_e2e.py``; here each rendered line is
pinned, and the model, the checks, `mvpn allocate` and `--explain` are held to them.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.api import allocate, check, compile_tree
from compiler.checks.reach import explain
from compiler.render.context import block6_address
from tests.support.trees import INSTANCE, TEST_SECRET, build_file_tree, client, estate, rows, site

_OPENVPN = cast("dict[str, object]", INSTANCE["openvpn"])
_WIREGUARD = cast("dict[str, object]", INSTANCE["wireguard"])
OVPN6 = {**INSTANCE, "openvpn": {**_OPENVPN, "network6": "fd00:254::/64"},
         "wireguard": {**_WIREGUARD, "network6": "fd00:255::/64"}}
_INST = "acme-eu__instance_DOT_yaml"


def _peer(name: str) -> str:
    return f"acme-eu__peers__{name}_DOT_yaml"


def _ipv6_estate() -> dict[str, object]:
    """Both tunnels with IPv6; a WireGuard and an OpenVPN site with IPv6 LANs, two clients."""
    return estate(**{
        _INST: OVPN6,
        _peer("berlin"): site("berlin", "10.255.0.10", ["10.20.0.0/24", "2001:db8:20::/64"],
                              address6="fd00:255::10"),
        _peer("alice"): client("alice@example.com", "10.255.0.11", address6="fd00:255::11"),
        _peer("hamburg"): site("hamburg", "10.254.0.10", ["10.21.0.0/24", "2001:db8:21::/64"],
                               protocol="openvpn", address6="fd00:254::10"),
        _peer("carol"): client("carol@example.com", "10.254.0.11", protocol="openvpn",
                               address6="fd00:254::11"),
        _peer("dave"): client("dave@example.com", "10.254.0.12", protocol="openvpn",
                              route_all=True, address6="fd00:254::12"),
    })


def _ipv4_estate() -> dict[str, object]:
    """An IPv4-only instance with a route-all and a split OpenVPN client."""
    return estate(**{
        _peer("carol"): client("carol@example.com", "10.254.0.11", protocol="openvpn",
                               route_all=True),
        _peer("erin"): client("erin@example.com", "10.254.0.12", protocol="openvpn"),
    })


def _build(tmp_path: Path, files: dict[str, object]) -> Path:
    root = build_file_tree(tmp_path / "tree", files)  # type: ignore[arg-type]
    result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False)
    assert result.check.diagnostics.errors == 0, result.check.diagnostics.sorted()
    return tmp_path / "out" / "acme-eu"


def _settings(out: Path, rel: str) -> list[str]:
    """The lines OpenVPN reads (comments and the header left out)."""
    return [ln for ln in (out / rel).read_text(encoding="utf-8").splitlines()
            if ln and not ln.startswith("#")]


# ------------------------------------------------------------------ IPv6 in the tunnel


def test_the_hub_takes_the_first_ipv6_address_and_routes_the_openvpn_sites_ipv6(
        tmp_path: Path) -> None:
    server = _settings(_build(tmp_path, _ipv6_estate()), "hub/openvpn/server.conf")
    at = server.index("server 10.254.0.0 255.255.255.0 nopool")
    # Not server-ipv6: OpenVPN 2.6 refuses it beside `nopool` (the e2e hub would not start).
    assert server[at + 1] == "ifconfig-ipv6 fd00:254::1/64 fd00:254::1"
    assert [ln for ln in server if ln.startswith("route")] == [
        "route 10.21.0.0 255.255.255.0", "route-ipv6 2001:db8:21::/64"]
    assert not any(ln.startswith("server-ipv6") for ln in server)


def test_every_openvpn_peer_gets_its_fixed_ipv6_address_and_ipv6_routes(
        tmp_path: Path) -> None:
    out = _build(tmp_path, _ipv6_estate())
    assert _settings(out, "hub/openvpn/ccd/hamburg") == [
        "ifconfig-push 10.254.0.10 255.255.255.0",
        "ifconfig-ipv6-push fd00:254::10/64 fd00:254::1",
        "iroute 10.21.0.0 255.255.255.0",
        "iroute-ipv6 2001:db8:21::/64",
        'push "route 10.0.0.0 255.255.0.0"',
        'push "route 10.20.0.0 255.255.255.0"',
        'push "route 10.255.0.0 255.255.255.0"',
        # its own LAN is not routed into the tunnel, nor its connected tunnel network
        'push "route-ipv6 2001:db8:20::/64"',
        'push "route-ipv6 fd00:255::/64"',
    ]
    assert _settings(out, "hub/openvpn/ccd/carol") == [
        "ifconfig-push 10.254.0.11 255.255.255.0",
        "ifconfig-ipv6-push fd00:254::11/64 fd00:254::1",
        'push "route 10.0.0.0 255.255.0.0"',
        'push "route 10.20.0.0 255.255.255.0"',
        'push "route 10.21.0.0 255.255.255.0"',
        'push "route 10.255.0.0 255.255.255.0"',
        'push "route-ipv6 2001:db8:20::/64"',
        'push "route-ipv6 2001:db8:21::/64"',
        'push "route-ipv6 fd00:255::/64"',
    ]
    dave = _settings(out, "hub/openvpn/ccd/dave")
    assert dave[:4] == ["ifconfig-push 10.254.0.12 255.255.255.0",
                        "ifconfig-ipv6-push fd00:254::12/64 fd00:254::1",
                        'push "redirect-gateway def1 ipv6"', 'push "block-outside-dns"']
    # The tunnel carries IPv6: nothing blocks it, and the hub NATs it out like IPv4.
    assert 'push "block-ipv6"' not in dave
    nft = (out / "hub/nftables.conf").read_text(encoding="utf-8")
    assert "ip6 saddr @routeall6 ip6 daddr != @instance6 masquerade" in nft
    assert "chain block6" not in nft
    assert "net.ipv6.conf.all.forwarding = 1" in (out / "hub/sysctl.conf").read_text("utf-8")


def test_ipv6_dns_servers_are_pushed_only_over_an_ipv6_tunnel(tmp_path: Path) -> None:
    dns = {"servers": ["10.0.0.53", "2001:db8:1::53"], "domains": ["corp.example"]}
    six = _ipv6_estate()
    six["acme-eu/instance.yaml"] = {**OVPN6, "dns": dns}
    assert [ln for ln in _settings(_build(tmp_path / "six", six), "hub/openvpn/ccd/carol")
            if "dhcp-option DNS" in ln] == ['push "dhcp-option DNS 10.0.0.53"',
                                            'push "dhcp-option DNS 2001:db8:1::53"']
    four = _ipv4_estate()
    four["acme-eu/instance.yaml"] = {**INSTANCE, "dns": dns}
    assert [ln for ln in _settings(_build(tmp_path / "four", four), "hub/openvpn/ccd/erin")
            if "dhcp-option DNS" in ln] == ['push "dhcp-option DNS 10.0.0.53"']


def test_a_linux_openvpn_site_with_ipv6_is_told_to_forward_ipv6(tmp_path: Path) -> None:
    out = _build(tmp_path, _ipv6_estate())
    text = (out / "sites/hamburg.ovpn").read_text(encoding="utf-8")
    assert "# Its IPv6 subnets too: sysctl net.ipv6.conf.all.forwarding=1.\n" in text


def test_a_routeros_openvpn_site_stays_ipv4_and_says_so(tmp_path: Path) -> None:
    out = _build(tmp_path, _ipv6_estate())
    script = (out / "sites/hamburg.rsc").read_text(encoding="utf-8")
    assert script.splitlines()[2:5] == [
        "# IPv4 only: RouterOS's OpenVPN client carries no IPv6 (/interface ovpn-client has no "
        "IPv6",
        "# setting in any version 7.9-7.24), so no IPv6 address or route is set here; this "
        "site's IPv6",
        "# goes through the tunnel only on a Linux router (sites/hamburg.ovpn) or over WireGuard.",
    ]
    assert "/ipv6 address add" not in script and "/ipv6 route add" not in script
    # The WireGuard site of the same instance routes IPv6 as before.
    assert "/ipv6 route add" in (out / "sites/berlin.rsc").read_text(encoding="utf-8")


# ------------------------------------------------------------------ the IPv6 block


#: The block network of instance acme-eu: fd + 40 bits of SHA-256("mvpn block-ipv6 acme-eu").
BLOCK = "fd87:2da1:febe::/64"


def test_a_route_all_client_of_an_ipv4_only_tunnel_sends_ipv6_to_the_hub_which_rejects_it(
        tmp_path: Path) -> None:
    out = _build(tmp_path, _ipv4_estate())
    server = _settings(out, "hub/openvpn/server.conf")
    assert "ifconfig-ipv6 fd87:2da1:febe::1/64 fd87:2da1:febe::1" in server
    assert _settings(out, "hub/openvpn/ccd/carol")[:5] == [
        "ifconfig-push 10.254.0.11 255.255.255.0",
        # ::10.254.0.11: the IPv4 address in the low 32 bits, so it never moves or repeats
        "ifconfig-ipv6-push fd87:2da1:febe::afe:b/64 fd87:2da1:febe::1",
        'push "redirect-gateway def1 ipv6"',
        'push "block-ipv6"',
        'push "block-outside-dns"',
    ]
    # A split client gets no IPv6 at all.
    assert not any("ipv6" in ln for ln in _settings(out, "hub/openvpn/ccd/erin"))
    nft = (out / "hub/nftables.conf").read_text(encoding="utf-8")
    chain = nft.split("chain block6 {")[1].split("}\n")[0]
    assert [ln.strip() for ln in chain.splitlines() if ln.strip()] == [
        "type filter hook forward priority filter - 1; policy accept;",
        f"ip6 saddr {BLOCK} reject with icmpv6 type admin-prohibited",
        f"ip6 daddr {BLOCK} drop",
    ]
    # The block is no IPv6 of the instance: the hub still does not forward IPv6.
    sysctl = (out / "hub/sysctl.conf").read_text(encoding="utf-8")
    assert "forwarding" not in sysctl.replace("IPv6 forwarding stays off", "")


def test_without_a_route_all_openvpn_client_there_is_no_block(tmp_path: Path) -> None:
    files = _ipv4_estate()
    files["acme-eu/peers/carol.yaml"] = client("carol@example.com", "10.254.0.11",
                                               protocol="openvpn")
    out = _build(tmp_path, files)
    assert "ipv6" not in (out / "hub/openvpn/server.conf").read_text(encoding="utf-8")
    assert "block6" not in (out / "hub/nftables.conf").read_text(encoding="utf-8")


def test_each_instance_has_its_own_block_network(tmp_path: Path) -> None:
    files = _ipv4_estate()
    files["acme-us/instance.yaml"] = {**INSTANCE, "hostname": "acme-us", "region": "iad"}
    files["acme-us/peers/dan.yaml"] = client("dan@example.com", "10.254.0.11",
                                             protocol="openvpn", route_all=True)
    out = _build(tmp_path, files).parent
    us = _settings(out / "acme-us", "hub/openvpn/server.conf")
    (line,) = [ln for ln in us if ln.startswith("ifconfig-ipv6 ")]
    net = ipaddress.IPv6Network(line.split()[1], strict=False)
    assert net.subnet_of(ipaddress.IPv6Network("fd00::/8")) and net.prefixlen == 64
    assert str(net) != BLOCK


@given(st.sets(st.integers(0, 2**32 - 1), min_size=2, max_size=20))
def test_block_addresses_are_distinct_for_distinct_ipv4_addresses(ints: set[int]) -> None:
    net = ipaddress.ip_network(BLOCK)
    found = {block6_address(net, ipaddress.IPv4Address(i)) for i in ints}
    assert len(found) == len(ints) and all(a in net for a in found)


# ------------------------------------------------------------------ model and checks


@pytest.mark.parametrize("net", ["fd00:254::/63", "fd00:254::/125"])
def test_an_openvpn_ipv6_network_outside_64_to_124_is_refused_at_the_value(
        tmp_path: Path, net: str) -> None:
    files = estate(**{_INST: {**INSTANCE, "openvpn": {**_OPENVPN, "network6": net}}})
    assert rows(tmp_path, files) == [
        ("prefix-invalid", "error", "acme-eu/instance.yaml", 10, 13,
         f"openvpn.network6: {net} does not fit OpenVPN: its IPv6 tunnel network must be a "
         "/64 to /124")]


def test_openvpn_peers_need_an_ipv6_address_in_the_openvpn_network(tmp_path: Path) -> None:
    files = _ipv6_estate()
    files["acme-eu/peers/carol.yaml"] = client("carol@example.com", "10.254.0.11",
                                               protocol="openvpn")
    files["acme-eu/peers/dave.yaml"] = client("dave@example.com", "10.254.0.12",
                                              protocol="openvpn", route_all=True,
                                              address6="fd00:255::12")
    found = [r for r in rows(tmp_path, files) if r[1] == "error"]
    assert found == [
        ("address-missing", "error", "acme-eu/peers/carol.yaml", 1, 1,
         "peer has no 'address6' (the instance has an IPv6 tunnel network); "
         "run `mvpn allocate`"),
        ("address-invalid", "error", "acme-eu/peers/dave.yaml", 6, 11,
         "fd00:255::12 is outside the instance's OpenVPN network fd00:254::/64"),
    ]


def test_an_ipv6_subnet_on_an_openvpn_site_is_diagnosed_at_the_subnet(tmp_path: Path) -> None:
    untunnelled = estate(**{_peer("hamburg"): site(
        "hamburg", "10.254.0.10", ["10.21.0.0/24", "2001:db8:21::/64"], protocol="openvpn")})
    assert rows(tmp_path / "a", untunnelled) == [
        ("ipv6-untunnelled", "error", "acme-eu/peers/hamburg.yaml", 6, 3,
         "2001:db8:21::/64 cannot be reached: the OpenVPN tunnel of instance 'acme-eu' has no "
         "IPv6; add openvpn.network6 to its instance.yaml or connect the site over WireGuard")]
    assert rows(tmp_path / "b", _ipv6_estate()) == [
        ("ipv6-routeros-openvpn", "warning", "acme-eu/peers/hamburg.yaml", 6, 3,
         "2001:db8:21::/64 is reached only when the site runs its Linux profile "
         "(sites/hamburg.ovpn): RouterOS's OpenVPN client carries no IPv6, so its script "
         "routes IPv4 only; connect the site over WireGuard for IPv6 on RouterOS")]


def test_explain_follows_the_openvpn_tunnel_s_ipv6(tmp_path: Path) -> None:
    root6 = build_file_tree(tmp_path / "six", _ipv6_estate())  # type: ignore[arg-type]
    verdict = explain(check(root6).estate, "acme-eu/dave", "2001:db8:100::10", "443/tcp")
    assert verdict.allowed and verdict.path == [
        "acme-eu/dave (fd00:254::12)", "hub acme-eu",
        "the internet (2001:db8:100::10, NATed to the hub's address)"]
    assert explain(check(root6).estate, "acme-eu/carol", "2001:db8:21::5").allowed
    root4 = build_file_tree(tmp_path / "four", _ipv4_estate())  # type: ignore[arg-type]
    verdict = explain(check(root4).estate, "acme-eu/carol", "2001:db8:100::10", "443/tcp")
    assert not verdict.allowed and verdict.decided_by == (
        "the OpenVPN tunnel of this instance has no IPv6 (openvpn.network6): the hub rejects "
        "a route-all client's IPv6")


# ------------------------------------------------------------------ allocate


def test_allocate_gives_openvpn_peers_ipv6_addresses_and_never_moves_one(
        tmp_path: Path) -> None:
    files = _ipv6_estate()
    files["acme-eu/peers/carol.yaml"] = client("carol@example.com", "10.254.0.11",
                                               protocol="openvpn", address6="fd00:254::2")
    files["acme-eu/peers/dave.yaml"] = client("dave@example.com", "10.254.0.12",
                                              protocol="openvpn", route_all=True)
    files["acme-eu/peers/hamburg.yaml"] = site(
        "hamburg", "10.254.0.10", ["10.21.0.0/24", "2001:db8:21::/64"], protocol="openvpn")
    root = build_file_tree(tmp_path / "tree", files)  # type: ignore[arg-type]
    carol = (root / "acme-eu/peers/carol.yaml").read_bytes()
    result = allocate(root)
    assert result.ok
    assert {(a.peer.name, a.field, str(a.address)) for a in result.assignments} == {
        ("dave", "address6", "fd00:254::3"), ("hamburg", "address6", "fd00:254::4")}
    assert (root / "acme-eu/peers/carol.yaml").read_bytes() == carol
    assert check(root).diagnostics.errors == 0


def test_an_access_list_limits_the_ipv6_routes_too(tmp_path: Path) -> None:
    files = _ipv6_estate()
    files["acme-eu/peers/carol.yaml"] = client("carol@example.com", "10.254.0.11",
                                               protocol="openvpn", address6="fd00:254::11",
                                               access=["hamburg"])
    ccd = _settings(_build(tmp_path, files), "hub/openvpn/ccd/carol")
    assert [ln for ln in ccd if ln.startswith("push")] == [
        'push "route 10.21.0.0 255.255.255.0"',
        'push "route 10.255.0.0 255.255.255.0"',
        'push "route-ipv6 2001:db8:21::/64"',
        # the tunnels stay (the hub's resolver); its own IPv6 tunnel is connected
        'push "route-ipv6 fd00:255::/64"',
    ]


def test_an_openvpn_site_inside_an_ipv6_aggregate_is_routed_exactly_on_the_hub(
        tmp_path: Path) -> None:
    files = _ipv6_estate()
    files["acme-eu/instance.yaml"] = {**OVPN6, "routing": {
        "pushed_routes": ["10.0.0.0/16"], "egress": "nat",
        "aggregates": ["10.16.0.0/12", "2001:db8::/40"], "allow_broad": True}}
    files["acme-eu/peers/berlin.yaml"] = site("berlin", "10.255.0.10", ["10.20.0.0/24"],
                                              address6="fd00:255::10")
    files["acme-eu/peers/hamburg.yaml"] = site(
        "hamburg", "10.254.0.10", ["10.21.0.0/24", "2001:db8:21::/64"], protocol="openvpn",
        address6="fd00:254::10")
    out = _build(tmp_path, files)
    # OpenVPN carries IPv6, so the IPv6 aggregate goes into OpenVPN like the IPv4 one: the
    # site inside it needs no route of its own (adding it leaves server.conf unchanged), and
    # the WireGuard site's exact routes (wg-quick's, from AllowedIPs) are more specific.
    server = _settings(out, "hub/openvpn/server.conf")
    assert [ln for ln in server if ln.startswith("route")] == [
        "route 10.16.0.0 255.240.0.0", "route-ipv6 2001:db8::/40"]
    assert not any("PostUp" in ln and "2001:db8" in ln
                   for ln in _settings(out, "hub/wireguard/wg0.conf"))
    assert [ln for ln in _settings(out, "hub/openvpn/ccd/carol") if "route-ipv6" in ln] == [
        'push "route-ipv6 2001:db8::/40"', 'push "route-ipv6 fd00:255::/64"']
