"""Platform fallbacks: the build without sched_getaffinity, renameat2 or fork is the same bytes.

Each test takes one platform call away (as macOS or Windows lack it), compiles the example
estate and compares every output file with a build that had everything (MVPN_JOBS=2, so the
reference build really renders in forked workers and swaps with renameat2).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import multiprocessing
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler import runtime
from compiler.api import compile_tree
from compiler.engine import portable

SECRET = b"mvpn-test-secret-0123456789abcdef"
SITES = Path(__file__).resolve().parents[1] / "sites"

Digests = dict[str, tuple[str, int]]


def digests(out: Path) -> Digests:
    """Every file's sha256 and mode (never the bytes: private keys stay out of test output)."""
    return {p.relative_to(out).as_posix(): (hashlib.sha256(p.read_bytes()).hexdigest(),
                                            p.stat().st_mode & 0o7777)
            for p in sorted(out.rglob("*")) if p.is_file()}


def build(out: Path) -> Digests:
    result = compile_tree(SITES, out, SECRET, qr=False)
    assert result.build is not None, result.check.diagnostics.sorted()
    return digests(out)


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> Digests:
    """The estate built with every platform call present, in two forked workers."""
    assert portable.can_fork() and hasattr(os, "sched_getaffinity")
    out = tmp_path_factory.mktemp("reference") / "out"
    swaps: list[bool] = []
    real = portable.exchange

    def exchange(a: Path, b: Path) -> bool:
        swaps.append(real(a, b))
        return swaps[-1]

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MVPN_JOBS", "2")
        patch.setattr(portable, "exchange", exchange)
        build(out)  # the second build swaps over the first: renameat2 used
        ref = build(out)
    assert swaps == [True], "the reference build must use renameat2"
    assert len(ref) > 20
    return ref


def test_without_sched_getaffinity_cpus_come_from_cpu_count(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Digests
) -> None:
    monkeypatch.delattr(os, "sched_getaffinity")
    monkeypatch.delenv("MVPN_JOBS", raising=False)
    assert portable.cpu_count() == (os.cpu_count() or 1)
    assert build(tmp_path / "out") == reference


def test_without_fork_the_build_renders_in_this_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Digests
) -> None:
    def no_fork(method: str | None = None) -> object:
        raise ValueError(f"cannot find context for {method!r}")

    monkeypatch.setattr(multiprocessing, "get_all_start_methods", lambda: ["spawn"])
    monkeypatch.setattr(multiprocessing, "get_context", no_fork)
    monkeypatch.setenv("MVPN_JOBS", "2")  # asked for workers: still none without fork
    assert not portable.can_fork()
    assert build(tmp_path / "out") == reference


def test_without_renameat2_the_swap_is_two_renames(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Digests
) -> None:
    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    assert portable.exchange(tmp_path, tmp_path) is False
    out = tmp_path / "builds" / "out"
    build(out)
    assert build(out) == reference  # replaces the first build
    assert sorted(p.name for p in out.parent.iterdir()) == ["out"]  # no stage or backup left


def test_a_libc_without_renameat2_is_no_swap(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class Libc:  # what macOS's libSystem looks like to ctypes: no renameat2 symbol
        def __init__(self, name: str, use_errno: bool = False) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", Libc)
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    assert portable.exchange(a, b) is False
    assert a.is_dir() and b.is_dir()


def test_alive_without_proc_asks_the_kernel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    for proc in (portable.PROC, tmp_path / "no-proc"):
        monkeypatch.setattr(portable, "PROC", proc)
        assert portable.alive(os.getpid())
        assert not portable.alive(gone.pid)


def test_without_malloc_trim_the_build_is_the_same(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, reference: Digests
) -> None:
    class Libc:  # a C library that is not glibc: no malloc_trim
        def __init__(self, name: str | None, use_errno: bool = False) -> None:
            pass

    monkeypatch.setattr(ctypes, "CDLL", Libc)
    runtime.trim_heap()  # nothing to do, and no error
    monkeypatch.setenv("MVPN_JOBS", "1")
    assert build(tmp_path / "out") == reference


def test_trim_heap_calls_malloc_trim_where_there_is_one(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[int] = []

    class Glibc:
        def __init__(self, name: str | None, use_errno: bool = False) -> None:
            self.malloc_trim = calls.append

    monkeypatch.setattr(ctypes, "CDLL", Glibc)
    runtime.trim_heap()
    assert calls == [0]


def test_only_a_one_shot_process_frees_the_graph_and_trims_the_heap(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The library API leaves a caller's objects alone; `mvpn` (one-shot) frees them at once."""
    calls: list[int] = []

    class Glibc:
        def __init__(self, name: str | None, use_errno: bool = False) -> None:
            self.malloc_trim = calls.append

    class Model:
        def __init__(self) -> None:
            self.cached = {"views": [1, 2, 3]}

    monkeypatch.setattr(ctypes, "CDLL", Glibc)
    model = Model()
    monkeypatch.setattr(runtime._PROCESS, "one_shot", False)
    runtime.drop(model)
    assert vars(model) == {"cached": {"views": [1, 2, 3]}} and calls == []
    monkeypatch.setattr(runtime._PROCESS, "one_shot", True)
    runtime.drop(model)
    assert vars(model) == {} and calls == [0]
