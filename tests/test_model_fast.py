"""The fast forms of address work in the model give exactly what ``ipaddress`` gives."""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import PydanticCustomError

from compiler.model.policy import sorted_nets
from compiler.model.routeset import span
from compiler.model.types import (
    IPNetwork,
    _address_v4,
    _address_v6,
    _fast_v4_address,
    _fast_v4_prefix,
    _prefix_any,
    parse_address,
)

# Octets as written: in range, with leading zeros, too large, signs, Unicode digits, empty.
_OCTETS = st.one_of(st.integers(0, 255).map(str),
                    st.sampled_from(["00", "01", "010", "256", "999", "1000", "+1", "-0", "",
                                     " 1", "\u0661", "0x1"]))
_LENGTHS = st.one_of(st.integers(0, 32).map(str),
                     st.sampled_from(["024", "33", "", "-1", "255.255.255.0", "0.0.0.255"]))


@st.composite
def _v4_texts(draw: st.DrawFn) -> str:
    quad = ".".join(draw(st.lists(_OCTETS, min_size=3, max_size=5)))
    if draw(st.booleans()):
        return f"{quad}/{draw(_LENGTHS)}"
    return quad


def _same(a: object, b: object) -> None:
    assert type(a) is type(b) and a == b and str(a) == str(b) and hash(a) == hash(b)
    # Nothing set differently (networks keep a __dict__; addresses have slots only).
    # A /31 or /32 keeps its own ``hosts`` callable: compared by what it yields.
    def state(obj: object) -> dict[str, object] | None:
        found = getattr(obj, "__dict__", None)
        return None if found is None else {k: list(v()) if callable(v) else v
                                           for k, v in list(found.items())}
    assert state(a) == state(b)


@settings(max_examples=2000, deadline=None)
@given(_v4_texts())
def test_a_fast_prefix_is_what_ip_network_makes(text: str) -> None:
    """Oracle: ``ipaddress``. The fast path answers only for a valid prefix, with its object."""
    fast = _fast_v4_prefix(text)
    try:
        expected = ipaddress.ip_network(text)
    except ValueError:
        assert fast is None
        return
    if fast is not None:
        _same(fast, expected)


@settings(max_examples=2000, deadline=None)
@given(_v4_texts())
def test_a_fast_address_is_what_ip_address_makes(text: str) -> None:
    fast = _fast_v4_address(text)
    try:
        expected = ipaddress.ip_address(text)
    except ValueError:
        assert fast is None
        return
    if fast is not None:
        _same(fast, expected)


@settings(max_examples=500, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_every_written_prefix_takes_the_fast_path(addr: int, length: int) -> None:
    net = ipaddress.IPv4Network((addr, length), strict=False)
    text = str(net)
    fast = _fast_v4_prefix(text)
    assert fast is not None
    _same(fast, ipaddress.ip_network(text))
    _same(_fast_v4_address(str(net.network_address)), net.network_address)


@pytest.mark.parametrize(("call", "text", "message"), [
    (_prefix_any, "10.0.0.1/24", "'10.0.0.1/24' has host bits set; did you mean 10.0.0.0/24?"),
    (_prefix_any, "10.0.0.0/33", "'10.0.0.0/33' is not a valid prefix (write it as 10.20.0.0/24)"),
    (_address_v6, "10.0.0.1", "'10.0.0.1' is not an IPv6 address"),
    (_address_v4, "010.0.0.1", "'010.0.0.1' is not a valid IP address"),
    (parse_address, "::ffff:10.0.0.1",
     "'::ffff:10.0.0.1' is an IPv4-mapped IPv6 address; write the IPv4 address instead"),
    (parse_address, "::ffff:0:0", "'::ffff:0:0' is an IPv4-mapped IPv6 address; write the IPv4 "
     "address instead"),
])
def test_what_the_fast_paths_leave_is_still_refused(call: object, text: str,
                                                    message: str) -> None:
    assert callable(call)
    with pytest.raises(PydanticCustomError) as caught:
        call(text)
    assert caught.value.message() == message


@pytest.mark.parametrize("text", ["::fffe:ffff:ffff", "::1:0:0:0", "fd00::a", "::ffff"])
def test_ipv6_addresses_next_to_the_mapped_block_are_accepted(text: str) -> None:
    assert parse_address(text) == ipaddress.ip_address(text)


_NETS = st.one_of(
    st.builds(lambda a, n: ipaddress.IPv4Network((a, n), strict=False),
              st.integers(0, 2**32 - 1), st.integers(0, 32)),
    st.builds(lambda a, n: ipaddress.IPv6Network((a, n), strict=False),
              st.integers(0, 2**128 - 1), st.integers(0, 128)),
)


@given(_NETS)
def test_a_span_is_first_and_broadcast_address(net: IPNetwork) -> None:
    assert span(net) == (net.version, int(net.network_address), int(net.broadcast_address))


@given(st.lists(_NETS, max_size=30))
def test_sorted_nets_is_the_sorted_set(nets: list[IPNetwork]) -> None:
    """Oracle: the former ``sorted(set(nets), key=...)``."""
    expected = sorted(set(nets), key=lambda n: (n.version, int(n.network_address), n.prefixlen))
    got = sorted_nets(nets + nets[:5])
    assert got == expected and [str(n) for n in got] == [str(n) for n in expected]
