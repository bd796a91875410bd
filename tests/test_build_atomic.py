"""SPEC §5 "Atomic": a failed, killed or refused build leaves the previous build intact."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import importlib
import json
import os
import signal
import stat
import subprocess
import sys
import time
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.api import compile_tree
from compiler.cli.main import main
from tests.support.trees import build_file_tree, client, estate, site

SECRET = b"mvpn-test-secret-0123456789abcdef"
SECRET_B64 = base64.b64encode(SECRET).decode()
REPO = Path(__file__).resolve().parents[1]
# ``compiler.engine`` re-exports functions that shadow its submodules' names.
ASSEMBLE = importlib.import_module("compiler.engine.assemble")
WRITE = importlib.import_module("compiler.engine.write")


def patch_write_os(monkeypatch: pytest.MonkeyPatch, **functions: object) -> None:
    """Replace ``os`` functions for the writer only (the loader reads with os.fdopen too)."""
    fake = types.SimpleNamespace(**{**vars(os), **functions})
    monkeypatch.setattr(WRITE, "os", fake)

Snapshot = dict[str, tuple[str, int]]  # sha256 (never the bytes: keys stay out of logs)


def snapshot(out: Path) -> Snapshot:
    """Every file and folder under ``out``: content digest (files) and permission bits."""
    snap: Snapshot = {}
    for path in sorted(out.rglob("*")):
        mode = stat.S_IMODE(path.lstat().st_mode)
        digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "<dir>"
        snap[path.relative_to(out).as_posix()] = (digest, mode)
    return snap


def stages(out: Path) -> list[Path]:
    return sorted(out.parent.glob(f".{out.name}.mvpn-stage-*"))


def small_tree(root: Path, **overrides: object) -> Path:
    return build_file_tree(root, estate(**overrides))  # type: ignore[arg-type]


def big_tree(root: Path, peers: int) -> Path:
    """An estate with ``peers`` extra peers: WireGuard and OpenVPN sites and clients."""
    files = estate()
    wg = ovpn = 20  # next free host of 10.255.0.0/24 and 10.254.0.0/24
    for i in range(peers):
        kind = i % 4
        if kind in (0, 2):
            address, wg = f"10.255.0.{wg}", wg + 1
        else:
            address, ovpn = f"10.254.0.{ovpn}", ovpn + 1
        protocol = "wireguard" if kind in (0, 2) else "openvpn"
        if kind < 2:
            files[f"acme-eu/peers/s{i}.yaml"] = site(
                f"s{i}", address, [f"10.{100 + i // 250}.{i % 250}.0/24"], protocol=protocol)
        else:
            files[f"acme-eu/peers/c{i}.yaml"] = client(
                f"c{i}@example.com", address, protocol=protocol)
    return build_file_tree(root, files)  # type: ignore[arg-type]


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def secrets_of(out: Path) -> str:
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return str(manifest["secrets"])


def compiled(root: Path, out: Path, secret: bytes | None = SECRET) -> Snapshot:
    result = compile_tree(root, out, secret, qr=False)
    assert result.build is not None, result.check.diagnostics.sorted()
    return snapshot(out)


# --- (a) a failed build ---------------------------------------------------------------------


class BoomError(RuntimeError):
    pass


def test_failure_while_rendering_keeps_the_previous_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    before = compiled(root, out, secret=None)

    def render_clients(*args: object, **kwargs: object) -> object:
        raise BoomError("rendering failed")

    monkeypatch.setattr(ASSEMBLE, "render_clients", render_clients)
    with pytest.raises(BoomError):
        compile_tree(root, out, SECRET, qr=False)
    assert snapshot(out) == before
    assert stages(out) == []


@pytest.mark.parametrize("fail_after", [0, 3, 10])
def test_failure_while_writing_keeps_the_previous_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_after: int
) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    before = compiled(root, out, secret=None)  # redacted: the next build rewrites most files
    real_write = os.write
    calls = 0

    def write(fd: int, data: bytes) -> int:  # one call per file: the files are small
        nonlocal calls
        calls += 1
        if calls > fail_after:
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    patch_write_os(monkeypatch, write=write)
    with pytest.raises(OSError, match="No space left"):
        compile_tree(root, out, SECRET, qr=False)
    assert snapshot(out) == before
    assert stages(out) == []
    monkeypatch.undo()
    compiled(root, out)
    assert secrets_of(out) == "derived"


def test_failure_at_the_swap_keeps_the_previous_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    before = compiled(root, out, secret=None)

    def exchange(a: Path, b: Path) -> bool:
        raise BoomError("swap failed")

    monkeypatch.setattr(WRITE, "_exchange", exchange)
    with pytest.raises(BoomError):
        compile_tree(root, out, SECRET, qr=False)
    assert snapshot(out) == before
    assert stages(out) == []


def test_without_renameat2_the_build_is_still_replaced(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    compiled(root, out, secret=None)
    monkeypatch.setattr(WRITE, "_exchange", lambda a, b: False)
    compiled(root, out)
    assert secrets_of(out) == "derived"
    assert stages(out) == []


def test_without_renameat2_a_failed_swap_keeps_the_previous_build(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    before = compiled(root, out, secret=None)
    monkeypatch.setattr(WRITE, "_exchange", lambda a, b: False)
    real_rename = Path.rename

    def rename(self: Path, target: Path) -> Path:
        if Path(target) == out.absolute() and ".mvpn-stage-" in self.name:
            raise BoomError("second rename failed")
        return real_rename(self, target)

    monkeypatch.setattr(Path, "rename", rename)
    with pytest.raises(BoomError):
        compile_tree(root, out, SECRET, qr=False)
    monkeypatch.undo()
    assert out.exists() and snapshot(out) == before


# --- (b) killed mid-write -------------------------------------------------------------------

#: Runs `mvpn compile` with every file write and link slowed down, so it can be killed midway.
SLOW_COMPILE = """
import os, sys, time
import types
import compiler.engine.write as w
from compiler.cli.main import main
_write, _link = os.write, os.link
def write(*a, **k):
    time.sleep(0.01)
    return _write(*a, **k)
def link(*a, **k):
    time.sleep(0.01)
    return _link(*a, **k)
w.os = types.SimpleNamespace(**{**vars(os), "write": write, "link": link})
sys.exit(main(sys.argv[1:]))
"""


def start_slow_compile(root: Path, out: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "MVPN_SECRET": SECRET_B64, "PYTHONPATH": str(REPO)}
    return subprocess.Popen(
        [sys.executable, "-c", SLOW_COMPILE, "compile", str(root), "-o", str(out), "--no-qr"],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )


def wait_for(predicate: object, proc: subprocess.Popen[bytes], deadline: float = 60.0) -> bool:
    """Poll ``predicate`` until true (True) or the process exits first (False)."""
    assert callable(predicate)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if predicate():
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.002)
    raise AssertionError("the compile neither progressed nor finished in time")


def staged_files(stage: Path) -> int:
    with contextlib.suppress(OSError):
        return sum(1 for p in stage.rglob("*") if p.is_file())
    return 0


@pytest.mark.parametrize("kill_after_files", [None, 0, 25, 150])
def test_killed_compile_keeps_the_previous_build(
    tmp_path: Path, kill_after_files: int | None
) -> None:
    """SIGKILL before staging (None) or once the stage holds N files; nothing is lost."""
    root, out = big_tree(tmp_path / "src", 240), tmp_path / "out"
    before = compiled(root, out, secret=None)
    assert len(before) > 250
    proc = start_slow_compile(root, out)
    stage = out.parent / f".{out.name}.mvpn-stage-{proc.pid}"
    try:
        if kill_after_files is None:
            reached = wait_for(lambda: True, proc)
        else:
            reached = wait_for(lambda: staged_files(stage) > kill_after_files, proc)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=60)
    assert reached, "the compile finished before it could be killed"
    assert proc.returncode == -signal.SIGKILL
    assert snapshot(out) == before
    if kill_after_files is not None:
        assert stage.exists()  # the interrupted build left only its staging folder
    after = compiled(root, out)  # the next compile cleans up and succeeds
    assert stages(out) == []
    assert secrets_of(out) == "derived"
    assert after != before


# --- (c) never replace what is not an mvpn build --------------------------------------------


@pytest.mark.parametrize("content", ["notes.txt", "sub/manifest.json", ".hidden"])
def test_refuses_a_non_empty_dir_without_manifest(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
    content: str,
) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    victim = out / content
    victim.parent.mkdir(parents=True)
    victim.write_text("precious\n")
    before = snapshot(out)
    monkeypatch.setenv("MVPN_SECRET", SECRET_B64)
    code = main(["compile", str(root), "-o", str(out), "--no-qr"])
    assert code == 2
    assert "refusing to replace" in capsys.readouterr().err
    assert snapshot(out) == before
    assert stages(out) == []


def test_refuses_a_file_as_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    out.write_text("precious\n")
    assert main(["compile", str(root), "-o", str(out), "--no-qr"]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert out.read_text() == "precious\n"


def test_an_empty_dir_may_be_used(tmp_path: Path) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    out.mkdir()
    assert "manifest.json" in compiled(root, out)


# --- (d) modes regardless of umask ----------------------------------------------------------


@pytest.mark.parametrize("mask", [0o000, 0o077, 0o022])
def test_secret_files_are_0600_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    with umask(mask):
        result = compile_tree(root, out, SECRET, qr=True)
    assert result.build is not None
    secrets = {rel for rel, secret in result.build.files.items() if secret}
    assert "acme-eu/hub/openvpn/pki/server.key" in secrets
    assert "acme-eu/hub/wireguard/wg0.conf" in secrets
    for rel in result.build.files:
        mode = stat.S_IMODE((out / rel).stat().st_mode)
        want = 0o600 if rel in secrets else 0o755 if rel.endswith("/hub/apply.sh") else 0o644
        assert mode == want, (rel, oct(mode))
    # an unchanged rebuild reuses (hard-links) the files and keeps their modes
    with umask(mask):
        again = compile_tree(root, out, SECRET, qr=True)
    assert again.stats is not None and again.stats.written == 0
    for rel in result.build.files:
        mode = stat.S_IMODE((out / rel).stat().st_mode)
        want = 0o600 if rel in secrets else 0o755 if rel.endswith("/hub/apply.sh") else 0o644
        assert mode == want, (rel, oct(mode))


def test_build_folders_are_not_world_writable_with_umask_000(tmp_path: Path) -> None:
    root, out = small_tree(tmp_path / "src"), tmp_path / "out"
    with umask(0):
        compiled(root, out)
    for path in [out, *out.rglob("*")]:
        if path.is_dir():
            assert not stat.S_IMODE(path.stat().st_mode) & 0o022, path
