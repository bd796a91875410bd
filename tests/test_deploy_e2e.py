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
from typing import Any

import pytest

from tests.support.netlab import Node, lab
from tests.support.sshhub import SshHub
from tests.support.vpnlab import VpnLab
from tests.test_e2e import FQDN, aggregate_estate, compiled

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

    def status(self, build: str) -> tuple[int, dict[str, Any]]:
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
    """A bare hub behind sshd; v1 lacks erin, v2 is the whole estate, v3 is v2 without alice.

    With aggregates, as the example estate has them: the hub routes the IPv6 one into wg0
    (wg0.conf's PostUp), a route apply.sh must keep when it syncs wg0's routes.
    """
    tmp = tmp_path_factory.mktemp("deploy")
    builds = {
        "v1": compiled(tmp, "v1", aggregate_estate(erin=None)),
        "v2": compiled(tmp, "v2", aggregate_estate()),
        "v3": compiled(tmp, "v3", aggregate_estate(alice=None)),
    }
    with lab(tmp / "lab") as made:
        vpn = VpnLab(made, builds["v1"], "acme-eu", FQDN)
        vpn.hub_lan = vpn.lan(vpn.hub, "10.0.0.0/24")
        yield Estate(vpn, SshHub(vpn, tmp / "ssh"), builds)


def _aggregate_route(estate: Estate) -> str:
    """The hub's route for the estate's IPv6 aggregate, as ``ip -6 route`` shows it."""
    shown = estate.hub.ssh("ip -6 route show exact 2001:db8:20::/48").stdout
    return " ".join(shown.split()[:3])


def _iface(vpn: VpnLab, node: Node) -> str:
    return next(name for name, owner in vpn.lab.wg_ifaces.items() if owner is node)


def test_deploy_brings_up_a_bare_hub_and_the_peers_connect(estate: Estate) -> None:
    vpn = estate.vpn
    assert estate.hub.ssh("test -e /etc/wireguard/wg0.conf").returncode == 1  # bare
    code, out, err = estate.deploy("v1")
    assert code == 0, out + err
    assert "warning" not in err  # the lab's hub blocks nothing
    v1 = estate.version("v1")
    assert out.splitlines()[-1] == f"deployed acme-eu to hub: none -> {v1}"
    assert estate.applied() == v1
    modes = estate.hub.ssh("stat -c '%a %n' /etc/wireguard/wg0.conf "
                           "/etc/openvpn/server/pki/server.key /etc/nftables.d/mvpn-acme-eu.nft"
                           " /etc/systemd/system/mvpn-acme-eu.service").stdout.split("\n")
    assert modes[:4] == ["600 /etc/wireguard/wg0.conf", "600 /etc/openvpn/server/pki/server.key",
                         "644 /etc/nftables.d/mvpn-acme-eu.nft",
                         "644 /etc/systemd/system/mvpn-acme-eu.service"]
    assert _aggregate_route(estate) == "2001:db8:20::/48 dev wg0"  # wg0.conf's PostUp
    berlin = vpn.site("berlin", "192.0.2.10", "10.20.0.0/24", "2001:db8:20::/64")
    hamburg = vpn.site("hamburg", "192.0.2.11", "10.21.0.0/24")
    vpn.client("alice", "192.0.2.20")
    vpn.expect_reach(berlin, "10.21.0.5", seen_as="10.20.0.5")
    vpn.expect_reach(hamburg, "10.0.0.5", seen_as="10.21.0.5")
    assert vpn.ping(vpn.lab.nodes["alice"], "10.0.0.5")


def test_status_reports_no_drift_after_a_deploy(estate: Estate) -> None:
    code, report = estate.status("v1")
    assert report["drift"] == [], report["drift"]
    assert code == 0
    assert report["applied"] == report["build"] == estate.version("v1")
    names = {p["name"]: p for p in report["peers"]}
    assert {"berlin", "alice", "bob"} <= names.keys()
    assert names["berlin"]["latest_handshake"] is not None  # connected in the test above
    assert names["bob"]["latest_handshake"] is None  # never started


def test_a_dry_run_changes_nothing(estate: Estate) -> None:
    code, out, err = estate.deploy("v2", "--dry-run")
    assert code == 0, out + err
    assert "apply.sh: wireguard: /etc/wireguard/wg0.conf (wg syncconf)" in out
    assert f"dry run: acme-eu {estate.version('v1')} -> {estate.version('v2')}" in out
    assert estate.applied() == estate.version("v1")


def test_adding_a_peer_loses_no_ping_and_keeps_the_other_sessions(estate: Estate) -> None:
    vpn = estate.vpn
    berlin = vpn.lab.nodes["berlin"]
    iface = _iface(vpn, berlin)
    before = berlin.run("wg", "show", iface, "latest-handshakes").stdout
    # 0.1 s apart through the hub for 8 s: the deploy happens in the middle of it.
    ping = vpn.lab.nodes["berlin-lan"].spawn("ping", "ping", "-i", "0.1", "-c", "80", "10.0.0.5")
    time.sleep(1)
    code, out, err = estate.deploy("v2")
    assert code == 0, out + err
    assert out.splitlines()[-1] == (f"deployed acme-eu to hub: {estate.version('v1')} -> "
                                    f"{estate.version('v2')}")
    assert "openvpn: started" not in out  # server.conf and PKI unchanged: not restarted
    # wg syncconf runs no PostUp, and apply.sh removes wg-quick's routes nobody wants: the
    # aggregate's route is wanted, so it stays.
    assert _aggregate_route(estate) == "2001:db8:20::/48 dev wg0"
    ping.proc.wait(timeout=30)
    log = ping.log.read_text()
    assert " 0% packet loss" in log, log
    assert berlin.run("wg", "show", iface, "latest-handshakes").stdout == before
    vpn.build = estate.builds["v2"]  # erin's profile
    erin, _ = vpn.client("erin", "192.0.2.24")
    assert vpn.ping(erin, "10.20.0.5")  # the new peer connects (erin: the Berlin office only)


def test_status_names_a_peer_added_by_hand(estate: Estate) -> None:
    key = "kH0Bu6Ch4DQm1F3p2vhBSs0ZQZ5Y2d0Y6HbT2O0vS3s="
    assert estate.hub.ssh(f"wg set wg0 peer {key} allowed-ips 10.255.0.99/32").returncode == 0
    try:
        code, report = estate.status("v2")
        assert code == 1
        assert report["drift"] == [{
            "kind": "peer", "subject": key,
            "detail": f"peer {key} (allowed IPs 10.255.0.99/32) is on the hub but not in the "
                      "build"}]
        text = estate.hub.mvpn("status", "acme-eu", "--host", "hub", "-o",
                               str(estate.builds["v2"]))
        assert f"  peer: peer {key} (allowed IPs 10.255.0.99/32)" in text.stdout
    finally:
        estate.hub.ssh(f"wg set wg0 peer {key} remove")
    assert estate.status("v2")[0] == 0


def test_a_removed_peer_is_refused_and_rollback_brings_it_back(estate: Estate) -> None:
    vpn = estate.vpn
    alice = vpn.lab.nodes["alice"]
    assert vpn.ping(alice, "10.0.0.5")
    code, out, err = estate.deploy("v3")
    assert code == 0, out + err
    assert not vpn.ping(alice, "10.0.0.5", bound=3)
    code, out, err = estate.deploy("v3", "--rollback")
    assert code == 0, out + err
    assert out.splitlines()[-1] == (f"deployed acme-eu to hub: {estate.version('v3')} -> "
                                    f"{estate.version('v2')}")
    assert vpn.ping(alice, "10.0.0.5", bound=15)  # her client re-handshakes by itself


def test_a_broken_bundle_is_refused_and_the_hub_keeps_forwarding(
        estate: Estate, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(estate.builds["v2"], broken, symlinks=True)
    nft = broken / "acme-eu" / "hub" / "nftables.conf"
    nft.write_text(nft.read_text().replace("jump access", "jump acces", 1))
    estate.builds["broken"] = broken
    code, _out, err = estate.deploy("broken")
    assert code == 1
    assert "apply.sh: invalid: nftables.conf:" in err
    assert f"the bundle {estate.version('v2')} is invalid; nothing was changed" in err
    assert "mvpn: hub refused acme-eu" in err
    assert estate.applied() == estate.version("v2")
    vpn = estate.vpn
    vpn.expect_reach(vpn.lab.nodes["berlin-lan"], "10.21.0.5", seen_as="10.20.0.5")


def test_an_older_bundle_is_refused_without_force(estate: Estate) -> None:
    v1 = estate.version("v1")
    code, out, err = estate.deploy("v1")
    assert code == 1
    assert (f"apply.sh: error: bundle {v1} is older than the installed {estate.version('v2')}"
            " (applied here before); use --force to apply it anyway") in err
    assert estate.applied() == estate.version("v2")
    code, out, err = estate.deploy("v1", "--force")
    assert code == 0, out + err
    assert estate.applied() == v1


def test_apply_warns_when_the_host_would_block_the_hub(estate: Estate) -> None:
    """Another table (like Docker's or ufw's) dropping forwarded packets, or an input policy
    that lets no VPN port in: the deploy goes through, and says so."""
    blocker = ("nft add table ip other && nft add chain ip other forwarding "
               "'{ type filter hook forward priority 10; policy drop; }' && "
               "nft add chain ip other incoming '{ type filter hook input priority 10; "
               "policy drop; }' && nft add rule ip other incoming tcp dport 22 accept")
    assert estate.hub.ssh(blocker).returncode == 0
    try:
        current = estate.applied()
        build = next(name for name in ("v1", "v2", "v3") if estate.version(name) == current)
        code, out, err = estate.deploy(build)  # the installed version again: allowed
    finally:
        estate.hub.ssh("nft delete table ip other")
    assert code == 0, out + err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert warnings == [
        "apply.sh: warning: table ip other drops forwarded packets by default (policy drop): "
        "allow the VPN networks there (Docker and ufw do this)",
        "apply.sh: warning: the input policy of table ip other drops packets and no rule names "
        "udp port 51820: clients cannot connect",
        "apply.sh: warning: the input policy of table ip other drops packets and no rule names "
        "udp port 1194: clients cannot connect",
    ]
