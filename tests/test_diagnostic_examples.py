"""Every example in docs/diagnostics.md is true: the input it shows gives that message.

For each code, a small tree (the valid test estate plus the example's situation) is checked
and must report the code with exactly the table's message; where the example is YAML, its
lines (comments aside) are the very lines of the file that is checked, so the page cannot
show an input that gives another diagnostic.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.api import allocate, check
from compiler.diagnostics import CODES
from tests.support.trees import build_file_tree, client, estate, site

_PEER = "type: client\nuser: alice@example.com\n"
_INSTANCE = ("hostname: acme-eu\nregion: fra\n"
             "wireguard: {port: 51820, network: 10.255.0.0/24}\n"
             "openvpn: {port: 1194, transport: udp, network: 10.254.0.0/24}\n"
             "routing: {pushed_routes: [10.0.0.0/16], egress: nat}\n")
_ALICE = "acme-eu/peers/alice.yaml"
_BERLIN = "acme-eu/peers/berlin.yaml"
_TESTS_OK = "- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"

#: code → files laid over the valid estate (None deletes one), and whether the example's
#: lines are YAML that must appear verbatim in one of those files.
SCENARIOS: dict[str, tuple[dict[str, object], bool]] = {
    "yaml-syntax": ({_ALICE: _PEER + "subnets: [10.20.0.0/24]\nsubnets: [10.21.0.0/24]\n"},
                    True),
    "file-unsafe": ({}, False),  # a symlink: made in the test
    "schema": ({_ALICE: _PEER + "adress: 10.255.0.11\n"}, True),
    "name-invalid": ({_ALICE: None, "acme-eu/peers/Alice Smith.yaml":
                      _PEER + "address: 10.255.0.11\n"}, False),
    "file-unexpected": ({"acme-eu/notes.yaml": "todo: []\n"}, False),
    "hostname-invalid": ({"acme-eu/instance.yaml":
                          _INSTANCE.replace("hostname: acme-eu", "hostname: vpn_eu")}, True),
    "hostname-reserved": ({"vpn.yaml": "domain: vpn.example.net\nregions: [fra]\n"
                           "reserved_hostnames: [admin]\n",
                           "acme-eu/instance.yaml":
                           _INSTANCE.replace("hostname: acme-eu", "hostname: admin")}, True),
    "hostname-duplicate": ({"acme-eu/instance.yaml": _INSTANCE.replace(
        "hostname: acme-eu", "hostname: acme"), "acme-us/instance.yaml": _INSTANCE.replace(
        "hostname: acme-eu", "hostname: acme").replace("region: fra", "region: iad")}, False),
    "region-unknown": ({"acme-eu/instance.yaml":
                        _INSTANCE.replace("region: fra", "region: eu-west-9")}, True),
    "prefix-invalid": ({_BERLIN: "type: site\nsite: berlin\naddress: 10.255.0.10\n"
                        "subnets: [10.20.0.1/24]\n"}, True),
    "route-overlap": ({_BERLIN: site("berlin", "10.255.0.10", ["10.20.0.0/16"]),
                       "acme-eu/peers/hamburg.yaml":
                       site("hamburg", "10.255.0.12", ["10.20.5.0/24"])}, False),
    "route-conflict": ({_BERLIN: "type: site\nsite: berlin\naddress: 10.255.0.10\n"
                        "subnets: [10.255.0.0/24]\n"}, True),
    "route-broad": ({_BERLIN: "type: site\nsite: berlin\naddress: 10.255.0.10\n"
                     "subnets: [10.0.0.0/8]\n"}, True),
    "route-cross-instance": ({"acme-us/instance.yaml": _INSTANCE.replace(
        "hostname: acme-eu", "hostname: acme-us").replace("region: fra", "region: iad"),
        "acme-us/peers/paris.yaml": "type: site\nsite: paris\naddress: 10.255.0.10\n"
        "subnets: [10.20.0.0/24]\n"}, False),
    "address-invalid": ({_ALICE: _PEER + "address: 10.255.1.5\n"}, True),
    "address-duplicate": ({"acme-eu/peers/bob.yaml":
                           client("bob@example.com", "10.255.0.11")}, False),
    "address-missing": ({_ALICE: _PEER}, False),
    "peer-duplicate": ({"acme-eu/peers/berlin-backup.yaml":
                        site("berlin", "10.255.0.12", ["10.20.0.0/24"])}, False),
    "protocol-unavailable": ({"acme-eu/instance.yaml": "\n".join(
        line for line in _INSTANCE.splitlines() if not line.startswith("openvpn")) + "\n",
        _ALICE: _PEER + "address: 10.254.0.11\nprotocol: openvpn\n"}, True),
    "egress-unavailable": ({"acme-eu/instance.yaml": _INSTANCE.replace(
        "egress: nat", "egress: none"), _ALICE: _PEER + "address: 10.255.0.11\n"
        "route_all: true\n"}, True),
    "secret-in-repo": ({_ALICE: _PEER + "address: 10.255.0.11\n"
                        "private_key: yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=\n"}, True),
    "pool-exhausted": ({}, False),  # mvpn allocate: made in the test
    "test-failed": ({"acme-eu/instance.yaml": _INSTANCE + "firewall:\n  rules:\n"
                     "    - {action: deny, protocol: tcp, ports: '22', source: clients}\n",
                     "tests.yaml": "- {from: acme-eu/alice, to: 10.20.0.5, port: 22/tcp, "
                     "expect: allow}\n"}, True),
    "rule-shadowed": ({"acme-eu/instance.yaml": _INSTANCE + "firewall:\n"
                       "  rules: [{action: deny, source: clients}, {action: allow, source: "
                       "clients, protocol: tcp}]\n"}, True),
    "reference-unknown": ({"tests.yaml": "- {from: acme-eu/alcie, to: 10.20.0.5, port: "
                           "443/tcp, expect: allow}\n"}, True),
}


def _example_lines(code: str) -> list[str]:
    """The example's YAML: each line without its trailing comment, blank lines dropped."""
    lines = (line.split("   #", 1)[0].rstrip() for line in CODES[code].example.splitlines())
    return [line for line in lines if line]


def test_every_code_has_a_scenario() -> None:
    assert sorted(SCENARIOS) == sorted(CODES), (
        "add the new code's example situation to SCENARIOS in this file")


@pytest.mark.parametrize("code", sorted(SCENARIOS))
def test_the_example_gives_its_code(code: str, tmp_path: Path) -> None:
    overlay, literal = SCENARIOS[code]
    files = estate()
    if _ALICE in overlay and overlay[_ALICE] is None:
        files.pop(_ALICE)
    files.update({k: v for k, v in overlay.items() if v is not None})
    root = build_file_tree(tmp_path / "tree", files)  # type: ignore[arg-type]
    if code == "file-unsafe":
        (root / "acme-eu/peers/alice.yaml").unlink()
        os.symlink("/etc/passwd", root / "acme-eu/peers/alice.yaml")
    if literal:
        texts = [(root / rel).read_text() for rel in overlay if overlay[rel] is not None]
        for line in _example_lines(code):
            assert any(line.strip() in map(str.strip, text.splitlines()) for text in texts), \
                (code, line)
    if code == "pool-exhausted":
        instance = _INSTANCE.replace("10.255.0.0/24", "10.255.0.0/30")
        build_file_tree(root, {"acme-eu/instance.yaml": instance, _BERLIN:
                               "type: site\nsite: berlin\nsubnets: [10.20.0.0/24]\n",
                               _ALICE: _PEER, "acme-eu/peers/bob.yaml":
                               "type: client\nuser: bob@example.com\n"})
        diags = list(allocate(root).diagnostics)
    else:
        diags = list(check(root).diagnostics)
    messages = sorted(d.message for d in diags if d.code == code)
    assert CODES[code].message in messages, (messages, sorted({d.code for d in diags}))
