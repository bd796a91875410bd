"""The recompile's scans started by the process entry, before the compiler is imported (issue 14).

`mvpn compile` forks the build scan and the stat keys from :mod:`compiler.entry`, guessing the
folders from the command line ahead of argparse. A guess is only an offer: the compile takes
the scan only for the very output folder and an unchanged cache state, the keys only for the
very tree; anything else is stopped and done again, and no child outlives the compile.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler import entry, parallel
from compiler.api import compile_tree
from compiler.engine import cache as cache_mod
from compiler.engine import scan
from compiler.engine.layout import spare_of, state_file
from compiler.keys import KeyRing
from compiler.loader import status
from tests.support.trees import TEST_SECRET, TEST_SECRET_B64, build_file_tree, compile_estate
from tests.test_build_atomic import snapshot
from tests.test_cache import edit


@pytest.mark.parametrize(("argv", "folders"), [
    (["compile"], ("build", "sites")),
    (["compile", "tree", "-o", "x"], ("x", "tree")),
    (["compile", "-ox", "tree"], ("x", "tree")),
    (["compile", "--output=y"], ("y", "sites")),
    (["compile", "--out", "z", "--qr", "tree"], ("z", "tree")),
    (["compile", "--secret-file", "key", "tree"], ("build", "tree")),
    (["compile", "--", "-tree"], ("build", "-tree")),
    (["compile", "a", "b"], ("build", None)),  # argparse refuses it; no keys guessed
    (["compile", "--no-cache"], None),
    (["compile", "--no-c", "-o", "x"], None),
    (["check", "-o", "x"], None),
    ([], None),
])
def test_the_entry_guesses_the_folders_of_a_compile(
    argv: list[str], folders: tuple[str, str | None] | None
) -> None:
    assert entry.compile_folders(argv) == folders


@pytest.fixture
def built(tmp_path: Path) -> Iterator[tuple[Path, Path]]:
    """A tree compiled once with the cache (so a state exists); no early child left after."""
    root = build_file_tree(tmp_path / "src", compile_estate())
    out = tmp_path / "out"
    assert compile_tree(root, out, TEST_SECRET, qr=False, cache=True).build is not None
    yield root, out
    scan.drop_early()


def started() -> scan.Scanner:
    """The scanner :func:`scan.start_early` started (it must have started one)."""
    assert scan._early and scan._early[0].scanner is not None
    return scan._early[0].scanner


def test_without_a_state_only_the_stat_keys_are_taken(tmp_path: Path) -> None:
    scan.start_early(str(tmp_path / "out"), str(tmp_path))
    try:
        assert len(scan._early) == 1 and scan._early[0].scanner is None
        before = time.time_ns()
        taken = scan.take_early_keys(tmp_path)
        assert taken is not None and taken.keys == {}  # a tree without vpn.yaml: none
        assert taken.taken <= before  # the child was started before
    finally:
        scan.drop_early()


def test_a_compile_from_nothing_gives_its_workers_the_early_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The split workers take no stat keys of their own, and the memo is a lone compile's."""
    monkeypatch.setattr(status, "RACY_NS", -(10**12))  # the tree was just written
    root = build_file_tree(tmp_path / "src", compile_estate())
    monkeypatch.setenv("MVPN_JOBS", "1")
    alone = compile_tree(root, tmp_path / "alone", TEST_SECRET, qr=False, cache=True)
    assert alone.build is not None
    monkeypatch.setenv("MVPN_JOBS", "2")
    monkeypatch.setattr(parallel, "PARALLEL_MIN_PEERS", 1)
    monkeypatch.setattr(parallel, "stat_keys", _refused)  # in the workers: not called
    scan.start_early(str(tmp_path / "split"), str(root))
    split = compile_tree(root, tmp_path / "split", TEST_SECRET, qr=False, cache=True)
    assert split.build is not None and not scan._early
    assert snapshot(tmp_path / "split") == snapshot(tmp_path / "alone")
    assert _stat_keys(tmp_path / "split") == _stat_keys(tmp_path / "alone") != {}


def test_a_split_that_falls_back_takes_no_stat_keys_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A tree with an error is checked whole after the workers: with the keys taken early."""
    monkeypatch.setattr(status, "RACY_NS", -(10**12))
    files = compile_estate()
    files["acme-eu/peers/hamburg.yaml"] = dict(files["acme-eu/peers/hamburg.yaml"],
                                              address="10.255.0.10")  # berlin's: an error
    root = build_file_tree(tmp_path / "src", files)
    monkeypatch.setenv("MVPN_JOBS", "2")
    monkeypatch.setattr(parallel, "PARALLEL_MIN_PEERS", 1)
    monkeypatch.setattr(parallel, "stat_keys", _refused)
    monkeypatch.setattr("compiler.api.stat_keys", _refused)
    scan.start_early(str(tmp_path / "out"), str(root))
    result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True)
    assert result.build is None and result.check.diagnostics.errors
    assert not scan._early


def _refused(*args: object) -> None:
    raise AssertionError("stat keys taken again")


def _stat_keys(out: Path) -> dict[str, str | None]:
    state = cache_mod.BuildCache(out, f"{KeyRing(TEST_SECRET).cache_id()}/qr=False").load()
    assert state is not None
    return {name: i.stat_key for name, i in state.instances.items()}


def test_the_compile_takes_the_early_scan_and_keys(
    built: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = built
    monkeypatch.setattr(status, "RACY_NS", -(10**12))  # the tree was just written
    scan.start_early(str(out), str(root))
    early = started()
    keys = scan._early[0].keys
    assert keys is not None and early.pid is not None and keys.pid is not None
    taken: list[object] = []

    def scan_taken(out: str, spare: str, state: str) -> scan.Scanner | None:
        scanner = scan.take_early(out, spare, state)
        taken.append(scanner)
        return scanner

    def keys_taken(tree: Path) -> scan.TakenKeys | None:
        keys = scan.take_early_keys(tree)
        taken.append(keys.keys if keys is not None else None)
        return keys

    monkeypatch.setattr(cache_mod, "take_early", scan_taken)
    monkeypatch.setattr("compiler.api.take_early_keys", keys_taken)
    before = snapshot(out)
    result = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
    assert result.build is not None and result.stats is not None
    assert result.stats.written == 0  # a no-op: the early scan verified the build
    assert taken[0] is early
    assert taken[1] == status.stat_keys(root)
    assert snapshot(out) == before
    assert not scan._early and early.pid is None  # taken, then stopped by the compile
    assert keys.pid is None


def test_a_scan_of_another_folder_is_stopped_not_taken(built: tuple[Path, Path]) -> None:
    root, out = built
    scan.start_early(str(out), str(root))
    early = started()
    assert scan.take_early(str(out) + "x", str(spare_of(out)), str(state_file(out))) is None
    assert early.pid is None and scan._early[0].scanner is None


def test_a_state_changed_since_the_scan_began_refuses_it(built: tuple[Path, Path]) -> None:
    """Another compile between the early start and the lock: its build is scanned anew."""
    root, out = built
    scan.start_early(str(out), str(root))
    early = started()
    edit(root / "acme-eu/peers/berlin.yaml", "budget $5", "budget $6")
    pending = scan._early[:]
    scan._early.clear()  # the other compile must not take it
    assert compile_tree(root, out, TEST_SECRET, qr=False, cache=True).build is not None
    scan._early.extend(pending)
    assert scan.take_early(str(out), str(spare_of(out.absolute())),
                           str(state_file(out.absolute()))) is None
    assert early.pid is None and scan._early[0].scanner is None


def test_keys_of_another_tree_are_not_taken(built: tuple[Path, Path]) -> None:
    root, out = built
    scan.start_early(str(out), str(root.parent))
    keys = scan._early[0].keys
    assert keys is not None
    assert scan.take_early_keys(root) is None
    assert keys.pid is None


def test_a_compile_that_waits_for_another_drops_the_early_scan(
    built: tuple[Path, Path]
) -> None:
    root, out = built
    scan.start_early(str(out), str(root))
    early = started()
    heard: list[tuple[Path, int | None]] = []
    lock = os.open(out.parent, os.O_RDONLY)
    fcntl.flock(lock, fcntl.LOCK_EX)
    pid = os.fork()
    if pid == 0:  # hold the lock a moment, as another compile would
        time.sleep(0.5)
        os._exit(0)
    os.close(lock)  # the child holds it

    result = compile_tree(root, out, TEST_SECRET, qr=False, cache=True,
                          waiting=lambda folder: heard.append((folder, early.pid)))
    os.waitpid(pid, 0)
    assert heard == [(out.parent, None)]  # stopped before the wait, never taken
    assert result.build is not None and not scan._early


def test_the_early_children_die_with_the_process(built: tuple[Path, Path]) -> None:
    """A compile killed at once (or failing early) leaves no scanning child behind."""
    root, out = built
    code = ("import os, sys, time; from compiler.engine import portable, scan; "
            "scan.start_early(sys.argv[1], sys.argv[2]); e = scan._early[0]; "
            # a child that would otherwise live on: it only dies with its parent
            "me = os.getpid(); pid = os.fork(); "
            "pid or (portable.die_with_parent(me), time.sleep(60)); "
            "print(e.scanner.pid, e.keys.pid, pid, flush=True); time.sleep(60)")
    proc = subprocess.Popen([sys.executable, "-c", code, str(out), str(root)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    pids = [int(p) for p in proc.stdout.readline().split()]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    deadline = time.monotonic() + 10
    while alive := [p for p in pids if _state(p) != "Z"]:
        assert time.monotonic() < deadline, f"children {alive} of {pids} outlived their parent"
        time.sleep(0.05)


def _state(pid: int) -> str:
    """A process's state letter; "Z" also for one that is gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_mvpn_compile_uses_the_early_scan_and_writes_the_same_bytes(
    built: tuple[Path, Path], tmp_path: Path
) -> None:
    """End to end through the entry: a recompile after an edit equals a fresh build."""
    root, out = built
    edit(root / "acme-eu/peers/berlin.yaml", "budget $5", "budget $7")
    env = {**os.environ, "MVPN_SECRET": TEST_SECRET_B64}
    args = [sys.executable, "-m", "compiler", "compile", str(root), "--no-qr"]
    done = subprocess.run([*args, "-o", str(out)], env=env, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, done.stderr
    fresh = subprocess.run([*args, "-o", str(tmp_path / "fresh"), "--no-cache"], env=env,
                           capture_output=True, text=True, check=False)
    assert fresh.returncode == 0, fresh.stderr
    assert snapshot(out) == snapshot(tmp_path / "fresh")


def _many_instances(root: Path, count: int) -> Path:
    """A tree of ``count`` copies of the compile estate's acme-eu (for the stat keys only)."""
    files = {}
    for rel, value in compile_estate().items():
        if rel.startswith("acme-eu/"):
            for i in range(count):
                files[rel.replace("acme-eu/", f"inst-{i:02d}/")] = value
        elif not rel.startswith("acme-us/"):
            files[rel] = value
    return build_file_tree(root, files)


@pytest.mark.parametrize("child", ["slow", "done", "dead", "grown"])
def test_the_compile_keys_the_folders_the_early_child_has_not_come_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    """The keys are shared out: a slow child leaves folders to the compile, one that is done
    none (it holds its claims until it is stopped), a dead one all of them, and a folder made
    after the child listed the tree is keyed too; every folder has exactly the key a lone
    process gives it."""
    monkeypatch.setattr(status, "RACY_NS", -(10**12))  # the tree was just written
    root = _many_instances(tmp_path / "src", 8)
    fast = status._folder_key

    def slow(path: str, common: Any, now: int) -> str | None:
        time.sleep(0.4)  # in the child, forked with it
        return fast(path, common, now)

    if child != "done":
        monkeypatch.setattr(status, "_folder_key", slow)
    scan.start_early(str(tmp_path / "out"), str(root))
    monkeypatch.setattr(status, "_folder_key", fast)
    try:
        keys_child = scan._early[0].keys
        assert keys_child is not None and keys_child.pid is not None
        if child == "dead":
            os.kill(keys_child.pid, signal.SIGKILL)
            os.waitpid(keys_child.pid, 0)
            keys_child.pid = None
        elif child == "done":  # its keys are written: it is done with every folder
            assert keys_child.pipe is not None
            assert select.select([keys_child.pipe], [], [], 10)[0]
        elif child == "grown":  # the child's positions and this process's no longer agree
            shutil.copytree(root / "inst-03", root / "aaa")  # first: at the child's 0
        here: list[str] = []

        def counting(path: str, common: Any, now: int) -> str | None:
            here.append(Path(path).name)
            return fast(path, common, now)

        monkeypatch.setattr(status, "_folder_key", counting)
        time.sleep(0.2)  # the child has claimed its first folder (and sleeps on it)
        taken = scan.take_early_keys(root)
    finally:
        scan.drop_early()
    monkeypatch.setattr(status, "_folder_key", fast)
    assert taken is not None and taken.keys == status.stat_keys(root)
    assert len(taken.keys) == (9 if child == "grown" else 8)
    assert None not in taken.keys.values()
    if child == "slow":  # the child took the first folder or two; this process the rest
        assert 5 <= len(here) < 8 and "inst-07" in here and "inst-00" not in here
    elif child == "dead":
        assert sorted(here) == sorted(taken.keys)
    elif child == "done":
        assert here == []
