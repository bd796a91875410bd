"""The checks that look across instances, registered once for the full and the incremental check.

Every other check looks at one instance (with ``vpn.yaml``). These few compare instances with
each other: the full check (:mod:`compiler.checks.names`, :mod:`compiler.checks.routes`) reports
them with positions; an incremental compile keeps, per instance of a build, the small summary
each of them needs and asks :func:`clean` over all summaries, falling back to the full check
(which reports them with positions) when any of them fails. A cross-instance check that is
not registered here would let an incremental compile pass what ``mvpn check`` refuses
(tests/test_cache.py tries each code).
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, Final

from compiler.checks.overlap import overlapping_spans
from compiler.model.estate import InstanceNode
from compiler.model.peer import SitePeer

#: The summaries of every instance, by instance name: {check key: that check's summary}.
Summaries = dict[str, Mapping[str, Any]]
#: The parts of a summary every recompile reads of every instance (small); the others
#: (a site's subnets: most of a summary) only of the instances a change concerns. The cache
#: keeps these parts apart (:mod:`compiler.engine.cache`).
EAGER: Final = ("hostname", "reach")
#: The instances whose summaries may have changed since all the others were found clean
#: together (None: every instance).
Changed = frozenset[str] | None


@dataclasses.dataclass(frozen=True)
class CrossCheck:
    """One cross-instance check: its diagnostic code, summary of an instance, verdict."""

    code: str  # what the full check reports
    key: str  # its part of an instance's summary (stored in the cache: JSON data)
    summarise: Callable[[InstanceNode], Any]
    passes: Callable[[Summaries, Changed], bool]


def _hostname(inst: InstanceNode) -> str:
    assert inst.config is not None
    return inst.config.hostname.lower()


def _unique_hostnames(summaries: Summaries, changed: Changed = None) -> bool:
    hosts = Counter(s["hostname"] for s in summaries.values())
    return all(n == 1 for n in hosts.values())


def _site_spans(inst: InstanceNode) -> list[list[Any]]:
    spans: list[list[Any]] = []
    for peer in inst.peers.values():
        if isinstance(peer.config, SitePeer):
            for net in peer.config.subnets:
                spans.append([net.version, int(net.network_address),
                              int(net.broadcast_address), peer.config.site])
    return spans


def _disjoint_sites(summaries: Summaries, changed: Changed = None) -> bool:
    """No site subnet overlaps one of another site in another instance.

    With ``changed``, only pairs with a span of a changed instance can be new: the spans of
    the others are those within reach of the changed ones' (per family, from the lowest
    first to the highest last address), a few instead of every site subnet of the estate.
    """
    spans = [(v, first, last, site, name) for name, s in summaries.items()
             if changed is None or name in changed for v, first, last, site in s["spans"]]
    if changed is not None:
        low: dict[int, int] = {}
        high: dict[int, int] = {}
        for v, first, last, _site, _name in spans:
            low[v], high[v] = min(low.get(v, first), first), max(high.get(v, last), last)
        spans.extend((v, first, last, site, name) for name, s in summaries.items()
                     if name not in changed and _within(s, low, high)
                     for v, first, last, site in s["spans"]
                     if v in low and first <= high[v] and last >= low[v])
    return not any(
        spans[a][4] != spans[b][4] and spans[a][3] != spans[b][3]
        for a, b in overlapping_spans([(v, first, last) for v, first, last, _s, _n in spans])
    )


def _within(summary: Mapping[str, Any], low: dict[int, int], high: dict[int, int]) -> bool:
    """Whether any site subnet of ``summary`` may lie between ``low`` and ``high`` (per family).

    Read from its ``reach`` alone: most instances of a large estate are numbered from their
    own aggregates, far from a changed one's, and their subnets are then never read.
    """
    reach = summary.get("reach")
    if reach is None:  # a summary without one: look at its subnets
        return True
    return any(str(v) in reach and reach[str(v)][0] <= high[v] and reach[str(v)][1] >= low[v]
               for v in low)


def _reach(spans: list[list[Any]]) -> dict[str, list[int]]:
    """Per address family ("4", "6": JSON keys), the lowest first and highest last address."""
    reach: dict[str, list[int]] = {}
    for v, first, last, _site in spans:
        low, high = reach.setdefault(str(v), [first, last])
        reach[str(v)] = [min(low, first), max(high, last)]
    return reach


CROSS_INSTANCE: Final = (
    CrossCheck("hostname-duplicate", "hostname", _hostname, _unique_hostnames),
    CrossCheck("route-cross-instance", "spans", _site_spans, _disjoint_sites),
)


def summary(inst: InstanceNode) -> dict[str, Any]:
    """What the cross-instance checks need of one (clean) instance.

    With the ``reach`` of its site subnets, so that a recompile reads the subnets of the
    instances near a changed one only (:func:`_within`).
    """
    found = {check.key: check.summarise(inst) for check in CROSS_INSTANCE}
    found["reach"] = _reach(found["spans"])
    return found


def clean(summaries: Summaries, changed: Changed = None) -> bool:
    """Whether every cross-instance check passes over the summaries of all instances.

    ``changed``: the instances whose summaries are new, when the checks passed over all the
    others' (a recompile's): a check may then look only at what involves a changed one.
    """
    return all(check.passes(summaries, changed) for check in CROSS_INSTANCE)
