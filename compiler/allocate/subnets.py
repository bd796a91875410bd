"""``subnets: [auto/24]``: number a new site's LAN from its instance's aggregates (SPEC §10).

Each ``auto/N`` entry (IPv4 for N ≤ 32, else IPv6) gets the lowest aligned /N inside the
instance's aggregates (in the order they are declared) that overlaps nothing written anywhere
in the tree: no site subnet of any instance, no tunnel network, pushed route or reserved
prefix, and nothing handed out earlier in the same run. So a prefix in use is never handed out
twice. The entry's text is replaced in place (the rest of the file stays byte for byte).
"""

from __future__ import annotations

import bisect
import dataclasses
import ipaddress
from collections.abc import Iterable

from yaml.nodes import MappingNode, ScalarNode, SequenceNode

from compiler.allocate.splice import SpliceError
from compiler.diagnostics import Diagnostics
from compiler.loader.source import SourceFile
from compiler.loader.yamlread import YamlError, compose, parse
from compiler.model.estate import Estate
from compiler.model.peer import AUTO_SUBNET_RE
from compiler.model.policy import Policy
from compiler.model.types import IPNetwork


@dataclasses.dataclass(frozen=True)
class SubnetAssignment:
    """``auto/N`` at ``subnets[index]`` of ``source`` becomes ``prefix`` (written at ``line``)."""

    source: SourceFile
    index: int
    prefix: IPNetwork
    line: int = 0


class _Taken:
    """Address spans in use, per family, disjoint and sorted: ask for the first free block."""

    def __init__(self, nets: Iterable[IPNetwork]) -> None:
        self.spans: dict[int, list[tuple[int, int]]] = {4: [], 6: []}
        for net in nets:
            self.add(net)

    def add(self, net: IPNetwork) -> None:
        """Mark ``net`` taken; the spans stay disjoint (merged), so one lookup finds a clash."""
        spans = self.spans[net.version]
        lo, hi = int(net.network_address), int(net.broadcast_address)
        i = bisect.bisect_left(spans, (lo, -1))
        if i > 0 and spans[i - 1][1] >= lo - 1:
            i -= 1
            lo = min(lo, spans[i][0])
        j = i
        while j < len(spans) and spans[j][0] <= hi + 1:
            hi = max(hi, spans[j][1])
            j += 1
        spans[i:j] = [(lo, hi)]

    def first_free(self, within: IPNetwork, length: int) -> IPNetwork | None:
        """The lowest aligned /``length`` inside ``within`` that overlaps nothing taken."""
        if length < within.prefixlen or length > within.max_prefixlen:
            return None
        size = 1 << (within.max_prefixlen - length)
        spans = self.spans[within.version]
        cursor, end = int(within.network_address), int(within.broadcast_address)
        while cursor + size - 1 <= end:
            i = bisect.bisect_right(spans, (cursor, 1 << 130)) - 1
            # The span starting at or before cursor may reach into the block, and so may
            # any span starting inside it: the first one that does pushes the cursor past it.
            hit = spans[i] if i >= 0 and spans[i][1] >= cursor else None
            if hit is None and i + 1 < len(spans) and spans[i + 1][0] <= cursor + size - 1:
                hit = spans[i + 1]
            if hit is None:
                return ipaddress.ip_network((cursor, length))
            cursor = -(-(hit[1] + 1) // size) * size
        return None


def _raw_subnets(source: SourceFile) -> list[object]:
    data = source.data
    if not isinstance(data, dict) or data.get("type") != "site":
        return []
    subnets = data.get("subnets")
    return subnets if isinstance(subnets, list) else []


def _in_use(estate: Estate, policies: dict[str, Policy]) -> list[IPNetwork]:
    out: list[IPNetwork] = list(estate.org.reserved_prefixes)
    for policy in policies.values():
        out += policy.tunnels
        out += policy.config.routing.pushed_routes
    for raw in estate.raw.instances.values():
        for source in raw.peers.values():
            for item in _raw_subnets(source):
                try:  # what a file says, valid or not yet: never handed out again
                    out.append(ipaddress.ip_network(str(item), strict=False))
                except ValueError:
                    continue
    return out


def plan(estate: Estate, policies: dict[str, Policy],
         diags: Diagnostics) -> list[SubnetAssignment]:
    """A prefix for every ``auto/N`` site subnet; ``pool-exhausted`` where none is free."""
    taken = _Taken(_in_use(estate, policies))
    out: list[SubnetAssignment] = []
    for name, raw in sorted(estate.raw.instances.items()):
        policy = policies.get(name)
        for _peer, source in sorted(raw.peers.items()):
            for index, item in enumerate(_raw_subnets(source)):
                auto = AUTO_SUBNET_RE.match(item.strip()) if isinstance(item, str) else None
                if auto is None:
                    continue
                length = int(auto.group(1))
                family = 4 if length <= 32 else 6
                found = None
                aggregates = [a for a in (policy.aggregates if policy else [])
                              if a.version == family]
                for aggregate in aggregates:
                    found = taken.first_free(aggregate, length)
                    if found is not None:
                        break
                if found is None:
                    where = ", ".join(map(str, aggregates)) or "none declared"
                    source.report(diags, "pool-exhausted",
                                  f"no free /{length} left for '{auto.group(0)}' in the "
                                  f"IPv{family} aggregates of instance '{name}' ({where}); add "
                                  f"or enlarge routing.aggregates in {name}/instance.yaml",
                                  ("subnets", index))
                    continue
                taken.add(found)
                out.append(SubnetAssignment(source, index, found))
    return out


def _item_node(text: str, index: int) -> ScalarNode:
    root = compose(text)
    if not isinstance(root, MappingNode):
        raise SpliceError("the file is not a mapping")
    for key, value in root.value:
        if key.value == "subnets" and isinstance(value, SequenceNode):
            node = value.value[index]
            if isinstance(node, ScalarNode):
                return node
    raise SpliceError("subnets is not a list of plain values")


def splice(source: SourceFile, items: list[SubnetAssignment]) -> tuple[str, list[int]]:
    """The file's text with each ``auto/N`` replaced by its prefix, and the lines written."""
    text = source.text
    try:
        spans = [(_item_node(text, a.index), a) for a in items]
    except (YamlError, IndexError) as exc:
        raise SpliceError(str(exc)) from None
    lines = [int(node.start_mark.line) + 1 for node, _ in spans]
    for node, a in sorted(spans, key=lambda pair: -int(pair[0].start_mark.index)):
        text = text[:node.start_mark.index] + str(a.prefix) + text[node.end_mark.index:]
    # The edit must say exactly what the file said, with the prefixes in place of auto/N.
    expected = parse(source.text)
    for a in items:
        expected["subnets"][a.index] = str(a.prefix)
    if parse(text) != expected:
        raise SpliceError("the edited file would not say what was intended")
    return text, lines
