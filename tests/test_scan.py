"""The scan that verifies a previous build (issue 14: a site added recompiles in ≤ 0.05 of cold).

:mod:`compiler.engine.scan` must give exactly the digest the cache recorded
(:func:`compiler.engine.cache.files_digest` over the files' entries), whether a file is
stat'ed or taken from the output's scan by inode, in a forked child or here; refuse what the
cache refuses; and a child that dies or says nonsense must mean "nothing verified". The
cross-instance check of a recompile (only what involves a changed instance) must agree with
the full one (hypothesis), and stat keys with a plain reference implementation.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from compiler.api import compile_tree
from compiler.checks import cross
from compiler.diagnostics import EnvironmentFailureError
from compiler.engine import cache as cache_mod
from compiler.engine import engine as engine_mod
from compiler.engine import scan
from compiler.engine.cache import Entry, InstanceState, files_digest, instance_files
from compiler.loader import status
from tests.support.trees import TEST_SECRET, build_file_tree, compile_estate
from tests.test_build_atomic import snapshot
from tests.test_cache import count_renders, edit, rewrite_state


def a_build(root: Path) -> Path:
    """A small build folder: two instances, nested folders, a 0600 file and hard links."""
    build_file_tree(root, {
        "manifest.json": "{}\n",
        "one/VERSION": "1\n",
        "one/hub/VERSION": "2\n",
        "one/hub/wireguard/wg0.conf": "[Interface]\n",
        "one/sites/a.rsc": "# a\n",
        "two/VERSION": "3\n",
        "two/clients/b.conf": "[Peer]\n",
    })
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    os.chmod(root / "one/hub/wireguard/wg0.conf", 0o600)
    return root


def scan_build(folder: str) -> scan.Listing | None:
    """The listing of the build in ``folder`` made in this process, alone."""
    scanned = scan.scan_output(folder)
    return scanned[0] if scanned is not None else None


def recorded(folder: Path, name: str) -> str:
    """The digest the cache records for an instance (entries from plain ``os.stat``)."""
    files = {
        path.relative_to(folder).as_posix(): cache_mod.entry(os.stat(path))
        for path in (folder / name).rglob("*") if path.is_file()
    }
    return files_digest(files)


def test_the_scan_gives_the_digest_the_cache_records(tmp_path: Path) -> None:
    out = a_build(tmp_path / "out")
    listing = scan_build(str(out))
    assert listing is not None
    assert listing.top == {"manifest.json", "one", "two"}
    st_ = os.stat(out / "manifest.json")
    assert listing.manifest == (st_.st_ino, st_.st_size, st_.st_mtime_ns, 0o644)
    # Folders changed in the last two seconds have no folders' digest (see the next test).
    assert listing.instances == {"one": (recorded(out, "one"), 4, None),
                                 "two": (recorded(out, "two"), 2, None)}


def folders_of(build: Path, name: str) -> str:
    """The folders' digest of an instance as first written (paths, sorted), to compare with."""
    lines = sorted(
        f"{path.relative_to(build).as_posix()}/\0{s.st_ino}\0{s.st_mtime_ns}\0{s.st_ctime_ns}\n"
        for path in [build / name, *(build / name).rglob("*")] if path.is_dir()
        for s in [os.stat(path)])
    return hashlib.sha256("".join(lines).encode()).hexdigest()


def test_the_scan_digests_the_folders_unless_one_just_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = a_build(tmp_path / "out")
    monkeypatch.setattr(scan, "RACY_NS", -(10**12))  # as if written long ago
    listing = scan_build(str(out))
    assert listing is not None
    assert listing.instances["one"] == (recorded(out, "one"), 4, folders_of(out, "one"))
    assert listing.instances["two"] == (recorded(out, "two"), 2, folders_of(out, "two"))
    monkeypatch.setattr(scan, "RACY_NS", 2_000_000_000)
    old = time.time_ns() - 10**10
    for path in [out / "one", *(out / "one").rglob("*"), out / "two"]:
        os.utime(path, ns=(old, old))  # mtime only: ctime stays now, so still racy
    listing = scan_build(str(out))
    assert listing is not None and listing.instances["one"] == (recorded(out, "one"), 4, None)


def test_the_spare_s_hard_links_are_taken_from_the_output_s_scan(tmp_path: Path) -> None:
    """Known inodes cost no stat, and give the same digest as a stat would."""
    out = a_build(tmp_path / "out")
    spare = tmp_path / "spare"
    for path in sorted(out.rglob("*")):
        target = spare / path.relative_to(out)
        if path.is_dir():
            target.mkdir(mode=0o755, parents=True)
            os.chmod(target, 0o755)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.link(path, target)
    (spare / "two/VERSION").unlink()
    (spare / "two/VERSION").write_text("4\n")  # its own file: stat'ed
    scanned = scan.scan_output(str(out))
    assert scanned is not None
    found = scanned[1]
    assert len(found["one"].known()) + len(found["two"].known()) == 6  # every file, by inode
    stats: list[str] = []
    real = os.stat

    def counting(path: str, *args: object, **kwargs: object) -> os.stat_result:
        stats.append(str(path))
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "stat", counting)
        listing = scan.scan_spare(str(spare), found, {})
    assert listing is not None
    assert listing.instances == {"one": (recorded(spare, "one"), 4, None),
                                 "two": (recorded(spare, "two"), 2, None)}
    # Folders and the one file of its own only (the top's DirEntry.stat is not os.stat).
    assert sorted(stats) == ["VERSION", "clients", "hub", "sites", "wireguard"]


@pytest.mark.parametrize("odd", ["symlink", "fifo", "folder-0700", "instance-0700"])
def test_anything_but_0755_folders_and_files_fails_the_instance(tmp_path: Path, odd: str) -> None:
    out = a_build(tmp_path / "out")
    if odd == "symlink":
        (out / "one/sites/b.rsc").symlink_to("a.rsc")
    elif odd == "fifo":
        os.mkfifo(out / "one/sites/b.rsc")
    elif odd == "folder-0700":
        os.chmod(out / "one/hub", 0o700)
    else:
        os.chmod(out / "one", 0o700)
    listing = scan_build(str(out))
    assert listing is not None
    assert listing.instances["one"] is None
    assert listing.instances["two"] == (recorded(out, "two"), 2, None)
    assert scan.scan_files(str(out / "one"), "one/") is None


def test_a_build_that_cannot_be_listed_has_no_listing(tmp_path: Path) -> None:
    assert scan_build(str(tmp_path / "absent")) is None
    assert scan.scan_files(str(tmp_path / "absent"), "absent/") is None


def test_listings_cross_the_pipe_unchanged(tmp_path: Path) -> None:
    listing = scan_build(str(a_build(tmp_path / "out")))
    assert listing is not None
    assert scan.Listing.decode(listing.encode()) == listing


@pytest.mark.parametrize("fork", [True, False])
def test_the_forked_scanner_and_the_one_here_agree(tmp_path: Path, fork: bool) -> None:
    out = a_build(tmp_path / "out")
    spare = a_build(tmp_path / "spare")
    scanner = scan.Scanner(str(out), str(spare), fork=fork)
    try:
        assert (scanner.pid is not None) is fork
        assert scanner.build() == scan_build(str(out))
        scanned = scan.scan_output(str(out))
        assert scanned is not None
        assert scanner.spare() == scan.scan_spare(str(spare), scanned[1], {})
        assert scanner.spare() == scan_build(str(spare))  # a copy: nothing is linked
    finally:
        scanner.close()
    assert scanner.pid is None


def test_a_child_that_dies_verifies_nothing_and_is_reaped(tmp_path: Path) -> None:
    scanner = scan.Scanner(str(a_build(tmp_path / "out")), str(tmp_path / "spare"), fork=True)
    pid = scanner.pid
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    try:
        # Dead before it answered (or after: the answer, then EOF); never a wrong listing.
        assert scanner.build() in (None, scan_build(str(tmp_path / "out")))
        assert scanner.spare() is None  # no spare folder, or no child: nothing verified
    finally:
        scanner.close()
    with pytest.raises(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def test_nonsense_from_the_child_verifies_nothing(tmp_path: Path) -> None:
    scanner = scan.Scanner(str(tmp_path), str(tmp_path), fork=False)
    read, write = os.pipe()
    os.write(write, b'["x"]\n{"not": "a listing"\n')
    os.close(write)
    scanner.pipe = os.fdopen(read, "rb")
    try:
        assert scanner.build() is None
        assert scanner.spare() is None
    finally:
        scanner.close()


def test_a_no_op_compile_stops_the_scanning_child(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The child is stopped and reaped whatever the compile did: no process is left behind."""
    root = build_file_tree(tmp_path / "src", compile_estate())
    started: list[scan.Scanner] = []
    real = scan.Scanner.__init__

    def recording(self: scan.Scanner, *args: object, **kwargs: object) -> None:
        real(self, *args, **kwargs)  # type: ignore[arg-type]
        started.append(self)

    monkeypatch.setattr(scan.Scanner, "__init__", recording)
    for _ in range(2):
        assert compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True).build
    assert len(started) == 1  # the first compile had no state: nothing to scan
    child = started[0]
    assert child.pid is None and child.pipe is None  # closed: killed and reaped


def test_an_instance_s_files_are_read_again_only_as_verified(tmp_path: Path) -> None:
    out = a_build(tmp_path / "out")
    digest = recorded(out, "one")
    inst = InstanceState("one", "key", "", {}, digest=digest, count=4)
    files = instance_files(out, inst)
    assert files is not None and inst.files is files
    assert files["one/hub/wireguard/wg0.conf"].mode == 0o600
    assert sorted(files) == ["one/VERSION", "one/hub/VERSION", "one/hub/wireguard/wg0.conf",
                             "one/sites/a.rsc"]
    again = InstanceState("one", "key", "", {}, digest=digest, count=4)
    (out / "one/sites/a.rsc").write_text("# edited since the scan\n")
    assert instance_files(out, again) is None


def _tamper_with(monkeypatch: pytest.MonkeyPatch, instance: str) -> None:
    """Replace a file of ``instance`` (same bytes, another inode) right before it is read again.

    The race the digest closes: verified by the child, edited before the engine reads it.
    """
    real = cache_mod.instance_files

    def tampering(build: Path, inst: InstanceState) -> dict[str, Entry] | None:
        if inst.name == instance:
            hub = build / inst.name / "hub/sysctl.conf"
            data = hub.read_bytes()
            hub.unlink()
            hub.write_bytes(data)
        return real(build, inst)

    monkeypatch.setattr("compiler.engine.engine.instance_files", tampering)


def test_an_output_edited_after_the_scan_is_written_anew_not_reused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_file_tree(tmp_path / "src", compile_estate())
    out = tmp_path / "out"
    assert compile_tree(root, out, TEST_SECRET, qr=False, cache=True).build
    edit(root / "acme-eu/peers/berlin.yaml", "rack 2", "rack 3")  # acme-eu changes
    _tamper_with(monkeypatch, "acme-eu")  # rendered again
    result = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
    assert result.build is not None and result.stats is not None
    fresh = compile_tree(root, tmp_path / "fresh", TEST_SECRET, qr=False, cache=False)
    assert fresh.build is not None
    assert snapshot(out) == snapshot(tmp_path / "fresh")
    # Nothing of the rendered instance was trusted: each of its files was written again.
    rendered = sum(1 for path in (out / "acme-eu").rglob("*") if path.is_file())
    assert result.stats.written == rendered + 1  # and the manifest


def test_an_output_edited_before_it_is_linked_stops_the_compile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unchanged instance cannot be rendered instead (it was not checked): one line, exit 2,
    and the build on disk stays as it was."""
    root = build_file_tree(tmp_path / "src", compile_estate())
    out = tmp_path / "out"
    assert compile_tree(root, out, TEST_SECRET, qr=False, cache=True).build
    edit(root / "acme-eu/peers/berlin.yaml", "rack 2", "rack 3")  # acme-eu changes
    before = snapshot(out)
    _tamper_with(monkeypatch, "acme-us")  # unchanged: linked (no spare yet)
    with pytest.raises(EnvironmentFailureError) as caught:
        compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
    assert str(caught.value) == (
        f"the previous build changed during the compile; run it again ({out}/acme-us)")
    assert snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [".mvpn-cache", "out", "src"]


spans = st.lists(st.tuples(st.sampled_from([4, 6]), st.integers(0, 12), st.integers(0, 8),
                           st.sampled_from(["s1", "s2", "s3"])), max_size=6)


@settings(max_examples=500, deadline=None)
@example({"a": [(4, 2, 4, "s1")], "b": [(4, 0, 8, "s2")]}, {"a"}, True)  # b holds a, starts below
@given(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), spans, min_size=1),
       st.sets(st.sampled_from(["a", "b", "c", "d"])), st.booleans())
def test_the_recompile_s_overlap_check_agrees_with_the_full_one(
    raw: dict[str, list[tuple[int, int, int, str]]], changed: set[str], reach: bool
) -> None:
    """Whenever the unchanged instances were clean together, looking only at what involves a
    changed one gives the full check's verdict (with each summary's reach, which skips the
    instances far from the changed ones, and without)."""
    def aligned(v: int, first: int, size: int) -> list[int]:
        length = 1 << size  # CIDR blocks: aligned to their size
        start = first * 16 - (first * 16) % length
        return [v, start, start + length - 1]

    summaries: cross.Summaries = {
        name: {"hostname": name, "spans": [[*aligned(v, f, s), site] for v, f, s, site in items]}
        for name, items in raw.items()}
    if reach:
        summaries = {name: {**s, "reach": cross._reach(s["spans"])}
                     for name, s in summaries.items()}
    unchanged = {name: s for name, s in summaries.items() if name not in changed}
    if not cross.clean(unchanged):
        return  # a recompile only asks when the others were clean together
    assert cross.clean(summaries, frozenset(changed)) == cross.clean(summaries)


def test_a_recompile_reads_the_subnets_of_the_instances_near_a_change_only() -> None:
    """A summary read from the state decodes its subnets only when the check needs them."""
    def recorded(name: str, first: int, last: int) -> cache_mod.LazySummary:
        whole = {"hostname": name, "spans": [[4, first, last, f"{name}-site"]],
                 "reach": {"4": [first, last]}}
        return cache_mod.LazySummary({"hostname": name, "reach": whole["reach"]},
                                     json.dumps(whole).encode())

    near, far = recorded("near", 0, 255), recorded("far", 1 << 24, (1 << 24) + 255)
    changed = {"hostname": "new", "spans": [[4, 128, 191, "new-site"]],
               "reach": {"4": [128, 191]}}
    summaries: cross.Summaries = {"near": near, "far": far, "new": changed}
    assert not cross.clean(summaries, frozenset({"new"}))  # overlaps near's
    assert near.full() and far._all is None  # far's subnets were never decoded
    assert len(far) == 3 and far["spans"] == [[4, 1 << 24, (1 << 24) + 255, "far-site"]]
    with pytest.raises(cache_mod.StateError, match="not the one recorded"):
        cache_mod.LazySummary({"hostname": "other"}, far.line).full()


def reference_stat_keys(root: Path, now: int) -> dict[str, str | None]:
    """The stat keys as first written (os.scandir and paths), to compare with."""
    keys: dict[str, str | None] = {}
    items = sorted(os.scandir(root), key=lambda e: e.name)
    common = hashlib.sha256()
    for item in items:
        if item.name in ("vpn.yaml", "vpn.yml"):
            s = item.stat(follow_symlinks=False)
            common.update(f"{item.name}\0{s.st_ino}\0{s.st_size}\0{s.st_mtime_ns}"
                          f"\0{s.st_ctime_ns}\n".encode())
    for folder in (e for e in items if e.is_dir(follow_symlinks=False)):
        digest, todo, key = common.copy(), [(folder.path, "")], True
        while todo and key:
            path, prefix = todo.pop()
            for item in sorted(os.scandir(path), key=lambda e: e.name):
                s = item.stat(follow_symlinks=False)
                if stat.S_ISDIR(s.st_mode) and not prefix and item.name == "peers":
                    todo.append((item.path, "peers/"))
                elif not stat.S_ISREG(s.st_mode) or max(s.st_mtime_ns, s.st_ctime_ns) > now:
                    key = False
                    break
                digest.update(f"{prefix}{item.name}\0{s.st_mode}\0{s.st_ino}\0{s.st_size}"
                              f"\0{s.st_mtime_ns}\0{s.st_ctime_ns}\n".encode())
        keys[folder.name] = digest.hexdigest() if key else None
    return keys


def test_stat_keys_are_those_of_the_reference(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = build_file_tree(tmp_path / "src", compile_estate())
    (root / "acme-us/notes").mkdir()  # a folder other than peers/: never skipped
    os.symlink("instance.yaml", root / "acme-eu/peers/link.yaml")
    monkeypatch.setattr(status, "RACY_NS", -(10**12))
    keys = status.stat_keys(root)
    assert keys == reference_stat_keys(root, time.time_ns() + 10**12)
    assert keys["acme-eu"] is None and keys["acme-us"] is None
    (root / "acme-eu/peers/link.yaml").unlink()
    os.rmdir(root / "acme-us/notes")
    keys = status.stat_keys(root)
    assert None not in keys.values()
    assert keys == reference_stat_keys(root, time.time_ns() + 10**12)


def test_an_unreadable_instance_folder_is_read_not_skipped(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """stat keys say "read it" where they cannot look; the walk then says what is wrong."""
    root = build_file_tree(tmp_path / "src", compile_estate())
    monkeypatch.setattr(status, "RACY_NS", -(10**12))
    real = os.open

    def refusing(path: str, *args: object, **kwargs: object) -> int:
        if str(path).endswith("acme-us/peers"):
            raise PermissionError(13, "Permission denied", path)
        return real(path, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", refusing)
    keys = status.stat_keys(root)
    assert keys["acme-us"] is None and keys["acme-eu"] is not None


def files_of(out: Path) -> set[str]:
    return {path.relative_to(out).as_posix() for path in out.rglob("*") if path.is_file()}


def test_the_counts_of_a_recompile_are_those_of_the_files(tmp_path: Path) -> None:
    """written + unchanged is the new build, removed what left it: with files counted from
    the verified digests (never read one by one) and from the instances rendered again."""
    root = build_file_tree(tmp_path / "src", compile_estate())
    out = tmp_path / "out"

    def compile_and_count() -> None:
        before = files_of(out) if out.exists() else set()
        result = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
        assert result.stats is not None
        after = files_of(out)
        assert (result.stats.written + result.stats.unchanged,
                result.stats.removed) == (len(after), len(before - after))

    compile_and_count()
    (root / "acme-eu/peers/carol.yaml").unlink()  # a peer: its artifacts leave the build
    compile_and_count()
    compile_and_count()  # a no-op
    edit(root / "acme-eu/peers/berlin.yaml", "rack 2", "rack 3")  # acme-eu changes
    compile_and_count()  # acme-us kept in the spare, acme-eu rendered
    for path in sorted((root / "acme-us").rglob("*"), reverse=True):  # an instance
        path.unlink() if path.is_file() else path.rmdir()
    (root / "acme-us").rmdir()
    compile_and_count()


def test_a_fork_that_fails_scans_here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = a_build(tmp_path / "out")

    def refused() -> int:
        raise BlockingIOError(11, "Resource temporarily unavailable")

    monkeypatch.setattr(os, "fork", refused)
    scanner = scan.Scanner(str(out), str(tmp_path / "spare"), fork=True)
    try:
        assert scanner.pid is None and scanner.pipe is None
        assert scanner.build() == scan_build(str(out))
        assert scanner.spare() is None  # no spare folder
    finally:
        scanner.close()


@pytest.mark.parametrize("span", ["another-instance", "mangled"])
def test_a_span_at_the_wrong_fragment_renders_nothing_ahead_and_trusts_nothing(
    tmp_path: Path, span: str
) -> None:
    """The state's spans are read before the build is verified (to render ahead): one that
    points at another instance's fragment, or at no fragment, must cost speed, not bytes."""
    root = build_file_tree(tmp_path / "src", compile_estate())
    out = tmp_path / "out"
    assert compile_tree(root, out, TEST_SECRET, qr=True, cache=True).build
    (path,) = (tmp_path / ".mvpn-cache").glob("build-*.json")

    def point(body: Any) -> None:
        eu = body["instances"]["acme-eu"]["span"]
        body["instances"]["acme-us"]["span"] = (eu if span == "another-instance"
                                                else [eu[0] + 7, eu[1]])

    rewrite_state(path, point)
    peer = root / "acme-us/peers/chicago.yaml"
    peer.write_text(peer.read_text(encoding="utf-8") + "key_epoch: 2\n", encoding="utf-8")
    ahead: list[dict[str, object]] = []
    real = engine_mod.render_ahead

    def recording(*args: Any, **kwargs: Any) -> dict[str, engine_mod.Ahead]:
        ahead.append(dict(args[3]))
        return real(*args, **kwargs)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr("compiler.api.render_ahead", recording)
        result = compile_tree(root, out, TEST_SECRET, qr=True, cache=True)
    assert ahead == [{"acme-us": None}]  # asked, with no fragment to render against
    assert result.build is not None and result.reused == []  # the state was not trusted
    fresh = compile_tree(root, tmp_path / "fresh", TEST_SECRET, qr=True, cache=False)
    assert fresh.build is not None
    assert snapshot(out) == snapshot(tmp_path / "fresh")


def test_a_small_change_is_rendered_once_ahead_of_the_verification(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Rendered while the child scans, and that rendering is the one written: not twice."""
    root = build_file_tree(tmp_path / "src", compile_estate())
    out = tmp_path / "out"
    assert compile_tree(root, out, TEST_SECRET, qr=True, cache=True).build
    rendered = count_renders(monkeypatch)
    edit(root / "acme-eu/peers/berlin.yaml", "rack 2", "rack 3")  # acme-eu changes
    ahead = engine_mod.render_ahead

    def after(*args: Any, **kwargs: Any) -> dict[str, engine_mod.Ahead]:
        done = ahead(*args, **kwargs)
        assert rendered == ["acme-eu"]  # before the build was verified and planned
        return done

    monkeypatch.setattr("compiler.api.render_ahead", after)
    assert compile_tree(root, out, TEST_SECRET, qr=True, cache=True).reused == ["acme-us"]
    assert rendered == ["acme-eu"]
    fresh = compile_tree(root, tmp_path / "fresh", TEST_SECRET, qr=True, cache=False)
    assert fresh.build is not None
    assert snapshot(out) == snapshot(tmp_path / "fresh")


def _spare_checks(monkeypatch: pytest.MonkeyPatch) -> list[tuple[dict[str, Any], bool]]:
    """Record what each spare verification was given (per instance) and what it said."""
    seen: list[tuple[dict[str, Any], bool]] = []
    real = cache_mod.spare_intact

    def recording(listing: scan.Listing | None, *args: Any) -> bool:
        seen.append((dict(listing.instances) if listing is not None else {},
                     real(listing, *args)))
        return seen[-1][1]

    monkeypatch.setattr(cache_mod, "spare_intact", recording)
    return seen


def _spare_only(spare: Path, out: Path, instance: str) -> Path:
    """A file of the spare's ``instance`` that is not a hard link to the output's."""
    return next(path for path in sorted((spare / instance).rglob("*")) if path.is_file() and (
        not (out / path.relative_to(spare)).exists()
        or not path.samefile(out / path.relative_to(spare))))


@pytest.mark.parametrize("tamper", ["none", "added", "replaced", "renamed", "edited-shared",
                                    "forged-hint-added", "forged-hint-kept"])
def test_a_spare_instance_is_verified_by_its_folders_only_when_nothing_in_them_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, tamper: str
) -> None:
    """The spare's copy of an instance with the output's files is not listed while its folders
    are as the state recorded (a status per folder instead of a listing of every file). Any
    change in them, a state that lies about them, or an edit where no folder tells, must cost
    the spare (or the cache), never a build other than a cold compile's."""
    from tests.test_cache import cached_equals_uncached, state_file, tree

    monkeypatch.setattr(scan, "RACY_NS", -(10**12))  # the folders were written long ago
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    cached_equals_uncached(root, tmp_path)  # the first build is the spare: acme-eu shared
    out, spare = tmp_path / "cached", tmp_path / ".cached.mvpn-spare"
    path = state_file(tmp_path)
    assert set(json.loads(path.read_bytes().split(b"\n", 2)[1])["spare_folders"]) == {"acme-eu"}
    time.sleep(0.05)  # a timestamp tick: a change now cannot keep a folder's times
    revert = False
    if tamper == "added":
        (spare / "acme-eu/sites/extra.rsc").write_text("# not of the build\n")
    elif tamper == "replaced":
        berlin = spare / "acme-eu/sites/berlin.rsc"
        data = berlin.read_bytes()
        berlin.unlink()
        berlin.write_bytes(data)  # the same bytes, another inode
    elif tamper == "renamed":
        (spare / "acme-eu/sites").rename(spare / "acme-eu/moved")
        (spare / "acme-eu/moved").rename(spare / "acme-eu/sites")
    elif tamper == "edited-shared":  # a hard link: the output's file changes too
        berlin = spare / "acme-eu/sites/berlin.rsc"  # same size; no folder changes
        berlin.write_text(berlin.read_text(encoding="utf-8").replace("/", "|"))
    elif tamper == "forged-hint-added":  # the hint claims the folders as they now are
        (spare / "acme-eu/sites/extra.rsc").write_text("# not of the build\n")
        rewrite_state(path, lambda body: None,
                      {"spare_folders": {"acme-eu": folders_of(spare, "acme-eu")}})
    elif tamper == "forged-hint-kept":
        # acme-us is not the output's (denver changed): its own files carry no hint, and the
        # build below keeps it from the spare as it is.
        own = _spare_only(spare, out, "acme-us")
        own.write_bytes(own.read_bytes().replace(b"#", b";", 1))
        rewrite_state(path, lambda body: None, {"spare_folders": {
            "acme-eu": folders_of(spare, "acme-eu"), "acme-us": folders_of(spare, "acme-us")}})
        revert = True
    checks = _spare_checks(monkeypatch)
    if revert:
        edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/25", "10.31.0.0/24")
    else:
        edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/25", "10.31.0.0/26")
    cached_equals_uncached(root, tmp_path)  # the same bytes as a cold compile, whatever
    if tamper == "edited-shared":
        assert checks == []  # the output's scan found the edit: the state was not used
        return
    ((given, verified),) = checks
    listed = {name: value[0] != "" for name, value in given.items()}
    expected = {
        "none": ({"acme-eu": False, "acme-us": True}, True),
        "added": ({"acme-eu": True, "acme-us": True}, False),
        "replaced": ({"acme-eu": True, "acme-us": True}, False),
        "renamed": ({"acme-eu": True, "acme-us": True}, True),  # listed, and found intact
        "forged-hint-added": ({"acme-eu": False, "acme-us": True}, False),
        "forged-hint-kept": ({"acme-eu": False, "acme-us": False}, False),
    }[tamper]
    assert (listed, verified) == expected


def test_a_manifest_replaced_after_the_scan_is_not_read_as_the_recorded_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fragments are read while the child scans: the file read must be the one recorded,
    also when it was replaced after the child found it as written."""
    from tests.test_cache import cached_equals_uncached, tree

    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    manifest = tmp_path / "cached/manifest.json"
    real = cache_mod.BuildCache.load

    def replacing(self: cache_mod.BuildCache, *args: Any) -> Any:
        assert self._scanner().build() is not None  # the child found it as written
        data = manifest.read_bytes()
        at = data.index(b'"sha256": "', data.index(b'"acme-eu"')) + 11
        fake = tmp_path / "fake.json"  # one digit of an acme-eu digest changed, same size
        fake.write_bytes(data[:at] + (b"0" if data[at:at + 1] != b"0" else b"1") + data[at + 1:])
        os.chmod(fake, 0o644)
        os.replace(fake, manifest)
        return real(self, *args)

    monkeypatch.setattr(cache_mod.BuildCache, "load", replacing)
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    assert cached_equals_uncached(root, tmp_path) == []  # nothing trusted: a cold build


@pytest.mark.parametrize("odd", ["fifo", "symlink", "folder", "garbage", "absent"])
def test_the_hint_is_read_only_from_a_regular_file(tmp_path: Path, odd: str) -> None:
    """The child reads the hint before the state is verified: nothing there may block it."""
    state = tmp_path / "build-x.json"
    good = tmp_path / "good.json"
    good.write_bytes(b"0" * 64 + b'\n{"spare_folders":{"one":"ab"}}\n{}\n')
    assert scan.read_hint(str(good)) == {"one": "ab"}
    if odd == "fifo":
        os.mkfifo(state)  # no writer: a blocking open or read would hang the test
    elif odd == "symlink":
        state.symlink_to(good)
    elif odd == "folder":
        state.mkdir()
    elif odd == "garbage":
        state.write_bytes(b"\x00\xff\n[1, 2]\n")
    found: list[dict[str, str]] = []
    reader = threading.Thread(target=lambda: found.append(scan.read_hint(str(state))))
    reader.start()
    reader.join(5)
    if reader.is_alive():  # blocked on the FIFO: let it go, and fail
        os.close(os.open(state, os.O_WRONLY | os.O_NONBLOCK))
        reader.join()
        pytest.fail("read_hint blocked")
    assert found == [{}]


def test_the_fragments_are_never_read_from_a_fifo(tmp_path: Path) -> None:
    """They are read before the scan has looked at the manifest: a FIFO must not block."""
    out = tmp_path / "out"
    out.mkdir()
    os.mkfifo(out / "manifest.json")
    state = cache_mod.BuildState({}, {}, Entry(1, 2, 3, 0o644))
    found: list[bool] = []
    reader = threading.Thread(target=lambda: found.append(cache_mod._read_fragments(out, state)))
    reader.start()
    reader.join(5)
    if reader.is_alive():
        os.close(os.open(out / "manifest.json", os.O_WRONLY | os.O_NONBLOCK))
        reader.join()
        pytest.fail("the fragments were read from a FIFO")
    assert found == [False]


def _wide_build(root: Path, count: int) -> Path:
    """A build of ``count`` instances like :func:`a_build`'s ``one``."""
    files = {"manifest.json": "{}\n"}
    for i in range(count):
        files.update({f"i{i}/VERSION": f"{i}\n", f"i{i}/hub/VERSION": "2\n",
                      f"i{i}/sites/a.rsc": "# a\n"})
    build_file_tree(root, files)
    for path in root.rglob("*"):
        os.chmod(path, 0o755 if path.is_dir() else 0o644)
    return root


@pytest.mark.parametrize("child", ["slow", "done", "grown"])
def test_the_compile_scans_the_instances_the_child_has_not_come_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, child: str
) -> None:
    """The scan is shared out like the stat keys: a slow child leaves instances to the compile,
    one that is done none (it holds its claims until stopped); the listings are those of one
    process. A build that changed between the two processes' listings is not verified."""
    out, spare = _wide_build(tmp_path / "out", 8), _wide_build(tmp_path / "spare", 8)
    fast = scan._instance

    def slow(*args: Any) -> Any:
        time.sleep(0.3)  # in the child, forked with it
        return fast(*args)

    if child != "done":
        monkeypatch.setattr(scan, "_instance", slow)
    scanner = scan.Scanner(str(out), str(spare), fork=True)
    monkeypatch.setattr(scan, "_instance", fast)
    here: list[str] = []

    def counting(path: str, *args: Any) -> Any:
        here.append(Path(path).name)
        return fast(path, *args)

    try:
        assert scanner.pipe is not None
        if child == "done":  # both its listings are written
            time.sleep(0.5)
        else:
            time.sleep(0.15)  # it has claimed its first instance (and sleeps on it)
        if child == "grown":
            shutil.copytree(out / "i3", out / "i3b")
        monkeypatch.setattr(scan, "_instance", counting)
        built, spared = scanner.build(), scanner.spare()
    finally:
        scanner.close()
        monkeypatch.setattr(scan, "_instance", fast)
    if child == "grown":  # the two processes listed different builds: nothing verified
        assert built is None and spared is None
        return
    assert built == scan_build(str(out))
    assert spared == scan_build(str(spare))  # a copy: nothing shared, all listed
    if child == "slow":  # the child took the first instance or two; this process the rest
        assert 5 <= len(set(here)) < 8 and "i7" in here and "i0" not in here
    else:
        assert here == []


def test_what_neither_process_scanned_is_scanned_here(tmp_path: Path) -> None:
    """A listing from the child that lacks instances (claimed by no one) is completed here."""
    out = _wide_build(tmp_path / "out", 3)
    full = scan_build(str(out))
    assert full is not None
    partial = scan.Listing(full.top, full.manifest, {"i0": full.instances["i0"]})
    scanner = scan.Scanner(str(out), str(tmp_path / "spare"), fork=False)
    read, write = os.pipe()
    os.write(write, partial.encode())
    os.close(write)
    scanner.pipe = os.fdopen(read, "rb")
    try:
        assert scanner.build() == full
        assert sorted(scanner.found) == ["i1", "i2"]  # scanned here: for the spare's scan
    finally:
        scanner.close()


def test_repeated_compiles_leave_no_descriptor_open(tmp_path: Path) -> None:
    """The scanning child's shared claims are closed with it: a library calling compile_tree
    again and again keeps the descriptors it had."""
    root = build_file_tree(tmp_path / "src", compile_estate())
    assert compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True).build
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        assert compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True).build
    assert len(os.listdir("/proc/self/fd")) == before
