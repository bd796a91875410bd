"""Peer checks: protocol, egress, tunnel addresses and sites connected twice."""

from __future__ import annotations

from collections import defaultdict

from compiler.diagnostics import Diagnostics
from compiler.model.addressing import pool_of
from compiler.model.estate import Estate, InstanceNode, PeerNode
from compiler.model.instance import Instance
from compiler.model.peer import ClientPeer, SitePeer
from compiler.model.routeset import span
from compiler.model.types import IPAddress, IPNetwork

_PROTO_NAME = {"wireguard": "WireGuard", "openvpn": "OpenVPN"}


def _address_problem(addr: IPAddress, net: IPNetwork, proto: str) -> str | None:
    # Compared as integers (the hub's address is the network's first host, hub_address):
    # ipaddress's operators and a new hub address object per peer took 2.5 µs an address.
    version, first, last = span(net)
    value = int(addr)
    if addr.version != version or not first <= value <= last:
        return f"{addr} is outside the instance's {_PROTO_NAME[proto]} network {net}"
    if value == first:
        return f"{addr} is the network address of {net}; use a host address"
    if version == 4 and value == last:
        return f"{addr} is the broadcast address of {net}; use a host address"
    if value == first + 1:  # hub_address(net)
        return f"{addr} is the hub's own address in {net}"
    return None


def _check_addresses(
    inst: InstanceNode, cfg: Instance, peer: PeerNode, seen: dict[IPAddress, list[PeerNode]],
    diags: Diagnostics,
) -> None:
    cp = peer.config
    proto = cp.protocol
    pool = pool_of(cfg, proto)
    if cp.address is None:
        peer.source.report(
            diags, "address-missing",
            "peer has no 'address'; run `mvpn allocate` to assign the lowest free one",
        )
    elif pool is not None:
        problem = _address_problem(cp.address, pool, proto)
        if problem:
            peer.source.report(diags, "address-invalid", problem, ("address",))
        else:
            seen[cp.address].append(peer)
    pool6 = pool_of(cfg, proto, v6=True)
    if pool6 is None:
        if cp.address6 is not None:
            peer.source.report(
                diags, "address-invalid",
                f"{cp.address6}: instance '{inst.name}' has no IPv6 tunnel network for "
                f"{_PROTO_NAME[proto]}; remove 'address6'",
                ("address6",),
            )
    elif cp.address6 is None:
        peer.source.report(
            diags, "address-missing",
            "peer has no 'address6' (the instance has an IPv6 tunnel network); "
            "run `mvpn allocate`",
        )
    else:
        problem = _address_problem(cp.address6, pool6, proto)
        if problem:
            peer.source.report(diags, "address-invalid", problem, ("address6",))
        else:
            seen[cp.address6].append(peer)


def _check_openvpn_ipv6(inst: InstanceNode, cfg: Instance, peer: PeerNode, cp: SitePeer,
                        diags: Diagnostics) -> None:
    """An OpenVPN site's IPv6 subnets: no tunnel, or a Linux router only (not RouterOS)."""
    assert cfg.openvpn is not None
    for i, net in enumerate(cp.subnets):
        if net.version != 6:
            continue
        if cfg.openvpn.network6 is None:
            peer.source.report(
                diags, "ipv6-untunnelled",
                f"{net} cannot be reached: the OpenVPN tunnel of instance '{inst.name}' has no "
                "IPv6; add openvpn.network6 to its instance.yaml or connect the site over "
                "WireGuard", ("subnets", i))
        else:
            peer.source.report(
                diags, "ipv6-routeros-openvpn",
                f"{net} is reached only when the site runs its Linux profile "
                f"(sites/{peer.name}.ovpn): RouterOS's OpenVPN client carries no IPv6, so its "
                "script routes IPv4 only; connect the site over WireGuard for IPv6 on RouterOS",
                ("subnets", i))


def _check_instance(inst: InstanceNode, cfg: Instance, diags: Diagnostics) -> None:
    seen: dict[IPAddress, list[PeerNode]] = defaultdict(list)
    sites: dict[str, list[PeerNode]] = defaultdict(list)
    for peer in inst.peers.values():
        cp = peer.config
        if pool_of(cfg, cp.protocol) is None:
            peer.source.report(
                diags, "protocol-unavailable",
                f"instance '{inst.name}' does not enable {_PROTO_NAME[cp.protocol]}; "
                f"use the other protocol or add '{cp.protocol}:' to its instance.yaml",
                ("protocol",) if "protocol" in peer.source.data else (),
            )
        else:
            _check_addresses(inst, cfg, peer, seen, diags)
        if isinstance(cp, ClientPeer) and cp.route_all and cfg.routing.egress == "none":
            peer.source.report(
                diags, "egress-unavailable",
                f"route_all needs internet egress, but instance '{inst.name}' has "
                "'egress: none'; set 'route_all: false' or 'egress: nat'",
                ("route_all",),
            )
        if isinstance(cp, SitePeer):
            sites[cp.site].append(peer)
            if cp.protocol == "openvpn" and cfg.openvpn is not None:
                _check_openvpn_ipv6(inst, cfg, peer, cp, diags)
    for addr, owners in seen.items():
        if len(owners) > 1:
            for peer in owners:
                others = ", ".join(f"'{o.name}'" for o in owners if o is not peer)
                field = "address" if addr.version == 4 else "address6"
                peer.source.report(
                    diags, "address-duplicate",
                    f"{addr} is also the tunnel address of peer {others}; "
                    "give each peer its own (`mvpn allocate` picks free ones)",
                    (field,),
                )
    for site, owners in sites.items():
        if len(owners) > 1:
            for peer in owners:
                others = ", ".join(f"'{o.name}'" for o in owners if o is not peer)
                peer.source.report(
                    diags, "peer-duplicate",
                    f"site '{site}' is connected to instance '{inst.name}' twice "
                    f"(also as peer {others}); keep one peer per site and instance",
                    ("site",),
                )


def check_peers(estate: Estate, diags: Diagnostics) -> None:
    """protocol-unavailable, egress-unavailable, address-*, peer-duplicate."""
    for inst in estate.instances.values():
        if inst.config is not None:
            _check_instance(inst, inst.config, diags)
