"""Print the lowest allowed version of every runtime dependency as pip constraints.

``make test-min`` installs these (``pip install -c``) into a second venv and runs the unit
tests there, so a floor in pyproject.toml can never claim more than the code supports.
Every runtime dependency must have a ``>=`` floor; one without is an error here.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

_FLOOR = re.compile(r"^([A-Za-z0-9._-]+)(?:\[[^\]]*\])?\s*>=\s*([0-9][0-9A-Za-z.]*)\s*(?:,.*)?$")


def floors(pyproject: Path) -> list[str]:
    """``name==floor`` for each entry of ``[project] dependencies``."""
    deps = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]["dependencies"]
    out = []
    for dep in deps:
        match = _FLOOR.match(dep)
        if match is None:
            raise SystemExit(f"{pyproject}: dependency {dep!r} has no '>=' floor")
        out.append(f"{match[1]}=={match[2]}")
    return out


if __name__ == "__main__":
    root = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parents[1]
    print("\n".join(floors(root / "pyproject.toml")))
