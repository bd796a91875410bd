"""A RouterOS state model: runs the subset of RouterOS scripting mvpn's site scripts use.

This models RouterOS; it is not a device. Menus are tables of objects with internal ids
(``*1``...); ``add``/``set``/``remove``/``find where``/``get`` act on them; ``:local``, ``:set``,
``:if``, ``:do ... on-error``, ``:log``, ``:len``, ``:delay``, ``{ }`` blocks and ``[ ]``
substitutions are interpreted. Anything outside that subset (another command, menu or argument,
an interpolated string, comparing values of different types) raises :class:`UnsupportedError`, so a
script can only pass by using what is modelled. What RouterOS would refuse at run time (an item
that does not exist, a duplicate interface name, a reference to a missing interface, removing
an interface still in use) raises :class:`RouterError`, which ``:do ... on-error`` catches.

Values are kept as the text the script gave (RouterOS keeps typed values: a model of their
printed forms would be a guess, which is why the scripts compare comments, not values).
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from typing import Final

Menu = tuple[str, ...]
Value = str | int | bool | list[int] | None

#: Modelled menus and the arguments their add/set accept.
MENUS: Final[dict[Menu, frozenset[str]]] = {
    menu: frozenset(args.split()) for menu, args in {
        ("ip", "route"): "dst-address gateway comment",
        ("ipv6", "route"): "dst-address gateway comment",
        ("ip", "address"): "address interface comment",
        ("ipv6", "address"): "address interface advertise comment",
        ("interface", "wireguard"): "name listen-port private-key mtu comment",
        ("interface", "wireguard", "peers"):
            "interface public-key preshared-key endpoint-address endpoint-port "
            "allowed-address persistent-keepalive comment",
        ("interface", "ovpn-client"):
            "name connect-to port protocol mode user certificate verify-server-certificate "
            "cipher auth max-mtu add-default-route route-nopull comment",
        ("interface", "list"): "name comment",
        ("interface", "list", "member"): "list interface comment",
        ("ip", "dns", "static"): "name type forward-to match-subdomain comment",
        ("system", "script"): "name source comment",
        ("certificate",): "trusted",
        ("file",): "name contents",
        ("system", "ntp", "client"): "",
    }.items()
}
_PREFIXES: Final = {m[:i] for m in MENUS for i in range(1, len(m) + 1)}
_IFACE_MENUS: Final = (("interface", "wireguard"), ("interface", "ovpn-client"))
#: Properties holding an interface name (followed when an interface is renamed).
_IFACE_REFS: Final = ("interface", "gateway")
_BOOLEAN_PROPS: Final = frozenset({"trusted", "private-key"})
_MUTATING: Final = frozenset({"add", "set", "remove", "import"})


class RouterError(Exception):
    """What RouterOS would refuse at run time (``:do ... on-error`` catches it)."""


class UnsupportedError(AssertionError):
    """The script uses something the model does not model: the test must fail."""


@dataclasses.dataclass
class Obj:
    """One item of a menu."""

    id: int
    props: dict[str, str]
    sets: int = 0  # how many times `set` changed it (a touched object)


# --------------------------------------------------------------------------- parsing

@dataclasses.dataclass
class Part:
    """A value: ``str`` (quoted), ``bare``, ``var``, ``sub`` ([...]), ``code`` ({...}),
    ``expr`` ((...)) or ``where`` (the rest of a statement after ``where``)."""

    kind: str
    text: str = ""
    body: list[Stmt] = dataclasses.field(default_factory=list)
    tokens: list[Tok] = dataclasses.field(default_factory=list)


@dataclasses.dataclass
class Word:
    name: str | None  # "name" of name=value, None for a positional word
    part: Part


@dataclasses.dataclass
class Stmt:
    words: list[Word]
    line: int


@dataclasses.dataclass
class Tok:
    """An expression token: an operator/keyword (``op``) or a value (a Part)."""

    op: str | None
    part: Part | None = None


_ESC: Final = {'"': '"', "\\": "\\", "$": "$", "?": "?", "n": "\n", "r": "\r", "t": "\t"}
_BARE: Final = re.compile(r"[^\s;\"\[\]{}()$=~!<>]+")
_OPS: Final = ("!=", "=", "~", "!", "<", ">")


class _Parser:
    def __init__(self, text: str) -> None:
        self.s, self.i = text, 0

    def line(self) -> int:
        return self.s.count("\n", 0, self.i) + 1

    def fail(self, what: str) -> UnsupportedError:
        return UnsupportedError(f"line {self.line()}: {what}")

    def block(self, close: str | None) -> list[Stmt]:
        out: list[Stmt] = []
        while True:
            while self.i < len(self.s) and self.s[self.i] in " \t\n;":
                self.i += 1
            if self.i >= len(self.s):
                if close:
                    raise self.fail(f"missing '{close}'")
                return out
            ch = self.s[self.i]
            if ch == close:
                self.i += 1
                return out
            if ch == "#":
                end = self.s.find("\n", self.i)
                self.i = len(self.s) if end < 0 else end
                continue
            out.append(self.statement())

    def statement(self) -> Stmt:
        line, words = self.line(), list[Word]()
        while True:
            while self.i < len(self.s) and self.s[self.i] in " \t":
                self.i += 1
            if self.i >= len(self.s) or self.s[self.i] in "\n;]}":
                return Stmt(words, line)
            if self.s.startswith("\\\n", self.i):
                raise self.fail("line continuation")
            m = re.compile(r"([a-z][a-z0-9-]*)=").match(self.s, self.i)
            if m and words:
                self.i = m.end()
                words.append(Word(m.group(1), self.value(code_ok=True)))
                continue
            part = self.value(code_ok=not words or words[-1].part.text == ":do")
            words.append(Word(None, part))
            if part.kind == "bare" and part.text == "where":
                words.append(Word(None, Part("where", tokens=self.expr_tokens(stop="\n;]}"))))

    def value(self, code_ok: bool) -> Part:
        s, ch = self.s, self.s[self.i]
        if ch == '"':
            return Part("str", self.string())
        if ch == "$":
            m = re.compile(r"\$([A-Za-z0-9_]+)").match(s, self.i)
            if not m:
                raise self.fail("'$' without a variable name")
            self.i = m.end()
            return Part("var", m.group(1))
        if ch == "[":
            self.i += 1
            return Part("sub", body=self.block("]"))
        if ch == "{":
            if not code_ok:
                raise self.fail("array literal")
            self.i += 1
            return Part("code", body=self.block("}"))
        if ch == "(":
            self.i += 1
            return Part("expr", tokens=self.expr_tokens(stop=")"))
        m = re.compile(r"[^\s;\"\[\]{}()$]+").match(s, self.i)
        if not m:
            raise self.fail(f"unexpected {ch!r}")
        self.i = m.end()
        return Part("bare", m.group())

    def string(self) -> str:
        s, out = self.s, list[str]()
        self.i += 1
        while True:
            if self.i >= len(s) or s[self.i] == "\n":
                raise self.fail("unterminated string")
            ch = s[self.i]
            if ch == '"':
                self.i += 1
                return "".join(out)
            if ch == "$":
                raise self.fail("variable interpolated in a string")
            if ch == "\\":
                nxt = s[self.i + 1:self.i + 2]
                if nxt in _ESC:
                    out.append(_ESC[nxt])
                    self.i += 2
                elif re.fullmatch(r"[0-9A-F]{2}", s[self.i + 1:self.i + 3]):
                    out.append(chr(int(s[self.i + 1:self.i + 3], 16)))
                    self.i += 3
                else:
                    raise self.fail(f"escape \\{nxt}")
                continue
            out.append(ch)
            self.i += 1

    def expr_tokens(self, stop: str) -> list[Tok]:
        s, toks = self.s, list[Tok]()
        while True:
            while self.i < len(s) and s[self.i] in " \t":
                self.i += 1
            if self.i >= len(s):
                raise self.fail("unterminated expression")
            ch = s[self.i]
            if ch in stop:
                if stop == ")":
                    self.i += 1
                return toks
            op = next((o for o in _OPS if s.startswith(o, self.i)), None)
            if op is not None:
                self.i += len(op)
                toks.append(Tok(op))
            elif ch in "\"$[(":
                toks.append(Tok(None, self.value(code_ok=False)))
            else:
                m = _BARE.match(s, self.i)
                if not m:
                    raise self.fail(f"unexpected {ch!r} in an expression")
                self.i = m.end()
                word = m.group()
                keyword = word in ("and", "or", ".")
                toks.append(Tok(word) if keyword else Tok(None, Part("bare", word)))


def parse(script: str) -> list[Stmt]:
    """The statements of ``script``; :class:`UnsupportedError` outside the modelled syntax."""
    return _Parser(script).block(None)


# --------------------------------------------------------------------------- the router

class _Scope:
    def __init__(self, parent: _Scope | None) -> None:
        self.vars: dict[str, Value] = {}
        self.parent = parent

    def find(self, name: str) -> _Scope:
        scope: _Scope | None = self
        while scope is not None:
            if name in scope.vars:
                return scope
            scope = scope.parent
        raise UnsupportedError(f"variable ${name} is not declared")


class Router:
    """The modelled router: tables of objects, the log, and a failure to inject."""

    def __init__(self, interfaces: tuple[str, ...] = ("ether1", "bridge")) -> None:
        self.tables: dict[Menu, list[Obj]] = {m: [] for m in MENUS}
        self.builtin = set(interfaces)  # interfaces that exist without a menu of ours
        self.log: list[tuple[str, str]] = []
        self.ntp_status = "synchronized"
        self.next_id = 1
        self.mutations = 0  # mutating commands run so far (add/set/remove/import)
        self.fail_at: int | None = None  # the mutation number that fails (injected)
        self.caught: list[str] = []  # errors `:do ... on-error` caught (for failing tests)

    # ------------------------------------------------------------------- inspection
    def objects(self, *menu: str) -> list[Obj]:
        return self.tables[tuple(menu)]

    def all_objects(self) -> Iterator[tuple[Menu, Obj]]:
        for menu, objs in self.tables.items():
            for obj in objs:
                yield menu, obj

    def ids(self) -> dict[tuple[Menu, int], dict[str, str]]:
        """Every object by (menu, id), with its properties: a snapshot of the router."""
        return {(m, o.id): dict(o.props) for m, o in self.all_objects()}

    def tagged(self, tag: str) -> list[tuple[Menu, Obj]]:
        """Objects whose comment carries ``tag`` (anchored like the scripts' tag pattern)."""
        pat = re.compile(f"^{re.escape(tag)}( |$)")
        return [(m, o) for m, o in self.all_objects() if pat.search(o.props.get("comment", ""))]

    def interfaces(self) -> set[str]:
        names = {o.props["name"] for m in _IFACE_MENUS for o in self.tables[m]}
        return names | self.builtin

    # ------------------------------------------------------------------- running
    def run(self, script: str) -> None:
        """Run ``script`` as ``/import`` would; an uncaught RouterError stops it (re-raised)."""
        self._block(parse(script), _Scope(None), ())

    def _block(self, body: list[Stmt], scope: _Scope, menu: Menu) -> Value:
        result: Value = None
        for stmt in body:
            result = self._stmt(stmt, scope, menu)
        return result

    def _stmt(self, stmt: Stmt, scope: _Scope, menu: Menu) -> Value:
        words = stmt.words
        if not words:
            return None
        first = words[0].part
        if first.kind == "code" and len(words) == 1:  # a { ... } block
            return self._block(first.body, _Scope(scope), menu)
        if first.kind != "bare" or words[0].name is not None:
            raise UnsupportedError(f"line {stmt.line}: statement starting with {first.kind}")
        if first.text.startswith(":"):
            return self._global(first.text[1:], words[1:], scope, menu, stmt.line)
        path: list[str] = list(menu)
        rest = words
        if first.text.startswith("/"):
            path = [p for p in first.text[1:].split("/") if p]
            rest = words[1:]
        while rest and rest[0].name is None and rest[0].part.kind == "bare" and (
                tuple([*path, rest[0].part.text]) in _PREFIXES):
            path.append(rest[0].part.text)
            rest = rest[1:]
        if tuple(path) not in MENUS:
            nxt = rest[0].part.text if rest else ""
            raise UnsupportedError(f"line {stmt.line}: unmodelled menu /{' '.join(path)} {nxt}")
        if not rest or rest[0].name is not None or rest[0].part.kind != "bare":
            raise UnsupportedError(f"line {stmt.line}: no command in /{' '.join(path)}")
        return self._command(tuple(path), rest[0].part.text, rest[1:], scope, stmt.line)

    # ------------------------------------------------------------------- global commands
    def _global(self, cmd: str, words: list[Word], scope: _Scope, menu: Menu,
                line: int) -> Value:
        pos = [w.part for w in words if w.name is None]
        named = {w.name: w.part for w in words if w.name is not None}
        if cmd == "local" and len(pos) == 2 and pos[0].kind == "bare" and not named:
            scope.vars[pos[0].text] = self._value(pos[1], scope, menu)
            return None
        if cmd == "set" and len(pos) == 2 and pos[0].kind == "bare" and not named:
            scope.find(pos[0].text).vars[pos[0].text] = self._value(pos[1], scope, menu)
            return None
        if cmd == "if" and len(pos) == 1 and pos[0].kind == "expr" and set(named) <= {
                "do", "else"} and "do" in named:
            cond = self._value(pos[0], scope, menu)
            if not isinstance(cond, bool):
                raise UnsupportedError(f"line {line}: :if on a {type(cond).__name__}")
            branch = named["do"] if cond else named.get("else")
            if branch is not None:
                self._block(self._code(branch, line), _Scope(scope), menu)
            return None
        if cmd == "do" and len(pos) == 1 and pos[0].kind == "code" and set(named) == {"on-error"}:
            try:
                self._block(pos[0].body, _Scope(scope), menu)
            except RouterError as exc:
                self.caught.append(str(exc))
                self._block(self._code(named["on-error"], line), _Scope(scope), menu)
            return None
        if cmd == "log" and len(pos) == 2 and not named and pos[0].kind == "bare" and (
                pos[0].text in ("info", "warning", "error")):
            msg = self._value(pos[1], scope, menu)
            if not isinstance(msg, str):
                raise UnsupportedError(f"line {line}: :log of a {type(msg).__name__}")
            self.log.append((pos[0].text, msg))
            return None
        if cmd == "len" and len(pos) == 1 and not named:
            value = self._value(pos[0], scope, menu)
            if isinstance(value, (list, str)):
                return len(value)
            raise UnsupportedError(f"line {line}: :len of a {type(value).__name__}")
        if cmd == "delay" and len(pos) == 1 and re.fullmatch(r"\d+s", pos[0].text):
            return None
        raise UnsupportedError(f"line {line}: :{cmd} {[w.name or w.part.text for w in words]}")

    @staticmethod
    def _code(part: Part, line: int) -> list[Stmt]:
        if part.kind != "code":
            raise UnsupportedError(f"line {line}: code expected, got {part.kind}")
        return part.body

    # ------------------------------------------------------------------- values
    def _value(self, part: Part, scope: _Scope, menu: Menu) -> Value:
        if part.kind in ("str", "bare"):
            if part.kind == "bare" and part.text in ("true", "false"):
                return part.text == "true"
            if part.kind == "bare" and part.text.isdigit():
                return int(part.text)
            return part.text
        if part.kind == "var":
            return scope.find(part.text).vars[part.text]
        if part.kind == "sub":
            return self._block(part.body, _Scope(scope), menu)
        if part.kind == "expr":
            value, rest = self._or(part.tokens, scope, menu, None)
            if rest:
                raise UnsupportedError(f"trailing tokens in an expression: {rest}")
            return value
        raise UnsupportedError(f"a {part.kind} used as a value")

    # Expressions: `or` < `and` < `!` < comparison < operand. `obj` is the object a where
    # clause tests (bare words left of an operator name its properties), None in `( )`.
    def _or(self, toks: list[Tok], scope: _Scope, menu: Menu, obj: Obj | None
            ) -> tuple[Value, list[Tok]]:
        left, toks = self._and(toks, scope, menu, obj)
        while toks and toks[0].op == "or":
            right, toks = self._and(toks[1:], scope, menu, obj)
            left = _truth(left) or _truth(right)
        return left, toks

    def _and(self, toks: list[Tok], scope: _Scope, menu: Menu, obj: Obj | None
             ) -> tuple[Value, list[Tok]]:
        left, toks = self._not(toks, scope, menu, obj)
        while toks and toks[0].op == "and":
            right, toks = self._not(toks[1:], scope, menu, obj)
            left = _truth(left) and _truth(right)
        return left, toks

    def _not(self, toks: list[Tok], scope: _Scope, menu: Menu, obj: Obj | None
             ) -> tuple[Value, list[Tok]]:
        if toks and toks[0].op == "!":
            value, rest = self._not(toks[1:], scope, menu, obj)
            return not _truth(value), rest
        return self._compare(toks, scope, menu, obj)

    def _compare(self, toks: list[Tok], scope: _Scope, menu: Menu, obj: Obj | None
                 ) -> tuple[Value, list[Tok]]:
        if not toks or toks[0].part is None:
            raise UnsupportedError(f"operand expected in an expression, got {toks[:1]}")
        first = toks[0].part
        if len(toks) > 1 and toks[1].op in ("=", "!=", "~"):
            op = toks[1].op
            if len(toks) < 3 or toks[2].part is None:
                raise UnsupportedError("operand expected after an operator")
            if obj is not None:
                if first.kind != "bare":
                    raise UnsupportedError("a where clause compares a property")
                left: Value = obj.props.get(first.text, "")
            else:
                left = self._value(first, scope, menu)
            right, rest = self._concat(toks[2:], scope, menu)
            if obj is not None and isinstance(right, int) and not isinstance(right, bool):
                right = str(right)  # a property holds text (see the module docstring)
            if type(left) is not type(right):
                raise UnsupportedError(f"comparing {type(left).__name__} with {type(right).__name__}")
            if op == "~":
                assert isinstance(left, str) and isinstance(right, str)
                result = re.search(right, left) is not None
            else:
                result = (left == right) == (op == "=")
            return result, rest
        if obj is not None:  # a yes/no property tested on its own
            if first.kind != "bare" or first.text not in _BOOLEAN_PROPS:
                raise UnsupportedError(f"a where clause term without an operator: {first.text}")
            return obj.props.get(first.text, "no") == "yes", toks[1:]
        return self._concat(toks, scope, menu)

    def _concat(self, toks: list[Tok], scope: _Scope, menu: Menu) -> tuple[Value, list[Tok]]:
        """An operand, or operands joined by ``.`` (string concatenation)."""
        if not toks or toks[0].part is None:
            raise UnsupportedError(f"operand expected in an expression, got {toks[:1]}")
        value = self._value(toks[0].part, scope, menu)
        toks = toks[1:]
        while toks and toks[0].op == ".":
            if len(toks) < 2 or toks[1].part is None:
                raise UnsupportedError("operand expected after '.'")
            right = self._value(toks[1].part, scope, menu)
            if not isinstance(value, str) or not isinstance(right, str):
                raise UnsupportedError("'.' joins strings only here")
            value, toks = value + right, toks[2:]
        return value, toks

    # ------------------------------------------------------------------- menu commands
    def _command(self, menu: Menu, cmd: str, words: list[Word], scope: _Scope,
                 line: int) -> Value:
        where = f"line {line}: /{' '.join(menu)} {cmd}"
        if cmd in _MUTATING:
            if self.fail_at is not None and self.mutations == self.fail_at:
                self.mutations += 1
                raise RouterError(f"{where}: injected failure")
            self.mutations += 1
        pos = [w.part for w in words if w.name is None]
        args = {w.name: self._text(w.part, scope, menu, where) for w in words if w.name}
        table = self.tables[menu]
        if cmd == "find":
            if not pos:
                return [o.id for o in table]
            if len(pos) != 2 or pos[0].text != "where" or pos[1].kind != "where" or args:
                raise UnsupportedError(f"{where}: find takes only `where`")
            return [o.id for o in table if self._matches(pos[1].tokens, scope, menu, o)]
        if menu == ("system", "ntp", "client"):
            if cmd == "get" and len(pos) == 1 and pos[0].text == "status":
                return self.ntp_status
            raise UnsupportedError(where)
        if cmd == "get" and len(pos) == 2 and not args and pos[1].kind == "bare":
            (obj,) = self._items(pos[0], scope, menu, where, one=True)
            return obj.props.get(pos[1].text, "")
        if cmd == "add" and not pos:
            return self._add(menu, args, where)
        if cmd == "set" and len(pos) == 1:
            for obj in self._items(pos[0], scope, menu, where):
                self._set(menu, obj, args, where)
            return None
        if cmd == "remove" and len(pos) == 1 and not args:
            for obj in self._items(pos[0], scope, menu, where):
                self._remove(menu, obj, where)
            return None
        if menu == ("system", "script") and cmd == "run" and len(pos) == 1 and not args:
            # By name, like an operator types it; the source runs as a script of its own.
            name = self._text(pos[0], scope, menu, where)
            found = [o for o in table if o.props.get("name") == name]
            if len(found) != 1:
                raise RouterError(f"{where}: no such item ({name})")
            return self._block(parse(found[0].props.get("source", "")), _Scope(None), ())
        if menu == ("certificate",) and cmd == "import" and not pos:
            return self._import(args, where)
        raise UnsupportedError(f"{where} {[w.name or w.part.kind for w in words]}")

    def _text(self, part: Part, scope: _Scope, menu: Menu, where: str) -> str:
        value = self._value(part, scope, menu)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise UnsupportedError(f"{where}: argument of type {type(value).__name__}")
        return str(value)

    def _matches(self, toks: list[Tok], scope: _Scope, menu: Menu, obj: Obj) -> bool:
        value, rest = self._or(toks, scope, menu, obj)
        if rest:
            raise UnsupportedError(f"trailing tokens in a where clause: {rest}")
        return _truth(value)

    def _items(self, part: Part, scope: _Scope, menu: Menu, where: str,
               one: bool = False) -> list[Obj]:
        value = self._value(part, scope, menu)
        if not isinstance(value, list):
            raise UnsupportedError(f"{where}: items must come from find, got {value!r}")
        by_id = {o.id: o for o in self.tables[menu]}
        if any(i not in by_id for i in value):
            raise RouterError(f"{where}: no such item")
        if one and len(value) != 1:
            raise RouterError(f"{where}: {len(value)} items where one is expected")
        return [by_id[i] for i in value]

    def _check(self, menu: Menu, props: dict[str, str], where: str, obj: Obj | None,
               given: dict[str, str]) -> None:
        unknown = set(given) - MENUS[menu]
        if unknown:
            raise UnsupportedError(f"{where}: unmodelled arguments {sorted(unknown)}")
        if menu in _IFACE_MENUS and "name" in props:
            taken = self.interfaces() - ({obj.props["name"]} if obj is not None else set())
            if props["name"] in taken:
                raise RouterError(f"{where}: interface {props['name']} already exists")
        unique = "name" if menu in (("interface", "list"), ("system", "script")) else None
        if unique and any(o.props.get(unique) == props.get(unique) and o is not obj
                          for o in self.tables[menu]):
            raise RouterError(f"{where}: {unique} {props[unique]} already exists")
        ifaces = self.interfaces()
        if menu == ("interface", "wireguard", "peers"):
            wg = {o.props["name"] for o in self.tables[("interface", "wireguard")]}
            if props.get("interface") not in wg:
                raise RouterError(f"{where}: no WireGuard interface {props.get('interface')}")
        elif "interface" in props and props["interface"] not in ifaces:
            raise RouterError(f"{where}: no interface {props['interface']}")
        if "gateway" in props and props["gateway"] not in ifaces:
            raise RouterError(f"{where}: gateway {props['gateway']} is no interface")
        if menu == ("interface", "list", "member"):
            lists = {o.props["name"] for o in self.tables[("interface", "list")]}
            if props.get("list") not in lists:
                raise RouterError(f"{where}: no interface list {props.get('list')}")
        if menu == ("interface", "ovpn-client"):
            certs = {o.props["name"] for o in self.tables[("certificate",)]}
            if props.get("certificate") not in certs:
                raise RouterError(f"{where}: no certificate {props.get('certificate')}")

    def _add(self, menu: Menu, args: dict[str, str], where: str) -> list[int]:
        if menu == ("certificate",):
            raise UnsupportedError(f"{where}: certificates are imported")
        self._check(menu, args, where, None, args)
        obj = Obj(self.next_id, dict(args))
        self.next_id += 1
        self.tables[menu].append(obj)
        return [obj.id]

    def _set(self, menu: Menu, obj: Obj, args: dict[str, str], where: str) -> None:
        props = {**obj.props, **args}
        self._check(menu, props, where, obj, args)
        old = obj.props.get("name")
        obj.sets += 1  # any set counts: the scripts only set what they mean to change
        obj.props = props
        if menu in _IFACE_MENUS and old is not None and props["name"] != old:
            for _m, other in self.all_objects():  # RouterOS refers by id: names follow
                for key in _IFACE_REFS:
                    if other.props.get(key) == old:
                        other.props[key] = props["name"]

    def _remove(self, menu: Menu, obj: Obj, where: str) -> None:
        if menu in _IFACE_MENUS:
            users = [m for m, o in self.all_objects()
                     if o is not obj and obj.props["name"] in (o.props.get(k) for k in _IFACE_REFS)]
            if users:
                raise RouterError(f"{where}: interface {obj.props['name']} in use by {users}")
        if menu == ("certificate",):
            name = obj.props["name"]
            if any(o.props.get("certificate") == name
                   for o in self.tables[("interface", "ovpn-client")]):
                raise RouterError(f"{where}: certificate {name} in use")
        self.tables[menu].remove(obj)

    def _import(self, args: dict[str, str], where: str) -> list[int]:
        if set(args) != {"file-name", "name", "passphrase"}:
            raise UnsupportedError(f"{where}: import arguments {sorted(args)}")
        files = {o.props["name"]: o.props["contents"] for o in self.tables[("file",)]}
        contents = files.get(args["file-name"])
        if contents is None:
            raise RouterError(f"{where}: no file {args['file-name']}")
        certs = self.tables[("certificate",)]
        same = [o for o in certs if o.props["name"] == args["name"]]
        if "PRIVATE KEY" in contents:
            if not same:
                raise RouterError(f"{where}: no certificate for the key")
            same[0].props["private-key"] = "yes"
            return [same[0].id]
        if same:
            raise RouterError(f"{where}: certificate {args['name']} already exists")
        obj = Obj(self.next_id, {"name": args["name"], "trusted": "no", "pem": contents})
        self.next_id += 1
        certs.append(obj)
        return [obj.id]


def _truth(value: Value) -> bool:
    if not isinstance(value, bool):
        raise UnsupportedError(f"a {type(value).__name__} used as a condition")
    return value

