"""Insert keys into a YAML mapping by splicing text: every byte of the file stays as it was.

A round-trip dump (ruamel.yaml) re-emits the whole document and normalises what it does
not model: spacing inside flow collections (``[ a ,b ]``), the indentation of block
sequences, extra spaces after a colon, and where a new key lands next to blank lines.
A reviewer of ``mvpn allocate`` must see a diff of exactly the inserted lines, so the new
keys are spliced into the original text at positions taken from the composed node tree,
and the result is parsed again and compared with what was intended before it is accepted.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compiler.loader.yamlread import YamlError, compose, parse

_NULL = "tag:yaml.org,2002:null"


class SpliceError(Exception):
    """The file cannot take the keys without changing what it already says."""


def _last_leaf_end(node: Node) -> int:
    """Index just after the last character of ``node``'s own text.

    A block collection's end mark lies at the start of whatever follows it (trailing
    comments and blank lines included), so descend to its last entry instead.
    """
    if isinstance(node, ScalarNode) or getattr(node, "flow_style", False):
        return int(node.end_mark.index)
    if isinstance(node, SequenceNode) and node.value:
        return _last_leaf_end(node.value[-1])
    if isinstance(node, MappingNode) and node.value:
        return _last_leaf_end(node.value[-1][1])
    return int(node.end_mark.index)


#: Line breaks as editors and YAML count them (a CR alone ends a line in old Mac files).
_BREAK = re.compile(r"\r\n|\r|\n")


def _breaks(text: str, end: int) -> int:
    """How many line breaks ``text[:end]`` holds."""
    return len(_BREAK.findall(text, 0, end))


def _newline_of(text: str, at: int) -> str:
    """The line ending (LF, CRLF or CR) of the line that ends at or after ``at``.

    Else the file's first one, so a new line never mixes endings into a file.
    """
    found = _BREAK.search(text, at) or _BREAK.search(text)
    return found.group() if found is not None else "\n"


def _scalar(value: str, flow: bool) -> str:
    """``value`` as a plain scalar, quoted only where plain YAML would misread it."""
    risky = value.startswith((":", "-", "?", "[", "{", "#", "'", '"')) or (
        flow and any(c in value for c in ",[]{}")
    )
    return f'"{value}"' if risky else value


def _anchor(node: MappingNode, after: Sequence[str]) -> tuple[Node, Node]:
    """The (key, value) pair after which the new keys go: the last one named in ``after``."""
    wanted = set(after)
    chosen = node.value[-1]
    for pair in node.value:
        if pair[0].value in wanted:
            chosen = pair
    return chosen  # type: ignore[no-any-return]


def _splice_block(text: str, node: MappingNode, items: Sequence[tuple[str, str]],
                  after: Sequence[str]) -> tuple[str, list[int]]:
    key, value = _anchor(node, after)
    indent = " " * key.start_mark.column
    end = _last_leaf_end(value)
    newline = _newline_of(text, end)
    lines = [f"{indent}{k}: {_scalar(v, flow=False)}" for k, v in items]
    if end > 0 and text[end - 1] in "\r\n":  # the value ended with its line (block scalar)
        at, block = end, "".join(line + newline for line in lines)
    else:
        nl = _BREAK.search(text, end)
        if nl is None:  # the last line has no line break: keep its bytes, add ours after it
            at, block = len(text), "".join(newline + line for line in lines)
        else:
            at, block = nl.end(), "".join(line + newline for line in lines)
    ended = at < len(text) or text.endswith(("\r", "\n"))
    first = _breaks(text, at) + (1 if ended else 2)
    return text[:at] + block + text[at:], list(range(first, first + len(lines)))


def _splice_flow(text: str, node: MappingNode,
                 items: Sequence[tuple[str, str]]) -> tuple[str, list[int]]:
    pairs = ", ".join(f"{k}: {_scalar(v, flow=True)}" for k, v in items)
    if node.value:
        at = _last_leaf_end(node.value[-1][1])
        insert = ", " + pairs
    else:
        at = int(node.start_mark.index) + 1  # just inside "{"
        insert = pairs
    line = _breaks(text, at) + 1
    return text[:at] + insert + text[at:], [line] * len(items)  # all on one line


def insert_keys(
    text: str, items: Sequence[tuple[str, str]], after: Sequence[str] = ()
) -> tuple[str, list[int]]:
    """Add ``items`` (key, scalar text) to the top-level mapping of ``text``.

    Block mappings get one new line per key after the last key named in ``after`` (else
    after the last key), indented like it and with the file's line ending; a flow mapping
    gets ``, key: value`` after its last value. Returns the new text and the 1-based
    lines the keys are on. Raises :class:`SpliceError` when the result would not parse to
    the old mapping plus the new keys.
    """
    try:
        node = compose(text)
    except YamlError as exc:
        raise SpliceError(f"not valid YAML: {exc.message}") from None
    if not isinstance(node, MappingNode):
        raise SpliceError("the file is not a mapping")
    new, found = _fill_nulls(text, node, items)
    rest = [(k, v) for k, v in items if k not in found]
    if rest:
        node = compose(new)
        assert isinstance(node, MappingNode)
        if node.flow_style:
            new, added = _splice_flow(new, node, rest)
        elif node.value:
            # A key filled in place is an anchor too: address6 goes after a filled address.
            new, added = _splice_block(new, node, rest, (*after, *found))
        else:  # pragma: no cover - an empty block mapping is composed as a flow "{}" or null
            raise SpliceError("the file has no keys")
        found.update(zip((k for k, _ in rest), added, strict=True))
    _verify(text, new, items)
    return new, [found[k] for k, _ in items]


def _fill_nulls(text: str, node: MappingNode,
                items: Sequence[tuple[str, str]]) -> tuple[str, dict[str, int]]:
    """Fill keys the file has with an empty value (``address: ~``, ``null`` or nothing).

    Such a key means "not set yet", so it is filled where it stands.
    """
    wanted = dict(items)
    spans: list[tuple[int, int, str]] = []
    lines: dict[str, int] = {}
    for key, value in node.value:
        if (isinstance(key, ScalarNode) and key.value in wanted
                and isinstance(value, ScalarNode) and value.tag == _NULL):
            start, end = int(value.start_mark.index), int(value.end_mark.index)
            scalar = _scalar(wanted[key.value], flow=bool(node.flow_style))
            if start == end and text[start - 1:start] == ":":  # `address:` with no value
                scalar = " " + scalar
            spans.append((start, end, scalar))
            lines[key.value] = int(value.start_mark.line) + 1
    for start, end, scalar in sorted(spans, reverse=True):
        text = text[:start] + scalar + text[end:]
    return text, lines


def _verify(old: str, new: str, items: Sequence[tuple[str, str]]) -> None:
    """The new text must say exactly what the old one said, plus the new keys."""
    try:
        before: Any = parse(old)
        after: Any = parse(new)
    except YamlError as exc:
        raise SpliceError(f"the edit would break the file: {exc.message}") from None
    expected = dict(before)
    expected.update(items)
    if after != expected or not _same_keys(before, after, items):
        raise SpliceError("the edit would change what the file says")


def _same_keys(before: dict[str, Any], after: dict[str, Any],
               items: Sequence[tuple[str, str]]) -> bool:
    """Old keys keep their relative order (new ones may sit between them)."""
    new = {k for k, _ in items}
    return [k for k in after if k not in new] == [k for k in before if k not in new]
