"""The user guide: generated pages match the code, and the docs link only inside the repo."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from compiler.diagnostics import CODES
from compiler.docs import PAGES, render_configuration, render_diagnostics, write_docs
from compiler.schema import render_schemas

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"


def test_generated_pages_do_not_drift(update_golden: bool) -> None:
    if update_golden:
        write_docs(DOCS)
    for name, render in PAGES.items():
        path = DOCS / name
        assert path.exists(), f"docs/{name} missing: run `make docs`"
        assert path.read_text(encoding="utf-8") == render(), (
            f"docs/{name} drifted from the code: run `make docs` and review the diff"
        )


def _keys(node: Any) -> set[str]:
    """Every property name anywhere in a JSON Schema."""
    if isinstance(node, dict):
        found = set(node.get("properties", {})) if isinstance(node.get("properties"), dict) \
            else set()
        return found.union(*(_keys(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_keys(v) for v in node))
    return set()


@pytest.mark.parametrize("name", sorted(render_schemas()))
def test_configuration_lists_every_key_of_every_file(name: str) -> None:
    page = render_configuration()
    keys = _keys(json.loads(render_schemas()[name]))
    assert keys
    missing = sorted(k for k in keys if f"| `{k}` |" not in page)
    assert missing == [], f"{name}: keys missing from docs/configuration.md"


def test_configuration_rows_say_type_default_and_meaning() -> None:
    page = render_configuration()
    assert ("| `network` | string (ipv4-prefix) | required | "
            "tunnel network; the hub takes the first host |") in page
    assert "| `keepalive` | integer (0 to 65535) | `25` | WireGuard persistent keepalive, s |" \
        in page
    assert "| `rules` | list of mapping (see [`firewall.rules[]`](#firewallrules)) | empty |" \
        in page
    assert "### `firewall.rules[]`" in page


def test_every_code_has_a_summary_an_example_and_a_fix() -> None:
    for code, c in CODES.items():
        assert re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", code), code
        assert c.summary and "\n" not in c.summary and not c.summary.endswith("."), code
        assert c.example.files or c.example.symlink, code
        assert c.fix.strip().endswith("."), code


def test_diagnostics_page_shows_each_example_with_what_mvpn_says() -> None:
    page = render_diagnostics()
    for code, c in CODES.items():
        section = page.split(f"\n## {code}\n", 1)[1].split("\n## ", 1)[0]
        assert f"**{c.severity.value}**: {c.summary}." in section
        assert re.search(rf"^.+:\d+:\d+: {c.severity.value}\[{code}\] ", section, re.M), code
        assert f"Fix: {c.fix}" in section
    assert "| [`address-missing`](#address-missing) | error | Peer has no tunnel address " \
        "(run mvpn allocate) |" in page
    schema = page.split("\n## schema\n", 1)[1].split("\n## ", 1)[0]
    assert schema == (
        "\n**error**: Missing field, wrong type, unknown key or bad enum value.\n\n"
        "`acme-eu/peers/alice.yaml`:\n\n```yaml\ntype: client\nuser: alice@example.com\n"
        "adress: 10.255.0.11\n```\n\n`mvpn check` says:\n\n```text\n"
        "acme-eu/peers/alice.yaml:3:1: error[schema] unknown key 'adress'; did you mean "
        "'address'?\n```\n\nFix: " + CODES["schema"].fix + "\n")


_LINK = re.compile(r"\]\(([^)\s]+)\)")


def _docs() -> list[Path]:
    return [REPO / "README.md", REPO / "CHANGELOG.md", *sorted(DOCS.glob("*.md"))]


def test_docs_link_only_to_files_in_the_repo() -> None:
    for doc in _docs():
        # Code spans are not links (a pattern like `[a-z](x)` would look like one).
        text = re.sub(r"`[^`\n]*`", "``", doc.read_text(encoding="utf-8"))
        for target in _LINK.findall(text):
            if target.startswith("#"):
                continue
            assert "://" not in target and not target.startswith("mailto:"), (doc, target)
            path = (doc.parent / target.split("#", 1)[0]).resolve()
            assert path.is_relative_to(REPO) and path.exists(), (doc, target)


def test_the_user_guide_has_its_pages() -> None:
    names = {p.name for p in DOCS.glob("*.md")}
    assert {"configuration.md", "diagnostics.md", "artifacts.md", "deploying.md"} <= names
