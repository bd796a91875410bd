"""End-to-end: hub and client fidelity on real daemons (issue 17).

Each test compiles a variant of the lab estate of ``tests/test_e2e.py`` and brings it up in a
fresh lab: split DNS that still resolves the internet, OpenVPN with a DCO-compatible cipher list,
and the hub's firewall details (MSS clamping, anti-spoofing).
"""

from __future__ import annotations

import base64
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import cast

import pytest

from tests.support.netlab import Lab, lab
from tests.support.vpnlab import INTERNET_HOST, VpnLab
from tests.test_e2e import FQDN, aggregate_estate, compiled, lab_estate, wireguard_only

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
    """The hub offers only AEAD ciphers: a site and a client negotiate AES-256-GCM, OpenVPN
    accepts the generated server.conf as it is, and finds nothing in it (or in the profiles)
    that rules out data channel offload."""
    tmp, made = small
    out = compiled(tmp, "gcm", lab_estate())
    server = (out / "acme-eu/hub/openvpn/server.conf").read_text(encoding="ascii")
    assert "CBC" not in server.split("# What RouterOS speaks")[1]
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    vpn.start_hub()
    vpn.site("hamburg", "192.0.2.11", "10.21.0.0/24")
    vpn.client("carol", "192.0.2.22")
    vpn.expect_reach(vpn.lab.nodes["carol"], "10.0.0.5")
    hub = next(t.daemon for t in vpn.hub_tunnels if t.daemon and t.profile.name == "server.conf")
    for cn in ("hamburg", "carol"):  # the hub's log names each peer by its certificate's CN
        assert hub.wait_for(f"{cn}/[0-9.:]+ Data Channel: cipher 'AES-256-GCM'"), \
            vpn.lab.report()
    assert "CBC" not in hub.log.read_text(errors="replace").split("Initialization Sequence")[1]
    # OpenVPN checks the options against DCO before it looks for the kernel module: with a
    # CBC cipher the hub said "--data-ciphers-fallback with cipher 'AES-256-CBC' disables data
    # channel offload"; now only the lab's missing module stops it (checked with 2.6.14).
    for log in (hub.log, made.log_path("hamburg-openvpn-hamburg"),
                made.log_path("carol-openvpn-carol")):
        notes = re.findall(r"Note: (.*)disabling data channel offload|Note: (.*) disables data "
                           r"channel offload", log.read_text(errors="replace"))
        assert notes == [("Kernel support for ovpn-dco missing, ", "")], (log.name, notes)


# A server that sends SIZE bytes to every connection, and a client that counts what arrives.
_SEND = """
import socket, sys
srv = socket.create_server(("0.0.0.0", int(sys.argv[1])))
while True:
    conn, _ = srv.accept()
    conn.sendall(b"x" * int(sys.argv[2]))
    conn.close()
"""
_RECEIVE = """
import socket, sys
got = 0
try:
    with socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3) as conn:
        while chunk := conn.recv(65536):
            got += len(chunk)
except OSError:
    pass
print(got)
"""
_NO_FRAG_NEEDED = """table inet blackhole {
	chain output {
		type filter hook output priority filter; policy accept;
		icmp type destination-unreachable icmp code frag-needed drop
	}
}
"""
TRANSFER_PORT = 7100
TRANSFER_SIZE = 2_000_000


def _transfer(vpn: VpnLab, role: str, address: str) -> int:
    """Bytes ``role`` receives from the transfer server at ``address`` (stalls count short)."""
    node = vpn.lab.nodes[role]
    proc = node.run(sys.executable, "-c", _RECEIVE, address, str(TRANSFER_PORT), bound=30)
    return int(proc.stdout)


def test_a_large_transfer_through_a_site_with_a_smaller_lan_mtu_needs_the_hub_clamp(
        small: tuple[Path, Lab]) -> None:
    """The Berlin router's LAN link has MTU 1400 (its host's side 1500) and its ICMP errors
    are filtered: a path MTU black hole. With ``mtu: 1400`` on the site the hub clamps the SYN
    to MSS 1360 and 2 MB arrive; without the clamp the transfer stalls."""
    tmp, made = small
    out = compiled(tmp, "mtu", lab_estate(berlin={"mtu": 1400}))
    nft = (out / "acme-eu/hub/nftables.conf").read_text(encoding="ascii")
    assert "ip daddr { 10.255.0.10, 10.20.0.0/24 } tcp flags syn tcp option maxseg size set 1360" \
        in nft
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    vpn.start_hub()
    host = vpn.site("berlin", "192.0.2.10", "10.20.0.0/24")
    router = made.nodes["berlin"]
    router.run("ip", "link", "set", "lan0", "mtu", "1400")
    # The router's "fragmentation needed" errors are filtered (as on many real paths), so
    # path MTU discovery cannot help: only the MSS clamp can.
    rules = made.workdir / "no-pmtud.nft"
    rules.write_text(_NO_FRAG_NEEDED, encoding="ascii")
    router.run("nft", "-f", str(rules))
    host.spawn("transfer", sys.executable, "-c", _SEND, str(TRANSFER_PORT), str(TRANSFER_SIZE))
    vpn.client("alice", "192.0.2.20")
    vpn.expect_reach(made.nodes["alice"], "10.20.0.5")
    assert _transfer(vpn, "alice", "10.20.0.5") == TRANSFER_SIZE, vpn.lab.report()
    vpn.hub.run("nft", "flush", "chain", "inet", "mvpn", "mss")
    assert _transfer(vpn, "alice", "10.20.0.5") < TRANSFER_SIZE


_COUNT_FROM = """table inet probe {{
	chain input {{
		type filter hook input priority filter; policy accept;
		ip saddr {source} tcp dport {port} counter
	}}
}}
"""


@pytest.mark.parametrize("source", ["10.255.0.11", "10.22.0.9"])
def test_a_packet_from_the_wan_with_a_peers_source_address_is_dropped(
        small: tuple[Path, Lab], source: str) -> None:
    """An attacker on the internet sends TCP SYNs to the hub's LAN with alice's tunnel address
    as their source: the hub's anti-spoofing chain drops them (they never reach the LAN host),
    though the forwarding rules (which match addresses only) would let them through.

    ``10.22.0.9``: an unassigned address of an aggregate of a WireGuard-only hub, where the
    firewall's peer space is the whole aggregate: its route into wg0 is what the chain's
    ``fib saddr . iif`` finds, so this source is refused on the WAN too."""
    tmp, made = small
    if source == "10.255.0.11":
        out = compiled(tmp, "spoof", lab_estate())
    else:
        gone: dict[str, dict[str, object] | None] = {"hamburg": None, "carol": None,
                                                     "dave": None}
        out = compiled(tmp, "spoof", wireguard_only(aggregate_estate(**gone)))
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    lan = vpn.start_hub()
    vpn.client("alice", "192.0.2.20")
    rules = made.workdir / "probe.nft"
    rules.write_text(_COUNT_FROM.format(source=source, port=7000), encoding="ascii")
    lan.run("nft", "-f", str(rules))
    attacker = vpn.public("attacker", "192.0.2.50")
    attacker.run("ip", "addr", "add", f"{source}/32", "dev", "eth0")
    attacker.route("10.0.0.0/24", "via", "192.0.2.1", "src", source)

    def arrived() -> int:
        attacker.run(sys.executable, "-c", _SYN, "10.0.0.5", "7000", check=False)
        shown = lan.run("nft", "list", "chain", "inet", "probe", "input").stdout
        return int(shown.split("packets ")[1].split()[0])

    assert arrived() == 0, vpn.lab.report()
    vpn.hub.run("nft", "flush", "chain", "inet", "mvpn", "antispoof")
    assert arrived() > 0  # the same packets pass without the chain: the test can fail


_SYN = """
import socket, sys
try:
    socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
except OSError:
    pass
"""


def test_wireguard_handshakes_with_the_preshared_key_and_not_with_a_wrong_one(
        small: tuple[Path, Lab]) -> None:
    """Hub and profiles carry the derived preshared key: alice's profile connects; the same
    profile with another preshared key gets no handshake (the key is really used)."""
    tmp, made = small
    out = compiled(tmp, "psk", lab_estate())
    vpn = VpnLab(made, out, "acme-eu", FQDN)
    vpn.start_hub()
    hub_wg = vpn.hub_tunnels[0].iface
    assert hub_wg is not None
    shown = vpn.hub.run("wg", "show", hub_wg, "preshared-keys").stdout.split()
    assert "(none)" not in shown and len(shown) == 2 * 4, shown  # every WireGuard peer has one
    alice, tunnel = vpn.client("alice", "192.0.2.20")
    vpn.expect_reach(alice, "10.0.0.5")
    tunnel.down()
    profile = vpn.profile("clients", "alice").read_text(encoding="ascii")
    wrong_psk = base64.b64encode(bytes(range(32))).decode("ascii")
    wrong = re.sub(r"(?m)^PresharedKey = .*$", f"PresharedKey = {wrong_psk}", profile)
    assert wrong != profile
    forged = tmp / "alice-wrong-psk.conf"
    forged.write_text(wrong, encoding="ascii")
    forged.chmod(0o600)
    mallory = vpn.public("mallory", "192.0.2.40")
    bad = vpn.connect(mallory, forged)
    assert not vpn.ping(mallory, "10.0.0.5", bound=3.0), vpn.lab.report()
    handshakes = mallory.run("wg", "show", str(bad.iface), "latest-handshakes").stdout.split()
    assert handshakes[1:] == ["0"], vpn.lab.report()
