"""The RouterOS command trees of 7.9-7.24, from the data shipped in ``compiler/routeros/data``.

``tree.json.xz`` (made by ``scripts/routeros-data.py``; see ``data/PROVENANCE.md``) holds the
union of every version's menus, commands and arguments, each with a bit mask of the versions
that have it, so one load (about 20 ms) answers for every version. :class:`RouterOSTree` is the
view of one version; :class:`CommandTree` answers across versions (which ones have a node).

Versions are pinned by minor (``7.16``) or patch (``7.16.1``); both resolve to the crawled
release of that minor (``7.16.2``): RouterOS adds commands in minor releases.
"""

from __future__ import annotations

import functools
import json
import lzma
import re
from collections.abc import Sequence
from importlib import resources
from typing import Any, Final, NamedTuple

DATA_FILE: Final = "tree.json.xz"  # in data/ beside this module (package data of the wheel)
_VERSION_RE: Final = re.compile(r"7\.(\d{1,2})(?:\.(\d{1,2}))?")
_SCALAR: Final = re.compile(
    r"-?\d+(\.\d+)?"  # number
    r"|0x[0-9a-fA-F]+"
    r"|(\d+(ms|s|m|h|d|w))+|\d+:\d\d(:\d\d(\.\d+)?)?"  # time interval
    r"|[0-9.]+(/\d+|-[0-9.]+)?"  # IPv4 address, prefix or range
    r"|[0-9a-fA-F:]*:[0-9a-fA-F:.]*(/\d+)?"  # IPv6 address or prefix
)
#: Properties every menu has, though no completion lists them.
_DOT_PROPS: Final = frozenset({".id", ".nextid", ".dead", ".about"})
_MENU_TYPES: Final = frozenset({"d", "p"})  # a few top-level menus are typed "path"
_Json = Any


class EnumSpec(NamedTuple):
    """Legal values of an enum argument; ``negatable``: a ``!`` prefix is allowed."""

    values: frozenset[str]
    negatable: bool

    def accepts(self, value: str) -> bool:
        """Whether a literal value is legal.

        RouterOS often means "keyword or number/time/address" (``mtu=auto|1420``,
        ``protocol=tcp|6``), so a scalar is accepted unless the enum is a yes/no boolean;
        lists are split on ``,``; ``kw:rest`` (``ttl=equal:64``) is checked on ``kw``.
        """
        boolean = self.values <= {"yes", "no"}
        for part in value.split(","):
            item = part.removeprefix("!") if self.negatable else part
            if item in self.values or item == "" or item.split(":", 1)[0] in self.values:
                continue
            if boolean or not _SCALAR.fullmatch(item):
                return False
        return True


class Node(NamedTuple):
    """A menu (``kind`` "d"/"p") or command ("c") and the versions that have it (bit mask)."""

    kind: str
    mask: int
    raw: list[_Json]


class CommandTree:
    """Every version's tree at once: nodes with version masks, enums and menu properties."""

    def __init__(self, data: dict[str, _Json]) -> None:
        self.versions: tuple[str, ...] = tuple(data["versions"])
        self.sources: dict[str, str] = data["sources"]
        self.deep_version: str = data["deep_version"]
        self.all_mask = (1 << len(self.versions)) - 1
        self._root: dict[str, list[_Json]] = data["tree"]
        self._enums: dict[str, list[str]] = data["enums"]
        self._props: dict[str, str] = data["properties"]
        self._nodes: dict[tuple[str, ...], Node | None] = {}
        self._minors = {v.split(".")[1]: i for i, v in enumerate(self.versions)}

    def index(self, version: str) -> int | None:
        """The data index of a pinned version (``7.16``, ``7.16.1``), None if not in the data."""
        m = _VERSION_RE.fullmatch(version)
        return self._minors.get(str(int(m.group(1)))) if m else None

    def minor(self, index: int) -> str:
        """How a version of the data is named to users: its minor (``7.16``)."""
        return ".".join(self.versions[index].split(".")[:2])

    def node(self, path: Sequence[str]) -> Node | None:
        """The menu or command at ``path`` in any version (arguments are not nodes)."""
        key = tuple(path)
        if key in self._nodes:
            return self._nodes[key]
        found: Node | None = Node("d", self.all_mask, ["d", 0, self._root])
        for part in path:
            assert found is not None
            child = found.raw[2].get(part) if found.kind in _MENU_TYPES else None
            if child is None or part.startswith("_"):
                found = None
                break
            found = Node(child[0], child[1] or found.mask, child)
        self._nodes[key] = found
        return found

    def is_dir_any(self, path: Sequence[str]) -> bool:
        """Whether ``path`` is a menu in some version (how scripts are tokenized)."""
        node = self.node(path)
        return node is not None and node.kind in _MENU_TYPES

    def arg_masks(self, path: Sequence[str], word: str) -> dict[str, int] | None:
        """Argument name -> versions mask of command ``word`` in ``path``; None if no command."""
        node = self.node([*path, word])
        if node is None or node.kind != "c":
            return None
        _kind, _mask, common, extra = node.raw
        masks = dict.fromkeys(common.split(), node.mask) if common else {}
        masks.update(extra)
        return masks

    def enum(self, path: Sequence[str], word: str, arg: str) -> EnumSpec | None:
        """The enum of an argument (from the deep-inspect crawl), None if it is not one."""
        found = self._enums.get(f"{'/'.join(path)} {word} {arg}")
        if found is None:
            return None
        return EnumSpec(frozenset(found[1:]), negatable=found[0] == "!")

    def completed_properties(self, path: Sequence[str]) -> frozenset[str] | None:
        """What ``get value-name`` completes in the deep-inspect crawl's menu, if anything."""
        text = self._props.get("/".join(path))
        return frozenset(text.split()) if text else None


class RouterOSTree:
    """Menus, commands, arguments and enum values of one RouterOS version."""

    def __init__(self, data: CommandTree, index: int, pinned: str) -> None:
        self.data = data
        self.index = index
        self.bit = 1 << index
        self.version = pinned  # as the site pinned it
        self.release = data.versions[index]  # the crawled release standing for it
        self._props: dict[tuple[str, ...], frozenset[str] | None] = {}

    @classmethod
    def load(cls, version: str = "7.24") -> RouterOSTree:
        """The tree of ``version``; raises :class:`ValueError` when it is not in the data."""
        return _tree(version)

    def has(self, mask: int) -> bool:
        """Whether this version is in ``mask``."""
        return bool(mask & self.bit)

    def is_dir(self, path: Sequence[str]) -> bool:
        """Whether ``path`` is a menu in this version."""
        node = self.data.node(path)
        return node is not None and node.kind in _MENU_TYPES and self.has(node.mask)

    def has_command(self, path: Sequence[str], word: str) -> bool:
        """Whether ``word`` is a command of menu ``path`` in this version."""
        node = self.data.node([*path, word])
        return node is not None and node.kind == "c" and self.has(node.mask)

    def command_args(self, path: Sequence[str], word: str) -> frozenset[str] | None:
        """Argument names of command ``word`` in menu ``path``; None if no such command."""
        masks = self.data.arg_masks(path, word) if self.has_command(path, word) else None
        if masks is None:
            return None
        return frozenset(a for a, m in masks.items() if self.has(m))

    def children(self, path: Sequence[str]) -> frozenset[str]:
        """Names of the sub-menus and commands of menu ``path`` in this version."""
        node = self.data.node(path)
        if node is None or node.kind not in _MENU_TYPES:
            return frozenset()
        return frozenset(k for k, v in node.raw[2].items() if self.has(v[1] or node.mask))

    def properties(self, path: Sequence[str]) -> frozenset[str] | None:
        """Property names of menu ``path`` (``where``, ``get``), None when not known.

        The crawl with completions is of one version; its read-only properties (``running``,
        ``dynamic``) are taken as they are, settable ones follow this version's ``add``/``set``.
        """
        key = tuple(path)
        if key not in self._props:
            self._props[key] = self._properties(path)
        return self._props[key]

    def _properties(self, path: Sequence[str]) -> frozenset[str] | None:
        completed = self.data.completed_properties(path)
        if completed is None:
            return None
        settable_then: set[str] = set()
        settable_now: set[str] = set()
        deep_bit = 1 << self.data.versions.index(self.data.deep_version)
        for word in ("add", "set"):
            for arg, mask in (self.data.arg_masks(path, word) or {}).items():
                if mask & deep_bit:
                    settable_then.add(arg)
                if self.has(mask) and self.has_command(path, word):
                    settable_now.add(arg)
        return frozenset((completed - settable_then) | settable_now | _DOT_PROPS)

    def enum_for(self, path: Sequence[str], word: str, arg: str) -> EnumSpec | None:
        """The enum of argument ``arg`` of ``word`` in ``path``, None if it is not an enum."""
        return self.data.enum(path, word, arg)


@functools.cache
def command_tree() -> CommandTree:
    """The shipped data, read once per process."""
    blob = resources.files("compiler.routeros").joinpath("data", DATA_FILE).read_bytes()
    return CommandTree(json.loads(lzma.decompress(blob)))


@functools.cache
def _tree(version: str) -> RouterOSTree:
    data = command_tree()
    index = data.index(version)
    if index is None:
        known = f"{data.minor(0)} to {data.minor(len(data.versions) - 1)}"
        raise ValueError(f"RouterOS {version} is not in mvpn's data ({known})")
    return RouterOSTree(data, index, version)


def versions() -> tuple[str, ...]:
    """The crawled releases in the data, oldest first (``7.9.2`` ... ``7.24``)."""
    return command_tree().versions
