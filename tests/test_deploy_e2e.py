"""End-to-end: ``mvpn deploy`` and ``mvpn status`` against a real hub over real ssh (issue 16).

The hub of the end-to-end estate (tests/test_e2e.py) starts bare: only sshd runs there (see
tests/support/sshhub.py: a private /etc, /var and /run). Everything else is what ``mvpn
deploy`` and the bundle's apply.sh do. The tests run in order on one lab: a first deploy, an
added peer while traffic flows, drift, a removed peer and its rollback, a broken and an older
bundle.
"""

from __future__ import annotations

import json
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.netlab import Node, lab
from tests.support.sshhub import SshHub
from tests.support.vpnlab import VpnLab
from tests.test_e2e import FQDN, compiled, lab_estate

pytestmark = pytest.mark.netns


class Estate:
    """The lab, the ssh hub and the builds the tests deploy."""

    def __init__(self, vpn: VpnLab, hub: SshHub, builds: dict[str, Path]) -> None:
        self.vpn, self.hub, self.builds = vpn, hub, builds

    def deploy(self, build: str, *extra: str) -> tuple[int, str, str]:
        """``mvpn deploy acme-eu --host hub -o BUILD``: exit code, stdout, stderr."""
        proc = self.hub.mvpn("deploy", "acme-eu", "--host", "hub", "-o", str(self.builds[build]),
                             *extra)
        return proc.returncode, proc.stdout, proc.stderr

    def status(self, build: str) -> tuple[int, dict[str, object]]:
        """``mvpn status --format json`` against ``build``."""
        proc = self.hub.mvpn("status", "acme-eu", "--host", "hub", "-o",
                             str(self.builds[build]), "--format", "json")
        assert proc.returncode in (0, 1), proc.stderr
        return proc.returncode, json.loads(proc.stdout)

    def version(self, build: str) -> str:
        """The hub bundle version of ``build``."""
        return (self.builds[build] / "acme-eu" / "hub" / "VERSION").read_text().strip()

    def applied(self) -> str:
        """What the hub records as applied."""
        return self.hub.ssh("cat /var/lib/mvpn/acme-eu.version").stdout.strip()


@pytest.fixture(scope="module")
def estate(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Estate]:
    """A bare hub behind sshd; v1 lacks erin, v2 is the whole estate, v3 is v2 without alice."""
    tmp = tmp_path_factory.mktemp("deploy")
    builds = {
        "v1": compiled(tmp, "v1", lab_estate(erin=None)),
        "v2": compiled(tmp, "v2", lab_estate()),
        "v3": compiled(tmp, "v3", lab_estate(alice=None)),
    }
    with lab(tmp / "lab") as made:
        vpn = VpnLab(made, builds["v1"], "acme-eu", FQDN)
        vpn.hub_lan = vpn.lan(vpn.hub, "10.0.0.0/24")
        yield Estate(vpn, SshHub(vpn, tmp / "ssh"), builds)


def _iface(vpn: VpnLab, node: Node) -> str:
    return next(name for name, owner in vpn.lab.wg_ifaces.items() if owner is node)


def test_deploy_brings_up_a_bare_hub_and_the_peers_connect(estate: Estate) -> None:
    vpn = estate.vpn
    assert estate.hub.ssh("test -e /etc/wireguard/wg0.conf").returncode == 1  # bare
    code, out, err = estate.deploy("v1")
    assert code == 0, out + err
    v1 = estate.version("v1")
    assert out.splitlines()[-1] == f"deployed acme-eu to hub: none -> {v1}"
    assert estate.applied() == v1
    modes = estate.hub.ssh("stat -c '%a %n' /etc/wireguard/wg0.conf "
                           "/etc/openvpn/server/pki/server.key /etc/nftables.d/mvpn-acme-eu.nft"
                           " /etc/systemd/system/mvpn-acme-eu.service").stdout.split("\n")
    assert modes[:4] == ["600 /etc/wireguard/wg0.conf", "600 /etc/openvpn/server/pki/server.key",
                         "644 /etc/nftables.d/mvpn-acme-eu.nft",
                         "644 /etc/systemd/system/mvpn-acme-eu.service"]
    berlin = vpn.site("berlin", "192.0.2.10", "10.20.0.0/24", "2001:db8:20::/64")
    hamburg = vpn.site("hamburg", "192.0.2.11", "10.21.0.0/24")
    vpn.client("alice", "192.0.2.20")
    vpn.expect_reach(berlin, "10.21.0.5", seen_as="10.20.0.5")
    vpn.expect_reach(hamburg, "10.0.0.5", seen_as="10.21.0.5")
    assert vpn.ping(vpn.lab.nodes["alice"], "10.0.0.5")
