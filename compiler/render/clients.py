"""Client profiles: WireGuard ``.conf`` (+ QR code as SVG) or OpenVPN ``.ovpn``."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator

import segno

from compiler.render.artifact import Artifact
from compiler.render.context import InstanceView, PeerView
from compiler.render.env import VERSION_SLOT, name, render


def qr_svg(inst: InstanceView, peer: PeerView, profile: str) -> str:
    """The profile as a QR code (SVG) for the WireGuard mobile apps."""
    buf = io.BytesIO()
    # The QR code encodes the profile without its version header line.
    body = profile.split("\n", 1)[1]
    segno.make(body, error="l", micro=False).save(
        buf, kind="svg", xmldecl=False, svgns=True, scale=4, border=4,
    )
    # Names are checked like every template value: nothing can close the XML comment.
    header = (f"<!-- mvpn {name(inst.name)} clients/{name(peer.name)}.svg"
              f" version {VERSION_SLOT} -->\n")
    return header + buf.getvalue().decode("ascii") + "\n"


#: Looks up an unchanged profile's QR code: (peer name, profile text) -> SVG text or None.
QrReuse = Callable[[str, str], str | None]


def render_clients(inst: InstanceView, qr: bool = True,
                   reuse: QrReuse | None = None) -> Iterator[Artifact]:
    """The profile of every client peer of one instance.

    A QR code costs ~18 ms: with ``reuse``, one whose profile did not change is taken from
    the previous build instead of being made again.
    """
    cfg = inst.config
    for peer in inst.peers:
        if peer.is_site:
            continue
        if peer.config.protocol == "wireguard":
            text = render("clients/client.conf.j2", inst=inst, peer=peer, wg=cfg.wireguard,
                          org=inst.org)
            secret = peer.private_key is not None
            yield Artifact(f"clients/{peer.name}.conf", text, secret, "clients")
            if qr:
                svg = reuse(peer.name, text) if reuse is not None else None
                yield Artifact(f"clients/{peer.name}.svg",
                               svg if svg is not None else qr_svg(inst, peer, text), secret,
                               "clients")
        else:
            ca = inst.ring.openvpn_ca(inst.name, cfg.key_epoch)
            text = render("clients/client.ovpn.j2", inst=inst, peer=peer, ovpn=cfg.openvpn, ca=ca)
            yield Artifact(f"clients/{peer.name}.ovpn", text, True, "clients")
