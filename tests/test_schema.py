"""The checked-in JSON Schemas match the models, and the example estate validates against them."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import yaml

from compiler.schema import render_schemas, write_schemas

REPO = Path(__file__).resolve().parents[1]


def test_checked_in_schemas_do_not_drift(update_golden: bool) -> None:
    if update_golden:
        write_schemas(REPO / "schemas")
    for name, text in render_schemas().items():
        path = REPO / "schemas" / name
        assert path.exists(), f"schemas/{name} missing: run `make schema`"
        assert path.read_text(encoding="utf-8") == text, (
            f"schemas/{name} drifted from the models: run `make schema` and review the diff"
        )


def test_example_estate_validates_against_schemas() -> None:
    schemas = {name: json.loads(text) for name, text in render_schemas().items()}
    sites = REPO / "sites"
    docs = [(sites / "vpn.yaml", "vpn.schema.json")]
    docs += [(p, "instance.schema.json") for p in sites.glob("*/instance.yaml")]
    docs += [(p, "peer.schema.json") for p in sites.glob("*/peers/*.yaml")]
    assert len(docs) > 5
    for path, schema in docs:
        jsonschema.validate(yaml.safe_load(path.read_text()), schemas[schema])
        first = path.read_text().splitlines()[0]
        assert first.startswith("# yaml-language-server: $schema="), path
        target = (path.parent / first.split("=", 1)[1]).resolve()
        assert target == (REPO / "schemas" / schema).resolve(), path


def test_schema_rejects_unknown_keys() -> None:
    schema = json.loads(render_schemas()["peer.schema.json"])
    validator = jsonschema.Draft202012Validator(schema)
    assert not validator.is_valid({"type": "client", "user": "a", "adress": "10.0.0.1"})
    assert validator.is_valid({"type": "client", "user": "a", "address": "10.0.0.1"})
