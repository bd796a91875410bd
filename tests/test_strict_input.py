"""Issue 11: zone ids, IPv4-mapped forms, strict numbers and booleans, bidi text — pinned.

Each case is one hostile value in one field, refused with its exact diagnostic at file:line
(and ``mvpn check`` exit 1, ``mvpn compile`` writing nothing for the critical attack).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from compiler.cli import main
from tests.support.trees import INSTANCE, TEST_SECRET_B64, client, estate, rows, site

#: The attack from issue 11: a zone id carrying a wg-quick hook into a client profile.
ZONE_ATTACK = "fd00:255::11%x\nPreUp = touch PWNED #"
#: The same on a site peer: a new [Interface] section in the hub's wg0.conf (run as root).
HUB_ATTACK = "fd00:255::10%x\n[Interface]\nPreUp = touch PWNED #"

ALICE, BERLIN, INST = "acme-eu/peers/alice.yaml", "acme-eu/peers/berlin.yaml", "acme-eu/instance.yaml"
INSTANCE6 = {**INSTANCE, "wireguard": {"port": 51820, "network": "10.255.0.0/24",
                                       "network6": "fd00:255::/64"}}


def _zone(value: str, what: str) -> str:
    return f"'{value}' has an IPv6 zone id ('%...'); write the {what} without it"


ZONE_CASES = [
    pytest.param(
        {"acme-eu__peers__alice_DOT_yaml": client("alice@example.com", "10.255.0.11",
                                                  address6=ZONE_ATTACK)},
        ("address-invalid", ALICE, 4, 11, "address6: " + _zone(ZONE_ATTACK, "IP address")),
        id="client-address6"),
    pytest.param(
        {"acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10", ["10.20.0.0/24"],
                                                 address6=HUB_ATTACK)},
        ("address-invalid", BERLIN, 7, 11, "address6: " + _zone(HUB_ATTACK, "IP address")),
        id="site-address6"),
    pytest.param(
        {"acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10%x\n#", ["10.20.0.0/24"])},
        ("address-invalid", BERLIN, 6, 10, "address: " + _zone("10.255.0.10%x\n#", "IP address")),
        id="site-address"),
    pytest.param(
        {"acme-eu__peers__berlin_DOT_yaml": site(
            "berlin", "10.255.0.10", ["10.20.0.0/24", "2001:db8:20::%x\n/system reboot/64"])},
        ("prefix-invalid", BERLIN, 6, 3,
         "subnets[1]: " + _zone("2001:db8:20::%x\n/system reboot/64", "prefix")),
        id="subnets"),
    pytest.param(
        {"acme-eu__instance_DOT_yaml": {**INSTANCE6, "routing": {
            "pushed_routes": ["10.0.0.0/16", "fd00:1::%1\n#/64"]}}},
        ("prefix-invalid", INST, 14, 5,
         "routing.pushed_routes[1]: " + _zone("fd00:1::%1\n#/64", "prefix")),
        id="pushed_routes"),
    pytest.param(
        {"acme-eu__instance_DOT_yaml": {**INSTANCE6, "dns": {
            "servers": ["10.0.0.53", "fd00::53%x\nserver=192.0.2.66"]}}},
        ("address-invalid", INST, 18, 5,
         "dns.servers[1]: " + _zone("fd00::53%x\nserver=192.0.2.66", "IP address")),
        id="dns-servers"),
    pytest.param(
        {"acme-eu__instance_DOT_yaml": {**INSTANCE6, "dns": {
            "records": {"intranet.corp.example": "fd00::80%x\n#"}}}},
        ("address-invalid", INST, 17, 28,
         "dns.records.intranet.corp.example: " + _zone("fd00::80%x\n#", "IP address")),
        id="dns-records"),
    pytest.param(
        {"acme-eu__instance_DOT_yaml": {**INSTANCE6, "wireguard": {
            "port": 51820, "network": "10.255.0.0/24", "network6": "fd00:255::%0/64"}}},
        ("prefix-invalid", INST, 6, 13, "wireguard.network6: " + _zone("fd00:255::%0/64", "prefix")),
        id="network6"),
    pytest.param(
        {"acme-eu__instance_DOT_yaml": {**INSTANCE6, "firewall": {"rules": [
            {"action": "deny", "destination": "fd00:1::%x }\n/64"}]}}},
        ("prefix-invalid", INST, 18, 18,
         "firewall.rules[0].destination: " + _zone("fd00:1::%x }\n/64", "prefix")),
        id="firewall-rule"),
    pytest.param(
        {"acme-eu__peers__alice_DOT_yaml": client("alice@example.com", "10.255.0.11",
                                                  access=["fd00:1::%x;/64"])},
        ("prefix-invalid", ALICE, 5, 3, "access[0]: " + _zone("fd00:1::%x;/64", "prefix")),
        id="access-list"),
    pytest.param(
        {"vpn_DOT_yaml": {"reserved_prefixes": ["fd00::%eth0/8"]}},
        ("prefix-invalid", "vpn.yaml", 2, 3, "reserved_prefixes[0]: " + _zone("fd00::%eth0/8", "prefix")),
        id="reserved-prefixes"),
    pytest.param(
        {"tests_DOT_yaml": [{"from": "acme-eu/alice", "to": "fd00::5%x\n#", "expect": "allow"}]},
        ("address-invalid", "tests.yaml", 2, 7, "to: " + _zone("fd00::5%x\n#", "IP address")),
        id="tests-yaml"),
]


@pytest.mark.parametrize(("files", "expected"), ZONE_CASES)
def test_zone_ids_are_refused_at_their_line(
    tmp_path: Path, files: dict[str, object], expected: tuple[str, str, int, int, str]
) -> None:
    code, rel, line, column, message = expected
    assert rows(tmp_path, estate(**files)) == [(code, "error", rel, line, column, message)]


def test_the_zone_id_attack_is_refused_by_the_cli_and_compiles_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "sites"
    rows(root, estate(**{"acme-eu__peers__alice_DOT_yaml": client(
        "alice@example.com", "10.255.0.11", address6=ZONE_ATTACK)}))
    assert main(["check", str(root)]) == 1
    out = capsys.readouterr().out
    assert f"{root}/{ALICE}:4:11: error[address-invalid] address6:" in out
    monkeypatch.setenv("MVPN_SECRET", TEST_SECRET_B64)
    assert main(["compile", str(root), "-o", str(tmp_path / "build")]) == 1
    assert not (tmp_path / "build").exists()
    assert not list(tmp_path.rglob("*.conf"))


MAPPED_CASES = [
    pytest.param(
        {"acme-eu__peers__alice_DOT_yaml": client("alice@example.com", "10.255.0.11",
                                                  address6="::ffff:10.0.0.1")},
        ("address-invalid", ALICE, 4, 11, "address6: '::ffff:10.0.0.1' is an IPv4-mapped IPv6 "
         "address; write the IPv4 address instead"), id="address6"),
    pytest.param(
        {"acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10",
                                                 ["::ffff:10.20.0.0/120"])},
        ("prefix-invalid", BERLIN, 5, 3, "subnets[0]: '::ffff:10.20.0.0/120' is an IPv4-mapped "
         "IPv6 prefix; write the IPv4 prefix instead"), id="subnet"),
    pytest.param(
        {"acme-eu__instance_DOT_yaml": {**INSTANCE, "dns": {"servers": ["::ffff:a00:35"]}}},
        ("address-invalid", INST, 16, 5, "dns.servers[0]: '::ffff:a00:35' is an IPv4-mapped IPv6 "
         "address; write the IPv4 address instead"), id="dns-server-hex"),
    pytest.param(
        {"acme-eu__instance_DOT_yaml": {**INSTANCE, "routing": {
            "pushed_routes": ["::ffff:0:0/96"]}}},
        ("prefix-invalid", INST, 12, 5, "routing.pushed_routes[0]: '::ffff:0:0/96' is an "
         "IPv4-mapped IPv6 prefix; write the IPv4 prefix instead"), id="pushed-route"),
]


@pytest.mark.parametrize(("files", "expected"), MAPPED_CASES)
def test_ipv4_mapped_forms_are_refused(
    tmp_path: Path, files: dict[str, object], expected: tuple[str, str, int, int, str]
) -> None:
    code, rel, line, column, message = expected
    assert rows(tmp_path, estate(**files)) == [(code, "error", rel, line, column, message)]


def test_prefixes_containing_the_mapped_range_are_still_prefixes(tmp_path: Path) -> None:
    # ::/0 (route-all) covers ::ffff:0:0/96 but is not written in the mapped form.
    files = estate(**{"acme-eu__instance_DOT_yaml": {**INSTANCE, "routing": {
        "pushed_routes": ["10.0.0.0/16", "::/1"]}}})
    assert [r for r in rows(tmp_path, files) if r[1] == "error"] == []


# --- item 11: integers and booleans exactly as YAML wrote them -----------------------------

WHOLE, TRUE_FALSE = "expected a whole number", "expected true or false"

STRICT_CASES = [
    ("acme-eu/instance.yaml", "hostname: acme-eu\nregion: fra\nwireguard:\n  port: true\n"
     "  network: 10.255.0.0/24\n", [(4, 9, f"wireguard.port: {WHOLE}, got boolean true")]),
    ("acme-eu/instance.yaml", "hostname: acme-eu\nregion: fra\nopenvpn:\n  port: '1194'\n"
     "  network: 10.254.0.0/24\n", [(4, 9, f"openvpn.port: {WHOLE}, got '1194'")]),
    ("acme-eu/instance.yaml", "hostname: acme-eu\nregion: fra\nwireguard:\n  port: 51820.0\n"
     "  network: 10.255.0.0/24\nkey_epoch: true\n",
     [(4, 9, f"wireguard.port: {WHOLE}, got number 51820.0"),
      (6, 12, f"key_epoch: {WHOLE}, got boolean true")]),
    ("acme-eu/instance.yaml", "hostname: acme-eu\nregion: fra\nwireguard:\n"
     "  network: 10.255.0.0/24\ndns:\n  split: 'yes'\n",
     [(6, 10, f"dns.split: {TRUE_FALSE}, got 'yes'")]),
    ("acme-eu/peers/alice.yaml", "type: client\nuser: alice\naddress: 10.255.0.11\n"
     "route_all: 'yes'\nkey_epoch: false\n",
     [(4, 12, f"route_all: {TRUE_FALSE}, got 'yes'"),
      (5, 12, f"key_epoch: {WHOLE}, got boolean false")]),
    ("acme-eu/peers/alice.yaml", "type: client\nuser: alice\naddress: 10.255.0.11\n"
     "route_all: 'off'\n", [(4, 12, f"route_all: {TRUE_FALSE}, got 'off'")]),
    ("acme-eu/peers/alice.yaml", "type: client\nuser: alice\naddress: 10.255.0.11\n"
     "route_all: 1\n", [(4, 12, f"route_all: {TRUE_FALSE}, got number 1")]),
    ("acme-eu/peers/berlin.yaml", "type: site\nsite: berlin\naddress: 10.255.0.10\n"
     "allow_broad: 'true'\nkey_epoch: '2'\n",
     [(4, 14, f"allow_broad: {TRUE_FALSE}, got 'true'"),
      (5, 12, f"key_epoch: {WHOLE}, got '2'")]),
    ("vpn.yaml", "policy:\n  min_prefix_v4: true\n  min_prefix_v6: '48'\n"
     "defaults:\n  keepalive: false\n",
     [(2, 18, f"policy.min_prefix_v4: {WHOLE}, got boolean true"),
      (3, 18, f"policy.min_prefix_v6: {WHOLE}, got '48'"),
      (5, 14, f"defaults.keepalive: {WHOLE}, got boolean false")]),
]


@pytest.mark.parametrize(("rel", "text", "expected"), STRICT_CASES)
def test_numbers_and_booleans_are_strict(
    tmp_path: Path, rel: str, text: str, expected: list[tuple[int, int, str]]
) -> None:
    files = estate(**{rel.replace("/", "__").replace(".", "_DOT_"): text})
    assert rows(tmp_path, files) == [("schema", "error", rel, *e) for e in expected]


def test_numbers_and_booleans_as_yaml_writes_them_pass(tmp_path: Path) -> None:
    files = estate(**{
        "acme-eu__peers__alice_DOT_yaml": "type: client\nuser: alice\naddress: 10.255.0.11\n"
                                          "route_all: true\nkey_epoch: 3\n",
        "vpn_DOT_yaml": "defaults:\n  keepalive: 0\npolicy:\n  min_prefix_v4: 8\n",
    })
    assert [r for r in rows(tmp_path, files) if r[1] == "error"] == []


# --- item 18: bidirectional and control characters in free text ---------------------------

BIDI_MESSAGE = ("description has the bidirectional formatting character {}, which reorders how "
                "the text is shown; remove it")


@pytest.mark.parametrize("char", ["\u202e", "\u202a", "\u2066", "\u2069", "\u200e", "\u200f",
                                  "\u061c"])
def test_bidi_controls_are_refused_in_descriptions(tmp_path: Path, char: str) -> None:
    files = estate(**{"acme-eu__peers__alice_DOT_yaml": client(
        "alice@example.com", "10.255.0.11", description=f"invoice {char}gpj.exe")})
    assert rows(tmp_path, files) == [("schema", "error", ALICE, 4, 14, "description: "
                                      + BIDI_MESSAGE.format(f"U+{ord(char):04X}"))]


CONTROL = "description must be one line of printable text (no control characters)"


@pytest.mark.parametrize(("files", "expected"), [
    pytest.param({"acme-eu__instance_DOT_yaml": {**INSTANCE, "description": "hub\x1b[2J"}},
                 (INST, 14, 14, f"description: {CONTROL}"), id="instance-escape"),
    pytest.param({"acme-eu__peers__berlin_DOT_yaml": site(
        "berlin", "10.255.0.10", ["10.20.0.0/24"], description="a\u0085b")},
        (BERLIN, 7, 14, f"description: {CONTROL}"), id="site-nel"),
    pytest.param({"acme-eu__instance_DOT_yaml": {**INSTANCE, "firewall": {"rules": [
        {"action": "deny", "description": "x\u2028y"}]}}},
        (INST, 17, 18, f"firewall.rules[0].description: {CONTROL}"), id="rule-line-separator"),
    pytest.param({"acme-eu__instance_DOT_yaml": {**INSTANCE, "firewall": {"rules": [
        {"action": "deny", "description": "\u202eevil"}]}}},
        (INST, 17, 18, "firewall.rules[0].description: " + BIDI_MESSAGE.format("U+202E")),
        id="rule-bidi"),
    pytest.param({"tests_DOT_yaml": [{"from": "acme-eu/alice", "to": "10.0.0.5", "expect": "allow",
                                      "description": "ok\u2067"}]},
                 ("tests.yaml", 4, 16, "description: " + BIDI_MESSAGE.format("U+2067")),
                 id="assertion-bidi"),
    pytest.param({"tests_DOT_yaml": [{"from": "acme-eu/alice", "to": "10.0.0.5", "expect": "allow",
                                      "description": "a\tb"}]},
                 ("tests.yaml", 4, 16, f"description: {CONTROL}"), id="assertion-tab"),
])
def test_control_and_bidi_characters_are_refused_in_every_free_text(
    tmp_path: Path, files: dict[str, object], expected: tuple[str, int, int, str]
) -> None:
    assert rows(tmp_path, estate(**files)) == [("schema", "error", *expected)]


def test_reserved_hostnames_are_dns_labels(tmp_path: Path) -> None:
    files = estate(**{"vpn_DOT_yaml": {"reserved_hostnames": ["db", "Intranet", "x\n#y"]}})
    assert rows(tmp_path, files) == [("schema", "error", "vpn.yaml", 4, 3, "reserved_hostnames[2]: "
                                      "'x\n#y' is not a DNS label: use letters, digits and "
                                      "inner hyphens")]


def test_other_unicode_text_is_kept(tmp_path: Path) -> None:
    files = estate(**{"acme-eu__peers__alice_DOT_yaml": client(
        "alice@example.com", "10.255.0.11", description="Zoë's \u05e2\u05d1 \U0001f600 \u200b")})
    assert [r for r in rows(tmp_path, files) if r[1] == "error"] == []


def test_explain_refuses_a_zone_id_before_reading_the_tree(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "absent"), "--explain", "acme-eu/alice",
                 "fd00::5%eth0"]) == 2
    assert ("--explain: 'fd00::5%eth0' has an IPv6 zone id ('%...'); write the IP address "
            "without it") in capsys.readouterr().err
