"""The library API under the CLI: load, check (and later compile) a config tree."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from compiler.checks import Graph, run_checks
from compiler.diagnostics import Diagnostics, UsageError
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
