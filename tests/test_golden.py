"""Golden tests: every artifact family, byte for byte, with and without the secret.

The fixed tree is :func:`tests.support.trees.compile_estate`; the expected builds live in
``tests/golden/derived`` (fixed *test* secret) and ``tests/golden/redacted`` (no secret).
Regenerate with ``pytest tests/test_golden.py --update-golden``, then review the diff.
"""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from compiler.api import compile_tree
from tests.support.trees import TEST_SECRET, build_file_tree, compile_estate

GOLDEN = Path(__file__).resolve().parent / "golden"
#: Files of the golden folder that are not build output (kept on update, never compared).
_NOT_OUTPUT = frozenset({".gitattributes"})


def _files(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file() and p.relative_to(root).as_posix() not in _NOT_OUTPUT
    }


def _write_golden(golden: Path, produced: dict[str, bytes]) -> None:
    if golden.exists():
        shutil.rmtree(golden)  # stale files of removed artifacts go too
    for rel, data in produced.items():
        path = golden / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def _diff(rel: str, expected: bytes, actual: bytes) -> str:
    lines = difflib.unified_diff(
        expected.decode("utf-8", "replace").splitlines(keepends=True),
        actual.decode("utf-8", "replace").splitlines(keepends=True),
        fromfile=f"golden/{rel}", tofile=f"build/{rel}",
    )
    return "".join(lines)


def compare_with_golden(golden: Path, produced: dict[str, bytes]) -> None:
    """Fail with the missing/extra files and a unified diff of the first differing file."""
    expected = _files(golden) if golden.is_dir() else {}
    missing = sorted(expected.keys() - produced.keys())
    extra = sorted(produced.keys() - expected.keys())
    differing = sorted(r for r in expected.keys() & produced.keys() if expected[r] != produced[r])
    if not (missing or extra or differing):
        return
    parts = [f"build differs from {golden} (regenerate with --update-golden and review):"]
    if missing:
        parts.append(f"missing from the build: {missing}")
    if extra:
        parts.append(f"not in the golden files: {extra}")
    if differing:
        parts.append(f"differing: {differing}")
        first = differing[0]
        parts.append(_diff(first, expected[first], produced[first]))
    pytest.fail("\n".join(parts), pytrace=False)


@pytest.mark.parametrize("secrets", ["derived", "redacted"])
def test_build_matches_golden_files(tmp_path: Path, update_golden: bool, secrets: str) -> None:
    root = build_file_tree(tmp_path / "tree", compile_estate())
    out = tmp_path / "build"
    secret = TEST_SECRET if secrets == "derived" else None
    result = compile_tree(root, out, secret)
    assert result.build is not None, [d.message for d in result.check.diagnostics]
    assert result.build.manifest["secrets"] == secrets
    produced = _files(out)
    # The golden comparison covers the whole output folder, manifest and VERSION files too.
    assert set(produced) == set(result.build.files)
    golden = GOLDEN / secrets
    if update_golden:
        _write_golden(golden, produced)
        return
    compare_with_golden(golden, produced)


def test_every_artifact_family_is_covered() -> None:
    """The golden tree exercises each family and each kind of peer (guards the fixture)."""
    files = set(_files(GOLDEN / "derived"))
    expected = {
        "manifest.json",
        "acme-eu/VERSION", "acme-eu/hub/VERSION",
        "acme-eu/hub/wireguard/wg0.conf", "acme-eu/hub/openvpn/server.conf",
        "acme-eu/hub/openvpn/ccd/hamburg", "acme-eu/hub/openvpn/ccd/carol",
        "acme-eu/hub/openvpn/pki/ca.crt", "acme-eu/hub/openvpn/pki/server.crt",
        "acme-eu/hub/openvpn/pki/server.key", "acme-eu/hub/openvpn/pki/crl.pem",
        "acme-eu/hub/nftables.conf", "acme-eu/hub/sysctl.conf", "acme-eu/hub/dns/dnsmasq.conf",
        "acme-eu/hub/apply.sh", "acme-us/hub/apply.sh",
        "acme-eu/sites/berlin.rsc", "acme-eu/sites/berlin.conf",
        "acme-eu/sites/hamburg.rsc", "acme-eu/sites/hamburg.ovpn",
        "acme-eu/clients/alice.conf", "acme-eu/clients/alice.svg",
        "acme-eu/clients/bob.conf", "acme-eu/clients/bob.svg",
        "acme-eu/clients/carol.ovpn",
        "acme-eu/clients/dave.conf",  # no QR code: dave brings his own key
        "acme-us/VERSION", "acme-us/hub/VERSION",
        "acme-us/hub/openvpn/server.conf",
        "acme-us/hub/openvpn/ccd/chicago", "acme-us/hub/openvpn/ccd/erin",
        "acme-us/hub/openvpn/pki/ca.crt", "acme-us/hub/openvpn/pki/server.crt",
        "acme-us/hub/openvpn/pki/server.key", "acme-us/hub/openvpn/pki/crl.pem",
        "acme-us/hub/nftables.conf", "acme-us/hub/sysctl.conf",
        "acme-us/sites/chicago.rsc", "acme-us/sites/chicago.ovpn",
        "acme-us/clients/erin.ovpn",
    }
    assert files == expected
    # A redacted build has no QR codes (placeholder keys in a code that looks real).
    assert set(_files(GOLDEN / "redacted")) == {f for f in expected if not f.endswith(".svg")}
