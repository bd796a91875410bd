"""The address plan of an instance: the hub's tunnel address and the pools peers take theirs from.

One definition for the checks (addresses in their pool), the allocator (the lowest free one) and
the renderers (the hub's own address).
"""

from __future__ import annotations

from compiler.model.instance import Instance
from compiler.model.types import IPAddress, IPNetwork


def hub_address(net: IPNetwork) -> IPAddress:
    """The hub's own tunnel address: the first host of the network."""
    return net.network_address + 1


def assignable(net: IPNetwork) -> range:
    """The integer addresses a peer may take: after the hub, before the v4 broadcast."""
    last = int(net.broadcast_address) - (1 if net.version == 4 else 0)
    return range(int(hub_address(net)) + 1, last + 1)


def pool_of(cfg: Instance, protocol: str, v6: bool = False) -> IPNetwork | None:
    """The tunnel network peers of ``protocol`` take addresses from, if enabled."""
    if protocol == "wireguard" and cfg.wireguard is not None:
        return cfg.wireguard.network6 if v6 else cfg.wireguard.network
    if protocol == "openvpn" and cfg.openvpn is not None:
        return cfg.openvpn.network6 if v6 else cfg.openvpn.network
    return None
