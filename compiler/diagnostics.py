"""Diagnostics are data: one type, collected everywhere, reported once.

Every stage (loader, model, checks) appends :class:`Diagnostic` values to a
:class:`Diagnostics` collector instead of raising, so a user sees every problem
of a tree in one run (SPEC §3).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from enum import StrEnum
from pathlib import Path
from typing import Final


class Severity(StrEnum):
    """How bad a diagnostic is; errors fail the run, warnings only under ``--strict``."""

    ERROR = "error"
    WARNING = "warning"


#: Every diagnostic code with its severity (SPEC §3 plus the workflow codes).
CODES: Final[dict[str, Severity]] = {
    "yaml-syntax": Severity.ERROR,
    "file-unsafe": Severity.ERROR,
    "schema": Severity.ERROR,
    "name-invalid": Severity.ERROR,
    "file-unexpected": Severity.WARNING,
    "hostname-invalid": Severity.ERROR,
    "hostname-reserved": Severity.ERROR,
    "hostname-duplicate": Severity.ERROR,
    "region-unknown": Severity.ERROR,
    "prefix-invalid": Severity.ERROR,
    "route-overlap": Severity.ERROR,
    "route-conflict": Severity.ERROR,
    "route-broad": Severity.ERROR,
    "route-cross-instance": Severity.WARNING,
    "address-invalid": Severity.ERROR,
    "address-duplicate": Severity.ERROR,
    "address-missing": Severity.ERROR,
    "peer-duplicate": Severity.ERROR,
    "protocol-unavailable": Severity.ERROR,
    "egress-unavailable": Severity.ERROR,
    "secret-in-repo": Severity.ERROR,
    "pool-exhausted": Severity.ERROR,
    "port-conflict": Severity.ERROR,
    # SPEC §8: access control and reachability assertions.
    "test-failed": Severity.ERROR,
    "rule-shadowed": Severity.WARNING,
    "reference-unknown": Severity.ERROR,
    # An assertion about a peer whose own file has errors (reported there): not evaluated.
    "reference-broken": Severity.WARNING,
    # SPEC §11: a site's RouterOS version lacks a command or argument its script needs.
    "routeros-unsupported": Severity.ERROR,
}


@dataclasses.dataclass(frozen=True, slots=True)
class Diagnostic:
    """One finding, pinned to a 1-based line and column of a file."""

    code: str
    severity: Severity
    message: str
    file: Path
    line: int
    column: int

    def sort_key(self) -> tuple[str, int, int, str, str]:
        """Order by place first so output is stable and grouped by file."""
        return (str(self.file), self.line, self.column, self.code, self.message)


class Diagnostics:
    """An ordered collection of diagnostics with error/warning counts."""

    def __init__(self) -> None:
        self._items: list[Diagnostic] = []
        self._seen: set[Diagnostic] = set()

    def add(self, code: str, message: str, file: Path, line: int = 1, column: int = 1) -> None:
        """Record a diagnostic; the severity comes from the code table."""
        diag = Diagnostic(code, CODES[code], message, file, max(line, 1), max(column, 1))
        if diag not in self._seen:
            self._seen.add(diag)
            self._items.append(diag)

    def extend(self, diags: Iterable[Diagnostic]) -> None:
        """Add already-built diagnostics (from a worker or a cache)."""
        for diag in diags:
            if diag not in self._seen:
                self._seen.add(diag)
                self._items.append(diag)

    def __iter__(self) -> Iterator[Diagnostic]:
        return iter(self._items)

    def __len__(self) -> int:
        return len(self._items)

    def sorted(self) -> list[Diagnostic]:
        """All diagnostics in a stable order: by file, line, column, code."""
        return sorted(self._items, key=Diagnostic.sort_key)

    @property
    def errors(self) -> int:
        """How many diagnostics are errors."""
        return sum(1 for d in self._items if d.severity is Severity.ERROR)

    @property
    def warnings(self) -> int:
        """How many diagnostics are warnings."""
        return sum(1 for d in self._items if d.severity is Severity.WARNING)


class UsageError(Exception):
    """A usage or environment problem: exit code 2, no diagnostics."""


class EnvironmentFailureError(UsageError):
    """The machine refused an operation: not a bug of ours, not the tree's fault.

    Disk full, read-only target, permissions, a path too long: printed as
    ``error: <what> (<path>)``, exit 2 (SPEC §6: usage or environment error).
    """

    def __init__(self, what: str, path: Path | str | None) -> None:
        """``what`` failed on ``path`` (as the OS named it; None when it did not)."""
        self.what = what
        self.path = Path(path) if path is not None else None
        super().__init__(what if path is None else f"{what} ({path})")
