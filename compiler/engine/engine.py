"""Stream a build to disk: render instance by instance, on every core, reusing what is unchanged.

:class:`BuildJob` is what ``mvpn compile`` runs. Unlike :func:`assemble` it never holds
the whole build in memory: each instance is rendered, written into the stage folder and
dropped (at 100k peers the artifacts are about 2 GB). Instances are independent (their
artifacts depend on ``vpn.yaml``, their own folder, the secret and the compiler), so they are
rendered by a pool of forked workers when there is enough work (and the platform can fork);
the output is the same bytes in the same order as :func:`assemble` gives, whatever the number
of workers.

With a cache (:mod:`compiler.engine.cache`), an instance whose inputs are unchanged is not
rendered at all: its files are hard-linked from the previous build, which the cache has
verified is exactly what the previous compile wrote. When nothing changed, nothing is
written (the build on disk already is the result).
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
import json
import multiprocessing
import os
import shutil
import signal
from collections.abc import Callable, Iterable, Iterator
from functools import cached_property
from pathlib import Path
from typing import Any, NamedTuple, Protocol, TypeVar

from compiler.diagnostics import EnvironmentFailureError
from compiler.engine import inplace, portable
from compiler.engine.assemble import RenderedFile, manifest_head, render_instance
from compiler.engine.cache import BuildState, Entry, InstanceState, entry, instance_files
from compiler.engine.layout import spare_of, stage_of
from compiler.engine.manifest import instance_fragment, manifest_parts
from compiler.engine.planner import Action, plan_build
from compiler.engine.versions import stamp
from compiler.engine.write import (
    Tail,
    WriteStats,
    _old_files,
    _same,
    file_mode,
    link_file,
    prepare_stage,
    rewrite,
    same_parts,
    swap_in,
    write_new,
)
from compiler.keys import KeyRing
from compiler.render import InstanceView
from compiler.render.env import VERSION_SLOT

#: Below this many peers to render, a worker pool costs more than it saves.
PARALLEL_MIN_PEERS = 2000


@dataclasses.dataclass
class StreamedBuild:
    """A build written to disk: its manifest file, instance count and secrets mode."""

    manifest_path: Path
    instances: int
    secrets: str

    @cached_property
    def manifest_json(self) -> str:
        """The manifest's text, read from the build when asked for.

        Not kept from the compile: at 100k peers it is about 75 MB, and the CLI never reads it.
        """
        return self.manifest_path.read_text(encoding="utf-8")

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The manifest as data (parsed on demand: it is large)."""
        data: dict[str, Any] = json.loads(self.manifest_json)
        return data

    @property
    def files(self) -> dict[str, bool]:
        """Every file of the build (its path in ``out``) and whether it holds a secret."""
        files = {"manifest.json": False}
        for name, inst in self.manifest["instances"].items():
            for path, art in inst["artifacts"].items():
                files[f"{name}/{path}"] = bool(art["secret"])
            for path in ("VERSION", "hub/VERSION"):
                files[f"{name}/{path}"] = False
        return files


@dataclasses.dataclass
class _Job:
    """What one build's workers need: made before the pool starts, read-only afterwards."""

    views: dict[str, InstanceView]
    qr: bool
    stage: Path
    out: Path
    previous: BuildState | None  # verified previous build (cache), else None
    old: set[str]  # files of the previous build (without a cache: compared by content)
    spare: BuildState | None = None  # what the stage holds when it started as the spare
    ahead: dict[str, Ahead] = dataclasses.field(default_factory=dict)  # rendered already


#: In a forked worker: the job its pool initializer was given (inherited, not pickled).
_INHERITED: list[_Job] = []
_T = TypeVar("_T")
_R = TypeVar("_R")


def _mkdirs(stage: str, rels: Iterable[str]) -> None:
    """Create the folders of ``rels`` under ``stage``, 0755 whatever the umask."""
    for folder in sorted({rel.rpartition("/")[0] for rel in rels}):
        path, parts = stage, folder.split("/")
        for part in parts:
            path = f"{path}/{part}"
            try:
                os.mkdir(path)
            except FileExistsError:
                continue
            os.chmod(path, 0o755)


def _old_shas(name: str, fragment: str | None) -> dict[str, str]:
    """The SHA-256 of each artifact of an instance, from its manifest fragment (path: sha)."""
    if fragment is None:
        return {}
    artifacts = json.loads("{" + fragment + "}")[name]["artifacts"]
    return {f"{name}/{path}": art["sha256"] for path, art in artifacts.items()}


def _render(view: InstanceView, qr: bool, out: str, fragment: str | None,
            ) -> tuple[dict[str, Any], list[RenderedFile]]:
    """Render an instance; ``fragment``: its part of the previous build's manifest, if any."""
    name = view.name
    old_shas = _old_shas(name, fragment)

    def reuse_qr(peer: str, profile: str) -> str | None:
        """The previous QR code of an unchanged profile (as unstamped text), if any."""
        rel = f"{name}/clients/{peer}"
        if f"{rel}.svg" not in old_shas:
            return None
        if hashlib.sha256(stamp(profile)[1]).hexdigest() != old_shas.get(f"{rel}.conf"):
            return None
        head, sep, body = Path(f"{out}/{rel}.svg").read_text(encoding="ascii").partition("\n")
        return head.rsplit(" version ", 1)[0] + f" version {VERSION_SLOT} -->" + sep + body

    # A view of its own, dropped with everything it caches (the policy, every peer's keys and
    # certificate) once the instance is rendered: rendered on the job's view, those caches
    # stayed until the end of the build (~150 MiB per worker at 100k peers).
    return render_instance(dataclasses.replace(view), qr, reuse_qr)


class Ahead(NamedTuple):
    """An instance rendered before its build was planned (:func:`render_ahead`)."""

    entry: dict[str, Any]
    files: list[RenderedFile]
    fragment: str | None  # the previous build's fragment its QR codes were taken against


def render_ahead(views: list[InstanceView], qr: bool, out: Path,
                 fragments: dict[str, str | None]) -> dict[str, Ahead]:
    """Render the instances ``fragments`` names now, in memory, when they are few.

    A recompile waits for the scan that verifies the previous build (a forked child, see
    :mod:`compiler.engine.scan`); a small change is rendered meanwhile, against the previous
    build's fragments as read before it was verified. :func:`_render_one` uses the result
    only when the verified fragment is the same (and the compile drops it when the build
    is not verified at all). A large change is not rendered ahead: it renders on every core
    once planned, a file at a time, never the whole build in memory.
    """
    todo = [view for view in views if view.name in fragments]
    if not portable.can_fork() or sum(len(v.peers) for v in todo) >= PARALLEL_MIN_PEERS:
        return {}  # without fork nothing runs meanwhile: rendered in the build as ever
    done = {}
    for view in todo:
        try:
            done[view.name] = Ahead(*_render(view, qr, str(out), fragments[view.name]),
                                    fragments[view.name])
        except (OSError, ValueError, LookupError, TypeError):  # an unverified build: a
            continue  # fragment or QR code mangled; rendered in the build, once verified
    return done


def _render_one(job: _Job, name: str) -> InstanceState:
    """Render one instance into the stage; keep files whose bytes did not change.

    When the stage (the spare) holds a verified copy of the instance, that copy is updated
    in place (:mod:`compiler.engine.inplace`); otherwise it is made anew.
    """
    stage, out = str(job.stage), str(job.out)
    old = job.previous.instances.get(name) if job.previous is not None else None
    fragment = old.fragment if old is not None else None
    old_shas = _old_shas(name, fragment)  # the previous build is verified: what each file is
    held = _held(job, name, old_shas)
    old_files: dict[str, Entry] = {}
    if old is not None:
        gone = {*old_shas, f"{name}/VERSION", f"{name}/hub/VERSION"}
        if held is not None and _shares(job, name, old):
            # The stage's copy is the output's very files (same inodes, held to the same
            # digest a moment ago): their entries are the output's, no second scan.
            old_files = held.files
        else:
            # Its files one by one; changed since the build was verified (None), none is
            # reused.
            old_files = instance_files(job.out, old) or {}
    ahead = job.ahead.pop(name, None)
    if ahead is not None and ahead.fragment == fragment:
        entry_, files = ahead.entry, ahead.files
    else:
        entry_, files = _render(job.views[name], job.qr, out, fragment)
    state = InstanceState(name, "", instance_fragment(name, entry_), {})
    if held is None:
        _clear(job, name)
        _mkdirs(stage, [f.rel for f in files])
    # What each file becomes: kept as the stage holds it, linked from the output, or written.
    kept: dict[str, Entry] = {}
    link: list[str] = []
    write: list[tuple[RenderedFile, int]] = []
    for f in files:
        mode = file_mode(f.rel, f.secret)
        was = old_files.get(f.rel) if old is not None else None
        if _unchanged(job, f, mode, was, old_shas.get(f.rel)):
            state.unchanged += 1
            state.files[f.rel] = was if was is not None else entry(os.stat(f"{out}/{f.rel}"))
            mine = held.files.get(f.rel) if held is not None else None
            if mine is not None and was is not None and mine.ino == was.ino:
                kept[f.rel] = mine  # the output's own file, hard-linked already
            else:
                link.append(f.rel)
        else:
            state.written += 1
            if held is not None and held.has(stage, f.rel, f.sha256, f.data, mode):
                kept[f.rel] = state.files[f.rel] = held.files[f.rel]  # the spare's, as needed
            else:
                write.append((f, mode))
    if held is not None:
        inplace.prune(stage, held.files, kept, inplace.folders(state.files))
        _mkdirs(stage, [*link, *(f.rel for f, _mode in write)])
    for rel in link:
        link_file(f"{out}/{rel}", f"{stage}/{rel}")
    for f, mode in write:
        state.files[f.rel] = entry(write_new(f"{stage}/{f.rel}", f.data, mode))
    if old is not None:
        state.removed = len(gone - state.files.keys())
    return state


def _held(job: _Job, name: str, old_shas: dict[str, str] | None) -> inplace.Held | None:
    """The stage's copy of an instance, when the stage is the spare and holds it as recorded.

    ``old_shas``: the output's artifacts (the spare's too when it shares the instance), or
    None when what the files hold is not needed (they are kept by inode).
    """
    spare = job.spare.instances.get(name) if job.spare is not None else None
    if spare is None:
        return None
    files = instance_files(job.stage, spare)  # held to the spare's digest
    if files is None:  # changed since it was verified: removed and made anew
        return None
    if old_shas is None:
        return inplace.Held(files, {})
    previous = job.previous.instances.get(name) if job.previous is not None else None
    shared = previous is not None and _shares(job, name, previous)
    return inplace.Held(files, old_shas if shared else _old_shas(name, spare.fragment))


def _shares(job: _Job, name: str, old: InstanceState) -> bool:
    """Whether the spare's copy of an instance is the output's (the same files, by inode).

    Both builds were verified against their digests, which cover each file's inode.
    """
    spare = job.spare.instances.get(name) if job.spare is not None else None
    return spare is not None and bool(old.digest) and spare.digest == old.digest


def _unchanged(job: _Job, f: RenderedFile, mode: int, was: Entry | None,
               old_sha: str | None) -> bool:
    """Whether the previous build's file at ``f.rel`` already is ``f``, with ``mode``."""
    if was is not None:  # recorded by the cache, verified: its manifest says what it holds
        if was.mode != mode:
            return False
        if old_sha is not None:
            return old_sha == f.sha256
        return _same(job.out / f.rel, f.data, mode)
    # Without a cache: compare the bytes (a file the cache does not know is new).
    return job.previous is None and f.rel in job.old and _same(job.out / f.rel, f.data, mode)


def _link_one(job: _Job, name: str) -> InstanceState:
    """Keep an unchanged instance: link its files from the previous build."""
    assert job.previous is not None
    cached = job.previous.instances[name]
    stage, out = str(job.stage), str(job.out)
    files = instance_files(job.out, cached)
    if files is None:  # edited since it was verified, a moment ago: nothing can be trusted
        raise EnvironmentFailureError("the previous build changed during the compile; run it "
                                      "again", job.out / name)
    held = _held(job, name, None)  # files are kept by inode: what they hold is not read
    if held is None:
        _clear(job, name)
        link = list(files)
    else:  # the stage's copy updated in place: files that are the output's stay
        link = [rel for rel, e in files.items()
                if (mine := held.files.get(rel)) is None or mine.ino != e.ino]
        inplace.prune(stage, held.files, files.keys() - set(link), inplace.folders(files))
    _mkdirs(stage, link)
    for rel in link:
        link_file(f"{out}/{rel}", f"{stage}/{rel}")
    return dataclasses.replace(cached, unchanged=len(files), written=0, removed=0)


def _keep_one(job: _Job, name: str) -> InstanceState:
    """An instance the stage (the spare) already holds exactly as the new build needs it.

    Its counts say what changed against the previous build, as if it had been rendered: an
    instance kept with the previous build's key is all unchanged; one whose key changed back
    to the spare's is compared with the previous build by the fragments (no file is read).
    """
    assert job.spare is not None
    kept = job.spare.instances[name]
    old = job.previous.instances.get(name) if job.previous is not None else None
    if old is not None and old.key == kept.key:
        return dataclasses.replace(kept, unchanged=kept.file_count(), written=0, removed=0)
    new = _contents(name, kept.fragment)
    was = _contents(name, old.fragment) if old is not None else {}
    written = sum(was.get(rel) != what for rel, what in new.items())
    return dataclasses.replace(kept, unchanged=len(new) - written, written=written,
                               removed=len(was.keys() - new.keys()))


def _contents(name: str, fragment: str) -> dict[str, tuple[str, int]]:
    """What each file of an instance holds, by its manifest fragment: (SHA-256, mode).

    The VERSION files are not artifacts: their text is the fragment's versions.
    """
    data = json.loads("{" + fragment + "}")[name]
    found = {f"{name}/{path}": (art["sha256"], file_mode(f"{name}/{path}", art["secret"]))
             for path, art in data["artifacts"].items()}
    found[f"{name}/VERSION"] = (f"{data['version']}\n", 0o644)
    found[f"{name}/hub/VERSION"] = (f"{data['hub_version']}\n", 0o644)
    return found


def _clear(job: _Job, name: str) -> None:
    """Remove what the spare held of an instance that is written anew."""
    if job.spare is not None and name in job.spare.instances:
        shutil.rmtree(job.stage / name)


def _remove_one(path: str) -> None:
    shutil.rmtree(path, ignore_errors=True)


def _work(job: _Job, task: tuple[str, Action]) -> InstanceState | None:
    """Carry out the plan for one instance; None when it is kept (the stage holds it).

    The caller makes the state of a kept instance: returning it from a worker would only
    pickle it there and back.
    """
    name, action = task
    if action is Action.RENDER:
        return _render_one(job, name)
    if action is Action.KEEP:
        return None
    return _link_one(job, name)


def _work_inherited(task: tuple[str, Action]) -> InstanceState | None:
    """:func:`_work` in a forked worker, on the job its pool initializer was given."""
    return _work(_INHERITED[0], task)


def worker_count(work: int) -> int:
    """How many processes render ``work`` (peers to render, or their equivalent)."""
    if not portable.can_fork():
        return 1  # see portable.can_fork: the same bytes, rendered here
    forced = os.environ.get("MVPN_JOBS", "")
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    cores = portable.cpu_count()
    return min(cores, 4) if work >= PARALLEL_MIN_PEERS else 1


def _workers(sizes: dict[str, int], tasks: list[tuple[str, Action]]) -> int:
    # Rendering a peer costs about as much as linking twenty files; keeping one, nothing.
    cost = {Action.LINK: 10, Action.KEEP: 0}
    return worker_count(sum(sizes[n] if a is Action.RENDER else cost[a] for n, a in tasks))


def render_group(views: list[InstanceView], qr: bool, stage: Path, out: Path,
                 old: set[str]) -> Iterator[InstanceState]:
    """Render ``views`` into ``stage`` of a build without a previous state, one at a time.

    For a process that checked these instances itself (:mod:`compiler.parallel`): the
    :class:`BuildJob` that takes ``stage`` over takes the states (:class:`External`).
    """
    job = _Job({v.name: v for v in views}, qr, stage, out.absolute(), None, old)
    for view in views:
        state = _render_one(job, view.name)
        state.files_digest()  # here, not in the parent: it saves the cache after the build
        yield state


def new_stage(out: Path) -> tuple[Path, set[str]]:
    """The stage of a build from nothing, made now, and the files of ``out`` without a state.

    For a build rendered elsewhere (:class:`External`), whose workers write into the stage
    from the moment they are forked.
    """
    out = out.absolute()
    old = _old_files(out) if out.is_dir() else set()
    return prepare_stage(out), old


class External(Protocol):
    """A build from nothing rendered elsewhere (:mod:`compiler.parallel`).

    It renders into a stage of :func:`new_stage`, which it owns until :meth:`BuildJob.start`
    takes it.
    """

    sizes: dict[str, int]

    def take_stage(self) -> tuple[Path, set[str]]:
        """The stage and the old files (see :func:`new_stage`), the job's from now on."""

    def states(self) -> Iterator[InstanceState]:
        """Each instance's state, in plan (name) order, as it is rendered."""


@contextlib.contextmanager
def _pool(workers: int, job: _Job) -> Iterator[Any]:
    """A pool of forked workers for ``job``, or None to work in this process.

    The workers inherit the job (the checked estate and the key ring) through ``fork``: the
    initializer's arguments of a forked pool are not pickled.
    """
    if workers <= 1:
        yield None
        return
    # Frozen, the inherited heap is never scanned by the workers' collector: scanning
    # writes to every object header, and each written page would be copied per worker.
    gc.freeze()
    # Ctrl-C reaches the whole process group: workers must not each print a traceback.
    # SIGINT stays blocked from before the fork until each worker ignores it; the parent
    # alone handles it (and terminates the pool on the way out).
    blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
    try:
        try:
            pool = multiprocessing.get_context("fork").Pool(
                workers, initializer=_worker_init, initargs=(job,))
        except BaseException:
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            raise
        with pool:  # a Ctrl-C that came meanwhile lands here, and the pool is terminated
            signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
            yield pool
    finally:
        gc.unfreeze()


def _worker_init(job: _Job) -> None:
    """A forked worker: its job, collector on, Ctrl-C ignored (the parent stops the pool)."""
    _INHERITED[:] = [job]
    gc.enable()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def _map(pool: Any, fn: Callable[[_T], _R], items: list[_T]) -> list[_R]:
    if pool is None or len(items) < 2:
        return [fn(item) for item in items]
    # Small chunks balance the load; instances differ in size.
    return list(pool.imap(fn, items, chunksize=max(1, len(items) // 64)))


class BuildJob:
    """One build of ``views`` (plus reused instances of ``previous``) into ``out``.

    ``previous`` is the verified state of the build now in ``out`` (from the cache) and
    ``reuse(name)`` says which of its instances are unchanged; ``keys`` are the input keys
    recorded for the next compile. :meth:`start` forks the workers and lets them render;
    :meth:`finish` waits, writes the manifest and swaps the build in; :meth:`abort` drops
    the stage. Nothing is swapped in before :meth:`finish`, so no partial build. Workers are
    forked only once the tree is checked (see :meth:`start`), with the collector's objects
    frozen: they share the parent's heap for reading, and the parent waits while they render.
    """

    def __init__(
        self, views: list[InstanceView], ring: KeyRing, qr: bool, out: Path, *,
        previous: BuildState | None = None, reuse: Callable[[str], bool] = lambda name: False,
        keys: dict[str, str] | None = None, external: External | None = None,
        ahead: dict[str, Ahead] | None = None,
    ) -> None:
        """Plan the build (:func:`plan_build`); nothing is done before :meth:`start`.

        ``external``: the instances (with their peer counts) are rendered elsewhere, into a
        stage this job takes over (``views`` is then empty). ``ahead``: instances already
        rendered (:func:`render_ahead`).
        """
        self.out, self.qr, self.previous = out.absolute(), qr, previous
        self.ahead = ahead if ahead is not None else {}
        self.views = {v.name: v for v in views}
        self.sizes = {name: len(v.peers) for name, v in self.views.items()}
        self.external = external
        if external is not None:
            self.sizes = external.sizes
        self.head = manifest_head(ring)
        self.keys = keys or {}
        self.plan = plan_build(self.sizes, previous, reuse, self.head, self.keys)
        self.tasks = list(self.plan.actions.items())
        self.noop = self.plan.noop
        self.stack = contextlib.ExitStack()
        self.stage: Path | None = None
        self.job: _Job | None = None
        self.pool: Any = None
        self.pending: Any = None

    def start(self) -> bool:
        """Create the stage and start rendering; returns whether anything was started."""
        if self.noop:
            return False
        out, spare = self.out, self.plan.spare
        if self.external is not None:
            assert self.previous is None, "an external render starts from nothing"
            self.stage, old = self.external.take_stage()
            self.job = _Job(self.views, self.qr, self.stage, out, None, old, None, self.ahead)
            self.pending = self.external.states()
            return True
        old = _old_files(out) if self.previous is None and out.is_dir() else set()
        self.stage = prepare_stage(out, spare_of(out) if spare is not None else None)
        self.job = _Job(self.views, self.qr, self.stage, out, self.previous, old, spare,
                        self.ahead)
        workers = _workers(self.sizes, self.tasks)
        self.pool = self.stack.enter_context(_pool(workers, self.job))
        if self.pool is not None and len(self.tasks) > 1:
            # imap, not map: results arrive in order as they are done (progress bar).
            self.pending = self.pool.imap(_work_inherited, self.tasks,
                                          chunksize=max(1, len(self.tasks) // 64))
        return True

    def abort(self) -> None:
        """Stop the workers and remove the stage; ``out`` is untouched."""
        self.stack.close()
        # Also when interrupted while the stage was being made, before it was recorded.
        shutil.rmtree(self.stage if self.stage is not None else stage_of(self.out),
                      ignore_errors=True)
        self.job = None

    def finish(
        self, progress: Callable[[int, int], None] | None = None,
    ) -> tuple[StreamedBuild, WriteStats, BuildState]:
        """Finish the build and swap it in; returns the build, what changed, the new state.

        ``progress`` hears (peers done, peers in all) as instances are finished.
        """
        previous = self.previous
        if self.noop and previous is not None:
            # Nothing to render and nothing removed: the build on disk is the result.
            files = sum(i.file_count() for i in previous.instances.values()) + 1
            return _streamed(self.out, previous), WriteStats(unchanged=files), previous
        if self.stage is None:
            self.start()
        job = self.job
        assert self.stage is not None and job is not None
        stage, out = self.stage, self.out
        try:
            pending = (self.pending if self.pending is not None
                       else (_work(job, task) for task in self.tasks))
            total = sum(self.sizes.values())
            results, done = [], 0
            for (name, _action), found in zip(self.tasks, pending, strict=True):
                results.append(found)
                if progress is not None and name in self.sizes:
                    done += self.sizes[name]
                    progress(done, total)
            states = [s if s is not None else _keep_one(job, n) for (n, _action), s in zip(
                self.tasks, results, strict=True)]
            state = BuildState(self.head, {s.name: s for s in states})
            for s in states:
                s.key = self.keys.get(s.name, "")
            if job.spare is not None:  # instances the spare had and the new build has not
                for name in job.spare.instances.keys() - state.instances.keys():
                    shutil.rmtree(stage / name)
            stats = _finish(stage, out, self.head, states, job.spare)
            stats.removed = _removed(job, state)
            shutil.rmtree(spare_of(out), ignore_errors=True)  # an unverified spare: stale
            moved = swap_in(stage, out)
            if moved is not None and previous is not None:
                # The previous build (verified, now beside the new one) becomes the spare:
                # the next compile updates it in place instead of linking every file anew.
                moved.rename(spare_of(out))
                state.spare = dataclasses.replace(previous, spare=None)
            elif moved is not None:
                _map(self.pool, _remove_one, [str(p) for p in moved.iterdir() if p.is_dir()])
                shutil.rmtree(moved, ignore_errors=True)
        except BaseException:
            shutil.rmtree(stage, ignore_errors=True)
            raise
        finally:
            self.stack.close()
            self.job = None
        state.manifest = entry((out / "manifest.json").stat())
        return _streamed(out, state), stats, state


def _removed(job: _Job, state: BuildState) -> int:
    """How many files of the previous build the new one no longer has."""
    if job.previous is None:
        return len(job.old - {"manifest.json"} - state.files())
    # An instance kept or linked has the same files; one rendered counted its own.
    return sum(s.removed for s in state.instances.values()) + sum(
        i.file_count() for name, i in job.previous.instances.items()
        if name not in state.instances)


def _finish(stage: Path, out: Path, head: dict[str, Any], states: list[InstanceState],
            spare: BuildState | None = None) -> WriteStats:
    """Count what the instances did and put ``manifest.json`` into the stage.

    The manifest is compared and written a fragment at a time, never as one text. ``spare``:
    the build the stage was made from, whose manifest the stage still holds.
    """
    stats = WriteStats(written=sum(s.written for s in states),
                       unchanged=sum(s.unchanged for s in states))
    fragments = [s.fragment for s in states]
    known = _known_pieces(head, fragments, spare)
    # Each instance's part ends with its fragment: where it lies is recorded (the cache
    # reads unchanged fragments back from this file instead of keeping a copy). The pieces
    # are measured without being encoded: they are ASCII (JSON escapes the rest).
    size = kept = 0
    for i, piece in enumerate(manifest_parts(head, fragments)):
        length = _length(piece)
        if 1 <= i <= len(states):
            fragment = _length(fragments[i - 1])
            states[i - 1].span = (size + length - fragment, fragment)
        size += length
        if i < known:
            kept = size

    def parts(skip: int = 0) -> Iterator[bytes]:
        return (piece.encode() for i, piece in enumerate(manifest_parts(head, fragments))
                if i >= skip)

    target = stage / "manifest.json"  # in a stage made from the spare: the spare's
    if same_parts(out / "manifest.json", parts(), 0o644, size):
        target.unlink(missing_ok=True)
        link_file(out / "manifest.json", target)
        stats.unchanged += 1
    else:
        tail = None
        if spare is not None and spare.manifest is not None and known:
            tail = Tail(kept, spare.manifest, parts(known))
        rewrite(target, parts(), 0o644, tail)
        stats.written += 1
    return stats


def _length(text: str) -> int:
    """The length of ``text`` in UTF-8 (for ASCII, which CPython knows at once: its length)."""
    return len(text) if text.isascii() else len(text.encode())


def _known_pieces(head: dict[str, Any], fragments: list[str], spare: BuildState | None,
                  ) -> int:
    """How many leading pieces of the new manifest the spare's ``manifest.json`` has already.

    The spare's manifest is the pieces of its head and fragments (verified with the spare):
    the same head and the same first fragments are the same first pieces, at the same places.
    """
    if spare is None or spare.head != head:
        return 0
    same = 0
    for new, old in zip(fragments, (i.fragment for i in spare.instances.values()),
                        strict=False):  # either may have more instances
        if new != old:
            break
        same += 1
    return 1 + same


def _streamed(out: Path, state: BuildState) -> StreamedBuild:
    return StreamedBuild(out / "manifest.json", len(state.instances), str(state.head["secrets"]))


__all__ = ["Ahead", "BuildJob", "External", "StreamedBuild", "new_stage", "render_ahead",
           "render_group", "worker_count"]
