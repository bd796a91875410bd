"""Issue 17, unit level: what the hub and the profiles say about DNS, ciphers, MTU and IPv6.

The same behaviour is proven on real daemons in ``tests/test_fidelity_e2e.py``; here each
rendered line is pinned, and the model refuses bad ``mtu`` and ``uplink`` values with a
diagnostic at the value.
"""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from compiler.api import compile_tree
from compiler.keys import SALT, KeyRing
from compiler.render import context
from tests.support.trees import INSTANCE, TEST_SECRET, build_file_tree, client, estate, rows, site


def _build(tmp_path: Path, files: dict[str, object]) -> Path:
    root = build_file_tree(tmp_path / "tree", files)  # type: ignore[arg-type]
    out = tmp_path / "out"
    result = compile_tree(root, out, TEST_SECRET, qr=False)
    assert result.check.ok, [d.message for d in result.check.diagnostics.sorted()]
    return out / "acme-eu"


def _text(out: Path, rel: str) -> str:
    return (out / rel).read_text(encoding="utf-8")


def _lines(out: Path, rel: str) -> list[str]:
    # Without the header (its version changes with the content).
    return _text(out, rel).splitlines()[1:]


def _instance(**changes: object) -> dict[str, object]:
    return {**INSTANCE, **changes}


# ------------------------------------------------------------------ split DNS


DNS = {"servers": ["10.0.0.53"], "domains": ["corp.example"],
       "records": {"intranet.corp.example": "10.0.0.80"}}


@pytest.mark.parametrize(("dns", "tail"), [
    # split: the VPN domains go to dns.servers, everything else to dns.upstream
    ({**DNS, "split": True, "upstream": ["9.9.9.9", "2620:fe::fe"]},
     ["no-resolv", "server=/corp.example/10.0.0.53",
      "# Everything else: 9.9.9.9, 2620:fe::fe.", "server=9.9.9.9", "server=2620:fe::fe"]),
    # split without upstream: the hub's own resolv.conf (no no-resolv), never refused
    ({**DNS, "split": True},
     ["server=/corp.example/10.0.0.53",
      "# Everything else: the hub's own resolver (/etc/resolv.conf)."]),
    # not split: clients send everything here, and dns.servers answers everything
    (DNS, ["no-resolv", "server=/corp.example/10.0.0.53", "# Everything else: 10.0.0.53.",
           "server=10.0.0.53"]),
    # not split, upstream set: the VPN domains to dns.servers, the rest to dns.upstream
    ({**DNS, "upstream": ["9.9.9.9"]},
     ["no-resolv", "server=/corp.example/10.0.0.53", "# Everything else: 9.9.9.9.",
      "server=9.9.9.9"]),
    # records only: the rest goes to the hub's own resolver instead of being refused
    ({"records": {"intranet.corp.example": "10.0.0.80"}},
     ["# Everything else: the hub's own resolver (/etc/resolv.conf)."]),
], ids=["split-upstream", "split-resolv-conf", "full", "full-upstream", "records-only"])
def test_the_hub_resolver_forwards_names_outside_the_vpn(
        tmp_path: Path, dns: dict[str, object], tail: list[str]) -> None:
    out = _build(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": _instance(dns=dns)}))
    lines = [line for line in _lines(out, "hub/dns/dnsmasq.conf")
             if line.startswith(("no-resolv", "server=", "# Everything"))]
    assert lines == tail


def test_upstream_must_be_addresses(tmp_path: Path) -> None:
    inst = _instance(dns={"split": True, "upstream": ["dns.example"]})
    found = rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst}))
    assert [row[:5] for row in found] == [
        ("address-invalid", "error", "acme-eu/instance.yaml", 17, 5)], found


# ------------------------------------------------------------------ ciphers


def test_the_hub_offers_aead_ciphers_only_when_every_site_has_gcm(tmp_path: Path) -> None:
    files = estate(**{"acme-eu__peers__hamburg_DOT_yaml": site(
        "hamburg", "10.254.0.10", ["10.21.0.0/24"], protocol="openvpn", routeros="7.9")})
    lines = _lines(_build(tmp_path, files), "hub/openvpn/server.conf")
    ciphers = [line for line in lines if "cipher" in line.lower() or "DCO" in line]
    assert ciphers == [
        "# AEAD ciphers only, so data channel offload (DCO) stays on: the RouterOS of every "
        "OpenVPN site",
        "# here has cipher=aes256-gcm (mvpn's RouterOS data), and so do OpenVPN 2.4+ clients.",
        "data-ciphers AES-256-GCM:AES-128-GCM",
    ]


def test_a_site_without_gcm_brings_back_cbc_and_says_why(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(context, "routeros_has_gcm", lambda version: version != "7.9")
    files = estate(**{"acme-eu__peers__hamburg_DOT_yaml": site(
        "hamburg", "10.254.0.10", ["10.21.0.0/24"], protocol="openvpn", routeros="7.9")})
    lines = _lines(_build(tmp_path, files), "hub/openvpn/server.conf")
    assert [line for line in lines if "CBC" in line] == [
        "# AES-256-CBC for hamburg (RouterOS without GCM); it turns data channel offload (DCO) "
        "off.",
        "data-ciphers AES-256-GCM:AES-128-GCM:AES-256-CBC",
        "data-ciphers-fallback AES-256-CBC",
    ]


@pytest.mark.parametrize("version", ["7.9", "7.16", "7.24"])
def test_routeros_data_has_gcm_for_ovpn_client(version: str) -> None:
    assert context.routeros_has_gcm(version)


# ------------------------------------------------------------------ MTU and MSS


def test_mtu_reaches_every_tunnel_and_the_hub_clamps_a_smaller_site(tmp_path: Path) -> None:
    files = estate(**{
        "acme-eu__instance_DOT_yaml": _instance(mtu=1420),
        "acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10", ["10.20.0.0/24"],
                                                mtu=1412),
        "acme-eu__peers__hamburg_DOT_yaml": site(
            "hamburg", "10.254.0.10", ["10.21.0.0/24"], protocol="openvpn", mtu=1392),
        "acme-eu__peers__carol_DOT_yaml": client("carol@example.com", "10.254.0.11",
                                                 protocol="openvpn"),
    })
    out = _build(tmp_path, files)
    assert "MTU = 1420" in _lines(out, "hub/wireguard/wg0.conf")
    assert "tun-mtu 1420" in _lines(out, "hub/openvpn/server.conf")
    assert "MTU = 1420" in _lines(out, "clients/alice.conf")
    assert "tun-mtu 1420" in _lines(out, "clients/carol.ovpn")
    assert "MTU = 1412" in _lines(out, "sites/berlin.conf")
    assert "tun-mtu 1392" in _lines(out, "sites/hamburg.ovpn")
    mss = _text(out, "hub/nftables.conf").split("chain mss {")[1].split("}\n")[0]
    assert [line.strip() for line in mss.splitlines()[1:] if line.strip()] == [
        "type filter hook forward priority mangle; policy accept;",
        "ip daddr { 10.255.0.10, 10.20.0.0/24 } tcp flags syn tcp option maxseg size set 1372",
        "ip saddr { 10.255.0.10, 10.20.0.0/24 } tcp flags syn tcp option maxseg size set 1372",
        "ip daddr { 10.254.0.10, 10.21.0.0/24 } tcp flags syn tcp option maxseg size set 1352",
        "ip saddr { 10.254.0.10, 10.21.0.0/24 } tcp flags syn tcp option maxseg size set 1352",
        "tcp flags syn tcp option maxseg size set rt mtu",
    ]


def test_without_mtu_nothing_is_pinned(tmp_path: Path) -> None:
    out = _build(tmp_path, estate())
    assert not [line for line in _text(out, "hub/wireguard/wg0.conf").splitlines()
                if line.startswith("MTU")]
    assert "tun-mtu" not in _text(out, "hub/openvpn/server.conf")
    mss = _text(out, "hub/nftables.conf").split("chain mss {")[1].split("}\n")[0]
    assert "set rt mtu" in mss and "set 1" not in mss


@pytest.mark.parametrize(("where", "value", "row"), [
    ("instance", 1279, ("acme-eu/instance.yaml", 14, 6,
                        "mtu: input should be greater than or equal to 1280")),
    ("instance", 9001, ("acme-eu/instance.yaml", 14, 6,
                        "mtu: input should be less than or equal to 9000")),
    ("instance", "1400", ("acme-eu/instance.yaml", 14, 6,
                          "mtu: expected a whole number, got '1400'")),
    ("site", 576, ("acme-eu/peers/berlin.yaml", 7, 6,
                   "mtu: input should be greater than or equal to 1280")),
])
def test_mtu_out_of_range_is_a_diagnostic_at_the_value(
        tmp_path: Path, where: str, value: object, row: tuple[str, int, int, str]) -> None:
    if where == "instance":
        files = estate(**{"acme-eu__instance_DOT_yaml": _instance(mtu=value)})
    else:
        files = estate(**{"acme-eu__peers__berlin_DOT_yaml": site(
            "berlin", "10.255.0.10", ["10.20.0.0/24"], mtu=value)})
    assert rows(tmp_path, files) == [("schema", "error", *row)]


# ------------------------------------------------------------------ IPv6 and the uplink


def test_an_ipv4_only_hub_does_not_forward_ipv6(tmp_path: Path) -> None:
    out = _build(tmp_path, estate())
    assert _lines(out, "hub/sysctl.conf") == [
        "# The hub routes between peers and (for route-all clients) to the internet.",
        "net.ipv4.ip_forward = 1",
        "# No IPv6 in this instance: IPv6 forwarding stays off (and the uplink keeps its RAs).",
    ]


def test_an_ipv6_hub_forwards_and_keeps_router_advertisements_on_its_uplink(
        tmp_path: Path) -> None:
    # An IPv6 network behind the hub is enough (no IPv6 tunnel network needed).
    routing = {"pushed_routes": ["10.0.0.0/16", "2001:db8:1::/48"], "egress": "nat"}
    out = _build(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": _instance(
        routing=routing, uplink="ens3.100")}))
    assert _lines(out, "hub/sysctl.conf")[-4:] == [
        "net.ipv6.conf.all.forwarding = 1",
        "# A forwarding interface ignores router advertisements unless accept_ra is 2: the uplink",
        "# would lose its IPv6 default route. (Slashes: an interface name may contain dots.)",
        "net/ipv6/conf/ens3.100/accept_ra = 2",
    ]


@pytest.mark.parametrize("uplink", ["eth0/all", "a" * 16, "eth 0", "", "-eth0", 5])
def test_a_bad_uplink_name_is_refused(tmp_path: Path, uplink: object) -> None:
    found = rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": _instance(uplink=uplink)}))
    assert found == [("schema", "error", "acme-eu/instance.yaml", 14, 9,
                      f"uplink: '{uplink}' is not a Linux interface name (1-15 letters, "
                      "digits, '_', '.' or '-', starting with a letter or digit)")]


def test_route_all_openvpn_clients_get_block_outside_dns(tmp_path: Path) -> None:
    out = _build(tmp_path, estate(**{"acme-eu__peers__carol_DOT_yaml": client(
        "carol@example.com", "10.254.0.11", protocol="openvpn", route_all=True)}))
    assert 'push "block-outside-dns"' in _lines(out, "hub/openvpn/ccd/carol")
    split = _build(tmp_path / "split", estate(**{"acme-eu__peers__carol_DOT_yaml": client(
        "carol@example.com", "10.254.0.11", protocol="openvpn")}))
    assert "block-outside-dns" not in _text(split, "hub/openvpn/ccd/carol")


# ------------------------------------------------------------------ anti-spoofing


def test_peer_sources_are_accepted_only_from_the_interface_routing_to_them(
        tmp_path: Path) -> None:
    out = _build(tmp_path, estate())
    chain = _text(out, "hub/nftables.conf").split("chain antispoof {")[1].split("}\n")[0]
    assert [line.strip() for line in chain.splitlines()[1:] if line.strip()] == [
        "type filter hook prerouting priority raw; policy accept;",
        "ip saddr @peers4 fib saddr . iif oif missing drop",
    ]


# ------------------------------------------------------------------ preshared keys


def test_the_preshared_key_is_hkdf_under_its_own_label_and_rotates_with_the_peer() -> None:
    ring = KeyRing(TEST_SECRET)
    expected = HKDF(hashes.SHA256(), 32, SALT, b"mvpn/v1/wg-psk/acme-eu/alice/epoch=1"
                    ).derive(TEST_SECRET)
    assert ring.wireguard_psk("acme-eu", "alice", 1) == base64.b64encode(expected).decode()
    keys = {ring.wireguard_psk(i, p, e) for i in ("acme-eu", "acme-us")
            for p in ("alice", "bob") for e in (1, 2)}
    assert len(keys) == 8  # per instance, peer and epoch
    assert ring.wireguard_psk("acme-eu", "alice", 1) not in {
        ring.wireguard_peer("acme-eu", "alice", 1).private_key,
        ring.wireguard_hub("acme-eu", 1).private_key}
    assert KeyRing(None).wireguard_psk("acme-eu", "alice", 3) == \
        "REDACTED-wireguard-preshared-key.acme-eu.alice.epoch-3"
    with pytest.raises(ValueError, match="peer epoch 0"):
        ring.wireguard_psk("acme-eu", "alice", 0)


def test_hub_and_peer_hold_the_same_preshared_key(tmp_path: Path) -> None:
    out = _build(tmp_path, estate())
    hub = _text(out, "hub/wireguard/wg0.conf")
    for peer, rel in (("alice", "clients/alice.conf"), ("berlin", "sites/berlin.conf")):
        psk = KeyRing(TEST_SECRET).wireguard_psk("acme-eu", peer, 1)
        assert f"PresharedKey = {psk}\n" in hub
        assert f"PresharedKey = {psk}\n" in _text(out, rel)
    psk = KeyRing(TEST_SECRET).wireguard_psk("acme-eu", "berlin", 1)
    assert f'preshared-key="{psk}"' in _text(out, "sites/berlin.rsc")
