"""End-to-end: IPv6 inside OpenVPN, and no IPv6 leak from route-all clients of an IPv4-only
OpenVPN tunnel (issue 17).

Each test compiles a variant of the lab estate of ``tests/test_e2e.py`` and brings it up in a
fresh lab (topology in ``tests/support/vpnlab.py``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.support.netlab import Lab, lab
from tests.support.vpnlab import HUB_PUBLIC6, INTERNET_HOST6, VpnLab
from tests.test_e2e import FQDN, compiled, lab_estate

pytestmark = pytest.mark.netns

HAMBURG6 = "2001:db8:21::/64"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[Path, Lab]]:
    """A workdir and a fresh lab for one test."""
    with lab(tmp_path / "lab") as made:
        yield tmp_path, made


def _instance(files: dict[str, object]) -> dict[str, object]:
    return cast("dict[str, object]", files["acme-eu/instance.yaml"])


def _no_option_errors(vpn: VpnLab) -> None:
    """The hub and every OpenVPN client took every option, pushed ones too, as written."""
    logs = sorted(vpn.lab.logdir.glob("*openvpn*.log"))
    assert logs
    for log in logs:
        # block-outside-dns is Windows-only: OpenVPN on Linux names it and goes on.
        text = "\n".join(ln for ln in log.read_text(encoding="utf-8", errors="replace")
                         .splitlines() if "block-outside-dns" not in ln)
        assert "Options error" not in text and "Unrecognized option" not in text, log.name


def _ipv6_openvpn_estate() -> dict[str, object]:
    """The lab estate with IPv6 in the OpenVPN tunnel and on the OpenVPN site's LAN."""
    files = lab_estate(
        hamburg={"subnets": ["10.21.0.0/24", HAMBURG6], "address6": "fd00:254::10"},
        carol={"address6": "fd00:254::11"}, dave={"address6": "fd00:254::12"})
    inst = _instance(files)
    ovpn = cast("dict[str, object]", inst["openvpn"])
    files["acme-eu/instance.yaml"] = {**inst, "openvpn": {**ovpn, "network6": "fd00:254::/64"}}
    # dave now reaches the IPv6 internet through the hub (the lab's assertion says deny).
    files["tests.yaml"] = str(files["tests.yaml"]).replace(
        "- {from: acme-eu/dave, to: 2001:db8:100::10, port: 7000/tcp, expect: deny}",
        "- {from: acme-eu/dave, to: 2001:db8:100::10, port: 7000/tcp, expect: allow}")
    return files


@pytest.mark.parametrize("aggregates", [False, True], ids=["exact", "aggregates"])
def test_openvpn_clients_reach_ipv6_site_lans_and_the_ipv6_internet(
        small: tuple[Path, Lab], aggregates: bool) -> None:
    """A split OpenVPN client reaches the IPv6 LAN of a WireGuard site and of an OpenVPN site
    (its Linux profile) with its own tunnel address; a route-all one egresses IPv6 as the hub.
    With aggregates the hub routes the IPv6 aggregate into OpenVPN (which delivers by
    iroute-ipv6), and the WireGuard site's own /64 (more specific, from wg-quick) into wg0."""
    tmp, made = small
    files = _ipv6_openvpn_estate()
    if aggregates:
        inst = _instance(files)
        routing = cast("dict[str, object]", inst["routing"])
        files["acme-eu/instance.yaml"] = {**inst, "routing": {
            **routing, "aggregates": ["10.16.0.0/12", "2001:db8:20::/44"],
            "allow_broad": True}}
    out = compiled(tmp, "ovpn6", files)
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    vpn.start_hub()
    vpn.site("berlin", "192.0.2.10", "10.20.0.0/24", "2001:db8:20::/64")
    hamburg_lan = vpn.site("hamburg", "192.0.2.11", "10.21.0.0/24", HAMBURG6)
    # The .ovpn's header says so: a Linux router forwards its IPv6 subnets itself.
    vpn.lab.nodes["hamburg"].sysctl(ipv6__conf__all__forwarding=1)
    carol, _ = vpn.client("carol", "192.0.2.22")
    dave, _ = vpn.client("dave", "192.0.2.23")
    assert vpn.route_dev(carol, "2001:db8:20::5") != "eth0"
    vpn.expect_reach(carol, "2001:db8:20::5", seen_as="fd00:254::11")
    vpn.expect_reach(carol, "2001:db8:21::5", seen_as="fd00:254::11")
    assert vpn.ping(hamburg_lan, "fd00:254::11"), vpn.lab.report()
    # A split client's internet traffic stays outside the tunnel.
    assert vpn.route_dev(carol, INTERNET_HOST6) == "eth0"
    vpn.expect_reach(dave, INTERNET_HOST6, seen_as=HUB_PUBLIC6)
    vpn.expect_reach(dave, "2001:db8:21::5", seen_as="fd00:254::12")
    # The hub and every client took every option (pushed ones too) as written.
    _no_option_errors(vpn)


def _ipv4_only_estate() -> dict[str, object]:
    """The lab estate without any IPv6: the hub does not even forward IPv6."""
    files = lab_estate(berlin={"subnets": ["10.20.0.0/24"]})
    for name in ("berlin", "alice", "bob", "erin"):
        doc = cast("dict[str, object]", files[f"acme-eu/peers/{name}.yaml"])
        doc.pop("address6")
    inst = _instance(files)
    wg = {k: v for k, v in cast("dict[str, object]", inst["wireguard"]).items()
          if k != "network6"}
    files["acme-eu/instance.yaml"] = {**inst, "wireguard": wg}
    files["tests.yaml"] = "".join(line + "\n" for line in str(files["tests.yaml"]).splitlines()
                                  if "2001:db8:20::" not in line)
    return files


def _inet_ipv6_packets(vpn: VpnLab) -> int:
    """IPv6 packets the internet host has received from anyone but its own router."""
    out = vpn.inet.run("nft", "list", "chain", "inet", "observe", "in").stdout
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", out))


@pytest.mark.parametrize("estate", [_ipv4_only_estate, lab_estate],
                         ids=["ipv4-only-instance", "hub-forwards-ipv6"])
def test_a_route_all_openvpn_client_that_ignores_block_ipv6_sends_no_ipv6_to_the_internet(
        small: tuple[Path, Lab], estate: Callable[[], dict[str, object]]) -> None:
    """A client with data channel offload ignores the pushed ``block-ipv6`` (the lab has no
    DCO module, so the client is told to ignore it, ``pull-filter``): its IPv6 still goes
    into the tunnel and the hub rejects it, with or without IPv6 forwarding on the hub.
    Without the IPv6 address the hub pushes, the client's IPv6 goes out directly."""
    tmp, made = small
    out = compiled(tmp, "ovpn4", estate())
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    # Counts every IPv6 packet reaching the internet host from anyone but its own router
    # (neighbour discovery aside): from the client directly, or through the hub.
    observe = tmp / "observe.nft"
    observe.write_text(
        "table inet observe {\n chain in {\n  type filter hook prerouting priority 0;\n"
        "  ip6 saddr != { fe80::/10, 2001:db8:100::1 } meta l4proto != ipv6-icmp counter\n"
        "  ip6 saddr != { fe80::/10, 2001:db8:100::1 } icmpv6 type echo-request counter\n"
        " }\n}\n", encoding="ascii")
    vpn.inet.run("nft", "-f", str(observe))
    vpn.start_hub()
    profile = vpn.profile("clients", "dave")
    dco_like = tmp / "dave-dco.ovpn"
    dco_like.write_text(profile.read_text(encoding="utf-8")
                        + 'pull-filter ignore "block-ipv6"\n', encoding="utf-8")
    dave = vpn.public("dave", "192.0.2.23")
    vpn.connect(dave, dco_like)
    # The client sends IPv6 into the tunnel from the address the hub pushed (Windows installs
    # the IPv6 routes only on an adapter with an IPv6 address; without one, they go around).
    block = re.search(r"^ifconfig-ipv6 (\S+)/64 ", vpn.artifact(
        "hub/openvpn/server.conf").read_text(encoding="utf-8"), re.MULTILINE)
    assert block is not None
    route = dave.run("ip", "-6", "route", "get", INTERNET_HOST6).stdout
    source = re.search(r"\bsrc (\S+)", route)
    assert source is not None and vpn.route_dev(dave, INTERNET_HOST6) != "eth0", route
    assert (ipaddress.ip_address(source.group(1))
            in ipaddress.ip_network(f"{block.group(1)}/64", strict=False)), route
    assert not vpn.ping(dave, INTERNET_HOST6, bound=3.0)
    assert vpn.seen_as(dave, INTERNET_HOST6, bound=3.0) is None
    assert _inet_ipv6_packets(vpn) == 0, vpn.lab.report()
    # IPv4 still goes through the hub.
    vpn.expect_reach(dave, "198.51.100.10", seen_as="192.0.2.1")
    _no_option_errors(vpn)
