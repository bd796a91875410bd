"""``secret-in-repo``: private keys committed to the tree (mvpn derives them from one secret)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from compiler.diagnostics import Diagnostics
from compiler.loader.source import OtherFile, SourceFile
from compiler.loader.yamlread import line_col, line_starts
from compiler.model.estate import Estate

_PEM: Final = re.compile(r"-----BEGIN ([A-Z0-9 ]*)PRIVATE KEY-----")
_WG_KEY: Final = re.compile(
    r"(?<![A-Za-z0-9+/])[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=(?![A-Za-z0-9+/=])"
)
#: Characters of a WireGuard key before its final '='.
_KEY_BEFORE_EQUALS: Final = 43
_PUBLIC_LINE: Final = re.compile(r"^\s*(?:-\s*)?[\"']?public_?key[\"']?\s*[:=]", re.IGNORECASE)
_PRIVATE_WORD: Final = re.compile(r"private", re.IGNORECASE)

_ADVICE = (
    "never commit private keys: mvpn derives every key from MVPN_SECRET. "
    "Remove it from the tree (and its git history) and rotate it"
)


def _wg_keys(text: str) -> Iterator[re.Match[str]]:
    """``_WG_KEY.finditer(text)``, tried only where a key would end: at each '='.

    A key is 43 characters and an '=', and two never overlap (the '=' is not a key
    character), so trying the pattern 43 characters before each '=' finds the same matches
    in the same order. Every generated peer file has one '=' (in its schema comment): one
    anchored try instead of a search through the file (2 µs a file, 0.3 s at 100k peers).
    """
    end = text.find("=", _KEY_BEFORE_EQUALS)
    while end >= 0:
        found = _WG_KEY.match(text, end - _KEY_BEFORE_EQUALS)
        if found is not None:
            yield found
        end = text.find("=", end + 1)


def scan(source: SourceFile, yaml_file: bool, diags: Diagnostics) -> None:
    """Report PEM private keys and WireGuard-key-like values (positions only, never the key).

    Another file's text is read here, one file at a time, and dropped after the scan.
    """
    text = source.read_text() if isinstance(source, OtherFile) else source.text
    if "KEY-----" not in text and "=" not in text:
        return
    starts: list[int] = []

    def _line_col(offset: int) -> tuple[int, int]:
        if not starts:
            starts.extend(line_starts(text))
        return line_col(text, offset, starts)

    if "PRIVATE KEY-----" in text:  # what _PEM needs, found without a regular expression
        for match in _PEM.finditer(text):
            line, col = _line_col(match.start())
            diags.add("secret-in-repo", f"a PEM private key block; {_ADVICE}", source.path,
                      line, col)
    for match in _wg_keys(text):
        start = text.rfind("\n", 0, match.start()) + 1
        end = text.find("\n", match.end())
        line_text = text[start : end if end >= 0 else len(text)]
        if _PUBLIC_LINE.match(line_text):
            continue  # `public_key:` legitimately holds a user's WireGuard public key
        if not yaml_file and not _PRIVATE_WORD.search(line_text):
            continue  # outside the config files only flag what calls itself private
        line, col = _line_col(match.start())
        diags.add(
            "secret-in-repo", f"this looks like a WireGuard private key; {_ADVICE}",
            source.path, line, col,
        )


def check_secrets(estate: Estate, diags: Diagnostics) -> None:
    """Scan every file of the tree, YAML or not."""
    for source in estate.raw.sources():
        scan(source, yaml_file=True, diags=diags)
    for source in estate.raw.others:
        scan(source, yaml_file=False, diags=diags)
