"""The faster forms of the checks find exactly what their former forms found."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.checks.overlap import overlapping_pairs
from compiler.checks.peers import _address_problem
from compiler.checks.routes import Route, _overlapping
from compiler.checks.secrets import _WG_KEY, _wg_keys
from compiler.model.addressing import hub_address
from compiler.model.routeset import spans_of
from compiler.model.types import IPNetwork

_KEY = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="


@st.composite
def _texts(draw: st.DrawFn) -> str:
    """Text with keys, near-keys (one character short or long) and '=' in every place."""
    pieces = st.one_of(st.text("Ab0+/=\n :", max_size=12), st.sampled_from([
        _KEY, _KEY[1:], "x" + _KEY, _KEY + "=", _KEY + "a", _KEY[:-1], _KEY + _KEY, "=" * 3]))
    return "".join(draw(st.lists(pieces, max_size=8)))


@settings(max_examples=1000)
@given(_texts())
def test_keys_found_at_each_equals_sign_are_what_a_search_finds(text: str) -> None:
    """Oracle: ``_WG_KEY.finditer`` over the whole text (the former scan)."""
    assert [m.span() for m in _wg_keys(text)] == [m.span() for m in _WG_KEY.finditer(text)]


#: Offsets from a network's first address: its edges (network, hub, second host), anywhere.
_OFFSETS = st.one_of(st.integers(-2, 3), st.integers(-2, 2**12))


def _former_problem(addr: ipaddress.IPv4Address | ipaddress.IPv6Address,
                    net: ipaddress.IPv4Network | ipaddress.IPv6Network) -> str | None:
    if addr not in net:
        return "is outside"
    if addr == net.network_address:
        return "is the network address"
    if net.version == 4 and addr == net.broadcast_address:
        return "is the broadcast address"
    if addr == hub_address(net):
        return "is the hub's own address"
    return None


@given(st.integers(0, 2**32 - 1), st.integers(20, 32), _OFFSETS)
def test_an_address_problem_is_the_one_ipaddress_finds(base: int, length: int,
                                                       offset: int) -> None:
    """Oracle: the former comparisons with ipaddress's operators."""
    net = ipaddress.IPv4Network((base, length), strict=False)
    value = int(net.network_address) + offset
    if not 0 <= value < 2**32:
        return
    addr = ipaddress.IPv4Address(value)
    found = _address_problem(addr, net, "wireguard")
    expected = _former_problem(addr, net)
    assert found == expected or (found and expected and expected in found)


@given(st.integers(0, 2**128 - 1), st.integers(100, 128), _OFFSETS)
def test_an_ipv6_address_problem_is_the_one_ipaddress_finds(base: int, length: int,
                                                            offset: int) -> None:
    net = ipaddress.IPv6Network((base, length), strict=False)
    value = int(net.network_address) + offset
    if not 0 <= value < 2**128:
        return
    addr = ipaddress.IPv6Address(value)
    found = _address_problem(addr, net, "openvpn")
    expected = _former_problem(addr, net)
    assert found == expected or (found and expected and expected in found)


_V4_NETS = st.builds(lambda a, n: ipaddress.IPv4Network((a, n), strict=False),
                     st.integers(0, 2**8 - 1).map(lambda a: a << 24), st.integers(4, 12))


@settings(max_examples=500)
@given(st.lists(_V4_NETS, max_size=12),
       st.lists(st.tuples(_V4_NETS, st.sampled_from(
           ["tunnel", "pushed", "aggregate", "reserved"])), max_size=8))
def test_route_pairs_are_the_full_sweeps_but_subnet_and_aggregate(
        subnet_nets: list[IPNetwork], hub_nets: list[tuple[IPNetwork, str]]) -> None:
    """Oracle: one sweep over every route (the former check).

    Without the pairs of a site subnet and an aggregate, which no check reports.
    """
    subnets = [Route(net, "subnet", None, ("subnets", i), "") for i, net in enumerate(subnet_nets)]
    hub = [Route(net, kind, None, (kind, i), "") for i, (net, kind) in enumerate(hub_nets)]
    routes = subnets + hub
    expected = {
        (a, b) for a, b in overlapping_pairs([r.net for r in routes])
        if {routes[a].kind, routes[b].kind} != {"subnet", "aggregate"}
    }
    index = {id(r): i for i, r in enumerate(routes)}
    got = [(index[id(ra)], index[id(rb)]) for ra, rb in
           _overlapping(subnets, spans_of(subnet_nets), hub)]
    assert sorted(got) == sorted(expected) and len(got) == len(expected)
