"""Validate a RouterOS v7 script against one version's command tree.

Rules applied to every command, nested ones included (see :mod:`compiler.routeros.tree` for
the data):

* the menu exists and the command exists in it.  ``:cmd`` resolves from the root (global
  commands like ``:local``, ``:if``, ``:foreach`` and also ``:log info``); a word without a colon
  resolves only in the current menu, as in RouterOS.
* every ``name=`` argument exists for that command.  Names must be spelled in full (RouterOS
  would accept unambiguous prefixes; generated scripts must not rely on that).  ``find`` also
  accepts ``prop=value`` filters on the menu's properties.
* property names in ``where`` clauses (and ``get`` value names) exist in the menu, when the
  menu's properties are known (:meth:`RouterOSTree.properties`).
* a literal value (no ``$var``, ``[...]``, ``(...)``) of an *enum* argument is one of its values
  (enums come from the one crawl with completions, 7.22.3, and are applied to every version).
* a literal ``source=`` of ``/system script add|set`` is parsed and validated as a script too.

Menus are resolved with the union of all versions, so a command a version lacks is named by
its full path, and a problem says which versions have it: kind ``unsupported`` (with the
first later version that has it, or the last earlier one), as opposed to ``unknown`` (no
version 7.9-7.24 has it), ``value`` (an illegal enum value) and ``syntax``.
"""

from __future__ import annotations

import dataclasses
import difflib
import re
from collections.abc import Iterator, Sequence
from typing import Literal

from compiler.routeros.tokenize import Command, RscSyntaxError, is_literal, parse
from compiler.routeros.tree import RouterOSTree, command_tree

ProblemKind = Literal["syntax", "unknown", "unsupported", "value"]
_STRING = re.compile(r'"(?:[^"\\]|\\.)*"')
_BRACKET_PAIR = re.compile(r"\[[^][{}()]*\]|\{[^][{}()]*\}|\([^][{}()]*\)")
_BRACKET = re.compile(r"[][{}()]")
# Address and prefix literals (v4 and v6), which never decide which commands a line uses.
_ADDRESS = re.compile(r"(?<![\w.:-])(?:\d{1,3}(?:\.\d{1,3}){3}|[0-9a-fA-F]*:[0-9a-fA-F:.]*)"
                      r"(?:/\d{1,3})?(?![\w.:-])")


@dataclasses.dataclass(frozen=True, slots=True)
class Problem:
    """One problem of a script: its 1-based ``line`` and a message without the line.

    For ``unsupported``: ``since`` is the first version after the checked one that has what
    is missing (as a minor, ``7.13``), or None when only earlier versions had it (``until``).
    """

    line: int
    message: str
    kind: ProblemKind
    since: str | None = None
    until: str | None = None

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def tokenize(script: str) -> list[Command]:
    """Parse ``script`` into commands, resolving menus across every version's tree."""
    return parse(script, command_tree().is_dir_any)


def _self_contained(line: str) -> bool:
    """Whether ``line`` is whole statements: strings closed, brackets balanced, no continuation."""
    if line.endswith("\\"):
        return False
    rest = _STRING.sub("", line)
    if '"' in rest:
        return False
    while True:  # innermost pairs first: a few passes (scripts nest a few levels deep)
        inner = _BRACKET_PAIR.sub("", rest)
        if inner == rest:
            return not _BRACKET.search(rest)
        rest = inner


def compact(script: str) -> str:
    """``script`` without the lines that repeat the line before but for address literals.

    A site script handles one route per network of its instance: these lines use the same
    commands and arguments, so :func:`validate` finds the same version problems in the
    compacted script, minus repeats, at a fraction of the cost. Only self-contained lines
    (whole statements, see :func:`_self_contained`) are dropped, so the nesting of the rest
    is unchanged; line numbers of later problems shift.
    """
    out: list[str] = []
    previous: str | None = None
    continued = False
    for line in script.split("\n"):
        shape = _ADDRESS.sub("A", line)
        # Masking changes no bracket, quote or backslash: when the shapes are equal, the line
        # before is self-contained exactly when this one is.
        if shape == previous and _self_contained(line):
            continue
        # A line ending in `\\`, and the line it continues into, are parts of a statement:
        # never the model for dropping the next line.
        previous = None if continued or line.endswith("\\") else shape
        continued = line.endswith("\\")
        out.append(line)
    return "\n".join(out)


def validate(script: str, version: str | RouterOSTree) -> list[Problem]:
    """Every problem of ``script`` on RouterOS ``version``; empty when it would run there.

    Raises :class:`ValueError` for a version that is not in the data (7.9-7.24).
    """
    tree = version if isinstance(version, RouterOSTree) else RouterOSTree.load(version)
    try:
        commands = tokenize(script)
    except RscSyntaxError as exc:
        return [Problem(exc.line, exc.message, "syntax")]
    return check_commands(commands, tree)


def check_commands(commands: Sequence[Command], version: str | RouterOSTree) -> list[Problem]:
    """:func:`validate` of a script already parsed by :func:`tokenize`.

    Parsing resolves menus across every version and is most of the cost: a script checked
    against several versions is parsed once (``mvpn check``: one script, several pins).
    """
    tree = version if isinstance(version, RouterOSTree) else RouterOSTree.load(version)
    problems: list[Problem] = []
    for top in commands:
        for cmd in top.walk():
            problems.extend(_check(cmd, tree))
    return problems


def _menu(path: Sequence[str]) -> str:
    return "/" + "/".join(path)


def _unknown(kind: str, name: str, where: str, known: frozenset[str] | Sequence[str]) -> str:
    close = sorted(k for k in known if k.startswith(name)) or difflib.get_close_matches(
        name, list(known), n=1
    )
    hint = f" (did you mean '{close[0]}'?)" if close else ""
    return f"unknown {kind} '{name}' {where}{hint}"


def _missing(line: int, what: str, mask: int, tree: RouterOSTree) -> Problem:
    """``what`` exists in the versions of ``mask`` but not in ``tree``'s."""
    data = tree.data
    later = [i for i in range(tree.index + 1, len(data.versions)) if mask >> i & 1]
    if later:
        since = data.minor(later[0])
        return Problem(line, f"RouterOS {tree.version} has no {what} (first in {since})",
                       "unsupported", since=since)
    until = data.minor(max(i for i in range(tree.index) if mask >> i & 1))
    return Problem(line, f"RouterOS {tree.version} has no {what} (last in {until})",
                   "unsupported", until=until)


def _check_command(cmd: Command, tree: RouterOSTree) -> Problem | None:
    """A problem with the menu or command itself; None when this version has it."""
    node = tree.data.node([*cmd.path, cmd.word])
    if node is None or node.kind != "c":
        known = tree.children(cmd.path)
        msg = _unknown("menu or command", cmd.word, f"in {_menu(cmd.path)}", known)
        if tree.has_command([], cmd.word) and not cmd.colon:
            msg += f" (global command: write ':{cmd.word}')"
        return Problem(cmd.line, msg, "unknown")
    if tree.has(node.mask):
        return None
    full = [*cmd.path, cmd.word]
    for depth in range(1, len(full) + 1):  # name the outermost menu this version lacks
        part = tree.data.node(full[:depth])
        assert part is not None
        if not tree.has(part.mask):
            if depth < len(full):
                what = f"menu {_menu(full[:depth])}"
            elif cmd.path:
                what = f"command {_menu(cmd.path)} {cmd.word}"
            else:
                what = f"command :{cmd.word}"
            return _missing(cmd.line, what, part.mask, tree)
    raise AssertionError("a node missing from a version has an ancestor missing from it")


def _property_problem(cmd: Command, prop: str, unknown: str, tree: RouterOSTree) -> Problem:
    """A property ``prop`` not in this version's menu: which versions have it, if any."""
    data = tree.data
    mask = 0
    for i, _ in enumerate(data.versions):
        other = RouterOSTree(data, i, data.versions[i])
        if prop in (other.properties(cmd.path) or ()):
            mask |= 1 << i
    if mask:
        return _missing(cmd.line, f"property '{prop}' of {_menu(cmd.path)}", mask, tree)
    return Problem(cmd.line, unknown, "unknown")


def _check(cmd: Command, tree: RouterOSTree) -> Iterator[Problem]:
    if cmd.word == "" and (cmd.args or cmd.positionals):
        yield Problem(cmd.line, f"missing command name in {_menu(cmd.path)}", "unknown")
    if cmd.word == "" or cmd.word.startswith("$"):
        return
    problem = _check_command(cmd, tree)
    if problem is not None:
        yield problem
        return
    where = f"for {_menu(cmd.path)} {cmd.word}"
    masks = tree.data.arg_masks(cmd.path, cmd.word) or {}
    args = frozenset(a for a, m in masks.items() if tree.has(m))
    props = tree.properties(cmd.path) if cmd.word in ("find", "get") or cmd.where else None
    for arg in cmd.args:
        if arg.name not in args:
            if arg.name in masks:
                yield _missing(cmd.line, f"argument '{arg.name}' {where}", masks[arg.name], tree)
            elif cmd.word != "find":
                yield Problem(cmd.line, _unknown("argument", arg.name, where, args), "unknown")
            elif props and arg.name not in props:
                unknown = _unknown("argument", arg.name, where, args | props)
                yield _property_problem(cmd, arg.name, unknown, tree)
        elif arg.literal:
            spec = tree.enum_for(cmd.path, cmd.word, arg.name)
            if spec is not None and not spec.accepts(arg.value):
                legal = ", ".join(sorted(spec.values))
                yield Problem(cmd.line, f"bad value {arg.name}={arg.value!r} {where} "
                                        f"(expected one of: {legal})", "value")
    used = list(cmd.where_props)
    if cmd.word == "get" and len(cmd.positionals) >= 2 and is_literal(cmd.positionals_raw[1]):
        used.append(cmd.positionals[1])
    used += [a.value for a in cmd.args if a.name == "value-name" and a.literal]
    for prop in used:
        if props and prop not in props:
            unknown = _unknown("property", prop, f"of {_menu(cmd.path)}", props)
            yield _property_problem(cmd, prop, unknown, tree)
    if cmd.path == ["system", "script"] and cmd.word in ("add", "set"):
        for arg in cmd.args:
            if arg.name == "source" and arg.literal:
                for inner in validate(arg.value, tree):
                    yield dataclasses.replace(inner, line=cmd.line,
                                              message=f"in source= script: {inner}")
