"""The library API under the CLI: load, check (and later compile) a config tree."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from compiler import allocate as allocation
from compiler.allocate import Assignment
from compiler.build import Build, WriteStats, assemble, write_build
from compiler.build.assemble import Progress
from compiler.checks import Graph, run_checks
from compiler.checks.reach import Verdict
from compiler.diagnostics import Diagnostics, UsageError
from compiler.keys import KeyRing
from compiler.loader.walk import walk
from compiler.model.estate import Estate, build_estate
from compiler.plan import PlanDiff, compare, gitrev


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


def check(root: Path) -> CheckResult:
    """Load and check the tree at ``root``; raises :class:`UsageError` if it is no directory."""
    if not root.exists():
        raise UsageError(f"config tree '{root}' does not exist")
    if not root.is_dir():
        raise UsageError(f"config tree '{root}' is not a directory")
    diags = Diagnostics()
    raw = walk(root, diags)
    estate = build_estate(raw, diags)
    graph = run_checks(estate, diags)
    return CheckResult(estate, diags, graph)


def explain(result: CheckResult, src: str, dst: str, probe: str = "icmp") -> Verdict:
    """``check --explain``: the path from ``src`` (INSTANCE/PEER) to ``dst`` and what decides."""
    from compiler.checks.reach import explain as _explain

    try:
        return _explain(result.estate, src, dst, probe)
    except LookupError as exc:
        raise UsageError(f"--explain: {exc.args[0]}") from None


@dataclasses.dataclass
class CompileResult:
    """A compile: the check it rests on, and (when clean) the build and what was written."""

    check: CheckResult
    build: Build | None = None
    stats: WriteStats | None = None


def compile_tree(
    root: Path, out: Path, secret: bytes | None, qr: bool = True, progress: Progress | None = None
) -> CompileResult:
    """Check ``root``; when it has no errors, render everything and write ``out`` atomically.

    With errors nothing is rendered and nothing is written (no partial build).
    """
    result = check(root)
    if not result.ok:
        return CompileResult(result)
    build = assemble(result.estate, KeyRing(secret), qr=qr, progress=progress)
    stats = write_build(build, out)
    return CompileResult(result, build, stats)


@dataclasses.dataclass
class AllocateResult:
    """An allocation: the check it rests on, what blocks it, and what was assigned."""

    check: CheckResult
    diagnostics: Diagnostics
    assignments: list[Assignment]

    @property
    def ok(self) -> bool:
        """Every missing address was assigned (or none was missing)."""
        return self.diagnostics.errors == 0


def allocate(root: Path) -> AllocateResult:
    """Fill every missing ``address``/``address6`` under ``root`` with the lowest free one.

    Refuses (assigning nothing) when the tree has errors other than ``address-missing``,
    which are then the result's diagnostics, or when a pool is full (``pool-exhausted``).
    """
    result = check(root)
    blocking = Diagnostics()
    blocking.extend(d for d in result.diagnostics if d.code != "address-missing")
    if blocking.errors:
        return AllocateResult(result, blocking, [])
    wanted = allocation.plan(result.estate, result.graph, blocking)
    if blocking.errors:
        return AllocateResult(result, blocking, [])
    return AllocateResult(result, blocking, allocation.apply(wanted, blocking))


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
    with gitrev.materialise(revision) as tree:
        folder = "" if str(revision.root) == "." else f"{revision.root}/"
        base = _relabel(check(tree), tree, f"{rev}:{folder}")
        if not (base.ok and head.ok):
            return PlanResult(base, head, None, labels)
        ring = KeyRing(secret)
        old = assemble(base.estate, ring, qr=False)
        new = assemble(head.estate, ring, qr=False)
        result = compare(base.estate, head.estate, old, new,
                           labels=(revision.label, "working tree"), root=str(revision.root))
    return PlanResult(base, head, result, labels)
