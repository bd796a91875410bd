"""What the templates see: one view per instance, networks worked out once.

Keys are derived here (through the :class:`KeyRing`), so templates never touch
secrets logic and a redacted build differs from a real one only in key values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import ipaddress
from functools import cached_property

from compiler.keys import CertifiedKey, HubEpochs, KeyRing, WireGuardKeyPair
from compiler.model.addressing import hub_address
from compiler.model.estate import Estate, InstanceNode, PeerNode
from compiler.model.instance import NEXT_WG_IFACE
from compiler.model.org import OrgConfig
from compiler.model.peer import ClientPeer, SitePeer
from compiler.model.policy import Policy, sorted_nets
from compiler.model.routeset import subtract
from compiler.model.types import IPAddress, IPNetwork
from compiler.render.env import addr
from compiler.routeros.tree import RouterOSTree

OVPN_IFACE = "ovpn0"
#: The cipher a RouterOS OpenVPN site's script sets (``compiler/render/rsctext.py``).
ROUTEROS_OVPN_CIPHER = "aes256-gcm"


def routeros_has_gcm(version: str) -> bool:
    """Whether RouterOS ``version``'s ovpn-client takes ``cipher=aes256-gcm`` (shipped data).

    The ``cipher`` argument is known per version; its values come from the one deep crawl
    (``compiler/routeros/data/PROVENANCE.md``) and are taken to hold for every version that
    has it: OpenVPN GCM came with RouterOS v7, before 7.9, the oldest version in the data.
    """
    tree = RouterOSTree.load(version)
    menu = ["interface", "ovpn-client"]
    enum = tree.data.enum(menu, "add", "cipher")
    return ("cipher" in (tree.command_args(menu, "add") or ())
            and enum is not None and ROUTEROS_OVPN_CIPHER in enum.values)


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

    @cached_property
    def preshared_key(self) -> str:
        """The WireGuard preshared key it shares with the hub (a placeholder when redacted)."""
        return self.inst.ring.wireguard_psk(self.inst.name, self.name, self.config.key_epoch)

    @property
    def moved(self) -> bool:
        """A WireGuard peer moved to the new hub key during step 1 (a ``[Peer]`` of wg1)."""
        return (self.inst.moving_port is not None and self.config.protocol == "wireguard"
                and self.config.hub_key_epoch == self.inst.config.key_epoch)

    @property
    def hub_public_key(self) -> str:
        """The hub's WireGuard public key this peer's artifacts carry."""
        hub = self.inst.next_wireguard if self.moved else self.inst.hub_wireguard
        return hub.public_key

    @property
    def hub_port(self) -> int:
        """The hub's WireGuard port this peer connects to (wg1's ``next_port`` when moved).

        After step 2 ``wireguard.port`` is the former ``next_port`` and the key the new one,
        so a moved peer's artifacts stay byte for byte the same.
        """
        wg = self.inst.config.wireguard
        assert wg is not None
        port = self.inst.moving_port
        return port if self.moved and port is not None else wg.port

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

    @cached_property
    def own_routes(self) -> list[IPNetwork]:
        """The peer's subnets that are routes of the instance (outside every aggregate)."""
        return self.inst.policy.own_routes(self.node)

    @property
    def limited(self) -> bool:
        """A client with an access list: it routes only what it may reach."""
        return self.name in self.inst.policy.access

    def route_texts(self, v6: bool = True) -> list[str]:
        """What this peer routes into the tunnel, as text (SPEC §10); may be shared, read-only.

        Every peer without subnets of its own outside the aggregates gets the instance's one
        list; a site's own LAN is cut out of the few blocks that hold it.
        """
        inst = self.inst
        v6 = v6 and self.carries_ipv6
        if self.limited:  # rare: the slow path
            return [str(n) for n in self.reachable(v6)]
        return inst.policy.routes.text(self.own_routes, v6)

    def reachable(self, v6: bool = True) -> list[IPNetwork]:
        """What this peer routes into the tunnel (SPEC §10)."""
        policy = self.inst.policy
        v6 = v6 and self.carries_ipv6
        return policy.limited(self.node, policy.routes.nets(self.own_routes, v6))

    @property
    def carries_ipv6(self) -> bool:
        """Its tunnel carries IPv6 (an OpenVPN peer's only with ``openvpn.network6``)."""
        return self.inst.policy.carries_ipv6(self.node)

    @property
    def address6(self) -> IPAddress | None:
        """The IPv6 tunnel address, where its tunnel has IPv6."""
        return self.config.address6 if self.carries_ipv6 else None

    @property
    def tunnel6(self) -> IPNetwork | None:
        """The IPv6 tunnel network its ``address6`` lives in (``None``: none)."""
        cfg = self.inst.config
        hub = cfg.wireguard if self.config.protocol == "wireguard" else cfg.openvpn
        return hub.network6 if hub is not None else None

    def route6_texts(self) -> list[str]:
        """IPv6 routes pushed to this OpenVPN peer (``route-ipv6``), its tunnel excluded.

        The IPv6 tunnel network is connected through the interface, like the IPv4 one.
        """
        # Both lists are the instance's shared ones for most peers: no per-peer work.
        full, v4 = self.route_texts(), self.route_texts(v6=False)
        tunnel = str(self.tunnel6)
        return [t for t in full[len(v4):] if t != tunnel]

    @property
    def block6(self) -> tuple[IPAddress, IPAddress] | None:
        """(its address, the hub's) in the instance's IPv6 block network, if it gets one.

        A route-all OpenVPN client of a tunnel without IPv6 sends its IPv6 into the tunnel
        anyway, where the hub rejects it (see :attr:`InstanceView.block6_network`).
        """
        net = self.inst.block6_network
        if net is None or not self.route_all or self.config.protocol != "openvpn":
            return None
        return block6_address(net, self.address), net.network_address + 1

    def reachable_text(self, sep: str, v6: bool = True) -> str:
        """:meth:`route_texts` joined by ``sep``."""
        return sep.join(self.route_texts(v6))

    def route_masks(self) -> list[str]:
        """IPv4 routes pushed to this OpenVPN peer (``address netmask``), its tunnel excluded.

        The tunnel network is connected through the interface (``topology subnet``).
        """
        if self.limited:
            nets = [n for n in self.reachable(v6=False) if n != self.tunnel]
            return [f"{n.network_address} {n.netmask}" for n in nets]
        tunnel = f"{self.tunnel.network_address} {self.tunnel.netmask}"
        return [m for m in self.inst.policy.routes.netmasks(self.own_routes) if m != tunnel]

    def router_routes(self) -> tuple[list[str], list[str]]:
        """IPv4 and IPv6 routes of a site router, without the connected tunnel networks."""
        v4 = self.route_texts(v6=False)
        full = self.route_texts(v6=True)
        # addr: the text remembered (``str`` of an IPv6 network is ~7 µs, and every site asks).
        skip = {addr(self.tunnel)}
        for hub in (self.inst.config.wireguard, self.inst.config.openvpn):
            if hub is not None and hub.network6 is not None:
                skip.add(addr(hub.network6))
        if self.config.protocol == "openvpn":
            # RouterOS's ovpn-client has no IPv6 (no argument for it in any version's
            # command tree, 7.9-7.24): an OpenVPN site's router routes IPv4 only.
            return [t for t in v4 if t not in skip], []
        return ([t for t in v4 if t not in skip], [t for t in full[len(v4):] if t not in skip])

    @property
    def mtu(self) -> int | None:
        """Its tunnel MTU: a site's own ``mtu``, else the instance's (``None``: the default)."""
        cfg = self.node.config
        own = cfg.mtu if isinstance(cfg, SitePeer) else None
        return own or self.inst.config.mtu

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

    @cached_property
    def fqdn(self) -> str:
        """``<hostname>.<domain>``: where peers connect (in every peer's files: made once)."""
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

    @property
    def aggregates(self) -> list[IPNetwork]:
        """``routing.aggregates`` (SPEC §10)."""
        return self.policy.aggregates

    @cached_property
    def peer_networks(self) -> list[IPNetwork]:
        """Where traffic from peers comes from: tunnel networks and site subnets."""
        return self.policy.peer_networks

    @cached_property
    def peer_space(self) -> list[IPNetwork]:
        """Where peers' traffic may come from, as the hub's firewall sees it (SPEC §10).

        Tunnel networks, site subnets outside every aggregate, and the aggregates themselves
        (less the pushed routes inside them, which are the hub's own side): the hub routes
        each aggregate into a tunnel, so a site added inside one changes no set of
        ``nftables.conf``. Without aggregates: the tunnels and every site subnet.
        """
        policy = self.policy
        return sorted_nets([*policy.tunnels, *policy.unaggregated,
                            *subtract(policy.aggregates, self.config.routing.pushed_routes)])

    @cached_property
    def instance_space(self) -> list[IPNetwork]:
        """The instance's address space for the firewall: :attr:`peer_space` + pushed routes."""
        return sorted_nets([*self.peer_space, *self.config.routing.pushed_routes])

    @cached_property
    def ovpn_aggregates(self) -> list[IPNetwork]:
        """Aggregates the hub routes into OpenVPN (``route``/``route-ipv6`` in ``server.conf``).

        The IPv4 ones, and the IPv6 ones when OpenVPN carries IPv6 (``openvpn.network6``).
        OpenVPN delivers by its ``iroute`` table (``ccd/``), so it drops what no site
        advertises, and a new OpenVPN site inside an aggregate needs no ``route`` of its own.
        WireGuard sites keep their exact routes (wg-quick adds them from AllowedIPs): the
        longer prefix wins.
        """
        ovpn = self.config.openvpn
        if ovpn is None:
            return []
        return [n for n in self.aggregates if n.version == 4 or ovpn.network6 is not None]

    @cached_property
    def wg_aggregates(self) -> list[IPNetwork]:
        """Aggregates the hub routes into wg0 (``PostUp`` in ``wg0.conf``).

        Those OpenVPN does not carry. WireGuard sends a packet only to the peer whose
        AllowedIPs hold its destination, so what no peer advertises is dropped there.
        """
        if self.config.wireguard is None:
            return []
        return [n for n in self.aggregates if n not in self.ovpn_aggregates]

    @property
    def route_all_sources(self) -> list[IPNetwork]:
        """Tunnel addresses of route-all clients, as host prefixes."""
        return self.policy.route_all_sources

    @property
    def ovpn_network6(self) -> IPNetwork | None:
        """The OpenVPN IPv6 tunnel network (``None``: the OpenVPN tunnel is IPv4-only)."""
        return self.config.openvpn.network6 if self.config.openvpn is not None else None

    @cached_property
    def block6_network(self) -> IPNetwork | None:
        """The IPv6 network of route-all OpenVPN clients of an IPv4-only OpenVPN tunnel.

        OpenVPN's ``block-ipv6`` answers a client's IPv6 in the client's own OpenVPN process,
        which a client with data channel offload (DCO: the Windows 2.6 default) never sees:
        its IPv6 would leave around the VPN. So, as the OpenVPN manual suggests, these
        clients get an IPv6 address here and ``redirect-gateway ipv6``, and the hub rejects
        what they send (nftables). A ULA (RFC 4193) whose global ID comes from the instance
        name: it is never routed, so it only needs to be the same on every build.
        """
        if self.config.openvpn is None or self.ovpn_network6 is not None:
            return None
        if not any(p.route_all and p.config.protocol == "openvpn" for p in self.peers):
            return None
        digest = hashlib.sha256(f"mvpn block-ipv6 {self.name}".encode()).digest()
        return ipaddress.IPv6Network(((0xFD << 120) | (int.from_bytes(digest[:5]) << 80), 64))

    @property
    def has_ipv6(self) -> bool:
        """Any IPv6 network (tunnel, pushed route, site subnet, aggregate): forward IPv6.

        With the aggregates, the first IPv6 site inside one does not change ``sysctl.conf``.
        """
        return any(net.version == 6 for net in [*self.networks, *self.aggregates])

    @property
    def mss_clamps(self) -> list[tuple[int, list[IPAddress | IPNetwork]]]:
        """Sites with an MTU below the instance's (or WireGuard's 1420): their own MSS clamp.

        The hub's route MTU is its tunnel interface's, one for every peer, so a site with a
        smaller path (PPPoE behind it) is clamped by its addresses and subnets.
        """
        base = self.config.mtu or 1420
        clamps: list[tuple[int, list[IPAddress | IPNetwork]]] = []
        for peer in self.peers:
            if peer.is_site and peer.mtu is not None and peer.mtu < base:
                own = [a for a in (peer.address, peer.config.address6) if a is not None]
                clamps.append((peer.mtu, [*own, *peer.subnets]))
        return clamps

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
        # An IPv6 server is reachable over OpenVPN only when its tunnel carries IPv6
        # (`dhcp-option DNS` and `dns server` take either family in OpenVPN 2.6).
        if protocol == "wireguard" or self.ovpn_network6 is not None:
            return servers
        return [s for s in servers if s.version == 4]

    @cached_property
    def cbc_sites(self) -> list[PeerView]:
        """OpenVPN sites whose RouterOS has no GCM: only they make the hub offer AES-256-CBC.

        A CBC cipher in ``data-ciphers`` turns OpenVPN 2.6's data channel offload off (DCO
        does AEAD ciphers only), so it is offered only when a site needs it.
        """
        return [p for p in self.peers_of("openvpn")
                if p.is_site and not routeros_has_gcm(p.routeros)]

    @property
    def split_names(self) -> list[str]:
        """Names resolved through the VPN under split DNS: the domains, and records outside them."""
        domains = list(self.config.dns.domains)
        extra = [name for name in self.config.dns.records
                 if not any(name == d or name.endswith("." + d) for d in domains)]
        return domains + sorted(extra)

    @cached_property
    def epochs(self) -> HubEpochs:
        """``key_epoch``, and during step 1 of a two-step rotation the epoch it retires."""
        return HubEpochs(self.config.key_epoch, self.config.retiring_key_epoch)

    @cached_property
    def openvpn_trust(self) -> str:
        """The CA certificates (PEM) the hub and every new profile trust: one, two in step 1."""
        return self.ring.openvpn_trust(self.name, self.epochs)

    @cached_property
    def hub_wireguard(self) -> WireGuardKeyPair:
        """wg0's key pair: the serving epoch's (it changes at step 2 only).

        An interface has one private key: peers moved to the new key during step 1 are on a
        second interface, :attr:`next_wireguard` (see keys/rotation.py).
        """
        return self.ring.wireguard_hub(self.name, self.epochs.serving)

    @property
    def moving_port(self) -> int | None:
        """wg1's port during step 1 with ``wireguard.next_port`` (``None``: no wg1)."""
        return self.config.moving_port

    @cached_property
    def next_wireguard(self) -> WireGuardKeyPair:
        """wg1's key pair: the new ``key_epoch``'s, which wg0 takes at step 2."""
        return self.ring.wireguard_hub(self.name, self.epochs.current)

    @cached_property
    def wg_interfaces(self) -> list[HubInterface]:
        """The hub's WireGuard interfaces: wg0, and wg1 while peers move to the new key."""
        wg = self.config.wireguard
        if wg is None:
            return []
        peers = self.peers_of("wireguard")
        wg0 = HubInterface("wg0", wg.port, self.hub_wireguard,
                           [p for p in peers if not p.moved], primary=True)
        if self.moving_port is None:
            return [wg0]
        wg1 = HubInterface(NEXT_WG_IFACE, self.moving_port, self.next_wireguard,
                           [p for p in peers if p.moved], primary=False)
        return [wg0, wg1]


@dataclasses.dataclass(frozen=True, eq=False)
class HubInterface:
    """One WireGuard interface of the hub (``hub/wireguard/<name>.conf``).

    ``primary``: wg0, which holds the tunnel networks and the aggregates' routes. wg1 (step 1
    of a rotation with ``next_port``) holds only the hub's addresses as host prefixes: its
    peers' AllowedIPs routes (wg-quick adds them) are more specific than wg0's connected
    tunnel network and aggregates, so traffic to a moved peer leaves through wg1, and the
    hub's own packets there get its tunnel address as their source.
    """

    name: str
    port: int
    key: WireGuardKeyPair
    peers: list[PeerView]
    primary: bool


def block6_address(net: IPNetwork, v4: IPAddress) -> IPAddress:
    """The address of IPv4 tunnel address ``v4`` in the block network: ``<net>::a.b.c.d``.

    IPv4 tunnel addresses are unique in an instance, so these are too, and never move.
    """
    return net.network_address + int(v4)


def instance_views(estate: Estate, ring: KeyRing) -> list[InstanceView]:
    """A view of every instance, in name order."""
    return [
        InstanceView(node, estate.org, ring)
        for _name, node in sorted(estate.instances.items())
        if node.config is not None
    ]
