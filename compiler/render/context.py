"""What the templates see: one view per instance, networks worked out once.

Keys are derived here (through the :class:`KeyRing`), so templates never touch
secrets logic and a redacted build differs from a real one only in key values.
"""

from __future__ import annotations

import bisect
import dataclasses
from collections.abc import Sequence
from functools import cached_property

from compiler.checks.peers import hub_address
from compiler.checks.policy import Policy
from compiler.keys import CertifiedKey, KeyRing, WireGuardKeyPair
from compiler.model.estate import Estate, InstanceNode, PeerNode
from compiler.model.org import OrgConfig
from compiler.model.peer import ClientPeer, SitePeer
from compiler.model.types import IPAddress, IPNetwork
from compiler.render.env import addr

WG_IFACE = "wg0"
OVPN_IFACE = "ovpn0"


def without(base: list[int], drop: Sequence[int]) -> list[int]:
    """``base`` (ascending) without the values in ``drop`` (ascending).

    ``base`` itself is returned when nothing is dropped: callers must not modify the result.
    """
    out: list[int] = []
    start = 0
    for value in drop:
        pos = bisect.bisect_left(base, value, start)
        if pos < len(base) and base[pos] == value:
            out += base[start:pos]
            start = pos + 1
    if start == 0:
        return base
    out += base[start:]
    return out



@dataclasses.dataclass(eq=False)
class PeerView:
    """One peer as the templates see it."""

    node: PeerNode
    inst: InstanceView

    @property
    def name(self) -> str:
        """The peer name (file stem)."""
        return self.node.name

    @property
    def config(self) -> SitePeer | ClientPeer:
        """The validated peer config."""
        return self.node.config

    @property
    def is_site(self) -> bool:
        """Site router (else a client device)."""
        return isinstance(self.node.config, SitePeer)

    @property
    def subnets(self) -> list[IPNetwork]:
        """Networks this peer advertises (sites only)."""
        cfg = self.node.config
        return list(cfg.subnets) if isinstance(cfg, SitePeer) else []

    @property
    def address(self) -> IPAddress:
        """The v4 tunnel address (checks guarantee it is set)."""
        assert self.node.config.address is not None
        return self.node.config.address

    @property
    def tunnel(self) -> IPNetwork:
        """The tunnel network this peer's address lives in."""
        wireguard = self.config.protocol == "wireguard"
        return self.inst.wg_network if wireguard else self.inst.ovpn_network

    @property
    def routeros(self) -> str:
        """The RouterOS version its script targets."""
        cfg = self.node.config
        own = cfg.routeros if isinstance(cfg, SitePeer) else None
        return own or self.inst.org.defaults.routeros

    @cached_property
    def wireguard(self) -> WireGuardKeyPair:
        """The peer's WireGuard key pair."""
        return self.inst.ring.wireguard_peer(self.inst.name, self.name, self.config.key_epoch)

    @property
    def public_key(self) -> str:
        """The WireGuard public key the hub knows this peer by (BYO key wins)."""
        cfg = self.node.config
        if isinstance(cfg, ClientPeer) and cfg.public_key:
            return cfg.public_key
        return self.wireguard.public_key

    @property
    def private_key(self) -> str | None:
        """The WireGuard private key, or ``None`` when the user brings their own."""
        cfg = self.node.config
        if isinstance(cfg, ClientPeer) and cfg.public_key:
            return None
        return self.wireguard.private_key

    @cached_property
    def openvpn(self) -> CertifiedKey:
        """The peer's OpenVPN client certificate and key."""
        return self.inst.ring.openvpn_client(
            self.inst.name, self.inst.config.key_epoch, self.name, self.config.key_epoch
        )

    def reach_indices(self, v6: bool = True) -> list[int]:
        """Indices into ``inst.networks`` of what this peer routes into the tunnel.

        Every site's script lists every other network of its instance, so this runs
        for each site over all networks: it removes the peer's own few subnets from a
        precomputed index list (C-level slices) instead of testing every network.
        """
        inst = self.inst
        base = inst.all_indices if v6 and self.config.protocol != "openvpn" else inst.v4_indices
        if self.name in inst.policy.access:
            # A client with an access list routes only what it may reach (rare: slow path).
            allowed = inst.policy.reachable(self.node)
            return [i for i in base if inst.networks[i] in allowed]
        return without(base, self.own_indices)

    @cached_property
    def own_indices(self) -> list[int]:
        """Indices of the peer's own subnets in ``inst.networks``, ascending."""
        return sorted({self.inst.network_index[n] for n in self.subnets})

    def reachable(self, v6: bool = True) -> list[IPNetwork]:
        """Every network of the instance this peer should route into the tunnel."""
        return list(map(self.inst.networks.__getitem__, self.reach_indices(v6)))

    @property
    def tunnel_index(self) -> int:
        """Position of this peer's tunnel network in ``inst.networks``."""
        return self.inst.network_index[self.tunnel]

    def route_masks(self) -> list[str]:
        """IPv4 networks pushed to this OpenVPN peer (``address netmask``), tunnel excluded."""
        masks, tunnel = self.inst.network_masks, self.tunnel_index
        return [masks[i] for i in self.reach_indices(v6=False) if i != tunnel]

    def reachable_text(self, sep: str, v6: bool = True) -> str:
        """:meth:`reachable` as text, joined by ``sep``."""
        return sep.join(map(self.inst.network_texts.__getitem__, self.reach_indices(v6)))

    @property
    def route_all(self) -> bool:
        """A client that sends everything through the hub."""
        cfg = self.node.config
        return isinstance(cfg, ClientPeer) and cfg.route_all


@dataclasses.dataclass(eq=False)
class InstanceView:
    """One instance as the templates see it."""

    node: InstanceNode
    org: OrgConfig
    ring: KeyRing

    def __post_init__(self) -> None:
        assert self.node.config is not None
        self.config = self.node.config
        self.peers = [PeerView(p, self) for p in self.node.peers.values()]

    @property
    def name(self) -> str:
        """The instance name (folder)."""
        return self.node.name

    @property
    def fqdn(self) -> str:
        """``<hostname>.<domain>``: where peers connect."""
        return f"{self.config.hostname.lower()}.{self.org.domain}"

    @property
    def wg_network(self) -> IPNetwork:
        """The WireGuard tunnel network (only when enabled)."""
        assert self.config.wireguard is not None
        return self.config.wireguard.network

    @property
    def ovpn_network(self) -> IPNetwork:
        """The OpenVPN tunnel network (only when enabled)."""
        assert self.config.openvpn is not None
        return self.config.openvpn.network

    @staticmethod
    def hub_address(net: IPNetwork) -> IPAddress:
        """The hub's address in a tunnel network."""
        return hub_address(net)

    def peers_of(self, protocol: str) -> list[PeerView]:
        """Peers using ``protocol``."""
        return [p for p in self.peers if p.config.protocol == protocol]

    @cached_property
    def policy(self) -> Policy:
        """Networks and forwarding policy (shared with `mvpn check`)."""
        return Policy(self.node, [p.node for p in self.peers])

    @property
    def tunnels(self) -> list[IPNetwork]:
        """The hub's tunnel networks."""
        return self.policy.tunnels

    @property
    def networks(self) -> list[IPNetwork]:
        """The instance's networks: tunnels, pushed routes and every site subnet."""
        return self.policy.networks

    @cached_property
    def network_index(self) -> dict[IPNetwork, int]:
        """Position of each network in :attr:`networks`."""
        return {net: i for i, net in enumerate(self.networks)}

    @cached_property
    def network_texts(self) -> list[str]:
        """:attr:`networks` as text, worked out (and checked: :func:`addr`) once per instance.

        Every route line of every artifact is built from these strings outside a template.
        """
        return [addr(net) for net in self.networks]

    @cached_property
    def all_indices(self) -> list[int]:
        """``0 .. len(networks) - 1``."""
        return list(range(len(self.networks)))

    @cached_property
    def v4_indices(self) -> list[int]:
        """Indices of the IPv4 networks in :attr:`networks`."""
        return [i for i, net in enumerate(self.networks) if net.version == 4]

    def route_indices(self, tunnel: int) -> tuple[list[int], list[int]]:
        """IPv4 and IPv6 network indices a site script routes, before its own subnets go.

        The site's tunnel network (``tunnel``) and the IPv6 tunnel network are connected
        through the interface addresses, so they are no routes.
        """
        found = self._route_indices.get(tunnel)
        if found is None:
            skip = {tunnel}
            wg = self.config.wireguard
            if wg is not None and wg.network6 is not None:
                skip.add(self.network_index[wg.network6])
            nets = self.networks
            found = ([i for i in self.v4_indices if i not in skip],
                     [i for i in self.all_indices if nets[i].version == 6 and i not in skip])
            self._route_indices[tunnel] = found
        return found

    @cached_property
    def _route_indices(self) -> dict[int, tuple[list[int], list[int]]]:
        return {}

    def route_prefixes(self, family: int) -> list[str]:
        """``/ip route add dst-address=<net>`` (or ``/ipv6 route``) for every network."""
        return self._route_prefixes[family]

    @cached_property
    def _route_prefixes(self) -> dict[int, list[str]]:
        return {family: [f"{menu} add dst-address={text}" for text in self.network_texts]
                for family, menu in ((4, "/ip route"), (6, "/ipv6 route"))}

    @cached_property
    def network_masks(self) -> list[str]:
        """IPv4 networks in OpenVPN's ``address netmask`` form (empty for IPv6)."""
        return [f"{addr(n.network_address)} {addr(n.netmask)}" if n.version == 4 else ""
                for n in self.networks]

    @cached_property
    def peer_networks(self) -> list[IPNetwork]:
        """Where traffic from peers comes from: tunnel networks and site subnets."""
        return self.policy.peer_networks

    @property
    def route_all_sources(self) -> list[IPNetwork]:
        """Tunnel addresses of route-all clients, as host prefixes."""
        return self.policy.route_all_sources

    @property
    def hub_resolver(self) -> bool:
        """The hub runs a resolver (for ``dns.records``); it listens on its tunnel addresses."""
        return bool(self.config.dns.records)

    def dns_servers(self, protocol: str) -> list[IPAddress]:
        """What a peer of ``protocol`` resolves VPN names with: the hub, or ``dns.servers``."""
        if self.hub_resolver:
            net = self.wg_network if protocol == "wireguard" else self.ovpn_network
            return [hub_address(net)]
        servers = list(self.config.dns.servers)
        return servers if protocol == "wireguard" else [s for s in servers if s.version == 4]

    @property
    def split_names(self) -> list[str]:
        """Names resolved through the VPN under split DNS: the domains, and records outside them."""
        domains = list(self.config.dns.domains)
        extra = [name for name in self.config.dns.records
                 if not any(name == d or name.endswith("." + d) for d in domains)]
        return domains + sorted(extra)

    @cached_property
    def hub_wireguard(self) -> WireGuardKeyPair:
        """The hub's WireGuard key pair."""
        return self.ring.wireguard_hub(self.name, self.config.key_epoch)


def instance_views(estate: Estate, ring: KeyRing) -> list[InstanceView]:
    """A view of every instance, in name order."""
    return [
        InstanceView(node, estate.org, ring)
        for _name, node in sorted(estate.instances.items())
        if node.config is not None
    ]
