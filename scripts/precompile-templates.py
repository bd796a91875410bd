"""Write compiler/render/jinjacode_data.py: the Jinja code of every template, compiled ahead.

Run after editing a template (``tests/test_jinjacode.py`` fails until then; the compiler
meanwhile compiles the edited template from its source, with the same output):

    .venv/bin/python scripts/precompile-templates.py
"""

from __future__ import annotations

from pathlib import Path

from compiler.render import jinjacode
from compiler.render.env import TEMPLATES, environment

TARGET = Path(jinjacode.__file__).with_name("jinjacode_data.py")


def main() -> None:
    """Regenerate the module from ``templates/``."""
    names = [path.relative_to(TEMPLATES).as_posix() for path in TEMPLATES.rglob("*.j2")]
    TARGET.write_text(jinjacode.module_text(environment(), names), encoding="utf-8")
    print(f"wrote {TARGET} ({len(names)} templates)")


if __name__ == "__main__":
    main()
