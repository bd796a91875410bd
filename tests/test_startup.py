"""What a process imports only when it needs it (README "Performance", issue 14).

A recompile of one instance is about a second at 100k peers, a third of it imports: the
libraries a command does not use must not be imported. Each test runs a real process on a
small tree and lists what it imported; each was seen to fail with the import moved back to
the top of its module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support.trees import INSTANCE, TEST_SECRET_B64, build_file_tree, estate, site

#: Imported only by what needs them: Jinja (a render), cryptography's x509 (an OpenVPN
#: certificate), the QR encoder (a new QR code), the ssh modules (deploy, status).
LAZY = ("jinja2", "cryptography.x509", "zxingcpp", "compiler.render.qr", "compiler.keys.pki",
        "compiler.deploy.remote", "compiler.deploy.drift")
REPO = Path(__file__).resolve().parents[1]


def _imported(*argv: str) -> list[str]:
    """Which of :data:`LAZY` a real ``mvpn`` process running ``argv`` imported."""
    env = {**os.environ, "MVPN_SECRET": TEST_SECRET_B64}
    ran = subprocess.run([sys.executable, "-X", "importtime", "-m", "compiler", *argv],
                         capture_output=True, text=True, check=False, cwd=REPO, env=env)
    assert ran.returncode == 0, ran.stderr[-2000:]
    names = {line.rsplit("|", 1)[1].strip() for line in ran.stderr.splitlines()
             if line.startswith("import time:")}
    return sorted(names.intersection(LAZY))


def _wireguard_tree(root: Path) -> Path:
    """A WireGuard-only instance with aggregates: a site and a client (with a QR code)."""
    wireguard_only = {key: value for key, value in INSTANCE.items() if key != "openvpn"}
    wireguard_only["routing"] = {"pushed_routes": ["10.0.0.0/16"], "egress": "nat",
                                 "aggregates": ["10.16.0.0/12"], "allow_broad": True}
    files = estate(**{"acme-eu/instance.yaml": wireguard_only})
    return build_file_tree(root, files)  # type: ignore[arg-type]


def test_a_check_imports_none_of_them(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "tree", estate())  # type: ignore[arg-type]
    assert _imported("check", str(root)) == []


def test_a_site_added_to_a_wireguard_hub_makes_no_certificate_and_no_qr_code(
        tmp_path: Path) -> None:
    root, out = _wireguard_tree(tmp_path / "tree"), tmp_path / "out"
    compile_ = ("compile", str(root), "-o", str(out))
    # The first compile makes alice's QR code: the encoder is imported then.
    assert _imported(*compile_) == ["compiler.render.qr", "jinja2", "zxingcpp"]
    assert (out / "acme-eu" / "clients" / "alice.svg").is_file()
    build_file_tree(root, {"acme-eu/peers/hamburg.yaml": site(
        "hamburg", "10.255.0.12", ["10.21.0.0/24"])})
    # A site added inside the aggregates: the recompile renders the hub (Jinja) and takes
    # alice's unchanged profile's code from the build.
    assert _imported(*compile_) == ["jinja2"]
    assert (out / "acme-eu" / "sites" / "hamburg.rsc").is_file()


def test_an_openvpn_hub_still_gets_its_certificates(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "tree", estate())  # type: ignore[arg-type]
    out = tmp_path / "out"
    assert "cryptography.x509" in _imported("compile", str(root), "-o", str(out))
    assert "BEGIN CERTIFICATE" in (out / "acme-eu" / "hub" / "openvpn" / "pki" /
                                   "server.crt").read_text(encoding="ascii")
