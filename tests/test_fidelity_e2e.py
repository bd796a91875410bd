"""End-to-end: hub and client fidelity on real daemons (issue 17).

Each test compiles a variant of the lab estate of ``tests/test_e2e.py`` and brings it up in a
fresh lab: split DNS that still resolves the internet, OpenVPN with a DCO-compatible cipher list,
and the hub's firewall details (MSS clamping, anti-spoofing).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.support.netlab import Lab, lab
from tests.support.vpnlab import INTERNET_HOST, VpnLab
from tests.test_e2e import FQDN, compiled, lab_estate

pytestmark = pytest.mark.netns

#: A name only the internet host's resolver knows (the lab has no other DNS).
INTERNET_NAME = "www.example.org"
INTERNET_NAME_ADDRESS = "198.51.100.80"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[Path, Lab]]:
    """A workdir and a fresh lab for one test."""
    with lab(tmp_path / "lab") as made:
        yield tmp_path, made


def _with_dns(**dns: object) -> dict[str, object]:
    files = lab_estate()
    instance = cast("dict[str, dict[str, object]]", files["acme-eu/instance.yaml"])
    files["acme-eu/instance.yaml"] = {**instance, "dns": {**instance["dns"], **dns}}
    return files


def _internet_resolver(vpn: VpnLab) -> None:
    """A resolver on the internet host that knows :data:`INTERNET_NAME` only."""
    daemon = vpn.inet.spawn(
        "dnsmasq-inet", "dnsmasq", "--keep-in-foreground", "--log-facility=-", "--no-resolv",
        "--no-hosts", f"--listen-address={INTERNET_HOST}", "--bind-interfaces",
        f"--host-record={INTERNET_NAME},{INTERNET_NAME_ADDRESS}",
        f"--pid-file={vpn.lab.workdir / 'dnsmasq-inet.pid'}")
    if not daemon.wait_for("started, version"):
        vpn.lab.fail("the internet host's resolver did not start")


def _dig(vpn: VpnLab, role: str, server: str, name: str) -> list[str]:
    node = vpn.lab.nodes[role]
    return node.run("dig", "+short", "+time=2", "+tries=2", f"@{server}", name).stdout.split()


@pytest.mark.parametrize("upstream", [None, INTERNET_HOST], ids=["resolv-conf", "upstream"])
def test_split_dns_hub_resolves_vpn_names_and_forwards_the_internet(
        small: tuple[Path, Lab], upstream: str | None) -> None:
    """A client that sends every query to the hub (as OpenVPN 2.6 on Windows and Android does
    under split DNS) resolves both a VPN record and an internet name; the hub forwards the
    internet name to ``dns.upstream``, or without it to its own ``/etc/resolv.conf``."""
    tmp, made = small
    dns: dict[str, object] = {"split": True}
    if upstream:
        dns["upstream"] = [upstream]
    out = compiled(tmp, "split", _with_dns(**dns))
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    _internet_resolver(vpn)
    if upstream is None:
        (vpn.hub.etc / "resolv.conf").write_text(f"nameserver {INTERNET_HOST}\n",
                                                 encoding="ascii")
    vpn.start_hub()
    vpn.client("alice", "192.0.2.20")
    vpn.client("carol", "192.0.2.22")
    for role, hub in (("alice", "10.255.0.1"), ("carol", "10.254.0.1")):
        assert _dig(vpn, role, hub, "intranet.corp.example") == ["10.0.0.80"], vpn.lab.report()
        assert _dig(vpn, role, hub, INTERNET_NAME) == [INTERNET_NAME_ADDRESS], vpn.lab.report()


def test_openvpn_negotiates_aes_256_gcm_without_a_cbc_fallback(small: tuple[Path, Lab]) -> None:
    """The hub offers only AEAD ciphers (DCO-compatible): a site and a client negotiate
    AES-256-GCM, and OpenVPN accepts the generated server.conf as it is."""
    tmp, made = small
    out = compiled(tmp, "gcm", lab_estate())
    server = (out / "acme-eu/hub/openvpn/server.conf").read_text(encoding="ascii")
    assert "CBC" not in server.split("# What RouterOS speaks")[1]
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    vpn.start_hub()
    vpn.site("hamburg", "192.0.2.11", "10.21.0.0/24")
    vpn.client("carol", "192.0.2.22")
    vpn.expect_reach(vpn.lab.nodes["carol"], "10.0.0.5")
    logs = "".join(p.read_text(errors="replace") for p in made.logdir.glob("hub-openvpn*"))
    assert logs.count("Data Channel: cipher 'AES-256-GCM'") >= 2, vpn.lab.report()
