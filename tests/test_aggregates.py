"""Routing at scale (SPEC §10): aggregates, summarised routes, the hub's drop, the checks."""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.api import check, compile_tree, explain
from compiler.model.routeset import RouteSet, collapse, subtract
from compiler.model.types import IPNetwork
from tests.support.trees import (
    INSTANCE,
    TEST_SECRET,
    build_file_tree,
    client,
    estate,
    rows,
    site,
)

ROUTING: dict[str, object] = {"pushed_routes": ["10.0.0.0/16"], "egress": "nat",
                              "aggregates": ["10.16.0.0/12"], "allow_broad": True}
AGGREGATED = dict(INSTANCE, routing=ROUTING)


def _files(**extra: Any) -> dict[str, object]:
    return estate(**{"acme-eu__instance_DOT_yaml": AGGREGATED, **extra})


def test_aggregate_checks_pinned(tmp_path: Path) -> None:
    inst = dict(INSTANCE, routing={"pushed_routes": ["10.0.0.0/16"], "aggregates": [
        "10.16.0.1/12", "10.16.0.0/12", "10.255.0.0/16", "2001:db8::/32", "10.99.0.0/16"]})
    files = estate(**{
        "acme-eu__instance_DOT_yaml": inst,
        "acme-eu__peers__munich_DOT_yaml": site("munich", "10.255.0.20", ["10.40.0.0/24"]),
    })
    assert rows(tmp_path, files) == [
        ("prefix-invalid", "error", "acme-eu/instance.yaml", 14, 5,
         "routing.aggregates[0]: '10.16.0.1/12' has host bits set; did you mean 10.16.0.0/12?"),
    ]
    inst["routing"]["aggregates"] = inst["routing"]["aggregates"][1:]  # type: ignore[index]
    assert rows(tmp_path, files) == [
        ("route-broad", "error", "acme-eu/instance.yaml", 14, 5,
         "aggregate 10.16.0.0/12 is broader than the policy (shorter than /16); set "
         "'allow_broad: true' under 'routing' if it is intended"),
        ("route-conflict", "error", "acme-eu/instance.yaml", 15, 5,
         "aggregate 10.255.0.0/16 overlaps the WireGuard tunnel network (10.255.0.0/24); "
         "an aggregate must hold only site subnets (and pushed routes)"),
        ("route-broad", "error", "acme-eu/instance.yaml", 16, 5,
         "aggregate 2001:db8::/32 is broader than the policy (shorter than /48); set "
         "'allow_broad: true' under 'routing' if it is intended"),
        ("route-unaggregated", "warning", "acme-eu/peers/munich.yaml", 5, 3,
         "10.40.0.0/24 lies outside every aggregate of instance 'acme-eu' (10.16.0.0/12, "
         "10.255.0.0/16, 2001:db8::/32, 10.99.0.0/16): every other site and client gets a route "
         "for it; number the site from an aggregate or add one that covers it"),
    ]


def test_reserved_prefix_inside_an_aggregate_conflicts(tmp_path: Path) -> None:
    files = _files(vpn_DOT_yaml={"domain": "vpn.example.net", "regions": ["fra"],
                                 "reserved_prefixes": ["10.30.0.0/16"]})
    assert rows(tmp_path, files) == [
        ("route-conflict", "error", "acme-eu/instance.yaml", 15, 5,
         "aggregate 10.16.0.0/12 overlaps a reserved prefix in vpn.yaml (10.30.0.0/16); "
         "an aggregate must hold only site subnets (and pushed routes)"),
    ]


def _three_sites(aggregated: bool) -> dict[str, object]:
    extra = {
        "acme-eu__peers__hamburg_DOT_yaml": site("hamburg", "10.254.0.10", ["10.20.1.0/24"],
                                                 protocol="openvpn"),
        "acme-eu__peers__paris_DOT_yaml": site("paris", "10.255.0.12",
                                               ["10.40.0.0/24", "10.40.1.0/24"]),
        "acme-eu__peers__carol_DOT_yaml": client("carol@example.com", "10.254.0.11",
                                                 protocol="openvpn"),
    }
    return _files(**extra) if aggregated else estate(**extra)


def _compile(tmp_path: Path, files: dict[str, object]) -> Path:
    root = build_file_tree(tmp_path / "src", files)  # type: ignore[arg-type]
    result = compile_tree(root, tmp_path / "build", TEST_SECRET, qr=False)
    assert result.build is not None, [d.message for d in result.check.diagnostics]
    return tmp_path / "build/acme-eu"


def _lines(path: Path, start: str) -> list[str]:
    return [line for line in path.read_text().splitlines() if line.startswith(start)]


def test_the_same_routes_everywhere_with_aggregates(tmp_path: Path) -> None:
    out = _compile(tmp_path, _three_sites(aggregated=True))
    # A client: the aggregate, the pushed route, the tunnels, paris (outside the aggregate,
    # its two /24s summarised losslessly to one /23). No route for berlin or hamburg.
    assert _lines(out / "clients/alice.conf", "AllowedIPs") == [
        "AllowedIPs = 10.0.0.0/16, 10.16.0.0/12, 10.40.0.0/23, 10.254.0.0/24, 10.255.0.0/24"]
    assert _lines(out / "hub/openvpn/ccd/carol", "push") == [
        'push "route 10.0.0.0 255.255.0.0"', 'push "route 10.16.0.0 255.240.0.0"',
        'push "route 10.40.0.0 255.255.254.0"', 'push "route 10.255.0.0 255.255.255.0"']
    # Berlin (inside): the same list; the RouterOS script without its own tunnel network.
    assert _lines(out / "sites/berlin.conf", "AllowedIPs") == [
        "AllowedIPs = 10.0.0.0/16, 10.16.0.0/12, 10.40.0.0/23, 10.254.0.0/24, 10.255.0.0/24"]
    script = (out / "sites/berlin.rsc").read_text()
    routes = re.findall(r"/ip route add (dst-address=\S+)", script)  # one converging line each
    assert routes == ["dst-address=10.0.0.0/16", "dst-address=10.16.0.0/12",
                      "dst-address=10.40.0.0/23", "dst-address=10.254.0.0/24"]
    # The hub is the RouterOS interface's only peer: the routes decide what enters the tunnel.
    assert "allowed-address=0.0.0.0/0,::/0 " in script
    # Hamburg (OpenVPN, inside): its ccd pushes the same, without its tunnel.
    assert _lines(out / "hub/openvpn/ccd/hamburg", "push") == [
        'push "route 10.0.0.0 255.255.0.0"', 'push "route 10.16.0.0 255.240.0.0"',
        'push "route 10.40.0.0 255.255.254.0"', 'push "route 10.255.0.0 255.255.255.0"']
    # Paris (outside): never its own LAN; the aggregate covers the others.
    assert _lines(out / "sites/paris.conf", "AllowedIPs") == [
        "AllowedIPs = 10.0.0.0/16, 10.16.0.0/12, 10.254.0.0/24, 10.255.0.0/24"]
    # The hub delivers to each site by its exact subnets (WireGuard AllowedIPs, OpenVPN
    # iroute); OpenVPN gets the aggregate as its one route (hamburg lies inside it).
    assert _lines(out / "hub/wireguard/wg0.conf", "AllowedIPs") == [
        "AllowedIPs = 10.255.0.11/32", "AllowedIPs = 10.255.0.10/32, 10.20.0.0/24",
        "AllowedIPs = 10.255.0.12/32, 10.40.0.0/24, 10.40.1.0/24"]
    assert _lines(out / "hub/openvpn/ccd/hamburg", "iroute") == ["iroute 10.20.1.0 255.255.255.0"]
    assert _lines(out / "hub/openvpn/server.conf", "route ") == ["route 10.16.0.0 255.240.0.0"]


def test_without_aggregates_the_exact_set_collapsed(tmp_path: Path) -> None:
    out = _compile(tmp_path, _three_sites(aggregated=False))
    assert _lines(out / "clients/alice.conf", "AllowedIPs") == [
        "AllowedIPs = 10.0.0.0/16, 10.20.0.0/23, 10.40.0.0/23, 10.254.0.0/24, 10.255.0.0/24"]
    # berlin's own 10.20.0.0/24 is cut out of the 10.20.0.0/23 block: hamburg's /24 remains.
    assert _lines(out / "sites/berlin.conf", "AllowedIPs") == [
        "AllowedIPs = 10.0.0.0/16, 10.20.1.0/24, 10.40.0.0/23, 10.254.0.0/24, 10.255.0.0/24"]
    assert _lines(out / "sites/paris.conf", "AllowedIPs") == [
        "AllowedIPs = 10.0.0.0/16, 10.20.0.0/23, 10.254.0.0/24, 10.255.0.0/24"]


def _set(nft: str, name: str) -> str:
    """The elements of set ``name`` in ``nftables.conf`` (``""`` when there is no such set)."""
    found = re.search(rf"\tset {name} {{\n(?:\t\t.*\n)*?\t\telements = {{ (.*) }}\n", nft)
    return found.group(1) if found else ""


def test_the_hub_routes_each_aggregate_into_a_tunnel(tmp_path: Path) -> None:
    """Mixed instance: IPv4 aggregates into OpenVPN (its iroute table drops what no site
    advertises), IPv6 ones into wg0 (no peer's AllowedIPs: dropped); site subnets outside the
    aggregates keep their own routes; the firewall's sets hold the aggregates, not the sites."""
    files = _three_sites(aggregated=True)
    routing = dict(ROUTING, aggregates=["10.16.0.0/12", "2001:db8:20::/48"])
    files["acme-eu/instance.yaml"] = dict(AGGREGATED, routing=routing)
    files["acme-eu/peers/lyon.yaml"] = site("lyon", "10.254.0.12", ["10.41.0.0/24"],
                                            protocol="openvpn")
    files["acme-eu/peers/bob.yaml"] = client("bob@example.com", "10.255.0.13", route_all=True)
    out = _compile(tmp_path, files)
    assert _lines(out / "hub/openvpn/server.conf", "route ") == [
        "route 10.16.0.0 255.240.0.0", "route 10.41.0.0 255.255.255.0"]
    assert _lines(out / "hub/wireguard/wg0.conf", "PostUp") == [
        "PostUp = ip -6 route replace 2001:db8:20::/48 dev %i"]
    nft = (out / "hub/nftables.conf").read_text()
    assert _set(nft, "peers4") == ("10.16.0.0/12, 10.40.0.0/24, 10.40.1.0/24, 10.41.0.0/24, "
                                   "10.254.0.0/24, 10.255.0.0/24")
    assert _set(nft, "instance4") == ("10.0.0.0/16, 10.16.0.0/12, 10.40.0.0/24, 10.40.1.0/24, "
                                      "10.41.0.0/24, 10.254.0.0/24, 10.255.0.0/24")
    assert _set(nft, "peers6") == _set(nft, "instance6") == "2001:db8:20::/48"
    assert "@aggregates" not in nft and "set aggregates" not in nft  # no drop rule of its own
    # Anti-spoofing covers the whole space (its routes lead into the tunnels), and a route-all
    # client is never NATed into it.
    assert "ip saddr @peers4 fib saddr . iif oif missing drop" in nft
    assert "ip saddr @routeall4 ip daddr != @instance4 masquerade" in nft
    # apply.sh keeps wg0's aggregate route when it syncs wg0's routes.
    assert "printf '%s\\n' 2001:db8:20::/48 \\\n" in (out / "hub/apply.sh").read_text()


def test_a_wireguard_only_hub_routes_its_aggregates_into_wg0(tmp_path: Path) -> None:
    inst = {k: v for k, v in AGGREGATED.items() if k != "openvpn"}
    inst["routing"] = dict(ROUTING, pushed_routes=["10.16.5.0/24"])
    out = _compile(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst}))
    assert not (out / "hub/openvpn").exists()
    assert _lines(out / "hub/wireguard/wg0.conf", "PostUp") == [
        "PostUp = ip -4 route replace 10.16.0.0/12 dev %i"]
    nft = (out / "hub/nftables.conf").read_text()
    # A pushed route inside the aggregate is the hub's side, not a peer's: cut out of @peers.
    assert _set(nft, "peers4") == ("10.16.0.0/22, 10.16.4.0/24, 10.16.6.0/23, 10.16.8.0/21, "
                                   "10.16.16.0/20, 10.16.32.0/19, 10.16.64.0/18, "
                                   "10.16.128.0/17, 10.17.0.0/16, 10.18.0.0/15, 10.20.0.0/14, "
                                   "10.24.0.0/13, 10.255.0.0/24")
    assert _set(nft, "hubside4") == "10.16.5.0/24"


def test_without_aggregates_the_hub_routes_and_sets_are_per_site(tmp_path: Path) -> None:
    out = _compile(tmp_path, _three_sites(aggregated=False))
    assert _lines(out / "hub/openvpn/server.conf", "route ") == ["route 10.20.1.0 255.255.255.0"]
    assert _lines(out / "hub/wireguard/wg0.conf", "PostUp") == []
    nft = (out / "hub/nftables.conf").read_text()
    assert _set(nft, "peers4") == ("10.20.0.0/24, 10.20.1.0/24, 10.40.0.0/24, 10.40.1.0/24, "
                                   "10.254.0.0/24, 10.255.0.0/24")
    assert "# The aggregates" not in nft


def test_explain_shows_the_aggregate_and_the_hub_drop(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path, _three_sites(aggregated=True))  # type: ignore[arg-type]
    result = check(root)
    assert result.ok
    verdict = explain(result, "acme-eu/paris", "10.20.1.5", "icmp")
    assert (verdict.allowed, verdict.path) == (True, [
        "acme-eu/paris (10.40.0.1)", "hub acme-eu (via aggregate 10.16.0.0/12)",
        "site hamburg (hamburg) LAN (10.20.1.5)"])
    verdict = explain(result, "acme-eu/alice", "10.30.0.5", "icmp")
    assert (verdict.allowed, verdict.decided_by) == (
        False, "10.30.0.5 is in aggregate 10.16.0.0/12, which no peer advertises there: "
        "the hub drops it")
    assert verdict.path == ["acme-eu/alice (10.255.0.11)", "hub acme-eu (via aggregate 10.16.0.0/12)"]
    # A site outside the aggregates is reached by its own route.
    verdict = explain(result, "acme-eu/alice", "10.40.1.5", "icmp")
    assert verdict.path[1] == "hub acme-eu"


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes()
            for p in folder.rglob("*") if p.is_file()}


#: What a site added inside the aggregates changes, by protocol (SPEC §5 keeps every one).
SITE_ADDED = {
    "wireguard": ["VERSION", "hub/VERSION", "hub/wireguard/wg0.conf", "sites/munich.conf",
                  "sites/munich.rsc"],
    "openvpn": ["VERSION", "hub/VERSION", "hub/openvpn/ccd/munich", "sites/munich.ovpn",
                "sites/munich.rsc"],
}


@pytest.mark.parametrize("protocol", ["wireguard", "openvpn"])
def test_a_site_added_inside_the_aggregates_changes_only_the_hub_and_itself(
        tmp_path: Path, protocol: str) -> None:
    before = _compile(tmp_path / "a", _three_sites(aggregated=True))
    files = _three_sites(aggregated=True)
    address = "10.255.0.30" if protocol == "wireguard" else "10.254.0.30"
    files["acme-eu/peers/munich.yaml"] = site("munich", address, ["10.22.0.0/24"],
                                              protocol=protocol)
    after = _compile(tmp_path / "b", files)
    old, new = _snapshot(before), _snapshot(after)
    changed = sorted(k for k in new.keys() | old.keys() if old.get(k) != new.get(k))
    assert changed == SITE_ADDED[protocol]


@pytest.mark.parametrize("protocol", ["wireguard", "openvpn"])
def test_a_recompile_after_a_site_was_added_writes_at_most_six_files(
        tmp_path: Path, protocol: str) -> None:
    """The figure `make bench` reports (SPEC §9): into the same output, with the cache."""
    files = _three_sites(aggregated=True)
    root = build_file_tree(tmp_path / "src", files)  # type: ignore[arg-type]
    out = tmp_path / "build"
    first = compile_tree(root, out, TEST_SECRET, qr=True, cache=True)
    assert first.stats is not None and first.stats.written > 6
    address = "10.255.0.30" if protocol == "wireguard" else "10.254.0.30"
    build_file_tree(root, {"acme-eu/peers/munich.yaml": site(
        "munich", address, ["10.22.0.0/24"], protocol=protocol)})
    old = _snapshot(out)
    result = compile_tree(root, out, TEST_SECRET, qr=True, cache=True)
    assert result.stats is not None
    new = _snapshot(out)
    changed = sorted(k for k in new.keys() | old.keys() if old.get(k) != new.get(k))
    assert changed == sorted(["manifest.json", *(f"acme-eu/{k}" for k in SITE_ADDED[protocol])])
    assert result.stats.written == len(changed) == 6
    assert result.stats.removed == 0


_V4 = st.builds(lambda a, n: ipaddress.ip_network(f"10.{a}.{n}.0/24"),
                st.integers(0, 3), st.integers(0, 15))


@settings(max_examples=200, deadline=None)
@given(st.sets(_V4, min_size=1, max_size=40), st.data())
def test_a_peers_routes_are_the_base_minus_its_own_collapsed(
        base: set[IPNetwork], data: st.DataObject) -> None:
    own = data.draw(st.lists(st.sampled_from(sorted(base, key=str)), max_size=4, unique=True))
    routes = RouteSet(base)
    got = routes.nets(own)
    assert got == collapse(base - set(own))  # the oracle: ipaddress itself
    assert routes.text(own) == [str(n) for n in got]
    assert routes.netmasks(own) == [f"{n.network_address} {n.netmask}" for n in got]
    assert routes.nets() == collapse(base)


_SMALL = st.builds(lambda n, length: ipaddress.ip_network(f"10.0.{n // 256}.{n % 256}/{length}",
                                                          strict=False),  # inside 10.0.0.0/22
                   st.integers(0, 1023), st.integers(22, 32))


@settings(max_examples=100, deadline=None)
@given(st.lists(_SMALL, min_size=1, max_size=4), st.lists(_SMALL, max_size=4))
def test_subtract_leaves_exactly_the_addresses_outside_the_holes(
        nets: list[IPNetwork], holes: list[IPNetwork]) -> None:
    """The firewall's peer space is the aggregates less the pushed routes (``subtract``)."""
    def addresses(prefixes: list[IPNetwork]) -> set[int]:
        return {int(a) for p in prefixes for a in p}

    got = subtract(nets, holes)
    assert addresses(got) == addresses(nets) - addresses(holes)  # the oracle: address sets
    assert got == sorted(got, key=lambda n: (n.version, int(n.network_address), n.prefixlen))
