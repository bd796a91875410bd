"""Issue 11 items 9 and 10: tunnel networks too small for their daemon, and port-conflict."""

from __future__ import annotations

import ipaddress
import subprocess
from pathlib import Path

import pytest

from compiler.model.instance import MAX_PREFIXLEN
from tests.support.tools import require
from tests.support.trees import INSTANCE, estate, rows


def _instance(**changes: object) -> dict[str, object]:
    """INSTANCE with some blocks replaced in place (so lines stay where they were) or added."""
    out: dict[str, object] = {k: changes.get(k, v) for k, v in INSTANCE.items()}
    out.update({k: v for k, v in changes.items() if k not in out})
    return out


@pytest.mark.parametrize(("block", "network", "longest", "daemon"), [
    ("openvpn", "10.254.0.0/30", 29, "OpenVPN"),
    ("openvpn", "10.254.0.0/31", 29, "OpenVPN"),
    ("openvpn", "10.254.0.0/32", 29, "OpenVPN"),
    ("wireguard", "10.255.0.0/31", 30, "WireGuard"),
    ("wireguard", "10.255.0.0/32", 30, "WireGuard"),
])
def test_network_too_small_for_its_daemon(
    tmp_path: Path, block: str, network: str, longest: int, daemon: str
) -> None:
    base: dict[str, object] = dict(INSTANCE[block])  # type: ignore[arg-type]
    inst = _instance(**{block: {**base, "network": network}})
    line = {"wireguard": 5, "openvpn": 9}[block]
    assert rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst,
                                    "acme-eu__peers__alice_DOT_yaml": None,
                                    "acme-eu__peers__berlin_DOT_yaml": None})) == [
        ("prefix-invalid", "error", "acme-eu/instance.yaml", line, 12,
         f"{block}.network: {network} is too small for {daemon}: it needs a /{longest} or "
         "larger network (the hub takes the first host address, peers the ones after it)"),
    ]


def test_smallest_networks_pass(tmp_path: Path) -> None:
    inst = _instance(wireguard={"port": 51820, "network": "10.255.0.0/30",
                                "network6": "fd00:255::/126"},
                     openvpn={"port": 1194, "transport": "udp", "network": "10.254.0.0/29"})
    found = rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst,
                                     "acme-eu__peers__alice_DOT_yaml": None,
                                     "acme-eu__peers__berlin_DOT_yaml": None}))
    assert found == []


def test_v6_network_too_small(tmp_path: Path) -> None:
    inst = _instance(wireguard={"port": 51820, "network": "10.255.0.0/24",
                                "network6": "fd00:255::/127"})
    found = rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst,
                                     "acme-eu__peers__alice_DOT_yaml": None,
                                     "acme-eu__peers__berlin_DOT_yaml": None}))
    assert [r[:5] for r in found] == [("prefix-invalid", "error", "acme-eu/instance.yaml", 6, 13)]
    assert found[0][5].startswith("wireguard.network6: fd00:255::/127 is too small for WireGuard:")


@pytest.mark.parametrize(("prefixlen", "accepted"), [(28, True), (29, True), (30, False)])
def test_openvpn_limit_is_the_binary_s(tmp_path: Path, prefixlen: int, accepted: bool) -> None:
    """The /29 limit is what OpenVPN 2.6 itself enforces on `server` with `dev tun`."""
    openvpn = require("openvpn")
    mask = str(ipaddress.ip_network(f"10.8.0.0/{prefixlen}").netmask)
    proc = subprocess.run(
        [openvpn, "--dev", "tun", "--topology", "subnet", "--server", "10.8.0.0", mask, "nopool",
         "--verb", "1"], capture_output=True, text=True, timeout=20, check=False)
    refused = "must define a subnet of 255.255.255.248 (/29) or lower" in proc.stdout
    assert refused != accepted
    assert (prefixlen <= MAX_PREFIXLEN[("OpenVPN", 4)]) == accepted


def test_port_conflict_between_wireguard_and_openvpn_udp(tmp_path: Path) -> None:
    inst = _instance(wireguard={"port": 1194, "network": "10.255.0.0/24"})
    message = ("{} and {} both listen on UDP port 1194 of this hub; the second would fail with "
               "'Address already in use': give each its own port")
    assert rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst})) == [
        ("port-conflict", "error", "acme-eu/instance.yaml", 4, 9,
         message.format("WireGuard", "OpenVPN")),
        ("port-conflict", "error", "acme-eu/instance.yaml", 7, 9,
         message.format("OpenVPN", "WireGuard")),
    ]


def test_port_conflict_with_a_default_port_points_at_the_block(tmp_path: Path) -> None:
    inst = _instance(wireguard={"network": "10.255.0.0/24"},
                     openvpn={"port": 51820, "network": "10.254.0.0/24"})
    found = rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst}))
    assert [r[:5] for r in found] == [
        ("port-conflict", "error", "acme-eu/instance.yaml", 4, 3),  # wireguard: (no port: key)
        ("port-conflict", "error", "acme-eu/instance.yaml", 6, 9),
    ]


def test_same_number_over_tcp_and_udp_is_fine(tmp_path: Path) -> None:
    inst = _instance(wireguard={"port": 1194, "network": "10.255.0.0/24"},
                     openvpn={"port": 1194, "transport": "tcp", "network": "10.254.0.0/24"})
    assert rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst})) == []


def test_port_conflict_with_the_hub_resolver(tmp_path: Path) -> None:
    inst = _instance(openvpn={"port": 53, "transport": "tcp", "network": "10.254.0.0/24"},
                     dns={"servers": ["10.0.0.53"], "records": {"intranet.corp.example": "10.0.0.80"}})
    found = rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst}))
    assert found == [
        ("port-conflict", "error", "acme-eu/instance.yaml", 7, 9,
         "OpenVPN and the hub's DNS resolver (dns.records) both listen on TCP port 53 of this "
         "hub; the second would fail with 'Address already in use': give each its own port"),
    ]
