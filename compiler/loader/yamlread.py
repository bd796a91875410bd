"""Parse one YAML document with libyaml and keep positions cheaply.

The read path composes nodes in C (``CSafeLoader``) and converts them to plain
Python values itself, refusing what a config tree must never contain: anchors,
aliases, merge keys, custom tags and duplicate keys. Positions are *not* kept
on the hot path: :func:`locate` re-composes a file when (rarely) a diagnostic
needs a line and column, so a clean 100k-file tree pays nothing for them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

try:  # pragma: no branch - libyaml is a hard requirement of the read path
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - only on a broken PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_T = "tag:yaml.org,2002:"


class YamlFloat(float):
    """A YAML float that remembers its source text (``routeros: 7.20`` is not 7.2)."""

    raw: str

    def __new__(cls, value: float, raw: str) -> YamlFloat:  # noqa: D102
        obj = super().__new__(cls, value)
        obj.raw = raw
        return obj


class YamlError(Exception):
    """Input that is not acceptable YAML; ``line``/``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column


_constructor = yaml.SafeLoader("")  # only its scalar constructors are used


def _scalar_int(node: ScalarNode) -> Any:
    return _constructor.construct_yaml_int(node)


def _scalar_float(node: ScalarNode) -> Any:
    return YamlFloat(_constructor.construct_yaml_float(node), node.value)


_SCALARS: dict[str, Callable[[ScalarNode], Any]] = {
    _T + "str": lambda n: n.value,
    _T + "int": _scalar_int,
    _T + "float": _scalar_float,
    _T + "bool": _constructor.construct_yaml_bool,
    _T + "null": lambda n: None,
    # Dates stay text: no field of ours is a date, and pydantic then says "expected a string".
    _T + "timestamp": lambda n: n.value,
}


def _err(message: str, node: Node) -> YamlError:
    mark = node.start_mark
    return YamlError(message, mark.line + 1, mark.column + 1)


def _convert(node: Node) -> Any:
    if isinstance(node, ScalarNode):
        conv = _SCALARS.get(node.tag)
        if conv is None:
            raise _err(f"custom tag {node.tag!r} is not allowed; remove the tag", node)
        return conv(node)
    if isinstance(node, MappingNode):
        if node.tag != _T + "map":
            raise _err(f"custom tag {node.tag!r} is not allowed; remove the tag", node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if not isinstance(key_node, ScalarNode):
                raise _err("a mapping key must be a plain string", key_node)
            if key_node.tag == _T + "merge":
                raise _err("merge keys ('<<') are not allowed; write the keys out", key_node)
            # Keys are taken as written: `no:` or `on:` must not become booleans.
            key = key_node.value
            if key in out:
                raise _err(f"duplicate key {key!r}; each key may appear once", key_node)
            out[key] = _convert(value_node)
        return out
    if isinstance(node, SequenceNode):
        if node.tag != _T + "seq":
            raise _err(f"custom tag {node.tag!r} is not allowed; remove the tag", node)
        return [_convert(item) for item in node.value]
    raise _err("unsupported YAML node", node)  # pragma: no cover - composer yields only these


def _refuse_anchors(text: str) -> None:
    """Refuse anchors and aliases before composing, so an alias bomb costs one linear scan."""
    for event in yaml.parse(text, Loader=_Loader):
        if isinstance(event, yaml.AliasEvent):
            what = "aliases ('*name')"
        elif getattr(event, "anchor", None) is not None:
            what = "anchors ('&name')"
        else:
            continue
        mark = event.start_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise YamlError(f"{what} are not allowed; write the value out", line, column)


def _compose(text: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, col = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in str(exc):
            problem = "only one YAML document per file is allowed"
        raise YamlError(problem, line, col) from None
    except yaml.reader.ReaderError as exc:
        before = text[: exc.position]
        line = before.count("\n") + 1
        column = exc.position - (before.rfind("\n") + 1) + 1
        raise YamlError(
            f"control character U+{exc.character:04X} is not allowed in YAML", line, column
        ) from None
    except yaml.YAMLError as exc:
        raise YamlError(str(exc).splitlines()[0], 1, 1) from None


def compose(text: str) -> Node | None:
    """The node tree of ``text`` with positions (for editors of a file), or :class:`YamlError`."""
    return _compose(text)


def decode(data: bytes) -> str:
    """Decode UTF-8 strictly, pointing at the first bad byte."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = data[: exc.start]
        line = before.count(b"\n") + 1
        column = exc.start - (before.rfind(b"\n") + 1) + 1
        raise YamlError("file is not valid UTF-8", line, column) from None
    return text.removeprefix("\ufeff")


def parse(text: str) -> Any:
    """Parse a YAML document into plain dicts, lists and scalars, or raise :class:`YamlError`."""
    if "&" in text or "*" in text:
        # Cheap pre-filter: without these characters there can be no anchor or alias.
        # A syntax error here is reported by the composer below, with its position.
        with contextlib.suppress(yaml.YAMLError):
            _refuse_anchors(text)
    node = _compose(text)
    if node is None:
        return None
    return _convert(node)


def _find(node: Node, path: Sequence[str | int], key: bool) -> Node:
    """Descend ``path``; stop at the deepest node that exists (a missing key → its mapping)."""
    current = node
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(current, MappingNode):
            for key_node, value_node in current.value:
                if key_node.value == str(part):
                    if last and key:
                        return key_node  # type: ignore[no-any-return]
                    current = value_node
                    break
            else:
                return current
        elif isinstance(current, SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(current.value):
                return current
            current = current.value[part]
        else:
            return current
    return current


def locate(text: str, path: Sequence[str | int], key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the node at ``path`` (of its key when ``key``)."""
    try:
        node = yaml.compose(text, Loader=_Loader)
    except yaml.YAMLError:
        return (1, 1)
    if node is None:
        return (1, 1)
    found = _find(node, path, key)
    return (found.start_mark.line + 1, found.start_mark.column + 1)
