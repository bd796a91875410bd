"""Parse one YAML document with libyaml and keep positions cheaply.

The read path composes nodes in C (``CSafeLoader``) and converts them to plain
Python values itself, refusing what a config tree must never contain: anchors,
aliases, merge keys, custom tags and duplicate keys. Positions are *not* kept
on the hot path: a file is composed a second time, once, when (rarely) a
diagnostic needs a line and column (see :class:`Positions`), so a clean
100k-file tree pays nothing for them and a file with 10,000 diagnostics pays
one extra pass, not 10,000.

Line numbers are those editors and GitHub show: only LF, CRLF and
CR end a line. YAML 1.1 (and so libyaml) also breaks lines at U+0085,
U+2028 and U+2029, which would shift every later line number by one.
"""

from __future__ import annotations

import bisect
import contextlib
import re
from collections.abc import Sequence
from typing import Any, Final

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compiler.loader.flatyaml import parse_flat
from compiler.loader.scalars import SCALARS

try:  # pragma: no branch - libyaml is a hard requirement of the read path
    from yaml import CSafeLoader as _Loader
except ImportError:  # pragma: no cover - only on a broken PyYAML build
    from yaml import SafeLoader as _Loader  # type: ignore[assignment]

_T = "tag:yaml.org,2002:"

#: Deeper nesting is refused: a config file needs about six levels, and converting (then
#: validating) a 500-level value would exhaust Python's recursion limit.
MAX_DEPTH: Final = 64

#: Line breaks of YAML 1.1 that editors and GitHub do not count as line breaks.
_YAML_ONLY_BREAKS: Final = re.compile("[\u0085\u2028\u2029]")
#: The line breaks editors and GitHub count.
_BREAKS: Final = re.compile("\r\n|\r|\n")


def line_starts(text: str) -> list[int]:
    """Offsets where each line starts, counting only LF, CRLF and CR as breaks."""
    return [0, *(m.end() for m in _BREAKS.finditer(text))]


def line_col(text: str, offset: int, starts: list[int] | None = None) -> tuple[int, int]:
    """1-based (line, column) of character ``offset`` as an editor shows it."""
    starts = line_starts(text) if starts is None else starts
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


def mark_pos(text: str, mark: Any, starts: list[int] | None = None) -> tuple[int, int]:
    """1-based (line, column) of a libyaml mark, recounted when the text has YAML-only breaks.

    libyaml's ``index`` is a character offset into the text, so it maps back exactly.
    """
    if mark is None:
        return (1, 1)
    if _YAML_ONLY_BREAKS.search(text) is None:
        return (mark.line + 1, mark.column + 1)
    return line_col(text, mark.index, starts)


class YamlError(Exception):
    """Input that is not acceptable YAML; ``line``/``column`` are 1-based."""

    def __init__(self, message: str, line: int, column: int) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.column = column
        self.mark: Any = None  # a libyaml mark (C or pure-Python type)


def _err(message: str, node: Node) -> YamlError:
    mark = node.start_mark
    err = YamlError(message, mark.line + 1, mark.column + 1)
    err.mark = mark  # recounted by parse(), which has the text
    return err


def _convert(node: Node, depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise _err(f"nesting deeper than {MAX_DEPTH} levels is not allowed", node)
    if isinstance(node, ScalarNode):
        conv = SCALARS.get(node.tag)
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
            out[key] = _convert(value_node, depth + 1)
        return out
    if isinstance(node, SequenceNode):
        if node.tag != _T + "seq":
            raise _err(f"custom tag {node.tag!r} is not allowed; remove the tag", node)
        return [_convert(item, depth + 1) for item in node.value]
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
        line, column = mark_pos(text, event.start_mark)
        raise YamlError(f"{what} are not allowed; write the value out", line, column)


def _compose(text: str) -> Node | None:
    try:
        return yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        line, col = mark_pos(text, exc.problem_mark or exc.context_mark)
        problem = exc.problem or exc.context or "invalid YAML"
        if "expected a single document" in str(exc):
            problem = "only one YAML document per file is allowed"
        raise YamlError(problem, line, col) from None
    except yaml.reader.ReaderError as exc:
        # libyaml's reader counts bytes of UTF-8 here, not characters
        offset = len(text.encode("utf-8")[: exc.position].decode("utf-8", errors="ignore"))
        line, column = line_col(text, offset)
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
        before = data[: exc.start].decode("utf-8")  # valid up to the first bad byte
        line, column = line_col(before, len(before))
        raise YamlError("file is not valid UTF-8", line, column) from None
    return text.removeprefix("\ufeff")


def parse(text: str) -> Any:
    """Parse a YAML document into plain dicts, lists and scalars, or raise :class:`YamlError`.

    A flat file (most peer files) is read without libyaml (:mod:`compiler.loader.flatyaml`);
    everything else, and every error, goes through libyaml.
    """
    flat = parse_flat(text)
    return flat if flat is not None else parse_composed(text)


def parse_composed(text: str) -> Any:
    """:func:`parse` through libyaml's composer, whatever the file's shape."""
    if "&" in text or "*" in text:
        # Cheap pre-filter: without these characters there can be no anchor or alias.
        # A syntax error here is reported by the composer below, with its position.
        with contextlib.suppress(yaml.YAMLError):
            _refuse_anchors(text)
    node = _compose(text)
    if node is None:
        return None
    try:
        return _convert(node)
    except YamlError as exc:
        if exc.mark is not None:
            exc.line, exc.column = mark_pos(text, exc.mark)
        raise


#: A mapping node's keys → (key node, value node), built once per mapping when looked up.
KeyIndex = dict[int, dict[str, tuple[Node, Node]]]


def _keys(node: MappingNode, index: KeyIndex | None) -> dict[str, tuple[Node, Node]]:
    if index is None:
        return {k.value: (k, v) for k, v in reversed(node.value)}
    found = index.get(id(node))
    if found is None:
        # reversed: the first of duplicate keys wins, as a linear search would find it.
        found = index[id(node)] = {k.value: (k, v) for k, v in reversed(node.value)}
    return found


def _find(node: Node, path: Sequence[str | int], key: bool, index: KeyIndex | None = None
          ) -> Node:
    """Descend ``path``; stop at the deepest node that exists (a missing key → its mapping).

    ``index`` caches each mapping's keys, so 10,000 lookups in a 10,000-key mapping stay linear.
    """
    current = node
    for depth, part in enumerate(path):
        last = depth == len(path) - 1
        if isinstance(current, MappingNode):
            pair = _keys(current, index).get(str(part))
            if pair is None:
                return current
            if last and key:
                return pair[0]
            current = pair[1]
        elif isinstance(current, SequenceNode) and isinstance(part, int):
            if not 0 <= part < len(current.value):
                return current
            current = current.value[part]
        else:
            return current
    return current


class Positions:
    """Lines and columns of the nodes of one file, from a single compose of its text.

    Built on the first diagnostic of a file and kept: every further diagnostic of that file is
    a walk down its path (a dict lookup per mapping level), not another pass over the text.
    """

    composes = 0  # how many texts were composed for positions (a test counts the passes)

    def __init__(self, text: str) -> None:
        Positions.composes += 1
        self._text = text
        self._exact = _YAML_ONLY_BREAKS.search(text) is None  # libyaml's lines are right
        self._starts: list[int] | None = None
        self._index: KeyIndex = {}
        try:
            self._root: Node | None = yaml.compose(text, Loader=_Loader)
        except yaml.YAMLError:
            self._root = None

    def locate(self, path: Sequence[str | int], key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the node at ``path`` (of its key when ``key``)."""
        if self._root is None:
            return (1, 1)
        mark = _find(self._root, path, key, self._index).start_mark
        if self._exact:
            return (mark.line + 1, mark.column + 1)
        if self._starts is None:
            self._starts = line_starts(self._text)
        return line_col(self._text, mark.index, self._starts)


def locate(text: str, path: Sequence[str | int], key: bool = False) -> tuple[int, int]:
    """1-based (line, column) of the node at ``path`` (of its key when ``key``)."""
    return Positions(text).locate(path, key)
