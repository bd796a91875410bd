r"""Graphviz DOT: every id and attribute a double-quoted, escaped string.

In a quoted DOT string only ``\"`` is an escape of the language, but Graphviz then reads
backslash sequences in labels (``\n``, ``\l``, ``\N``, ``\G``…); a backslash is therefore
doubled, a quote escaped, and control characters (never valid in our config) dropped to
a visible ``?``. Lines of a label are joined with ``\n``, which we write ourselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from compiler.topology import NETWORK_NAMES, Topology
from compiler.topology.mermaid import peer_lines

_SHAPES: Final = {"instance": "box3d", "site": "box", "client": "ellipse", "prefix": "hexagon"}


def quote(text: str) -> str:
    """``text`` as a quoted DOT string whose label value is ``text`` itself."""
    clean = "".join("?" if ord(ch) < 32 or ord(ch) == 127 else ch for ch in text)
    return '"' + clean.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(lines: Sequence[str]) -> str:
    return '"' + "\\n".join(quote(line)[1:-1] for line in lines) + '"'


def _node(ident: str, shape: str, lines: Sequence[str], tooltip: str | None) -> str:
    attrs = f"shape={_SHAPES[shape]}, label={_label(lines)}"
    if tooltip:
        attrs += f", tooltip={quote(tooltip)}"
    return f"  {quote(ident)} [{attrs}];"


def to_dot(topo: Topology) -> str:
    """``digraph mvpn``: instances, peers, prefixes; member, advertises and pushes edges."""
    out = ["digraph mvpn {", "  rankdir=LR;"]
    for inst in topo.instances:
        nets = [f"{NETWORK_NAMES[k]} {v}" for k, v in inst.networks.items()]
        out.append(_node(f"instance:{inst.name}", "instance",
                         [inst.name, f"{inst.hostname} ({inst.region})", *nets],
                         inst.description))
    for prefix in topo.prefixes:
        out.append(_node(f"prefix:{prefix}", "prefix", [prefix], None))
    for peer in topo.peers:
        out.append(_node(f"peer:{peer.key}", peer.kind, peer_lines(peer), peer.description))
    for inst in topo.instances:
        for prefix in inst.pushes:
            out.append(f"  {quote('instance:' + inst.name)} -> {quote('prefix:' + prefix)} "
                       '[style=dashed, label="pushes"];')
    for peer in topo.peers:
        out.append(f"  {quote('instance:' + peer.instance)} -> {quote('peer:' + peer.key)} "
                   "[arrowhead=none];")
        for prefix in peer.advertises:
            out.append(f"  {quote('peer:' + peer.key)} -> {quote('prefix:' + prefix)};")
    out.append("}")
    return "\n".join(out) + "\n"
