"""Client profiles: WireGuard ``.conf`` (+ QR code as SVG) or OpenVPN ``.ovpn``."""

from __future__ import annotations

from collections.abc import Callable, Iterator

from compiler.render.artifact import Artifact
from compiler.render.context import InstanceView, PeerView
from compiler.render.env import VERSION_SLOT, name, render
from compiler.render.wgtext import client_conf


def qr_svg(inst: InstanceView, peer: PeerView, profile: str) -> str | None:
    """The profile as a QR code (SVG) for the WireGuard mobile apps; ``None`` if too large."""
    # Imported when a code is made: a recompile takes unchanged profiles' codes from the
    # previous build and never needs the encoder (zxing-cpp and the tables: ~10 ms to import).
    from compiler.render import qr as qrcode

    rows = qrcode.matrix(qrcode.payload(profile))
    if rows is None:
        return None
    # Names are checked like every template value: nothing can close the XML comment.
    header = (f"<!-- mvpn {name(inst.name)} clients/{name(peer.name)}.svg"
              f" version {VERSION_SLOT} -->\n")
    return header + qrcode.svg(rows) + "\n"


#: Looks up an unchanged profile's QR code: (peer name, profile text) -> SVG text or None.
QrReuse = Callable[[str, str], str | None]


def render_clients(inst: InstanceView, qr: bool = True,
                   reuse: QrReuse | None = None) -> Iterator[Artifact]:
    """The profile of every client peer of one instance.

    With ``reuse``, the QR code of a profile that did not change is taken from the previous
    build instead of being made again.
    """
    cfg = inst.config
    for peer in inst.peers:
        if peer.is_site:
            continue
        if peer.config.protocol == "wireguard":
            text = client_conf(inst, peer)
            # Always secret: a profile with the user's own key still holds the preshared key.
            yield Artifact(f"clients/{peer.name}.conf", text, True, "clients")
            # No QR code without the private key (the user's own key) or with a placeholder
            # one (a redacted build): a code that looks real but cannot connect.
            secret = peer.private_key is not None
            if qr and secret and not inst.ring.redacted:
                svg = reuse(peer.name, text) if reuse is not None else None
                if svg is None:
                    svg = qr_svg(inst, peer, text)  # None: too large (`qr-too-large`)
                if svg is not None:
                    yield Artifact(f"clients/{peer.name}.svg", svg, secret, "clients")
        else:
            text = render("clients/client.ovpn.j2", inst=inst, peer=peer, ovpn=cfg.openvpn,
                          ca=inst.openvpn_trust)
            yield Artifact(f"clients/{peer.name}.ovpn", text, True, "clients")
