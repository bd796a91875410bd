"""The RouterOS command-tree data shipped in ``compiler/routeros/data`` (issue 12).

It must match the checksums its manifest records, carry its licence and provenance, be
package data of the wheel, and load fast enough for every ``mvpn check``. Deriving it again
from its sources is a maintainer's step (``scripts/routeros-data.py --check``): the sources
are not part of the project, so no test reads them.
"""

from __future__ import annotations

import hashlib
import json
import lzma
import time
import tomllib
from pathlib import Path

import pytest

from compiler.routeros import RouterOSTree, command_tree, versions
from compiler.routeros.tree import CommandTree

REPO = Path(__file__).resolve().parents[1]
DATA = REPO / "compiler" / "routeros" / "data"
MINORS = [f"7.{n}" for n in range(9, 25)]


def _manifest() -> dict[str, object]:
    manifest: dict[str, object] = json.loads((DATA / "MANIFEST.json").read_text("utf-8"))
    return manifest


def test_the_data_matches_its_manifest() -> None:
    manifest = _manifest()
    blob = (DATA / "tree.json.xz").read_bytes()
    assert manifest["derived"] == {"tree.json.xz": hashlib.sha256(blob).hexdigest()}
    text = lzma.decompress(blob)
    assert manifest["json_sha256"] == hashlib.sha256(text).hexdigest()
    data = json.loads(text)
    # The data names the very source files (and their checksums) the manifest records.
    assert data["sources"] == manifest["sources"]
    assert data["versions"] == manifest["versions"]
    assert set(data["sources"]) == {
        *(f"versions/{v}-inspect.json.xz" for v in data["versions"]),
        "7.22.3-deep-inspect.json",
    }
    assert all(len(h) == 64 and int(h, 16) >= 0 for h in data["sources"].values())


def test_every_minor_from_7_9_to_7_24_is_in_the_data() -> None:
    assert [".".join(v.split(".")[:2]) for v in versions()] == MINORS
    assert versions()[0] == "7.9.2" and versions()[-1] == "7.24"


def test_licence_and_provenance_are_beside_the_data() -> None:
    assert "This is free and unencumbered software released into the public domain" in (
        DATA / "LICENSE").read_text("utf-8")
    provenance = (DATA / "PROVENANCE.md").read_text("utf-8")
    assert "scripts/routeros-data.py" in provenance
    assert "tikoci/restraml" in provenance


def test_the_data_is_package_data_of_the_wheel() -> None:
    config = tomllib.loads((REPO / "pyproject.toml").read_text("utf-8"))
    patterns = config["tool"]["setuptools"]["package-data"]["compiler"]
    assert "routeros/data/*" in patterns
    assert {p.name for p in DATA.iterdir()} == {
        "tree.json.xz", "MANIFEST.json", "LICENSE", "PROVENANCE.md"}


def test_loading_the_data_is_fast() -> None:
    blob = (DATA / "tree.json.xz").read_bytes()
    best = min(_timed_load(blob) for _ in range(3))
    assert best < 0.1, f"loading every version's tree took {best * 1000:.0f} ms"


def _timed_load(blob: bytes) -> float:
    start = time.perf_counter()
    tree = CommandTree(json.loads(lzma.decompress(blob)))
    RouterOSTree(tree, 0, "7.9").command_args(["interface", "wireguard"], "add")
    return time.perf_counter() - start


def test_version_masks_follow_the_source() -> None:
    """Spot checks against facts of the crawls (the source files are not in the repository)."""
    data = command_tree()
    v79, v712, v715, v724 = (RouterOSTree.load(v) for v in ("7.9", "7.12", "7.15", "7.24"))
    assert not v79.is_dir(["interface", "wifi"]) and v724.is_dir(["interface", "wifi"])
    peers = ["interface", "wireguard", "peers"]
    assert "client-address" not in (v79.command_args(peers, "add") or ())
    assert "client-address" in (v712.command_args(peers, "add") or ())
    assert "name" not in (v712.command_args(peers, "add") or ())
    assert "name" in (v715.command_args(peers, "add") or ())
    assert not v79.has_command([], "onerror") and v724.has_command([], "onerror")
    assert "trusted" in (v715.command_args(["certificate"], "import") or ())
    assert "trusted" not in (v79.command_args(["certificate"], "import") or ())
    spec = data.enum(["interface", "ovpn-client"], "add", "protocol")
    assert spec is not None and spec.values == {"tcp", "udp"}


def test_an_unknown_version_is_refused() -> None:
    with pytest.raises(ValueError, match=r"RouterOS 7\.8 is not in mvpn's data \(7\.9 to 7\.24\)"):
        RouterOSTree.load("7.8")
