"""A compile from nothing, read, checked and rendered in parallel: each worker owns some instances.

Without a verified build to reuse, a compile used to read, parse and check the whole tree in
one process and fork its renderers only then: at 100k peers a core sat idle for the whole
check (about 8 s). Here this process reads only the top of the tree (``vpn.yaml``,
``tests.yaml``, the list of instance folders); each of a few forked workers then reads,
parses, checks and renders its own group of instances, so an instance's files and model live
only in the process that renders it. Nothing is pickled but diagnostics, summaries, keys and
build states (and the text of the few files a diagnostic quotes).

Checking a group alone gives, for its instances, exactly the diagnostics a whole check gives,
for the reasons an incremental compile relies on (:mod:`compiler.incremental`): every check
but the cross-instance ones looks at one instance (with ``vpn.yaml``), a ``tests.yaml``
assertion's verdict reads only the instance it starts from, and the cross-instance checks
run here, over every group's summaries. Where that cannot be promised (an error anywhere, a
diagnostic outside one instance's folder, a cross-instance finding, an assertion from no
instance of the tree) the workers are stopped before they render anything and the caller
checks the whole tree in this process, as before.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import multiprocessing
import os
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from compiler.checks import cross, run_checks
from compiler.diagnostics import Diagnostic, Diagnostics, Severity
from compiler.engine.cache import InstanceState
from compiler.engine.engine import PARALLEL_MIN_PEERS, render_group, worker_count
from compiler.incremental import (
    Memo,
    assertion_keys,
    decode,
    encode,
    instance_keys,
    instance_of,
    own_diagnostics,
    valid_tests,
)
from compiler.keys import KeyRing
from compiler.loader.source import OtherFile, SourceFile
from compiler.loader.status import stat_keys
from compiler.loader.walk import RawTree, parse_source, walk
from compiler.model.estate import build_estate
from compiler.render import instance_views
from compiler.render.support import check_routeros


@dataclasses.dataclass
class _Checked:
    """What a worker found in its group: sent to the parent before anything is rendered."""

    walked: list[list[Any]]  # the walk's diagnostics in the group's folders (encoded)
    own: dict[str, list[list[Any]]]  # each instance's diagnostics (encoded, see incremental)
    clean: bool  # no error, and every diagnostic belongs to one instance of the group
    summaries: dict[str, dict[str, Any]]
    keys: dict[str, str]  # input keys (with a cache)
    folders: dict[str, str | None]  # stat keys, taken before the group was read (cache)
    quoted: list[SourceFile]  # the files a diagnostic points into (their lines are quoted)


def groups(sizes: dict[str, int], count: int) -> list[list[str]]:
    """``count`` groups of instance names with about the same number of peers each.

    Largest first onto the lightest group; each group in name order (the build's order).
    """
    loads = [0] * count
    found: list[list[str]] = [[] for _ in range(count)]
    for name in sorted(sizes, key=lambda n: (-sizes[n], n)):
        least = loads.index(min(loads))
        found[least].append(name)
        loads[least] += sizes[name]
    return [sorted(group) for group in found if group]


def _in_group(path: Path, root: Path, group: set[str]) -> bool:
    """Whether ``path`` is one of the group's instance folders or lies in one."""
    parts = path.relative_to(root).parts if path.is_relative_to(root) else ()
    return bool(parts) and parts[0] in group


def _read(top: RawTree, group: list[str], first: bool, context: str | None
          ) -> tuple[RawTree, list[Diagnostic], dict[str, str | None]]:
    """Read the group's instance folders (stat keys first, as a compile takes them).

    The top of the tree is the parent's (``vpn.yaml`` and ``tests.yaml`` parsed there); files
    outside every instance folder (scanned for secrets) go to the first group only, so that
    nothing is reported twice.
    """
    root, members = top.root, set(group)
    folders = stat_keys(root, members) if context is not None else {}
    diags = Diagnostics()
    read = walk(root, diags, parse=False, skip=frozenset(top.instances) - members)
    others = [o for o in read.others if _in_group(o.path, root, members)]
    if first:
        others += top.others
    raw = dataclasses.replace(read, vpn=top.vpn, tests=top.tests,
                              instances={n: read.instances[n] for n in group}, others=others)
    # The walk said the same as the parent's about the top of the tree: only ours are kept.
    return raw, [d for d in diags if _in_group(d.file, root, members)], folders


def _check(top: RawTree, group: list[str], first: bool, context: str | None
           ) -> tuple[_Checked, Any]:
    """Read, parse and check one group (in its worker); the estate stays for rendering."""
    raw, walked, folders = _read(top, group, first, context)
    root = raw.root
    diags = Diagnostics()
    for inst in raw.instances.values():
        for source in [inst.source, *inst.peers.values()]:
            if source is not None:
                parse_source(source, diags)
    estate = build_estate(raw, diags)
    members = set(group)
    # The assertions that start in this group; the others are another worker's.
    estate.tests = [(i, test) for i, test in estate.tests if test.from_[0] in members]
    run_checks(estate, diags)
    check_routeros(estate, diags)
    own, stray = own_diagnostics(diags, root, group)
    errors = diags.errors + sum(d.severity is Severity.ERROR for d in walked)
    pointed = {d.file for d in walked} | {d.file for d in diags}
    quoted = [s for s in raw.sources() + raw.others if s.path in pointed
              and _in_group(s.path, root, members)]
    checked = _Checked(
        [encode(d, root) for d in walked], own, not stray and errors == 0,
        {name: cross.summary(inst) for name, inst in estate.instances.items()},
        instance_keys(raw, context) if context is not None else {}, folders,
        [s if isinstance(s, OtherFile) else SourceFile(s.path, s.text, ok=False)
         for s in quoted])
    return checked, estate


def _worker(conn: Connection, top: RawTree, group: list[str], first: bool,
            how: tuple[KeyRing, bool, Path, str | None]) -> None:
    """A forked worker: check the group, then render it (``how``: keys, QR, output) on order."""
    ring, qr, out, context = how
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        gc.disable()  # the check allocates millions of objects that all live on
        checked, estate = _check(top, group, first, context)
        conn.send(("checked", checked))
        order = conn.recv()
        if order is None:
            return
        stage, old = order
        views = instance_views(estate, ring)
        # Frozen, the estate is never scanned again by the collector while rendering.
        gc.freeze()
        gc.enable()
        for state in render_group(views, qr, stage, out, old):
            conn.send(("state", state))
        conn.send(("done", None))
    except BaseException as exc:  # the parent raises it (an internal error)
        try:
            conn.send(("failed", exc))
        except Exception:  # an exception that does not pickle
            conn.send(("failed", RuntimeError(f"{type(exc).__name__}: {exc}")))
    finally:
        conn.close()


class Split:
    """Workers that checked a tree's groups of instances, waiting to render them."""

    def __init__(self, raw: RawTree, walked: Diagnostics, sizes: dict[str, int],
                 procs: list[tuple[Any, Connection, list[str]]]) -> None:
        self.raw, self.sizes, self.procs = raw, sizes, procs
        self.walked = list(walked)  # the walk's diagnostics, the top's then the groups'
        self.own: dict[str, list[list[Any]]] = {}
        self.summaries: dict[str, dict[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.folders: dict[str, str | None] = {}
        self.waiting = False  # every worker checked its group and waits for an order
        self.rendered = False  # every worker rendered its group

    def collect(self) -> bool:
        """Wait for every group's check; whether the groups' diagnostics are the tree's."""
        clean = True
        for _proc, conn, _group in self.procs:
            checked = self._receive(conn)
            assert isinstance(checked, _Checked)
            clean = clean and checked.clean
            self.walked.extend(decode(item, self.raw.root) for item in checked.walked)
            self.own.update(checked.own)
            self.summaries.update(checked.summaries)
            self.keys.update(checked.keys)
            self.folders.update(checked.folders)
            self._quote(checked.quoted)
        self.waiting = True
        return clean and cross.clean(self.summaries)

    def _quote(self, files: list[SourceFile]) -> None:
        """Put the files diagnostics point into where the report looks for their lines."""
        for source in files:
            if isinstance(source, OtherFile):  # outside the layout: it reads itself to quote
                self.raw.others.append(source)
                continue
            inst = self.raw.instances[source.path.relative_to(self.raw.root).parts[0]]
            if source.path.parent == inst.dir:
                inst.source = source
            else:
                inst.peers[source.path.stem] = source

    def diagnostics(self) -> Diagnostics:
        """The walks' diagnostics and every group's: those of a check of the whole tree."""
        diags = Diagnostics()
        diags.extend(self.walked)
        for items in self.own.values():
            diags.extend(decode(item, self.raw.root) for item in items)
        return diags

    def memo(self, keys: dict[str, str]) -> Memo:
        """What the next compile may reuse of this check (see :func:`memo_of_check`)."""
        root, names = self.raw.root, self.raw.instances
        walk_owners = {owner for d in self.walked
                       if (owner := instance_of(d, root, names)) is not None}
        return Memo(dict(self.summaries), dict(self.own), walk_owners,
                    assertion_keys(valid_tests(self.raw), keys), True)

    def render(self, stage: Path, old: set[str]) -> Iterator[InstanceState]:
        """Let every worker render its group into ``stage``; their states in name order."""
        for _proc, conn, _group in self.procs:
            conn.send((stage, old))
        self.waiting = False
        ready: dict[str, InstanceState] = {}
        running = {conn for _proc, conn, _group in self.procs}
        for name in sorted(self.sizes):
            while name not in ready:
                if not running:
                    raise RuntimeError(f"no compile worker rendered instance {name}")
                for found in wait(list(running)):
                    assert isinstance(found, Connection)
                    state = self._receive(found)
                    if state is None:
                        running.discard(found)
                    else:
                        assert isinstance(state, InstanceState)
                        ready[state.name] = state
            yield ready.pop(name)
        self.rendered = True
        self.stop()

    def _receive(self, conn: Connection) -> object:
        try:
            kind, value = conn.recv()
        except EOFError:
            raise RuntimeError("a compile worker stopped unexpectedly") from None
        if kind == "failed":
            assert isinstance(value, BaseException)
            raise value
        return value

    def stop(self) -> None:
        """Let waiting or finished workers quit; stop busy ones (a failure, Ctrl-C)."""
        for proc, conn, _group in self.procs:
            if self.waiting:
                with contextlib.suppress(OSError):
                    conn.send(None)
            elif not self.rendered:
                proc.terminate()
            proc.join()
            conn.close()
        self.procs = []


def _peer_count(folder: Path) -> int:
    """About how many peers an instance has (its ``peers/`` entries), to balance the groups."""
    try:
        return len(os.listdir(folder / "peers"))
    except OSError:
        return 0


def start(root: Path, ring: KeyRing, qr: bool, out: Path, context: str | None) -> Split | None:
    """Read the top of ``root`` and fork workers that read and check it group by group.

    ``context`` is the cache's (None without a cache: no input or stat keys are taken).
    Returns None when it is not split: too small a tree or no second core, an error found
    by the walk of the top, no instance, a diagnostic in ``vpn.yaml`` or ``tests.yaml``, an
    assertion from no instance of the tree. The caller then checks the whole tree itself.
    """
    if worker_count(PARALLEL_MIN_PEERS) < 2:
        return None  # one core, MVPN_JOBS=1 or no fork: nothing to split
    walked = Diagnostics()
    try:
        names = frozenset(os.listdir(root))
    except OSError:
        return None  # the whole check says why
    top = walk(root, walked, parse=False, skip=names)  # instance folders listed, not read
    if walked.errors or not top.instances:
        return None
    sizes = {name: _peer_count(inst.dir) for name, inst in top.instances.items()}
    count = min(worker_count(sum(sizes.values())), len(sizes))
    if count < 2:
        return None  # a small tree: read again, it costs little
    head = Diagnostics()
    for source in (top.vpn, top.tests):
        if source is not None:
            parse_source(source, head)  # parsed once, here: the workers inherit it
    if len(head) or any(test.from_[0] not in top.instances for _i, test in valid_tests(top)):
        return None
    forking = multiprocessing.get_context("fork")
    procs: list[tuple[Any, Connection, list[str]]] = []
    # Ctrl-C reaches the whole process group: SIGINT stays blocked from before each fork
    # until the worker ignores it; the parent alone handles it.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for index, group in enumerate(groups(sizes, count)):
            mine, theirs = forking.Pipe()
            proc = forking.Process(target=_worker, daemon=True, args=(
                theirs, top, group, index == 0, (ring, qr, out.absolute(), context)))
            proc.start()
            theirs.close()
            procs.append((proc, mine, group))
    except BaseException:
        Split(top, walked, sizes, procs).stop()
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return Split(top, walked, sizes, procs)


__all__ = ["Split", "groups", "start"]
