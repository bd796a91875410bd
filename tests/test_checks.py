"""Graph checks: every SPEC §3 code pinned with file, line, column and message."""

from __future__ import annotations

from pathlib import Path

from tests.support.trees import INSTANCE, VPN, client, estate, rows, site


def test_clean_estate(tmp_path: Path) -> None:
    assert rows(tmp_path, estate()) == []


def test_hostname_reserved_builtin_and_configured(tmp_path: Path) -> None:
    files = estate(**{
        "vpn_DOT_yaml": dict(VPN, reserved_hostnames=["intranet"]),
        "acme-eu__instance_DOT_yaml": dict(INSTANCE, hostname="WWW"),
        "acme-us__instance_DOT_yaml": dict(INSTANCE, hostname="intranet", region="iad"),
    })
    assert rows(tmp_path, files) == [
        ("hostname-reserved", "error", "acme-eu/instance.yaml", 1, 11,
         "hostname 'WWW' is reserved; choose another name"),
        ("hostname-reserved", "error", "acme-us/instance.yaml", 1, 11,
         "hostname 'intranet' is reserved; choose another name"),
    ]


def test_hostname_duplicate_case_insensitive_on_both(tmp_path: Path) -> None:
    files = estate(**{"acme-us__instance_DOT_yaml": dict(INSTANCE, hostname="ACME-EU",
                                                        region="iad")})
    assert rows(tmp_path, files) == [
        ("hostname-duplicate", "error", "acme-eu/instance.yaml", 1, 11,
         "hostname 'acme-eu' is also used by instance 'acme-us'; "
         "hostnames must be unique (case-insensitive)"),
        ("hostname-duplicate", "error", "acme-us/instance.yaml", 1, 11,
         "hostname 'ACME-EU' is also used by instance 'acme-eu'; "
         "hostnames must be unique (case-insensitive)"),
    ]


def test_region_unknown_did_you_mean(tmp_path: Path) -> None:
    files = estate(**{"acme-eu__instance_DOT_yaml": dict(INSTANCE, region="fre")})
    assert rows(tmp_path, files) == [
        ("region-unknown", "error", "acme-eu/instance.yaml", 2, 9,
         "region 'fre' is not one of the regions in vpn.yaml; did you mean 'fra'?"),
    ]


def test_route_overlap_reported_on_both_naming_the_other(tmp_path: Path) -> None:
    files = estate(**{"acme-eu__peers__munich_DOT_yaml": site("munich", "10.255.0.20",
                                                              ["10.30.0.0/24", "10.20.0.128/25"])})
    assert rows(tmp_path, files) == [
        ("route-overlap", "error", "acme-eu/peers/berlin.yaml", 5, 3,
         "10.20.0.0/24 overlaps 10.20.0.128/25 advertised by peer 'acme-eu/munich' "
         "(acme-eu/peers/munich.yaml); each network must be advertised by one peer"),
        ("route-overlap", "error", "acme-eu/peers/munich.yaml", 6, 3,
         "10.20.0.128/25 overlaps 10.20.0.0/24 advertised by peer 'acme-eu/berlin' "
         "(acme-eu/peers/berlin.yaml); each network must be advertised by one peer"),
    ]


def test_route_conflict_with_tunnel_pushed_and_reserved(tmp_path: Path) -> None:
    files = estate(**{
        "vpn_DOT_yaml": dict(VPN, reserved_prefixes=["100.64.0.0/10"]),
        "acme-eu__peers__berlin_DOT_yaml": site(
            "berlin", "10.255.0.10", ["10.255.0.0/25", "10.0.3.0/24", "100.64.1.0/24"]),
    })
    assert rows(tmp_path, files) == [
        ("route-conflict", "error", "acme-eu/peers/berlin.yaml", 5, 3,
         "10.255.0.0/25 overlaps the WireGuard tunnel network (10.255.0.0/24); "
         "choose another subnet"),
        ("route-conflict", "error", "acme-eu/peers/berlin.yaml", 6, 3,
         "10.0.3.0/24 overlaps a pushed route of instance 'acme-eu' (10.0.0.0/16); "
         "choose another subnet"),
        ("route-conflict", "error", "acme-eu/peers/berlin.yaml", 7, 3,
         "100.64.1.0/24 overlaps a reserved prefix in vpn.yaml (100.64.0.0/10); "
         "choose another subnet"),
    ]


def test_hub_networks_must_be_disjoint(tmp_path: Path) -> None:
    inst = dict(INSTANCE, routing={"pushed_routes": ["10.255.0.0/16"]})
    assert rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst})) == [
        ("route-conflict", "error", "acme-eu/instance.yaml", 12, 5,
         "10.255.0.0/16 overlaps the WireGuard tunnel network (10.255.0.0/24); "
         "tunnel networks and pushed routes must be disjoint"),
    ]


def test_route_broad_unless_allowed(tmp_path: Path) -> None:
    files = estate(**{
        "acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10",
                                                ["10.20.0.0/15", "0.0.0.0/0", "2001:db8::/32"]),
        "acme-eu__peers__munich_DOT_yaml": site("munich", "10.255.0.20", ["172.16.0.0/12"],
                                                allow_broad=True),
    })
    assert rows(tmp_path, files) == [
        ("route-broad", "error", "acme-eu/peers/berlin.yaml", 5, 3,
         "10.20.0.0/15 is a broad route (shorter than /16); "
         "set 'allow_broad: true' on this peer if it is intended"),
        ("route-broad", "error", "acme-eu/peers/berlin.yaml", 6, 3,
         "0.0.0.0/0 is a default route (shorter than /16); "
         "set 'allow_broad: true' on this peer if it is intended"),
        ("route-conflict", "error", "acme-eu/peers/berlin.yaml", 6, 3,
         "0.0.0.0/0 overlaps a pushed route of instance 'acme-eu' (10.0.0.0/16); "
         "choose another subnet"),
        ("route-conflict", "error", "acme-eu/peers/berlin.yaml", 6, 3,
         "0.0.0.0/0 overlaps the OpenVPN tunnel network (10.254.0.0/24); choose another subnet"),
        ("route-conflict", "error", "acme-eu/peers/berlin.yaml", 6, 3,
         "0.0.0.0/0 overlaps the WireGuard tunnel network (10.255.0.0/24); choose another subnet"),
        ("route-overlap", "error", "acme-eu/peers/berlin.yaml", 6, 3,
         "0.0.0.0/0 overlaps 172.16.0.0/12 advertised by peer 'acme-eu/munich' "
         "(acme-eu/peers/munich.yaml); each network must be advertised by one peer"),
        ("route-broad", "error", "acme-eu/peers/berlin.yaml", 7, 3,
         "2001:db8::/32 is a broad route (shorter than /48); "
         "set 'allow_broad: true' on this peer if it is intended"),
        ("route-overlap", "error", "acme-eu/peers/munich.yaml", 5, 3,
         "172.16.0.0/12 overlaps 0.0.0.0/0 advertised by peer 'acme-eu/berlin' "
         "(acme-eu/peers/berlin.yaml); each network must be advertised by one peer"),
    ]


def test_route_cross_instance_is_a_warning_except_for_the_same_site(tmp_path: Path) -> None:
    us = dict(INSTANCE, hostname="acme-us", region="iad")
    files = estate(**{
        "acme-us__instance_DOT_yaml": us,
        "acme-us__peers__ny_DOT_yaml": site("ny", "10.255.0.10", ["10.20.0.0/16"],
                                            allow_broad=True),
        "acme-us__peers__berlin_DOT_yaml": site("berlin", "10.255.0.11", ["10.20.0.0/24"]),
    })
    got = rows(tmp_path, files)
    assert got == [
        ("route-cross-instance", "warning", "acme-eu/peers/berlin.yaml", 5, 3,
         "10.20.0.0/24 overlaps 10.20.0.0/16 advertised by peer 'acme-us/ny' "
         "(acme-us/peers/ny.yaml) on another instance; traffic between them would be ambiguous"),
        ("route-overlap", "error", "acme-us/peers/berlin.yaml", 5, 3,
         "10.20.0.0/24 overlaps 10.20.0.0/16 advertised by peer 'acme-us/ny' "
         "(acme-us/peers/ny.yaml); each network must be advertised by one peer"),
        ("route-cross-instance", "warning", "acme-us/peers/ny.yaml", 5, 3,
         "10.20.0.0/16 overlaps 10.20.0.0/24 advertised by peer 'acme-eu/berlin' "
         "(acme-eu/peers/berlin.yaml) on another instance; traffic between them would be "
         "ambiguous"),
        ("route-overlap", "error", "acme-us/peers/ny.yaml", 5, 3,
         "10.20.0.0/16 overlaps 10.20.0.0/24 advertised by peer 'acme-us/berlin' "
         "(acme-us/peers/berlin.yaml); each network must be advertised by one peer"),
    ]


def test_address_invalid(tmp_path: Path) -> None:
    inst = dict(INSTANCE, wireguard={"network": "10.255.0.0/24", "network6": "fd00:255::/64"})
    files = estate(**{
        "acme-eu__instance_DOT_yaml": inst,
        "acme-eu__peers__alice_DOT_yaml": client("alice", "10.255.0.255", address6="fd00:255::"),
        "acme-eu__peers__bob_DOT_yaml": client("bob", "10.255.0.1", address6="fd00:255::1"),
        "acme-eu__peers__carol_DOT_yaml": client("carol", "10.9.0.3", address6="fd00:9::3"),
        "acme-eu__peers__dave_DOT_yaml": client("dave", "10.255.0.0", address6="fd00:255::4",
                                                protocol="wireguard"),
        "acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.254.0.9", ["10.20.0.0/24"],
                                                protocol="openvpn", address6="fd00:255::9"),
    })
    assert rows(tmp_path, files) == [
        ("address-invalid", "error", "acme-eu/peers/alice.yaml", 3, 10,
         "10.255.0.255 is the broadcast address of 10.255.0.0/24; use a host address"),
        ("address-invalid", "error", "acme-eu/peers/alice.yaml", 4, 11,
         "fd00:255:: is the network address of fd00:255::/64; use a host address"),
        ("address-invalid", "error", "acme-eu/peers/berlin.yaml", 7, 11,
         "fd00:255::9: instance 'acme-eu' has no IPv6 tunnel network for OpenVPN; "
         "remove 'address6'"),
        ("address-invalid", "error", "acme-eu/peers/bob.yaml", 3, 10,
         "10.255.0.1 is the hub's own address in 10.255.0.0/24"),
        ("address-invalid", "error", "acme-eu/peers/bob.yaml", 4, 11,
         "fd00:255::1 is the hub's own address in fd00:255::/64"),
        ("address-invalid", "error", "acme-eu/peers/carol.yaml", 3, 10,
         "10.9.0.3 is outside the instance's WireGuard network 10.255.0.0/24"),
        ("address-invalid", "error", "acme-eu/peers/carol.yaml", 4, 11,
         "fd00:9::3 is outside the instance's WireGuard network fd00:255::/64"),
        ("address-invalid", "error", "acme-eu/peers/dave.yaml", 3, 10,
         "10.255.0.0 is the network address of 10.255.0.0/24; use a host address"),
    ]


def test_address_duplicate_and_missing(tmp_path: Path) -> None:
    files = estate(**{
        "acme-eu__peers__bob_DOT_yaml": client("bob", "10.255.0.11"),
        "acme-eu__peers__carol_DOT_yaml": {"type": "client", "user": "carol"},
    })
    assert rows(tmp_path, files) == [
        ("address-duplicate", "error", "acme-eu/peers/alice.yaml", 3, 10,
         "10.255.0.11 is also the tunnel address of peer 'bob'; "
         "give each peer its own (`mvpn allocate` picks free ones)"),
        ("address-duplicate", "error", "acme-eu/peers/bob.yaml", 3, 10,
         "10.255.0.11 is also the tunnel address of peer 'alice'; "
         "give each peer its own (`mvpn allocate` picks free ones)"),
        ("address-missing", "error", "acme-eu/peers/carol.yaml", 1, 1,
         "peer has no 'address'; run `mvpn allocate` to assign the lowest free one"),
    ]


def test_address6_required_when_instance_has_network6(tmp_path: Path) -> None:
    inst = dict(INSTANCE, wireguard={"network": "10.255.0.0/24", "network6": "fd00:255::/64"})
    files = estate(**{"acme-eu__instance_DOT_yaml": inst,
                      "acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10",
                                                              ["10.20.0.0/24"],
                                                              address6="fd00:255::10")})
    assert rows(tmp_path, files) == [
        ("address-missing", "error", "acme-eu/peers/alice.yaml", 1, 1,
         "peer has no 'address6' (the instance has an IPv6 tunnel network); run `mvpn allocate`"),
    ]


def test_peer_duplicate(tmp_path: Path) -> None:
    files = estate(**{"acme-eu__peers__berlin2_DOT_yaml": site("berlin", "10.255.0.20",
                                                                ["10.40.0.0/24"])})
    assert rows(tmp_path, files) == [
        ("peer-duplicate", "error", "acme-eu/peers/berlin.yaml", 2, 7,
         "site 'berlin' is connected to instance 'acme-eu' twice (also as peer 'berlin2'); "
         "keep one peer per site and instance"),
        ("peer-duplicate", "error", "acme-eu/peers/berlin2.yaml", 2, 7,
         "site 'berlin' is connected to instance 'acme-eu' twice (also as peer 'berlin'); "
         "keep one peer per site and instance"),
    ]


def test_protocol_unavailable(tmp_path: Path) -> None:
    inst = {k: v for k, v in INSTANCE.items() if k != "openvpn"}
    files = estate(**{"acme-eu__instance_DOT_yaml": inst,
                      "acme-eu__peers__alice_DOT_yaml": client("alice", "10.254.0.5",
                                                               protocol="openvpn")})
    assert rows(tmp_path, files) == [
        ("protocol-unavailable", "error", "acme-eu/peers/alice.yaml", 4, 11,
         "instance 'acme-eu' does not enable OpenVPN; "
         "use the other protocol or add 'openvpn:' to its instance.yaml"),
    ]


def test_egress_unavailable(tmp_path: Path) -> None:
    inst = dict(INSTANCE, routing={"egress": "none"})
    files = estate(**{"acme-eu__instance_DOT_yaml": inst,
                      "acme-eu__peers__alice_DOT_yaml": client("alice", "10.255.0.11",
                                                               route_all=True)})
    assert rows(tmp_path, files) == [
        ("egress-unavailable", "error", "acme-eu/peers/alice.yaml", 4, 12,
         "route_all needs internet egress, but instance 'acme-eu' has 'egress: none'; "
         "set 'route_all: false' or 'egress: nat'"),
    ]


def test_secret_in_repo(tmp_path: Path) -> None:
    key = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
    pem = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEE\n-----END EC PRIVATE KEY-----\n"
    files = estate(**{
        "acme-eu__peers__alice_DOT_yaml": (
            "type: client\nuser: alice\naddress: 10.255.0.11\n"
            f"public_key: xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=\n# old key: {key}\n"),
        "acme-eu__keys__hub_DOT_pem": pem,
        "acme-eu__wg0_DOT_conf": f"[Interface]\nPublicKey = {key}\nPrivateKey = {key}\n",
    })
    got = rows(tmp_path, files)
    assert got == [
        ("secret-in-repo", "error", "acme-eu/keys/hub.pem", 1, 1,
         "a PEM private key block; never commit private keys: mvpn derives every key from "
         "MVPN_SECRET. Remove it from the tree (and its git history) and rotate it"),
        ("secret-in-repo", "error", "acme-eu/peers/alice.yaml", 5, 12,
         "this looks like a WireGuard private key; never commit private keys: mvpn derives "
         "every key from MVPN_SECRET. Remove it from the tree (and its git history) and rotate it"),
        ("secret-in-repo", "error", "acme-eu/wg0.conf", 3, 14,
         "this looks like a WireGuard private key; never commit private keys: mvpn derives "
         "every key from MVPN_SECRET. Remove it from the tree (and its git history) and rotate it"),
    ]
    assert all(key not in row[5] for row in got)
