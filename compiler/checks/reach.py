"""Reachability through the VPN: ``tests.yaml`` assertions, ``--explain`` and shadowed rules.

A verdict follows a packet the way the real estate handles it: the sending peer's profile
(does it route the destination into the tunnel?), then the hub's policy in the order of
:mod:`compiler.model.policy`, which is also the order of the hub's nftables ruleset.
"""

from __future__ import annotations

import dataclasses
import heapq
import ipaddress
from collections import defaultdict
from collections.abc import Sequence

from compiler.diagnostics import Diagnostics
from compiler.loader.source import SourceFile
from compiler.model.access import Assertion, parse_probe, ports_text
from compiler.model.addressing import hub_address, pool_of
from compiler.model.estate import Estate, PeerNode
from compiler.model.peer import ClientPeer, SitePeer
from compiler.model.policy import Policy, ResolvedRule, covers, is_route_all
from compiler.model.types import IPAddress, IPNetwork


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether a packet gets through, the way it takes and what decides."""

    allowed: bool
    path: list[str]
    decided_by: str
    file: SourceFile | None = None
    loc: tuple[str | int, ...] = ()
    #: The sender has no tunnel address yet but its pool has one for it (`mvpn allocate`).
    unallocated: bool = False


def policies(estate: Estate, diags: Diagnostics | None = None) -> dict[str, Policy]:
    """The policy of every instance whose instance.yaml is valid."""
    report = None
    if diags is not None:
        def report(source: SourceFile, code: str, message: str,
                   loc: tuple[str | int, ...]) -> None:
            source.report(diags, code, message, loc)
    return {name: Policy(inst, list(inst.peers.values()), report)
            for name, inst in sorted(estate.instances.items()) if inst.config is not None}


def _source_address(peer: PeerNode, version: int) -> IPAddress | None:
    cfg = peer.config
    if isinstance(cfg, SitePeer):
        for net in cfg.subnets:
            if net.version == version and net.num_addresses > 1:
                return net.network_address + 1
    addr = cfg.address if version == 4 else cfg.address6
    return addr


def _describe_destination(policy: Policy, dst: IPAddress) -> str:
    for peer in policy.peers:
        cfg = peer.config
        if isinstance(cfg, SitePeer) and covers(cfg.subnets, dst):
            return f"site {cfg.site} ({peer.name}) LAN"
        if dst in (cfg.address, cfg.address6):
            kind = "site" if isinstance(cfg, SitePeer) else "client"
            return f"{kind} {peer.name}"
    if covers(policy.config.routing.pushed_routes, dst):
        return "the network behind the hub (pushed_routes)"
    return "the instance's tunnel network"


def _rule_text(rule: ResolvedRule) -> str:
    r = rule.rule
    ports = f" ports {ports_text(r.ports)}" if r.ports else ""
    return (f"firewall rule {rule.index + 1} ({r.action} {r.protocol}{ports} "
            f"from {r.source} to {r.destination})")


def decide(policy: Policy, peer: PeerNode, dst: IPAddress, proto: str,
           port: int | None) -> Verdict:
    """Whether ``peer`` reaches ``dst`` (``proto``/``port``; ``icmp`` = ping) through the VPN.

    Reads nothing but ``policy`` (one instance: its instance.yaml and peers) and its
    arguments: an incremental compile keeps the verdicts of assertions that held keyed by
    exactly that (:func:`compiler.incremental.assertion_key`). Reading another instance here
    would need that key to cover it too.
    """
    inst = policy.inst
    cfg = peer.config
    src = _source_address(peer, dst.version)
    start = f"{inst.name}/{peer.name} ({src})" if src else f"{inst.name}/{peer.name}"
    path = [start]
    if dst.version == 6 and is_route_all(peer) and not policy.carries_ipv6(peer):
        # Its IPv6 goes into the tunnel (a ULA of the hub's, see the hub's server.conf) and
        # the hub rejects it: never around the VPN.
        return Verdict(False, path, "the OpenVPN tunnel of this instance has no IPv6 "
                       "(openvpn.network6): the hub rejects a route-all client's IPv6",
                       peer.source, ("route_all",))
    if src is None:
        pending = pool_of(policy.config, cfg.protocol, v6=dst.version == 6) is not None
        return Verdict(False, path, f"{peer.name} has no IPv{dst.version} address in the VPN",
                       peer.source, unallocated=pending)
    if isinstance(cfg, SitePeer) and covers(cfg.subnets, dst):
        return Verdict(False, path, f"{dst} is on the site's own LAN, not through the VPN",
                       peer.source, ("subnets",))
    if not is_route_all(peer) and not covers(policy.reachable(peer), dst):
        limited = isinstance(cfg, ClientPeer) and cfg.access is not None
        why = " (its access list; the hub enforces it too)" if limited else ""
        return Verdict(False, path, f"the profile of {peer.name} does not route {dst} into "
                       f"the tunnel{why}", peer.source, ("access",) if limited else ())
    aggregate = policy.aggregate_of(dst)
    # A profile that reaches dst through an aggregate has no route of its own for it.
    via = f" (via aggregate {aggregate})" if aggregate is not None and not is_route_all(
        peer) else ""
    path.append(f"hub {inst.name}{via}")
    if any(dst == hub_address(n) for n in policy.tunnels if dst.version == n.version):
        return Verdict(True, [*path[:-1], f"hub {inst.name} itself"], "the hub's own address")
    inside = covers(policy.networks, dst)
    if not inside and aggregate is not None:
        index = policy.config.routing.aggregates.index(aggregate)
        return Verdict(False, path, f"{dst} is in aggregate {aggregate}, which no peer "
                       "advertises there: the hub drops it", inst.source,
                       ("routing", "aggregates", index))
    if not inside:
        if not (is_route_all(peer) and policy.config.routing.egress == "nat"):
            return Verdict(False, path, "traffic from a peer to outside the instance's "
                           "networks stops at the hub (only route-all clients egress)",
                           peer.source)
        path.append(f"the internet ({dst}, NATed to the hub's address)")
    else:
        path.append(f"{_describe_destination(policy, dst)} ({dst})")
    access = policy.access.get(peer.name)
    if inside and access is not None and not covers(access, dst):
        return Verdict(False, path, f"the access list of {peer.name}", peer.source, ("access",))
    for rule in policy.rules:
        if src is not None and rule.matches(src, dst, proto, port):
            return Verdict(rule.rule.action == "allow", path, _rule_text(rule),
                           inst.source, ("firewall", "rules", rule.index))
    default = policy.config.firewall.default
    has_default = "firewall" in (inst.source.data or {}) if inst.source else False
    return Verdict(default == "allow", path, f"the firewall default ({default})",
                   inst.source, ("firewall", "default") if has_default else ())


def explain(estate: Estate, src: str, dst: str, probe: str = "icmp") -> Verdict:
    """The verdict on ``src`` (INSTANCE/PEER) reaching ``dst`` with ``probe``.

    ``dst`` and ``probe`` must be valid (an address; ``443/tcp`` or ``icmp``); an unknown
    instance or peer raises :class:`LookupError`.
    """
    inst_name, _, peer_name = src.partition("/")
    policy = policies(estate).get(inst_name)
    if policy is None:
        raise LookupError(f"'{inst_name}' is not a valid instance of this tree")
    peer = policy.find_peer(peer_name)
    if peer is None:
        raise LookupError(f"instance '{inst_name}' has no peer or site '{peer_name}'")
    return decide(policy, peer, ipaddress.ip_address(dst), *parse_probe(probe))


def _broken(estate: Estate, test: Assertion) -> tuple[str, str] | None:
    """When an assertion's peer (or instance) exists but its file has errors: (key, what)."""
    inst_name, peer_name = test.from_
    inst = estate.instances.get(inst_name)
    if inst is None:
        return None
    if inst.config is None:
        where = (inst.source.path if inst.source else inst.dir).relative_to(estate.root)
        return inst_name, f"instance '{inst_name}', whose {where.as_posix()} has errors"
    peer = estate.raw.instances[inst_name].peers.get(peer_name)
    if peer is not None and peer_name not in inst.peers:
        rel = peer.path.relative_to(estate.root).as_posix()
        return f"{inst_name}/{peer_name}", f"peer '{inst_name}/{peer_name}', whose file {rel} " \
            "has errors"
    return None


def check_assertions(estate: Estate, diags: Diagnostics,
                     found: dict[str, Policy]) -> None:
    """``test-failed`` for every assertion of tests.yaml the model does not satisfy.

    An assertion about a peer whose file has errors is not evaluated: one ``reference-broken``
    warning per such peer (at its first assertion), not a misleading ``reference-unknown``.
    """
    source = estate.raw.tests
    if source is None:
        return
    broken: dict[str, list[int]] = {}
    what: dict[str, str] = {}
    for index, test in estate.tests:
        verdict = verdict_of(found, test)
        if isinstance(verdict, str):
            bad = _broken(estate, test)
            if bad is not None:
                broken.setdefault(bad[0], []).append(index)
                what[bad[0]] = bad[1]
                continue
            source.report(diags, "reference-unknown", verdict, (index, "from"))
            continue
        if verdict.unallocated:
            # The sender's `address-missing` error already says what to do; failing the
            # assertion too would block `mvpn allocate`, the one command that fixes both.
            # The assertion is evaluated once the address is there.
            continue
        got = "allow" if verdict.allowed else "deny"
        if got != test.expect:
            source.report(diags, "test-failed",
                          f"expected {test.expect}, but {'/'.join(test.from_)} -> {test.to} "
                          f"{_probe_text(test)} is {got}: {verdict.decided_by}"
                          f" (path: {' -> '.join(verdict.path)})", (index,))
    for key, indexes in broken.items():
        subject = "this assertion refers" if len(indexes) == 1 else \
            f"this and {len(indexes) - 1} later assertion(s) refer"
        source.report(diags, "reference-broken",
                      f"{subject} to {what[key]}; not evaluated until that is fixed",
                      (indexes[0], "from"))


def _probe_text(test: Assertion) -> str:
    proto, port = test.port
    return "icmp" if port is None else f"{port}/{proto}"


def verdict_of(found: dict[str, Policy], test: Assertion) -> Verdict | str:
    """The verdict on one assertion, or why it cannot be evaluated."""
    inst_name, peer_name = test.from_
    policy = found.get(inst_name)
    if policy is None:
        return f"'{inst_name}' is not a valid instance of this tree"
    peer = policy.find_peer(peer_name)
    if peer is None:
        return f"instance '{inst_name}' has no peer or site '{peer_name}'"
    return decide(policy, peer, test.to, *test.port)


def _contains(outer: list[IPNetwork] | None, inner: list[IPNetwork] | None) -> bool:
    if outer is None:
        return True
    if inner is None:
        return False
    return all(any(n.version == o.version and n.subnet_of(o)  # type: ignore[arg-type]
                   for o in outer) for n in inner)


def shadows(earlier: ResolvedRule, later: ResolvedRule) -> bool:
    """``earlier`` matches every packet ``later`` matches, so ``later`` never decides."""
    a, b = earlier.rule, later.rule
    if a.protocol not in ("any", b.protocol):
        return False
    if a.ports is not None and (b.ports is None or not all(
            any(lo <= blo and bhi <= hi for lo, hi in a.ports) for blo, bhi in b.ports)):
        return False
    return _contains(earlier.source, later.source) and _contains(
        earlier.destination, later.destination)


#: Port ranges up to this wide are indexed port by port; wider ones are few (``1-1024``).
_NARROW_RANGE = 256
#: How many of a rule's prefixes (or port ranges) are looked up to find the rarest.
_TRIED = 8


class _Endpoints:
    """Earlier rules indexed by one endpoint (source or destination), for candidate lookup.

    A rule whose endpoint covers network ``n`` holds a supernet of ``n`` (or is ``any``), so
    the candidates for ``n`` are found by looking up ``n``'s at most 129 supernets.
    """

    def __init__(self) -> None:
        self.any: list[int] = []
        self.by_net: dict[tuple[int, int, int], list[int]] = defaultdict(list)

    def add(self, pos: int, nets: list[IPNetwork] | None) -> None:
        if nets is None:
            self.any.append(pos)
            return
        for net in set(nets):
            self.by_net[_net_key(net, net.prefixlen)].append(pos)

    def candidates(self, nets: list[IPNetwork] | None) -> list[list[int]] | None:
        """Buckets that hold every rule covering ``nets`` (None: no restriction).

        Every net must be covered, so the buckets of any one of them will do: the smallest
        of the first few (a class like ``sites`` can resolve to hundreds of nets).
        """
        if nets is None:
            return [self.any]
        if not nets:
            return None  # covered by every endpoint: all([]) in _contains
        return min((self._covering(net) for net in nets[:_TRIED]),
                   key=lambda buckets: sum(map(len, buckets)))

    def _covering(self, net: IPNetwork) -> list[list[int]]:
        buckets = [self.any]
        for length in range(net.prefixlen + 1):
            bucket = self.by_net.get(_net_key(net, length))
            if bucket:
                buckets.append(bucket)
        return buckets


def _net_key(net: IPNetwork, length: int) -> tuple[int, int, int]:
    bits = net.max_prefixlen
    return (net.version, length, int(net.network_address) >> (bits - length))


class _Ports:
    """Earlier rules indexed by their port ranges: candidates covering a later rule's first."""

    def __init__(self) -> None:
        self.any: list[int] = []
        self.by_port: dict[int, list[int]] = defaultdict(list)
        self.wide: list[int] = []

    def add(self, pos: int, ports: tuple[tuple[int, int], ...] | None) -> None:
        if ports is None:
            self.any.append(pos)
            return
        wide = False
        for lo, hi in ports:
            if hi - lo >= _NARROW_RANGE:
                wide = True
            else:
                for port in range(lo, hi + 1):
                    self.by_port[port].append(pos)
        if wide:
            self.wide.append(pos)

    def candidates(self, ports: tuple[tuple[int, int], ...] | None) -> list[list[int]]:
        if ports is None:
            return [self.any]
        # Each range must be covered: look up the rarest of the first few range starts.
        narrow = min((self.by_port.get(lo, []) for lo, _hi in ports[:_TRIED]), key=len)
        return [self.any, narrow, self.wide]


def first_shadows(rules: Sequence[ResolvedRule]) -> list[int | None]:
    """For each rule, the position of the first earlier rule that shadows it (or None).

    The same answer as trying every earlier rule in order (:func:`shadows` on all pairs, the
    old quadratic check), but each rule only tries the earlier rules that could shadow it:
    those found in the most selective of four indexes (protocol, ports, source, destination).
    """
    protocols: dict[str, list[int]] = defaultdict(list)
    ports, sources, destinations = _Ports(), _Endpoints(), _Endpoints()
    out: list[int | None] = []
    for pos, rule in enumerate(rules):
        proto = rule.rule.protocol
        options = [
            [protocols["any"]] if proto == "any" else [protocols["any"], protocols[proto]],
            ports.candidates(rule.rule.ports),
            sources.candidates(rule.source),
            destinations.candidates(rule.destination),
        ]
        narrowest = min((o for o in options if o is not None),
                        key=lambda buckets: sum(map(len, buckets)))
        # Buckets are filled in rule order, so a lazy merge tries candidates in rule order
        # and stops at the first that shadows (usually the first one tried).
        found = None
        for cand in heapq.merge(*narrowest):
            if shadows(rules[cand], rule):
                found = cand
                break
        out.append(found)
        protocols[proto].append(pos)
        ports.add(pos, rule.rule.ports)
        sources.add(pos, rule.source)
        destinations.add(pos, rule.destination)
    return out


def check_shadowed(found: dict[str, Policy], diags: Diagnostics) -> None:
    """``rule-shadowed``: a rule that an earlier rule always pre-empts (aerleon's shade check)."""
    for policy in found.values():
        source = policy.inst.source
        if source is None:
            continue
        rules = policy.rules
        for j, first in enumerate(first_shadows(rules)):
            if first is None:
                continue
            earlier = rules[first]
            line, _ = source.pos(("firewall", "rules", earlier.index))
            source.report(diags, "rule-shadowed",
                          f"firewall rule {j + 1} can never match: rule "
                          f"{earlier.index + 1} (line {line}) matches everything it "
                          "does; remove it or move it up",
                          ("firewall", "rules", j))
