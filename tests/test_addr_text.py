"""``env.ip_text`` is ``str()`` of an address or network, only faster: compared over the space.

IPv6 addresses are drawn group by group with many zero groups, so that runs of zeros of every
length and position (ties, the start, the end, all zeros) come up; ``str()`` is the oracle.
"""

from __future__ import annotations

import ipaddress

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.render.env import addr, ip_text

WORD = st.one_of(st.just(0), st.just(0), st.integers(1, 0xF), st.integers(0, 0xFFFF))
V6_INT = st.lists(WORD, min_size=8, max_size=8).map(
    lambda words: int.from_bytes(b"".join(w.to_bytes(2, "big") for w in words), "big"))


@settings(max_examples=3000)
@given(V6_INT)
def test_ipv6_address_text_is_str(value: int) -> None:
    address = ipaddress.IPv6Address(value)
    assert ip_text(address) == str(address)


@settings(max_examples=1000)
@given(V6_INT, st.integers(0, 128))
def test_ipv6_network_text_is_str(value: int, length: int) -> None:
    network = ipaddress.IPv6Network((value, length), strict=False)
    assert ip_text(network) == str(network)


@settings(max_examples=1000)
@given(st.integers(0, 2**32 - 1), st.integers(0, 32))
def test_ipv4_texts_are_str(value: int, length: int) -> None:
    address = ipaddress.IPv4Address(value)
    network = ipaddress.IPv4Network((value, length), strict=False)
    assert (ip_text(address), ip_text(network)) == (str(address), str(network))


@pytest.mark.parametrize("text", [
    "::", "::1", "1::", "1:0:0:2:0:0:3:4", "1:0:0:2::3", "0:0:1::", "::ffff:1.2.3.4",
    "::1.2.3.4", "fe80::1%eth0", "2001:db8::/32", "fe80::%eth0/64", "10.0.0.0/8",
])
def test_edge_cases_and_what_is_left_to_str(text: str) -> None:
    value = ipaddress.ip_network(text) if "/" in text else ipaddress.ip_address(text)
    assert ip_text(value) == str(value)


def test_addr_still_refuses_a_zone_id() -> None:
    with pytest.raises(ValueError, match="not an address or prefix: 'fe80::1%eth0'"):
        addr(ipaddress.IPv6Address("fe80::1%eth0"))
