"""End-to-end: the compiled artifacts bring up real tunnels and packets flow (issue 4).

A test estate is compiled with the fixed test secret and brought up in network namespaces with
Debian's wg-quick + wireguard-go, OpenVPN 2.6 and nftables (see ``tests/support/vpnlab.py`` for
the topology).  Every host answers on an echo port with the source address it sees, so a test
can tell a tunnelled or NATed path from a direct one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest
import yaml

from compiler.api import check, compile_tree
from compiler.checks.reach import policies, verdict_of
from compiler.model.access import Assertion
from tests.support.netlab import Lab, LabError, Node, lab
from tests.support.trees import TEST_SECRET, build_file_tree, client, site
from tests.support.vpnlab import (
    HUB_PUBLIC,
    HUB_PUBLIC6,
    INTERNET_HOST,
    INTERNET_HOST6,
    PUBLIC6,
    VpnLab,
)

pytestmark = pytest.mark.netns

FQDN = "acme-eu.vpn.example.net"


def lab_estate(**changes: dict[str, object] | None) -> dict[str, object]:
    """The estate of the lab: a hub with both protocols, a site and two clients on each.

    ``changes`` updates (or with ``None`` removes) peer documents by peer name.
    """
    peers: dict[str, dict[str, object]] = {
        "berlin": site("berlin-office", "10.255.0.10", ["10.20.0.0/24", "2001:db8:20::/64"],
                       address6="fd00:255::10"),
        "hamburg": site("hamburg-office", "10.254.0.10", ["10.21.0.0/24"], protocol="openvpn"),
        "alice": client("alice@example.com", "10.255.0.11", address6="fd00:255::11"),
        "bob": client("bob@example.com", "10.255.0.12", address6="fd00:255::12", route_all=True),
        "carol": client("carol@example.com", "10.254.0.11", protocol="openvpn"),
        "dave": client("dave@example.com", "10.254.0.12", protocol="openvpn", route_all=True),
        # Only the Berlin office (SPEC §8 access), enforced on the hub.
        "erin": client("erin@example.com", "10.255.0.14", address6="fd00:255::14",
                       access=["berlin-office"]),
    }
    for name, doc in changes.items():
        if doc is None:
            peers.pop(name)
        else:
            peers[name] = {**peers[name], **doc}
    return {
        "vpn.yaml": {"domain": "vpn.example.net", "regions": ["fra"]},
        "acme-eu/instance.yaml": {
            "hostname": "acme-eu",
            "region": "fra",
            "wireguard": {"port": 51820, "network": "10.255.0.0/24",
                          "network6": "fd00:255::/64"},
            "openvpn": {"port": 1194, "transport": "udp", "network": "10.254.0.0/24"},
            "routing": {"pushed_routes": ["10.0.0.0/16"], "egress": "nat"},
            "dns": {"servers": ["10.0.0.53"], "domains": ["corp.example"],
                    "records": {"intranet.corp.example": "10.0.0.80"}},
            "firewall": {"default": "allow", "rules": [
                # ssh to the hub's LAN: bob (the admin) yes, other clients no, sites yes
                *([{"action": "allow", "protocol": "tcp", "ports": "22", "source": "bob",
                    "destination": "10.0.0.0/24"}] if "bob" in peers else []),
                {"action": "deny", "protocol": "tcp", "ports": "22", "source": "clients",
                 "destination": "10.0.0.0/16"},
            ]},
        },
        **{f"acme-eu/peers/{name}.yaml": doc for name, doc in peers.items()},
        # Assertions about removed peers go with them.
        "tests.yaml": "".join(line + "\n" for line in ASSERTIONS.splitlines()
                              if not any(f"acme-eu/{gone}," in line for gone, doc in
                                         changes.items() if doc is None)),
    }


#: tests.yaml of the lab: each is checked by `mvpn check` and observed on the real hub.
ASSERTIONS = """\
- {from: acme-eu/alice, to: 10.0.0.5, port: 7000/tcp, expect: allow}
- {from: acme-eu/alice, to: 10.0.0.5, port: 22/tcp, expect: deny}
- {from: acme-eu/carol, to: 10.0.0.5, port: 22/tcp, expect: deny}
- {from: acme-eu/bob, to: 10.0.0.5, port: 22/tcp, expect: allow}
- {from: acme-eu/berlin-office, to: 10.0.0.5, port: 22/tcp, expect: allow}
- {from: acme-eu/hamburg-office, to: 10.20.0.5, port: 22/tcp, expect: allow}
- {from: acme-eu/erin, to: 10.20.0.5, port: 22/tcp, expect: allow}
- {from: acme-eu/erin, to: 10.21.0.5, port: 7000/tcp, expect: deny}
- {from: acme-eu/erin, to: 10.0.0.5, expect: deny}
- {from: acme-eu/erin, to: 2001:db8:20::5, port: 7000/tcp, expect: allow}
- {from: acme-eu/bob, to: 198.51.100.10, port: 7000/tcp, expect: allow}
- {from: acme-eu/alice, to: 198.51.100.10, port: 7000/tcp, expect: deny}
- {from: acme-eu/dave, to: 2001:db8:100::10, port: 7000/tcp, expect: deny}
- {from: acme-eu/hamburg-office, to: 10.0.0.5, expect: allow}
"""


def compiled(tmp: Path, name: str, files: dict[str, object]) -> Path:
    """Compile ``files`` with the test secret into ``tmp/name-out``."""
    root = build_file_tree(tmp / f"{name}-tree", files)  # type: ignore[arg-type]
    out = tmp / f"{name}-out"
    result = compile_tree(root, out, TEST_SECRET, qr=False)
    assert result.check.ok, [d.message for d in result.check.diagnostics.sorted()]
    return out


@pytest.fixture(scope="module")
def net(tmp_path_factory: pytest.TempPathFactory) -> Iterator[VpnLab]:
    """The whole estate up: hub, both sites with LAN hosts, four clients, the internet host."""
    tmp = tmp_path_factory.mktemp("e2e")
    out = compiled(tmp, "v1", lab_estate())
    with lab(tmp / "lab") as made:
        vpn = VpnLab(made, out, "acme-eu", FQDN)
        vpn.start_hub()
        vpn.site("berlin", "192.0.2.10", "10.20.0.0/24", "2001:db8:20::/64")
        vpn.site("hamburg", "192.0.2.11", "10.21.0.0/24")
        for i, peer in enumerate(("alice", "bob", "carol", "dave", "erin")):
            vpn.client(peer, f"192.0.2.{20 + i}")
        yield vpn


# ------------------------------------------------------------------ 1. site to site


def test_wireguard_site_lan_reaches_openvpn_site_lan_through_the_hub_and_back(
        net: VpnLab) -> None:
    berlin, hamburg = net.lab.nodes["berlin-lan"], net.lab.nodes["hamburg-lan"]
    # Routed, not NATed: each LAN host sees the other's own address.
    net.expect_reach(berlin, "10.21.0.5", seen_as="10.20.0.5")
    net.expect_reach(hamburg, "10.20.0.5", seen_as="10.21.0.5")
    # Through the hub: the wan router knows no private network, so the only path is the hub.
    assert net.wan.run("ip", "route", "get", "10.21.0.5", check=False).returncode != 0


# ------------------------------------------------------------------ 2. split tunnel


@pytest.mark.parametrize(("peer", "tunnel_address", "public"), [
    ("alice", "10.255.0.11", "192.0.2.20"),   # WireGuard
    ("carol", "10.254.0.11", "192.0.2.22"),   # OpenVPN
])
def test_split_tunnel_client_reaches_the_instance_networks_but_not_the_internet_through_it(
        net: VpnLab, peer: str, tunnel_address: str, public: str) -> None:
    node = net.lab.nodes[peer]
    for lan_host in ("10.20.0.5", "10.21.0.5", "10.0.0.5"):
        net.expect_reach(node, lan_host, seen_as=tunnel_address)
    # The internet host is reached directly, with the client's own address, not the hub's.
    public6 = PUBLIC6 + public.rsplit(".", 1)[1]
    net.expect_reach(node, INTERNET_HOST, seen_as=public)
    net.expect_reach(node, INTERNET_HOST6, seen_as=public6)
    assert net.route_dev(node, INTERNET_HOST) == "eth0"
    assert net.route_dev(node, INTERNET_HOST6) == "eth0"


def test_wireguard_client_profile_sets_the_instance_dns(net: VpnLab) -> None:
    """wg-quick applies the profile's ``DNS =`` (through resolvconf) inside the client."""
    for peer in ("alice", "bob"):
        resolv = net.lab.nodes[peer].run("cat", "/etc/resolv.conf").stdout.split("\n")
        assert "nameserver 10.255.0.1" in resolv, (peer, resolv)  # the hub's resolver
        assert "search corp.example" in resolv, (peer, resolv)


def test_split_tunnel_client_reaches_an_ipv6_site_lan_over_the_tunnel(net: VpnLab) -> None:
    net.expect_reach(net.lab.nodes["alice"], "2001:db8:20::5", seen_as="fd00:255::11")
    assert net.ping(net.lab.nodes["berlin-lan"], "fd00:255::11"), net.lab.report()


# ------------------------------------------------------------------ 3. route-all


@pytest.mark.parametrize(("peer", "tunnel_address"), [
    ("bob", "10.255.0.12"),    # WireGuard
    ("dave", "10.254.0.12"),   # OpenVPN
])
def test_route_all_client_egresses_through_the_hub_nat_and_reaches_the_sites(
        net: VpnLab, peer: str, tunnel_address: str) -> None:
    node = net.lab.nodes[peer]
    net.expect_reach(node, INTERNET_HOST, seen_as=HUB_PUBLIC)
    assert net.route_dev(node, INTERNET_HOST) != "eth0"
    for lan_host in ("10.20.0.5", "10.21.0.5", "10.0.0.5"):
        net.expect_reach(node, lan_host, seen_as=tunnel_address)


def test_route_all_wireguard_client_egresses_ipv6_through_the_hub_nat(net: VpnLab) -> None:
    bob = net.lab.nodes["bob"]
    net.expect_reach(bob, INTERNET_HOST6, seen_as=HUB_PUBLIC6)
    net.expect_reach(bob, "2001:db8:20::5", seen_as="fd00:255::12")


def test_route_all_openvpn_client_does_not_leak_ipv6_around_the_tunnel(net: VpnLab) -> None:
    """The OpenVPN tunnel is IPv4-only: a route-all client's IPv6 must not go out directly."""
    dave = net.lab.nodes["dave"]
    assert net.route_dev(dave, INTERNET_HOST6) != "eth0"
    assert net.seen_as(dave, INTERNET_HOST6, bound=2.0) is None


# ------------------------------------------------------------------ 4./5. lifecycle


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[Path, Lab]]:
    """A workdir and a fresh lab for one lifecycle test."""
    with lab(tmp_path / "lab") as made:
        yield tmp_path, made


def _refused_wireguard(vpn: VpnLab, node_role: str, profile: Path) -> None:
    """``profile`` comes up locally but gets no handshake from the hub and no traffic."""
    node = vpn.public(node_role, "192.0.2.40")
    tunnel = vpn.connect(node, profile)
    assert not vpn.ping(node, "10.0.0.5", bound=3.0), vpn.lab.report()
    handshakes = node.run("wg", "show", str(tunnel.iface), "latest-handshakes").stdout.split()
    assert handshakes[1:] == ["0"], vpn.lab.report()


def _refused_openvpn(vpn: VpnLab, node_role: str, profile: Path, why: str) -> None:
    """``profile`` does not connect; the failure carries the hub's log saying ``why``."""
    node = vpn.public(node_role, "192.0.2.41")
    with pytest.raises(LabError) as failure:
        vpn.connect(node, profile, bound=8.0)
    assert why in str(failure.value)  # the hub's own reason is in the test output


def test_a_removed_peer_gets_no_handshake_and_no_connection(
        small: tuple[Path, Lab]) -> None:
    tmp, made = small
    v1 = compiled(tmp, "v1", lab_estate())
    v2 = compiled(tmp, "v2", lab_estate(bob=None, carol=None))
    vpn = VpnLab(made, v1, "acme-eu", FQDN)
    vpn.start_hub()
    vpn.reload_hub(v2)
    _refused_wireguard(vpn, "old-bob", v1 / "acme-eu/clients/bob.conf")
    _refused_openvpn(vpn, "old-carol", v1 / "acme-eu/clients/carol.ovpn",
                     why="--client-config-dir authentication failed for common name 'carol'")
    # The peers that stayed still work after the reload.
    alice, _ = vpn.client("alice", "192.0.2.20")
    vpn.expect_reach(alice, "10.0.0.5", seen_as="10.255.0.11")
    dave, _ = vpn.client("dave", "192.0.2.23")
    vpn.expect_reach(dave, INTERNET_HOST, seen_as=HUB_PUBLIC)


def test_after_a_key_epoch_bump_the_old_key_is_refused_and_the_new_profile_works(
        small: tuple[Path, Lab]) -> None:
    tmp, made = small
    v1 = compiled(tmp, "v1", lab_estate())
    v2 = compiled(tmp, "v2", lab_estate(bob={"key_epoch": 2}, carol={"key_epoch": 2}))
    vpn = VpnLab(made, v1, "acme-eu", FQDN)
    vpn.start_hub()
    # Before the bump the v1 profiles work.
    bob, bob_tunnel = vpn.client("bob", "192.0.2.21")
    vpn.expect_reach(bob, "10.0.0.5", seen_as="10.255.0.12")
    bob_tunnel.down()
    vpn.reload_hub(v2)
    _refused_wireguard(vpn, "old-bob", v1 / "acme-eu/clients/bob.conf")
    _refused_openvpn(vpn, "old-carol", v1 / "acme-eu/clients/carol.ovpn",
                     why="VERIFY ERROR: depth=0, error=certificate revoked: CN=carol")
    new_bob = vpn.public("new-bob", "192.0.2.42")
    vpn.connect(new_bob, v2 / "acme-eu/clients/bob.conf")
    vpn.expect_reach(new_bob, INTERNET_HOST, seen_as=HUB_PUBLIC)
    new_carol = vpn.public("new-carol", "192.0.2.43")
    vpn.connect(new_carol, v2 / "acme-eu/clients/carol.ovpn")
    vpn.expect_reach(new_carol, "10.0.0.5", seen_as="10.254.0.11")


def test_the_hub_accepts_what_a_routeros_client_speaks(small: tuple[Path, Lab]) -> None:
    """The site script's `cipher=aes256-gcm auth=null`, as OpenVPN spells it, connects.

    RouterOS itself is not run here: an OpenVPN 2.6 client is given the same data-channel
    settings (AES-256-GCM only, no HMAC digest) as the RouterOS script.
    """
    tmp, made = small
    v1 = compiled(tmp, "v1", lab_estate())
    vpn = VpnLab(made, v1, "acme-eu", FQDN)
    vpn.start_hub()
    text = (v1 / "acme-eu/sites/hamburg.ovpn").read_text(encoding="utf-8")
    like = text.replace("data-ciphers AES-256-GCM:AES-128-GCM\n", "data-ciphers AES-256-GCM\n")
    like = like.replace("auth SHA256\n", "auth none\n")
    assert "auth none\n" in like and "AES-128-GCM" not in like
    profile = tmp / "hamburg-like-routeros.ovpn"
    profile.write_text(like, encoding="utf-8")
    node = vpn.public("ros-hamburg", "192.0.2.47")
    vpn.connect(node, profile)
    vpn.expect_reach(node, "10.0.0.5", seen_as="10.254.0.10")


def test_certificates_of_every_earlier_epoch_are_refused(small: tuple[Path, Lab]) -> None:
    """Issue 11.12: the CRL lists only the epoch just replaced; an older certificate is
    refused because its CN names no ccd file (``ccd-exclusive``)."""
    tmp, made = small
    v1 = compiled(tmp, "v1", lab_estate())
    v2 = compiled(tmp, "v2", lab_estate(carol={"key_epoch": 2}))
    v3 = compiled(tmp, "v3", lab_estate(carol={"key_epoch": 3}))
    vpn = VpnLab(made, v3, "acme-eu", FQDN)
    vpn.start_hub()
    for role, ip, profile, why in (
        ("carol-e1", "192.0.2.44", v1, "--client-config-dir authentication failed for "
                                       "common name 'carol'"),
        ("carol-e2", "192.0.2.45", v2, "VERIFY ERROR: depth=0, error=certificate revoked: "
                                       "CN=carol.epoch2"),
    ):
        node = vpn.public(role, ip)
        with pytest.raises(LabError) as failure:
            vpn.connect(node, profile / "acme-eu/clients/carol.ovpn", bound=8.0)
        assert why in str(failure.value)
    carol = vpn.public("carol-e3", "192.0.2.46")
    vpn.connect(carol, v3 / "acme-eu/clients/carol.ovpn")
    vpn.expect_reach(carol, "10.0.0.5", seen_as="10.254.0.11")


# ------------------------------------------------------------------ 6. logs on failure


def test_a_failed_connection_shows_the_daemon_logs(small: tuple[Path, Lab]) -> None:
    """The harness itself: a tunnel that cannot come up fails with every daemon's log."""
    tmp, made = small
    out = compiled(tmp, "v1", lab_estate())
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    vpn.start_hub()
    node = vpn.public("lost", "192.0.2.44")
    vpn.lab.resolve(FQDN, "192.0.2.99")  # nobody there: the handshake never completes
    with pytest.raises(LabError) as failure:
        vpn.connect(node, out / "acme-eu/clients/carol.ovpn", bound=3.0)
    text = str(failure.value)
    assert "did not connect" in text
    assert "----- hub-openvpn-server" in text and "Initialization Sequence Completed" in text
    assert "----- lost-openvpn-carol" in text and "192.0.2.99" in text


# ------------------------------------------------------------------ issue 7: access and DNS


def _assertions() -> list[str]:
    return ASSERTIONS.splitlines()


@pytest.mark.parametrize("line", _assertions())
def test_check_and_the_real_hub_agree_on_every_assertion(net: VpnLab, line: str) -> None:
    """The same tests.yaml line, judged by `mvpn check` and observed through the real hub."""
    test = Assertion.model_validate(yaml.safe_load(line)[0])
    result = check(net.build.parent / "v1-tree")
    assert result.ok, [d.message for d in result.diagnostics.sorted()]
    verdict = verdict_of(policies(result.estate), test)
    assert not isinstance(verdict, str), verdict
    assert verdict.allowed == (test.expect == "allow"), verdict  # `check` passes the tree
    inst, name = test.from_
    peer = next(p for p in result.estate.instances[inst].peers.values()
                if name in (p.name, getattr(p.config, "site", None)))
    role = f"{peer.name}-lan" if peer.config.type == "site" else peer.name
    node = net.lab.nodes[role]
    own = node.addresses[0] if peer.config.type == "client" else ""
    observed = net.observe(node, str(test.to), _probe(test), own)
    assert observed == verdict.allowed, (
        f"mvpn check says {test.expect} ({verdict.decided_by}), the real hub "
        f"{'lets it through' if observed else 'does not'}\n{net.lab.report()}")


def _probe(test: Assertion) -> str:
    proto, port = test.port
    return "icmp" if port is None else f"{port}/{proto}"


def test_a_client_that_widens_its_allowed_ips_gains_nothing(
        net: VpnLab, tmp_path: Path) -> None:
    """erin may reach only Berlin; adding Hamburg's LAN to her AllowedIPs does not help."""
    profile = net.build / "acme-eu/clients/erin.conf"
    text = profile.read_text()
    assert "10.21.0.0/24" not in text  # the profile routes only what erin may reach
    widened = tmp_path / "erin.conf"
    widened.write_text(text.replace("AllowedIPs = ", "AllowedIPs = 10.21.0.0/24, "))
    widened.chmod(0o600)
    node = net.public("erin-widened", "192.0.2.45")
    net.connect(node, widened)
    assert net.route_dev(node, "10.21.0.5").startswith("wg")  # now routed into the tunnel
    assert net.seen_as(node, "10.21.0.5", bound=3.0) is None
    net.expect_reach(node, "10.20.0.5", seen_as="10.255.0.14")  # what she may reach still works


def test_dns_records_resolve_through_the_tunnel(net: VpnLab) -> None:
    """The hub's resolver answers dns.records: alice's system resolver (from DNS =) asks it
    through the tunnel; carol (OpenVPN) asks it directly."""
    got = net.lab.nodes["alice"].run("getent", "hosts", "intranet.corp.example").stdout
    assert got.split()[:1] == ["10.0.0.80"], got
    dug = net.lab.nodes["carol"].run("dig", "+short", "+time=2", "+tries=2", "@10.254.0.1",
                                     "intranet.corp.example").stdout
    assert dug.split() == ["10.0.0.80"], dug
    # From outside the VPN the resolver is not reachable at all.
    outside = net.lab.nodes["inet"].run("dig", "+short", "+time=1", "+tries=1", "@10.255.0.1",
                                        "intranet.corp.example", check=False)
    assert "10.0.0.80" not in outside.stdout


def test_split_dns_only_serves_the_vpn_names(small: tuple[Path, Lab]) -> None:
    """With ``split: true`` the profile leaves the system resolver alone, and the hub's
    resolver answers the VPN's names (through the tunnel); other names are forwarded upstream
    (tests/test_fidelity_e2e.py), and this lab's hub has no upstream resolver."""
    tmp, made = small
    files = lab_estate()
    instance = cast("dict[str, dict[str, object]]", files["acme-eu/instance.yaml"])
    instance = {**instance, "dns": {**instance["dns"], "split": True}}
    files["acme-eu/instance.yaml"] = instance
    out = compiled(tmp, "split", files)
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    vpn.start_hub()
    alice, _ = vpn.client("alice", "192.0.2.20")
    assert "nameserver" not in alice.run("cat", "/etc/resolv.conf").stdout
    dug = alice.run("dig", "+short", "+time=2", "+tries=2", "@10.255.0.1",
                    "intranet.corp.example").stdout
    assert dug.split() == ["10.0.0.80"], dug
    other = alice.run("dig", "+time=2", "+tries=1", "@10.255.0.1", "example.org",
                      check=False).stdout
    assert "status: REFUSED" in other, other


# ------------------------------------------------------------------ issue 14: aggregates


def aggregate_estate(**changes: dict[str, object] | None) -> dict[str, object]:
    """The lab estate with ``routing.aggregates`` holding both sites' LANs."""
    files = lab_estate(**changes)
    instance = cast("dict[str, object]", files["acme-eu/instance.yaml"])
    files["acme-eu/instance.yaml"] = {**instance, "routing": {
        "pushed_routes": ["10.0.0.0/16"], "egress": "nat",
        "aggregates": ["10.16.0.0/12", "2001:db8:20::/48"], "allow_broad": True}}
    return files


def test_aggregates_route_sites_and_clients_and_the_hub_drops_the_rest(
        small: tuple[Path, Lab]) -> None:
    """Sites and a split client reach each other's LANs through the aggregate alone; a route-all
    client's packet to unassigned aggregate space dies at the hub (it is not NATed out to the
    internet host that has that address); a third site needs only a hub reload."""
    tmp, made = small
    v1 = compiled(tmp, "agg1", aggregate_estate())
    files = aggregate_estate()
    files["acme-eu/peers/munich.yaml"] = site("munich-office", "10.255.0.20", ["10.22.0.0/24"],
                                              address6="fd00:255::20")
    files["acme-eu/peers/lyon.yaml"] = site("lyon-office", "10.254.0.20", ["10.23.0.0/24"],
                                            protocol="openvpn")
    v2 = compiled(tmp, "agg2", files)
    inst1, inst2 = v1 / "acme-eu", v2 / "acme-eu"
    # The hub: only the new peers' own entries; its firewall and OpenVPN server stay.
    assert _changed(inst1 / "hub", inst2 / "hub") == [
        "VERSION", "openvpn/ccd/lyon", "wireguard/wg0.conf"]
    # No per-site route on either router, nor in the split client's profile.
    berlin_conf = (inst1 / "sites/berlin.conf").read_text()
    assert "10.16.0.0/12" in berlin_conf and "10.21.0." not in berlin_conf
    assert "10.20.0." not in (inst1 / "hub/openvpn/ccd/hamburg").read_text()
    assert "10.21.0." not in (inst1 / "clients/alice.conf").read_text()
    unchanged = ["sites/berlin.conf", "sites/berlin.rsc", "sites/hamburg.ovpn",
                 "sites/hamburg.rsc", "clients/alice.conf", "clients/bob.conf",
                 "clients/carol.ovpn", "clients/dave.ovpn", "clients/erin.conf"]
    assert [rel for rel in unchanged
            if (inst1 / rel).read_bytes() != (inst2 / rel).read_bytes()] == []

    vpn = VpnLab(made, v1, "acme-eu", FQDN)
    vpn.start_hub()
    berlin = vpn.site("berlin", "192.0.2.10", "10.20.0.0/24", "2001:db8:20::/64")
    hamburg = vpn.site("hamburg", "192.0.2.11", "10.21.0.0/24")
    vpn.expect_reach(berlin, "10.21.0.5", seen_as="10.20.0.5")    # WireGuard -> OpenVPN
    vpn.expect_reach(hamburg, "10.20.0.5", seen_as="10.21.0.5")   # and back
    alice, _ = vpn.client("alice", "192.0.2.20")
    vpn.expect_reach(alice, "10.21.0.5", seen_as="10.255.0.11")
    assert vpn.route_dev(alice, "10.21.0.5").startswith("wg")

    # An unassigned address of the aggregate exists on the internet host ...
    made.address(vpn.inet, "eth0", "10.22.0.9/32")
    vpn.wan.route("10.22.0.9/32", "via", INTERNET_HOST)
    assert vpn.seen_as(vpn.wan, "10.22.0.9") == "198.51.100.1"
    bob, _ = vpn.client("bob", "192.0.2.21")
    vpn.expect_reach(bob, INTERNET_HOST, seen_as=HUB_PUBLIC)  # bob's NAT path works ...
    arrived = arrivals(vpn, "10.22.0.9")
    assert vpn.seen_as(bob, "10.22.0.9", bound=3.0) is None   # ... but not into the aggregate
    assert vpn.seen_as(berlin, "10.22.0.9", bound=3.0) is None  # nor a site's LAN host's
    assert arrived() == 0, made.report()
    assert vpn.route_dev(vpn.hub, "10.22.0.9") == "ovpn0"  # OpenVPN's route for the aggregate
    leaks_without(vpn, bob, arrived)

    # A third site of each protocol: only the hub is reloaded; everyone else keeps their
    # artifacts. The OpenVPN one is reached through the hub's aggregate route alone.
    vpn.reload_hub(v2)
    munich = vpn.site("munich", "192.0.2.12", "10.22.0.0/24")
    assert vpn.seen_as(berlin, "10.22.0.5", bound=30) == "10.20.0.5", made.report()
    assert vpn.seen_as(hamburg, "10.22.0.5", bound=30) == "10.21.0.5", made.report()
    assert vpn.seen_as(alice, "10.22.0.5", bound=30) == "10.255.0.11", made.report()
    vpn.expect_reach(munich, "10.20.0.5", seen_as="10.22.0.5")
    lyon = vpn.site("lyon", "192.0.2.13", "10.23.0.0/24")
    assert vpn.seen_as(berlin, "10.23.0.5", bound=30) == "10.20.0.5", made.report()
    assert vpn.seen_as(alice, "10.23.0.5", bound=30) == "10.255.0.11", made.report()
    vpn.expect_reach(lyon, "10.21.0.5", seen_as="10.23.0.5")   # OpenVPN site to OpenVPN site


_COUNT_TO = """table inet probe {{
	chain input {{
		type filter hook input priority filter; policy accept;
		ip daddr {address} counter
	}}
}}
"""


def arrivals(vpn: VpnLab, address: str) -> Callable[[], int]:
    """A count of the packets for ``address`` that reach the internet host (which has it)."""
    rules = vpn.lab.workdir / "probe.nft"
    rules.write_text(_COUNT_TO.format(address=address), encoding="ascii")
    vpn.inet.run("nft", "-f", str(rules))

    def count() -> int:
        shown = vpn.inet.run("nft", "list", "chain", "inet", "probe", "input").stdout
        return int(shown.split("packets ")[1].split()[0])
    return count


def leaks_without(vpn: VpnLab, bob: Node, arrived: Callable[[], int]) -> None:
    """Without the hub's route for 10.16.0.0/12, bob's packets do reach the internet host: the
    route is what stops them (so the assertions before can fail). The caller reloads the hub
    next (which puts the route back)."""
    vpn.hub.run("ip", "route", "del", "10.16.0.0/12")
    vpn.seen_as(bob, "10.22.0.9", bound=2.0)
    assert arrived() > 0, vpn.lab.report()


def _changed(old: Path, new: Path) -> list[str]:
    """Files under ``new`` whose bytes differ from ``old``'s (or that are new), relative."""
    return sorted(p.relative_to(new).as_posix() for p in new.rglob("*") if p.is_file() and (
        not (old / p.relative_to(new)).is_file()
        or (old / p.relative_to(new)).read_bytes() != p.read_bytes()))


def wireguard_only(files: dict[str, object]) -> dict[str, object]:
    """``files`` with an instance that runs WireGuard only (its OpenVPN peers removed)."""
    instance = cast("dict[str, object]", files["acme-eu/instance.yaml"])
    files["acme-eu/instance.yaml"] = {k: v for k, v in instance.items() if k != "openvpn"}
    assertions = cast(str, files["tests.yaml"]).splitlines(keepends=True)
    files["tests.yaml"] = "".join(a for a in assertions if "hamburg-office" not in a)
    return files


def test_a_wireguard_only_hub_routes_the_aggregates_into_wg0_and_drops_the_rest(
        small: tuple[Path, Lab]) -> None:
    """Without OpenVPN the hub routes the aggregates into wg0, where no peer's AllowedIPs take
    unassigned space: a site's and a route-all client's packets to it die at the hub (the
    internet host has that address and sees nothing); a third site needs only a hub reload
    that changes wg0.conf alone."""
    tmp, made = small
    gone: dict[str, dict[str, object] | None] = {"hamburg": None, "carol": None, "dave": None}
    v1 = compiled(tmp, "wg1", wireguard_only(aggregate_estate(**gone)))
    files = wireguard_only(aggregate_estate(**gone))
    files["acme-eu/peers/munich.yaml"] = site("munich-office", "10.255.0.20", ["10.22.0.0/24"],
                                              address6="fd00:255::20")
    v2 = compiled(tmp, "wg2", files)
    inst1, inst2 = v1 / "acme-eu", v2 / "acme-eu"
    assert not (inst1 / "hub/openvpn").exists()
    assert _changed(inst1 / "hub", inst2 / "hub") == ["VERSION", "wireguard/wg0.conf"]
    assert _changed(inst1 / "sites", inst2 / "sites") == ["munich.conf", "munich.rsc"]
    assert _changed(inst1 / "clients", inst2 / "clients") == []

    vpn = VpnLab(made, v1, "acme-eu", FQDN)
    vpn.start_hub()
    berlin = vpn.site("berlin", "192.0.2.10", "10.20.0.0/24", "2001:db8:20::/64")
    alice, _ = vpn.client("alice", "192.0.2.20")
    bob, _ = vpn.client("bob", "192.0.2.21")
    vpn.expect_reach(alice, "10.20.0.5", seen_as="10.255.0.11")
    assert vpn.route_dev(vpn.hub, "10.22.0.9").startswith("wg")  # the aggregate, into wg0
    made.address(vpn.inet, "eth0", "10.22.0.9/32")
    vpn.wan.route("10.22.0.9/32", "via", INTERNET_HOST)
    assert vpn.seen_as(vpn.wan, "10.22.0.9") == "198.51.100.1"
    vpn.expect_reach(bob, INTERNET_HOST, seen_as=HUB_PUBLIC)   # bob's NAT path works ...
    arrived = arrivals(vpn, "10.22.0.9")
    assert vpn.seen_as(bob, "10.22.0.9", bound=3.0) is None    # ... but not into the aggregate
    assert vpn.seen_as(berlin, "10.22.0.9", bound=3.0) is None  # nor a site's LAN host's
    assert arrived() == 0, made.report()
    leaks_without(vpn, bob, arrived)

    vpn.reload_hub(v2)
    munich = vpn.site("munich", "192.0.2.12", "10.22.0.0/24")
    assert vpn.seen_as(berlin, "10.22.0.5", bound=30) == "10.20.0.5", made.report()
    assert vpn.seen_as(alice, "10.22.0.5", bound=30) == "10.255.0.11", made.report()
    vpn.expect_reach(munich, "10.20.0.5", seen_as="10.22.0.5")
