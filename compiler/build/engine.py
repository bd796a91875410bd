"""Stream a build to disk: render instance by instance, on every core, reusing what is unchanged.

:func:`compile_build` is what ``mvpn compile`` runs. Unlike :func:`assemble` it never holds
the whole build in memory: each instance is rendered, written into the stage folder and
dropped (at 100k peers the artifacts are about 2 GB). Instances are independent (their
artifacts depend on ``vpn.yaml``, their own folder, the secret and the compiler), so they are
rendered by a pool of forked workers when there is enough work; the output is the same bytes
in the same order as :func:`assemble` gives, whatever the number of workers.

With a cache (:mod:`compiler.build.cache`), an instance whose inputs are unchanged is not
rendered at all: its files are hard-linked from the previous build, which the cache has
verified is exactly what the previous compile wrote. When nothing changed, nothing is
written (the build on disk already is the result).
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import os
import shutil
from collections.abc import Callable, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from compiler.build.assemble import OutFile, manifest_head, render_instance
from compiler.build.cache import BuildState, InstanceState, signature
from compiler.build.manifest import instance_fragment, manifest_text
from compiler.build.write import (
    WriteStats,
    _old_files,
    _same,
    link_file,
    prepare_stage,
    swap_in,
    write_new,
)
from compiler.keys import KeyRing
from compiler.render import InstanceView

#: Below this many peers to render, a worker pool costs more than it saves.
PARALLEL_MIN_PEERS = 2000


@dataclasses.dataclass
class StreamedBuild:
    """A build written to disk: the manifest text and every file's secrecy."""

    manifest_json: str
    secret_files: dict[str, bool]
    instances: int
    secrets: str

    @cached_property
    def manifest(self) -> dict[str, Any]:
        """The manifest as data (parsed on demand: it is large)."""
        import json

        data: dict[str, Any] = json.loads(self.manifest_json)
        return data

    @property
    def files(self) -> dict[str, OutFile]:
        """Every file of the build (without its bytes, which are on disk)."""
        return {rel: OutFile(b"", secret) for rel, secret in self.secret_files.items()}


@dataclasses.dataclass
class _Job:
    """What forked workers inherit: set before the pool starts, read-only afterwards."""

    views: dict[str, InstanceView]
    qr: bool
    stage: Path
    out: Path
    previous: BuildState | None  # verified previous build (cache), else None
    old: set[str]  # files of the previous build (without a cache: compared by content)


_JOB: _Job | None = None


def _mkdirs(stage: Path, rels: Sequence[str]) -> None:
    for folder in sorted({str(Path(rel).parent) for rel in rels}):
        path = stage / folder
        path.mkdir(parents=True, exist_ok=True)
        for part in [path, *path.parents]:
            if part == stage:
                break
            os.chmod(part, 0o755)


def _render_one(name: str) -> InstanceState:
    """Render one instance into the stage; keep files whose bytes did not change."""
    job = _JOB
    assert job is not None
    entry, files = render_instance(job.views[name], job.qr)
    _mkdirs(job.stage, [f.rel for f in files])
    known = job.previous.files() if job.previous is not None else {}
    state = InstanceState(name, "", instance_fragment(name, entry), {}, 0, 0)
    for f in files:
        mode = 0o600 if f.secret else 0o644
        target, prev = job.stage / f.rel, job.out / f.rel
        old = known.get(f.rel)
        if (old is not None and old.sha256 == f.sha256 and old.mode == mode) or (
            job.previous is None and f.rel in job.old and _same(prev, f.data, mode)
        ):
            link_file(prev, target)
            state.unchanged += 1
            sig = old if old is not None else signature(prev.stat(), f.sha256, f.secret)
        else:
            sig = signature(write_new(target, f.data, mode), f.sha256, f.secret)
            state.written += 1
        state.files[f.rel] = sig
    return state


def _link_one(name: str) -> InstanceState:
    """Keep an unchanged instance: link its files from the previous build."""
    job = _JOB
    assert job is not None and job.previous is not None
    cached = job.previous.instances[name]
    _mkdirs(job.stage, list(cached.files))
    for rel in cached.files:
        link_file(job.out / rel, job.stage / rel)
    return dataclasses.replace(cached, unchanged=len(cached.files), written=0)


def _work(task: tuple[str, bool]) -> InstanceState:
    name, render = task
    return _render_one(name) if render else _link_one(name)


def _workers(views: dict[str, InstanceView], render: list[str]) -> int:
    forced = os.environ.get("MVPN_JOBS", "")
    if forced.isdigit() and int(forced) > 0:
        return int(forced)
    peers = sum(len(views[name].peers) for name in render)
    cores = len(os.sched_getaffinity(0))
    return min(cores, 4) if peers >= PARALLEL_MIN_PEERS else 1


def _run(tasks: list[tuple[str, bool]], workers: int) -> list[InstanceState]:
    if workers <= 1 or len(tasks) < 2:
        return [_work(task) for task in tasks]
    # fork: workers inherit the checked estate and the key ring instead of unpickling them.
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        return list(pool.imap(_work, tasks, chunksize=max(1, len(tasks) // (workers * 16))))


def compile_build(
    views: list[InstanceView],
    ring: KeyRing,
    qr: bool,
    out: Path,
    previous: BuildState | None = None,
    reuse: Callable[[str], bool] = lambda name: False,
    keys: dict[str, str] | None = None,
) -> tuple[StreamedBuild, WriteStats, BuildState]:
    """Write the build of ``views`` (plus reused instances of ``previous``) into ``out``.

    ``previous`` is the verified state of the build now in ``out`` (from the cache) and
    ``reuse(name)`` says which of its instances are unchanged; ``keys`` are the input keys
    recorded for the next compile. Returns the build, what changed, and the new state.
    """
    global _JOB
    out = out.absolute()
    by_name = {v.name: v for v in views}
    names = sorted({*by_name, *(n for n in (previous.instances if previous else {}) if reuse(n))})
    tasks = [(n, n in by_name and not (previous is not None and reuse(n))) for n in names]
    head = manifest_head(ring)
    if previous is not None and previous.head == head and not any(r for _, r in tasks) and (
        names == sorted(previous.instances)
    ):
        # Nothing to render and nothing removed: the build on disk is the result.
        stats = WriteStats(unchanged=sum(len(i.files) for i in previous.instances.values()) + 1)
        return _streamed(previous), stats, previous
    old = _old_files(out) if previous is None and out.is_dir() else set()
    stage = prepare_stage(out)
    try:
        _JOB = _Job(by_name, qr, stage, out, previous, old)
        states = _run(tasks, _workers(by_name, [n for n, r in tasks if r]))
        state = BuildState(head, {s.name: s for s in states})
        for s in states:
            s.key = (keys or {}).get(s.name, "")
        text = manifest_text(head, [s.fragment for s in states])
        data = text.encode()
        stats = WriteStats(written=sum(s.written for s in states),
                           unchanged=sum(s.unchanged for s in states))
        if _same(out / "manifest.json", data, 0o644):
            link_file(out / "manifest.json", stage / "manifest.json")
            stats.unchanged += 1
        else:
            write_new(stage / "manifest.json", data, 0o644)
            stats.written += 1
        before = previous.files().keys() if previous is not None else old - {"manifest.json"}
        stats.removed = len(set(before) - state.files().keys())
        moved = swap_in(stage, out)
        if moved is not None:
            shutil.rmtree(moved, ignore_errors=True)
    except BaseException:
        shutil.rmtree(stage, ignore_errors=True)
        raise
    finally:
        _JOB = None
    state.manifest_sig = signature((out / "manifest.json").stat(), "", False)
    return _streamed(state, text), stats, state


def _streamed(state: BuildState, text: str | None = None) -> StreamedBuild:
    if text is None:
        text = manifest_text(state.head, [s.fragment for s in state.instances.values()])
    files = {"manifest.json": False, **{rel: sig.secret for rel, sig in state.files().items()}}
    return StreamedBuild(text, files, len(state.instances), str(state.head["secrets"]))


__all__ = ["StreamedBuild", "compile_build"]
