"""RouterOS v7 scripts for site routers: converge in place, tagged, versioned on the router.

A site script finds every object it manages by its comment tag (``mvpn:<instance>/<peer>``)
and only adds what is missing, sets what differs and, last, removes tagged objects that are no
longer wanted. Whether an object differs is decided by its comment: each comment carries a
short hash of the values the script gives that object (``mvpn:eu/berlin #1a2b3c4d ...``), so
the script compares one string instead of RouterOS's typed values, and an object whose values
did not change is not touched at all (a route-only change never sets the interface or its
peer). The uninstall script, which the site script installs on the router as a ``/system
script``, removes everything by the same tag.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
from typing import Final

from compiler.render.context import InstanceView, PeerView
from compiler.render.env import addr, addrs_text, num, rsc_str, word
from compiler.render.names import fit_comment, listen_port, ovpn_user, routeros_ifname
from compiler.render.rsctext import site_script, uninstall_script

#: The interface list every mvpn tunnel joins; the operator's firewall allows it by name.
IFACE_LIST = "mvpn"


def tag(inst: InstanceView, peer: PeerView) -> str:
    """The comment tag that marks every object this peer's script creates."""
    return f"mvpn:{inst.name}/{peer.name}"


def _hash(*values: object) -> str:
    """8 hex digits over an object's values (public ones only: never a private key)."""
    return hashlib.sha256("\0".join(map(str, values)).encode("utf-8")).hexdigest()[:8]


#: :func:`_hash` of values every site of an instance shares (its interface name, its DNS
#: forwarders): worked out once per instance instead of once per site (80,000 at 100k peers).
_shared_hash: Final = functools.lru_cache(maxsize=256)(_hash)


@dataclasses.dataclass(frozen=True)
class Managed:
    """One object the script converges: found by ``find`` in ``menu``, else added."""

    menu: str  # "/interface wireguard"
    find: str  # a where expression (RouterOS syntax, values already escaped)
    args: str  # "name=... listen-port=..." (values already escaped)
    comment: str  # the object's comment as a RouterOS string literal
    what: str  # what the log names when it fails
    needs_certs: bool = False  # applied only when the certificates were imported


class _Script:
    """The values one site's scripts are built from."""

    def __init__(self, inst: InstanceView, peer: PeerView) -> None:
        self.inst, self.peer = inst, peer
        self.tag = tag(inst, peer)
        self.desc = peer.config.description
        self.iface = routeros_ifname(peer.config.protocol, inst.name)
        self.q_iface = rsc_str(self.iface)
        # Names cannot contain "_", so it separates instance, peer and suffix unambiguously.
        self.prefix = f"mvpn_{inst.name}_{peer.name}"
        #: How the router's log names this script (an attribute: read ~20 times a script).
        self.label = f"mvpn {inst.name}/{peer.name}"

    def comment(self, *values: object, shared: bool = False) -> str:
        """The quoted comment of an object given ``values`` (``shared``: by every site)."""
        digest = _shared_hash(*values) if shared else _hash(*values)
        return rsc_str(fit_comment(f"{self.tag} #{digest}", self.desc))

    def managed(self, menu: str, find: str, args: str, what: str, *values: object,
                shared: bool = False) -> Managed:
        """An object of ``menu`` whose comment hashes ``values`` (public ones only)."""
        return Managed(menu, find, args, self.comment(menu, *values, shared=shared), what)

    def routes(self) -> tuple[list[str], list[str]]:
        """The IPv4 and IPv6 prefixes (text) this site routes into the tunnel (SPEC §10).

        Which routes is the context's business (aggregates); how they are emitted is ours.
        """
        v4, v6 = self.peer.router_routes()
        return _checked_routes(tuple(v4)), _checked_routes(tuple(v6))


@functools.lru_cache(maxsize=256)
def _checked_routes(texts: tuple[str, ...]) -> list[str]:
    """``texts``, checked like a template's value: they are printed outside a template.

    The sites of an instance share a few lists (the aggregates): each is checked once.
    """
    if texts:
        addrs_text(",".join(texts))
    return list(texts)


def _converge(m: Managed, label: str) -> str:
    """Find ``m`` by its tag: add it when missing, set it when its comment differs.

    Built here, not as a template macro: a site script has several, and a build has many
    sites.
    """
    failed = rsc_str(f"{label}: {m.what} not applied")
    block = (
        f":do {{\n  :local id [{m.menu} find where {m.find}]\n"
        f"  :if ([:len $id] = 0) do={{\n    {m.menu} add {m.args} comment={m.comment}\n"
        f"  }} else={{\n    :if ([{m.menu} get $id comment] != {m.comment}) do={{\n"
        f"      {m.menu} set $id {m.args} comment={m.comment}\n    }}\n  }}\n"
        f"}} on-error={{:set failed true; :log error {failed}}}\n")
    if not m.needs_certs:
        return block
    missing = rsc_str(f"{label}: {m.what} not applied (no certificate)")
    return ("# Switched to a certificate only once it is complete: a half-imported one is "
            "never in use.\n"
            f":if (!$certs) do={{:log error {missing}}} else={{\n{block}}}\n")


@functools.lru_cache(maxsize=256)
def _route_lines(menu: str, prefixes: tuple[str, ...]) -> str:
    """One line per route that adds it when missing (built here: a template loop costs more).

    Every site script routes every network of its instance, so these lines are the bulk of
    a script at scale: short, with the gateway, comment and log text in the locals ``$gw``,
    ``$rc`` and ``$rl`` (see the template, which also sets routes whose comment is stale).
    """
    return "".join(
        f":do {{:if ([:len [{menu} find where comment~$tag and dst-address={net}]] = 0) "
        f"do={{{menu} add dst-address={net} gateway=$gw comment=$rc}}}} "
        f'on-error={{:set failed true; :log error ($rl . "{net}")}}\n'
        for net in prefixes)


@functools.lru_cache(maxsize=256)
def _keep_where(prop: str, values: tuple[str, ...], quote: bool) -> str:
    """``comment~$tag`` and not one of ``values`` (what the stale removal matches)."""
    shown = [rsc_str(v) if quote else v for v in values]
    return " ".join(["comment~$tag", *(f"and {prop}!={v}" for v in shown)])


def _wireguard(s: _Script) -> list[Managed]:
    inst, peer = s.inst, s.peer
    wg, org = inst.config.wireguard, inst.org
    assert wg is not None
    port = listen_port(s.tag)
    key = peer.private_key
    # The new hub key and next_port once the site is moved during a rotation (hub_key_epoch).
    hub_key, hub_port = peer.hub_public_key, peer.hub_port
    # The hub is the interface's only peer and RouterOS adds no routes from allowed-address:
    # the routes below decide what enters the tunnel. Allowing everything keeps the peer
    # untouched when routes change (its list would otherwise follow every route).
    allowed = "0.0.0.0/0,::/0"
    keepalive = f"{org.defaults.keepalive}s"
    mtu = f" mtu={num(peer.mtu)}" if peer.mtu else ""
    # The preshared key is secret, so the comment hashes what rotates it instead: the peer's
    # key epoch (the peer's public key changes with the same epoch too).
    psk = rsc_str(peer.preshared_key)
    epoch = peer.config.key_epoch
    out = [
        s.managed("/interface wireguard", "comment~$tag",
                  f"name={s.q_iface} listen-port={num(port)} private-key={rsc_str(key)}{mtu}",
                  f"WireGuard interface {s.iface}", s.iface, port, peer.public_key,
                  *([mtu] if mtu else [])),
        s.managed("/interface wireguard peers", "comment~$tag",
                  f"interface={s.q_iface} public-key={rsc_str(hub_key)} preshared-key={psk} "
                  f"endpoint-address={rsc_str(inst.fqdn)} endpoint-port={num(hub_port)} "
                  f"allowed-address={allowed} persistent-keepalive={num(org.defaults.keepalive)}s",
                  "WireGuard peer (the hub)",
                  s.iface, hub_key, inst.fqdn, hub_port, allowed, keepalive, "psk", epoch),
    ]
    return out


def _openvpn(s: _Script, cert_name: str) -> list[Managed]:
    inst, peer = s.inst, s.peer
    ovpn = inst.config.openvpn
    assert ovpn is not None
    user = ovpn_user(peer.name)
    # GCM is an AEAD cipher: it authenticates itself, and RouterOS wants auth=null with it
    # (MikroTik's OpenVPN manual). The hub's `auth SHA256` only applies to its CBC fallback.
    args = (f"name={s.q_iface} connect-to={rsc_str(inst.fqdn)} port={num(ovpn.port)} "
            f"protocol={word(ovpn.transport)} mode=ip user={rsc_str(user)} "
            f"certificate={rsc_str(cert_name)} verify-server-certificate=yes "
            "cipher=aes256-gcm auth=null add-default-route=no route-nopull=yes"
            + (f" max-mtu={num(peer.mtu)}" if peer.mtu else ""))
    client = s.managed("/interface ovpn-client", "comment~$tag", args,
                       f"OpenVPN client {s.iface}", args)
    return [dataclasses.replace(client, needs_certs=True)]


def _address(s: _Script) -> list[Managed]:
    inst, peer = s.inst, s.peer
    net = peer.tunnel
    out = [s.managed("/ip address", "comment~$tag",
                     f"address={addr(peer.address)}/{num(net.prefixlen)} interface={s.q_iface}",
                     "tunnel address", peer.address, net.prefixlen, s.iface)]
    wg = inst.config.wireguard
    six = peer.config.address6
    if peer.config.protocol == "wireguard" and six is not None and wg is not None:
        assert wg.network6 is not None
        length = wg.network6.prefixlen
        out.append(s.managed("/ipv6 address", "comment~$tag",
                             f"address={addr(six)}/{num(length)} interface={s.q_iface} "
                             "advertise=no",
                             "tunnel IPv6 address", six, length, s.iface))
    return out


@dataclasses.dataclass(frozen=True)
class _Cert:
    """A certificate the script imports: from PEM ``files`` (extension, text) into ``name``."""

    name: str
    files: list[tuple[str, str]]
    trusted: bool
    what: str


def _certificates(s: _Script) -> list[_Cert]:
    """The CAs and the site's certificate (+ key), imported once under content-hashed names.

    Certificates carry no comment; the name holds the hash instead, so a new certificate is
    imported beside the old one, the client switched to it, and the old one removed last.
    During step 1 of a hub key rotation both CAs are imported (the hub still presents a
    certificate of the retiring one); at step 2 the retiring CA is removed with the rest.
    The site's own certificate comes last.
    """
    inst, peer = s.inst, s.peer
    cert = peer.openvpn.certificate
    cas = [inst.ring.openvpn_ca(inst.name, epoch) for epoch in inst.epochs.trusted]
    return [
        *(_Cert(f"{s.prefix}_ca_{_hash(ca)}", [("crt", ca)], True, "CA certificate")
          for ca in cas),
        _Cert(f"{s.prefix}_{_hash(cert)}", [("crt", cert), ("key", peer.openvpn.private_key)],
              False, "site certificate"),
    ]


def render_rsc(inst: InstanceView, peer: PeerView) -> str:
    """The RouterOS script of one site peer."""
    s = _Script(inst, peer)
    proto = peer.config.protocol
    certs = _certificates(s) if proto == "openvpn" else []
    tunnel = _wireguard(s) if proto == "wireguard" else _openvpn(s, certs[-1].name)
    member = s.managed("/interface list member", "comment~$tag",
                       f"list={rsc_str(IFACE_LIST)} interface={s.q_iface}",
                       f"interface list member {IFACE_LIST}", IFACE_LIST, s.iface, shared=True)
    v4, v6 = s.routes()
    uninstall = render_uninstall(s)
    # The VPN's names are forwarded to its resolver; the site's other DNS stays as it is.
    servers = [a for a in inst.dns_servers(proto) if a.version == 4]
    names = inst.split_names if servers else []
    dns = [s.managed("/ip dns static", f"comment~$tag and name={rsc_str(n)}",
                     f"name={rsc_str(n)} type=FWD forward-to={addr(servers[0])} "
                     "match-subdomain=yes",
                     f"DNS forwarder {n}", n, servers[0], shared=True) for n in names]
    address = _address(s)
    return site_script(
        inst, peer, label=s.label, iface=s.iface, iface_list=IFACE_LIST,
        tag_re=f"^{s.tag}( |$)",
        certs=certs, cert_re=f"^{s.prefix}_(ca_)?[0-9a-f]{{8}}$",
        uninstaller=_converge(_uninstaller(s, uninstall), s.label),
        uninstaller_source=uninstall,
        managed="".join(_converge(m, s.label) for m in [*tunnel, member, *address]),
        dns="".join(_converge(m, s.label) for m in dns),
        # The sites of an instance share a few route lists (the aggregates) and the DNS names:
        # these lines are made once per list (they name no site: the tag is in a local).
        route_lines=_route_lines("/ip route", tuple(v4)) + _route_lines("/ipv6 route", tuple(v6)),
        keep_v4=_keep_where("dst-address", tuple(v4), False),
        keep_v6=_keep_where("dst-address", tuple(v6), False),
        keep_dns=_keep_where("name", tuple(names), True),
        keep_certs=" ".join(f"and name!={rsc_str(c.name)}" for c in certs),
        has_v6_address=bool(address[1:]),
        has_wg=proto == "wireguard",
        version_name=s.prefix,
        version_comment=s.comment("/system script"),
        # Routes of both families share one comment: their values are the gateway alone.
        route_comment=s.comment("route", s.iface, shared=True),
    )


def render_uninstall(s: _Script) -> str:
    """The source of the uninstall script the site script installs on the router.

    It removes everything the site's scripts created there, and itself last (only when
    everything else went, so a failed run can be run again).
    """
    cert_re = rsc_str(f"^{s.prefix}_(ca_)?[0-9a-f]{{8}}$")
    # Dependants first: routes and addresses before their interface, the client before its
    # certificates.
    steps = [("/ip route", "comment~$tag", "routes"),
             ("/ipv6 route", "comment~$tag", "IPv6 routes"),
             ("/ip dns static", "comment~$tag", "DNS forwarders"),
             ("/ip address", "comment~$tag", "tunnel address"),
             ("/ipv6 address", "comment~$tag", "tunnel IPv6 address"),
             ("/interface list member", "comment~$tag", "interface list member"),
             ("/interface wireguard peers", "comment~$tag", "WireGuard peer"),
             ("/interface wireguard", "comment~$tag", "WireGuard interface"),
             ("/interface ovpn-client", "comment~$tag", "OpenVPN client"),
             ("/certificate", f"name~{cert_re}", "certificates"),
             ("/system script", f"name={rsc_str(s.prefix)}", "version record")]
    removals = "".join(
        f":do {{{menu} remove [find where {where}]}} on-error={{:set failed true; "
        f":log error {rsc_str(f'{s.label}: {what} not removed')}}}\n"
        for menu, where, what in steps)
    return uninstall_script(label=s.label, tag_re=f"^{s.tag}( |$)", removals=removals,
                            uninstaller_name=rsc_str(uninstaller_name(s)))


def uninstaller_name(s: _Script) -> str:
    """The ``/system script`` the site script installs its uninstaller as."""
    return f"{s.prefix}_uninstall"


def _uninstaller(s: _Script, source: str) -> Managed:
    """The uninstall script, kept on the router as a ``/system script``.

    Converged like the other objects, so it is there whenever they are, also after the peer
    left the tree, and a new site adds no file of its own for it (``/system script run
    mvpn_<instance>_<peer>_uninstall``). Its source names only the tag: it changes only
    with the templates. ``source``: :func:`render_uninstall`'s.
    """
    name = rsc_str(uninstaller_name(s))
    # The source is in the local $un (see the template): written once, not in add and set.
    return s.managed("/system script", f"name={name}", f"name={name} source=$un",
                     "uninstall script", source)
