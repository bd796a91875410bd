"""The sort-and-sweep overlap finder agrees with a pairwise ``ipaddress`` oracle."""

from __future__ import annotations

import ipaddress

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.checks.overlap import overlapping_pairs
from compiler.model.types import IPNetwork


@st.composite
def networks(draw: st.DrawFn) -> IPNetwork:
    if draw(st.booleans()):
        # A small v4 space so that overlaps are frequent.
        plen = draw(st.integers(min_value=20, max_value=32))
        addr = draw(st.integers(min_value=0, max_value=(1 << 14) - 1)) << 18 >> 18
        base = (10 << 24) | (addr << 4)
        return ipaddress.ip_network((base, plen), strict=False)
    plen = draw(st.integers(min_value=0, max_value=128))
    addr = draw(st.integers(min_value=0, max_value=15)) << 124 | draw(
        st.integers(min_value=0, max_value=255)
    ) << 100
    return ipaddress.ip_network((addr, plen), strict=False)


def oracle(nets: list[IPNetwork]) -> set[frozenset[int]]:
    out: set[frozenset[int]] = set()
    for i, a in enumerate(nets):
        for j in range(i + 1, len(nets)):
            b = nets[j]
            if a.version == b.version and a.overlaps(b):
                out.add(frozenset((i, j)))
    return out


@settings(max_examples=300)
@given(st.lists(networks(), max_size=40))
def test_sweep_matches_pairwise_oracle(nets: list[IPNetwork]) -> None:
    pairs = list(overlapping_pairs(nets))
    found = {frozenset(p) for p in pairs}
    assert len(found) == len(pairs), "a pair was reported twice"
    assert found == oracle(nets)
    for outer, inner in pairs:
        assert nets[outer].prefixlen <= nets[inner].prefixlen


def test_families_never_overlap() -> None:
    nets: list[IPNetwork] = [ipaddress.ip_network("0.0.0.0/0"), ipaddress.ip_network("::/0")]
    assert list(overlapping_pairs(nets)) == []
