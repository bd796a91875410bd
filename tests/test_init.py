"""``mvpn init DIR``, tried as a new user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from compiler.cli import main

REPO = Path(__file__).resolve().parents[1]


def test_new_user_flow(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "MVPN_SECRET"}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    proc = subprocess.run(
        ["bash", "-c", "mvpn init demo && cd demo && mvpn allocate && mvpn check && mvpn compile"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert "next: cd demo && mvpn allocate && mvpn check && mvpn compile" in lines
    assert "sites/frankfurt/peers/alice.yaml:8: address 10.255.0.2" in lines
    assert "sites/frankfurt/peers/main-office.yaml:9: address 10.255.0.3" in lines
    assert lines[-1].startswith("compiled 1 instance into build (secrets: redacted;")
    demo = tmp_path / "demo"
    manifest = json.loads((demo / "build/manifest.json").read_text())
    arts = manifest["instances"]["frankfurt"]["artifacts"]
    assert {"sites/main-office.rsc", "clients/alice.conf", "hub/wireguard/wg0.conf"} <= set(arts)
    for name in ("vpn", "instance", "peer"):  # the editor schemas are the project's own
        assert (demo / f"schemas/{name}.schema.json").read_text() == \
            (REPO / f"schemas/{name}.schema.json").read_text()
    for path in (demo / "sites").rglob("*.yaml"):
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema=")
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target.is_file(), path


def test_init_refuses_a_folder_in_use(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine\n")
    assert main(["init", str(tmp_path / "x")]) == 2
    assert "already exists and holds more than .git" in capsys.readouterr().err
    assert sorted(p.name for p in (tmp_path / "x").iterdir()) == ["notes.txt"]
    (tmp_path / "empty").mkdir()
    assert main(["init", str(tmp_path / "empty")]) == 0
