"""RouterOS v7 scripts for site routers: idempotent, tagged, versioned on the router."""

from __future__ import annotations

from compiler.render.context import InstanceView, PeerView
from compiler.render.env import addrs_text, render, rsc_str


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
    # The tunnel networks are connected through the interface addresses: no routes. With
    # aggregates the list is short; without, it can be long, so one C-level join per family.
    v4, v6 = peer.router_routes()
    q_iface, q_comment = rsc_str(iface), rsc_str(comment)
    tail = f" gateway={q_iface} comment={q_comment}\n"
    lines = []
    for menu, texts in (("/ip route", v4), ("/ipv6 route", v6)):
        if texts:
            addrs_text(",".join(texts))  # built outside a template: checked like one (raises)
            head = f"{menu} add dst-address="
            lines.append(head + (tail + head).join(texts) + tail)
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
        q_iface=q_iface, q_comment=q_comment,
        route_lines="".join(lines),
        dns_names=inst.split_names if servers else [],
        dns_server=servers[0] if servers else "",
    )
