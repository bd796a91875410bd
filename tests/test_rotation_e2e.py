"""End-to-end: a two-step hub key rotation on real daemons (issue 17, no flag day).

The lab estate of ``tests/test_e2e.py`` at ``key_epoch: 1`` is brought up with every peer on
its profile; then the hub is reloaded with step 1 (``key_epoch: 2, retiring_key_epoch: 1``)
and step 2 (``key_epoch: 2``). What must hold: across step 1 nobody is cut off (old OpenVPN
and WireGuard profiles keep passing traffic, a step-1 profile connects); across step 2 a
profile taken in step 1 keeps working, an old OpenVPN one is refused by the hub, and
WireGuard peers need their new profile (the hub's WireGuard key changes only there), unless
they were moved to the hub's second interface (wg1, ``wireguard.next_port``) during step 1:
the second test deploys the hub with ``mvpn deploy`` and proves that migration.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tests.support.netlab import Lab, LabError, lab
from tests.support.sshhub import SshHub
from tests.support.trees import site
from tests.support.vpnlab import HUB_PUBLIC, INTERNET_HOST, Tunnel, VpnLab
from tests.test_e2e import FQDN, aggregate_estate, compiled, lab_estate

pytestmark = pytest.mark.netns

_CA_BLOCK = re.compile(r"<ca>\n.*?</ca>\n", re.DOTALL)


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[Path, Lab]]:
    """A workdir and a fresh lab for one test."""
    with lab(tmp_path / "lab") as made:
        yield tmp_path, made


def _rotated(**epochs: int) -> dict[str, object]:
    """The lab estate with the instance's key epochs set to ``epochs``."""
    files = lab_estate()
    instance = cast("dict[str, object]", files["acme-eu/instance.yaml"])
    files["acme-eu/instance.yaml"] = {**instance, **epochs}
    return files


def _refused(vpn: VpnLab, role: str, address: str, profile: Path, why: str) -> None:
    """``profile`` does not connect; the daemons' logs (in the failure) say ``why``."""
    node = vpn.public(role, address)
    with pytest.raises(LabError) as failure:
        vpn.connect(node, profile, bound=8.0)
    assert why in str(failure.value)


def _hub_openvpn_log(vpn: VpnLab) -> str:
    """What the hub's running OpenVPN server has logged."""
    logs = [t.daemon.log.read_text(errors="replace") for t in vpn.hub_tunnels
            if t.daemon is not None and t.profile.name == "server.conf"]
    assert len(logs) == 1
    return logs[0]


def test_a_two_step_hub_key_rotation_cuts_off_nobody_at_step_one_and_old_profiles_at_two(
        small: tuple[Path, Lab]) -> None:
    tmp, made = small
    v1 = compiled(tmp, "v1", lab_estate())
    step1 = compiled(tmp, "step1", _rotated(key_epoch=2, retiring_key_epoch=1))
    step2 = compiled(tmp, "step2", _rotated(key_epoch=2))
    vpn = VpnLab(made, v1, "acme-eu", FQDN)
    vpn.start_hub()
    # Every protocol on its epoch-1 profile: two sites (WireGuard, OpenVPN), two clients.
    berlin_lan = vpn.site("berlin", "192.0.2.10", "10.20.0.0/24", "2001:db8:20::/64")
    hamburg_lan = vpn.site("hamburg", "192.0.2.11", "10.21.0.0/24")
    alice, alice_tunnel = vpn.client("alice", "192.0.2.20")
    carol, carol_tunnel = vpn.client("carol", "192.0.2.22")
    vpn.expect_reach(berlin_lan, "10.21.0.5", seen_as="10.20.0.5")
    vpn.expect_reach(carol, "10.0.0.5", seen_as="10.254.0.11")

    # Step 1: OpenVPN restarts with both CAs and its running peers reconnect on their old
    # profiles (explicit-exit-notify makes them reconnect at once); wg0.conf is unchanged, so
    # WireGuard keeps running, as the hub's apply.sh leaves it.
    vpn.reload_hub(step1, keep_unchanged_wireguard=True)
    vpn.expect_reach(hamburg_lan, "10.20.0.5", seen_as="10.21.0.5")
    vpn.expect_reach(berlin_lan, "10.21.0.5", seen_as="10.20.0.5")
    vpn.expect_reach(alice, "10.0.0.5", seen_as="10.255.0.11")
    vpn.expect_reach(carol, "10.0.0.5", seen_as="10.254.0.11")
    # Carol's CA-1 certificate was checked against CA 1's CRL: OpenVPN accepts a certificate
    # whose CA has no CRL in crl.pem with only a warning, so the warning must not be there.
    log = _hub_openvpn_log(vpn)
    assert "VERIFY OK: depth=0, CN=carol" in log and "unable to get certificate CRL" not in log
    # A peer that re-imports in step 1 connects (dave's profile: both CAs, a CA-2 cert).
    dave, _ = vpn.client("dave", "192.0.2.23")
    vpn.expect_reach(dave, INTERNET_HOST, seen_as=HUB_PUBLIC)
    # So does the OpenVPN site with its step-1 .ovpn (its RouterOS script: the model tests).
    hamburg = vpn.lab.nodes["hamburg"]
    (old_site,) = [d for d in vpn.lab.daemons
                   if d.node is hamburg and d.proc.poll() is None and "openvpn" in d.log.name]
    old_site.stop()
    vpn.connect(hamburg, step1 / "acme-eu/sites/hamburg.ovpn")
    vpn.expect_reach(hamburg_lan, "10.20.0.5", seen_as="10.21.0.5")
    assert (step1 / "acme-eu/clients/alice.conf").read_bytes() == \
        (v1 / "acme-eu/clients/alice.conf").read_bytes()  # WireGuard: nothing to re-import

    # Step 2: the hub serves and trusts epoch 2 only.
    carol_tunnel.down()
    vpn.reload_hub(step2)
    # The step-1 profiles keep working (they reconnect to the restarted hub).
    vpn.expect_reach(dave, INTERNET_HOST, seen_as=HUB_PUBLIC)
    vpn.expect_reach(hamburg_lan, "10.0.0.5", seen_as="10.21.0.5")
    # Carol's epoch-1 profile is refused: it does not trust the hub's new certificate...
    old = v1 / "acme-eu/clients/carol.ovpn"
    _refused(vpn, "old-carol", "192.0.2.41", old,
             "VERIFY ERROR: depth=1, error=self-signed certificate in certificate chain: "
             "CN=mvpn acme-eu CA epoch2")
    # ...and the hub refuses its CA-1 certificate even from a client that trusts CA 2.
    text = old.read_text(encoding="utf-8")
    new_ca = _CA_BLOCK.search((step2 / "acme-eu/clients/carol.ovpn").read_text(encoding="utf-8"))
    assert new_ca is not None
    trusting = tmp / "carol-old-cert-new-ca.ovpn"
    trusting.write_text(_CA_BLOCK.sub(new_ca.group(0), text), encoding="utf-8")
    _refused(vpn, "old-carol-2", "192.0.2.42", trusting,
             "VERIFY ERROR: depth=0, error=unable to get local issuer certificate: CN=carol")
    # WireGuard peers switch at step 2: the old profile gets no handshake, the new one works.
    assert not vpn.ping(alice, "10.0.0.5", bound=3.0)
    alice_tunnel.down()
    vpn.connect(alice, step2 / "acme-eu/clients/alice.conf")
    vpn.expect_reach(alice, "10.0.0.5", seen_as="10.255.0.11")


# ------------------------------------------------------------------ WireGuard: wg1, no flag day

#: A second WireGuard site, its IPv6 LAN inside the aggregate wg0 routes (2001:db8:20::/48).
MUNICH = site("munich-office", "10.255.0.20", ["10.22.0.0/24", "2001:db8:20:1::/64"],
              address6="fd00:255::20")


def _wg_estate(**moved: dict[str, object]) -> dict[str, object]:
    munich = moved.pop("munich", {})
    files = aggregate_estate(**moved)
    files["acme-eu/peers/munich.yaml"] = {**MUNICH, **munich}
    return files


def _wg_rotation(step: int) -> dict[str, object]:
    """The lab estate (with aggregates, and munich) at step 1 with ``next_port`` and alice and
    munich moved, or at step 2 with the port switched (their hub_key_epoch left in: it is
    harmless)."""
    files = _wg_estate(alice={"hub_key_epoch": 2}, munich={"hub_key_epoch": 2})
    instance = cast("dict[str, Any]", files["acme-eu/instance.yaml"])
    if step == 1:
        wireguard = {**instance["wireguard"], "next_port": 51821}
        files["acme-eu/instance.yaml"] = {**instance, "wireguard": wireguard,
                                          "key_epoch": 2, "retiring_key_epoch": 1}
    else:
        wireguard = {**instance["wireguard"], "port": 51821}
        files["acme-eu/instance.yaml"] = {**instance, "wireguard": wireguard, "key_epoch": 2}
    return files


def _tunnels(vpn: VpnLab, node: Any) -> list[Tunnel]:
    """The WireGuard tunnels the lab runs on ``node`` (started by ``vpn.site``)."""
    return [Tunnel(node, Path(), iface=name) for name, owner in vpn.lab.wg_ifaces.items()
            if owner is node and (vpn.lab.workdir / "wg" / f"{name}.conf").exists()]


def _deploy(hub: SshHub, build: Path) -> str:
    """``mvpn deploy`` of ``build`` to the lab's bare hub (its own apply.sh); its output."""
    proc = hub.mvpn("deploy", "acme-eu", "--host", "hub", "-o", str(build))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def _drift(hub: SshHub, build: Path) -> list[Any]:
    proc = hub.mvpn("status", "acme-eu", "--host", "hub", "-o", str(build), "--format", "json")
    assert proc.returncode in (0, 1), proc.stderr
    return cast("list[Any]", json.loads(proc.stdout)["drift"])


def test_wireguard_peers_move_to_the_new_hub_key_on_wg1_and_keep_working_after_step_two(
        small: tuple[Path, Lab]) -> None:
    """Step 1 with next_port: an unmoved site on its old profile and a moved client on its new
    one both work, also with each other (wg0 <-> wg1) and with the hub's resolver; step 2 with
    the port switched: the moved client's profile is the same bytes and keeps working, wg1 is
    gone. The hub is deployed by ``mvpn deploy`` (its apply.sh) over ssh, as in production."""
    tmp, made = small
    v1 = compiled(tmp, "wg-v1", _wg_estate())
    step1 = compiled(tmp, "wg-step1", _wg_rotation(1))
    step2 = compiled(tmp, "wg-step2", _wg_rotation(2))
    vpn = VpnLab(made, v1, "acme-eu", FQDN)
    vpn.hub_lan = vpn.lan(vpn.hub, "10.0.0.0/24")
    hub = SshHub(vpn, tmp / "ssh")
    _deploy(hub, v1)
    berlin_lan = vpn.site("berlin", "192.0.2.10", "10.20.0.0/24", "2001:db8:20::/64")
    munich_lan = vpn.site("munich", "192.0.2.12", "10.22.0.0/24", "2001:db8:20:1::/64")
    alice, alice_tunnel = vpn.client("alice", "192.0.2.20")
    vpn.echo(alice)
    vpn.expect_reach(alice, "10.20.0.5", seen_as="10.255.0.11")

    # Step 1: wg1 comes up with epoch 2's key on 51821 and alice (moved) on it; not over a
    # wg1 the hub's operator made (the deploy is refused and changes nothing).
    assert hub.ssh("echo '[Interface]' >/etc/wireguard/wg1.conf").returncode == 0
    refused = hub.mvpn("deploy", "acme-eu", "--host", "hub", "-o", str(step1))
    assert refused.returncode != 0
    assert ("apply.sh: invalid: /etc/wireguard/wg1.conf is not this bundle's (no mvpn acme-eu "
            "header)") in refused.stderr, refused.stdout + refused.stderr
    assert hub.ssh("cat /etc/wireguard/wg1.conf").stdout == "[Interface]\n"
    assert hub.ssh("rm /etc/wireguard/wg1.conf").returncode == 0
    out = _deploy(hub, step1)
    assert "apply.sh: wireguard: wg1 up" in out, out
    assert _drift(hub, step1) == []
    site = "acme-eu/sites/berlin.conf"
    assert (step1 / site).read_bytes() == (v1 / site).read_bytes()  # berlin stays as it was
    alice_tunnel.down()
    alice_tunnel = vpn.connect(alice, step1 / "acme-eu/clients/alice.conf")
    munich = vpn.lab.nodes["munich"]
    (munich_tunnel,) = _tunnels(vpn, munich)
    munich_tunnel.down()
    vpn.connect(munich, step1 / "acme-eu/sites/munich.conf")
    # The unmoved site (wg0, old key) and the moved client (wg1, new key), both ways.
    vpn.expect_reach(berlin_lan, "10.0.0.5", seen_as="10.20.0.5")
    vpn.expect_reach(alice, "10.0.0.5", seen_as="10.255.0.11")
    vpn.expect_reach(alice, "10.20.0.5", seen_as="10.255.0.11")
    vpn.expect_reach(alice, "2001:db8:20::5", seen_as="fd00:255::11")
    vpn.expect_reach(berlin_lan, "10.255.0.11", seen_as="10.20.0.5")
    vpn.expect_reach(berlin_lan, "fd00:255::11", seen_as="2001:db8:20::5")
    # A moved site inside the aggregates: its own routes on wg1 beat wg0's IPv6 aggregate
    # (and OpenVPN's IPv4 one), from the unmoved site and the moved client alike.
    route = hub.ssh("ip -6 route get 2001:db8:20:1::5").stdout.split()
    assert route[route.index("dev") + 1] == "wg1", route
    vpn.expect_reach(berlin_lan, "10.22.0.5", seen_as="10.20.0.5")
    vpn.expect_reach(munich_lan, "2001:db8:20::5", seen_as="2001:db8:20:1::5")
    vpn.expect_reach(alice, "2001:db8:20:1::5", seen_as="fd00:255::11")
    # The hub's own packets to alice leave through wg1 with its tunnel address (wg1's /32).
    route = hub.ssh("ip route get 10.255.0.11").stdout.split()
    assert route[route.index("dev") + 1] == "wg1" and route[route.index("src") + 1] == "10.255.0.1"
    assert hub.ssh("ping -c 1 -W 2 10.255.0.11").returncode == 0
    # The hub's resolver answers alice on wg1.
    answer = alice.run("dig", "+short", "+time=2", "+tries=2", "@10.255.0.1",
                       "intranet.corp.example").stdout.split()
    assert answer == ["10.0.0.80"], vpn.lab.report()

    # Step 2: wg0 takes epoch 2's key and wg1's port; wg1 goes. Alice re-imports nothing.
    for rel in ("clients/alice.conf", "sites/munich.conf", "sites/munich.rsc"):
        assert (step2 / "acme-eu" / rel).read_bytes() == (step1 / "acme-eu" / rel).read_bytes()
    out = _deploy(hub, step2)
    assert "apply.sh: wireguard: wg1 down" in out, out
    assert hub.ssh("ip link show wg1").returncode != 0
    assert hub.ssh("test -e /etc/wireguard/wg1.conf").returncode == 1
    assert _drift(hub, step2) == []
    # Her running tunnel's session was wg1's: WireGuard handshakes again once data goes
    # unanswered (10 s keepalive timeout + 5 s rekey), with the same key and port on wg0.
    seen = vpn.seen_as(alice, "10.0.0.5", bound=40.0)
    assert seen == "10.255.0.11", vpn.lab.report()
    assert vpn.seen_as(munich_lan, "10.0.0.5", bound=40.0) == "10.22.0.5", vpn.lab.report()
    vpn.expect_reach(alice, "10.22.0.5", seen_as="10.255.0.11")
    # The site that never moved is the one cut off (its old profile has the old key).
    assert not vpn.ping(berlin_lan, "10.0.0.5", bound=3.0)
