"""The benchmark estate generator: valid, realistic, deterministic (SPEC §9)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from benchmarks.generate import main as generate
from compiler.api import check
from compiler.model.peer import ClientPeer, SitePeer


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generated_estate_checks_clean_with_a_realistic_mix(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    assert generate([str(root), "--instances", "4", "--peers", "400", "--seed", "3"]) == 0
    result = check(root)
    assert result.diagnostics.sorted() == []
    peers = [p for inst in result.estate.instances.values() for p in inst.peers.values()]
    assert len(peers) == 400 and len(result.estate.instances) == 4
    sites = [p.config for p in peers if isinstance(p.config, SitePeer)]
    clients = [p.config for p in peers if isinstance(p.config, ClientPeer)]
    assert len(sites) == 320 and len(clients) == 80
    assert {len(s.subnets) for s in sites} == {1, 2, 3}
    assert {p.config.protocol for p in peers} == {"wireguard", "openvpn"}
    assert any(n.version == 6 for s in sites for n in s.subnets)
    assert any(p.config.address6 is not None for p in peers)
    assert any(c.route_all for c in clients) and not all(c.route_all for c in clients)


def test_generator_is_deterministic_per_seed(tmp_path: Path) -> None:
    args = ["--instances", "2", "--peers", "50"]
    generate([str(tmp_path / "a"), *args, "--seed", "5"])
    generate([str(tmp_path / "b"), *args, "--seed", "5"])
    generate([str(tmp_path / "c"), *args, "--seed", "6"])
    assert digest(tmp_path / "a") == digest(tmp_path / "b")
    assert digest(tmp_path / "a") != digest(tmp_path / "c")


def test_diagnostics_benchmark_trees(tmp_path: Path) -> None:
    """The SPEC §9 diagnostics figure compares a clean file with one bad entry per line."""
    from benchmarks import diagnostics

    assert check(diagnostics.tree(tmp_path, bad=False, lines=300)).diagnostics.sorted() == []
    found = check(diagnostics.tree(tmp_path, bad=True, lines=300)).diagnostics.sorted()
    assert [(d.code, d.line) for d in found] == [("prefix-invalid", 5 + i) for i in range(300)]
