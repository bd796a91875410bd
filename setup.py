"""Build hook: ship ``templates/`` (kept at the top of the repository) inside the wheel.

Everything else is declared in pyproject.toml (apart from setuptools' build folder, below).
The templates become package data under ``compiler/templates/`` in the built wheel, found by
``compiler.render.env``; copying the whole tree means a new template folder needs no
packaging change.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildWithTemplates(build_py):
    """``build_py`` that also copies ``templates/**/*.j2`` to ``compiler/templates/``."""

    def run(self) -> None:
        """Build the package, then add the templates beside its modules."""
        super().run()
        source = Path(__file__).resolve().parent / "templates"
        target = Path(self.build_lib) / "compiler" / "templates"
        for path in sorted(source.rglob("*.j2")):
            dest = target / path.relative_to(source)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)


# setuptools' own build folder is build/ by default: where `make compile` writes, and an mvpn
# build refuses a folder it did not write. `pip install .` would then break `make compile`.
setup(cmdclass={"build_py": BuildWithTemplates},
      options={"build": {"build_base": ".build-setuptools"}})
