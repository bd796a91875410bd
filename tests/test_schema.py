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


def _undescribed(node: object, where: str) -> list[str]:
    """Every property (at any depth, in ``$defs`` too) without a ``description``."""
    out: list[str] = []
    if isinstance(node, dict):
        for key, value in (node.get("properties") or {}).items():
            if not (isinstance(value, dict) and str(value.get("description", "")).strip()):
                out.append(f"{where}.{key}")
        for key, value in node.items():
            out.extend(_undescribed(value, f"{where}/{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            out.extend(_undescribed(value, f"{where}[{i}]"))
    return out


def test_every_property_has_a_description_for_editor_hover() -> None:
    # An editor shows a key's description on hover: a key without one is a key the user
    # must look up elsewhere. Add `Field(description=...)` to the model field.
    missing = [m for name, text in render_schemas().items()
               for m in _undescribed(json.loads(text), name)]
    assert missing == []
    assert _undescribed({"properties": {"a": {"type": "string"}}}, "x") == ["x.a"]
    nested = {"$defs": {"B": {"properties": {"b": {"description": " "}}}}}
    assert _undescribed(nested, "x") == ["x/$defs/B.b"]


def test_every_default_is_valid_for_its_own_property() -> None:
    # An editor offers the default on completion: it must be a value the file may hold
    # (the default of tests.yaml's `port` used to be the parsed tuple ["icmp", null]).
    checked = 0
    for name, text in render_schemas().items():
        doc = json.loads(text)
        defs = doc.get("$defs", {})
        for owner in [doc, *defs.values()]:
            for key, prop in (owner.get("properties") or {}).items():
                if "default" not in prop:
                    continue
                schema = {**{k: v for k, v in prop.items() if k != "default"}, "$defs": defs}
                errors = list(jsonschema.Draft202012Validator(schema).iter_errors(
                    prop["default"]))
                assert errors == [], (name, key, prop["default"])
                checked += 1
    assert checked > 20
