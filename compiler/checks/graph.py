"""The topology graph of a checked estate (networkx), built when something asks for it.

The checks do not walk it: they iterate the estate's instances and peers, which hold the same
records in the same order. The graph is what ``mvpn graph`` draws and ``mvpn allocate`` plans
on; :func:`run_checks` hands out a :class:`LazyGraph` that builds it on first use, because at
100k peers it is about 490 MiB and 3 s that ``mvpn check`` and ``mvpn compile`` never use.

Nodes: ``("instance", name)``, ``("peer", "inst/peer")``, ``("site", id)`` and
``("prefix", "10.20.0.0/24")``. Edges carry a ``rel``: ``member`` (instance →
peer), ``is-site`` (peer → site), ``advertises`` (site peer → prefix, with the
subnet's index in the peer file) and ``pushes`` (instance → prefix).
"""

from __future__ import annotations

from typing import Any

from compiler.model.estate import Estate, PeerNode
from compiler.model.peer import SitePeer

Graph = Any  # networkx ships no type information


def instance_node(name: str) -> tuple[str, str]:
    """Graph node of an instance."""
    return ("instance", name)


def peer_node(key: str) -> tuple[str, str]:
    """Graph node of a peer (``instance/peer``)."""
    return ("peer", key)


def build_graph(estate: Estate) -> Graph:
    """Build the topology graph of every instance and peer that passed validation."""
    # Imported here: only `mvpn graph` and `mvpn allocate` build a graph, and importing
    # networkx is a fifth of the start-up of every other command (~90 ms).
    import networkx as nx

    graph = nx.MultiDiGraph()
    nodes: list[tuple[Any, dict[str, Any]]] = []
    edges: list[tuple[Any, Any, dict[str, Any]]] = []
    for name, inst in estate.instances.items():
        inode = instance_node(name)
        nodes.append((inode, {"kind": "instance", "obj": inst}))
        if inst.config is not None:
            for i, net in enumerate(inst.config.routing.pushed_routes):
                edges.append((inode, ("prefix", str(net)), {"rel": "pushes", "index": i}))
        for peer in inst.peers.values():
            _add_peer(peer, inode, nodes, edges)
    graph.add_nodes_from(nodes)
    # add_edge with explicit keys (the ones add_edges_from would pick: 0, 1, ... per node
    # pair) skips networkx's per-edge view lookups: a third of the graph's cost at 100k.
    seen: dict[tuple[Any, Any], int] = {}
    add = graph.add_edge
    for u, v, data in edges:
        key = seen.get((u, v), 0)
        seen[(u, v)] = key + 1
        add(u, v, key, **data)
    for node, data in graph.nodes(data=True):
        data.setdefault("kind", node[0])
    return graph


class LazyGraph:
    """The graph of an estate, built by :func:`build_graph` on first use of any attribute.

    Everything is delegated to the built networkx graph (``graph.nodes``, ``out_edges``...),
    so callers treat it as one. A caller that clears the instance's ``__dict__`` to free the
    graph (a compile, before rendering) also drops the estate it would be built from.
    """

    def __init__(self, estate: Estate) -> None:
        self._estate = estate

    def built(self) -> Graph:
        """The networkx graph (built now if it was not yet)."""
        state = self.__dict__
        if "_graph" not in state:
            if "_estate" not in state:
                raise AttributeError("the graph was freed")
            state["_graph"] = build_graph(state.pop("_estate"))
        return state["_graph"]

    def __getattr__(self, name: str) -> Any:
        # Only reached for names the proxy itself lacks: those of the networkx graph. Dunder
        # lookups (copy, pickle) must not build a graph as a side effect.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.built(), name)


def _add_peer(
    peer: PeerNode,
    inode: tuple[str, str],
    nodes: list[tuple[Any, dict[str, Any]]],
    edges: list[tuple[Any, Any, dict[str, Any]]],
) -> None:
    pnode = peer_node(peer.key)
    nodes.append((pnode, {"kind": "peer", "obj": peer}))
    edges.append((inode, pnode, {"rel": "member"}))
    config = peer.config
    if isinstance(config, SitePeer):
        edges.append((pnode, ("site", config.site), {"rel": "is-site"}))
        for i, net in enumerate(config.subnets):
            edges.append((pnode, ("prefix", str(net)), {"rel": "advertises", "index": i}))


def peers_of(graph: Graph, instance: str) -> list[PeerNode]:
    """The validated peers of an instance, in file-name order."""
    out: list[PeerNode] = []
    for _u, v, rel in graph.out_edges(instance_node(instance), data="rel"):
        if rel == "member":
            out.append(graph.nodes[v]["obj"])
    return out
