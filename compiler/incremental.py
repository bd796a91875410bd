"""Incremental check for ``mvpn compile``: parse and check only the instances that changed.

Every check but two looks at one instance (with ``vpn.yaml``): schema, addresses, routes
within the instance, secrets in its files. The two that look across instances need little:
hostnames (``hostname-duplicate``) and site subnets (``route-cross-instance``). So for each
instance the cache keeps, next to its input key, a summary of exactly that, and a compile:

1. reads every file (no parsing) and computes each instance's input key,
2. parses and checks, as a sub-tree, only the instances whose key changed (plus the root),
3. runs the two cross-instance checks over all summaries.

This fast path only ever says "clean": at the first diagnostic of any kind it gives up and
the compile runs the full check, so diagnostics are always those of ``mvpn check``.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections import Counter
from pathlib import Path
from typing import Any

from compiler.build.cache import BuildState
from compiler.checks import run_checks
from compiler.checks.overlap import overlapping_spans
from compiler.diagnostics import Diagnostics
from compiler.loader.source import SourceFile
from compiler.loader.walk import RawTree, parse_source, walk
from compiler.model.estate import Estate, InstanceNode, build_estate
from compiler.model.peer import SitePeer


@dataclasses.dataclass
class Incremental:
    """A clean tree, checked incrementally: the changed part, and what may be reused."""

    estate: Estate  # the root files and the changed instances only
    keys: dict[str, str]  # input key of every instance
    reuse: set[str]  # unchanged instances whose build can be kept
    summaries: dict[str, dict[str, Any]]  # of every instance


def _text(source: SourceFile | None) -> str:
    return "\0absent" if source is None else source.text


def instance_keys(raw: RawTree, context: str) -> dict[str, str]:
    """The input key of each instance: everything its checks and artifacts depend on."""
    common = hashlib.sha256(f"{context}\0{_text(raw.vpn)}\0".encode())
    keys = {}
    for name, inst in raw.instances.items():
        digest = common.copy()
        digest.update(f"{name}\0{inst.name_ok}\0{_text(inst.source)}\0".encode())
        for peer, source in inst.peers.items():
            digest.update(f"{peer}\0{len(source.text)}\0{source.text}".encode())
        keys[name] = digest.hexdigest()
    return keys


def summary(inst: InstanceNode) -> dict[str, Any]:
    """What the cross-instance checks need of one (clean) instance."""
    assert inst.config is not None
    spans = []
    for peer in inst.peers.values():
        if isinstance(peer.config, SitePeer):
            for net in peer.config.subnets:
                spans.append([net.version, int(net.network_address),
                              int(net.broadcast_address), peer.config.site])
    return {"hostname": inst.config.hostname.lower(), "spans": spans}


def _cross_instance_clean(summaries: dict[str, dict[str, Any]]) -> bool:
    """No duplicate hostname and no site subnet overlapping another instance's site."""
    hosts = Counter(s["hostname"] for s in summaries.values())
    if any(n > 1 for n in hosts.values()):
        return False
    spans = [(v, first, last, site, name) for name, s in summaries.items()
             for v, first, last, site in s["spans"]]
    return not any(
        spans[a][4] != spans[b][4] and spans[a][3] != spans[b][3]
        for a, b in overlapping_spans([(v, first, last) for v, first, last, _s, _n in spans])
    )


def check_incrementally(root: Path, context: str, previous: BuildState) -> Incremental | None:
    """Check ``root`` reusing ``previous``; None when anything needs the full check."""
    diags = Diagnostics()
    raw = walk(root, diags, parse=False)
    # tests.yaml (reachability, SPEC §8) looks across instances: always check in full.
    if diags.sorted() or raw.tests is not None:
        return None
    keys = instance_keys(raw, context)
    reuse = {
        name for name, key in keys.items()
        if (old := previous.instances.get(name)) is not None and old.key == key
        and old.summary is not None
    }
    sub = dataclasses.replace(raw, instances={
        name: inst for name, inst in raw.instances.items() if name not in reuse
    })
    for source in sub.sources():
        parse_source(source, diags)
    estate = build_estate(sub, diags)
    run_checks(estate, diags)
    if diags.sorted():
        return None
    summaries = {name: previous.instances[name].summary or {} for name in reuse}
    summaries.update((name, summary(inst)) for name, inst in estate.instances.items())
    if not _cross_instance_clean(summaries):
        return None
    return Incremental(estate, keys, reuse, summaries)
