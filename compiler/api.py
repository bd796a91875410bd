"""The library API under the CLI: load, check (and later compile) a config tree."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path

from compiler import allocate as allocation
from compiler.allocate import Assignment
from compiler.allocate import subnets as subnet_allocation
from compiler.allocate.subnets import SubnetAssignment
from compiler.checks import Graph, check_not_empty, run_checks
from compiler.checks.cross import summary
from compiler.checks.reach import Verdict, policies
from compiler.diagnostics import Diagnostics, UsageError
from compiler.engine import WriteStats, assemble, portable
from compiler.engine.assemble import Progress
from compiler.engine.cache import BuildCache, BuildState
from compiler.engine.engine import BuildJob, StreamedBuild
from compiler.engine.lock import output_lock
from compiler.engine.write import check_output
from compiler.incremental import check_incrementally, instance_keys, stat_keys
from compiler.keys import KeyRing
from compiler.loader.walk import RawTree, walk
from compiler.model.estate import Estate, build_estate
from compiler.plan import PlanDiff, compare, gitrev
from compiler.render import instance_views
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
    were checked again (those whose files changed); ``reused`` names the others. When a
    build was made, ``check.graph`` is None: the graph is freed before rendering.
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
    neither re-checked nor re-rendered (see :mod:`compiler.engine.cache`); the output bytes
    are the same either way. An output that must not be built into is a
    :class:`UsageError` before anything is created; compiles into the same folder are
    serialised (``waiting`` hears the folder when another compile holds it).
    """
    _ensure_tree(root)
    check_output(out, root)  # before anything is created, the cache folder included
    with output_lock(out, waiting):
        return _compile_locked(root, out, secret, qr, cache=cache, progress=progress)


def _compile_locked(root: Path, out: Path, secret: bytes | None, qr: bool, *, cache: bool,
                    progress: Progress | None) -> CompileResult:
    ring = KeyRing(secret)
    store = BuildCache(out, f"{ring.cache_id()}/qr={qr}") if cache else None
    previous = store.load() if store is not None else None
    fast = None
    folders: dict[str, str | None] = {}
    if store is not None:
        _ensure_tree(root)
        folders = stat_keys(root)  # before anything is read (see stat_keys)
    if store is not None and previous is not None:
        with gc_paused():
            fast = check_incrementally(root, store.context, previous, folders)
    if fast is not None:
        result = CheckResult(fast.estate, Diagnostics(), None)
        views = instance_views(fast.estate, ring)
        job = BuildJob(views, ring, qr, out, previous=previous,
                       reuse=fast.reuse.__contains__, keys=fast.keys)
        summaries = fast.summaries
    else:
        result, started = _check_and_start(root, out, ring, qr, store, previous=previous)
        if started is None:
            return CompileResult(result)
        job = started
        # Only a tree without diagnostics may be checked incrementally next time: the fast
        # path never reports any (warnings would go unprinted), so no summaries otherwise.
        summaries = {} if result.diagnostics.sorted() else {
            name: summary(inst) for name, inst in result.estate.instances.items()}
    try:
        if store is not None:
            store.forget()  # until the new state is saved, the old one no longer describes `out`
        with gc_paused():
            build, stats, state = job.finish(progress)
    except BaseException:  # Ctrl-C included: no stage is left behind, `out` is untouched
        job.abort()
        raise
    if store is not None:
        for name, inst_state in state.instances.items():
            inst_state.summary = summaries.get(name)
            inst_state.stat_key = folders.get(name)
        store.save(state)
    return CompileResult(result, build, stats, sorted(fast.reuse if fast is not None else ()))


def _check_and_start(
    root: Path, out: Path, ring: KeyRing, qr: bool, store: BuildCache | None, *,
    previous: BuildState | None = None,
) -> tuple[CheckResult, BuildJob | None]:
    """The full check; the build is planned, and started early where workers can render.

    Rendering needs only validated files, so with worker processes it starts before the
    graph checks run (and uses the core the checks leave idle); when they find an error
    the started build is dropped unseen: nothing is swapped in before the checks pass.
    An instance whose input key is the one of the verified ``previous`` build is kept from
    it, not rendered again (a tree with ``tests.yaml`` or warnings is always checked in full,
    but its unchanged instances need no rendering: their artifacts depend only on their key).
    """
    diags = Diagnostics()
    with gc_paused():
        raw, estate = _load(root, diags)
    job = None
    if diags.errors == 0:
        keys = instance_keys(raw, store.context) if store is not None else {}

        def unchanged(name: str) -> bool:
            old = previous.instances.get(name) if previous is not None else None
            return old is not None and keys.get(name) == old.key

        job = BuildJob(instance_views(estate, ring), ring, qr, out, previous=previous,
                       reuse=unchanged, keys=keys)
        try:
            job.start(parallel_only=True)
        except UsageError:  # reported in its usual place: after the check, if it passes
            job.abort()
            job = BuildJob(instance_views(estate, ring), ring, qr, out, previous=previous,
                           reuse=unchanged, keys=keys)
        except BaseException:  # Ctrl-C while the stage and the workers were being made
            job.abort()
            raise
    try:
        with gc_paused():
            graph = _run_checks(estate, diags)
        result = CheckResult(estate, diags, graph)
        if not result.ok:
            if job is not None:
                job.abort()
            return result, None
        assert job is not None
        # Rendering does not need the graph: free it (at 100k peers it is half of the heap;
        # networkx keeps cached views in the graph's __dict__, a reference cycle).
        graph.__dict__.clear()
        result.graph = None
        _trim_heap()
    except BaseException:
        if job is not None:
            job.abort()
        raise
    return result, job


def _trim_heap() -> None:
    """Give freed heap pages back to the system, so peak memory drops with them."""
    portable.trim_heap()


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
