r"""Text meant for a terminal or a CI log: hostile characters made visible, counted nouns.

Diagnostics and plans quote hostile input (file names, YAML keys and values), so what is
shown never passes a raw control character through: terminal escapes and other C0/C1
controls, format characters (bidi overrides, zero-width spaces), line separators and lone
surrogates become visible ``\x1b``-style escapes. Below every renderer of text (the CLI's
diagnostics, ``mvpn plan``), so none of them imports another.
"""

from __future__ import annotations

import unicodedata
from typing import Final

#: Unicode categories never shown raw: controls (C0, DEL, C1), format characters (bidi
#: overrides of "Trojan Source", zero-width spaces), lone surrogates, line separators.
_UNSAFE_CATEGORIES: Final = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})


def is_unsafe(ch: str) -> bool:
    """Whether ``ch`` must not reach a terminal or a CI log as it is."""
    return unicodedata.category(ch) in _UNSAFE_CATEGORIES


_NAMED_ESCAPES: Final = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def escape_char(ch: str) -> str:
    r"""The visible escape of ``ch``: ``\n``, ``\x1b``, ``\u202e``."""
    named = _NAMED_ESCAPES.get(ch)
    if named is not None:
        return named
    code = ord(ch)
    if code < 0x100:
        return f"\\x{code:02x}"
    return f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}"


def neutralize(text: str, keep: str = "") -> str:
    r"""Replace every unsafe character of ``text`` by a visible escape (``\x1b``).

    Characters in ``keep`` (for example ``"\n"``) pass through unchanged. A
    backslash is left as it is: the escapes are for a reader, not a parser.
    """
    if text.isprintable():
        return text  # the common case: nothing to do (isprintable is false for all unsafe)
    return "".join(escape_char(ch) if is_unsafe(ch) and ch not in keep else ch for ch in text)


def plural(n: int, word: str) -> str:
    """``1 error``, ``2 errors``."""
    return f"{n} {word}" if n == 1 else f"{n} {word}s"
