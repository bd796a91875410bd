"""The second wall (issue 11): every value reaches an artifact through a checking filter.

The filters of :mod:`compiler.render.env` refuse (raise) anything outside their alphabet;
the template audit below proves that no ``{{ ... }}`` of any template prints a value that did
not go through one of them; and a tree whose zone id slipped past the model is still refused
by the render step, before anything is written.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from jinja2 import nodes

from compiler.api import compile_tree
from compiler.model import types
from compiler.render import env
from compiler.render.env import UnsafeValueError
from tests.support.trees import INSTANCE, TEST_SECRET, build_file_tree, client, estate

HOSTILE = ["", " ", "10.0.0.1\n", "10.0.0.1 #", "fd00::1%x", "fd00::1%x\nPreUp = x #", "a;b",
           "x\"y", "x'y", "[Peer]", "{x}", "$x", "`x`", "x\\", "x\u2028", "x\u0085", "x\x00",
           "x\r", "x\t", "é", "10.0.0.0/8,\n"]


@pytest.mark.parametrize("text", HOSTILE)
@pytest.mark.parametrize("check", [env.addr, env.name, env.host, env.word],
                         ids=["addr", "name", "host", "word"])
def test_filters_refuse_what_is_outside_their_alphabet(
    check: Callable[[object], str], text: str
) -> None:
    with pytest.raises(UnsafeValueError):
        check(text)


def test_addr_refuses_a_zone_id_that_ipaddress_keeps() -> None:
    zoned = ipaddress.ip_address("fd00:255::11%x\nPreUp = touch PWNED #")
    assert "\n" in str(zoned)  # what the model must never let through
    with pytest.raises(UnsafeValueError, match="not an address or prefix"):
        env.addr(zoned)
    with pytest.raises(UnsafeValueError):
        env.addrs([ipaddress.ip_address("10.0.0.1"), zoned])
    with pytest.raises(UnsafeValueError):
        env.addrs_text("10.0.0.0/8, fd00::/8\n#")


@pytest.mark.parametrize("value", [True, False, "1", 1.0, None, "51820"])
def test_num_takes_only_integers(value: object) -> None:
    with pytest.raises(UnsafeValueError, match="not an integer"):
        env.num(value)


def test_filters_pass_valid_values_unchanged() -> None:
    assert env.addr(ipaddress.ip_network("2001:db8::/32")) == "2001:db8::/32"
    assert env.addrs([ipaddress.ip_address("10.0.0.1"), ipaddress.ip_address("fd00::1")],
                     ",") == "10.0.0.1,fd00::1"
    assert env.addrs_text("10.0.0.0/8, fd00::/8") == "10.0.0.0/8, fd00::/8"
    assert env.mask_text("10.20.0.0 255.255.255.0") == "10.20.0.0 255.255.255.0"
    with pytest.raises(UnsafeValueError):  # a comma would end the pushed option at the client
        env.mask_text("10.20.0.0 255.255.255.0,redirect-gateway")
    assert env.num(51820) == "51820"
    assert env.name("berlin-office") == "berlin-office"
    assert env.host("acme-eu.vpn.example.net") == "acme-eu.vpn.example.net"
    assert env.word("7.16") == "7.16"
    line = "ip saddr { 10.255.0.11/32 } ip daddr != { 10.20.0.0/24 } meta l4proto tcp drop"
    assert env.nft_line(line) == line
    with pytest.raises(UnsafeValueError):
        env.nft_line(line + "; flush ruleset")


@given(st.text(max_size=30))
def test_addr_output_is_always_in_the_address_alphabet(text: str) -> None:
    try:
        out = env.addr(text)
    except UnsafeValueError:
        return
    assert out == text and set(out) <= set("0123456789abcdefABCDEF:./")


# --- every template output goes through a checking filter ----------------------------------

#: Filters that escape (text) or check (everything else) what they print.
SAFE_FILTERS = frozenset({"addr", "addrs", "addrs_text", "num", "name", "host", "word", "token",
                          "line", "rsc_str", "ovpn_arg", "netmask", "nft_line", "mask_text"})
#: Names the templates print that hold no value from the tree, and why.
INTERNAL = {
    "version": "the version slot (a constant replaced after hashing)",
    "ip": "'ip' or 'ip6', set in the template",
    "family": "4 or 6, a loop over a constant tuple",
    "name": "the set name, a constant passed to the macro",
}
#: PEM blocks derived from the secret by ``cryptography`` (no text from the tree).
PEM = frozenset({"ca", "peer.openvpn.certificate", "peer.openvpn.private_key"})


def _source(node: nodes.Node) -> str:
    if isinstance(node, nodes.Name):
        return node.name
    if isinstance(node, nodes.Getattr):
        return f"{_source(node.node)}.{node.attr}"
    return type(node).__name__


def _safe_list(node: nodes.Node) -> bool:
    if isinstance(node, nodes.Filter) and node.name == "list" and node.node is not None:
        return _safe_list(node.node)
    if isinstance(node, nodes.Filter) and node.name == "map":
        return (len(node.args) == 1 and isinstance(node.args[0], nodes.Const)
                and node.args[0].value in SAFE_FILTERS)
    if isinstance(node, nodes.Add):
        return _safe_list(node.left) and _safe_list(node.right)
    return False


def _safe(node: nodes.Node, macros: frozenset[str] = frozenset({"set"})) -> bool:
    if isinstance(node, nodes.Const):
        return True
    if isinstance(node, nodes.Filter):
        if node.name in SAFE_FILTERS:
            return True
        if node.name == "join" and node.node is not None:
            return _safe_list(node.node)
        if node.name == "trim" and node.node is not None:
            return _source(node.node) in PEM
        return False
    if isinstance(node, nodes.CondExpr):
        return (_safe(node.expr1, macros) and node.expr2 is not None
                and _safe(node.expr2, macros))
    if isinstance(node, nodes.Name):
        return node.name in INTERNAL
    if isinstance(node, nodes.Call):  # a macro of the same template (audited itself)
        return isinstance(node.node, nodes.Name) and node.node.name in macros
    return False


def _outputs(path: Path) -> list[tuple[int, str]]:
    """(line, expression) of every unchecked ``{{ ... }}`` of one template."""
    tree = env.environment().parse(path.read_text(encoding="utf-8"))
    macros = frozenset(m.name for m in tree.find_all(nodes.Macro))
    return [(expr.lineno, type(expr).__name__ + " "
             + _source(expr.node if isinstance(expr, nodes.Filter) and expr.node else expr))
            for out in tree.find_all(nodes.Output) for expr in out.nodes
            if not isinstance(expr, nodes.TemplateData) and not _safe(expr, macros)]


TEMPLATES = sorted(env.TEMPLATES.rglob("*.j2"))


@pytest.mark.parametrize("path", TEMPLATES, ids=[p.relative_to(env.TEMPLATES).as_posix()
                                                 for p in TEMPLATES])
def test_every_template_output_is_filtered(path: Path) -> None:
    assert _outputs(path) == []


def test_the_audit_flags_a_raw_value(tmp_path: Path) -> None:
    bad = tmp_path / "bad.j2"
    bad.write_text("Address = {{ peer.address }}\n{{ x | join(', ') }}\n{{ peer.address | addr }}\n",
                   encoding="utf-8")
    assert _outputs(bad) == [(1, "Getattr peer.address"), (2, "Filter x")]


# --- defence in depth: a zone id that got past the model is still refused ------------------


def test_render_refuses_a_zone_id_the_model_let_through(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(types, "_plain_form", lambda *args: None)  # a hole in the first wall
    inst = {**INSTANCE, "wireguard": {"port": 51820, "network": "10.255.0.0/24",
                                      "network6": "fd00:255::/64"}}
    root = build_file_tree(tmp_path / "src", estate(**{  # type: ignore[arg-type]
        "acme-eu__peers__berlin_DOT_yaml": None, "acme-eu__instance_DOT_yaml": inst,
        "acme-eu__peers__alice_DOT_yaml": client(
            "alice@example.com", "10.255.0.11", address6="fd00:255::11%x\nPreUp = touch PWNED #"),
    }))
    with pytest.raises(UnsafeValueError, match="not an address or prefix"):
        compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False)
    assert not (tmp_path / "out").exists()
