"""``mvpn allocate``: give every peer without a tunnel address the lowest free one.

Pools are the instance networks the checks use (:func:`compiler.model.addressing.pool_of`):
the WireGuard network (and ``network6`` when the instance has one) for WireGuard peers,
the OpenVPN network for OpenVPN peers. Every address already written in a peer file of
the instance counts as taken, so an existing address never moves and no two peers share
one. Either every missing address is assigned, or (a pool is full) no file is touched.
"""

from __future__ import annotations

import codecs
import contextlib
import dataclasses
import ipaddress
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from compiler.allocate import subnets
from compiler.allocate.splice import SpliceError, insert_keys
from compiler.allocate.subnets import SubnetAssignment
from compiler.checks.graph import Graph, peers_of
from compiler.diagnostics import Diagnostics, EnvironmentFailureError
from compiler.model.addressing import assignable, pool_of
from compiler.model.estate import Estate, PeerNode
from compiler.model.instance import Instance
from compiler.model.types import IPAddress, IPNetwork

#: Keys after which a new ``address`` goes, as the documented peer files order them.
AFTER: dict[str, tuple[str, ...]] = {
    "address": ("type", "site", "user", "protocol", "subnets", "route_all"),
    "address6": ("address",),
}
_PROTO_NAME = {"wireguard": "WireGuard", "openvpn": "OpenVPN"}


@dataclasses.dataclass(frozen=True)
class Assignment:
    """One address given to one peer; ``line`` is where the key was written (1-based)."""

    peer: PeerNode
    field: str  # address | address6
    address: IPAddress
    line: int = 0


class _Pool:
    """The free addresses of one network, handed out lowest first."""

    def __init__(self, net: IPNetwork, taken: set[IPAddress]) -> None:
        self.net = net
        self.taken = taken
        self.candidates: Iterator[int] = iter(assignable(net))

    def take(self) -> IPAddress | None:
        for value in self.candidates:
            addr = ipaddress.ip_address(value)
            if addr not in self.taken:
                self.taken.add(addr)
                return addr
        return None


def _taken(peers: list[PeerNode]) -> set[IPAddress]:
    out: set[IPAddress] = set()
    for peer in peers:
        for addr in (peer.config.address, peer.config.address6):
            if addr is not None:
                out.add(addr)
    return out


def _instance_plan(name: str, cfg: Instance, peers: list[PeerNode],
                   diags: Diagnostics) -> list[Assignment]:
    taken = _taken(peers)  # one set per instance: v4 and v6 addresses never compare equal
    pools: dict[IPNetwork, _Pool] = {}
    out: list[Assignment] = []
    for peer in peers:
        proto = peer.config.protocol
        for field, v6 in (("address", False), ("address6", True)):
            if getattr(peer.config, field) is not None:
                continue
            net = pool_of(cfg, proto, v6=v6)
            if net is None:
                continue
            pool = pools.setdefault(net, _Pool(net, taken))
            addr = pool.take()
            if addr is None:
                family = "IPv6" if v6 else "IPv4"
                loc = ("protocol",) if "protocol" in peer.source.data else ("type",)
                peer.source.report(
                    diags, "pool-exhausted",
                    f"no free {family} address left for '{field}' in {net}, the "
                    f"{_PROTO_NAME[proto]} network of instance '{name}'; enlarge it in "
                    f"{name}/instance.yaml or remove peers that are gone",
                    loc,
                )
                continue
            out.append(Assignment(peer, field, addr))
    return out


def plan(estate: Estate, graph: Graph, diags: Diagnostics) -> list[Assignment]:
    """The addresses to assign, in instance and peer-file order; ``pool-exhausted`` if full."""
    out: list[Assignment] = []
    for name, inst in estate.instances.items():
        if inst.config is not None:
            out.extend(_instance_plan(name, inst.config, peers_of(graph, name), diags))
    return out


def _stage(path: Path, new: Path, text: str) -> None:
    """Write the new text of ``path`` into ``new`` (beside it), with the mode of ``path``."""
    mode = path.stat().st_mode & 0o7777
    if path.read_bytes().startswith(codecs.BOM_UTF8):
        text = "\ufeff" + text  # the loader strips a byte order mark; keep the file's
    with open(new, "x", encoding="utf-8", newline="") as handle:
        os.fchmod(handle.fileno(), mode)
        handle.write(text)


def _commit(edits: list[tuple[Path, str]]) -> None:
    """Replace every file or none: stage all, keep a hard link to each old file, then rename.

    Anything that would stop a rename (a read-only folder, an immutable file, a full disk)
    already stops the staging or the backup links, before any file changed; a rename that
    fails anyway puts back the files already replaced. Raises the first :class:`OSError`,
    named by the peer file (not by a temporary one).
    """
    tag = f"mvpn-allocate-{os.getpid()}-{secrets.token_hex(4)}"
    staged: list[tuple[Path, Path, Path]] = []  # (target, new text, old file)
    done: list[tuple[Path, Path]] = []
    current = Path()
    try:
        try:
            for current, text in edits:
                new = current.with_name(f".{current.name}.{tag}")
                backup = current.with_name(f".{current.name}.{tag}-old")
                staged.append((current, new, backup))  # before creating: always cleaned up
                _stage(current, new, text)
                os.link(current, backup)  # refused for an immutable file: before any change
            for current, new, backup in staged:
                os.replace(new, current)
                done.append((current, backup))
        except BaseException:
            for path, backup in reversed(done):
                os.replace(backup, path)  # the very same inode: contents, mode, owner
            raise
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(current)) from None
    finally:
        for _path, new, backup in staged:
            for leftover in (new, backup):
                # Not there (a read-only folder): nothing to remove, the first error stands.
                with contextlib.suppress(OSError):
                    leftover.unlink()


def apply(assignments: list[Assignment], diags: Diagnostics) -> list[Assignment]:
    """Write the assignments into their peer files; returns them with their lines.

    Every file is edited in memory first; if any edit fails (a diagnostic says why),
    nothing is written. Writing is all-or-nothing too (:func:`_commit`); a file that cannot
    be written is :class:`EnvironmentFailureError` (exit 2), with every file as it was.
    """
    by_peer: dict[str, list[Assignment]] = {}
    for a in assignments:
        by_peer.setdefault(a.peer.key, []).append(a)
    edits: list[tuple[Path, str]] = []
    done: list[Assignment] = []
    for group in by_peer.values():
        source = group[0].peer.source
        fields = [a.field for a in group]
        items = [(a.field, str(a.address)) for a in group]
        after = AFTER["address6"] if fields == ["address6"] else AFTER["address"]
        try:
            text, lines = insert_keys(source.text, items, after)
        except SpliceError as exc:
            source.report(diags, "schema",
                          f"cannot add {', '.join(fields)} to this file: {exc}; add by hand")
            continue
        # A peer file may be a symlink to a file elsewhere in the tree (the loader refuses
        # one that leaves it): edit the file it points to and keep the link, as an editor does.
        edits.append((Path(os.path.realpath(source.path)), text))
        done.extend(dataclasses.replace(a, line=line) for a, line in zip(group, lines,
                                                                          strict=True))
    if diags.errors:
        return []
    _write_all(edits)
    return done


def _write_all(edits: list[tuple[Path, str]]) -> None:
    """:func:`_commit`, with a failure as :class:`EnvironmentFailureError` (exit 2)."""
    try:
        _commit(edits)
    except OSError as exc:
        raise EnvironmentFailureError(
            f"cannot write a peer file: {exc.strerror or exc}; no file was changed",
            exc.filename,
        ) from None


def apply_subnets(wanted: list[SubnetAssignment],
                  diags: Diagnostics) -> tuple[list[SubnetAssignment], dict[Path, str]]:
    """Write the ``auto/N`` replacements; returns them with their lines, and the old texts.

    Nothing is written when any file cannot be edited. The old texts let the caller put
    every file back if the rest of the allocation fails.
    """
    by_file: dict[Path, list[SubnetAssignment]] = {}
    for a in wanted:
        by_file.setdefault(a.source.path, []).append(a)
    edits: list[tuple[Path, str]] = []
    done: list[SubnetAssignment] = []
    for group in by_file.values():
        source = group[0].source
        try:
            text, lines = subnets.splice(source, group)
        except SpliceError as exc:
            source.report(diags, "schema", f"cannot number the subnets of this file: {exc}; "
                          "write them by hand")
            continue
        edits.append((Path(os.path.realpath(source.path)), text))
        done.extend(dataclasses.replace(a, line=line) for a, line in zip(group, lines,
                                                                          strict=True))
    if diags.errors:
        return [], {}
    old = {Path(os.path.realpath(a.source.path)): a.source.text for a in wanted}
    _write_all(edits)
    return done, old


def restore(old: dict[Path, str]) -> None:
    """Put files back as they were before :func:`apply_subnets`."""
    _write_all(list(old.items()))
