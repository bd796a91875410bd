"""Test helpers over :mod:`compiler.routeros` (the validator and its data ship in the package).

``validate(script)`` checks a script against the RouterOS version its header names (``# ...
RouterOS 7.18`` in the first lines, as every generated site script has); a generated script
(``# mvpn ...``) that names none must be valid on every version 7.9-7.24, never silently on
just one; a hand-written snippet is checked on 7.24. It returns ``"line N: ..."`` strings:
empty when the script is valid.
"""

from __future__ import annotations

import re

from compiler.routeros import Command, RouterOSTree, RscSyntaxError, versions
from compiler.routeros import tokenize as tokenize_any
from compiler.routeros import validate as validate_problems
from compiler.routeros.tokenize import parse

__all__ = [
    "DEFAULT_VERSION", "Command", "RouterOSTree", "RscSyntaxError", "script_version", "tokenize",
    "validate",
]

DEFAULT_VERSION = "7.24"
_HEADER_VERSION = re.compile(r"^#.*\bRouterOS (7\.\d+(?:\.\d+)?)\b", re.MULTILINE)
_GENERATED = "# mvpn "


def script_version(script: str) -> str | None:
    """The RouterOS version a generated script's header names (first 5 lines), if any."""
    head = "\n".join(script.splitlines()[:5])
    match = _HEADER_VERSION.search(head)
    return match.group(1) if match else None


def validate(script: str, version: str | RouterOSTree | None = None) -> list[str]:
    """Problems of ``script`` on ``version`` (default: its header's, else 7.24) as strings."""
    version = version or script_version(script)
    if version is None and script.startswith(_GENERATED):
        found: dict[str, None] = {}  # every version's problems, each once, in order
        for release in versions():
            found.update(dict.fromkeys(str(p) for p in validate_problems(script, release)))
        return list(found)
    return [str(p) for p in validate_problems(script, version or DEFAULT_VERSION)]


def tokenize(script: str, tree: RouterOSTree | None = None) -> list[Command]:
    """Parse ``script``; menus resolve in ``tree``'s version, or in any version by default."""
    return tokenize_any(script) if tree is None else parse(script, tree.is_dir)
