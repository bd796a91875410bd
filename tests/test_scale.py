"""Memory at scale (SPEC §9): what `check` and `compile` no longer build or keep.

The figures themselves are `make bench`'s (README "Performance"); these tests pin the
mechanisms behind them, each on a small tree, so that a change that brings the cost back
fails here rather than only in a benchmark nobody runs on every commit.
"""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from compiler import api
from compiler import checks as checks_module
from compiler.checks import graph as graph_module
from compiler.engine import engine, write
from compiler.keys import KeyRing
from compiler.loader import source as source_module
from compiler.loader import yamlread
from compiler.render import instance_views
from compiler.topology import render_topology, topology
from tests.support.trees import TEST_SECRET, build_file_tree, estate, site


def _tree(tmp_path: Path) -> Path:
    return build_file_tree(tmp_path, estate(**{  # type: ignore[arg-type]
        "acme-eu/peers/hamburg.yaml": site("hamburg", "10.255.0.12", ["10.21.0.0/24"]),
    }))


def test_check_builds_no_graph_until_one_is_asked_for(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No check walks the networkx graph (at 100k peers: ~490 MiB and ~3 s for nothing)."""
    root = _tree(tmp_path)
    built: list[object] = []
    real = graph_module.build_graph

    def counting(estate: object) -> object:
        built.append(estate)
        return real(estate)  # type: ignore[arg-type]

    monkeypatch.setattr(graph_module, "build_graph", counting)
    result = api.check(root)
    assert result.ok and built == []
    # `mvpn graph` and `mvpn allocate` still get the whole graph, built once, on first use.
    peers = [v for _u, v, rel in result.graph.out_edges(("instance", "acme-eu"), data="rel")
             if rel == "member"]
    assert peers == [("peer", "acme-eu/alice"), ("peer", "acme-eu/berlin"),
                     ("peer", "acme-eu/hamburg")]
    assert "10.21.0.0/24" in render_topology(topology(result.graph), "mermaid")
    assert built == [result.estate]


def test_a_freed_lazy_graph_says_so(tmp_path: Path) -> None:
    """A compile frees the graph by clearing it; a later use is an error, not a rebuild."""
    result = api.check(_tree(tmp_path))
    result.graph.__dict__.clear()
    with pytest.raises(AttributeError, match="the graph was freed"):
        result.graph.nodes  # noqa: B018 - the access is the test


def test_a_peer_file_keeps_no_parsed_value_once_its_model_is_built(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """~115 MiB at 100k peers; `mvpn allocate` (which reads it) gets it parsed anew, once."""
    result = api.check(_tree(tmp_path))
    source = result.estate.instances["acme-eu"].peers["hamburg"].source
    parses: list[str] = []
    real = yamlread.parse

    def counting(text: str) -> object:
        parses.append(text)
        return real(text)

    monkeypatch.setattr(source_module, "parse", counting)
    expected = {"type": "site", "site": "hamburg", "protocol": "wireguard",
                "subnets": ["10.21.0.0/24"], "address": "10.255.0.12"}
    assert source.data == expected
    assert source.data == expected
    assert parses == [source.text]
    # A file whose model failed keeps its value (nothing else says what it held).
    root = build_file_tree(tmp_path / "bad", estate(**{  # type: ignore[arg-type]
        "acme-eu/peers/hamburg.yaml": {**expected, "mtu": "big"}}))
    bad = api.check(root).estate.raw.instances["acme-eu"].peers["hamburg"]
    assert bad.data["mtu"] == "big" and len(parses) == 1


def test_peers_that_wrote_the_same_keys_share_one_set_of_them(tmp_path: Path) -> None:
    """pydantic's per-model set of written keys was half of a peer's model (70 MiB at 100k)."""
    result = api.check(build_file_tree(tmp_path, estate(**{  # type: ignore[arg-type]
        "acme-eu/peers/hamburg.yaml": site("hamburg", "10.255.0.12", ["10.21.0.0/24"]),
        "acme-eu/peers/munich.yaml": site("munich", "10.255.0.13", ["10.22.0.0/24"],
                                          description="second floor"),
    })))
    peers = {name: p.config for name, p in result.estate.instances["acme-eu"].peers.items()}
    assert peers["hamburg"].model_fields_set is peers["berlin"].model_fields_set
    assert peers["hamburg"].model_fields_set == {"type", "site", "protocol", "subnets",
                                                 "address"}
    assert peers["munich"].model_fields_set == peers["hamburg"].model_fields_set | {
        "description"}
    assert peers["alice"].model_fields_set == {"type", "user", "address"}
    # What reads the set still sees each peer's own keys (a copy gets a set of its own).
    assert peers["munich"].model_dump(exclude_unset=True)["description"] == "second floor"
    copied = peers["hamburg"].model_copy(update={"mtu": 1400})
    assert "mtu" in copied.model_fields_set and "mtu" not in peers["berlin"].model_fields_set


def test_workers_are_forked_only_once_the_tree_is_checked(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Forked before the checks, every page the parent's checks touched was copied."""
    root = _tree(tmp_path / "tree")
    events: list[str] = []
    real_checks, real_pool = checks_module.run_checks, engine._pool

    def checks(estate: Any, diags: Any) -> Any:
        events.append("checks")
        return real_checks(estate, diags)

    @contextlib.contextmanager
    def pool(workers: int, job: Any) -> Iterator[Any]:
        events.append(f"fork {workers}")
        with real_pool(workers, job) as made:
            yield made

    monkeypatch.setattr(api, "run_checks", checks)
    monkeypatch.setattr(engine, "_pool", pool)
    monkeypatch.setenv("MVPN_JOBS", "2")  # workers even for a tree this small
    result = api.compile_tree(root, tmp_path / "out", TEST_SECRET)
    assert result.check.ok and events == ["checks", "fork 2"]
    assert (tmp_path / "out" / "acme-eu" / "sites" / "hamburg.rsc").is_file()


def test_rendering_leaves_no_keys_or_policy_cached_on_the_build_views(tmp_path: Path) -> None:
    """Each instance is rendered on a view of its own (~150 MiB per worker at 100k peers)."""
    result = api.check(_tree(tmp_path / "tree"))
    ring = KeyRing(TEST_SECRET)
    views = instance_views(result.estate, ring)
    engine.BuildJob(views, ring, True, tmp_path / "out").finish()
    assert (tmp_path / "out" / "acme-eu" / "clients" / "alice.svg").is_file()
    cached = {"policy", "peer_networks", "cbc_sites", "hub_wireguard", "wireguard",
              "preshared_key", "openvpn", "own_routes"}
    assert [sorted(cached & vars(v).keys()) for v in views] == [[]]
    assert [sorted(cached & vars(p).keys()) for v in views for p in v.peers] == [[]] * 3


@pytest.mark.parametrize(("on_disk", "same"), [
    (b"abcdef", True),
    (b"abcdeF", False),
    (b"abcdefg", False),  # longer: the pieces end before the file
    (b"abcde", False),
    (b"", False),
])
def test_same_parts_compares_a_file_piece_by_piece(tmp_path: Path, on_disk: bytes,
                                                   same: bool) -> None:
    path = tmp_path / "manifest.json"
    path.write_bytes(on_disk)
    path.chmod(0o644)
    assert write.same_parts(path, [b"ab", b"", b"cdef"], 0o644) is same
    path.chmod(0o600)
    assert write.same_parts(path, [b"ab", b"", b"cdef"], 0o644) is False
    assert write.same_parts(tmp_path / "missing", [b""], 0o644) is False


def test_the_manifest_is_written_in_pieces_as_one_json_dump_would_write_it(
        tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = api.compile_tree(_tree(tmp_path / "tree"), out, TEST_SECRET)
    assert result.build is not None
    text = (out / "manifest.json").read_text(encoding="utf-8")
    assert text == json.dumps(json.loads(text), indent=2) + "\n"
    assert result.build.manifest_json == text and result.build.manifest["format"] == 1
    stamp = (out / "manifest.json").stat().st_ino
    again = api.compile_tree(_tree(tmp_path / "tree"), out, TEST_SECRET)
    assert again.stats is not None and again.stats.written == 0
    assert (out / "manifest.json").stat().st_ino == stamp  # compared equal: linked, kept


def test_check_does_not_even_import_networkx(tmp_path: Path) -> None:
    """A fifth of every command's start-up (~90 ms); only `graph` and `allocate` need it."""
    root = _tree(tmp_path)
    program = ("import sys\nfrom pathlib import Path\nimport compiler.cli.main\n"
               "from compiler import api\n"
               f"assert api.check(Path({str(root)!r})).ok\n"
               "print('networkx' in sys.modules)\n")
    ran = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[1])
    assert ran.stdout == "False\n"
