"""Incremental check for ``mvpn compile``: parse and check only the instances that changed.

Every check but a few looks at one instance (with ``vpn.yaml``): schema, addresses, routes
within the instance, secrets in its files. Those that look across instances are registered
in :mod:`compiler.checks.cross` and need little (hostnames, site subnets). So for each
instance the cache keeps, next to its input key, a summary of exactly that, and a compile:

1. reads every file (no parsing) and computes each instance's input key,
2. parses and checks, as a sub-tree, only the instances whose key changed (plus the root),
3. runs the cross-instance checks over all summaries.

This fast path only ever says "clean": at the first diagnostic of any kind it gives up and
the compile runs the full check, so diagnostics are always those of ``mvpn check``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import stat
import time
from pathlib import Path
from typing import Any

from compiler.checks import cross, run_checks
from compiler.diagnostics import Diagnostics
from compiler.engine.cache import BuildState
from compiler.loader.source import SourceFile
from compiler.loader.walk import RawTree, parse_source, walk
from compiler.model.estate import Estate, build_estate
from compiler.render.support import check_routeros


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


#: A file changed this recently may change again within one timestamp tick unnoticed.
_RACY_NS = 2_000_000_000


def stat_keys(root: Path) -> dict[str, str | None]:
    """Per instance folder, a digest of the status of everything in it (None: read it).

    Taken *before* the files are read, and recorded with the instance's input key: when a
    later compile finds the same stat key, nothing in the folder was written, renamed or
    replaced since (inode, size, mtime and ctime, which no one can set back, all agree), so
    the recorded input key still holds and the folder is not read at all. Folders with
    anything but files and ``peers/``, or touched in the last two seconds, get None.
    """
    keys: dict[str, str | None] = {}
    now = time.time_ns()
    with os.scandir(root) as entries:
        items = sorted(entries, key=lambda e: e.name)
    # vpn.yaml is an input of every instance: its status is part of every key.
    common = hashlib.sha256()
    for item in items:
        if item.name in ("vpn.yaml", "vpn.yml"):
            st = item.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode) or max(st.st_mtime_ns, st.st_ctime_ns) > now - _RACY_NS:
                return {}
            common.update(f"{item.name}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}"
                          f"\0{st.st_ctime_ns}\n".encode())
    for folder in (e for e in items if e.is_dir(follow_symlinks=False)):
        digest = common.copy()
        todo, key = [(folder.path, "")], True
        while todo and key:
            path, prefix = todo.pop()
            with os.scandir(path) as listing:
                for item in sorted(listing, key=lambda e: e.name):
                    st = item.stat(follow_symlinks=False)
                    if stat.S_ISDIR(st.st_mode) and not prefix and item.name == "peers":
                        todo.append((item.path, "peers/"))
                    elif not stat.S_ISREG(st.st_mode) or max(
                        st.st_mtime_ns, st.st_ctime_ns
                    ) > now - _RACY_NS:
                        key = False
                        break
                    digest.update(f"{prefix}{item.name}\0{st.st_mode}\0{st.st_ino}\0{st.st_size}"
                                  f"\0{st.st_mtime_ns}\0{st.st_ctime_ns}\n".encode())
        keys[folder.name] = digest.hexdigest() if key else None
    return keys


def check_incrementally(
    root: Path, context: str, previous: BuildState, stats: dict[str, str | None]
) -> Incremental | None:
    """Check ``root`` reusing ``previous``; None when anything needs the full check.

    ``stats`` are this compile's :func:`stat_keys`: instances whose stat key is the one
    recorded are not even read.
    """
    diags = Diagnostics()
    unread = frozenset(
        name for name, key in stats.items()
        if key is not None and (old := previous.instances.get(name)) is not None
        and old.stat_key == key and old.summary is not None
    )
    raw = walk(root, diags, parse=False, skip=unread)
    # tests.yaml (reachability, SPEC §8) looks across instances: always check in full.
    if diags.sorted() or raw.tests is not None:
        return None
    read = dataclasses.replace(raw, instances={
        name: inst for name, inst in raw.instances.items() if name not in unread})
    keys = {**instance_keys(read, context),
            **{name: previous.instances[name].key for name in unread}}
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
    check_routeros(estate, diags)
    if diags.sorted():
        return None
    summaries = {name: previous.instances[name].summary or {} for name in reuse}
    fresh = {name: cross.summary(inst) for name, inst in estate.instances.items()}
    summaries.update(fresh)
    # The last compile found these summaries clean: when every re-checked instance kept its
    # summary (and no instance came or went), the cross-instance checks would say the same.
    same = summaries.keys() == previous.instances.keys() and all(
        previous.instances[name].summary == value for name, value in fresh.items())
    if not same and not cross.clean(summaries):
        return None
    return Incremental(estate, keys, reuse, summaries)
