"""Turn pydantic validation errors into diagnostics a network engineer can act on."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from compiler.diagnostics import CODES, Diagnostics
from compiler.loader.source import SourceFile


def did_you_mean(word: str, choices: Sequence[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or nothing."""
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _models_in(annotation: Any) -> list[type[BaseModel]]:
    """Model classes inside an annotation (through Optional, list, Annotated, unions)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    out: list[type[BaseModel]] = []
    for arg in typing.get_args(annotation):
        out.extend(_models_in(arg))
    if isinstance(annotation, types.UnionType):  # pragma: no cover - covered by get_args
        return out
    return out


def _fields_at(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """Field names of the (nested) model found at ``loc``."""
    current: list[type[BaseModel]] = [model]
    for part in loc:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for cls in current:
            field = cls.model_fields.get(part)
            if field is not None:
                nxt.extend(_models_in(field.annotation))
        current = nxt
    names: list[str] = []
    for cls in current:
        names.extend(f.alias or n for n, f in cls.model_fields.items())
    return names


def dotted(loc: Sequence[str | int]) -> str:
    """``openvpn.transport`` / ``subnets[1]``."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value}"
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"'{value}'"


_TYPE_WORDS = {
    "string_type": "a string (quote it if YAML read it as something else)",
    "int_type": "a whole number",
    "int_parsing": "a whole number",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "list_type": "a list",
    "model_type": "a mapping of keys",
    "model_attributes_type": "a mapping of keys",
    "dict_type": "a mapping",
    "string_pattern_mismatch": "a lower-case DNS label (letters, digits, inner hyphens)",
}


def _message(err: ErrorDetails, loc: Sequence[str | int], model: type[BaseModel]) -> str:
    kind = err["type"]
    where = dotted(loc)
    ctx = err.get("ctx") or {}
    value = err.get("input")
    if kind == "extra_forbidden":
        name = str(loc[-1])
        return f"unknown key '{name}'" + did_you_mean(name, _fields_at(model, loc[:-1]))
    if kind == "missing":
        return f"missing required key '{loc[-1]}'"
    if kind == "union_tag_invalid":
        return f"type '{ctx.get('tag')}' is unknown; use one of {ctx.get('expected_tags')}"
    if kind == "union_tag_not_found":
        return "missing required key 'type' (one of 'site', 'client')"
    if kind == "literal_error":
        expected = str(ctx.get("expected", ""))
        choices = [c.strip(" '") for c in expected.replace(" or ", ",").split(",")]
        hint = did_you_mean(str(value), choices) if isinstance(value, str) else ""
        return f"{where}: {_describe(value)} is not allowed; use {expected}{hint}"
    if kind in _TYPE_WORDS:
        return f"{where}: expected {_TYPE_WORDS[kind]}, got {_describe(value)}"
    if kind in CODES or kind in ("value_error",):
        return f"{where}: {err['msg']}" if where else err["msg"]
    msg = err["msg"]
    return f"{where}: {msg[0].lower()}{msg[1:]}" if where else msg


def report(
    exc: ValidationError,
    source: SourceFile,
    diags: Diagnostics,
    model: type[BaseModel],
    strip: int = 0,
    *,
    prefix: tuple[str | int, ...] = (),
) -> None:
    """Add one diagnostic per validation error; ``strip`` drops a union tag from each loc.

    ``prefix`` is where the validated value sits in the file (an item of a list).
    """
    for err in exc.errors(include_url=False):
        raw_loc = err["loc"]
        if err["type"] in ("union_tag_invalid", "union_tag_not_found"):
            loc: tuple[str | int, ...] = ("type",) if err["type"] == "union_tag_invalid" else ()
        else:
            loc = tuple(raw_loc[strip:])
        kind = err["type"]
        code = kind if kind in CODES else "schema"
        message = _message(err, loc, model)
        loc = prefix + loc
        if kind == "missing":
            source.report(diags, code, message, loc[:-1], key=False)
        else:
            source.report(diags, code, message, loc, key=kind == "extra_forbidden")
