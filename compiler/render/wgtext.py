"""WireGuard text written once per peer: hub ``[Peer]`` sections, site and client ``.conf``.

A section of the hub's ``wg0.conf`` per peer, a site's Linux ``.conf`` for wg-quick and a
client's ``.conf`` profile.

They were Jinja templates (``templates/hub/wg0.conf.j2``'s loop, ``linux/site.conf.j2``,
``clients/client.conf.j2``); a build writes them once per peer each (about 100,000 hub
sections, 72,000 site files and 18,000 profiles at 100k peers), and on the 10k benchmark
tree, keys already derived, a template took 19 µs a site file and 26 µs a profile where
these f-strings take 10 and 11 µs (a template pays for a context, a generator step per value
and an attribute lookup per dot), for the same bytes (``tests/test_golden.py`` pins them).
The header of ``wg0.conf`` (once per hub) stays a template.

The templates' rule holds here: every value is printed through a filter of
:mod:`compiler.render.env` (``name``, ``line_text``, ``token``, ``addr``, ``num``, ``host``,
``addrs_text``), or is a name assigned only from one (or from an f-string of this module);
``tests/test_wgtext.py`` audits every f-string and every return of this module for it.
"""

from __future__ import annotations

from compiler.model.peer import SitePeer
from compiler.render.context import InstanceView, PeerView
from compiler.render.env import VERSION_SLOT, addr, addrs_text, host, line_text, name, num, token


def hub_peer(peer: PeerView) -> str:
    """One ``[Peer]`` section of the hub's ``wg0.conf`` (or ``wg1.conf``), blank line first."""
    cfg = peer.config
    if isinstance(cfg, SitePeer):
        who = f" (site {name(cfg.site)})"
    else:
        route_all = ", route-all" if peer.route_all else ""
        who = f" (client {line_text(cfg.user)}{route_all})"
    about = f": {line_text(cfg.description)}" if cfg.description else ""
    own6 = f", {addr(cfg.address6)}/128" if cfg.address6 else ""
    lans = "".join([f", {addr(net)}" for net in peer.subnets])
    return (f"\n# {name(peer.name)}{who}{about}\n"
            f"[Peer]\nPublicKey = {token(peer.public_key)}\n"
            f"PresharedKey = {token(peer.preshared_key)}\n"
            f"AllowedIPs = {addr(peer.address)}/32{own6}{lans}\n")


def _hub_section(inst: InstanceView, peer: PeerView, allowed: str) -> str:
    """The hub as the one ``[Peer]`` of a site's or client's config; ``allowed``: AllowedIPs."""
    fqdn = host(inst.fqdn)
    return (f"[Peer]\n# hub {fqdn}\nPublicKey = {token(peer.hub_public_key)}\n"
            f"PresharedKey = {token(peer.preshared_key)}\n"
            f"Endpoint = {fqdn}:{num(peer.hub_port)}\n"
            f"AllowedIPs = {addrs_text(allowed)}\n"
            f"PersistentKeepalive = {num(inst.org.defaults.keepalive)}\n")


def site_conf(inst: InstanceView, peer: PeerView, ifname: str) -> str:
    """A WireGuard site on a Linux router: ``sites/<ifname>.conf`` for wg-quick."""
    cfg = peer.config
    wg = inst.config.wireguard
    assert isinstance(cfg, SitePeer) and wg is not None  # a WireGuard site (checked)
    iface = name(ifname)
    about = f"# {line_text(cfg.description)}\n" if cfg.description else ""
    if cfg.address6:
        assert wg.network6 is not None  # an address6 lies in network6 (checked)
        own6 = f", {addr(cfg.address6)}/{num(wg.network6.prefixlen)}"
        forward6 = " net.ipv6.conf.all.forwarding=1"
    else:
        own6 = forward6 = ""
    mtu = f"MTU = {num(peer.mtu)}\n" if peer.mtu else ""
    section = _hub_section(inst, peer, peer.reachable_text(", "))
    return (f"# mvpn {name(inst.name)} sites/{iface}.conf version {VERSION_SLOT}; "
            f"generated, do not edit\n"
            f"# Site {name(cfg.site)} on a Linux router: wg-quick up ./{iface}.conf\n{about}"
            f"[Interface]\nPrivateKey = {token(peer.private_key)}\n"
            f"Address = {addr(peer.address)}/{num(wg.network.prefixlen)}{own6}\n{mtu}"
            f"# A site routes its LAN through the tunnel.\n"
            f"PostUp = sysctl -q -w net.ipv4.ip_forward=1{forward6}\n\n{section}")


def client_dns(inst: InstanceView) -> str:
    """The DNS lines of a WireGuard profile of ``inst`` (a microsecond or two: made each time)."""
    servers = inst.dns_servers("wireguard")
    if servers and inst.config.dns.split:
        names = ", ".join([host(n) for n in inst.split_names])
        listed = ", ".join([addr(s) for s in servers])
        return (f"# Split DNS: resolve {names} with {listed}\n# (a WireGuard profile cannot "
                f"say so; set it in your system's per-domain DNS settings).\n")
    if not servers:
        return ""
    listed = ", ".join([addr(s) for s in servers])
    domains = ", ".join([host(d) for d in inst.config.dns.domains])
    return f"DNS = {listed}, {domains}\n" if domains else f"DNS = {listed}\n"


def client_conf(inst: InstanceView, peer: PeerView) -> str:
    """A WireGuard client's profile: ``clients/<peer>.conf``."""
    cfg = peer.config
    assert not isinstance(cfg, SitePeer)
    about = f": {line_text(cfg.description)}" if cfg.description else ""
    private = peer.private_key
    if private:
        key = f"PrivateKey = {token(private)}\n"
    else:
        key = (f"# Your own key: put the private key whose public key is "
               f"{token(peer.public_key)} here.\n# PrivateKey =\n")
    own6 = f", {addr(cfg.address6)}/128" if cfg.address6 else ""
    mtu = f"MTU = {num(peer.mtu)}\n" if peer.mtu else ""
    allowed = "0.0.0.0/0, ::/0" if peer.route_all else peer.reachable_text(", ")
    section = _hub_section(inst, peer, allowed)
    dns = client_dns(inst)
    return (f"# mvpn {name(inst.name)} clients/{name(peer.name)}.conf version {VERSION_SLOT}; "
            f"generated, do not edit\n"
            f"# {line_text(cfg.user)}{about}\n"
            f"[Interface]\n{key}Address = {addr(peer.address)}/32{own6}\n{mtu}{dns}\n"
            f"{section}")

