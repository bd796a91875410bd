"""Mermaid flowcharts: generated node ids, every label quoted and entity-escaped.

Mermaid has no backslash escapes; inside a quoted label it decodes ``#NNN;`` entity
codes. Every character outside a small safe set (letters, digits, space, ``.,:/@_()+-``)
is written as one, so no text can close the quote, start a new statement, inject HTML
(``<`` is ``#60;``) or a link. Node ids are ``i1``/``p1``/``n1``, never names.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

from compiler.topology import NETWORK_NAMES, PeerInfo, Topology

_SAFE: Final = re.compile(r"[A-Za-z0-9 .,:/@_()+\-]")
_PROTO: Final = {"wireguard": "WireGuard", "openvpn": "OpenVPN"}

#: Node shapes: (opening, closing) around the quoted label.
SHAPES: Final = {
    "instance": ("[[", "]]"),
    "site": ("(", ")"),
    "client": ("([", "])"),
    "prefix": ("{{", "}}"),
}


def escape(text: str) -> str:
    """``text`` with every unsafe character as a Mermaid entity code (``#34;``)."""
    return "".join(ch if _SAFE.fullmatch(ch) else f"#{ord(ch)};" for ch in text)


def label(lines: Sequence[str]) -> str:
    """A quoted label of escaped lines joined by ``<br/>`` (the only markup we emit)."""
    return '"' + "<br/>".join(escape(line) for line in lines) + '"'


def node(ident: str, shape: str, lines: Sequence[str]) -> str:
    """One node statement."""
    opening, closing = SHAPES[shape]
    return f"  {ident}{opening}{label(lines)}{closing}"


def peer_lines(peer: PeerInfo) -> list[str]:
    """What a peer box says: name, site or user, protocol and address."""
    addr = " ".join(a for a in (peer.address, peer.address6) if a) or "no address"
    mode = ", route-all" if peer.route_all else ""
    return [peer.name, peer.who, f"{_PROTO[peer.protocol]} {addr}{mode}"]


def to_mermaid(topo: Topology) -> str:
    """``flowchart LR``: instances, their peers, advertised and pushed prefixes."""
    out = ["flowchart LR"]
    ids: dict[str, str] = {}
    for n, inst in enumerate(topo.instances, 1):
        ids[f"instance:{inst.name}"] = f"i{n}"
        nets = [f"{NETWORK_NAMES[k]} {v}" for k, v in inst.networks.items()]
        out.append(node(f"i{n}", "instance", [inst.name, f"{inst.hostname} ({inst.region})",
                                              *nets]))
    for n, prefix in enumerate(topo.prefixes, 1):
        ids[f"prefix:{prefix}"] = f"n{n}"
        out.append(node(f"n{n}", "prefix", [prefix]))
    for n, peer in enumerate(topo.peers, 1):
        ids[f"peer:{peer.key}"] = f"p{n}"
        out.append(node(f"p{n}", peer.kind, peer_lines(peer)))
    for inst in topo.instances:
        for prefix in inst.pushes:
            out.append(f"  {ids['instance:' + inst.name]} -. pushes .-> {ids['prefix:' + prefix]}")
    for peer in topo.peers:
        pid = ids[f"peer:{peer.key}"]
        iid = ids.get(f"instance:{peer.instance}")
        if iid is not None:
            out.append(f"  {iid} --- {pid}")
        for prefix in peer.advertises:
            out.append(f"  {pid} --> {ids['prefix:' + prefix]}")
    return "\n".join(out) + "\n"
