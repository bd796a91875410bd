"""The library API under the CLI: check, compile, allocate and plan a config tree.

A compile reads like the pipeline: gather and check the tree (incrementally when the
cache allows, :mod:`compiler.incremental`), plan the build (:mod:`compiler.engine.planner`),
execute it (:mod:`compiler.engine.engine`). Process tuning is not done here but in
:mod:`compiler.runtime`, which only a one-shot process (``mvpn``) enables.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from pathlib import Path

from compiler import allocate as allocation
from compiler import parallel, runtime
from compiler.allocate import Assignment
from compiler.allocate import subnets as subnet_allocation
from compiler.allocate.subnets import SubnetAssignment
from compiler.checks import Graph, check_not_empty, run_checks
from compiler.checks.reach import Verdict, policies
from compiler.diagnostics import Diagnostics, UsageError
from compiler.engine.assemble import Progress, assemble
from compiler.engine.cache import BuildCache, BuildState, StateError, fragment_ahead
from compiler.engine.engine import Ahead, BuildJob, StreamedBuild, render_ahead
from compiler.engine.lock import output_lock
from compiler.engine.scan import drop_early, take_early_keys
from compiler.engine.write import WriteStats, check_output
from compiler.incremental import (
    Incremental,
    Memo,
    check_incrementally,
    instance_keys,
    memo_of_check,
)
from compiler.keys import KeyRing
from compiler.loader.status import stat_keys
from compiler.loader.walk import RawTree, walk
from compiler.model.estate import Estate, build_estate
from compiler.plan import PlanDiff, compare, gitrev
from compiler.render import InstanceView, instance_views
from compiler.render.support import check_routeros
from compiler.runtime import gc_paused


@dataclasses.dataclass
class CheckResult:
    """A checked tree: the estate, every diagnostic, and the graph model."""

    estate: Estate
    diagnostics: Diagnostics
    graph: Graph

    @property
    def ok(self) -> bool:
        """No errors (warnings allowed)."""
        return self.diagnostics.errors == 0


def _ensure_tree(root: Path) -> None:
    if not root.exists():
        raise UsageError(f"config tree '{root}' does not exist")
    if not root.is_dir():
        raise UsageError(f"config tree '{root}' is not a directory")


def check(root: Path) -> CheckResult:
    """Load and check the tree at ``root``; raises :class:`UsageError` if it is no directory."""
    _ensure_tree(root)
    diags = Diagnostics()
    with gc_paused():
        _raw, estate = _load(root, diags)
        graph = _run_checks(estate, diags)
    return CheckResult(estate, diags, graph)


def _run_checks(estate: Estate, diags: Diagnostics) -> Graph:
    """The checks of a whole tree: the model, the site scripts it renders (SPEC §11).

    And that it is not empty, which the partial estates of an incremental compile often are.
    """
    graph = run_checks(estate, diags)
    check_routeros(estate, diags)
    check_not_empty(estate, diags)
    return graph


def explain(result: CheckResult, src: str, dst: str, probe: str = "icmp") -> Verdict:
    """``check --explain``: the path from ``src`` (INSTANCE/PEER) to ``dst`` and what decides."""
    from compiler.checks.reach import explain as _explain

    try:
        return _explain(result.estate, src, dst, probe)
    except LookupError as exc:
        raise UsageError(f"--explain: {exc.args[0]}") from None


def _load(root: Path, diags: Diagnostics) -> tuple[RawTree, Estate]:
    raw = walk(root, diags)
    return raw, build_estate(raw, diags)


@dataclasses.dataclass
class CompileResult:
    """A compile: the check it rests on, and (when clean) the build and what was written.

    After an incremental compile (``cache=True``), ``check.estate`` holds the instances that
    were checked again (its ``raw`` every file that was read) and ``check.diagnostics`` are
    those of :func:`check`; ``reused`` names the instances whose build was kept. When a build
    was made, ``check.graph`` is None: the graph is not kept for rendering.
    """

    check: CheckResult
    build: StreamedBuild | None = None
    stats: WriteStats | None = None
    reused: list[str] = dataclasses.field(default_factory=list)

    def built(self) -> tuple[int, str]:
        """(instances built, ``"derived"`` or ``"redacted"``), without parsing the manifest."""
        assert self.build is not None
        return self.build.instances, self.build.secrets


def compile_tree(
    root: Path, out: Path, secret: bytes | None, qr: bool = True, *, cache: bool = False,
    progress: Progress | None = None, waiting: Callable[[Path], None] | None = None,
) -> CompileResult:
    """Check ``root``; when it has no errors, render everything and write ``out`` atomically.

    With errors nothing is rendered and nothing is written (no partial build). With
    ``cache``, state kept in ``.mvpn-cache/`` beside ``out`` lets unchanged instances be
    neither re-checked nor re-rendered (see :mod:`compiler.incremental`); the output bytes
    and the diagnostics are the same either way. An output that must not be built into is a
    :class:`UsageError` before anything is created; compiles into the same folder are
    serialised (``waiting`` hears the folder when another compile holds it).
    """
    try:
        return _compile_locked(root, out, secret, qr=qr, cache=cache, progress=progress,
                               waiting=waiting)
    finally:
        drop_early()  # a scan started by the entry that this compile did not take


def _compile_locked(
    root: Path, out: Path, secret: bytes | None, *, qr: bool, cache: bool,
    progress: Progress | None, waiting: Callable[[Path], None] | None,
) -> CompileResult:
    """:func:`compile_tree`, in the output lock."""

    def wait(folder: Path) -> None:
        drop_early()  # another compile holds the output: what was scanned may change
        if waiting is not None:
            waiting(folder)

    _ensure_tree(root)
    check_output(out, root)  # before anything is created, the cache folder included
    with output_lock(out, wait):
        ring = KeyRing(secret)
        store = BuildCache(out, f"{ring.cache_id()}/qr={qr}") if cache else None
        try:
            if store is not None:  # the previous build is scanned meanwhile, in a child
                store.start_scan()
            # 1. Gather and check: incrementally from the cache's state when it can be, else
            #    in full, the graph checks then still to run (step 3).
            gathered = _gather(root, _Target(out, ring, qr), store)
            # 2. Plan: each instance is rendered, linked from the previous build or kept.
            job = gathered.plan()
            # 3. Execute: the build starts (in workers) while the graph checks still run; it
            #    is dropped unseen if they fail, and swapped in once they pass.
            result, state = _execute(gathered, job, progress)
        finally:
            if store is not None:
                store.close()
        # A no-op wrote nothing: the state on disk still holds, unless the memo changed.
        if store is not None and state is not None and job is not None and (
                gathered.memo().record(state, gathered.folders) or not job.noop):
            store.save(state)
    return result


@dataclasses.dataclass(frozen=True)
class _Target:
    """Where and how a compile builds."""

    out: Path
    ring: KeyRing
    qr: bool


@dataclasses.dataclass
class _Gathered:
    """A tree read for a compile, and the cache's view of it."""

    target: _Target
    store: BuildCache | None
    previous: BuildState | None  # the verified state of the build in the output (cache)
    folders: dict[str, str | None]  # stat keys, taken before anything was read
    estate: Estate
    diags: Diagnostics
    keys: dict[str, str]  # input keys ({} without the cache)
    reuse: set[str]  # instances whose previous build can be kept
    fast: Incremental | None = None  # when checked incrementally: complete, memo included
    walked: int = 0  # of a full check: how many diagnostics the walk gave
    split: parallel.Split | None = None  # checked by workers that render it too
    ahead: dict[str, Ahead] = dataclasses.field(default_factory=dict)  # rendered already

    def plan(self) -> BuildJob | None:
        """The build (planned by :func:`compiler.engine.planner.plan_build`), when loadable."""
        if self.diags.errors:
            return None
        views = instance_views(self.estate, self.target.ring)
        job = self._job(views)
        # The spare build is verified only for a build that is not a no-op (which would
        # verify it for nothing); planned again with it, its instances can be kept in place.
        if not job.noop and self.store is not None and self.previous is not None and (
                self.store.verify_spare(self.previous)):
            job = self._job(views)
        return job

    def _job(self, views: list[InstanceView]) -> BuildJob:
        ring = self.target.ring
        split = self.split
        if split is not None:  # its workers render what they checked
            job = BuildJob([], ring, self.target.qr, self.target.out, keys=self.keys,
                           external=split)
            job.stack.callback(split.stop)
            return job
        return BuildJob(views, ring, self.target.qr, self.target.out, previous=self.previous,
                        reuse=self.reuse.__contains__, keys=self.keys, ahead=self.ahead)

    def check(self) -> CheckResult:
        """The check's result: the graph checks of a full check run now."""
        if self.fast is not None or self.split is not None:
            return CheckResult(self.estate, self.diags, None)
        with gc_paused():
            graph = _run_checks(self.estate, self.diags)
        return CheckResult(self.estate, self.diags, graph)

    def memo(self) -> Memo:
        """What the next compile may reuse of this one's check (after a build)."""
        if self.fast is not None:
            return self.fast.memo
        if self.split is not None:
            return self.split.memo(self.keys)
        return memo_of_check(self.estate, self.diags, self.walked, self.keys)


def _gather(root: Path, target: _Target, store: BuildCache | None) -> _Gathered:
    """Read (and, incrementally, check) the tree; what may be reused from the verified build.

    The tree is checked against the recorded state while the build it describes is still
    being verified (:meth:`BuildCache.start_scan`); a build that is not as recorded gets the
    full check, as without a state (split among workers when that pays).
    """
    with gc_paused():  # the state is ~600k objects at 100k peers: no collection scans them
        record = store.read() if store is not None else None
    # Stat keys, taken before anything is read: by a child from the process start, if it
    # could (once: a split that falls back to the whole check uses the same keys).
    early = take_early_keys(root) if store is not None else None
    if record is None and (split := _split(root, target, store, early and early.keys)
                           ) is not None:
        return split
    with gc_paused():
        taken = early.taken if early is not None else time.time_ns()
        folders = {} if store is None else early.keys if early is not None else stat_keys(root)
    previous = None
    if store is not None and record is not None:
        with gc_paused():
            try:
                fast = check_incrementally(root, store.context, record[0], folders, taken)
            except StateError:  # a summary of the state is not as recorded: check it all
                fast = None
            # While the child still scans the build: a small change is rendered meanwhile.
            ahead = _render_ahead(fast, record[0], target) if fast is not None else {}
        previous = store.load(record)
        if fast is not None and previous is not None:
            return _Gathered(target, store, previous, folders, fast.estate, fast.diagnostics,
                             fast.keys, fast.reuse, fast, ahead=ahead)
        if previous is None:  # not as recorded: built as without a state
            store.close()  # its scan of the spare is of no use now
            if (split := _split(root, target, store, folders)) is not None:
                return split
    diags = Diagnostics()
    with gc_paused():
        raw = walk(root, diags)
        walked = len(diags)
        estate = build_estate(raw, diags)
    keys = instance_keys(raw, store.context) if store is not None else {}
    old = previous.instances if previous is not None else {}
    reuse = {name for name, key in keys.items() if name in old and old[name].key == key}
    return _Gathered(target, store, previous, folders, estate, diags, keys, reuse,
                     walked=walked)


def _render_ahead(fast: Incremental, recorded: BuildState, target: _Target,
                  ) -> dict[str, Ahead]:
    """Render the instances a clean incremental check changed, before the build is verified.

    Against the fragments the unverified state points at; see :func:`render_ahead`.
    """
    if fast.diagnostics.errors:
        return {}
    old = recorded.instances
    fragments = {
        name: fragment_ahead(target.out, old[name]) if name in old else None
        for name in fast.estate.instances if name not in fast.reuse}
    views = instance_views(
        dataclasses.replace(fast.estate, instances={
            name: inst for name, inst in fast.estate.instances.items() if name in fragments}),
        target.ring)
    return render_ahead(views, target.qr, target.out, fragments)


def _split(root: Path, target: _Target, store: BuildCache | None,
           folders: dict[str, str | None] | None = None) -> _Gathered | None:
    """Check (and later render) in parallel, a group of instances per worker, when it pays.

    ``folders``: the stat keys, when taken already (else the workers take their groups').
    None when not split, or when the groups' diagnostics might not be the tree's (see
    :mod:`compiler.parallel`): the workers are stopped, nothing they rendered is kept, and
    the whole tree is checked.
    """
    with gc_paused():
        split = parallel.start(root, target.ring, target.qr, target.out,
                               store.context if store is not None else None, keys=folders)
    if split is None:
        return None
    try:
        if not split.collect():
            split.stop()
            return None
        raw = split.raw
        top = build_estate(RawTree(raw.root, vpn=raw.vpn), Diagnostics())  # org only
    except BaseException:
        split.stop()
        raise
    return _Gathered(target, store, None, split.folders, dataclasses.replace(top, raw=raw),
                     split.diagnostics(), split.keys, set(), split=split)


def _execute(gathered: _Gathered, job: BuildJob | None,
             progress: Progress | None) -> tuple[CompileResult, BuildState | None]:
    """Finish the check, then run the build (or drop it unstarted when the check fails).

    Workers are forked only once the checks passed: forked earlier, they would share the
    estate's pages with a parent whose checks then write to every one of them (reference
    counts), so each page would be copied (about 250 MiB more at 100k peers).
    """
    try:
        result = gathered.check()
        if not result.ok or job is None:
            if job is not None:
                job.abort()
            return CompileResult(result), None
        if result.graph is not None:  # rendering does not need it
            runtime.drop(result.graph)
            result.graph = None
        if gathered.store is not None and not job.noop:
            gathered.store.forget()  # until the new state is saved, the old one is stale
        with gc_paused():
            build, stats, state = job.finish(progress)
    except BaseException:  # Ctrl-C included: no stage is left behind, `out` is untouched
        if job is not None:
            job.abort()
        raise
    return CompileResult(result, build, stats, sorted(gathered.reuse)), state


@dataclasses.dataclass
class AllocateResult:
    """An allocation: the check it rests on, what blocks it, and what was assigned."""

    check: CheckResult
    diagnostics: Diagnostics
    assignments: list[Assignment]
    subnets: list[SubnetAssignment] = dataclasses.field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every missing address was assigned (or none was missing)."""
        return self.diagnostics.errors == 0


def allocate(root: Path) -> AllocateResult:
    """Fill in every missing address and every ``auto/N`` site subnet under ``root``.

    Addresses get the lowest free one of their pool; ``auto/N`` subnets the lowest free /N of
    the instance's aggregates (:mod:`compiler.allocate.subnets`). Refuses (assigning nothing)
    when the tree has errors other than ``address-missing``, which are then the result's
    diagnostics, or when a pool is full (``pool-exhausted``). Subnets are written first (the
    peers they belong to only validate then); if anything after that fails, those files are
    put back as they were.
    """
    result = check(root)
    blocking = _blocking(result)
    if blocking.errors:
        return AllocateResult(result, blocking, [])
    wanted_subnets = subnet_allocation.plan(result.estate, policies(result.estate), blocking)
    if blocking.errors:
        return AllocateResult(result, blocking, [])
    numbered, old = allocation.apply_subnets(wanted_subnets, blocking)
    if blocking.errors:
        return AllocateResult(result, blocking, [])
    if numbered:
        result = check(root)
        blocking = _blocking(result)
        if blocking.errors:
            allocation.restore(old)
            return AllocateResult(result, blocking, [])
    wanted = allocation.plan(result.estate, result.graph, blocking)
    assigned = allocation.apply(wanted, blocking) if not blocking.errors else []
    if blocking.errors:
        allocation.restore(old)
        return AllocateResult(result, blocking, [])
    return AllocateResult(result, blocking, assigned, numbered)


def _blocking(result: CheckResult) -> Diagnostics:
    blocking = Diagnostics()
    blocking.extend(d for d in result.diagnostics if d.code != "address-missing")
    return blocking


@dataclasses.dataclass
class PlanResult:
    """A plan: both checks (the base one with paths as ``REV:path``) and, when clean, the diff."""

    base: CheckResult
    head: CheckResult
    diff: PlanDiff | None
    labels: dict[str, str]

    @property
    def ok(self) -> bool:
        """Both trees are free of errors."""
        return self.base.ok and self.head.ok

    def label(self, which: str) -> str:
        """How the ``base`` or ``head`` tree is named in messages."""
        return self.labels[which]


def _relabel(result: CheckResult, tree: Path, prefix: str) -> CheckResult:
    """Diagnostics of a materialised tree, with paths as ``REV:ROOT/...`` instead of temp paths."""
    diags = Diagnostics()
    real = Path(os.path.realpath(tree))
    diags.extend(
        dataclasses.replace(d, file=Path(f"{prefix}{d.file.relative_to(real).as_posix()}"))
        if d.file.is_relative_to(real) else d
        for d in result.diagnostics
    )
    return CheckResult(result.estate, diags, result.graph)


def plan(root: Path, rev: str, secret: bytes | None) -> PlanResult:
    """Compare the tree at ``root`` (the working tree) with the same folder at git ``rev``.

    Raises :class:`UsageError` when ``root`` is not in a git repository or ``rev`` is unknown.
    Artifacts are compiled in memory (no QR codes: they follow their ``.conf``), redacted
    unless ``secret`` is given.
    """
    head = check(root)
    revision = gitrev.resolve(root, rev)
    labels = {"base": f"{revision.label}:{revision.root}", "head": f"working tree:{revision.root}"}
    refused: list[Path] = []
    with gitrev.materialise(revision, refused) as tree:
        folder = "" if str(revision.root) == "." else f"{revision.root}/"
        checked = check(tree)
        for path in refused:  # what `check` says of the same symlink in a working tree
            checked.diagnostics.add(
                "file-unsafe", f"'{path.name}' is a symlink that leaves the config tree (or "
                "dangles); replace it with the file itself", path)
        base = _relabel(checked, tree, f"{rev}:{folder}")
        if not (base.ok and head.ok):
            return PlanResult(base, head, None, labels)
        ring = KeyRing(secret)
        old = assemble(base.estate, ring, qr=False)
        new = assemble(head.estate, ring, qr=False)
        result = compare(base.estate, head.estate, old, new,
                           labels=(revision.label, "working tree"), root=str(revision.root))
    return PlanResult(base, head, result, labels)
