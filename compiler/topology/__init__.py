"""``mvpn graph``: the topology of the checks' graph model, as Mermaid, DOT or JSON.

:func:`topology` turns the networkx graph of :mod:`compiler.checks.graph` into plain,
sorted records (so every output is deterministic); the renderers only format them.
Names are safe identifiers, but descriptions and users are free text: the Mermaid and
DOT writers never emit them without escaping (see :mod:`.mermaid`, :mod:`.dot`).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any, Literal

from compiler.checks.graph import Graph
from compiler.model.estate import PeerNode
from compiler.model.peer import ClientPeer, SitePeer

Format = Literal["mermaid", "dot", "json"]

#: How the tunnel networks of an instance are named in labels.
NETWORK_NAMES = {"wireguard": "WireGuard", "wireguard6": "WireGuard IPv6", "openvpn": "OpenVPN"}


@dataclasses.dataclass(frozen=True)
class InstanceInfo:
    """One hub."""

    name: str
    hostname: str
    region: str
    description: str | None
    networks: dict[str, str]  # "wireguard" / "wireguard6" / "openvpn" -> prefix
    pushes: list[str]


@dataclasses.dataclass(frozen=True)
class PeerInfo:
    """One peer; ``who`` is the site id or the user."""

    key: str
    instance: str
    name: str
    kind: str  # site | client
    protocol: str
    who: str
    address: str | None
    address6: str | None
    route_all: bool
    description: str | None
    advertises: list[str]


@dataclasses.dataclass(frozen=True)
class Topology:
    """Instances, peers and the prefixes they advertise or push, in a stable order."""

    instances: list[InstanceInfo]
    peers: list[PeerInfo]

    @property
    def prefixes(self) -> list[str]:
        """Every prefix pushed or advertised, sorted and unique."""
        seen = {p for i in self.instances for p in i.pushes}
        seen.update(p for peer in self.peers for p in peer.advertises)
        return sorted(seen, key=_prefix_key)


def _prefix_key(text: str) -> tuple[int, str]:
    return (6 if ":" in text else 4, text)


def peer_info(peer: PeerNode, advertises: list[str]) -> PeerInfo:
    """The record of one validated peer."""
    cfg = peer.config
    return PeerInfo(
        key=peer.key, instance=peer.instance, name=peer.name,
        kind="site" if isinstance(cfg, SitePeer) else "client",
        protocol=cfg.protocol,
        who=cfg.site if isinstance(cfg, SitePeer) else cfg.user,
        address=None if cfg.address is None else str(cfg.address),
        address6=None if cfg.address6 is None else str(cfg.address6),
        route_all=isinstance(cfg, ClientPeer) and cfg.route_all,
        description=cfg.description,
        advertises=advertises,
    )


def topology(graph: Graph) -> Topology:
    """The records of every validated instance and peer (the graph's nodes and edges)."""
    instances: list[InstanceInfo] = []
    peers: list[PeerInfo] = []
    for node, data in sorted(graph.nodes(data=True)):
        kind, name = node
        targets = sorted(
            (str(v[1]) for _u, v, rel in graph.out_edges(node, data="rel")
             if rel in ("advertises", "pushes")),
            key=_prefix_key,
        )
        if kind == "instance" and data["obj"].config is not None:
            cfg = data["obj"].config
            nets: dict[str, str] = {}
            if cfg.wireguard is not None:
                nets["wireguard"] = str(cfg.wireguard.network)
                if cfg.wireguard.network6 is not None:
                    nets["wireguard6"] = str(cfg.wireguard.network6)
            if cfg.openvpn is not None:
                nets["openvpn"] = str(cfg.openvpn.network)
            instances.append(InstanceInfo(name, cfg.hostname, cfg.region, cfg.description,
                                          nets, targets))
        elif kind == "peer":
            peers.append(peer_info(data["obj"], targets))
    return Topology(instances, peers)


def to_json(topo: Topology) -> str:
    """The topology as one JSON object (ASCII, sorted, stable)."""
    doc: dict[str, Any] = {
        "instances": [dataclasses.asdict(i) for i in topo.instances],
        "peers": [dataclasses.asdict(p) for p in topo.peers],
        "prefixes": topo.prefixes,
    }
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


def render_topology(topo: Topology, fmt: Format) -> str:
    """Render in one of the three formats."""
    if fmt == "json":
        return to_json(topo)
    if fmt == "dot":
        from compiler.topology.dot import to_dot

        return to_dot(topo)
    from compiler.topology.mermaid import to_mermaid

    return to_mermaid(topo)
