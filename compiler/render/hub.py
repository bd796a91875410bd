"""The hub bundle: WireGuard, OpenVPN (+ ccd and PKI), nftables, sysctl, and apply.sh."""

from __future__ import annotations

from collections.abc import Iterator

from compiler.keys.pkinames import client_common_name
from compiler.render.artifact import Artifact
from compiler.render.context import OVPN_IFACE, InstanceView
from compiler.render.env import render
from compiler.render.firewall import access_chain
from compiler.render.wgtext import hub_peer


def _pem(inst: InstanceView, name: str, pem: str) -> str:
    # PEM readers skip text before BEGIN, so PKI files carry a version header too.
    header = render("hub/pem-header.j2", inst=inst, name=name)
    return header + pem.strip() + "\n"


def render_hub(inst: InstanceView) -> Iterator[Artifact]:
    """Every file of the hub bundle of one instance."""
    cfg = inst.config
    for iface in inst.wg_interfaces:  # wg0; wg1 too while peers move to a new hub key
        # The template makes the [Interface] part, wgtext a [Peer] section per peer.
        text = (render("hub/wg0.conf.j2", inst=inst, wg=cfg.wireguard, iface=iface)
                + "".join([hub_peer(peer) for peer in iface.peers]))
        yield Artifact(f"hub/wireguard/{iface.name}.conf", text, True, "hub")
    if cfg.openvpn is not None:
        ovpn = cfg.openvpn
        yield Artifact(
            "hub/openvpn/server.conf",
            render("hub/server.conf.j2", inst=inst, ovpn=ovpn, ovpn_iface=OVPN_IFACE),
            False, "hub",
        )
        for peer in inst.peers_of("openvpn"):
            # Named by the certificate's CN, which carries the epoch after a rotation.
            cn = client_common_name(peer.name, peer.config.key_epoch)
            yield Artifact(
                f"hub/openvpn/ccd/{cn}", render("hub/ccd.j2", inst=inst, peer=peer, cn=cn),
                False, "hub",
            )
        ring, epochs = inst.ring, inst.epochs
        # During step 1 of a rotation the hub still presents the retiring epoch's
        # certificate (every peer trusts its CA) and trusts both CAs, each with its CRL.
        server = ring.openvpn_server(inst.name, epochs.serving, inst.fqdn)
        crl = ring.openvpn_crls(
            inst.name, epochs, {p.name: p.config.key_epoch for p in inst.peers_of("openvpn")}
        )
        for name, pem, secret in (
            ("ca.crt", inst.openvpn_trust, False),
            ("server.crt", server.certificate, False),
            ("server.key", server.private_key, True),
            ("crl.pem", crl, False),
        ):
            yield Artifact(f"hub/openvpn/pki/{name}", _pem(inst, name, pem), secret, "hub")
    yield Artifact("hub/nftables.conf", render("hub/nftables.conf.j2", inst=inst,
                                               access=access_chain(inst.policy)), False, "hub")
    if inst.hub_resolver:
        listen = [inst.hub_address(net) for net in inst.tunnels]
        yield Artifact("hub/dns/dnsmasq.conf", render("hub/dnsmasq.conf.j2", inst=inst,
                                                      listen=listen), False, "hub")
    yield Artifact("hub/sysctl.conf", render("hub/sysctl.conf.j2", inst=inst), False, "hub")
    # The installer of this bundle (SPEC §12); build.write makes it executable.
    yield Artifact("hub/apply.sh", render("hub/apply.sh.j2", inst=inst, wg=cfg.wireguard,
                                          ovpn=cfg.openvpn, dns=inst.hub_resolver,
                                          next_port=inst.moving_port),
                   False, "hub")
