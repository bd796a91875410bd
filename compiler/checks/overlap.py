"""Overlapping prefixes in O(n log n + k): sort, then sweep with a stack.

CIDR blocks are either nested or disjoint. Sorted by (family, first address,
prefix length), every block still "open" on the stack when the next one starts
contains it, so the stack is a chain of nested blocks and each reported pair is
a real overlap (``k`` is the number of pairs reported, never n²  comparisons).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from compiler.model.routeset import spans_of
from compiler.model.types import IPNetwork


def overlapping_pairs(nets: Sequence[IPNetwork]) -> Iterator[tuple[int, int]]:
    """Yield ``(outer, inner)`` index pairs of overlapping prefixes (equal counts as nested)."""
    return overlapping_spans(spans_of(nets))


def overlapping_spans(spans: Sequence[tuple[int, int, int]]) -> Iterator[tuple[int, int]]:
    """:func:`overlapping_pairs` over ``(family, first address, last address)`` spans.

    Sorting by (family, first, -last) puts the wider of two blocks with the same first
    address first, as sorting by prefix length does.
    """
    order = sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1], -spans[i][2], i))
    stack: list[tuple[int, int, int]] = []  # (family, last address, index)
    for idx in order:
        version, first, last = spans[idx]
        while stack and (stack[-1][0] != version or stack[-1][1] < first):
            stack.pop()
        for _v, _last, outer in stack:
            yield (outer, idx)
        stack.append((version, last, idx))
