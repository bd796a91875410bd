"""The benchmark estate generator: valid, realistic, deterministic (SPEC §9)."""

from __future__ import annotations

import hashlib
import ipaddress
import itertools
from pathlib import Path

from benchmarks import run
from benchmarks.generate import main as generate
from compiler.api import check
from compiler.model.peer import ClientPeer, SitePeer


def digest(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_generated_estate_checks_clean_with_a_realistic_mix(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    assert generate([str(root), "--instances", "4", "--peers", "400", "--seed", "4"]) == 0
    result = check(root)
    assert [(d.code, d.file.relative_to(root.resolve()).as_posix(), d.line, d.column)
            for d in result.diagnostics.sorted()] == [  # the one warning, on purpose
        ("route-unaggregated", "ams-000/peers/warsaw-000001.yaml", 6, 39)]
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


def test_default_shape_numbers_sites_from_aggregates_with_gaps(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    assert generate([str(root), "--instances", "2", "--peers", "2000", "--seed", "2"]) == 0
    result = check(root)
    # One route-unaggregated, on purpose (the first site); every other LAN is aggregated.
    (warning,) = result.diagnostics.sorted()
    warned = ipaddress.ip_network("192.168.0.0/24")
    assert warning.code == "route-unaggregated" and warning.message.startswith(f"{warned} ")
    assert len(result.estate.tests) == 4  # tests.yaml: two assertions per instance
    for inst in result.estate.instances.values():
        assert inst.config is not None
        aggregates = inst.config.routing.aggregates
        assert [a.version for a in aggregates] == [4, 6]
        lans = sorted((n for p in inst.peers.values() if isinstance(p.config, SitePeer)
                       for n in p.config.subnets if n.version == 4 and n != warned),
                      key=lambda n: int(n.network_address))
        assert len(inst.peers) == 1000 and all(n.subnet_of(aggregates[0]) for n in lans)  # type: ignore[arg-type]
        gaps = sum(1 for a, b in itertools.pairwise(lans)
                   if int(b.network_address) > int(a.broadcast_address) + 1)
        assert gaps > len(lans) // 10  # not contiguous


def test_no_aggregates_shape(tmp_path: Path) -> None:
    root = tmp_path / "estate"
    assert generate([str(root), "--instances", "2", "--peers", "300", "--no-aggregates"]) == 0
    result = check(root)
    # Without aggregates every profile routes every LAN of its hub: some outgrow a QR code.
    assert {d.code for d in result.diagnostics} <= {"qr-too-large"}
    assert all(i.config is not None and i.config.routing.aggregates == []
               for i in result.estate.instances.values())


def test_the_diagnostics_row_goes_above_the_legend() -> None:
    text = "ratio (target)\ncheck ÷ parse  1.9\n(* = target missed; x = the shape without aggregates)"
    assert run.above_legend(text, "10,000 diagnostics  0.83").splitlines() == [
        "ratio (target)", "check ÷ parse  1.9", "10,000 diagnostics  0.83",
        "(* = target missed; x = the shape without aggregates)"]


def test_cleaning_sets_builds_aside_until_the_timings_end(tmp_path: Path) -> None:
    # A build deleted right before the next cold compile would slow that compile's file
    # creation on ext4 without a journal: cleaning renames, and only empty_trash deletes.
    out, cache = tmp_path / "out-10", tmp_path / ".mvpn-cache"
    for i in range(2):
        out.mkdir()
        (out / "f").write_text(str(i))
        cache.mkdir()
        run.set_aside(tmp_path, out, cache)
        assert not out.exists() and not cache.exists()
    kept = sorted(p.name for p in (tmp_path / run.TRASH).iterdir())
    assert kept == ["0-out-10", "1-.mvpn-cache", "2-out-10", "3-.mvpn-cache"]
    assert (tmp_path / run.TRASH / "2-out-10" / "f").read_text() == "1"
    run.set_aside(tmp_path, out)  # nothing there: nothing moved
    run.empty_trash(tmp_path)
    assert not (tmp_path / run.TRASH).exists()
