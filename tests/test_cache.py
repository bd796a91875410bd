"""The build cache and incremental compile never change output bytes (issue 6).

Every test compiles with the cache into one folder and without it into another, and
compares the two trees file by file (bytes and modes). Speed is for `make bench`; here
only correctness: edits, epoch bumps, removals, another secret, a corrupted or foreign
cache, a tampered output, a killed incremental compile, and parallel rendering.
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import stat
from pathlib import Path
from typing import Any

import pytest

from compiler.api import check, compile_tree
from compiler.checks import cross
from compiler.cli.main import main
from compiler.diagnostics import UsageError
from compiler.engine import cache as cache_mod
from compiler.engine import engine as engine_mod
from compiler.engine.assemble import assemble
from compiler.engine.manifest import instance_fragment, manifest_parts
from compiler.keys import KeyRing
from compiler.loader import status
from compiler.render import qr as qrcode
from tests.support.trees import (
    TEST_SECRET,
    TEST_SECRET_B64,
    build_file_tree,
    client,
    compile_estate,
    site,
)
from tests.test_build_atomic import big_tree, snapshot, start_slow_compile, wait_for


def cached_equals_uncached(root: Path, tmp: Path, secret: bytes | None = TEST_SECRET,
                           qr: bool = False) -> list[str]:
    """Compile with the cache (into tmp/cached) and without (tmp/fresh); both must agree."""
    cached = compile_tree(root, tmp / "cached", secret, qr=qr, cache=True)
    assert cached.build is not None, cached.check.diagnostics.sorted()
    fresh_out = tmp / "fresh"
    fresh = compile_tree(root, fresh_out, secret, qr=qr, cache=False)
    assert fresh.build is not None
    assert snapshot(tmp / "cached") == snapshot(fresh_out)
    return cached.reused


def count_renders(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the instances the engine renders from now on, in order."""
    rendered: list[str] = []
    real = engine_mod.render_instance  # type: ignore[attr-defined]

    def counting(inst: Any, *args: Any, **kwargs: Any) -> Any:
        rendered.append(inst.name)
        return real(inst, *args, **kwargs)

    monkeypatch.setattr(engine_mod, "render_instance", counting)
    return rendered


def tree(root: Path) -> Path:
    files = compile_estate()
    files["acme-us/peers/denver.yaml"] = site("denver-office", "10.253.0.12", ["10.31.0.0/24"],
                                              protocol="openvpn")
    return build_file_tree(root, files)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new), encoding="utf-8")


@pytest.mark.parametrize("trust_fresh_stats", [False, True])
def test_incremental_compiles_match_cold_ones_through_a_series_of_edits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, trust_fresh_stats: bool
) -> None:
    if trust_fresh_stats:  # unchanged folders are then skipped by their stat keys, unread
        monkeypatch.setattr(status, "RACY_NS", -(10**12))
    root = tree(tmp_path / "src")
    assert cached_equals_uncached(root, tmp_path) == []  # cold: nothing to reuse
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu", "acme-us"]  # no-op
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu"]  # only acme-us re-rendered
    berlin = root / "acme-eu/peers/berlin.yaml"
    berlin.write_text(berlin.read_text(encoding="utf-8") + "key_epoch: 2\n", encoding="utf-8")
    assert cached_equals_uncached(root, tmp_path) == ["acme-us"]
    (root / "acme-eu/peers/carol.yaml").unlink()  # peer removed: its artifacts disappear
    assert cached_equals_uncached(root, tmp_path) == ["acme-us"]
    assert not (tmp_path / "cached/acme-eu/clients/carol.ovpn").exists()
    build_file_tree(root, {"acme-eu/peers/frank.yaml": client("frank@example.com",
                                                              "10.255.0.14",
                                                              address6="fd00:255::14")})
    assert cached_equals_uncached(root, tmp_path) == ["acme-us"]
    edit(root / "acme-eu/instance.yaml", "key_epoch: 1", "key_epoch: 2")  # hub epoch bump
    assert cached_equals_uncached(root, tmp_path) == ["acme-us"]
    edit(root / "vpn.yaml", "keepalive: 25", "keepalive: 30")  # org settings: everything
    assert cached_equals_uncached(root, tmp_path) == []
    for path in sorted((root / "acme-us").rglob("*"), reverse=True):  # instance removed
        path.unlink() if path.is_file() else path.rmdir()
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu"]
    assert not (tmp_path / "cached/acme-us").exists()


def test_another_secret_or_qr_setting_reuses_nothing(tmp_path: Path) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    assert cached_equals_uncached(root, tmp_path, secret=None) == []  # redacted
    assert cached_equals_uncached(root, tmp_path, secret=b"another-test-secret-0123456789ab") == []
    assert cached_equals_uncached(root, tmp_path, secret=TEST_SECRET, qr=True) == []
    assert cached_equals_uncached(root, tmp_path, secret=TEST_SECRET, qr=True) == [
        "acme-eu", "acme-us"]


def damage(path: Path, how: str) -> None:
    """Change a file in place keeping its size, delete it, or add one beside it."""
    if how == "same-size":
        data = bytearray(path.read_bytes())
        data[-2] ^= 1
        path.write_bytes(bytes(data))
    elif how == "deleted":
        path.unlink()
    else:
        path.with_name("extra.rsc").write_text("# not ours\n")


def state_file(tmp: Path) -> Path:
    (path,) = (tmp / ".mvpn-cache").glob("build-*.json")
    return path


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty", "folder",
                                    "no-hint", "summary-lost"])
def test_a_damaged_cache_is_ignored(tmp_path: Path, damage: str) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    path = state_file(tmp_path)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "flip":  # a changed digit inside the body: the checksum no longer holds
        i = data.index(b'"key":"', data.index(b"\n")) + 7
        path.write_bytes(data[:i] + (b"0" if data[i:i + 1] != b"0" else b"1") + data[i + 1:])
    elif damage == "garbage":
        path.write_bytes(b"\x00\xff not json")
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "no-hint":  # sealed, but without the scan's hint line (an older format)
        body = data.split(b"\n", 2)[2]
        path.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    elif damage == "summary-lost":  # sealed, but one summary line short
        body = data.split(b"\n", 1)[1].rsplit(b"\n", 1)[0]
        path.write_bytes(hashlib.sha256(body).hexdigest().encode() + b"\n" + body)
    else:
        path.unlink()
        path.mkdir()
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    assert cached_equals_uncached(root, tmp_path) == []


def test_a_cache_from_another_compiler_is_ignored(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    monkeypatch.setattr(cache_mod, "compiler_fingerprint", lambda: "another compiler")
    assert cached_equals_uncached(root, tmp_path) == []
    monkeypatch.undo()
    assert cached_equals_uncached(root, tmp_path) == []  # that state was not ours either


@pytest.mark.parametrize("tamper", ["same-size", "deleted", "added", "mode", "manifest",
                                    "manifest-fifo"])
def test_a_tampered_output_is_rebuilt_not_trusted(tmp_path: Path, tamper: str) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    out = tmp_path / "cached"
    target = out / "acme-eu/sites/berlin.rsc"
    if tamper in ("same-size", "deleted", "added"):
        damage(target, tamper)
    elif tamper == "mode":
        target.chmod(0o644)
    elif tamper == "manifest-fifo":  # opening it to read would wait for a writer forever
        (out / "manifest.json").unlink()
        os.mkfifo(out / "manifest.json")
        with pytest.raises(UsageError, match=r"holds no mvpn manifest\.json; refusing"):
            compile_tree(root, out, TEST_SECRET, qr=False, cache=True)
        return
    else:
        (out / "manifest.json").write_text("{}\n")
    assert cached_equals_uncached(root, tmp_path) == []


def test_the_cache_holds_no_key_material_and_is_private(tmp_path: Path) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    folder = tmp_path / ".mvpn-cache"
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    path = state_file(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text(encoding="utf-8")
    ring = KeyRing(TEST_SECRET)
    for secret in (ring.wireguard_hub("acme-eu", 1).private_key,
                   ring.wireguard_peer("acme-eu", "berlin", 1).private_key,
                   ring.openvpn_server("acme-eu", 1, "acme-eu.vpn.example.net").private_key):
        assert secret.split("\n")[1 if "\n" in secret else 0] not in text
    assert "PRIVATE KEY" not in text and "PrivateKey" not in text
    assert TEST_SECRET.hex() not in text


def test_a_cache_folder_others_can_write_is_not_trusted(tmp_path: Path) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    os.chmod(tmp_path / ".mvpn-cache", 0o777)
    assert cached_equals_uncached(root, tmp_path) == []


def test_errors_in_a_changed_file_give_the_full_check_diagnostics(tmp_path: Path) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    before = snapshot(tmp_path / "cached")
    # a cross-instance overlap between a changed and an unchanged instance (a warning) ...
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.20.0.0/24")
    with_cache = compile_tree(root, tmp_path / "cached", TEST_SECRET, qr=False, cache=True)
    without = compile_tree(root, tmp_path / "fresh", TEST_SECRET, qr=False, cache=False)
    assert [d.code for d in with_cache.check.diagnostics.sorted()] == [
        "route-cross-instance", "route-cross-instance"]
    assert with_cache.check.diagnostics.sorted() == without.check.diagnostics.sorted()
    assert snapshot(tmp_path / "cached") == snapshot(tmp_path / "fresh")
    again = compile_tree(root, tmp_path / "cached", TEST_SECRET, qr=False, cache=True)
    assert again.check.diagnostics.sorted() == without.check.diagnostics.sorted()  # not lost
    # ... and an error: nothing is written, the build stays as it was
    edit(root / "acme-us/peers/denver.yaml", "10.20.0.0/24", "10.1.0.0/24")
    failed = compile_tree(root, tmp_path / "cached", TEST_SECRET, qr=False, cache=True)
    assert failed.build is None
    assert [d.code for d in failed.check.diagnostics.sorted()] == ["route-conflict"]
    assert snapshot(tmp_path / "cached") != before  # the warning build above is kept


def test_parallel_rendering_gives_the_same_bytes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "src")
    monkeypatch.setenv("MVPN_JOBS", "2")
    parallel = compile_tree(root, tmp_path / "parallel", TEST_SECRET, qr=True, cache=True)
    monkeypatch.setenv("MVPN_JOBS", "1")
    serial = compile_tree(root, tmp_path / "serial", TEST_SECRET, qr=True, cache=False)
    assert parallel.build is not None and serial.build is not None
    assert snapshot(tmp_path / "parallel") == snapshot(tmp_path / "serial")
    in_memory = assemble(serial.check.estate, KeyRing(TEST_SECRET), qr=True)
    assert {rel: hashlib.sha256(f.data).hexdigest() for rel, f in in_memory.files.items()} == {
        rel: digest for rel, (digest, _mode) in snapshot(tmp_path / "serial").items()
        if digest != "<dir>"}


def test_manifest_fragments_write_what_json_dumps_writes(tmp_path: Path) -> None:
    root = tree(tmp_path / "src")
    result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=True)
    assert result.build is not None
    manifest = json.loads((tmp_path / "out/manifest.json").read_text(encoding="utf-8"))
    head = {k: v for k, v in manifest.items() if k != "instances"}
    odd: dict[str, dict[str, Any]] = {"x\"y": {}, "z": {"version": "v", "artifacts": {}},
           "w": {"artifacts": {"a\u00e9": {"sha256": "s", "bytes": 1}}}}
    for instances in (manifest["instances"], {}, odd):
        expected = json.dumps({**head, "instances": instances}, indent=2) + "\n"
        frags = [instance_fragment(name, entry) for name, entry in instances.items()]
        assert "".join(manifest_parts(head, frags)) == expected


def test_killed_incremental_compile_keeps_the_previous_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = big_tree(tmp_path / "src", 240), tmp_path / "out"
    monkeypatch.setenv("MVPN_SECRET", TEST_SECRET_B64)
    assert main(["compile", str(root), "-o", str(out), "--no-qr"]) == 0
    before = snapshot(out)
    peer = root / "acme-eu/peers/s0.yaml"
    peer.write_text(peer.read_text(encoding="utf-8") + "key_epoch: 3\n", encoding="utf-8")
    proc = start_slow_compile(root, out)  # links and writes slowed down
    stage = out.parent / f".{out.name}.mvpn-stage-{proc.pid}"
    try:
        reached = wait_for(lambda: sum(1 for _ in stage.rglob("*")) > 100, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert reached and proc.returncode == -signal.SIGKILL
    assert snapshot(out) == before
    assert cached_equals_uncached(root, tmp_path / "again") == []
    assert main(["compile", str(root), "-o", str(out), "--no-qr"]) == 0
    assert snapshot(out) == snapshot(tmp_path / "again/fresh")


def test_a_build_started_before_the_graph_checks_is_dropped_when_they_fail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "src")
    monkeypatch.setenv("MVPN_JOBS", "2")  # workers: rendering starts before the graph checks
    cached_equals_uncached(root, tmp_path)
    before = snapshot(tmp_path / "cached")
    edit(root / "acme-us/peers/denver.yaml", "10.253.0.12", "10.253.0.10")  # chicago's address
    for cache in (True, False):
        result = compile_tree(root, tmp_path / "cached", TEST_SECRET, qr=False, cache=cache)
        assert result.build is None
        assert [d.code for d in result.check.diagnostics.sorted()] == ["address-duplicate"] * 2
        assert snapshot(tmp_path / "cached") == before
        assert list(tmp_path.glob(".cached.mvpn-*")) == []


def test_a_refused_output_folder_comes_before_the_tree(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """An unusable -o is a usage error found before the tree is read (issue 11.13: refuse
    before touching anything), whether or not the tree has errors."""
    root = tree(tmp_path / "src")
    out = tmp_path / "notes"
    out.mkdir()
    (out / "notes.txt").write_text("mine\n")
    monkeypatch.setenv("MVPN_JOBS", "2")
    monkeypatch.setenv("MVPN_SECRET", TEST_SECRET_B64)
    for old, new in (("10.253.0.12", "10.253.0.10"), ("10.253.0.10", "10.253.0.12")):
        edit(root / "acme-us/peers/denver.yaml", old, new)  # with errors, then clean
        assert main(["compile", str(root), "-o", str(out), "--no-qr"]) == 2
        captured = capsys.readouterr()
        assert captured.out == ""  # the tree was not even checked
        assert "holds no mvpn manifest.json" in captured.err
    assert sorted(p.name for p in out.iterdir()) == ["notes.txt"]
    assert list(tmp_path.glob(".notes.mvpn-*")) == []
    assert not (tmp_path / ".mvpn-cache").exists()


def test_qr_codes_are_made_only_for_profiles_that_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tree(tmp_path / "src")
    made: list[str] = []
    real = qrcode.matrix

    def make(content: str) -> list[bytes] | None:
        made.append(content)
        return real(content)

    monkeypatch.setattr(qrcode, "matrix", make)

    def compile_counting() -> int:
        made.clear()
        assert compile_tree(root, tmp_path / "cached", TEST_SECRET, qr=True, cache=True).build
        return len(made)

    assert compile_counting() == 2  # alice, bob: WireGuard clients of acme-eu (dave: own key)
    assert compile_counting() == 0
    edit(root / "acme-eu/peers/alice.yaml", "split tunnel", "split tunnel, new laptop")
    assert compile_counting() == 1  # acme-eu is rendered again, but only alice's QR is new
    edit(root / "acme-eu/peers/berlin.yaml", "rack 2", "rack 3")  # a site: no profile changes
    assert compile_counting() == 0
    fresh = compile_tree(root, tmp_path / "fresh", TEST_SECRET, qr=True, cache=False)
    assert fresh.build is not None
    assert snapshot(tmp_path / "cached") == snapshot(tmp_path / "fresh")


@pytest.mark.parametrize("tamper", ["edit", "delete", "add", "remove-spare"])
def test_the_spare_build_is_verified_before_it_is_updated_in_place(
    tmp_path: Path, tamper: str
) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    cached_equals_uncached(root, tmp_path)  # the first build is kept as the spare
    spare = tmp_path / ".cached.mvpn-spare"
    assert (spare / "manifest.json").is_file()
    if tamper == "edit":  # chicago routes to denver: the spare has its own copy
        damage(spare / "acme-us/sites/chicago.rsc", "same-size")
    elif tamper in ("delete", "add"):  # berlin's script is shared (a hard link) with `cached`
        damage(spare / "acme-eu/sites/berlin.rsc", tamper + "d")
    else:
        for path in sorted(spare.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
        spare.rmdir()
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/25", "10.31.0.0/24")  # back: as spare
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu"]
    edit(root / "acme-eu/peers/berlin.yaml", "rack 2", "rack 3")
    assert cached_equals_uncached(root, tmp_path) == ["acme-us"]


def test_a_no_op_compile_leaves_the_spare_unverified_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verifying the spare costs a stat per file: a no-op does not, and keeps it for later."""
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    cached_equals_uncached(root, tmp_path)  # the first build is kept as the spare
    verified: list[bool] = []
    real = cache_mod.BuildCache.verify_spare

    def counting(self: cache_mod.BuildCache, state: cache_mod.BuildState) -> bool:
        verified.append(real(self, state))
        return verified[-1]

    monkeypatch.setattr(cache_mod.BuildCache, "verify_spare", counting)
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu", "acme-us"]  # no-op
    assert verified == []
    assert sorted(state_body(state_file(tmp_path))["spare"]["instances"]) == ["acme-eu",
                                                                             "acme-us"]
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/25", "10.31.0.0/24")  # back: as spare
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu"]
    assert verified == [True]  # verified now, and used: acme-us is kept in place


def test_a_no_op_compile_rewrites_the_state_only_when_it_changed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status, "RACY_NS", -(10**12))  # stat keys taken at once
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    before = os.stat(state_file(tmp_path))
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu", "acme-us"]  # no-op
    after = os.stat(state_file(tmp_path))
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    os.utime(root / "acme-us/peers/denver.yaml")  # same bytes, another stat key: recorded
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu", "acme-us"]
    assert os.stat(state_file(tmp_path)).st_ino != before.st_ino


def test_with_tests_yaml_unchanged_instances_are_not_rendered_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tests.yaml forces the full check, but an instance whose key is unchanged is kept."""
    root = tree(tmp_path / "src")
    (root / "tests.yaml").write_text(
        "- {from: acme-eu/alice, to: 10.20.0.5, port: 443/tcp, expect: allow}\n")
    rendered = count_renders(monkeypatch)

    def compile_counting() -> list[str]:
        rendered.clear()
        assert compile_tree(root, tmp_path / "cached", TEST_SECRET, qr=True, cache=True).build
        return sorted(rendered)

    assert compile_counting() == ["acme-eu", "acme-us"]
    assert compile_counting() == []
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.1.0/24")
    assert compile_counting() == ["acme-us"]
    fresh = compile_tree(root, tmp_path / "fresh", TEST_SECRET, qr=True, cache=False)
    assert fresh.build is not None
    assert snapshot(tmp_path / "cached") == snapshot(tmp_path / "fresh")


#: For each registered cross-instance check: an edit of acme-us (alone clean) that breaks it
#: against the unchanged acme-eu, and the exact diagnostics of the full check.
CROSS_EDITS = {
    "hostname-duplicate": ("acme-us/instance.yaml", "hostname: acme-us", "hostname: acme-eu",
                           [("hostname-duplicate", "acme-eu/instance.yaml", 1),
                            ("hostname-duplicate", "acme-us/instance.yaml", 1)]),
    "route-cross-instance": ("acme-us/peers/denver.yaml", "10.31.0.0/24", "10.20.0.0/24",
                             [("route-cross-instance", "acme-eu/peers/berlin.yaml", 5),
                              ("route-cross-instance", "acme-us/peers/denver.yaml", 5)]),
}


def test_every_cross_instance_check_has_a_case() -> None:
    assert sorted(c.code for c in cross.CROSS_INSTANCE) == sorted(CROSS_EDITS)


@pytest.mark.parametrize("code", sorted(CROSS_EDITS))
def test_an_incremental_compile_runs_every_cross_instance_check(tmp_path: Path,
                                                                code: str) -> None:
    """Only acme-us changes, so only it is re-checked: the registered summaries must catch
    what it breaks against acme-eu, with exactly the full check's diagnostics."""
    root = tree(tmp_path / "src")
    assert compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True).build
    rel, old, new, expected = CROSS_EDITS[code]
    edit(root / rel, old, new)
    result = compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False, cache=True)
    found = result.check.diagnostics.sorted()
    assert [(d.code, d.file.relative_to(root).as_posix(), d.line) for d in found] == expected
    assert found == check(root).diagnostics.sorted()


def state_body(path: Path) -> Any:
    """The state file's record: after its checksum and the scan's hint, before the summaries
    (one a line; see BuildCache.save)."""
    return json.loads(path.read_bytes().split(b"\n")[2])


def rewrite_state(path: Path, change: Any, hint: Any = None) -> None:
    """Change the state's record (and hint, if given) and seal it again (the checksum holds)."""
    _checksum, old_hint, raw, *summaries = path.read_bytes().split(b"\n")
    body = json.loads(raw)
    change(body)
    head = old_hint if hint is None else json.dumps(hint).encode()
    data = b"\n".join([head, json.dumps(body, separators=(",", ":")).encode(), *summaries])
    path.write_bytes(hashlib.sha256(data).hexdigest().encode() + b"\n" + data)


def test_the_state_keeps_fragments_in_the_manifest_and_shares_the_spare(
    tmp_path: Path,
) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    cached_equals_uncached(root, tmp_path)  # the first build is now the spare
    body = state_body(state_file(tmp_path))
    manifest = (tmp_path / "cached/manifest.json").read_bytes()
    for name, record in body["instances"].items():
        assert "fragment" not in record  # the manifest has it: read back by its span
        start, length = record["span"]
        assert manifest[start:start + length].decode().startswith(f'    "{name}": {{')
    # acme-eu is the same in both builds: named, not repeated; acme-us differs.
    spare = body["spare"]["instances"]
    assert spare["acme-eu"] == "="
    assert spare["acme-us"]["fragment"].startswith('    "acme-us": {')
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/25", "10.31.0.0/24")  # the spare's
    assert cached_equals_uncached(root, tmp_path) == ["acme-eu"]


@pytest.mark.parametrize("where", ["past-the-end", "negative", "not-int"])
def test_a_fragment_span_outside_the_manifest_means_a_cold_compile(
    tmp_path: Path, where: str
) -> None:
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    size = (tmp_path / "cached/manifest.json").stat().st_size
    span = {"past-the-end": [size - 10, 20], "negative": [-1, 5], "not-int": [0, True]}[where]
    rewrite_state(state_file(tmp_path),
                   lambda body: body["instances"]["acme-eu"].__setitem__("span", span))
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")
    assert cached_equals_uncached(root, tmp_path) == []


def test_the_state_writes_read_summaries_as_read_and_new_ones_anew(tmp_path: Path) -> None:
    """Summaries are written again as the text read (not encoded anew) only while they are the
    same: the state after an edit is the one a cold compile records."""
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    before = state_file(tmp_path).read_bytes().split(b"\n")
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.31.0.0/25")  # its spans
    cached_equals_uncached(root, tmp_path)
    after = state_file(tmp_path).read_bytes().split(b"\n")
    cold = tmp_path / "cold"
    cold.mkdir()
    assert compile_tree(root, cold / "out", TEST_SECRET, qr=False, cache=True).build
    (path,) = (cold / ".mvpn-cache").glob("build-*.json")
    fresh = path.read_bytes().split(b"\n")
    names = list(state_body(state_file(tmp_path))["instances"])
    assert names == ["acme-eu", "acme-us"]
    assert after[3:] == fresh[3:]  # acme-eu's as read, acme-us's new
    assert after[3] == before[3] and after[4] != before[4]
    assert [json.loads(line) for line in after[3:]] == [
        json.loads(line) for line in before[3:4]] + [json.loads(fresh[4])]


@pytest.mark.parametrize("damage", ["not-json", "another-hostname"])
def test_a_summary_that_is_not_the_recorded_one_costs_the_full_check(
    tmp_path: Path, damage: str
) -> None:
    """Summaries are decoded only when needed, after the state was accepted: one that is not
    what its eager parts say (sealed with a valid checksum) is never an internal error."""
    root = tree(tmp_path / "src")
    cached_equals_uncached(root, tmp_path)
    path = state_file(tmp_path)
    _checksum, *lines = path.read_bytes().split(b"\n")
    # acme-eu's summary (the second line after the record); its eager parts stay as they are
    lines[2] = (b"{not json" if damage == "not-json"
                else lines[2].replace(b'"hostname":"', b'"hostname":"x', 1))
    data = b"\n".join(lines)
    path.write_bytes(hashlib.sha256(data).hexdigest().encode() + b"\n" + data)
    # Between acme-eu's two subnets: its summary is read to tell (and found mangled).
    edit(root / "acme-us/peers/denver.yaml", "10.31.0.0/24", "10.20.128.0/25")
    cached_equals_uncached(root, tmp_path)
