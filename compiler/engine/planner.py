"""The build plan: what to do with each instance of the new build, decided before any I/O.

- ``RENDER``: its inputs changed, or nothing verified is there to reuse: render it;
- ``LINK``: unchanged, and the verified previous build has it: hard-link its files;
- ``KEEP``: the stage (the spare build, updated in place) already holds it exactly as the new
  build needs it: nothing to do. That is an unchanged instance the spare has with the same
  key, and also a changed one whose new key is the spare's: an edit undone (a branch checked
  out again, a site removed and added back) finds its artifacts in the build before last.

Pure: it reads only the cache state it is given, so it can be tested without a disk, and
:mod:`compiler.engine.engine` only executes what it decided.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Callable, Collection, Mapping
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
               reuse: Callable[[str], bool], head: dict[str, Any],
               keys: Mapping[str, str] | None = None) -> BuildPlan:
    """Plan a build of the instances ``fresh`` (checked now) and the reusable ``previous`` ones.

    ``previous`` is the verified state of the build in the output folder (None without a
    cache), ``reuse(name)`` whether an instance's inputs are the ones it was built from,
    ``head`` the new manifest head (a spare built with another head cannot be updated),
    ``keys`` the instances' input keys now (a key covers everything their artifacts are made
    from, so a spare instance with the same key holds exactly the artifacts it would get).
    """
    keys = keys or {}
    old = previous.instances if previous is not None else {}
    reused = {name for name in old if reuse(name)}
    spare = previous.spare if previous is not None else None
    if spare is not None and spare.head != head:
        spare = None
    actions: dict[str, Action] = {}
    for name in sorted({*fresh, *reused}):
        if name not in reused:
            held = spare.instances.get(name) if spare is not None else None
            same = held is not None and bool(keys.get(name)) and held.key == keys[name]
            actions[name] = Action.KEEP if same else Action.RENDER
        elif spare is not None and name in spare.instances and (
                spare.instances[name].key == old[name].key):
            actions[name] = Action.KEEP
        else:
            actions[name] = Action.LINK
    # Kept or linked is not enough: a changed instance kept from the spare differs from `out`.
    noop = (previous is not None and previous.head == head and list(actions) == sorted(old)
            and reused.issuperset(actions))
    return BuildPlan(actions, spare, noop)
