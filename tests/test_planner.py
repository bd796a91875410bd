"""The build planner (compiler/engine/planner.py): RENDER / LINK / KEEP per instance, no I/O."""

from __future__ import annotations

import dataclasses

from compiler.engine.cache import BuildState, InstanceState
from compiler.engine.planner import Action, plan_build

HEAD = {"secrets": "derived", "compiler": "mvpn test"}
R, L, K = Action.RENDER, Action.LINK, Action.KEEP


def state(head: dict[str, str] = HEAD, **keys: str) -> BuildState:
    return BuildState(dict(head), {n: InstanceState(n, k, "", {}) for n, k in keys.items()})


def test_without_a_previous_build_everything_is_rendered() -> None:
    plan = plan_build({"b", "a"}, None, lambda name: True, HEAD)
    assert plan.actions == {"a": R, "b": R} and list(plan.actions) == ["a", "b"]
    assert not plan.noop and plan.spare is None


def test_unchanged_instances_are_linked_changed_rendered_removed_dropped() -> None:
    previous = state(a="ka", b="kb", gone="kg")
    plan = plan_build({"a", "b", "new"}, previous, lambda name: name == "a", HEAD)
    assert plan.actions == {"a": L, "b": R, "new": R}
    assert not plan.noop


def test_reused_instances_need_not_have_been_checked_again() -> None:
    # the incremental check hands over only the changed instances
    previous = state(a="ka", b="kb")
    plan = plan_build({"b"}, previous, lambda name: name == "a", HEAD)
    assert plan.actions == {"a": L, "b": R}


def test_nothing_changed_is_a_noop_unless_the_head_or_the_set_of_instances_did() -> None:
    previous = state(a="ka", b="kb")
    assert plan_build(set(), previous, lambda name: True, HEAD).noop
    other = {**HEAD, "secrets": "redacted"}
    assert not plan_build(set(), previous, lambda name: True, other).noop
    assert not plan_build(set(), previous, lambda name: name == "a", HEAD).noop  # b removed


def test_the_spare_keeps_what_it_holds_with_the_same_key_and_the_same_head() -> None:
    previous = dataclasses.replace(state(a="ka", b="kb", c="kc"),
                                   spare=state(a="ka", b="old-kb"))
    plan = plan_build({"a", "b", "c"}, previous, lambda name: True, HEAD)
    assert plan.actions == {"a": K, "b": L, "c": L}
    assert plan.spare is previous.spare
    stale = dataclasses.replace(previous, spare=state({**HEAD, "compiler": "older"}, a="ka"))
    plan = plan_build({"a"}, stale, lambda name: True, HEAD)
    assert plan.actions == {"a": L, "b": L, "c": L} and plan.spare is None


def test_a_changed_instance_whose_key_is_the_spare_s_is_kept_and_is_no_noop() -> None:
    """An edit undone: the spare holds the instance exactly as its new key makes it."""
    previous = dataclasses.replace(state(a="ka", b="kb"), spare=state(a="ka", b="kb-before"))
    keys = {"a": "ka", "b": "kb-before"}
    plan = plan_build({"b"}, previous, lambda name: name == "a", HEAD, keys)
    assert plan.actions == {"a": K, "b": K} and not plan.noop
    assert plan_build({"b"}, previous, lambda name: name == "a", HEAD,
                      {**keys, "b": "kb-new"}).actions == {"a": K, "b": R}
    unkeyed = dataclasses.replace(previous, spare=state(a="ka", b=""))  # no key: never kept
    assert plan_build({"b"}, unkeyed, lambda name: name == "a", HEAD, {"a": "ka", "b": ""},
                      ).actions == {"a": K, "b": R}
