"""The library API under the CLI: load, check (and later compile) a config tree."""

from __future__ import annotations

import contextlib
import dataclasses
import gc
from collections.abc import Iterator
from pathlib import Path

from compiler.build import Build, WriteStats
from compiler.build.cache import BuildCache
from compiler.build.engine import StreamedBuild, compile_build
from compiler.checks import Graph, run_checks
from compiler.diagnostics import Diagnostics, UsageError
from compiler.incremental import check_incrementally, instance_keys, summary
from compiler.keys import KeyRing
from compiler.loader.walk import walk
from compiler.model.estate import Estate, build_estate
from compiler.render import instance_views

#: Set by the command line entry point: the process runs one command, then exits.
ONE_SHOT = False


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
        raw = walk(root, diags)
        estate = build_estate(raw, diags)
        graph = run_checks(estate, diags)
    return CheckResult(estate, diags, graph)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a tree is loaded and checked.

    Loading allocates a few objects per file and frees almost none, so every
    collection scans the whole growing heap for nothing: at 100k peers the
    collector took about a third of `mvpn check`. Reference counting still frees
    everything that is not in a cycle.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if ONE_SHOT:
            # What was loaded lives until the process ends: keep later collections from
            # scanning it again (a full collection over a 100k-peer estate takes ~1 s).
            gc.freeze()
        if enabled:
            gc.enable()


@dataclasses.dataclass
class CompileResult:
    """A compile: the check it rests on, and (when clean) the build and what was written.

    After an incremental compile (``cache=True``), ``check.estate`` holds the instances that
    were checked again (those whose files changed); ``reused`` names the others.
    """

    check: CheckResult
    build: Build | StreamedBuild | None = None
    stats: WriteStats | None = None
    reused: list[str] = dataclasses.field(default_factory=list)

    def built(self) -> tuple[int, str]:
        """(instances built, ``"derived"`` or ``"redacted"``), without parsing the manifest."""
        assert self.build is not None
        if isinstance(self.build, StreamedBuild):
            return self.build.instances, self.build.secrets
        manifest = self.build.manifest
        return len(manifest["instances"]), str(manifest["secrets"])


def compile_tree(
    root: Path, out: Path, secret: bytes | None, qr: bool = True, cache: bool = False,
) -> CompileResult:
    """Check ``root``; when it has no errors, render everything and write ``out`` atomically.

    With errors nothing is rendered and nothing is written (no partial build). With
    ``cache``, state kept in ``.mvpn-cache/`` beside ``out`` lets unchanged instances be
    neither re-checked nor re-rendered (see :mod:`compiler.build.cache`); the output bytes
    are the same either way.
    """
    ring = KeyRing(secret)
    store = BuildCache(out, f"{ring.cache_id()}/qr={qr}") if cache else None
    previous = store.load() if store is not None else None
    fast = None
    if store is not None and previous is not None:
        _ensure_tree(root)
        with gc_paused():
            fast = check_incrementally(root, store.context, previous)
    if fast is not None:
        result = CheckResult(fast.estate, Diagnostics(), None)
        keys, summaries = fast.keys, fast.summaries
    else:
        result = check(root)
        if not result.ok:
            return CompileResult(result)
        raw = result.estate.raw
        keys = instance_keys(raw, store.context) if store is not None else {}
        summaries = {name: summary(inst) for name, inst in result.estate.instances.items()}
    views = instance_views(result.estate, ring)
    reuse = fast.reuse if fast is not None else set()
    if store is not None:
        store.forget()  # until the new state is saved, the old one no longer describes `out`
    with gc_paused():
        build, stats, state = compile_build(
            views, ring, qr, out, previous if fast is not None else None, reuse.__contains__,
            keys,
        )
    if store is not None:
        for name, inst_state in state.instances.items():
            inst_state.summary = summaries.get(name)
        store.save(state)
    return CompileResult(result, build, stats, sorted(reuse))
