"""The build plan: what to do with each instance of the new build, decided before any I/O.

- ``RENDER``: its inputs changed, or nothing verified is there to reuse: render it;
- ``LINK``: unchanged, and the verified previous build has it: hard-link its files;
- ``KEEP``: unchanged, and the stage (the spare build, updated in place) already holds it
  exactly as the new build needs it: nothing to do.

Pure: it reads only the cache state it is given, so it can be tested without a disk, and
:mod:`compiler.engine.engine` only executes what it decided.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Collection
from typing import Any

from compiler.engine.cache import BuildState


class Action(enum.Enum):
    """What the engine does with one instance."""

    RENDER = "render"
    LINK = "link"
    KEEP = "keep"


@dataclasses.dataclass(frozen=True)
class BuildPlan:
    """Every instance of the new build (in the manifest's order) with its action."""

    actions: dict[str, Action]
    spare: BuildState | None  # the spare build the stage starts from, when it can be used
    noop: bool  # nothing to render, nothing removed: the build on disk is the result


def plan_build(fresh: Collection[str], previous: BuildState | None,
               reuse: Callable[[str], bool], head: dict[str, Any]) -> BuildPlan:
    """Plan a build of the instances ``fresh`` (checked now) and the reusable ``previous`` ones.

    ``previous`` is the verified state of the build in the output folder (None without a
    cache), ``reuse(name)`` whether an instance's inputs are the ones it was built from,
    ``head`` the new manifest head (a spare built with another head cannot be updated).
    """
    old = previous.instances if previous is not None else {}
    reused = {name for name in old if reuse(name)}
    spare = previous.spare if previous is not None else None
    if spare is not None and spare.head != head:
        spare = None
    actions: dict[str, Action] = {}
    for name in sorted({*fresh, *reused}):
        if name not in reused:
            actions[name] = Action.RENDER
        elif spare is not None and name in spare.instances and (
                spare.instances[name].key == old[name].key):
            actions[name] = Action.KEEP
        else:
            actions[name] = Action.LINK
    noop = (previous is not None and previous.head == head and list(actions) == sorted(old)
            and Action.RENDER not in actions.values())
    return BuildPlan(actions, spare, noop)
