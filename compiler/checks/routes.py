"""Route checks: overlaps between peers, conflicts with hub networks, broad routes."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import NamedTuple

from compiler.checks.overlap import overlapping_spans
from compiler.diagnostics import Diagnostics
from compiler.loader.source import SourceFile
from compiler.model.estate import Estate, InstanceNode, PeerNode
from compiler.model.peer import SitePeer
from compiler.model.routeset import spans_of
from compiler.model.types import IPNetwork


class Route(NamedTuple):
    """A prefix with the place it was written and who owns it.

    A named tuple: one is made per site subnet (200k at 100k peers), and a frozen
    dataclass's ``__init__`` took five times as long.
    """

    net: IPNetwork
    kind: str  # subnet | tunnel | pushed | reserved | aggregate
    source: SourceFile | None
    loc: tuple[str | int, ...]
    what: str  # how a message names the owner (for a peer: see ``label``)
    peer: PeerNode | None = None
    root: Path | None = None

    @property
    def label(self) -> str:
        """How a message names the owner; for a peer worked out only when reported."""
        if self.peer is None or self.root is None:
            return self.what
        return f"peer '{self.peer.key}' ({_rel(self.root, self.source)})"


def _rel(root: Path, source: SourceFile | None) -> str:
    if source is None:
        return "?"
    try:
        return source.path.relative_to(root).as_posix()
    except ValueError:  # pragma: no cover - sources always lie under ROOT
        return source.path.as_posix()


def _subnets(estate: Estate, peers: Iterable[PeerNode]) -> list[Route]:
    out: list[Route] = []
    for peer in peers:
        if isinstance(peer.config, SitePeer):
            for i, net in enumerate(peer.config.subnets):
                out.append(
                    Route(net, "subnet", peer.source, ("subnets", i), "", peer, estate.root)
                )
    return out


def _hub_routes(estate: Estate, inst: InstanceNode) -> list[Route]:
    cfg = inst.config
    assert cfg is not None
    out: list[Route] = []
    if cfg.wireguard is not None:
        out.append(Route(cfg.wireguard.network, "tunnel", inst.source, ("wireguard", "network"),
                         "the WireGuard tunnel network"))
        if cfg.wireguard.network6 is not None:
            out.append(Route(cfg.wireguard.network6, "tunnel", inst.source,
                             ("wireguard", "network6"), "the WireGuard IPv6 tunnel network"))
    if cfg.openvpn is not None:
        out.append(Route(cfg.openvpn.network, "tunnel", inst.source, ("openvpn", "network"),
                         "the OpenVPN tunnel network"))
        if cfg.openvpn.network6 is not None:
            out.append(Route(cfg.openvpn.network6, "tunnel", inst.source,
                             ("openvpn", "network6"), "the OpenVPN IPv6 tunnel network"))
    for i, net in enumerate(cfg.routing.pushed_routes):
        out.append(Route(net, "pushed", inst.source, ("routing", "pushed_routes", i),
                         f"a pushed route of instance '{inst.name}'"))
    for i, net in enumerate(cfg.routing.aggregates):
        out.append(Route(net, "aggregate", inst.source, ("routing", "aggregates", i),
                         f"aggregate {net} of instance '{inst.name}'"))
    for i, net in enumerate(estate.org.reserved_prefixes):
        out.append(Route(net, "reserved", estate.org_source, ("reserved_prefixes", i),
                         "a reserved prefix in vpn.yaml"))
    return out


def _report(diags: Diagnostics, code: str, route: Route, message: str) -> None:
    if route.source is not None:
        route.source.report(diags, code, message, route.loc)


def _check_instance(estate: Estate, inst: InstanceNode, diags: Diagnostics
                    ) -> tuple[list[Route], list[tuple[int, int, int]]]:
    """The checks of one instance; returns its site subnets and their spans.

    The cross-instance check takes both, instead of working them all out again.
    """
    subnets = _subnets(estate, inst.peers.values())
    spans = spans_of(r.net for r in subnets)
    for ra, rb in _overlapping(subnets, spans, _hub_routes(estate, inst)):
        if "aggregate" in (ra.kind, rb.kind):
            _check_aggregate(diags, ra, rb)
        elif ra.kind == "subnet" and rb.kind == "subnet":
            if ra.peer is rb.peer:
                continue  # one peer's own list: redundant, not a conflict between peers
            _report(diags, "route-overlap", ra,
                    f"{ra.net} overlaps {rb.net} advertised by {rb.label}; "
                    "each network must be advertised by one peer")
            _report(diags, "route-overlap", rb,
                    f"{rb.net} overlaps {ra.net} advertised by {ra.label}; "
                    "each network must be advertised by one peer")
        elif ra.kind == "subnet" or rb.kind == "subnet":
            sub, other = (ra, rb) if ra.kind == "subnet" else (rb, ra)
            _report(diags, "route-conflict", sub,
                    f"{sub.net} overlaps {other.label} ({other.net}); choose another subnet")
        elif "reserved" not in (ra.kind, rb.kind) and not (ra.kind == rb.kind == "pushed"):
            # Hub-side networks that collide make the hub's own routing ambiguous.
            first, second = (ra, rb) if ra.kind == "tunnel" else (rb, ra)
            _report(diags, "route-conflict", second,
                    f"{second.net} overlaps {first.label} ({first.net}); "
                    "tunnel networks and pushed routes must be disjoint")
    _check_broad(estate, subnets, diags)
    _check_aggregates(estate, inst, subnets, spans, diags)
    return subnets, spans


def _overlapping(subnets: list[Route], spans: list[tuple[int, int, int]], hub: list[Route]
                 ) -> list[tuple[Route, Route]]:
    """Overlapping pairs (outer, inner) of an instance's routes, but site subnet/aggregate.

    A site subnet inside an aggregate is what an aggregate is for: sweeping subnets and
    aggregates together yielded a pair per subnet that no check reports (144k pairs and
    0.4 s at 100k peers). So the hub's own networks are swept on their own, then the site
    subnets with the hub's networks but the aggregates (pairs of two hub networks were
    found by the first sweep). Each sweep keeps the routes' order, so ties resolve alike.
    """
    hub_spans = spans_of(r.net for r in hub)
    pairs = [(hub[a], hub[b]) for a, b in overlapping_spans(hub_spans)]
    kept = [i for i, route in enumerate(hub) if route.kind != "aggregate"]
    routes = subnets + [hub[i] for i in kept]
    for a, b in overlapping_spans(spans + [hub_spans[i] for i in kept]):
        if a < len(subnets) or b < len(subnets):
            pairs.append((routes[a], routes[b]))
    return pairs


def _check_aggregate(diags: Diagnostics, ra: Route, rb: Route) -> None:
    """An aggregate holds site subnets (its purpose) and may hold pushed routes; not tunnels."""
    agg, other = (ra, rb) if ra.kind == "aggregate" else (rb, ra)
    if other.kind in ("tunnel", "reserved"):
        # A tunnel network inside an aggregate would send the hub's own peers' addresses to
        # the drop rule for unadvertised aggregate space; a reserved prefix is not ours.
        _report(diags, "route-conflict", agg,
                f"aggregate {agg.net} overlaps {other.label} ({other.net}); "
                "an aggregate must hold only site subnets (and pushed routes)")


def _check_aggregates(estate: Estate, inst: InstanceNode, subnets: Sequence[Route],
                      spans: Sequence[tuple[int, int, int]], diags: Diagnostics) -> None:
    """``route-broad`` for an aggregate; ``route-unaggregated`` for a subnet outside them all."""
    cfg = inst.config
    assert cfg is not None
    aggregates = cfg.routing.aggregates
    if not aggregates:
        return
    policy = estate.org.policy
    for i, net in enumerate(aggregates):
        minimum = policy.min_prefix_v4 if net.version == 4 else policy.min_prefix_v6
        if net.prefixlen < minimum and not cfg.routing.allow_broad and inst.source is not None:
            kind = "a default route" if net.prefixlen == 0 else "broader than the policy"
            inst.source.report(diags, "route-broad",
                               f"aggregate {net} is {kind} (shorter than /{minimum}); set "
                               "'allow_broad: true' under 'routing' if it is intended",
                               ("routing", "aggregates", i))
    outer = spans_of(aggregates)
    shown = ", ".join(str(a) for a in aggregates)
    for route, (version, first, last) in zip(subnets, spans, strict=True):
        if not any(v == version and lo <= first and last <= hi for v, lo, hi in outer):
            _report(diags, "route-unaggregated", route,
                    f"{route.net} lies outside every aggregate of instance '{inst.name}' "
                    f"({shown}): every other site and client gets a route for it; number "
                    "the site from an aggregate or add one that covers it")


def _check_broad(estate: Estate, subnets: Sequence[Route], diags: Diagnostics) -> None:
    policy = estate.org.policy
    for route in subnets:
        assert isinstance(route.peer, PeerNode) and isinstance(route.peer.config, SitePeer)
        minimum = policy.min_prefix_v4 if route.net.version == 4 else policy.min_prefix_v6
        if route.net.prefixlen < minimum and not route.peer.config.allow_broad:
            kind = "a default route" if route.net.prefixlen == 0 else "a broad route"
            _report(diags, "route-broad", route,
                    f"{route.net} is {kind} (shorter than /{minimum}); "
                    "set 'allow_broad: true' on this peer if it is intended")


def _check_cross_instance(routes: Sequence[Route], spans: Sequence[tuple[int, int, int]],
                          diags: Diagnostics) -> None:
    """``route-cross-instance`` over the site subnets of every instance (and their spans)."""
    for a, b in overlapping_spans(spans):
        ra, rb = routes[a], routes[b]
        assert ra.peer is not None and rb.peer is not None
        site_a, site_b = ra.peer.config, rb.peer.config
        assert isinstance(site_a, SitePeer) and isinstance(site_b, SitePeer)
        if ra.peer.instance == rb.peer.instance or site_a.site == site_b.site:
            continue  # same instance: route-overlap; same site on two hubs: redundancy
        for this, other in ((ra, rb), (rb, ra)):
            _report(diags, "route-cross-instance", this,
                    f"{this.net} overlaps {other.net} advertised by {other.label} "
                    "on another instance; traffic between them would be ambiguous")


def check_routes(estate: Estate, diags: Diagnostics) -> None:
    """Run every route check of SPEC §3 on the estate."""
    routes: list[Route] = []
    spans: list[tuple[int, int, int]] = []
    for inst in estate.instances.values():
        if inst.config is not None:
            subnets, their_spans = _check_instance(estate, inst, diags)
            routes += subnets
            spans += their_spans
    _check_cross_instance(routes, spans, diags)
