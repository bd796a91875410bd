"""Validate generated RouterOS v7 scripts against the real RouterOS command tree.

The reference data is read-only and lives outside the repository, in ``shared/routeros`` beside
the repository root: ``<version>-inspect.json`` (menus, commands and arguments) and
``<version>-deep-inspect.json`` (the same plus ``_completion`` dicts with the values the CLI
offers for an argument).  Menus, commands and argument names are checked against the requested
version (7.24 by default); enum values come from the newest deep-inspect file (7.22.3).

Rules applied by :func:`validate` to every command, nested ones included:

* the menu exists and the command exists in it.  ``:cmd`` resolves from the root (global
  commands like ``:local``, ``:if``, ``:foreach`` and also ``:log info``); a word without a colon
  resolves only in the current menu, as in RouterOS.
* every ``name=`` argument exists for that command.  Names must be spelled in full (RouterOS
  would accept unambiguous prefixes; generated scripts must not rely on that).  ``find`` also
  accepts ``prop=value`` filters on the menu's properties.
* property names in ``where`` clauses (and ``get`` value names) exist in the menu.  The
  property list is the 7.22.3 ``get value-name`` completion (which includes read-only
  properties such as ``dynamic``) plus the ``add``/``set`` arguments; menus without that
  completion are not checked.
* a literal value (no ``$var``, ``[...]``, ``(...)``) of an *enum* argument is one of the enum
  values.  An argument counts as an enum (see :meth:`RouterOSTree.enum_for`) only when all of:
  its 7.22.3 completion exists, has at least two values, all of style ``arg``/``none`` (object
  names, file paths and other syntax metas such as ``:`` or ``/`` disqualify it; ``!`` negation
  and ``,`` lists are allowed); its description is absent or an ``a|b|c`` pattern (a description
  such as "string value", "time interval" or an IP type means the completions are only special
  keywords of a richer type); the values are not all numbers; the values do not look like
  objects of the inspected router (not all of them names of existing items, i.e. completions of
  some menu's ``numbers`` argument, and none an interface name); and the argument is not one
  that accepts user-chosen names (``chain``, ``jump-target``).  Because RouterOS often means
  "keyword or number/time/address" (``mtu=auto|1420``, ``protocol=tcp|6``,
  ``address-list-timeout=none-dynamic|1d``), a value that looks like such a scalar is accepted
  unless the enum is a yes/no boolean; lists are split on ``,``; ``kw:rest`` (``ttl=equal:64``)
  is checked on ``kw``.
* literal ``source=`` of ``/system script add|set`` is parsed and validated as a script too.
"""

from __future__ import annotations

import difflib
import functools
import json
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, NamedTuple

from tests.support.rsc_tokenize import Command, RscSyntaxError, is_literal, parse

__all__ = [
    "DEFAULT_VERSION", "REFERENCE_DIR", "Command", "EnumSpec", "RouterOSTree", "RscSyntaxError",
    "tokenize", "validate",
]

REFERENCE_DIR = Path(__file__).resolve().parents[3] / "shared" / "routeros"
DEFAULT_VERSION = "7.24"
_OPEN_NAME_ARGS = frozenset({"chain", "jump-target"})
_ALLOWED_METAS = frozenset({"!", ",", "!,"})
_ENUM_DESC = re.compile(r"[\w.-]+(\|[\w.-]+)*(\[,\w+\*\])?")
_NUMBER = re.compile(r"-?\d+|0x[0-9a-fA-F]+")
_SCALAR = re.compile(
    r"-?\d+(\.\d+)?"  # number
    r"|0x[0-9a-fA-F]+"
    r"|(\d+(ms|s|m|h|d|w))+|\d+:\d\d(:\d\d(\.\d+)?)?"  # time interval
    r"|[0-9.]+(/\d+|-[0-9.]+)?"  # IPv4 address, prefix or range
    r"|[0-9a-fA-F:]*:[0-9a-fA-F:.]*(/\d+)?"  # IPv6 address or prefix
)
_MENU_TYPES = frozenset({"dir", "path"})  # a few top-level menus are typed "path"
_DOT_PROPS = frozenset({".id", ".nextid", ".dead", ".about"})
_JsonDict = dict[str, Any]


class EnumSpec(NamedTuple):
    """Legal values of an enum argument; ``negatable``: a ``!`` prefix is allowed."""

    values: frozenset[str]
    negatable: bool

    def accepts(self, value: str) -> bool:
        boolean = self.values <= {"yes", "no"}
        for part in value.split(","):
            item = part.removeprefix("!") if self.negatable else part
            if item in self.values or item == "" or item.split(":", 1)[0] in self.values:
                continue
            if boolean or not _SCALAR.fullmatch(item):
                return False
        return True


@functools.lru_cache(maxsize=8)
def _load_json(path: Path) -> _JsonDict:
    with path.open(encoding="utf-8") as fh:
        data: _JsonDict = json.load(fh)
    return data


def _reference_file(name: str) -> Path:
    path = REFERENCE_DIR / name
    if not REFERENCE_DIR.is_dir():
        raise FileNotFoundError(
            f"RouterOS reference data not found: {REFERENCE_DIR} is missing. It must be a "
            "'shared/routeros' directory beside the repository root (read-only inspect JSON)."
        )
    if not path.is_file():
        raise FileNotFoundError(f"RouterOS reference file {path} is missing")
    return path


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", path.name.split("-")[0]))


class RouterOSTree:
    """Menus, commands and arguments of one RouterOS version, plus enum data."""

    def __init__(self, version: str, tree: _JsonDict, deep: _JsonDict) -> None:
        self.version = version
        self._tree = tree
        self._deep = deep
        self._enums: dict[tuple[tuple[str, ...], str, str], EnumSpec | None] = {}
        self._objects: frozenset[str] | None = None
        self._interfaces: frozenset[str] = frozenset()

    @classmethod
    def load(cls, version: str = DEFAULT_VERSION) -> RouterOSTree:
        """The (cached) tree for ``version``; raises FileNotFoundError without the data."""
        return _load_tree(version)

    @staticmethod
    def _get(root: _JsonDict, path: Sequence[str]) -> _JsonDict | None:
        node: Any = root
        for part in path:
            node = node.get(part) if isinstance(node, dict) else None
            if not isinstance(node, dict) or part.startswith("_"):
                return None
        return node if isinstance(node, dict) else None

    def node(self, path: Sequence[str]) -> _JsonDict | None:
        """The inspect node at ``path`` (a menu, a command or an argument)."""
        return self._get(self._tree, path)

    def is_dir(self, path: Sequence[str]) -> bool:
        node = self.node(path)
        return node is not None and node.get("_type") in _MENU_TYPES

    def command_args(self, path: Sequence[str], word: str) -> frozenset[str] | None:
        """Argument names of command ``word`` in menu ``path``; None if no such command."""
        node = self.node([*path, word])
        if node is None or node.get("_type") != "cmd":
            return None
        return frozenset(k for k in node if not k.startswith("_"))

    def properties(self, path: Sequence[str]) -> frozenset[str] | None:
        """All property names of menu ``path`` if known (see module docstring)."""
        value_name = self._get(self._deep, [*path, "get", "value-name"])
        completion = (value_name or {}).get("_completion")
        if not completion:
            return None
        props = set(completion) | _DOT_PROPS
        for word in ("add", "set"):
            props |= self.command_args(path, word) or frozenset()
        return frozenset(props)

    def _object_names(self) -> frozenset[str]:
        if self._objects is None:
            names: set[str] = set()
            stack: list[_JsonDict] = [self._deep]
            while stack:
                node = stack.pop()
                for key, child in node.items():
                    if not isinstance(child, dict) or key.startswith("_"):
                        continue
                    if child.get("_type") == "arg":
                        if key in ("numbers", "number"):
                            names.update(child.get("_completion") or ())
                    else:
                        stack.append(child)
            self._objects = frozenset(names)
            iface = self._get(self._deep, ["interface", "set", "numbers"]) or {}
            self._interfaces = frozenset(iface.get("_completion") or ())
        return self._objects

    def enum_for(self, path: Sequence[str], word: str, arg: str) -> EnumSpec | None:
        """The enum of argument ``arg`` of ``word`` in ``path``, None if it is not an enum."""
        key = (tuple(path), word, arg)
        if key not in self._enums:
            self._enums[key] = self._compute_enum(path, word, arg)
        return self._enums[key]

    def _compute_enum(self, path: Sequence[str], word: str, arg: str) -> EnumSpec | None:
        deep = self._get(self._deep, [*path, word, arg]) or {}
        completion: _JsonDict = deep.get("_completion") or {}
        if arg in _OPEN_NAME_ARGS or not completion:
            return None
        metas = {k for k, v in completion.items() if v.get("style") == "syntax-meta"}
        styles = {v.get("style") for k, v in completion.items() if k not in metas}
        if not metas <= _ALLOWED_METAS or not styles <= {"arg", "none"}:
            return None
        values = {k.strip('"') for k in completion if k not in metas}
        desc = (self.node([*path, word, arg]) or {}).get("desc") or deep.get("desc")
        if desc:
            if not _ENUM_DESC.fullmatch(desc):
                return None
            values |= set(desc.split("[")[0].split("|"))
        if len(values) < 2 or all(_NUMBER.fullmatch(v) for v in values):
            return None
        objects = self._object_names()
        if values <= objects or values & self._interfaces:
            return None
        return EnumSpec(frozenset(values), negatable="!" in metas or "!," in metas)


@functools.lru_cache(maxsize=8)
def _load_tree(version: str) -> RouterOSTree:
    tree_file = REFERENCE_DIR / f"{version}-inspect.json"
    if not tree_file.is_file():
        tree_file = _reference_file(f"{version}-deep-inspect.json")
    deep_files = sorted(REFERENCE_DIR.glob("*-deep-inspect.json"), key=_version_key)
    if not deep_files:
        raise FileNotFoundError(f"no *-deep-inspect.json in {REFERENCE_DIR}")
    return RouterOSTree(version, _load_json(tree_file), _load_json(deep_files[-1]))


def tokenize(script: str, tree: RouterOSTree | None = None) -> list[Command]:
    """Parse ``script`` into commands; menu paths are resolved with ``tree`` (7.24 default)."""
    tree = tree if tree is not None else RouterOSTree.load()
    return parse(script, tree.is_dir)


def _menu(path: Sequence[str]) -> str:
    return "/" + "/".join(path)


def _unknown(kind: str, name: str, where: str, known: frozenset[str] | Sequence[str]) -> str:
    close = sorted(k for k in known if k.startswith(name)) or difflib.get_close_matches(
        name, list(known), n=1
    )
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}' {where}{hint}"


def _check(cmd: Command, tree: RouterOSTree) -> Iterator[str]:
    if cmd.word == "" and (cmd.args or cmd.positionals):
        yield f"missing command name in {_menu(cmd.path)}"
    if cmd.word == "" or cmd.word.startswith("$"):
        return
    where = f"for {_menu(cmd.path)} {cmd.word}"
    args = tree.command_args(cmd.path, cmd.word)
    if args is None:
        menu = tree.node(cmd.path)
        known = frozenset(k for k in (menu or {}) if not k.startswith("_"))
        msg = _unknown("menu or command", cmd.word, f"in {_menu(cmd.path)}", known)
        if tree.command_args([], cmd.word) is not None and not cmd.colon:
            msg += f" (global command: write ':{cmd.word}')"
        yield msg
        return
    props = tree.properties(cmd.path) if cmd.word in ("find", "get") or cmd.where else None
    for arg in cmd.args:
        if arg.name not in args:
            if cmd.word != "find":
                yield _unknown("argument", arg.name, where, args)
            elif props and arg.name not in props:
                yield _unknown("argument", arg.name, where, args | props)
        elif arg.literal:
            spec = tree.enum_for(cmd.path, cmd.word, arg.name)
            if spec is not None and not spec.accepts(arg.value):
                legal = ", ".join(sorted(spec.values))
                yield f"bad value {arg.name}={arg.value!r} {where} (expected one of: {legal})"
    used = list(cmd.where_props)
    if cmd.word == "get" and len(cmd.positionals) >= 2 and is_literal(cmd.positionals_raw[1]):
        used.append(cmd.positionals[1])
    used += [a.value for a in cmd.args if a.name == "value-name" and a.literal]
    for prop in used:
        if props and prop not in props:
            yield _unknown("property", prop, f"of {_menu(cmd.path)}", props)
    if cmd.path == ["system", "script"] and cmd.word in ("add", "set"):
        for arg in cmd.args:
            if arg.name == "source" and arg.literal:
                yield from (f"in source= script: {p}" for p in validate(arg.value, tree))


def validate(script: str, tree: RouterOSTree | None = None) -> list[str]:
    """All problems found in ``script`` as ``"line N: ..."`` strings; empty when valid."""
    tree = tree if tree is not None else RouterOSTree.load()
    try:
        commands = tokenize(script, tree)
    except RscSyntaxError as exc:
        return [str(exc)]
    problems: list[str] = []
    for top in commands:
        for cmd in top.walk():
            problems.extend(f"line {cmd.line}: {msg}" for msg in _check(cmd, tree))
    return problems
