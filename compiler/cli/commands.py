"""Subcommands beyond check and schema (compile, plan, allocate, graph, init)."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    """Add the remaining subcommands to the parser (filled in as they are built)."""
