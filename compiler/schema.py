"""JSON Schemas of the config files, generated from the models (``mvpn schema``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from pydantic import TypeAdapter

from compiler.model import PEER_ADAPTER, Instance, OrgConfig
from compiler.model.access import Assertion

SCHEMA_BASE: Final = "urn:mvpn:schema:"

#: file name → (title, adapter) of every schema written to ``schemas/``.
SCHEMAS: Final[dict[str, tuple[str, TypeAdapter[Any]]]] = {
    "vpn.schema.json": ("mvpn organisation settings (vpn.yaml)", TypeAdapter(OrgConfig)),
    "instance.schema.json": ("mvpn instance (instance.yaml)", TypeAdapter(Instance)),
    "peer.schema.json": ("mvpn peer (peers/<peer>.yaml)", PEER_ADAPTER),
    "tests.schema.json": ("mvpn reachability assertions (tests.yaml)",
                          TypeAdapter(list[Assertion])),
}


def render_schemas() -> dict[str, str]:
    """Every schema as formatted JSON text, keyed by file name."""
    out: dict[str, str] = {}
    for name, (title, adapter) in SCHEMAS.items():
        schema = adapter.json_schema()
        doc = {"$schema": "https://json-schema.org/draft/2020-12/schema",
               "$id": SCHEMA_BASE + name, "title": title, **schema}
        out[name] = json.dumps(doc, indent=2, sort_keys=False) + "\n"
    return out


def write_schemas(directory: Path) -> list[Path]:
    """Write the schemas into ``directory``; only files whose content changed are rewritten."""
    directory.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for name, text in render_schemas().items():
        path = directory / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            written.append(path)
    return written
