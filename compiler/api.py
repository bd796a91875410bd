"""The library API under the CLI: load, check (and later compile) a config tree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from compiler.build import Build, WriteStats, assemble, write_build
from compiler.checks import Graph, run_checks
from compiler.checks.reach import Verdict
from compiler.diagnostics import Diagnostics, UsageError
from compiler.keys import KeyRing
from compiler.loader.walk import walk
from compiler.model.estate import Estate, build_estate


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


def compile_tree(root: Path, out: Path, secret: bytes | None, qr: bool = True) -> CompileResult:
    """Check ``root``; when it has no errors, render everything and write ``out`` atomically.

    With errors nothing is rendered and nothing is written (no partial build).
    """
    result = check(root)
    if not result.ok:
        return CompileResult(result)
    build = assemble(result.estate, KeyRing(secret), qr=qr)
    stats = write_build(build, out)
    return CompileResult(result, build, stats)
