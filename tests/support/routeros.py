"""Test helpers over :mod:`compiler.routeros` (the validator and its data ship in the package).

``validate(script)`` checks a script against the RouterOS version its header names (``# ...
RouterOS 7.18`` in the first lines, as every generated site script has: a generated script
without one is an error, never silently checked against another version), or 7.24 for a
hand-written snippet, and returns ``"line N: ..."`` strings: empty when the script is valid.
"""

from __future__ import annotations

import re

from compiler.routeros import Command, RouterOSTree, RscSyntaxError
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
    if version is None:
        version = script_version(script)
        assert version is not None or not script.startswith(_GENERATED), (
            "a generated script must name its RouterOS version in its header")
    return [str(p) for p in validate_problems(script, version or DEFAULT_VERSION)]


def tokenize(script: str, tree: RouterOSTree | None = None) -> list[Command]:
    """Parse ``script``; menus resolve in ``tree``'s version, or in any version by default."""
    return tokenize_any(script) if tree is None else parse(script, tree.is_dir)
