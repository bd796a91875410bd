"""Test helpers over :mod:`compiler.routeros` (the validator and its data ship in the package).

``validate(script)`` checks a script against the RouterOS version its header names (``# ...
RouterOS 7.18`` in the first lines, as every generated site script has), or 7.24 for a
snippet without one, and returns ``"line N: ..."`` strings: empty when the script is valid.
"""

from __future__ import annotations

import re

from compiler.routeros import Command, RouterOSTree, RscSyntaxError, tokenize
from compiler.routeros import validate as validate_problems

__all__ = [
    "DEFAULT_VERSION", "Command", "RouterOSTree", "RscSyntaxError", "script_version", "tokenize",
    "validate",
]

DEFAULT_VERSION = "7.24"
_HEADER_VERSION = re.compile(r"^#.*\bRouterOS (7\.\d+(?:\.\d+)?)\b", re.MULTILINE)


def script_version(script: str) -> str | None:
    """The RouterOS version a generated script's header names (first 5 lines), if any."""
    head = "\n".join(script.splitlines()[:5])
    match = _HEADER_VERSION.search(head)
    return match.group(1) if match else None


def validate(script: str, version: str | None = None) -> list[str]:
    """Problems of ``script`` on ``version`` (default: its header's, else 7.24) as strings."""
    version = version or script_version(script) or DEFAULT_VERSION
    return [str(p) for p in validate_problems(script, version)]
