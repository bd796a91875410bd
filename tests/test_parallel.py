"""A cold compile checked and rendered by workers, a group of instances each (issue 14).

The oracle is the compile of one process (``MVPN_JOBS=1``) and ``mvpn check``: through the
edits of ``tests/test_incremental.py`` (warnings, a ``tests.yaml``, broken assertions, a
stray file, a cross-instance warning...), a compile from nothing with two workers prints
exactly what ``mvpn check`` prints, writes the same bytes, and records for the next compile
what a compile of one process records. Where the workers' diagnostics might not be the
tree's, the workers must be stopped before rendering: that is checked too, case by case.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from compiler import parallel
from compiler.api import check, compile_tree
from compiler.diagnostics import CODES
from compiler.engine import engine
from compiler.engine.cache import BuildCache
from compiler.incremental import ACROSS
from compiler.keys import KeyRing
from compiler.loader import status
from tests.support.trees import TEST_SECRET, build_file_tree
from tests.test_build_atomic import snapshot
from tests.test_incremental import EDITS, printed, tree


class Spy:
    """Whether the last compile was split, and whether its workers rendered."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.started = self.rendered = False
        real_start, real_render = parallel.start, parallel.Split.states

        def start(*args: Any, **kwargs: Any) -> parallel.Split | None:
            found = real_start(*args, **kwargs)
            self.started = found is not None
            return found

        def render(split: parallel.Split, *args: Any) -> Any:
            self.rendered = True
            return real_render(split, *args)

        monkeypatch.setattr(parallel, "start", start)
        monkeypatch.setattr(parallel.Split, "states", render)

    def reset(self) -> None:
        self.started = self.rendered = False


def _memo(out: Path) -> tuple[Any, ...]:
    """What a compile recorded for the next one's incremental check."""
    state = BuildCache(out, f"{KeyRing(TEST_SECRET).cache_id()}/qr=False").load()
    assert state is not None
    return ({n: (i.key, i.summary, i.diagnostics, i.stat_key)
             for n, i in state.instances.items()}, state.assertions, state.across_clean)


def test_groups_balance_the_peers_and_keep_the_build_order() -> None:
    assert parallel.groups({"a": 5, "b": 3, "c": 3, "d": 1}, 2) == [["a", "d"], ["b", "c"]]
    assert parallel.groups({"b": 1, "a": 1}, 4) == [["a"], ["b"]]  # no empty group
    assert parallel.groups({"x": 0}, 1) == [["x"]]


def test_workers_say_and_build_what_one_process_does_through_every_edit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Stat keys are taken of fresh files too (else every folder here would get None).
    monkeypatch.setattr(status, "RACY_NS", -(10**12))
    spy = Spy(monkeypatch)
    root = tree(tmp_path / "src")
    rendered = 0
    for step, (what, apply, _checked, _assertions) in enumerate(EDITS):
        apply(root)
        full = check(root)
        monkeypatch.setenv("MVPN_JOBS", "2")
        spy.reset()
        split = compile_tree(root, tmp_path / f"split{step}", TEST_SECRET, qr=False, cache=True)
        assert spy.started, what  # two instances, two workers
        assert split.check.diagnostics.sorted() == full.diagnostics.sorted(), what
        assert printed(split.check, split.check.diagnostics) == printed(
            full, full.diagnostics), what
        # Workers render only when their groups' diagnostics are the tree's: no error, no
        # cross-instance finding, nothing outside the instances but what the walk said.
        trusted = full.ok and not any(
            d.code in ACROSS or d.file.name == "tests.yaml" for d in full.diagnostics)
        assert spy.rendered == trusted, what
        rendered += spy.rendered
        if not full.ok:
            assert split.build is None and not (tmp_path / f"split{step}").exists(), what
            continue
        monkeypatch.setenv("MVPN_JOBS", "1")
        spy.reset()
        single = compile_tree(root, tmp_path / f"one{step}", TEST_SECRET, qr=False, cache=True)
        assert not spy.started, what
        assert snapshot(tmp_path / f"split{step}") == snapshot(tmp_path / f"one{step}"), what
        assert _memo(tmp_path / f"split{step}") == _memo(tmp_path / f"one{step}"), what
        # The memo serves the next compile: nothing changed, nothing is checked again.
        again = compile_tree(root, tmp_path / f"split{step}", TEST_SECRET, qr=False, cache=True)
        assert again.reused == ["acme-eu", "acme-us"], what
        across = any(d.code in ACROSS for d in full.diagnostics)  # always the full check
        assert sorted(again.check.estate.instances) == (["acme-eu", "acme-us"] if across
                                                         else []), what
        assert again.check.diagnostics.sorted() == full.diagnostics.sorted(), what
        assert again.stats is not None and again.stats.written == 0, what
        del single
    assert rendered >= len(EDITS) - 6  # most steps were built by the workers


def _three(root: Path) -> Path:
    """The edits' tree with a third instance (three groups of work for two workers)."""
    tree(root)
    files: dict[str, Any] = {
        "acme-ap/instance.yaml": {
            "hostname": "acme-ap", "region": "sjc",
            "wireguard": {"port": 51820, "network": "10.252.0.0/24"},
            "routing": {"pushed_routes": ["10.2.0.0/16"]},
        },
        "acme-ap/peers/tokyo.yaml": {"type": "site", "site": "tokyo-office",
                                     "address": "10.252.0.10", "subnets": ["10.50.0.0/24"]},
        "acme-ap/peers/kenji.yaml": {"type": "client", "user": "kenji@example.com",
                                     "address": "10.252.0.11"},
    }
    return build_file_tree(root, files)


@pytest.mark.parametrize(("what", "rel", "old", "new", "codes"), [
    ("an error in one instance", "acme-us/peers/denver.yaml", "10.253.0.12", "10.253.0.10",
     ["address-duplicate"] * 2),
    ("the same hostname in two instances", "acme-ap/instance.yaml", "hostname: acme-ap",
     "hostname: acme-eu", ["hostname-duplicate"] * 2),
    ("a YAML error", "acme-ap/peers/kenji.yaml", "type: client", "type: [client",
     ["yaml-syntax"]),
    ("a YAML error in an instance.yaml", "acme-ap/instance.yaml", "hostname: acme-ap",
     "hostname: [acme-ap", ["yaml-syntax"]),
])
def test_nothing_the_workers_rendered_is_kept_where_the_tree_must_be_checked_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, what: str, rel: str, old: str, new: str,
    codes: list[str],
) -> None:
    spy = Spy(monkeypatch)
    monkeypatch.setenv("MVPN_JOBS", "2")
    root = _three(tmp_path / "src")
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")
    full = check(root)
    result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True)
    assert [d.code for d in result.check.diagnostics.sorted()
            if d.code != "route-unaggregated"] == codes, what  # munich's warning aside
    assert all(CODES[c].severity == "error" for c in codes)
    assert result.check.diagnostics.sorted() == full.diagnostics.sorted(), what
    assert result.build is None and not spy.rendered, what
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"], what  # no stage, no cache
    assert multiprocessing.active_children() == [], what  # every worker is gone


def test_a_worker_that_fails_fails_the_compile_and_leaves_the_previous_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = _three(tmp_path / "src"), tmp_path / "out"
    assert compile_tree(root, out, TEST_SECRET, qr=False).build is not None
    before = snapshot(out)
    real = engine._render_one

    def broken(job: Any, name: str) -> Any:
        if name == "acme-us":
            raise RuntimeError("rendering acme-us failed")
        return real(job, name)

    monkeypatch.setattr(engine, "_render_one", broken)  # inherited by the forked workers
    monkeypatch.setenv("MVPN_JOBS", "2")
    spy = Spy(monkeypatch)
    with pytest.raises(RuntimeError, match="rendering acme-us failed"):
        compile_tree(root, out, TEST_SECRET, qr=False, cache=False)
    assert spy.rendered
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out", "src"]  # the stage is gone
    assert multiprocessing.active_children() == []


def test_a_worker_renders_while_another_still_checks(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No barrier: a clean group is rendered at once; the parent keeps what came meanwhile."""
    root = _three(tmp_path / "src")
    real_check, real_states = parallel._check, parallel.Split.states

    def slow(top: Any, group: list[str], *args: Any) -> Any:
        if "acme-us" in group:
            time.sleep(1.5)
        return real_check(top, group, *args)

    early: list[int] = []

    def states(split: parallel.Split) -> Any:
        early.append(sum(kind == "state" for messages in split.early.values()
                         for kind, _value in messages))
        return real_states(split)

    monkeypatch.setattr(parallel, "_check", slow)  # inherited by the forked workers
    monkeypatch.setattr(parallel.Split, "states", states)
    monkeypatch.setenv("MVPN_JOBS", "2")
    split = compile_tree(root, tmp_path / "split", TEST_SECRET, qr=False, cache=True)
    assert split.build is not None and early and early[0] >= 1
    monkeypatch.setenv("MVPN_JOBS", "1")
    assert compile_tree(root, tmp_path / "one", TEST_SECRET, qr=False).build is not None
    assert snapshot(tmp_path / "split") == snapshot(tmp_path / "one")


def test_a_render_that_fails_in_a_tree_with_errors_is_not_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A clean group's render started before the tree turned out to have errors: its
    failure is no internal error; the tree's diagnostics are the result."""
    root = _three(tmp_path / "src")
    path = root / "acme-ap/peers/kenji.yaml"
    path.write_text(path.read_text(encoding="utf-8").replace("type: client", "type: [client"),
                    encoding="utf-8")

    real_check = parallel._check

    def broken(job: Any, name: str) -> Any:
        raise RuntimeError(f"rendering {name} failed")

    def slow(top: Any, group: list[str], *args: Any) -> Any:
        if "acme-ap" in group:  # the failure arrives while this group is still checked
            time.sleep(1.5)
        return real_check(top, group, *args)

    # Inherited by the forked workers.
    monkeypatch.setattr(engine, "_render_one", broken)
    monkeypatch.setattr(parallel, "_check", slow)
    monkeypatch.setenv("MVPN_JOBS", "2")
    result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True)
    assert result.build is None
    assert [d.code for d in result.check.diagnostics.sorted()
            if d.code != "route-unaggregated"] == ["yaml-syntax"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["src"]  # no stage, no cache
    assert multiprocessing.active_children() == []


class Blocked(BaseException):
    """The compile blocked (on a FIFO)."""


@pytest.mark.parametrize("odd", ["fifo", "symlink"])
def test_the_balancing_reads_nothing_but_regular_files_in_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, odd: str
) -> None:
    """Groups are weighed before the tree is checked: an instance.yaml that is a FIFO, or a
    symlink out of the tree to one, must not block the compile (reading either would)."""
    root = _three(tmp_path / "src")
    inst = root / "acme-ap"
    (inst / "instance.yaml").unlink()
    if odd == "fifo":
        os.mkfifo(inst / "instance.yaml")
    else:
        (tmp_path / "outside").mkdir()
        os.mkfifo(tmp_path / "outside" / "instance.yaml")
        (inst / "instance.yaml").symlink_to(tmp_path / "outside" / "instance.yaml")

    def blocked(signum: int, frame: object) -> None:
        raise Blocked  # not an OSError: nothing on the way may take it for a read failure

    previous = signal.signal(signal.SIGALRM, blocked)
    monkeypatch.setenv("MVPN_JOBS", "2")
    signal.alarm(30)
    try:
        result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True)
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
    assert result.build is None
    assert [d.code for d in result.check.diagnostics.sorted()
            if d.code != "route-unaggregated"] == ["file-unsafe"]
    assert not (tmp_path / "out").exists() and multiprocessing.active_children() == []


def test_three_instances_on_two_workers_give_the_bytes_of_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    spy = Spy(monkeypatch)
    root = _three(tmp_path / "src")
    monkeypatch.setenv("MVPN_JOBS", "2")
    split = compile_tree(root, tmp_path / "split", TEST_SECRET, qr=True, cache=False)
    assert spy.rendered and split.build is not None
    monkeypatch.setenv("MVPN_JOBS", "1")
    single = compile_tree(root, tmp_path / "one", TEST_SECRET, qr=True, cache=False)
    assert single.build is not None
    assert snapshot(tmp_path / "split") == snapshot(tmp_path / "one")
    assert split.check.diagnostics.sorted() == single.check.diagnostics.sorted()


@pytest.mark.parametrize("secret", [False, True])
def test_files_outside_the_layout_are_reported_once_and_quoted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, secret: bool
) -> None:
    """The top's by this process, an instance folder's by its worker; quoted as check does.

    Stray files warn and are rendered by the workers; a private key in one is an error, and
    the tree is checked whole.
    """
    spy = Spy(monkeypatch)
    monkeypatch.setenv("MVPN_JOBS", "2")
    root = _three(tmp_path / "src")
    key = ("private_key: " + "QUJDREVGR0hJSktMTU5PUFFSU1RVVldYWVowMTIzNDU=\n") if secret else ""
    build_file_tree(root, {"NOTES.md": "top notes\n" + key, "notes.yaml": "a: 1\n",
                           "acme-us/notes.txt": "us notes\n" + key, "acme-us/x.yaml": "b: 2\n",
                           "acme-ap/peers/README": "ap notes\n" + key})
    full = check(root)
    codes = sorted(d.code for d in full.diagnostics)
    assert codes.count("file-unexpected") == 2, codes
    assert codes.count("secret-in-repo") == (3 if secret else 0), codes
    result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True)
    assert spy.started and spy.rendered == (not secret)
    assert result.check.diagnostics.sorted() == full.diagnostics.sorted()
    assert printed(result.check, result.check.diagnostics) == printed(full, full.diagnostics)
