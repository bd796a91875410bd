"""Issue 11 items 3 and 21: the shadowed-rule check at scale, tests.yaml about broken peers."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.checks import reach
from compiler.checks.reach import first_shadows, shadows
from compiler.model.access import Rule
from compiler.model.policy import ResolvedRule
from compiler.model.types import IPNetwork
from tests.support.trees import INSTANCE, estate, rows

# ------------------------------------------------------------------ item 3: shadowed rules


def pairwise(rules: list[ResolvedRule]) -> list[int | None]:
    """The old quadratic check: every earlier rule in order, the first that shadows wins."""
    out: list[int | None] = []
    for j, later in enumerate(rules):
        out.append(next((i for i, earlier in enumerate(rules[:j]) if shadows(earlier, later)),
                        None))
    return out


_NETS = ["10.0.0.0/8", "10.20.0.0/16", "10.20.0.0/24", "10.20.0.128/25", "10.20.0.5/32",
         "10.30.0.0/24", "0.0.0.0/0", "fd00::/8", "fd00:20::/64", "fd00:20::5/128"]
_PORTS = [None, "22", "22,443", "1-1024", "443", "8000-8100", "20-30,22", "1-65535", "1023-1025"]
_endpoint: st.SearchStrategy[list[str] | None] = st.one_of(
    st.none(),  # any
    st.just([]),  # a class with no members ("sites" without sites): covered by everything
    st.lists(st.sampled_from(_NETS), min_size=1, max_size=3),
)


@st.composite
def _rule(draw: st.DrawFn) -> tuple[Rule, list[str] | None, list[str] | None]:
    proto = draw(st.sampled_from(["any", "tcp", "udp", "icmp"]))
    ports = draw(st.sampled_from(_PORTS)) if proto in ("tcp", "udp") else None
    rule = Rule.model_validate({"action": "deny", "protocol": proto, "ports": ports})
    return rule, draw(_endpoint), draw(_endpoint)


def _resolved(drawn: list[tuple[Rule, list[str] | None, list[str] | None]]
              ) -> list[ResolvedRule]:
    def nets(names: list[str] | None) -> list[IPNetwork] | None:
        return None if names is None else [ipaddress.ip_network(n) for n in names]
    return [ResolvedRule(i, rule, nets(src), nets(dst)) for i, (rule, src, dst) in enumerate(drawn)]


@settings(max_examples=400, deadline=None)
@given(st.lists(_rule(), max_size=14))
def test_indexed_shadow_check_equals_the_pairwise_oracle(
        drawn: list[tuple[Rule, list[str] | None, list[str] | None]]) -> None:
    rules = _resolved(drawn)
    assert first_shadows(rules) == pairwise(rules)


def _many(n: int) -> list[ResolvedRule]:
    """Distinct rules as a big policy has them: per-host destinations and ports, shared sources."""
    clients = [ipaddress.ip_network("10.255.0.0/24"), ipaddress.ip_network("fd00:255::/64")]
    out = []
    for i in range(n):
        proto = ("tcp", "udp")[i % 2]
        rule = Rule.model_validate({"action": ("allow", "deny")[i % 3 == 0], "protocol": proto,
                                    "ports": f"{1000 + i % 5000}"})
        dst = [ipaddress.ip_network(f"10.{20 + i // 65536}.{i // 256 % 256}.{i % 256}/32")]
        out.append(ResolvedRule(i, rule, clients if i % 4 else None, dst))
    # and a few that are shadowed: the same as an earlier rule
    out.extend(ResolvedRule(n + k, out[k * 7].rule, out[k * 7].source, out[k * 7].destination)
               for k in range(50))
    return out


def _count_comparisons(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the calls of ``reach.shadows`` (one pairwise comparison each) in ``[0]``."""
    calls = [0]
    real = reach.shadows

    def counting(a: ResolvedRule, b: ResolvedRule) -> bool:
        calls[0] += 1
        return real(a, b)

    monkeypatch.setattr(reach, "shadows", counting)
    return calls


def test_seven_thousand_rules_are_not_compared_pairwise(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _count_comparisons(monkeypatch)
    rules = _many(7000)
    found = first_shadows(rules)
    assert found[7000:] == [k * 7 for k in range(50)]
    assert found[:7000] == [None] * 7000
    # pairwise this is ~24.7 million comparisons; the indexes leave a handful per rule
    assert calls[0] <= 2 * len(rules), calls[0]


def test_a_shared_first_port_does_not_make_it_pairwise(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rule opens 22 and one other port: the rarest port is looked up, not the first."""
    calls = _count_comparisons(monkeypatch)
    sites = [ipaddress.ip_network(f"10.{20 + i}.0.0/24") for i in range(20)]
    rules = [ResolvedRule(i, Rule.model_validate({"action": "allow", "protocol": "tcp",
                                                  "ports": f"22,{2000 + i}"}), None, sites)
             for i in range(5000)]
    assert first_shadows(rules) == [None] * 5000
    assert calls[0] <= 2 * len(rules), calls[0]


def test_a_shared_first_prefix_does_not_make_it_pairwise(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """Every rule reaches one shared LAN and one host of its own: the host is looked up."""
    calls = _count_comparisons(monkeypatch)
    lan = ipaddress.ip_network("10.20.0.0/24")
    rules = [ResolvedRule(i, Rule.model_validate({"action": "allow"}), None,
                          [lan, ipaddress.ip_network(f"192.168.{i // 256}.{i % 256}/32")])
             for i in range(5000)]
    assert first_shadows(rules) == [None] * 5000
    assert calls[0] <= 2 * len(rules), calls[0]


def test_shadowed_rule_is_reported_with_both_lines(tmp_path: Path) -> None:
    rules = [{"action": "deny", "protocol": "tcp", "ports": "22", "destination": "10.20.0.0/16"},
             {"action": "allow", "protocol": "udp", "destination": "10.20.0.0/16"},
             {"action": "allow", "protocol": "tcp", "ports": "22", "destination": "10.20.1.0/24"}]
    inst = dict(INSTANCE, firewall={"default": "allow", "rules": rules})
    assert rows(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": inst})) == [
        ("rule-shadowed", "warning", "acme-eu/instance.yaml", 24, 5,
         "firewall rule 3 can never match: rule 1 (line 17) matches everything it does; "
         "remove it or move it up"),
    ]


# ------------------------------------------------------------------ item 21: broken references


def test_assertions_about_a_broken_peer_say_so_once(tmp_path: Path) -> None:
    tests = ("- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"
             "- {from: acme-eu/alice, to: 10.20.0.6, port: 443/tcp, expect: allow}\n"
             "- {from: acme-eu/alice, to: 10.20.0.7, port: 443/tcp, expect: allow}\n"
             "- {from: acme-eu/nobody, to: 10.20.0.5, port: 443/tcp, expect: allow}\n")
    broken = "type: client\nuser: alice@example.com\naddress: 10.255.0.11\nadress: x\n"
    files = estate(**{"acme-eu__peers__alice_DOT_yaml": broken, "tests_DOT_yaml": tests})
    assert rows(tmp_path, files) == [
        ("schema", "error", "acme-eu/peers/alice.yaml", 4, 1,
         "unknown key 'adress'; did you mean 'address'?"),
        ("reference-broken", "warning", "tests.yaml", 1, 10,
         "this and 2 later assertion(s) refer to peer 'acme-eu/alice', whose file "
         "acme-eu/peers/alice.yaml has errors; not evaluated until that is fixed"),
        ("reference-unknown", "error", "tests.yaml", 4, 10,
         "instance 'acme-eu' has no peer or site 'nobody'"),
    ]


def test_assertions_about_a_broken_instance_say_so_once(tmp_path: Path) -> None:
    tests = "- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"
    inst = dict(INSTANCE, hostname="x")  # too short: the instance.yaml has an error
    files = estate(**{"acme-eu__instance_DOT_yaml": inst, "tests_DOT_yaml": tests})
    found = [r for r in rows(tmp_path, files) if r[2] == "tests.yaml"]
    assert found == [
        ("reference-broken", "warning", "tests.yaml", 1, 10,
         "this assertion refers to instance 'acme-eu', whose acme-eu/instance.yaml has errors; "
         "not evaluated until that is fixed"),
    ]
