"""Site routers: a RouterOS v7 script (it installs its own uninstaller) and the Linux equivalent."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.render.artifact import Artifact
from compiler.render.context import InstanceView, PeerView
from compiler.render.env import render
from compiler.render.names import linux_ifnames
from compiler.render.routeros import render_rsc
from compiler.render.wgtext import site_conf


def _linux(inst: InstanceView, peer: PeerView, ifname: str) -> Artifact:
    cfg = inst.config
    if peer.config.protocol == "wireguard":
        # wg-quick names the interface after the file: at most 15 characters (see names.py).
        return Artifact(f"sites/{ifname}.conf", site_conf(inst, peer, ifname), True, "sites")
    text = render("linux/site.ovpn.j2", inst=inst, peer=peer, ovpn=cfg.openvpn,
                  ca=inst.openvpn_trust)
    return Artifact(f"sites/{peer.name}.ovpn", text, True, "sites")


def render_sites(inst: InstanceView) -> Iterator[Artifact]:
    """The RouterOS scripts and Linux config of every site peer of one instance."""
    # Unique among every peer name of the instance: the files share the sites/ folder.
    ifnames = linux_ifnames(p.name for p in inst.peers)
    for peer in inst.peers:
        if peer.is_site:
            yield Artifact(f"sites/{peer.name}.rsc", render_rsc(inst, peer), True, "sites")
            yield _linux(inst, peer, ifnames[peer.name])
