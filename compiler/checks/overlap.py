"""Overlapping prefixes in O(n log n + k): sort, then sweep with a stack.

CIDR blocks are either nested or disjoint. Sorted by (family, first address,
prefix length), every block still "open" on the stack when the next one starts
contains it, so the stack is a chain of nested blocks and each reported pair is
a real overlap (``k`` is the number of pairs reported, never n²  comparisons).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from compiler.model.types import IPNetwork


def overlapping_pairs(nets: Sequence[IPNetwork]) -> Iterator[tuple[int, int]]:
    """Yield ``(outer, inner)`` index pairs of overlapping prefixes (equal counts as nested)."""
    spans = sorted(
        (
            (net.version, int(net.network_address), net.prefixlen, int(net.broadcast_address), i)
            for i, net in enumerate(nets)
        ),
    )
    stack: list[tuple[int, int, int]] = []  # (family, last address, index)
    for version, first, _plen, last, idx in spans:
        while stack and (stack[-1][0] != version or stack[-1][1] < first):
            stack.pop()
        for _v, _last, outer in stack:
            yield (outer, idx)
        stack.append((version, last, idx))
