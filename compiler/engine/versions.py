"""Content versions: a short hash of what an artifact says, without its own stamp."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from compiler.render.env import VERSION_SLOT

VERSION_LEN = 12
_SLOT_BYTES = VERSION_SLOT.encode("ascii")


def short_hash(data: bytes) -> str:
    """The first 12 hex digits of SHA-256."""
    return hashlib.sha256(data).hexdigest()[:VERSION_LEN]


def stamp(text: str) -> tuple[str, bytes]:
    """Hash ``text`` with its version slot empty, then write the version into the slot."""
    # Encoded once: the slot is ASCII, so replacing it in the bytes is the same as in the text.
    data = text.encode("utf-8")
    version = short_hash(data)
    return version, data.replace(_SLOT_BYTES, version.encode("ascii"))


def combine(parts: Iterable[tuple[str, str]]) -> str:
    """One version over many (path, version) pairs: changes iff any part changes."""
    lines = "".join(f"{path}\t{version}\n" for path, version in sorted(parts))
    return short_hash(lines.encode("utf-8"))
