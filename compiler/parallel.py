"""A compile from nothing, checked and rendered in parallel: each process owns a group of instances.

Without a verified build to reuse, a compile used to parse and check the whole tree in one
process and fork its renderers only then: at 100k peers a core sat idle for the whole check
(about 7 s). Here the tree is read once, unparsed; then each of a few forked workers parses,
checks and renders its own group of instances, so an instance's model lives only in the
process that renders it (nothing is pickled but diagnostics, summaries and build states).

Checking a group alone gives, for its instances, exactly the diagnostics a check of the whole
tree gives, for the reasons an incremental compile relies on (:mod:`compiler.incremental`):
every check but the cross-instance ones looks at one instance (with ``vpn.yaml``), a
``tests.yaml`` assertion's verdict reads only the instance it starts from, and the
cross-instance checks run here, over every group's summaries. Where that cannot be promised
(an error anywhere, a diagnostic outside one instance's folder, a cross-instance finding, an
assertion from no instance of the tree) the workers are stopped before they render anything
and the caller checks the whole tree in this process, from the files already read.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import multiprocessing
import signal
from collections.abc import Iterator
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from compiler.checks import cross, run_checks
from compiler.diagnostics import Diagnostics
from compiler.engine.cache import InstanceState
from compiler.engine.engine import PARALLEL_MIN_PEERS, render_group, worker_count
from compiler.incremental import Memo, _assertion_keys, _decode, _own, _owner, _tests
from compiler.keys import KeyRing
from compiler.loader.walk import RawTree, parse_source, walk
from compiler.model.estate import build_estate
from compiler.render import instance_views
from compiler.render.support import check_routeros


@dataclasses.dataclass
class _Checked:
    """What a worker found in its group: sent to the parent before anything is rendered."""

    own: dict[str, list[list[Any]]]  # each instance's diagnostics (encoded, see incremental)
    clean: bool  # no error, and every diagnostic belongs to one instance of the group
    summaries: dict[str, dict[str, Any]]


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


def _sub_tree(raw: RawTree, group: list[str], first: bool) -> RawTree:
    """The tree a worker checks: its instances, ``vpn.yaml`` and ``tests.yaml``.

    Files outside every instance folder (scanned for secrets) go to the first group only, so
    that no finding is reported twice (a finding there is outside an instance: not clean).
    """
    names = set(group)
    others = [o for o in raw.others
              if (owner := _owner_of(o.path, raw)) in names or (owner is None and first)]
    return dataclasses.replace(raw, instances={n: raw.instances[n] for n in group},
                               others=others)


def _owner_of(path: Path, raw: RawTree) -> str | None:
    parts = path.relative_to(raw.root).parts if path.is_relative_to(raw.root) else ()
    return parts[0] if len(parts) > 1 and parts[0] in raw.instances else None


def _check(raw: RawTree, group: list[str]) -> tuple[_Checked, Any]:
    """Parse and check one group (in its worker); the estate is kept there for rendering."""
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
    own, stray = _own(diags, raw.root, group)
    summaries = {name: cross.summary(inst) for name, inst in estate.instances.items()}
    return _Checked(own, not stray and diags.errors == 0, summaries), estate


def _worker(conn: Connection, raw: RawTree, group: list[str],
            how: tuple[KeyRing, bool, Path]) -> None:
    """A forked worker: check the group, then render it (``how``: keys, QR, output) on order."""
    ring, qr, out = how
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        gc.disable()  # the check allocates millions of objects that all live on
        checked, estate = _check(raw, group)
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
        self.raw, self.walked, self.sizes, self.procs = raw, walked, sizes, procs
        self.own: dict[str, list[list[Any]]] = {}
        self.summaries: dict[str, dict[str, Any]] = {}
        self.waiting = False  # every worker checked its group and waits for an order
        self.rendered = False  # every worker rendered its group

    def collect(self) -> bool:
        """Wait for every group's check; whether the groups' diagnostics are the tree's."""
        clean = True
        for _proc, conn, _group in self.procs:
            checked = self._receive(conn)
            assert isinstance(checked, _Checked)
            clean = clean and checked.clean
            self.own.update(checked.own)
            self.summaries.update(checked.summaries)
        self.waiting = True
        return clean and cross.clean(self.summaries)

    def diagnostics(self) -> Diagnostics:
        """The walk's diagnostics and every group's: those of a check of the whole tree."""
        diags = Diagnostics()
        diags.extend(self.walked)
        for items in self.own.values():
            diags.extend(_decode(item, self.raw.root) for item in items)
        return diags

    def memo(self, keys: dict[str, str]) -> Memo:
        """What the next compile may reuse of this check (see :func:`memo_of_check`)."""
        walk_owners = {owner for d in self.walked
                       if (owner := _owner(d, self.raw.root, self.raw.instances)) is not None}
        return Memo(dict(self.summaries), dict(self.own), walk_owners,
                    _assertion_keys(_tests(self.raw), keys), True)

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


def start(root: Path, ring: KeyRing, qr: bool, out: Path) -> Split | None:
    """Read ``root`` and fork workers that check it group by group.

    Returns None when it is not split: too small a tree or no second core, an error found by
    the walk, no instance, a diagnostic in ``vpn.yaml`` or ``tests.yaml``, an assertion from
    no instance of the tree. The caller then checks the whole tree itself.
    """
    if worker_count(PARALLEL_MIN_PEERS) < 2:
        return None  # one core, MVPN_JOBS=1 or no fork: nothing to split
    walked = Diagnostics()
    raw = walk(root, walked, parse=False)
    if walked.errors or not raw.instances:
        return None
    sizes = {name: len(inst.peers) for name, inst in raw.instances.items()}
    count = min(worker_count(sum(sizes.values())), len(sizes))
    if count < 2:
        return None  # a small tree: read again, it costs little
    top = Diagnostics()
    for source in (raw.vpn, raw.tests):
        if source is not None:
            parse_source(source, top)  # parsed once, here: the workers inherit it
    if len(top) or any(test.from_[0] not in raw.instances for _i, test in _tests(raw)):
        return None
    context = multiprocessing.get_context("fork")
    procs: list[tuple[Any, Connection, list[str]]] = []
    # Ctrl-C reaches the whole process group: SIGINT stays blocked from before each fork
    # until the worker ignores it; the parent alone handles it.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        for index, group in enumerate(groups(sizes, count)):
            mine, theirs = context.Pipe()
            proc = context.Process(target=_worker, daemon=True, args=(
                theirs, _sub_tree(raw, group, index == 0), group, (ring, qr, out.absolute())))
            proc.start()
            theirs.close()
            procs.append((proc, mine, group))
    except BaseException:
        Split(raw, walked, sizes, procs).stop()
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return Split(raw, walked, sizes, procs)


__all__ = ["Split", "groups", "start"]
