"""Incremental compiles of a tree with tests.yaml and warnings (issue 13): the oracle is `mvpn check`.

A table of edits is applied one after the other to a tree that has a ``tests.yaml`` and
warnings. After each, a compile with the cache must print exactly the diagnostics of
``mvpn check`` (same text, quotes, order, file:line:column), write the same bytes as a cold
compile, and (so the incremental path is really the one tested) check again only the
instances named, evaluating only the assertions named.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from compiler.api import CheckResult, check, compile_tree
from compiler.checks import reach
from compiler.cli.main import main
from compiler.cli.output import render
from compiler.cli.report import line_lookup
from compiler.diagnostics import Diagnostics
from compiler.loader import status
from tests.support.trees import (
    TEST_SECRET,
    TEST_SECRET_B64,
    build_file_tree,
    client,
    compile_estate,
    site,
)
from tests.test_build_atomic import snapshot

TESTS_YAML = (
    "- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n"
    "- {from: acme-us/erin, to: 10.1.0.9, port: 443/tcp, expect: allow}\n"
    "- {from: acme-us/erin, to: 10.30.0.9, port: 22/tcp, expect: deny}\n"
)
BOTH = ["acme-eu", "acme-us"]


def tree(root: Path) -> Path:
    """The compile estate, plus a site outside acme-eu's aggregates (a warning) and tests."""
    files: dict[str, Any] = dict(compile_estate())
    files["acme-us/peers/denver.yaml"] = site("denver-office", "10.253.0.12", ["10.31.0.0/24"],
                                              protocol="openvpn")
    files["acme-eu/peers/munich.yaml"] = site("munich-office", "10.255.0.14", ["10.40.0.0/24"],
                                              address6="fd00:255::14")
    files["tests.yaml"] = TESTS_YAML
    return build_file_tree(root, files)


def replace(rel: str, old: str, new: str) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert old in text, (rel, old)
        path.write_text(text.replace(old, new), encoding="utf-8")
    return apply


def write(rel: str, content: Any) -> Callable[[Path], None]:
    def apply(root: Path) -> None:
        build_file_tree(root, {rel: content})
    return apply


def remove(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).unlink()


def nothing(root: Path) -> None:
    del root


#: (what, edit, instances checked again (None: the full check), assertions evaluated: when
#: the incremental check gives up, those it evaluated plus all of them in the full check).
EDITS: list[tuple[str, Callable[[Path], None], list[str] | None, int]] = [
    ("no-op", nothing, [], 0),
    ("edit a peer", replace("acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25"),
     ["acme-us"], 2),
    ("add a peer", write("acme-us/peers/frank.yaml", client("frank@example.com", "10.253.0.13",
                                                            protocol="openvpn")),
     ["acme-us"], 2),
    ("remove a peer", remove("acme-eu/peers/carol.yaml"), ["acme-eu"], 1),
    ("add a warning (a shadowed rule)",
     replace("acme-us/instance.yaml", "- action: allow\n    protocol: icmp\n",
             "- action: allow\n    protocol: icmp\n  - action: allow\n    protocol: icmp\n"
             "    source: clients\n"),
     ["acme-us"], 2),
    ("no-op with warnings in both instances", nothing, [], 0),
    ("break an assertion (tests.yaml)",
     replace("tests.yaml", "10.20.0.5, port: 443/tcp, expect: allow",
             "10.20.0.5, port: 443/tcp, expect: deny"), None, 1 + 3),
    ("fix it: the verdicts recorded before still hold",
     replace("tests.yaml", "10.20.0.5, port: 443/tcp, expect: deny",
             "10.20.0.5, port: 443/tcp, expect: allow"), [], 0),
    ("break an assertion through the instance it starts from",
     replace("acme-us/instance.yaml", "- 443\n", "- 444\n"), None, 2 + 3),
    ("fix that", replace("acme-us/instance.yaml", "- 444\n", "- 443\n"), [], 0),
    ("a new assertion from an unchanged instance",
     replace("tests.yaml", "expect: deny}\n",
             "expect: deny}\n- {from: acme-eu/bob, to: 198.51.100.10, port: 443/tcp, "
             "expect: allow}\n"),
     ["acme-eu"], 1),
    ("a stray YAML file (a warning of the walk)", write("acme-us/notes.yaml", "todo: [x]\n"),
     [], 0),
    ("the stray file removed", remove("acme-us/notes.yaml"), [], 0),
    ("a cross-instance warning: the full check",
     replace("acme-us/peers/denver.yaml", "10.31.0.0/25", "10.20.0.0/25"), None, 2 + 4),
    ("still there, nothing changed: the full check again", nothing, None, 4),
    ("the overlap fixed", replace("acme-us/peers/denver.yaml", "10.20.0.0/25", "10.31.0.0/25"),
     ["acme-us"], 2),
    ("vpn.yaml edited: every instance", replace("vpn.yaml", "keepalive: 25", "keepalive: 30"),
     BOTH, 4),
    ("a warning fixed", replace("acme-eu/peers/munich.yaml", "10.40.0.0/24", "10.17.0.0/24"),
     ["acme-eu"], 2),
    ("no-op", nothing, [], 0),
]


def printed(result: CheckResult, diags: Diagnostics) -> str:
    """What `mvpn compile` and `mvpn check` print for ``diags``: text with quoted lines."""
    raw = result.estate.raw
    return render(diags.sorted(), "text", cwd=raw.root, lines=line_lookup(
        raw.sources() + raw.others), color=False, tool_version="0")


@pytest.mark.parametrize("trust_fresh_stats", [False, True])
def test_incremental_compiles_of_a_tree_with_tests_and_warnings_say_what_check_says(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trust_fresh_stats: bool
) -> None:
    if trust_fresh_stats:  # unchanged folders are then skipped by their stat keys, unread
        monkeypatch.setattr(status, "RACY_NS", -(10**12))
    evaluated: list[str] = []
    real = reach.decide

    def counting(*args: Any) -> reach.Verdict:
        evaluated.append(args[1].name)
        return real(*args)

    monkeypatch.setattr(reach, "decide", counting)
    root, out = tree(tmp_path / "src"), tmp_path / "out"
    first = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
    assert first.build is not None
    assert [d.code for d in first.check.diagnostics.sorted()] == ["route-unaggregated"]
    for step, (what, apply, checked, assertions) in enumerate(EDITS):
        apply(root)
        evaluated.clear()
        result = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
        assert len(evaluated) == assertions, (what, evaluated)
        full = check(root)
        assert full.diagnostics.sorted(), what  # every step has something to say
        assert result.check.diagnostics.sorted() == full.diagnostics.sorted(), what
        assert printed(result.check, result.check.diagnostics) == printed(
            full, full.diagnostics), what
        if checked is None:
            assert sorted(result.check.estate.instances) == BOTH, what
        else:
            assert sorted(result.check.estate.instances) == checked, what
        if not full.ok:
            assert result.build is None, what
            continue
        cold = compile_tree(root, tmp_path / f"cold{step}", TEST_SECRET, qr=False)
        assert result.build is not None and cold.build is not None, what
        assert snapshot(out) == snapshot(tmp_path / f"cold{step}"), what


def test_a_removed_instance_takes_its_warnings_along(tmp_path: Path) -> None:
    root, out = tree(tmp_path / "src"), tmp_path / "out"
    (root / "tests.yaml").write_text(TESTS_YAML.split("\n", 1)[1], encoding="utf-8")
    first = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
    assert [d.code for d in first.check.diagnostics.sorted()] == ["route-unaggregated"]
    for path in sorted((root / "acme-eu").rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()
    (root / "acme-eu").rmdir()
    result = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
    assert result.check.diagnostics.sorted() == check(root).diagnostics.sorted() == []
    assert sorted(result.check.estate.instances) == []  # acme-us: unchanged, not checked
    assert result.build is not None


def test_mvpn_compile_prints_the_cached_warnings_as_mvpn_check_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Through the command line: quoted lines included, for an instance not checked again."""
    root, out = tree(tmp_path / "src"), tmp_path / "out"
    monkeypatch.setenv("MVPN_SECRET", TEST_SECRET_B64)
    monkeypatch.chdir(tmp_path)
    assert main(["check", str(root)]) == 0
    checked = capsys.readouterr().out
    assert "warning[route-unaggregated]" in checked and "5 | - 10.40.0.0/24" in checked  # quoted
    for _ in range(2):  # cold, then incremental (nothing checked again)
        assert main(["compile", str(root), "-o", str(out), "--no-qr"]) == 0
        printed_lines = capsys.readouterr().out.splitlines(keepends=True)
        assert printed_lines[-1].startswith("compiled 2 instances")
        assert "".join(printed_lines[:-1]) == checked
    assert compile_tree(root, out, TEST_SECRET, qr=False, cache=True).check.estate.instances == {}


def test_an_unread_instance_s_warnings_are_quoted_from_their_files_alone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchanged instance with a warning is not read: only the file its warning quotes."""
    from compiler.loader import walk as walk_mod

    monkeypatch.setattr(status, "RACY_NS", -(10**12))  # the tree was just written
    root, out = tree(tmp_path / "src"), tmp_path / "out"
    assert compile_tree(root, out, TEST_SECRET, qr=False, cache=True).build is not None
    replace("acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")(root)
    read: list[str] = []
    quoted: list[str] = []
    real_read, real_quoted = walk_mod._Walker.read_file, walk_mod.read_quoted

    def reading(self: Any, entry: Any, folder: Path) -> Any:
        read.append((folder / entry.name).relative_to(root).as_posix())
        return real_read(self, entry, folder)

    def quoting(base: Path, rel: str, since: int) -> Any:
        quoted.append(rel)
        return real_quoted(base, rel, since)

    monkeypatch.setattr(walk_mod._Walker, "read_file", reading)
    monkeypatch.setattr("compiler.incremental.read_quoted", quoting)
    result = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
    assert result.build is not None
    assert quoted == ["acme-eu/peers/munich.yaml"]
    assert not [path for path in read if path.startswith("acme-eu/")]
    full = check(root)
    assert printed(result.check, result.check.diagnostics) == printed(full, full.diagnostics)
    assert "5 | - 10.40.0.0/24" in printed(full, full.diagnostics)


def test_a_quoted_file_changed_after_the_stat_keys_has_its_folder_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The warning recorded of a file that changed since its folder's key was taken is not
    printed over the new text: the folder is read and checked after all."""
    from compiler.engine.cache import BuildCache
    from compiler.incremental import check_incrementally
    from compiler.keys.ring import KeyRing

    root, out = tree(tmp_path / "src"), tmp_path / "out"
    with monkeypatch.context() as patched:
        patched.setattr(status, "RACY_NS", -(10**12))  # keys for the files just written
        assert compile_tree(root, out, TEST_SECRET, qr=False, cache=True).build is not None
        taken = time.time_ns()
        stats = status.stat_keys(root)
    replace("acme-eu/peers/munich.yaml", "10.40.0.0/24", "10.41.0.0/24")(root)  # same line
    store = BuildCache(out, f"{KeyRing(TEST_SECRET).cache_id()}/qr=False")
    record = store.read()
    assert record is not None
    fast = check_incrementally(root, store.context, record[0], stats, taken)
    assert fast is not None
    full = check(root)
    assert "10.41.0.0/24" in printed(full, full.diagnostics)
    assert fast.diagnostics.sorted() == full.diagnostics.sorted()
    assert "acme-eu" in fast.estate.instances  # checked again


@pytest.mark.parametrize("odd", ["fine", "symlinked-file", "symlinked-folder", "fifo", "big",
                                 "not-utf8", "just-changed", "dot-dot", "one-part", "absent"])
def test_a_quoted_file_is_read_only_as_a_plain_file_of_a_plain_folder(
    tmp_path: Path, odd: str
) -> None:
    """What cannot be read exactly like the walk would (or changed since) gives None: the
    folder is then read whole, with the walk's own diagnostics."""
    from compiler.loader.walk import read_quoted

    root = tmp_path / "src"
    (root / "one/peers").mkdir(parents=True)
    (tmp_path / "outside.yaml").write_text("secret: x\n")
    rel, path = "one/peers/a.yaml", root / "one/peers/a.yaml"
    path.write_text("type: client\n")
    if odd == "symlinked-file":
        path.unlink()
        path.symlink_to(tmp_path / "outside.yaml")
    elif odd == "symlinked-folder":
        (root / "two").symlink_to(root / "one")
        rel = "two/peers/a.yaml"
    elif odd == "fifo":
        path.unlink()
        os.mkfifo(path)
    elif odd == "big":
        path.write_bytes(b"# " + b"x" * (1 << 20) + b"\n")
    elif odd == "not-utf8":
        path.write_bytes(b"type: \xff\n")
    elif odd == "dot-dot":
        rel = "one/../../outside.yaml"
    elif odd == "one-part":
        rel = "a.yaml"
    elif odd == "absent":
        rel = "one/peers/b.yaml"
    since = time.time_ns() + (10**9 if odd != "just-changed" else -(10**9))
    found = read_quoted(root, rel, since)
    if odd == "fine":
        assert found is not None and found.path == root / rel and found.text == "type: client\n"
        assert found.lines[0] == "type: client"
    else:
        assert found is None
