"""Which prefixes a peer routes into the tunnel (SPEC §10), shared by `check` and every renderer.

An instance routes one *base* set: its ``aggregates``, ``pushed_routes``, tunnel networks and the
site subnets that lie outside every aggregate (without aggregates: every site subnet). The base
is summarised losslessly (``ipaddress.collapse_addresses``) into *blocks* once per instance.

A peer routes the blocks minus its own subnets that are members of the base (a site must not
route its own LAN into the tunnel: on a Linux router wg-quick would fail on the existing LAN
route). Only the few blocks that hold an own subnet are split again (``address_exclude``),
so a peer's list is the instance's list with a handful of slices replaced: no peer pays for
the whole set, and every peer without unaggregated subnets shares one list.
"""

from __future__ import annotations

import bisect
import ipaddress
from collections.abc import Callable, Iterable, Sequence
from functools import cached_property

from compiler.model.types import IPNetwork


def _order(net: IPNetwork) -> tuple[int, int, int]:
    return (net.version, int(net.network_address), net.prefixlen)


def collapse(nets: Iterable[IPNetwork]) -> list[IPNetwork]:
    """The smallest set of prefixes covering exactly ``nets``; IPv4 first, in address order."""
    v4 = [n for n in nets if n.version == 4]
    v6 = [n for n in nets if n.version == 6]
    out: list[IPNetwork] = []
    for family in (v4, v6):
        out.extend(ipaddress.collapse_addresses(family))  # type: ignore[type-var,arg-type]
    return out


def span(net: IPNetwork) -> tuple[int, int, int]:
    """``(version, first, last)`` of ``net``.

    The last address from integers: ``broadcast_address`` makes two address objects per
    network (hostmask, broadcast), about 1.5 µs, and the checks ask it of every subnet.
    """
    first = int(net.network_address)
    return (net.version, first, first | ((1 << (net.max_prefixlen - net.prefixlen)) - 1))


def inside_any(net: IPNetwork, spans: Sequence[tuple[int, int, int]]) -> bool:
    """``net`` lies within one of ``spans`` (``(version, first, last)``, a short list)."""
    version, first, last = span(net)
    return any(v == version and lo <= first and last <= hi for v, lo, hi in spans)


def spans_of(nets: Iterable[IPNetwork]) -> list[tuple[int, int, int]]:
    """``(version, first, last)`` of each prefix."""
    return [span(n) for n in nets]


def subtract(nets: Iterable[IPNetwork], holes: Sequence[IPNetwork]) -> list[IPNetwork]:
    """``nets`` without the addresses of ``holes``, as prefixes, sorted (v4 first)."""
    out: list[IPNetwork] = []
    for net in nets:
        parts = [net]
        for hole in holes:
            kept: list[IPNetwork] = []
            for part in parts:
                if part.version != hole.version or not part.overlaps(hole):
                    kept.append(part)
                elif not part.subnet_of(hole):  # type: ignore[arg-type]
                    kept.extend(part.address_exclude(hole))  # type: ignore[arg-type]
            parts = kept
        out.extend(parts)
    return sorted(set(out), key=_order)


class RouteSet:
    """The route blocks of one instance and each peer's share of them."""

    def __init__(self, base: Iterable[IPNetwork]) -> None:
        #: The instance's routes, summarised: v4 first, in address order.
        self.blocks: list[IPNetwork] = collapse(set(base))
        self._keys = [(n.version, int(n.network_address)) for n in self.blocks]
        self.v4_count = sum(1 for n in self.blocks if n.version == 4)

    @cached_property
    def texts(self) -> list[str]:
        """The blocks as text (``10.16.0.0/12``), worked out once."""
        return [str(n) for n in self.blocks]

    @cached_property
    def masks(self) -> list[str]:
        """The blocks in OpenVPN's ``address netmask`` form (empty for IPv6)."""
        return [f"{n.network_address} {n.netmask}" if n.version == 4 else ""
                for n in self.blocks]

    def _splices(self, exclude: Sequence[IPNetwork]) -> list[tuple[int, list[IPNetwork]]]:
        """``(block index, what remains of it)`` for each block holding an excluded prefix."""
        changed: dict[int, list[IPNetwork]] = {}
        for net in exclude:
            i = bisect.bisect_right(self._keys, (net.version, int(net.network_address))) - 1
            if i < 0:
                continue
            block = self.blocks[i]
            if block.version != net.version or not net.subnet_of(block):  # type: ignore[arg-type]
                continue
            kept: list[IPNetwork] = []
            for part in changed.get(i, [block]):
                if part.version == net.version and net.subnet_of(part):  # type: ignore[arg-type]
                    if part != net:
                        kept.extend(part.address_exclude(net))  # type: ignore[arg-type]
                else:
                    kept.append(part)
            changed[i] = sorted(kept, key=_order)
        return sorted(changed.items())

    def _build(self, items: list[str], exclude: Sequence[IPNetwork], v6: bool,
               fmt: Callable[[IPNetwork], str]) -> list[str]:
        end = len(self.blocks) if v6 else self.v4_count
        splices = self._splices(exclude) if exclude else []
        if not splices:
            return items if end == len(items) else items[:end]
        out: list[str] = []
        start = 0
        for i, parts in splices:
            if i >= end:
                break
            out += items[start:i]
            out += map(fmt, parts)
            start = i + 1
        out += items[start:end]
        return out

    def nets(self, exclude: Sequence[IPNetwork] = (), v6: bool = True) -> list[IPNetwork]:
        """The blocks minus ``exclude`` (members of the base), IPv4 only unless ``v6``."""
        end = len(self.blocks) if v6 else self.v4_count
        out: list[IPNetwork] = []
        start = 0
        for i, parts in self._splices(exclude) if exclude else []:
            if i >= end:
                break
            out += self.blocks[start:i]
            out += parts
            start = i + 1
        out += self.blocks[start:end]
        return out

    def text(self, exclude: Sequence[IPNetwork] = (), v6: bool = True) -> list[str]:
        """:meth:`nets` as text. The result may be shared: callers must not modify it."""
        return self._build(self.texts, exclude, v6, str)

    def netmasks(self, exclude: Sequence[IPNetwork] = ()) -> list[str]:
        """:meth:`nets` (IPv4) in ``address netmask`` form."""
        return self._build(self.masks, exclude, False,
                           lambda n: f"{n.network_address} {n.netmask}")
