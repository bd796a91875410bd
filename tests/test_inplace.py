"""A changed instance is updated in the stage in place (issue 14: the tail of a site added).

The stage of a recompile is the spare build (the build before last: mostly hard links to the
output's files). An instance rendered or linked again brings the spare's copy to its new
files (:mod:`compiler.engine.inplace`) instead of removing it and linking every file anew;
an instance whose key is back to the spare's is kept as it is. Every test holds the build
to one made without the cache (bytes, modes, folders), checks which files were touched (by
inode, and by counting the engine's links and writes), that the output did not change
before the swap (its files may be hard links of the stage's), and that the state recorded
is the disk's (the next compile trusts it).
"""

from __future__ import annotations

import hashlib
import os
import shutil
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.api import CompileResult, compile_tree
from compiler.engine import engine as engine_mod
from compiler.engine import write as write_mod
from compiler.engine.cache import entry, files_digest
from tests.support.trees import TEST_SECRET, build_file_tree, site
from tests.test_build_atomic import snapshot
from tests.test_cache import damage, edit, state_body, state_file, tree

#: A file as the tests see it: inode, mtime, mode bits, SHA-256 of its bytes.
Seen = tuple[int, int, int, str]

MUNICH = {"acme-eu/peers/munich.yaml": site("munich-office", "10.255.0.14", ["10.22.0.0/24"],
                                            address6="fd00:255::14")}
POTSDAM = {"acme-eu/peers/potsdam.yaml": site("potsdam-office", "10.255.0.15", ["10.23.0.0/24"],
                                              address6="fd00:255::15")}


def files(folder: Path) -> dict[str, Seen]:
    """Every file under ``folder`` by its path there."""
    found = {}
    for path in folder.rglob("*"):
        if path.is_file():
            st = path.lstat()
            found[path.relative_to(folder).as_posix()] = (
                st.st_ino, st.st_mtime_ns, st.st_mode & 0o7777,
                hashlib.sha256(path.read_bytes()).hexdigest())
    return found


def compiled(root: Path, out: Path) -> CompileResult:
    result = compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
    assert result.build is not None, result.check.diagnostics.sorted()
    return result


def as_fresh(root: Path, out: Path) -> None:
    """``out`` is exactly what a compile without the cache makes (folders included)."""
    fresh = out.parent / "fresh"
    assert compile_tree(root, fresh, TEST_SECRET, qr=False, cache=False).build is not None
    assert snapshot(out) == snapshot(fresh)
    shutil.rmtree(fresh)


def recorded_as_on_disk(tmp: Path) -> None:
    """The state's digests are those of the output's and the spare's files on disk."""
    body = state_body(state_file(tmp))
    for build, record in ((tmp / "cached", body), (tmp / ".cached.mvpn-spare", body["spare"])):
        for name, inst in (record or {"instances": {}})["instances"].items():
            digest = (body["instances"][name] if inst == "=" else inst)["digest"]
            on_disk = {p.relative_to(build).as_posix(): entry(os.stat(p))
                       for p in (build / name).rglob("*") if p.is_file()}
            assert files_digest(on_disk) == digest, (build, name)


class Watch:
    """What the engine does to the stage: files linked, files written, instances cleared."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, out: Path) -> None:
        self.linked: list[str] = []
        self.written: list[str] = []
        self.cleared: list[str] = []
        self.at_swap: list[dict[str, Seen]] = []
        self.out = out
        link = engine_mod.link_file  # type: ignore[attr-defined]
        write = engine_mod.write_new  # type: ignore[attr-defined]
        clear, swap = engine_mod._clear, engine_mod.swap_in  # type: ignore[attr-defined]

        def linking(source: Any, target: Any) -> None:
            self.linked.append(_rel(target))
            link(source, target)

        def writing(target: Any, data: Any, mode: int) -> os.stat_result:
            self.written.append(_rel(target))
            return write(target, data, mode)

        def clearing(job: Any, name: str) -> None:
            if job.spare is not None and name in job.spare.instances:  # else nothing to clear
                self.cleared.append(name)
            clear(job, name)

        def swapping(stage: Path, out: Path) -> Path | None:
            self.at_swap.append(files(out))  # the output as it is just before the swap
            return swap(stage, out)

        monkeypatch.setattr(engine_mod, "link_file", linking)
        monkeypatch.setattr(engine_mod, "write_new", writing)
        monkeypatch.setattr(engine_mod, "_clear", clearing)
        monkeypatch.setattr(engine_mod, "swap_in", swapping)


def _rel(target: Any) -> str:
    """A stage path's part inside the stage."""
    return str(target).split(".mvpn-stage-", 1)[1].split("/", 1)[1]


def spare_sharing_acme_eu(root: Path, out: Path) -> None:
    """Two builds: the second linked acme-eu from the first, which is now the spare."""
    compiled(root, out)
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    compiled(root, out)


def test_a_site_added_writes_only_its_files_and_keeps_every_other_inode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "src")
    out = tmp_path / "cached"
    spare_sharing_acme_eu(root, out)
    before, spare_before = files(out), files(tmp_path / ".cached.mvpn-spare")
    build_file_tree(root, MUNICH)
    watch = Watch(monkeypatch, out)
    result = compiled(root, out)
    after = files(out)
    # Nothing of the output changed (inode, mtime, mode, bytes) until it was swapped out.
    assert watch.at_swap == [before]
    assert watch.cleared == []  # updated in place: no instance removed and made anew
    new = sorted(rel for rel, seen in after.items()
                 if rel not in before or before[rel][3] != seen[3])
    assert "acme-eu/sites/munich.rsc" in new and "acme-eu/hub/VERSION" in new
    assert not any(rel.startswith("acme-us/") for rel in new)
    assert sorted(watch.written) == [rel for rel in new if rel != "manifest.json"]
    # acme-us is unchanged: only the files the spare has of its own are linked again.
    assert sorted(watch.linked) == sorted(
        rel for rel, seen in before.items()
        if rel.startswith("acme-us/") and spare_before[rel][0] != seen[0])
    old_inodes = {seen[0] for seen in before.values()}
    for rel, seen in after.items():
        if rel in new:
            assert seen[0] not in old_inodes, rel  # a new file, never one written through
        else:
            assert seen[:3] == before[rel][:3], rel  # the very same file, untouched
    assert result.stats is not None
    assert (result.stats.written, result.stats.unchanged, result.stats.removed) == (
        len(new), len(after) - len(new), 0)
    as_fresh(root, out)
    recorded_as_on_disk(tmp_path)
    assert compiled(root, out).reused == ["acme-eu", "acme-us"]  # trusted: a no-op


@pytest.mark.parametrize("spare", ["shares-acme-us", "older-acme-us"])
def test_a_removed_peer_takes_its_files_and_its_empty_folder_along(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, spare: str
) -> None:
    root = tree(tmp_path / "src")
    out = tmp_path / "cached"
    compiled(root, out)
    if spare == "shares-acme-us":  # acme-us linked: the spare's copy is the output's
        edit(root / "acme-eu/peers/berlin.yaml", "rack 2", "rack 3")
    else:  # the spare's copy is acme-us before this edit, acme-eu the output's
        edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    compiled(root, out)
    before = files(out)
    assert "acme-us/clients/erin.ovpn" in before
    (root / "acme-us/peers/erin.yaml").unlink()  # acme-us's only client
    watch = Watch(monkeypatch, out)
    rewrites: list[write_mod.Tail | None] = []
    real_rewrite = engine_mod.rewrite  # type: ignore[attr-defined]

    def rewrite(target: Any, data: Any, mode: int, tail: Any = None) -> os.stat_result:
        rewrites.append(tail)
        return real_rewrite(target, data, mode, tail)

    monkeypatch.setattr(engine_mod, "rewrite", rewrite)
    result = compiled(root, out)
    assert watch.at_swap == [before] and watch.cleared == []
    assert not (out / "acme-us/clients").exists()
    gone = before.keys() - files(out).keys()
    assert "acme-us/clients/erin.ovpn" in gone and "acme-us/hub/openvpn/ccd/erin" in gone
    assert result.stats is not None and result.stats.removed == len(gone)
    # The manifest was written over the spare's from the first part that differs from it on.
    manifest = (out / "manifest.json").read_bytes()
    (tail,) = rewrites
    first = b',\n    "acme-us": {' if spare == "older-acme-us" else b'  "instances": {\n'
    assert tail is not None and tail.at == manifest.index(first)
    as_fresh(root, out)
    recorded_as_on_disk(tmp_path)


def test_a_mode_changed_is_a_new_file_and_the_output_s_link_keeps_its_mode(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Same bytes, another mode: a chmod of the stage's hard link would change the output."""
    root = tree(tmp_path / "src")
    out = tmp_path / "cached"
    spare_sharing_acme_eu(root, out)
    rel = "acme-eu/sites/hamburg.ovpn"
    before = files(out)
    assert before[rel][2] == 0o600
    build_file_tree(root, MUNICH)  # acme-eu is rendered again
    real_mode = engine_mod.file_mode  # type: ignore[attr-defined]
    monkeypatch.setattr(engine_mod, "file_mode", lambda r, secret: 0o640 if r == rel
                        else real_mode(r, secret))
    watch = Watch(monkeypatch, out)
    compiled(root, out)
    assert watch.at_swap == [before] and watch.cleared == []
    assert rel in watch.written
    after = files(out)
    assert after[rel][2] == 0o640 and after[rel][3] == before[rel][3]
    assert after[rel][0] not in {seen[0] for seen in before.values()}
    spare = files(tmp_path / ".cached.mvpn-spare")  # the previous build, now the spare
    assert spare[rel] == before[rel]
    recorded_as_on_disk(tmp_path)


def test_a_spare_copy_that_changed_since_it_was_verified_is_made_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "src")
    out = tmp_path / "cached"
    spare_sharing_acme_eu(root, out)
    build_file_tree(root, MUNICH)
    real = engine_mod.instance_files  # type: ignore[attr-defined]

    def tampered(build: Path, inst: Any) -> Any:
        if ".mvpn-stage-" in build.name and inst.name == "acme-eu":
            # The stage's own file (not the output's): replaced with the same bytes, a new
            # inode, after the spare was verified.
            path = build / "acme-eu/sites/berlin.rsc"
            data = path.read_bytes()
            path.unlink()
            path.write_bytes(data)
        return real(build, inst)

    monkeypatch.setattr(engine_mod, "instance_files", tampered)
    watch = Watch(monkeypatch, out)
    before = files(out)
    compiled(root, out)
    assert watch.cleared == ["acme-eu"]  # not trusted: removed and made anew
    assert watch.at_swap == [before]
    as_fresh(root, out)
    recorded_as_on_disk(tmp_path)


def test_a_spare_copy_of_an_older_version_is_brought_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two edits of one instance in a row: the spare's copy lacks the first one's files."""
    root = tree(tmp_path / "src")
    out = tmp_path / "cached"
    compiled(root, out)
    build_file_tree(root, MUNICH)
    compiled(root, out)
    before, spare_before = files(out), files(tmp_path / ".cached.mvpn-spare")
    build_file_tree(root, POTSDAM)
    watch = Watch(monkeypatch, out)
    compiled(root, out)
    after = files(out)
    assert watch.at_swap == [before] and watch.cleared == []
    munich = [rel for rel in before if "munich" in rel]
    assert munich and all(after[rel] == before[rel] for rel in munich)  # linked from out
    assert set(munich) <= set(watch.linked)
    assert all("potsdam" not in rel for rel in watch.linked)
    for rel, seen in after.items():  # what all three builds share was never touched
        if rel in spare_before and spare_before[rel] == before.get(rel):
            assert seen[:3] == before[rel][:3], rel
            assert rel not in watch.linked and rel not in watch.written, rel
    as_fresh(root, out)
    recorded_as_on_disk(tmp_path)


def test_an_instance_back_to_the_spare_s_key_is_kept_and_counted_against_the_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A site removed and added back: the spare holds exactly that build of acme-eu."""
    root = tree(tmp_path / "src")
    out = tmp_path / "cached"
    build_file_tree(root, MUNICH)
    compiled(root, out)
    with_munich = files(out)
    (root / "acme-eu/peers/munich.yaml").unlink()
    compiled(root, out)
    before = files(out)
    build_file_tree(root, MUNICH)
    rendered: list[str] = []
    real = engine_mod._render_one

    def render_one(job: Any, name: str) -> Any:
        rendered.append(name)
        return real(job, name)

    monkeypatch.setattr(engine_mod, "_render_one", render_one)
    watch = Watch(monkeypatch, out)
    result = compiled(root, out)
    assert rendered == [] and watch.linked == [] and watch.written == []
    assert watch.at_swap == [before]
    after = files(out)
    assert {rel: seen[:3] for rel, seen in after.items() if rel != "manifest.json"} == {
        rel: seen[:3] for rel, seen in with_munich.items() if rel != "manifest.json"}
    changed = sum(rel not in before or before[rel][3] != seen[3] for rel, seen in after.items())
    assert result.stats is not None
    assert (result.stats.written, result.stats.unchanged, result.stats.removed) == (
        changed, len(after) - changed, 0)
    (root / "acme-eu/peers/munich.yaml").unlink()  # and removed again: counted the same way
    result = compiled(root, out)
    assert result.stats is not None and result.stats.removed == sum(
        "munich" in rel for rel in after)
    as_fresh(root, out)
    recorded_as_on_disk(tmp_path)


def test_a_damaged_spare_copy_of_an_unchanged_instance_is_linked_anew(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "src")
    out = tmp_path / "cached"
    compiled(root, out)
    build_file_tree(root, MUNICH)
    compiled(root, out)
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    damage(tmp_path / ".cached.mvpn-spare/acme-eu/hub/VERSION", "same-size")  # its own
    watch = Watch(monkeypatch, out)
    compiled(root, out)  # the spare is not verified: a new stage, everything linked
    assert watch.cleared == [] and "acme-eu/sites/munich.rsc" in watch.linked
    as_fresh(root, out)
    recorded_as_on_disk(tmp_path)


#: Edits that toggle: each step flips one of them (a site, a client, a subnet, a secret flag).
TOGGLES: dict[str, tuple[str, dict[str, Any] | None]] = {
    "munich": ("acme-eu/peers/munich.yaml", MUNICH["acme-eu/peers/munich.yaml"]),
    "potsdam": ("acme-eu/peers/potsdam.yaml", POTSDAM["acme-eu/peers/potsdam.yaml"]),
    "erin": ("acme-us/peers/erin.yaml", None),
    "denver": ("acme-us/peers/denver.yaml", None),
}


@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(st.sampled_from(sorted(TOGGLES)), min_size=2, max_size=5))
def test_any_series_of_edits_builds_what_a_compile_without_the_cache_builds(
    tmp_path_factory: pytest.TempPathFactory, steps: list[str]
) -> None:
    """Whatever the spare holds of each instance (shared, older, the same key), the build is
    the uncached one, the counts say what changed, the state is the disk's, every time."""
    tmp = tmp_path_factory.mktemp("series")
    root = tree(tmp / "src")
    out = tmp / "cached"
    originals = {name: (root / rel).read_text(encoding="utf-8") if (root / rel).exists()
                 else None for name, (rel, _doc) in TOGGLES.items()}
    compiled(root, out)
    for name in steps:
        rel, doc = TOGGLES[name]
        path = root / rel
        if name == "denver":  # a subnet moved back and forth: the hub and the site change
            edit(path, *(("10.31.0.0/24", "10.31.0.0/25") if "/24" in path.read_text()
                         else ("10.31.0.0/25", "10.31.0.0/24")))
        elif path.exists():
            path.unlink()
        elif doc is not None:
            build_file_tree(root, {rel: doc})
        else:
            path.write_text(originals[name] or "", encoding="utf-8")
        before = files(out)
        stats = compiled(root, out).stats
        after = files(out)
        changed = sum(before.get(rel, ())[2:] != seen[2:] for rel, seen in after.items())
        assert stats is not None and (stats.written, stats.unchanged, stats.removed) == (
            changed, len(after) - changed, len(before.keys() - after.keys()))
        as_fresh(root, out)
        recorded_as_on_disk(tmp)
