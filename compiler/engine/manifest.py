r"""``manifest.json`` text, built from per-instance fragments.

The bytes are exactly ``json.dumps(manifest, indent=2) + "\n"`` (what the format has
always been), but produced per instance: ``json.dumps`` with ``indent`` runs the
pure-Python encoder, about 1.5 s for the 200k artifacts of a 100k-peer estate,
while an instance fragment is cheap to write and can be kept for an unchanged
instance. Tests compare both ways of writing it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

_ARTIFACT_KEYS = ("sha256", "bytes", "secret", "version")
_PAD = "          "  # the depth of an artifact's fields


def _artifact(path: str, art: Mapping[str, Any]) -> str:
    if tuple(art) == _ARTIFACT_KEYS and type(art["bytes"]) is int and type(art["secret"]) is bool:
        return (
            f"        {json.dumps(path)}: {{\n"
            f"{_PAD}\"sha256\": {json.dumps(art['sha256'])},\n"
            f"{_PAD}\"bytes\": {art['bytes']},\n"
            f"{_PAD}\"secret\": {'true' if art['secret'] else 'false'},\n"
            f"{_PAD}\"version\": {json.dumps(art['version'])}\n"
            "        }"
        )
    return _nested(path, art, 4)


def _nested(key: str, value: object, depth: int) -> str:
    """``"key": value`` at ``depth`` levels of two spaces, as ``json.dumps(indent=2)`` nests it."""
    text = json.dumps(value, indent=2)
    pad = "  " * depth
    return pad + json.dumps(key) + ": " + text.replace("\n", "\n" + pad)


def instance_fragment(name: str, entry: Mapping[str, Any]) -> str:
    """One instance of ``"instances"``, at its depth in the manifest."""
    lines = []
    for key, value in entry.items():
        if key == "artifacts" and isinstance(value, Mapping) and value:
            body = ",\n".join(_artifact(path, art) for path, art in value.items())
            lines.append(f'      "artifacts": {{\n{body}\n      }}')
        else:
            lines.append(_nested(key, value, 3))
    if not lines:
        return f"    {json.dumps(name)}: {{}}"
    return f"    {json.dumps(name)}: {{\n" + ",\n".join(lines) + "\n    }"


def manifest_parts(head: Mapping[str, Any], fragments: Iterable[str]) -> Iterator[str]:
    """``manifest.json`` in pieces: ``head`` fields, then ``"instances"``, one per fragment.

    A compile writes these one at a time: at 100k peers the manifest is about 75 MB, and the
    joined text, its bytes and the fragments it is made of were all alive at once.
    """
    yield "{\n" + "".join(_nested(key, value, 1) + ",\n" for key, value in head.items())
    first = True
    for fragment in fragments:
        yield ('  "instances": {\n' if first else ",\n") + fragment
        first = False
    yield '  "instances": {}\n}\n' if first else "\n  }\n}\n"

