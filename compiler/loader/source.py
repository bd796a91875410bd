"""A file read from the config tree, with lazy positions for diagnostics."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

from compiler.diagnostics import Diagnostics
from compiler.loader.yamlread import locate


@dataclasses.dataclass(slots=False, eq=False)
class SourceFile:
    """One file of the tree: its text, and (for YAML) its parsed value.

    ``ok`` is false when the YAML could not be parsed; a diagnostic says why.
    """

    path: Path
    text: str
    data: Any = None
    ok: bool = True

    @cached_property
    def lines(self) -> list[str]:
        """The file's lines as YAML counts them (only a newline ends a line), for quoting."""
        return [line.removesuffix("\r") for line in self.text.split("\n")]

    def pos(self, loc: Sequence[str | int], key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at ``loc`` (of its key when ``key``)."""
        if not loc and not key:
            return (1, 1)
        return locate(self.text, loc, key=key)

    def report(
        self,
        diags: Diagnostics,
        code: str,
        message: str,
        loc: Sequence[str | int] = (),
        key: bool = False,
    ) -> None:
        """Add a diagnostic pointing at ``loc`` in this file."""
        line, column = self.pos(loc, key)
        diags.add(code, message, self.path, line, column)
