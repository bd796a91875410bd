"""SPEC §8: firewall rules, access lists, tests.yaml and --explain, pinned to file:line.

Whether the real hub does what these verdicts say is proven in tests/test_e2e.py, which runs
the same assertions both ways.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.checks.reach import shadows
from compiler.cli.main import main
from compiler.model.access import Rule
from compiler.model.policy import ResolvedRule
from tests.support.trees import INSTANCE, client, estate, rows, site

RULES = [
    {"action": "deny", "protocol": "tcp", "ports": "22,3389", "source": "clients",
     "destination": "10.20.0.0/16"},
    {"action": "allow", "source": "sites", "destination": "sites"},
]


def _tree(rules: Sequence[object], tests: str = "", **peers: object) -> dict[str, object]:
    files = estate(**{"acme-eu__instance_DOT_yaml": dict(
        INSTANCE, firewall={"default": "allow", "rules": rules})})
    files["acme-eu/peers/hamburg.yaml"] = site("hamburg-office", "10.254.0.10",
                                               ["10.21.0.0/24"], protocol="openvpn")
    for name, doc in peers.items():
        files[f"acme-eu/peers/{name}.yaml"] = doc
    if tests:
        files["tests.yaml"] = tests
    return files


def test_a_clean_policy_with_passing_assertions(tmp_path: Path) -> None:
    tests = ("- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"
             "- {from: acme-eu/alice, to: 10.20.0.5, port: 22/tcp, expect: deny}\n"
             "- {from: acme-eu/berlin, to: 10.21.0.5, port: 22/tcp, expect: allow}\n"
             "- {from: acme-eu/carol, to: 10.21.0.5, expect: deny}\n"
             "- {from: acme-eu/carol, to: 10.20.0.7, expect: allow}\n"
             "- {from: acme-eu/alice, to: 192.0.2.1, port: 443/tcp, expect: deny}\n")
    files = _tree(RULES, tests, carol=client("carol@example.com", "10.255.0.13",
                                             access=["berlin"]))
    assert rows(tmp_path, files) == []


def test_a_failed_assertion_points_at_its_line_and_says_why(tmp_path: Path) -> None:
    tests = ("# reachability\n"
             "- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"
             "- {from: acme-eu/alice, to: 10.20.0.5, port: 3389/tcp, expect: allow}\n")
    assert rows(tmp_path, _tree(RULES, tests)) == [
        ("test-failed", "error", "tests.yaml", 3, 3,
         "expected allow, but acme-eu/alice -> 10.20.0.5 3389/tcp is deny: firewall rule 1 "
         "(deny tcp ports 22,3389 from clients to 10.20.0.0/16) (path: acme-eu/alice "
         "(10.255.0.11) -> hub acme-eu -> site berlin (berlin) LAN (10.20.0.5))"),
    ]


def test_access_list_denies_on_the_hub_and_in_the_profile(tmp_path: Path) -> None:
    tests = "- {from: acme-eu/carol, to: 10.21.0.5, port: 443/tcp, expect: allow}\n"
    files = _tree([], tests, carol=client("carol@example.com", "10.255.0.13",
                                          access=["berlin-office", "10.0.0.0/16"]))
    files["acme-eu/peers/berlin.yaml"] = site("berlin-office", "10.255.0.10", ["10.20.0.0/24"])
    assert rows(tmp_path, files) == [
        ("test-failed", "error", "tests.yaml", 1, 3,
         "expected allow, but acme-eu/carol -> 10.21.0.5 443/tcp is deny: the profile of "
         "carol does not route 10.21.0.5 into the tunnel (its access list; the hub enforces "
         "it too) (path: acme-eu/carol (10.255.0.13))"),
    ]


def test_unknown_names_in_rules_access_and_tests(tmp_path: Path) -> None:
    rules = [{"action": "deny", "source": "berlni", "destination": "any"}]
    tests = "- {from: acme-eu/nobody, to: 10.20.0.5, expect: deny}\n"
    files = _tree(rules, tests, carol=client("carol@example.com", "10.255.0.13",
                                             access=["hamburg-ofice"]))
    assert rows(tmp_path, files) == [
        ("reference-unknown", "error", "acme-eu/instance.yaml", 18, 13,
         "'berlni' is not a peer or site of instance 'acme-eu'; did you mean 'berlin'?"),
        ("reference-unknown", "error", "acme-eu/peers/carol.yaml", 5, 3,
         "'hamburg-ofice' is not a site of instance 'acme-eu'; did you mean "
         "'hamburg-office'?"),
        ("reference-unknown", "error", "tests.yaml", 1, 10,
         "instance 'acme-eu' has no peer or site 'nobody'"),
    ]


def test_rule_shadowed_is_a_warning_on_the_dead_rule(tmp_path: Path) -> None:
    rules = [*RULES, {"action": "allow", "protocol": "tcp", "ports": "22",
                      "source": "alice", "destination": "10.20.0.0/24"}]
    assert rows(tmp_path, _tree(rules)) == [
        ("rule-shadowed", "warning", "acme-eu/instance.yaml", 25, 5,
         "firewall rule 3 can never match: rule 1 (line 17) matches everything it does; "
         "remove it or move it up"),
    ]


@pytest.mark.parametrize(("rule", "message"), [
    ({"action": "deny", "ports": "22"}, "firewall.rules[0]: ports need protocol tcp or udp"),
    ({"action": "deny", "protocol": "tcp", "ports": "22,70000"},
     "firewall.rules[0].ports: '70000' is not a port or range within 1-65535 (like 8000-8100)"),
    ({"action": "deny", "source": "two words"},
     "firewall.rules[0].source: 'two words' is not a prefix, a peer name, 'sites', 'clients' "
     "or 'any'"),
    ({"action": "deny", "destination": "10.20.0.1/24"},
     "firewall.rules[0].destination: '10.20.0.1/24' has host bits set; did you mean "
     "10.20.0.0/24?"),
    ({"action": "block"},
     "firewall.rules[0].action: 'block' is not allowed; use 'allow' or 'deny'"),
])
def test_bad_rules_are_schema_errors(tmp_path: Path, rule: dict[str, object],
                                     message: str) -> None:
    got = rows(tmp_path, _tree([rule]))
    assert [(code, file, text) for code, _sev, file, _l, _c, text in got] == [
        ("prefix-invalid" if "host bits" in message else "schema", "acme-eu/instance.yaml",
         message)]


def test_tests_yaml_schema_errors(tmp_path: Path) -> None:
    tests = ("- {frm: acme-eu/alice, to: 10.20.0.5, expect: allow}\n"
             "- {from: acme-eu/alice, to: 10.20.0, port: 443, expect: maybe}\n")
    assert [(c, f, ln, col, m) for c, _s, f, ln, col, m in rows(tmp_path, _tree([], tests))] == [
        ("schema", "tests.yaml", 1, 3, "missing required key 'from'"),
        ("schema", "tests.yaml", 1, 4, "unknown key 'frm'; did you mean 'from'?"),
        ("address-invalid", "tests.yaml", 2, 29, "to: '10.20.0' is not an IP address"),
        ("schema", "tests.yaml", 2, 44,
         "port: '443' is not PORT/PROTO like 443/tcp or 53/udp, or icmp"),
        ("schema", "tests.yaml", 2, 57, "expect: 'maybe' is not allowed; use 'allow' or 'deny'"),
    ]


def test_explain_prints_the_path_and_the_deciding_rule(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    rows(tmp_path, _tree(RULES))
    monkeypatch.chdir(tmp_path)
    assert main(["check", ".", "--explain", "acme-eu/alice", "10.20.0.5", "22/tcp"]) == 0
    assert capsys.readouterr().out == (
        "acme-eu/alice -> 10.20.0.5 22/tcp: deny\n"
        "  path: acme-eu/alice (10.255.0.11) -> hub acme-eu -> site berlin (berlin) LAN "
        "(10.20.0.5)\n"
        "  decided by: firewall rule 1 (deny tcp ports 22,3389 from clients to 10.20.0.0/16) "
        "(acme-eu/instance.yaml:17)\n")
    assert main(["check", ".", "--explain", "acme-eu/berlin", "10.0.0.9"]) == 0
    assert capsys.readouterr().out == (
        "acme-eu/berlin -> 10.0.0.9 icmp: allow\n"
        "  path: acme-eu/berlin (10.20.0.1) -> hub acme-eu -> the network behind the hub "
        "(pushed_routes) (10.0.0.9)\n"
        "  decided by: the firewall default (allow) (acme-eu/instance.yaml:15)\n")


@pytest.mark.parametrize("argv", [
    ["acme-eu/alice"], ["acme-eu/alice", "10.20.0"], ["alice", "10.20.0.5"],
    ["acme-eu/alice", "10.20.0.5", "22"], ["acme-eu/nobody", "10.20.0.5"],
])
def test_explain_usage_errors_exit_2(tmp_path: Path, argv: list[str],
                                     capsys: pytest.CaptureFixture[str]) -> None:
    rows(tmp_path, _tree(RULES))
    assert main(["check", str(tmp_path), "--explain", *argv]) == 2
    assert capsys.readouterr().err.startswith("mvpn: error: --explain")


# ------------------------------------------------------------------ shadowing, by an oracle

_NETS = [None, "10.0.0.0/8", "10.20.0.0/16", "10.20.0.0/24", "10.20.0.128/25", "10.30.0.0/24"]
_PORTS = [None, "22", "22,443", "1-1024", "443", "8000-8100"]


@st.composite
def _rules(draw: st.DrawFn) -> ResolvedRule:
    proto = draw(st.sampled_from(["any", "tcp", "udp", "icmp"]))
    ports = draw(st.sampled_from(_PORTS)) if proto in ("tcp", "udp") else None
    src, dst = draw(st.sampled_from(_NETS)), draw(st.sampled_from(_NETS))
    rule = Rule.model_validate({"action": "deny", "protocol": proto, "ports": ports,
                                **({"source": src} if src else {}),
                                **({"destination": dst} if dst else {})})
    nets = [None if n is None else [ipaddress.ip_network(n)] for n in (src, dst)]
    return ResolvedRule(0, rule, nets[0], nets[1])


_ADDRS = ["10.20.0.5", "10.20.0.200", "10.20.1.1", "10.30.0.9", "10.99.0.1", "192.0.2.1"]


@settings(max_examples=300, deadline=None)
@given(_rules(), _rules())
def test_a_shadowed_rule_never_matches_a_packet_its_shadow_misses(
        earlier: ResolvedRule, later: ResolvedRule) -> None:
    """Oracle: every packet (from a grid that hits each boundary) ``later`` matches,
    ``earlier`` matches too, whenever ``shadows`` says so."""
    if not shadows(earlier, later):
        return
    for src in _ADDRS:
        for dst in _ADDRS:
            for proto in ("tcp", "udp", "icmp"):
                for port in ((None,) if proto == "icmp" else (22, 443, 1024, 1025, 8050)):
                    a, b = ipaddress.ip_address(src), ipaddress.ip_address(dst)
                    if later.matches(a, b, proto, port):
                        assert earlier.matches(a, b, proto, port)


def test_an_incremental_compile_still_proves_an_edited_tests_yaml(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """tests.yaml looks across instances: the cached fast path must not skip it."""
    root = tmp_path / "tree"
    ok = "- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"
    rows(root, _tree(RULES, ok))
    out = str(tmp_path / "out")
    assert main(["compile", str(root), "-o", out, "--no-qr"]) == 0
    assert main(["compile", str(root), "-o", out, "--no-qr"]) == 0  # warm cache
    (root / "tests.yaml").write_text(ok.replace("443/tcp", "22/tcp"))
    capsys.readouterr()
    assert main(["compile", str(root), "-o", out, "--no-qr"]) == 1
    assert "error[test-failed]" in capsys.readouterr().out
