"""Content versions: a short hash of what an artifact says, without its own stamp."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from compiler.render.env import VERSION_SLOT

VERSION_LEN = 12


def short_hash(data: bytes) -> str:
    """The first 12 hex digits of SHA-256."""
    return hashlib.sha256(data).hexdigest()[:VERSION_LEN]


def stamp(text: str) -> tuple[str, bytes]:
    """Hash ``text`` with its version slot empty, then write the version into the slot."""
    version = short_hash(text.encode("utf-8"))
    return version, text.replace(VERSION_SLOT, version).encode("utf-8")


def combine(parts: Iterable[tuple[str, str]]) -> str:
    """One version over many (path, version) pairs: changes iff any part changes."""
    lines = "".join(f"{path}\t{version}\n" for path, version in sorted(parts))
    return short_hash(lines.encode("utf-8"))
