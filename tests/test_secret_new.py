"""``mvpn secret new FILE``: random, 0600, never overwritten, never printed."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from compiler.cli import main
from compiler.keys import load_secret


def test_writes_a_fresh_secret_0600_and_prints_only_the_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    old = os.umask(0)  # a permissive umask must not widen the mode
    try:
        assert main(["secret", "new", "org-secret.b64"]) == 0
        assert main(["secret", "new", "second.b64"]) == 0
    finally:
        os.umask(old)
    captured = capsys.readouterr()
    assert captured.err == ""
    assert captured.out.splitlines()[:3] == [
        "wrote a new organisation secret to org-secret.b64 (mode 0600)",
        "store it as the MVPN_SECRET secret of the config repository's CI, e.g.:",
        "  gh secret set MVPN_SECRET < org-secret.b64",
    ]
    path = tmp_path / "org-secret.b64"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    text = path.read_text()
    secret = load_secret(path, {})
    assert secret is not None and len(secret) == 32
    assert secret != load_secret(tmp_path / "second.b64", {})  # random, not fixed
    for i in range(len(text) - 8):  # no piece of it in the output
        assert text[i:i + 8] not in captured.out


def test_never_overwrites(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "org-secret.b64"
    path.write_text("the old secret\n")
    assert main(["secret", "new", str(path)]) == 2
    assert capsys.readouterr().err == (
        f"mvpn: error: '{path}' already exists; a secret is never overwritten (every key is "
        "derived from it): choose another file name\n")
    assert path.read_text() == "the old secret\n"
    link = tmp_path / "link.b64"
    link.symlink_to(tmp_path / "nowhere")  # a dangling link is not followed either
    assert main(["secret", "new", str(link)]) == 2
    assert not (tmp_path / "nowhere").exists()
    assert main(["secret", "new", str(tmp_path / "no/such/dir.b64")]) == 2
    assert "cannot create" in capsys.readouterr().err
