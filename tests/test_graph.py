"""``mvpn graph``: deterministic Mermaid/DOT/JSON, free text never unescaped."""

from __future__ import annotations

import html
import json
import re
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from compiler.api import check
from compiler.cli import main
from compiler.topology import render_topology, topology
from compiler.topology.mermaid import escape
from tests.support.tools import require
from tests.support.trees import build_file_tree, client, estate, site

HOSTILE = [
    'x"] --> evil["pwned',
    "a\\nb \\\" \\l <script>alert(1)</script> & #quot; %% click",
    "} ; digraph x { \u200b zero-width",
    "line`tick` |pipe| [br] {brace}",
]


def _tree(tmp_path: Path, descriptions: list[str]) -> Path:
    files = estate(**{
        f"acme-eu__peers__c{i}_DOT_yaml": client(f"c{i}@example.com", f"10.255.0.{20 + i}",
                                                 description=d)
        for i, d in enumerate(descriptions)
    })
    return build_file_tree(tmp_path, files)  # type: ignore[arg-type]


def test_mermaid_of_a_small_estate(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    root = build_file_tree(tmp_path, estate(**{  # type: ignore[arg-type]
        "acme-eu__peers__alice_DOT_yaml": client("alice@example.com", "10.255.0.11",
                                                 route_all=True),
        "acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10",
                                                ["10.20.0.0/24", "10.21.0.0/24"]),
    }))
    assert main(["graph", str(root)]) == 0
    assert capsys.readouterr().out == (
        "flowchart LR\n"
        '  i1[["acme-eu<br/>acme-eu (fra)<br/>WireGuard 10.255.0.0/24<br/>'
        'OpenVPN 10.254.0.0/24"]]\n'
        '  n1{{"10.0.0.0/16"}}\n'
        '  n2{{"10.20.0.0/24"}}\n'
        '  n3{{"10.21.0.0/24"}}\n'
        '  p1(["alice<br/>alice@example.com<br/>WireGuard 10.255.0.11, route-all"])\n'
        '  p2("berlin<br/>berlin<br/>WireGuard 10.255.0.10")\n'
        "  i1 -. pushes .-> n1\n"
        "  i1 --- p1\n"
        "  i1 --- p2\n"
        "  p2 --> n2\n"
        "  p2 --> n3\n"
    )
    assert main(["graph", str(root), "--format", "json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["prefixes"] == ["10.0.0.0/16", "10.20.0.0/24", "10.21.0.0/24"]
    assert [(p["key"], p["kind"], p["advertises"]) for p in doc["peers"]] == [
        ("acme-eu/alice", "client", []),
        ("acme-eu/berlin", "site", ["10.20.0.0/24", "10.21.0.0/24"]),
    ]
    assert doc["instances"][0]["networks"] == {"wireguard": "10.255.0.0/24",
                                               "openvpn": "10.254.0.0/24"}


def test_graph_refuses_a_tree_with_errors(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path, estate(**{"acme-eu__peers__x_DOT_yaml": {"type": "client"}}))  # type: ignore[arg-type]
    assert main(["graph", str(root)]) == 1


def test_output_is_deterministic(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[1] / "sites"
    for fmt in ("mermaid", "dot", "json"):
        first = render_topology(topology(check(root).graph), fmt)
        assert render_topology(topology(check(root).graph), fmt) == first


_MERMAID_LINE = re.compile(
    r'  (i|p|n)\d+(\[\[|\(\[|\(|\{\{)"[^"]*"(\]\]|\]\)|\)|\}\})'
    r"|  [ipn]\d+ (---|-->|-\. pushes \.->) [ipn]\d+"
    r"|flowchart LR"
)


def test_mermaid_never_emits_free_text_raw(tmp_path: Path) -> None:
    root = _tree(tmp_path, HOSTILE)
    text = render_topology(topology(check(root).graph), "mermaid")
    for line in text.splitlines():
        assert _MERMAID_LINE.fullmatch(line), line
    for desc in HOSTILE:
        assert desc not in text
    labels = re.findall(r'"([^"]*)"', text)
    decoded = [html.unescape(re.sub(r"#(\d+);", r"&#\1;", lab)) for lab in labels]
    assert any(d.startswith("c0<br/>c0@example.com") for d in decoded)


@given(st.text(max_size=60))
def test_mermaid_escape_round_trips_and_never_quotes(text: str) -> None:
    escaped = escape(text)
    assert re.fullmatch(r"[A-Za-z0-9 .,:/@_()+-]*", re.sub(r"#\d+;", "", escaped))
    assert re.sub(r"#(\d+);", lambda m: chr(int(m.group(1))), escaped) == text


def test_dot_is_real_graphviz_and_round_trips_free_text(tmp_path: Path) -> None:
    dot = require("dot")
    root = _tree(tmp_path, HOSTILE)
    text = render_topology(topology(check(root).graph), "dot")
    proc = subprocess.run([dot, "-Tsvg"], input=text, capture_output=True, text=True,
                          check=False, timeout=60)
    assert proc.returncode == 0, proc.stderr
    svg = ET.fromstring(proc.stdout)
    ns = {"svg": "http://www.w3.org/2000/svg", "xlink": "http://www.w3.org/1999/xlink"}
    titles = [a.get("{http://www.w3.org/1999/xlink}title")
              for a in svg.iterfind(".//svg:a", ns)]
    for desc in HOSTILE:
        assert desc in titles  # the tooltip says exactly what the YAML says
    nodes = [t.text for t in svg.iterfind(".//svg:g[@class='node']/svg:title", ns)]
    assert "peer:acme-eu/c0" in nodes
    # one node per instance, prefix and peer: nothing was injected
    assert len(nodes) == 1 + 2 + 2 + len(HOSTILE)
