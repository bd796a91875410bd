"""RouterOS v7 scripts for site routers: idempotent, tagged, versioned on the router."""

from __future__ import annotations

from compiler.render.context import InstanceView, PeerView
from compiler.render.env import render


def tag(inst: InstanceView, peer: PeerView) -> str:
    """The comment tag that marks every object this peer's script creates."""
    return f"mvpn:{inst.name}/{peer.name}"


def render_rsc(inst: InstanceView, peer: PeerView) -> str:
    """The RouterOS script of one site peer."""
    cfg = inst.config
    own_tag = tag(inst, peer)
    prefix = f"mvpn_{inst.name}_{peer.name}"
    desc = peer.config.description
    comment = f"{own_tag} {desc}" if desc else own_tag
    proto = peer.config.protocol
    iface = f"{'wg' if proto == 'wireguard' else 'ovpn'}-{inst.name}"
    reach = peer.reachable()
    # The tunnel network itself is connected through the interface address.
    routes = [n for n in reach if n != peer.tunnel]
    wg6 = cfg.wireguard.network6 if cfg.wireguard is not None else None
    ca = inst.ring.openvpn_ca(inst.name, cfg.key_epoch) if proto == "openvpn" else ""
    # The VPN's names are forwarded to its resolver; the site's other DNS stays as it is.
    servers = [s for s in inst.dns_servers(proto) if s.version == 4]
    return render(
        "routeros/site.rsc.j2",
        inst=inst, peer=peer, org=inst.org, wg=cfg.wireguard, ovpn=cfg.openvpn, ca=ca,
        iface=iface, comment=comment,
        # Anchored: "mvpn:eu/berlin" must not match "mvpn:eu/berlin-2".
        tag_re=f"^{own_tag}( |$)",
        # Names cannot contain "_", so it separates instance and peer unambiguously.
        prefix=prefix,
        prefix_re=rf"^{prefix}(-ca)?(\.crt|\.key)?$",
        version_name=prefix,
        routes4=[n for n in routes if n.version == 4],
        routes6=[n for n in routes if n.version == 6 and (wg6 is None or n != wg6)],
        dns_names=inst.split_names if servers else [],
        dns_server=servers[0] if servers else "",
    )
