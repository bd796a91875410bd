"""RouterOS v7 scripts for site routers: converge in place, tagged, versioned on the router.

A site script finds every object it manages by its comment tag (``mvpn:<instance>/<peer>``)
and only adds what is missing, sets what differs and, last, removes tagged objects that are no
longer wanted. Whether an object differs is decided by its comment: each comment carries a
short hash of the values the script gives that object (``mvpn:eu/berlin #1a2b3c4d ...``), so
the script compares one string instead of RouterOS's typed values, and an object whose values
did not change is not touched at all (a route-only change never sets the interface or its
peer). The uninstall script, which the site script installs on the router as a ``/system
script``, removes everything by the same tag.

Speed (80,000 scripts of ~12 KB at 100k peers): :func:`site_values` puts everything a script
says about its site through its filter (a :class:`~compiler.render.rsctext.Site`), and
:func:`_layout` makes the text from those values and the instance's. The sites of an
instance that share a shape (protocol, and which values they have) share the layout's text
but for those values, so it is laid out once per shape with markers in their place
(:mod:`compiler.render.skeleton`) and each site's values and comment hashes are filled in:
about 33 µs a script instead of 100 µs, the same bytes (``tests/test_rsc_skeleton.py``).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import weakref
from collections.abc import Callable
from typing import Any, Final, cast

from compiler.model.peer import SitePeer
from compiler.render.context import InstanceView, PeerView
from compiler.render.env import (
    addr,
    addrs_text,
    line_text,
    name,
    num,
    of_family,
    rsc_str,
    token,
    word,
)
from compiler.render.names import fit_comment, listen_port, ovpn_user, routeros_ifname
from compiler.render.rsctext import (
    ESCAPED_FIELDS,
    PLAIN_FIELDS,
    Site,
    site_script,
    uninstall_script,
)
from compiler.render.skeleton import PLAIN, Marks, Skeleton, prepare

#: The interface list every mvpn tunnel joins; the operator's firewall allows it by name.
IFACE_LIST = "mvpn"

#: How the layout gets the hash of an object's values (joined by NUL; see _Script.comment).
Digest = Callable[[str], str]


def tag(inst: InstanceView, peer: PeerView) -> str:
    """The comment tag that marks every object this peer's script creates."""
    return f"mvpn:{inst.name}/{peer.name}"


def _hash(*values: object) -> str:
    """8 hex digits over an object's values (public ones only: never a private key)."""
    return hashlib.sha256("\0".join(map(str, values)).encode("utf-8")).hexdigest()[:8]


def _digest(values: str) -> str:
    """:func:`_hash` of values already joined."""
    return hashlib.sha256(values.encode("utf-8")).hexdigest()[:8]


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
    """The values one site's script is laid out from: the instance's and the site's own."""

    def __init__(self, inst: InstanceView, v: Site, digest: Digest) -> None:
        self.inst, self.v = inst, v
        self.tag = f"mvpn:{inst.name}/{v.name}"
        self.iface = routeros_ifname(v.protocol, inst.name)
        self.q_iface = rsc_str(self.iface)
        # Names cannot contain "_", so it separates instance, peer and suffix unambiguously.
        self.prefix = f"mvpn_{inst.name}_{v.name}"
        #: How the router's log names this script (an attribute: read ~20 times a script).
        self.label = f"mvpn {inst.name}/{v.name}"
        # A comment is rsc_str(fit_comment(f"{tag} #{hash}", description)), laid out as its
        # pieces: the hash is worked out per site (see render_rsc), the rest is the site's.
        self.q_head = rsc_str(f"{self.tag} #")[:-1]
        self._digest = digest

    def comment(self, *values: object) -> str:
        """The quoted comment of an object given ``values``."""
        digest = self._digest("\0".join(map(str, values)))
        return f"{self.q_head}{digest}{self.v.comment_tail}"

    def managed(self, menu: str, find: str, args: str, what: str, *values: object) -> Managed:
        """An object of ``menu`` whose comment hashes ``values`` (public ones only)."""
        return Managed(menu, find, args, self.comment(menu, *values), what)


@functools.lru_cache(maxsize=256)
def _routes(v4: tuple[str, ...], v6: tuple[str, ...]) -> tuple[str, str, str]:
    """The route lines and the stale removals' where clauses of a site routing ``v4``, ``v6``.

    The prefixes are checked like a template's value (they are printed outside a template).
    The sites of an instance share a few lists (the aggregates): each is made once.
    """
    for texts in (v4, v6):
        if texts:
            addrs_text(",".join(texts))
    return (_route_lines("/ip route", v4) + _route_lines("/ipv6 route", v6),
            _keep_where("dst-address", v4, False), _keep_where("dst-address", v6, False))


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
    inst, v = s.inst, s.v
    org = inst.org
    # The hub is the interface's only peer and RouterOS adds no routes from allowed-address:
    # the routes below decide what enters the tunnel. Allowing everything keeps the peer
    # untouched when routes change (its list would otherwise follow every route).
    allowed = "0.0.0.0/0,::/0"
    keepalive = f"{org.defaults.keepalive}s"
    mtu = f" mtu={v.mtu}" if v.mtu else ""
    # The preshared key is secret, so the comment hashes what rotates it instead: the peer's
    # key epoch (the peer's public key changes with the same epoch too). The hub's key and
    # port are the new ones once the site is moved during a rotation (hub_key_epoch).
    return [
        s.managed("/interface wireguard", "comment~$tag",
                  f"name={s.q_iface} listen-port={v.port} private-key={rsc_str(v.private_key)}"
                  f"{mtu}",
                  f"WireGuard interface {s.iface}", s.iface, v.port, v.public_key,
                  *([mtu] if mtu else [])),
        s.managed("/interface wireguard peers", "comment~$tag",
                  f"interface={s.q_iface} public-key={rsc_str(v.hub_key)} "
                  f"preshared-key={rsc_str(v.preshared_key)} "
                  f"endpoint-address={rsc_str(inst.fqdn)} endpoint-port={v.hub_port} "
                  f"allowed-address={allowed} persistent-keepalive={num(org.defaults.keepalive)}s",
                  "WireGuard peer (the hub)",
                  s.iface, v.hub_key, inst.fqdn, v.hub_port, allowed, keepalive, "psk", v.epoch),
    ]


def _openvpn(s: _Script, cert_name: str) -> list[Managed]:
    inst, v = s.inst, s.v
    ovpn = inst.config.openvpn
    assert ovpn is not None
    # GCM is an AEAD cipher: it authenticates itself, and RouterOS wants auth=null with it
    # (MikroTik's OpenVPN manual). The hub's `auth SHA256` only applies to its CBC fallback.
    args = (f"name={s.q_iface} connect-to={rsc_str(inst.fqdn)} port={num(ovpn.port)} "
            f"protocol={word(ovpn.transport)} mode=ip user={rsc_str(v.user)} "
            f"certificate={rsc_str(cert_name)} verify-server-certificate=yes "
            "cipher=aes256-gcm auth=null add-default-route=no route-nopull=yes"
            + (f" max-mtu={v.mtu}" if v.mtu else ""))
    client = s.managed("/interface ovpn-client", "comment~$tag", args,
                       f"OpenVPN client {s.iface}", args)
    return [dataclasses.replace(client, needs_certs=True)]


def _address(s: _Script) -> list[Managed]:
    inst, v = s.inst, s.v
    net = inst.wg_network if v.protocol == "wireguard" else inst.ovpn_network
    out = [s.managed("/ip address", "comment~$tag",
                     f"address={v.address}/{num(net.prefixlen)} interface={s.q_iface}",
                     "tunnel address", v.address, net.prefixlen, s.iface)]
    if v.address6:
        wg = inst.config.wireguard
        assert wg is not None and wg.network6 is not None
        length = wg.network6.prefixlen
        out.append(s.managed("/ipv6 address", "comment~$tag",
                             f"address={v.address6}/{num(length)} interface={s.q_iface} "
                             "advertise=no",
                             "tunnel IPv6 address", v.address6, length, s.iface))
    return out


@dataclasses.dataclass(frozen=True)
class _Cert:
    """A certificate the script imports: from PEM ``files`` (extension, literal) into ``name``."""

    name: str
    files: list[tuple[str, str]]
    trusted: bool
    what: str


@functools.lru_cache(maxsize=64)
def _ca(pem: str) -> tuple[str, str]:
    """(hash, RouterOS literal) of a CA: every OpenVPN site of the instance imports it."""
    return _hash(pem), rsc_str(pem)


def _certificates(s: _Script) -> list[_Cert]:
    """The CAs and the site's certificate (+ key), imported once under content-hashed names.

    Certificates carry no comment; the name holds the hash instead, so a new certificate is
    imported beside the old one, the client switched to it, and the old one removed last.
    During step 1 of a hub key rotation both CAs are imported (the hub still presents a
    certificate of the retiring one); at step 2 the retiring CA is removed with the rest.
    The site's own certificate comes last.
    """
    inst, v = s.inst, s.v
    cas = [_ca(inst.ring.openvpn_ca(inst.name, epoch)) for epoch in inst.epochs.trusted]
    return [
        *(_Cert(f"{s.prefix}_ca_{digest}", [("crt", q_pem)], True, "CA certificate")
          for digest, q_pem in cas),
        _Cert(f"{s.prefix}_{v.cert_hash}", [("crt", v.cert_pem), ("key", v.key_pem)],
              False, "site certificate"),
    ]


def site_values(inst: InstanceView, peer: PeerView) -> Site:
    """Everything a site's script says about the site, each value through its filter."""
    cfg = peer.config
    assert isinstance(cfg, SitePeer)  # only sites have a script
    proto = cfg.protocol
    wireguard = proto == "wireguard"
    wg = inst.config.wireguard
    v4, v6 = peer.router_routes()
    route_lines, keep_v4, keep_v6 = _routes(tuple(v4), tuple(v6))
    six = cfg.address6 if wireguard and wg is not None else None
    cert = "" if wireguard else peer.openvpn.certificate
    site_tag = tag(inst, peer)
    return Site(
        protocol=word(proto),
        ipv6_note=not wireguard and bool(inst.ovpn_network6 or of_family(peer.subnets, 6)),
        name=name(peer.name),
        site=name(cfg.site),
        routeros=word(peer.routeros),
        port=num(listen_port(site_tag)) if wireguard else "",
        private_key=token(peer.private_key) if wireguard else "",
        public_key=token(peer.public_key) if wireguard else "",
        preshared_key=token(peer.preshared_key) if wireguard else "",
        hub_key=token(peer.hub_public_key) if wireguard else "",
        hub_port=num(peer.hub_port) if wireguard else "",
        epoch=num(cfg.key_epoch),
        mtu=num(peer.mtu) if peer.mtu else "",
        address=addr(peer.address),
        address6=addr(six) if six is not None else "",
        user="" if wireguard else name(ovpn_user(peer.name)),
        cert_hash="" if wireguard else word(_hash(cert)),
        description=line_text(cfg.description) if cfg.description else "",
        cert_pem="" if wireguard else rsc_str(cert),
        key_pem="" if wireguard else rsc_str(peer.openvpn.private_key),
        route_lines=route_lines,
        keep_v4=keep_v4,
        keep_v6=keep_v6,
        comment_tail=rsc_str(comment_tail(site_tag, cfg.description or ""))[1:],
    )


def comment_tail(site_tag: str, description: str) -> str:
    """What follows ``<tag> #<hash>`` in a comment: the description cut to fit, or nothing."""
    if not description:
        return ""
    head = f"{site_tag} #{0:08x}"  # as long as every head of the tag: the cut is the same
    return fit_comment(head, description)[len(head):]


def render_rsc(inst: InstanceView, peer: PeerView) -> str:
    """The RouterOS script of one site peer."""
    v = site_values(inst, peer)
    skeleton = _skeleton(inst, v)
    if skeleton is None:
        return _layout(inst, v, _digest)
    return skeleton.fill(v._asdict(), _digest)


def _layout(inst: InstanceView, v: Site, digest: Digest) -> str:
    """The script of the site ``v`` (values, or a skeleton's markers)."""
    s = _Script(inst, v, digest)
    proto = v.protocol
    certs = _certificates(s) if proto == "openvpn" else []
    tunnel = _wireguard(s) if proto == "wireguard" else _openvpn(s, certs[-1].name)
    member = s.managed("/interface list member", "comment~$tag",
                       f"list={rsc_str(IFACE_LIST)} interface={s.q_iface}",
                       f"interface list member {IFACE_LIST}", IFACE_LIST, s.iface)
    uninstall = render_uninstall(s)
    # The VPN's names are forwarded to its resolver; the site's other DNS stays as it is.
    servers = [a for a in inst.dns_servers(proto) if a.version == 4]
    names = inst.split_names if servers else []
    dns = [s.managed("/ip dns static", f"comment~$tag and name={rsc_str(n)}",
                     f"name={rsc_str(n)} type=FWD forward-to={addr(servers[0])} "
                     "match-subdomain=yes",
                     f"DNS forwarder {n}", n, servers[0]) for n in names]
    address = _address(s)
    return site_script(
        inst, v, label=s.label, iface=s.iface, iface_list=IFACE_LIST,
        tag_re=f"^{s.tag}( |$)",
        certs=certs, cert_re=f"^{s.prefix}_(ca_)?[0-9a-f]{{8}}$",
        uninstaller=_converge(_uninstaller(s, uninstall), s.label),
        uninstaller_source=uninstall,
        managed="".join(_converge(m, s.label) for m in [*tunnel, member, *address]),
        dns="".join(_converge(m, s.label) for m in dns),
        # The sites of an instance share a few route lists (the aggregates): these lines are
        # made once per list (they name no site: the tag is in a local).
        route_lines=v.route_lines, keep_v4=v.keep_v4, keep_v6=v.keep_v6,
        keep_dns=_keep_where("name", tuple(names), True),
        keep_certs=" ".join(f"and name!={rsc_str(c.name)}" for c in certs),
        has_v6_address=bool(address[1:]),
        has_wg=proto == "wireguard",
        version_name=s.prefix,
        version_comment=s.comment("/system script"),
        # Routes of both families share one comment: their values are the gateway alone.
        route_comment=s.comment("route", s.iface),
    )


#: Skeletons by instance and shape (:func:`_shape`): ``None`` when the layout is not one (it
#: runs for each site then); a shape seen once maps to :data:`_SEEN`.
_SKELETONS: Final[weakref.WeakKeyDictionary[InstanceView, dict[tuple[object, ...], object]]] = (
    weakref.WeakKeyDictionary())
_SEEN: Final = object()


def _shape(v: Site) -> tuple[object, ...]:
    """What the layout depends on besides the values: its branches and which values are set."""
    return (v.protocol, v.ipv6_note, *map(bool, v[2:]))


def _skeleton(inst: InstanceView, v: Site) -> Skeleton | None:
    """The skeleton for sites of ``inst`` shaped like ``v`` (``None``: lay ``v`` out).

    Made by the second site of a shape (``mvpn check`` lays out one site per shape, and
    would only pay for preparing it). Values are filled in as they are, so a site whose
    plain values are not all :data:`PLAIN` (nothing the model accepts: names, numbers,
    addresses and base64 keys are) is laid out.
    """
    if not PLAIN.fullmatch("".join(cast("tuple[str, ...]", v[2:2 + len(PLAIN_FIELDS)]))):
        return None
    known = _SKELETONS.setdefault(inst, {})
    key = _shape(v)
    if key not in known:
        known[key] = _SEEN
        return None
    found = known[key]
    if found is _SEEN:
        known[key] = found = _prepare(inst, v)
    return found if isinstance(found, Skeleton) else None


def _prepare(inst: InstanceView, v: Site) -> Skeleton | None:
    """The skeleton of the sites of ``inst`` shaped like ``v`` (``v``'s values play no part)."""
    kinds = {f: "p" for f in PLAIN_FIELDS if getattr(v, f)}
    kinds.update((f, "e") for f in ESCAPED_FIELDS if getattr(v, f))

    def marked(marks: Marks) -> str:
        values: dict[str, Any] = {f: marks.plain(f) if k == "p" else marks.escaped(f)
                                  for f, k in kinds.items()}
        return _layout(inst, v._replace(**values), marks.derived)

    return prepare(marked, kinds, _digest)


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
    q_name = rsc_str(uninstaller_name(s))
    # The source is in the local $un (see the template): written once, not in add and set.
    return s.managed("/system script", f"name={q_name}", f"name={q_name} source=$un",
                     "uninstall script", source)
