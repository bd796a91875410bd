"""The semantic and artifact difference between two checked, compiled trees.

Semantic: instances and peers (every field, as the models read it, so formatting and
comments never show), advertised and pushed routes, tunnel addresses, DNS. Artifacts:
the per-artifact content versions of the two builds; from them, which routers must
re-run their script (their ``.rsc`` changed), which users need a new profile and which
hubs must be redeployed. Only paths and versions are compared and kept, never contents,
so a plan of derived builds cannot leak a key.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from compiler.engine.assemble import Build
from compiler.model.estate import Estate, InstanceNode, PeerNode
from compiler.model.peer import ClientPeer, SitePeer

ADDED, REMOVED, CHANGED = "added", "removed", "changed"


@dataclasses.dataclass(frozen=True)
class FieldChange:
    """One field of an instance or peer: dotted path, old and new value (JSON-like)."""

    field: str
    old: Any
    new: Any


@dataclasses.dataclass(frozen=True)
class Change:
    """An instance or peer added, removed or changed; ``file`` relative to the repository."""

    kind: str
    key: str
    file: str
    summary: str
    fields: list[FieldChange] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(frozen=True)
class ItemChange:
    """One route, address or DNS entry added or removed (``owner`` says whose)."""

    kind: str
    instance: str
    item: str
    owner: str


@dataclasses.dataclass(frozen=True)
class ArtifactChange:
    """One artifact of the build: ``instance/path``, and its versions before and after."""

    kind: str
    instance: str
    path: str
    old: str | None
    new: str | None


@dataclasses.dataclass(frozen=True)
class Action:
    """Something an operator must do: re-run a router script, hand out a profile, redeploy."""

    kind: str  # added | changed | removed
    key: str  # instance/peer or instance
    who: str  # site id, user or hostname
    artifacts: list[str]


@dataclasses.dataclass(frozen=True)
class RotationGroup:
    """Peers a hub key rotation step concerns, and what they must do (``title``)."""

    title: str
    peers: list[Action]


@dataclasses.dataclass(frozen=True)
class Rotation:
    """A hub key rotation this change takes (``key_epoch``/``retiring_key_epoch``)."""

    instance: str
    title: str
    groups: list[RotationGroup]


@dataclasses.dataclass
class PlanDiff:
    """Everything ``mvpn plan`` reports."""

    base: str
    head: str
    root: str
    secrets: str
    instances: list[Change]
    peers: list[Change]
    routes: list[ItemChange]
    addresses: list[ItemChange]
    dns: list[ItemChange]
    artifacts: list[ArtifactChange]
    hubs: list[Action]
    routers: list[Action]  # added or changed .rsc: run the script on the router
    profiles: list[Action]  # added or changed client profile: hand it to the user
    retired: list[Action]  # removed routers and profiles: unconfigure, delete the profile
    rotations: list[Rotation] = dataclasses.field(default_factory=list)

    @property
    def empty(self) -> bool:
        """Nothing differs, semantically or in any artifact."""
        return not (self.instances or self.peers or self.routes or self.addresses
                    or self.dns or self.artifacts)


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` → ``{"a.b": 1}``; lists stay whole values."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for key, sub in value.items():
            out.update(flatten(sub, f"{prefix}{key}."))
        return out
    return {prefix[:-1]: value}


def _fields(old: Any, new: Any) -> list[FieldChange]:
    a = flatten(old.model_dump(mode="json"))
    b = flatten(new.model_dump(mode="json"))
    return [FieldChange(k, a.get(k), b.get(k)) for k in sorted(a.keys() | b.keys())
            if a.get(k) != b.get(k)]


def _peer_summary(peer: PeerNode) -> str:
    cfg = peer.config
    who = f"site {cfg.site}" if isinstance(cfg, SitePeer) else f"client {cfg.user}"
    mode = ", route-all" if isinstance(cfg, ClientPeer) and cfg.route_all else ""
    return f"{who}, {cfg.protocol}{mode}"


def _diff_keyed(old: dict[str, Any], new: dict[str, Any], file: Any, summary: Any,
                config: Any) -> list[Change]:
    out: list[Change] = []
    for key in sorted(old.keys() | new.keys()):
        a, b = old.get(key), new.get(key)
        if a is None:
            out.append(Change(ADDED, key, file(b), summary(b)))
        elif b is None:
            out.append(Change(REMOVED, key, file(a), summary(a)))
        else:
            fields = _fields(config(a), config(b))
            if fields:
                out.append(Change(CHANGED, key, file(b), summary(b), fields))
    return out


def _set_diff(old: set[tuple[str, str, str]], new: set[tuple[str, str, str]]) -> list[ItemChange]:
    out = [ItemChange(REMOVED, *t) for t in old - new] + [ItemChange(ADDED, *t) for t in new - old]
    return sorted(out, key=lambda c: (c.instance, c.item, c.owner, c.kind))


def _routes(estate: Estate) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for name, inst in estate.instances.items():
        if inst.config is not None:
            out.update((name, str(p), "pushed") for p in inst.config.routing.pushed_routes)
        for peer in inst.peers.values():
            if isinstance(peer.config, SitePeer):
                out.update((name, str(p), peer.name) for p in peer.config.subnets)
    return out


def _addresses(estate: Estate) -> set[tuple[str, str, str]]:
    return {(name, str(addr), peer.name)
            for name, inst in estate.instances.items() for peer in inst.peers.values()
            for addr in (peer.config.address, peer.config.address6) if addr is not None}


def _dns(estate: Estate) -> set[tuple[str, str, str]]:
    out: set[tuple[str, str, str]] = set()
    for name, inst in estate.instances.items():
        if inst.config is not None:
            out.update((name, str(s), "server") for s in inst.config.dns.servers)
            out.update((name, str(d), "domain") for d in inst.config.dns.domains)
    return out


def _artifacts(old: Build, new: Build) -> list[ArtifactChange]:
    def versions(build: Build) -> dict[tuple[str, str], str]:
        return {(inst, path): art["version"]
                for inst, doc in build.manifest["instances"].items()
                for path, art in doc["artifacts"].items()}

    a, b = versions(old), versions(new)
    out: list[ArtifactChange] = []
    for key in sorted(a.keys() | b.keys()):
        va, vb = a.get(key), b.get(key)
        if va != vb:
            kind = ADDED if va is None else REMOVED if vb is None else CHANGED
            out.append(ArtifactChange(kind, *key, va, vb))
    return out


def _actions(arts: Iterable[ArtifactChange], folder: str, suffixes: tuple[str, ...],
             who: dict[str, str]) -> list[Action]:
    """Group the changed artifacts under ``folder`` per peer (one action per peer)."""
    grouped: dict[str, list[ArtifactChange]] = {}
    for art in arts:
        head, _, name = art.path.partition("/")
        if head == folder and name.endswith(suffixes):
            peer = name.rsplit(".", 1)[0]
            grouped.setdefault(f"{art.instance}/{peer}", []).append(art)
    out = []
    for key, changes in sorted(grouped.items()):
        kinds = {c.kind for c in changes}
        kind = next(iter(kinds)) if len(kinds) == 1 else CHANGED
        out.append(Action(kind, key, who.get(key, ""), [c.path for c in changes]))
    return out


def _who(*estates: Estate) -> dict[str, str]:
    out: dict[str, str] = {}
    for estate in estates:
        for inst in estate.instances.values():
            for peer in inst.peers.values():
                cfg = peer.config
                out[peer.key] = cfg.site if isinstance(cfg, SitePeer) else cfg.user
    return out


def _hubs(old: Build, new: Build, head: Estate, base: Estate) -> list[Action]:
    a, b = old.manifest["instances"], new.manifest["instances"]
    out = []
    for name in sorted(a.keys() | b.keys()):
        va = a.get(name, {}).get("hub_version")
        vb = b.get(name, {}).get("hub_version")
        if va != vb:
            kind = ADDED if va is None else REMOVED if vb is None else CHANGED
            inst = head.instances.get(name) or base.instances[name]
            host = inst.config.hostname if inst.config is not None else name
            out.append(Action(kind, name, host, ["hub/"]))
    return out


def _peer_actions(inst: InstanceNode, protocol: str) -> list[Action]:
    """The peers of ``protocol`` on ``inst``, each with the artifact it runs."""
    out = []
    for peer in sorted(inst.peers.values(), key=lambda p: p.name):
        cfg = peer.config
        if cfg.protocol != protocol:
            continue
        if isinstance(cfg, SitePeer):
            who, path = cfg.site, f"sites/{peer.name}.rsc"
        else:
            suffix = ".ovpn" if protocol == "openvpn" else ".conf"
            who, path = cfg.user, f"clients/{peer.name}{suffix}"
        out.append(Action(CHANGED, peer.key, who, [path]))
    return out


def _moved(inst: InstanceNode | None) -> frozenset[str]:
    """WireGuard peers on wg1 (step 1 with ``next_port``, ``hub_key_epoch: key_epoch``)."""
    cfg = inst.config if inst is not None else None
    if inst is None or cfg is None or cfg.moving_port is None:
        return frozenset()
    return frozenset(p.name for p in inst.peers.values() if p.config.protocol == "wireguard"
                     and p.config.hub_key_epoch == cfg.key_epoch)


def _rotations(base: Estate, head: Estate) -> list[Rotation]:
    """The hub key rotation steps taken from ``base`` to ``head``, with who must act when.

    The plan cannot know which peers already re-imported; it names every peer a step
    concerns (step 1: the OpenVPN peers to move before step 2, and the WireGuard peers not
    yet moved to wg1 when ``next_port`` is set; step 2: the WireGuard peers left on wg0).
    """
    out: list[Rotation] = []
    for name, inst in sorted(head.instances.items()):
        cfg = inst.config
        before = base.instances.get(name)
        old = before.config if before is not None else None
        if cfg is None or old is None:
            continue
        moved_before, moved = _moved(before), _moved(inst)
        was = (old.key_epoch, old.retiring_key_epoch, old.moving_port, moved_before)
        now = (cfg.key_epoch, cfg.retiring_key_epoch, cfg.moving_port, moved)
        if was == now:
            continue
        ovpn, wg = _peer_actions(inst, "openvpn"), _peer_actions(inst, "wireguard")
        if cfg.retiring_key_epoch is not None:
            title = (f"step 1 of 2: key_epoch {cfg.retiring_key_epoch} -> {cfg.key_epoch}; "
                     "the hub trusts both CAs and keeps its keys")
            groups = [RotationGroup("re-import before step 2 (OpenVPN: refused after it on "
                                    "an older profile)", ovpn)]
            if cfg.moving_port is None:
                groups.append(RotationGroup("unchanged until step 2, then a new profile "
                                            "(WireGuard: the hub's key changes only there)", wg))
            else:
                title += f"; WireGuard peers move to wg1 (port {cfg.moving_port}) one by one"
                key = inst.name + "/"
                groups += [
                    RotationGroup("moved to the new hub key now: hand out the new profile "
                                  "(WireGuard, wg1)",
                                  [a for a in wg if a.key.removeprefix(key) in
                                   moved - moved_before]),
                    RotationGroup(f"not moved yet: set hub_key_epoch: {cfg.key_epoch} and hand "
                                  "out the new profile before step 2, which cuts them off "
                                  "(WireGuard)",
                                  [a for a in wg if a.key.removeprefix(key) not in moved])]
        elif old.retiring_key_epoch is not None and cfg.key_epoch == old.key_epoch:
            title = (f"step 2 of 2: epoch {old.retiring_key_epoch} retired, the hub switches "
                     f"to key_epoch {cfg.key_epoch}")
            key = inst.name + "/"
            groups = [RotationGroup("refused from now on unless re-imported during step 1 "
                                    "(OpenVPN)", ovpn),
                      RotationGroup("need their new profile now (WireGuard)",
                                    [a for a in wg if a.key.removeprefix(key) not in
                                     moved_before])]
            port = cfg.wireguard.port if cfg.wireguard is not None else None
            if moved_before and port != old.moving_port:
                groups.append(RotationGroup(
                    f"warning: wireguard.port is not step 1's next_port {old.moving_port}: "
                    "these peers moved to wg1 get a changed profile and must re-import "
                    "(set wireguard.port to it)",
                    [a for a in wg if a.key.removeprefix(key) in moved_before]))
        elif cfg.key_epoch != old.key_epoch:
            title = (f"in one step: key_epoch {old.key_epoch} -> {cfg.key_epoch} cuts every "
                     "peer off until it re-imports (retiring_key_epoch rotates in two steps)")
            groups = [RotationGroup("need their new profile now (OpenVPN)", ovpn),
                      RotationGroup("need their new profile now (WireGuard)", wg)]
        else:  # the overlap ended while key_epoch changed: caught above; or next_port left
            continue  # without step 1 (a check error, nothing to plan)
        out.append(Rotation(name, title, [g for g in groups if g.peers]))
    return out


def compare(base: Estate, head: Estate, old: Build, new: Build, *, labels: tuple[str, str],
         root: str) -> PlanDiff:
    """Compare two checked trees and their builds; ``root`` prefixes file paths."""
    def file_of(node: Any) -> str:
        source = node.source
        if source is None:  # an instance folder without instance.yaml
            return f"{root}/{node.name}"
        tree = base.root if source.path.is_relative_to(base.root) else head.root
        rel = source.path.relative_to(tree).as_posix()
        return rel if root == "." else f"{root}/{rel}"

    def inst_summary(inst: Any) -> str:
        cfg = inst.config
        return f"{cfg.hostname} ({cfg.region})" if cfg is not None else inst.name

    instances = _diff_keyed(base.instances, head.instances, file_of, inst_summary,
                            lambda i: i.config)
    peers_old = {p.key: p for i in base.instances.values() for p in i.peers.values()}
    peers_new = {p.key: p for i in head.instances.values() for p in i.peers.values()}
    peers = _diff_keyed(peers_old, peers_new, file_of, _peer_summary, lambda p: p.config)
    arts = _artifacts(old, new)
    who = _who(base, head)
    routers = _actions(arts, "sites", (".rsc",), who)
    profiles = _actions(arts, "clients", (".conf", ".ovpn"), who)
    return PlanDiff(
        base=labels[0], head=labels[1], root=root, secrets=new.manifest["secrets"],
        instances=instances, peers=peers,
        routes=_set_diff(_routes(base), _routes(head)),
        addresses=_set_diff(_addresses(base), _addresses(head)),
        dns=_set_diff(_dns(base), _dns(head)),
        artifacts=arts,
        hubs=_hubs(old, new, head, base),
        routers=[a for a in routers if a.kind != REMOVED],
        profiles=[a for a in profiles if a.kind != REMOVED],
        retired=sorted((a for a in routers + profiles if a.kind == REMOVED),
                       key=lambda a: a.key),
        rotations=_rotations(base, head),
    )
