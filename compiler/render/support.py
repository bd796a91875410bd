"""``routeros-unsupported``: site scripts their router's RouterOS version cannot run (SPEC §11).

Every site's script is checked against the command tree of its pinned version (``routeros:``
on the peer, else ``defaults.routeros``). Rendering and parsing a script per site would double
the time of ``mvpn check`` on a large tree, so sites are grouped by the few things the site
templates branch on (:class:`Shape`), and one script per group is rendered (redacted: no
secret is needed) and validated. The version only decides the validation (a script names it
in a comment only), so one script per shape *but the version* is rendered and parsed, and
checked against each version of the group. ``tests/test_routeros_support.py`` proves that
sites of one shape, whatever their version, get scripts that use the same commands and
arguments: a template that starts branching on something else must add it to the shape.

Rendering needs a valid tree, so scripts are only checked when nothing else is an error; a
version older than the oldest in mvpn's data (7.9) is reported regardless.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from compiler.diagnostics import Diagnostics
from compiler.keys import KeyRing
from compiler.loader.source import SourceFile
from compiler.model.estate import Estate, PeerNode
from compiler.model.peer import SitePeer
from compiler.model.types import IPNetwork
from compiler.render.context import InstanceView
from compiler.render.routeros import render_rsc
from compiler.routeros import (
    Command,
    RscSyntaxError,
    check_commands,
    command_tree,
    compact,
    tokenize,
)

CODE = "routeros-unsupported"


class Shape(NamedTuple):
    """What decides which commands and arguments a site script uses (not its values)."""

    version: str
    protocol: str
    transport: str | None  # OpenVPN over udp or tcp (`protocol=` of ovpn-client)
    address6: bool  # an `/ipv6 address` for the tunnel
    routes4: bool  # `/ip route` lines: some network of the instance is not the site's own
    routes6: bool  # `/ipv6 route` lines (WireGuard sites only)
    dns_forward: bool  # `/ip dns static` forwarders


def _counts(nets: Iterable[IPNetwork]) -> tuple[int, int]:
    """(IPv4, IPv6) networks among ``nets``."""
    v6 = 0
    total = 0
    for net in nets:
        total += 1
        v6 += net.version == 6
    return total - v6, v6


def shapes(estate: Estate) -> dict[tuple[str, str], Shape]:
    """The shape of every site's script, by (instance, peer): no script is rendered."""
    default = estate.org.defaults.routeros
    out: dict[tuple[str, str], Shape] = {}
    for inst in estate.instances.values():
        icfg = inst.config
        if icfg is None:
            continue
        sites = [(p, p.config) for p in inst.peers.values() if isinstance(p.config, SitePeer)]
        # Routes go to every network of the instance (the other protocol's tunnel too) but
        # the site's own tunnel, the IPv6 tunnel network and the site's own subnets.
        tunnels = (icfg.wireguard is not None) + (icfg.openvpn is not None) - 1
        all4, all6 = _counts([*icfg.routing.pushed_routes,
                              *(net for _p, cfg in sites for net in cfg.subnets)])
        transport = icfg.openvpn.transport if icfg.openvpn is not None else None
        dns = icfg.dns
        # Forwarders for the VPN's names, to the hub's resolver (with records) or a v4 server.
        resolver = bool(dns.records) or any(s.version == 4 for s in dns.servers)
        forward = resolver and bool(dns.domains or dns.records)
        for peer, cfg in sites:
            own4, own6 = _counts(cfg.subnets)
            wireguard = cfg.protocol == "wireguard"
            out[inst.name, peer.name] = Shape(
                cfg.routeros or default, cfg.protocol, None if wireguard else transport,
                wireguard and cfg.address6 is not None, tunnels + all4 > own4,
                wireguard and all6 > own6, forward)
    return out


def _report(estate: Estate, peer: PeerNode, cfg: SitePeer, message: str,
            diags: Diagnostics) -> None:
    """At the peer's ``routeros:`` line, or where the version it inherits is set."""
    if cfg.routeros is not None:
        peer.source.report(diags, CODE, message, ("routeros",))
        return
    org: SourceFile | None = estate.org_source
    pinned = org is not None and isinstance(org.data, dict) and isinstance(
        org.data.get("defaults"), dict) and "routeros" in org.data["defaults"]
    if org is not None:
        org.report(diags, CODE, message, ("defaults", "routeros") if pinned else ())
    else:
        peer.source.report(diags, CODE, message)


def _parsed(view: InstanceView, peer: PeerNode) -> list[Command] | None:
    """The script of ``peer`` (rendered redacted on ``view``), compacted and parsed.

    None when it does not parse: a script invalid on every version is a bug the tests catch.
    """
    (site,) = (p for p in view.peers if p.name == peer.name)
    try:
        return tokenize(compact(render_rsc(view, site)))
    except RscSyntaxError:
        return None


def _problems(commands: list[Command] | None, version: str) -> list[str]:
    """What ``version`` lacks of a script parsed by :func:`_parsed`."""
    out = []
    for problem in check_commands(commands or [], version):
        if problem.kind != "unsupported":
            continue  # a script invalid on every version is a bug the tests catch
        hint = f"; pin routeros: \"{problem.since}\" or later" if problem.since else ""
        out.append(f"{problem.message}, which the site script needs{hint}")
    return out


def check_routeros(estate: Estate, diags: Diagnostics) -> None:
    """Report ``routeros-unsupported`` for every site whose version cannot run its script."""
    data = command_tree()
    oldest = data.minor(0)
    groups: dict[Shape, list[PeerNode]] = {}
    for (inst, name), shape in shapes(estate).items():
        groups.setdefault(shape, []).append(estate.instances[inst].peers[name])
    renderable = diags.errors == 0
    # A script's commands do not depend on the version it is pinned to (only its header
    # names it; tests/test_routeros_support.py holds every shape to that), so one script
    # per shape but the version is rendered and parsed, and checked against each version:
    # parsing is most of the cost, and an instance's sites are pinned to several versions.
    # Any site will do: the one of the smallest instance renders fastest.
    sizes = {name: len(inst.peers) for name, inst in estate.instances.items()}
    models: dict[Shape, PeerNode] = {}
    for key, members in groups.items():
        first = min(members, key=lambda p: sizes[p.instance])
        base = key._replace(version="")
        if base not in models or sizes[first.instance] < sizes[models[base].instance]:
            models[base] = first
    parsed: dict[Shape, list[Command] | None] = {}
    # One redacted view per instance, shared by its shapes: what a view works out once (the
    # policy, the route lines every site script shares) is not worked out again per shape.
    views: dict[str, InstanceView] = {}
    ring = KeyRing(None)
    for key, members in groups.items():
        if data.index(key.version) is None:  # the model refuses newer ones: this is older
            messages = [f"RouterOS {key.version} is older than {oldest}, the oldest version "
                        f"mvpn knows the commands of; pin routeros: \"{oldest}\" or later"]
        elif renderable:
            base = key._replace(version="")
            if base not in parsed:
                model = models[base]
                view = views.get(model.instance)
                if view is None:
                    view = views[model.instance] = InstanceView(
                        estate.instances[model.instance], estate.org, ring)
                parsed[base] = _parsed(view, model)
            messages = _problems(parsed[base], key.version)
        else:
            continue
        for message in messages:
            for peer in members:
                assert isinstance(peer.config, SitePeer)
                _report(estate, peer, peer.config, message, diags)


__all__ = ["CODE", "Shape", "check_routeros", "shapes"]
