"""``mvpn plan``: what a change does, compared with a git revision (SPEC §6).

:mod:`.gitrev` materialises ROOT at the revision, :mod:`.diff` compares the two checked
and compiled trees, :mod:`.render` prints the result as text, Markdown or JSON.
"""

from compiler.plan.diff import PlanDiff, compare
from compiler.plan.gitrev import Revision, materialise, resolve

__all__ = ["PlanDiff", "Revision", "compare", "materialise", "resolve"]
