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
instance of the tree) the workers are stopped, nothing they rendered is kept, and the caller
checks the whole tree in this process, as before.

A worker whose own group is clean renders it into the stage at once, without waiting for the
other groups and this process's cross-instance checks: at 100k peers that wait left both
cores idle for about 0.3 s. What it sends meanwhile is kept until the tree is known to be
clean; a render failure then counts only if the build goes on (a tree with errors reports
its diagnostics, never a failure of a render it did not need). The stage is made before the
workers are forked, owned by :class:`Split` until the build job takes it, and removed with
everything in it when the build does not go on.
"""

from __future__ import annotations

import dataclasses
import gc
import multiprocessing
import os
import shutil
import signal
import stat
from collections.abc import Iterator, Mapping
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from compiler.checks import cross, run_checks
from compiler.diagnostics import Diagnostic, Diagnostics, Severity
from compiler.engine.cache import InstanceState
from compiler.engine.engine import PARALLEL_MIN_PEERS, new_stage, render_group, worker_count
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
    """What a worker found in its group: sent to the parent before its render."""

    walked: list[list[Any]]  # the walk's diagnostics in the group's folders (encoded)
    own: dict[str, list[list[Any]]]  # each instance's diagnostics (encoded, see incremental)
    clean: bool  # no error, and every diagnostic belongs to one instance of the group
    summaries: dict[str, Mapping[str, Any]]
    keys: dict[str, str]  # input keys (with a cache)
    folders: dict[str, str | None]  # stat keys, taken before the group was read (cache)
    quoted: list[SourceFile]  # the files a diagnostic points into (their lines are quoted)


def groups(sizes: dict[str, float], count: int) -> list[list[str]]:
    """``count`` groups of instance names with about the same cost (peers, weighted) each.

    Largest first onto the lightest group; each group in name order (the build's order).
    """
    loads = [0.0] * count
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


def _read(top: RawTree, group: list[str], first: bool, context: str | None,
          keys: dict[str, str | None] | None,
          ) -> tuple[RawTree, list[Diagnostic], dict[str, str | None]]:
    """Read the group's instance folders (stat keys first, as a compile takes them).

    The top of the tree is the parent's (``vpn.yaml`` and ``tests.yaml`` parsed there); files
    outside every instance folder (scanned for secrets) go to the first group only, so that
    nothing is reported twice.
    """
    root, members = top.root, set(group)
    if context is None:
        folders: dict[str, str | None] = {}
    elif keys is not None:  # taken before any file was read, by the parent
        folders = {name: keys[name] for name in group if name in keys}
    else:
        folders = stat_keys(root, members)
    diags = Diagnostics()
    read = walk(root, diags, parse=False, skip=frozenset(top.instances) - members)
    others = [o for o in read.others if _in_group(o.path, root, members)]
    if first:
        others += top.others
    raw = dataclasses.replace(read, vpn=top.vpn, tests=top.tests,
                              instances={n: read.instances[n] for n in group}, others=others)
    # The walk said the same as the parent's about the top of the tree: only ours are kept.
    return raw, [d for d in diags if _in_group(d.file, root, members)], folders


def _check(top: RawTree, group: list[str], first: bool, context: str | None,
           keys: dict[str, str | None] | None) -> tuple[_Checked, Any]:
    """Read, parse and check one group (in its worker); the estate stays for rendering."""
    raw, walked, folders = _read(top, group, first, context, keys)
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
    clean = not stray and errors == 0
    # A summary is of a clean instance (one with an error may have no config at all); a
    # group that is not clean has the tree checked whole, which needs none.
    summaries: dict[str, Mapping[str, Any]] = (
        {name: cross.summary(inst) for name, inst in estate.instances.items()} if clean else {})
    checked = _Checked(
        [encode(d, root) for d in walked], own, clean, summaries,
        instance_keys(raw, context) if context is not None else {}, folders,
        [s if isinstance(s, OtherFile) else SourceFile(s.path, s.text, ok=False)
         for s in quoted])
    return checked, estate


def _worker(conn: Connection, top: RawTree, group: list[str], first: bool,
            how: tuple[KeyRing, bool, Path, str | None, dict[str, str | None] | None,
                       Path, set[str]]) -> None:
    """A forked worker: check the group, then render it into the stage, unless it is not clean.

    ``how``: the key ring, QR codes, the output, the cache's context, the stat keys (if the
    parent has them), the stage and the old output's files. The render starts without
    waiting for the other groups: the parent stops it (and removes the stage) when the
    tree turns out not to be clean as a whole, and otherwise takes the states as they come.
    """
    ring, qr, out, context, keys, stage, old = how
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})
    try:
        gc.disable()  # the check allocates millions of objects that all live on
        checked, estate = _check(top, group, first, context, keys)
        conn.send(("checked", checked))
        if not checked.clean:  # an estate with errors is never rendered
            return
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
    """Workers that checked a tree's groups of instances and render them into a stage.

    The stage is this object's until a :class:`compiler.engine.engine.BuildJob` takes it
    (:meth:`take_stage`); :meth:`stop` removes it if not.
    """

    def __init__(self, raw: RawTree, walked: Diagnostics, sizes: dict[str, int],
                 stage: tuple[Path, set[str]]) -> None:
        self.raw, self.sizes = raw, sizes
        self.stage: Path | None = stage[0]
        self.old = stage[1]
        self.procs: list[tuple[Any, Connection, list[str]]] = []
        self.walked = list(walked)  # the walk's diagnostics, the top's then the groups'
        self.own: dict[str, list[list[Any]]] = {}
        self.summaries: dict[str, Mapping[str, Any]] = {}
        self.keys: dict[str, str] = {}
        self.folders: dict[str, str | None] = {}
        # What workers sent after their check, while the others still checked.
        self.early: dict[Connection, list[tuple[str, object]]] = {}

    def collect(self) -> bool:
        """Wait for every group's check; whether the groups' diagnostics are the tree's.

        Workers that finished their check already render: what they send meanwhile is kept
        for :meth:`states` (a failure too: it matters only if the build goes on).
        """
        clean = True
        unchecked = {conn for _proc, conn, _group in self.procs}
        listening = set(unchecked)
        while unchecked:
            for conn in wait(list(listening)):
                assert isinstance(conn, Connection)
                if conn in self.early:  # checked already: a state, "done" or a failure
                    kind, value = self._message(conn)
                    self.early[conn].append((kind, value))
                    if kind != "state":  # nothing more comes
                        listening.discard(conn)
                    continue
                checked = self._receive(conn)
                assert isinstance(checked, _Checked)
                clean = clean and checked.clean
                self.walked.extend(decode(item, self.raw.root) for item in checked.walked)
                self.own.update(checked.own)
                self.summaries.update(checked.summaries)
                self.keys.update(checked.keys)
                self.folders.update(checked.folders)
                self._quote(checked.quoted)
                self.early[conn] = []
                unchecked.discard(conn)
                if not checked.clean:  # it renders nothing and sends nothing more
                    listening.discard(conn)
        return clean and cross.clean(self.summaries)

    def _message(self, conn: Connection) -> tuple[str, object]:
        try:
            kind, value = conn.recv()
        except EOFError:
            return "failed", RuntimeError("a compile worker stopped unexpectedly")
        return str(kind), value

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

    def take_stage(self) -> tuple[Path, set[str]]:
        """The stage the workers render into, and the old output's files: the caller's now."""
        assert self.stage is not None, "the stage was taken already"
        stage, self.stage = self.stage, None
        return stage, self.old

    def states(self) -> Iterator[InstanceState]:
        """Every instance's state, in name order, as the workers render them."""
        ready: dict[str, InstanceState] = {}
        running = {conn for _proc, conn, _group in self.procs}
        for conn, messages in self.early.items():
            for kind, value in messages:
                running.discard(conn) if self._took(kind, value, ready) else None
        for name in sorted(self.sizes):
            while name not in ready:
                if not running:
                    raise RuntimeError(f"no compile worker rendered instance {name}")
                for found in wait(list(running)):
                    assert isinstance(found, Connection)
                    if self._took(*self._message(found), ready):
                        running.discard(found)
            yield ready.pop(name)
        self.stop()

    def _took(self, kind: str, value: object, ready: dict[str, InstanceState]) -> bool:
        """Take a message of the render into ``ready``; true when its worker is done."""
        if kind == "failed":
            assert isinstance(value, BaseException)
            raise value
        if kind == "state":
            assert isinstance(value, InstanceState)
            ready[value.name] = value
        return kind == "done"

    def _receive(self, conn: Connection) -> object:
        kind, value = self._message(conn)
        if kind == "failed":
            assert isinstance(value, BaseException)
            raise value
        return value

    def stop(self) -> None:
        """Stop the workers (finished ones just end) and remove the stage if nobody took it."""
        for proc, conn, _group in self.procs:
            if proc.is_alive():
                proc.terminate()
            proc.join()
            conn.close()
        self.procs = []
        if self.stage is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            self.stage = None


#: How much more an instance costs to render than its peer count says, measured on the
#: generated estates (ms per 1,000 peers, one process): both protocols 1.27 times (a P-256
#: certificate per OpenVPN peer besides the WireGuard keys and QR codes), IPv6 1.10 times.
_BOTH_PROTOCOLS, _IPV6 = 1.27, 1.10


def _weight(folder: Path, peers: int) -> float:
    """An instance's expected render cost, to balance the groups (never more than that).

    Read off ``instance.yaml``'s text without parsing it (the worker parses it): a wrong
    guess only makes one worker finish later. Only a regular file is read: the tree is not
    checked yet, and a symlink out of it or a FIFO (which would block) is the walk's to
    report.
    """
    try:
        fd = os.open(folder / "instance.yaml",
                     os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return float(peers)
    try:
        text = os.read(fd, 65536) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    except OSError:
        text = b""
    finally:
        os.close(fd)
    both = b"wireguard:" in text and b"openvpn:" in text
    return peers * (_BOTH_PROTOCOLS if both else 1.0) * (_IPV6 if b"::" in text else 1.0)


def _peer_count(folder: Path) -> int:
    """About how many peers an instance has (its ``peers/`` entries), to balance the groups.

    The folder itself is listed, never one a symlink points to (the walk reports those).
    """
    try:
        fd = os.open(folder / "peers", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return 0
    try:
        return len(os.listdir(fd))
    except OSError:
        return 0
    finally:
        os.close(fd)


def start(root: Path, ring: KeyRing, qr: bool, out: Path, context: str | None,
          *, keys: dict[str, str | None] | None = None) -> Split | None:
    """Read the top of ``root`` and fork workers that read and check it group by group.

    ``context`` is the cache's (None without a cache: no input or stat keys are taken);
    ``keys`` the tree's stat keys when they were taken already (else each worker takes its
    group's before reading it).
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
    split = Split(top, walked, sizes, new_stage(out))
    stage, old = split.stage, split.old
    # Ctrl-C reaches the whole process group: SIGINT stays blocked from before each fork
    # until the worker ignores it; the parent alone handles it.
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        weights = {name: _weight(top.instances[name].dir, peers)
                   for name, peers in sizes.items()}
        for index, group in enumerate(groups(weights, count)):
            mine, theirs = forking.Pipe()
            proc = forking.Process(target=_worker, daemon=True, args=(
                theirs, top, group, index == 0,
                (ring, qr, out.absolute(), context, keys, stage, old)))
            proc.start()
            theirs.close()
            split.procs.append((proc, mine, group))
    except BaseException:
        split.stop()
        raise
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
    return split


__all__ = ["Split", "groups", "start"]
