"""Model validation: schema errors with "did you mean", and per-field codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.trees import INSTANCE, client, estate, run, site

Row = tuple[str, str, int, int, str]


def rows(tmp_path: Path, **files: object) -> list[Row]:
    result = run(tmp_path, estate(**files))
    return [(d.code, d.file.name, d.line, d.column, d.message) for d in result.diagnostics.sorted()]


def test_unknown_key_did_you_mean(tmp_path: Path) -> None:
    assert rows(tmp_path, **{
        "acme-eu__peers__alice_DOT_yaml": "type: client\nuser: alice\nadress: 10.255.0.11\n",
    }) == [("schema", "alice.yaml", 3, 1, "unknown key 'adress'; did you mean 'address'?")]


def test_nested_unknown_key(tmp_path: Path) -> None:
    inst = dict(INSTANCE, openvpn={"port": 1194, "transprot": "udp", "network": "10.254.0.0/24"})
    assert rows(tmp_path, **{"acme-eu__instance_DOT_yaml": inst}) == [
        ("schema", "instance.yaml", 8, 3, "unknown key 'transprot'; did you mean 'transport'?"),
    ]


def test_missing_key_and_bad_enum(tmp_path: Path) -> None:
    text = "region: fra\nopenvpn:\n  transport: udpp\n  network: 10.254.0.0/24\n"
    assert rows(tmp_path, **{"acme-eu__instance_DOT_yaml": text}) == [
        ("schema", "instance.yaml", 1, 1, "missing required key 'hostname'"),
        ("schema", "instance.yaml", 3, 14,
         "openvpn.transport: 'udpp' is not allowed; use 'udp' or 'tcp'; did you mean 'udp'?"),
    ]


def test_wrong_types(tmp_path: Path) -> None:
    text = "type: site\nsite: x\nsubnets: 10.20.0.0/24\nallow_broad: maybe\nkey_epoch: one\n"
    assert rows(tmp_path, **{"acme-eu__peers__berlin_DOT_yaml": text}) == [
        ("schema", "berlin.yaml", 3, 10, "subnets: expected a list, got '10.20.0.0/24'"),
        ("schema", "berlin.yaml", 4, 14, "allow_broad: expected true or false, got 'maybe'"),
        ("schema", "berlin.yaml", 5, 12, "key_epoch: expected a whole number, got 'one'"),
    ]


def test_unknown_peer_type(tmp_path: Path) -> None:
    assert rows(tmp_path, **{"acme-eu__peers__alice_DOT_yaml": "type: laptop\nuser: a\n"}) == [
        ("schema", "alice.yaml", 1, 7, "type 'laptop' is unknown; use one of 'site', 'client'"),
    ]
    assert rows(tmp_path, **{"acme-eu__peers__alice_DOT_yaml": "user: a\n"}) == [
        ("schema", "alice.yaml", 1, 1, "missing required key 'type' (one of 'site', 'client')"),
    ]


def test_file_that_is_not_a_mapping(tmp_path: Path) -> None:
    assert rows(tmp_path, **{"acme-eu__peers__alice_DOT_yaml": "- a\n- b\n"}) == [
        ("schema", "alice.yaml", 1, 1, "the file must be a mapping of keys, but it is a list"),
    ]
    assert rows(tmp_path, **{"acme-eu__peers__alice_DOT_yaml": "# nothing\n"}) == [
        ("schema", "alice.yaml", 1, 1, "the file must be a mapping of keys, but it is empty"),
    ]


def test_empty_vpn_yaml_means_defaults(tmp_path: Path) -> None:
    inst = dict(INSTANCE, region="fra")
    assert rows(tmp_path, **{"vpn_DOT_yaml": "# defaults\n", "acme-eu__instance_DOT_yaml": inst}) == []


@pytest.mark.parametrize(
    ("hostname", "message"),
    [
        ("ab", "hostname: 'ab' must be 3 to 20 characters long"),
        ("a" * 21, f"hostname: '{'a' * 21}' must be 3 to 20 characters long"),
        ("acme_eu", "hostname: 'acme_eu' is not a DNS label: use letters, digits and inner hyphens"),
        ("-acme", "hostname: '-acme' is not a DNS label: use letters, digits and inner hyphens"),
        ("xn--acme", "hostname: 'xn--acme' has '--' at positions 3-4, reserved for IDN (xn--) labels"),
        ("ab--cd", "hostname: 'ab--cd' has '--' at positions 3-4, reserved for IDN (xn--) labels"),
    ],
)
def test_hostname_invalid(tmp_path: Path, hostname: str, message: str) -> None:
    assert rows(tmp_path, **{"acme-eu__instance_DOT_yaml": dict(INSTANCE, hostname=hostname)}) == [
        ("hostname-invalid", "instance.yaml", 1, 11, message),
    ]


@pytest.mark.parametrize(
    ("subnet", "message"),
    [
        ("10.20.0.1/24", "subnets[0]: '10.20.0.1/24' has host bits set; did you mean 10.20.0.0/24?"),
        ("10.20.0.0/33", "subnets[0]: '10.20.0.0/33' is not a valid prefix (write it as 10.20.0.0/24)"),
        ("berlin", "subnets[0]: 'berlin' is not a valid prefix (write it as 10.20.0.0/24)"),
        ("2001:db8::1/64",
         "subnets[0]: '2001:db8::1/64' has host bits set; did you mean 2001:db8::/64?"),
    ],
)
def test_prefix_invalid(tmp_path: Path, subnet: str, message: str) -> None:
    peer = site("berlin", "10.255.0.10", [subnet])
    assert rows(tmp_path, **{"acme-eu__peers__berlin_DOT_yaml": peer}) == [
        ("prefix-invalid", "berlin.yaml", 5, 3, message),
    ]


def test_tunnel_network_family(tmp_path: Path) -> None:
    inst = dict(INSTANCE, wireguard={"network": "fd00::/64"})
    assert rows(tmp_path, **{"acme-eu__instance_DOT_yaml": inst}) == [
        ("prefix-invalid", "instance.yaml", 4, 12,
         "wireguard.network: 'fd00::/64' is not an IPv4 prefix"),
    ]


def test_address_syntax(tmp_path: Path) -> None:
    peer = client("alice", "10.255.0.300")
    assert rows(tmp_path, **{"acme-eu__peers__alice_DOT_yaml": peer}) == [
        ("address-invalid", "alice.yaml", 3, 10,
         "address: '10.255.0.300' is not a valid IP address"),
    ]


def test_description_must_be_one_line(tmp_path: Path) -> None:
    peer = client("alice", "10.255.0.11", description="two\nlines")
    assert rows(tmp_path, **{"acme-eu__peers__alice_DOT_yaml": peer}) == [
        ("schema", "alice.yaml", 4, 14,
         "description: description must be one line of printable text (no control characters)"),
    ]


def test_routeros_version_unquoted_keeps_text(tmp_path: Path) -> None:
    text = ("type: site\nsite: berlin\nsubnets: [10.20.0.0/24]\naddress: 10.255.0.10\n"
            "routeros: 7.20\n")
    result = run(tmp_path, estate(**{"acme-eu__peers__berlin_DOT_yaml": text}))
    assert result.ok
    peer = result.estate.instances["acme-eu"].peers["berlin"].config
    assert peer.routeros == "7.20"  # type: ignore[union-attr]
