"""End-to-end: a two-step hub key rotation on real daemons (issue 17, no flag day).

The lab estate of ``tests/test_e2e.py`` at ``key_epoch: 1`` is brought up with every peer on
its profile; then the hub is reloaded with step 1 (``key_epoch: 2, retiring_key_epoch: 1``)
and step 2 (``key_epoch: 2``). What must hold: across step 1 nobody is cut off (old OpenVPN
and WireGuard profiles keep passing traffic, a step-1 profile connects); across step 2 a
profile taken in step 1 keeps working, an old OpenVPN one is refused by the hub, and
WireGuard peers need their new profile (the hub's WireGuard key changes only there).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.support.netlab import Lab, LabError, lab
from tests.support.vpnlab import HUB_PUBLIC, INTERNET_HOST, VpnLab
from tests.test_e2e import FQDN, compiled, lab_estate

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
