"""Tokenizer for the subset of the RouterOS v7 scripting language that mvpn generates.

The parser is a small recursive-descent lexer that turns a `.rsc` script into a tree of
:class:`Command` objects.  Menu paths are resolved the way RouterOS does it: every leading word
that names a sub-menu descends into it, the first word that does not is the command.  Whether a
word names a menu is answered by the ``is_dir`` callback (normally backed by the RouterOS
command tree, see :mod:`compiler.routeros.tree`).  A line that is only a path (``/ip address``)
changes the current menu for the following commands of the same block, and ``[...]``/``{...}``
bodies inherit the menu their command runs in.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

IsDir = Callable[[Sequence[str]], bool]

_BARE = re.compile(r'[^\s;"\[\]{}()$\\]+')
_VAR = re.compile(r"[A-Za-z0-9_]+")
_STRING_RUN = re.compile(r'[^"\\$\n]+')
_ARG_NAME = re.compile(r"([A-Za-z.][A-Za-z0-9._-]*)=")
_HEX2 = re.compile(r"[0-9A-F]{2}")  # RouterOS wants capital hex digits
_ESCAPES = {
    '"': '"', "\\": "\\", "$": "$", "?": "?", "n": "\n", "r": "\r", "t": "\t", "_": " ",
    "a": "\a", "b": "\b", "f": "\f", "v": "\v",
}
_CLOSERS = {"[": "]", "(": ")", "{": "}"}
# Arguments whose `{...}` value is code (otherwise `{...}` is an array literal).
_CODE_ARGS = frozenset({"do", "else", "on-error", "command"})
_CODE_POSITIONAL_CMDS = frozenset({"do", "onerror", "retry"})
_WHERE_TOKEN = re.compile(
    r'\s+|""|\[\]|\$[A-Za-z0-9_]+|!=|<=|>=|&&|\|\||[()=~<>!]|[^\s()=~<>!&|"\[\]$]+|.'
)
_WHERE_OPS = frozenset({"=", "!=", "~", "<", ">", "<=", ">=", "in"})
_WHERE_JOIN = frozenset({"and", "or", "&&", "||"})


class RscSyntaxError(ValueError):
    """A script that RouterOS would refuse to parse; ``line`` is 1-based."""

    def __init__(self, message: str, line: int) -> None:
        super().__init__(f"line {line}: {message}")
        self.message = message
        self.line = line


class Arg(NamedTuple):
    """A ``name=value`` argument: unescaped value and the raw source text of the value."""

    name: str
    value: str
    raw: str

    @property
    def literal(self) -> bool:
        """True when the value is a constant (no ``$var``, ``[...]``, ``(...)`` or ``{...}``)."""
        return is_literal(self.raw)


class Interpolation(NamedTuple):
    """An unescaped ``$`` inside a double-quoted string (RouterOS variable interpolation)."""

    arg: str  # argument name, "" for a positional value or a where clause
    expr: str  # "$name", "$[...]", "$(...)" or a bare "$"
    line: int


@dataclass
class Command:
    """One command with its resolved absolute menu ``path`` and nested commands."""

    path: list[str]
    word: str  # command name; "" for a bare `{ ... }` block, "$f" for a function call
    line: int
    colon: bool = False  # written as `:word` (global command syntax)
    args: list[Arg] = field(default_factory=list)
    positionals: list[str] = field(default_factory=list)
    positionals_raw: list[str] = field(default_factory=list)
    where: str | None = None  # raw text after a `where` keyword
    where_props: list[str] = field(default_factory=list)
    children: list[Command] = field(default_factory=list)
    interpolations: list[Interpolation] = field(default_factory=list)

    def walk(self) -> list[Command]:
        """The command itself followed by all nested commands, depth first."""
        out = [self]
        for child in self.children:
            out.extend(child.walk())
        return out


def is_literal(raw: str) -> bool:
    """Whether raw value text is a constant: bare text or strings without interpolation."""
    in_str = escaped = False
    for ch in raw:
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            in_str = not in_str
        elif ch == "$" or (not in_str and ch in "[({"):
            return False
    return True


@dataclass
class _Word:
    start: int
    end: int = 0
    kinds: list[str] = field(default_factory=list)
    texts: list[str] = field(default_factory=list)
    children: list[Command] = field(default_factory=list)
    interps: list[tuple[str, int]] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str, is_dir: IsDir) -> None:
        self.s = text
        self.n = len(text)
        self.pos = 0
        self.is_dir = is_dir
        self.line_starts = [0] + [m.end() for m in re.finditer("\n", text)]

    def line(self, pos: int) -> int:
        return bisect.bisect_right(self.line_starts, pos)

    def error(self, message: str, pos: int) -> RscSyntaxError:
        return RscSyntaxError(message, self.line(pos))

    def at_continuation(self) -> bool:
        return self.s.startswith("\\\n", self.pos)

    def skip_blank(self, newlines: bool) -> None:
        s = self.s
        while self.pos < self.n:
            ch = s[self.pos]
            if ch in " \t" or (newlines and ch in "\n;"):
                self.pos += 1
            elif self.at_continuation():
                self.pos += 2
            else:
                return

    def block(self, menu: list[str], close: str | None, open_pos: int) -> list[Command]:
        out: list[Command] = []
        cur = list(menu)
        while True:
            self.skip_blank(newlines=True)
            if self.pos >= self.n:
                if close is not None:
                    raise self.error(f"unterminated '{self.s[open_pos]}'", open_pos)
                return out
            ch = self.s[self.pos]
            if ch == close:
                self.pos += 1
                return out
            if ch in ")]}":
                raise self.error(f"unexpected '{ch}'", self.pos)
            if ch == "#":
                end = self.s.find("\n", self.pos)
                self.pos = self.n if end < 0 else end
                if self.s[self.pos - 1] == "\\":
                    raise self.error("a comment cannot be continued with '\\'", self.pos - 1)
                continue
            cur = self.statement(cur, out)

    def statement(self, cur: list[str], out: list[Command]) -> list[str]:
        line = self.line(self.pos)
        path = list(cur)
        cmd: Command | None = None
        saw_path = colon = False
        where_start = -1
        while True:
            self.skip_blank(newlines=False)
            if self.pos >= self.n or self.s[self.pos] in "\n;)]}":
                break
            ctx = (cur if cmd.colon else cmd.path) if cmd is not None else path
            word = self.word(ctx, cmd.word if cmd is not None else None)
            if cmd is None:
                text = word.texts[0] if word.kinds == ["bare"] else None
                if text is not None and "=" not in text:
                    if not saw_path and text[:1] in (":", "/"):
                        colon = text[0] == ":"
                        path, text = [], text[1:]
                    saw_path = True
                    name = self.resolve(path, text)
                    if name is not None:
                        cmd = Command(path=path, word=name, line=line, colon=colon)
                    continue
                if word.kinds == ["block"]:  # `{ ... }` or `/menu { ... }` statement block
                    out.extend(word.children)
                    continue
                raw = self.s[word.start:word.end]
                cmd = Command(path=path, word=raw if raw.startswith("$") else "", line=line)
                if cmd.word:
                    cmd.children.extend(word.children)
                    continue
            if where_start < 0 and word.kinds == ["bare"] and word.texts[0] == "where":
                where_start = self.pos
            elif where_start < 0:
                self.add_word(cmd, word)
            else:  # the where expression is kept as raw text; still collect its nesting
                cmd.children.extend(word.children)
                cmd.interpolations.extend(
                    Interpolation("", e, self.line(p)) for e, p in word.interps
                )
        if cmd is None:
            return path if saw_path else cur
        if where_start >= 0:
            cmd.where = self.s[where_start:self.pos].strip()
            cmd.where_props = where_properties(cmd.where)
        out.append(cmd)
        return cur

    def resolve(self, path: list[str], text: str) -> str | None:
        """Descend ``path`` along ``a/b/c``; return the command word, None if all are menus."""
        segments = text.split("/")
        for i, seg in enumerate(segments):
            if seg == "":
                continue
            if seg == "..":
                if path:
                    path.pop()
            elif self.is_dir([*path, seg]):
                path.append(seg)
            else:
                return "/".join(segments[i:])
        return None

    def add_word(self, cmd: Command, word: _Word) -> None:
        raw = self.s[word.start:word.end]
        value = "".join(word.texts)
        m = _ARG_NAME.match(value) if word.kinds[:1] == ["bare"] else None
        name = ""
        if m is not None and m.end() <= len(word.texts[0]):
            name = m.group(1)
            cmd.args.append(Arg(name, value[m.end():], raw[m.end():]))
        else:
            cmd.positionals.append(value)
            cmd.positionals_raw.append(raw)
        cmd.children.extend(word.children)
        cmd.interpolations.extend(Interpolation(name, e, self.line(p)) for e, p in word.interps)

    def word(self, ctx: list[str], cmd_word: str | None) -> _Word:
        w = _Word(start=self.pos)
        s = self.s
        while self.pos < self.n:
            ch = s[self.pos]
            start = self.pos
            if ch in " \t\n;)]}" or self.at_continuation():
                break
            if ch == '"':
                w.kinds.append("str")
                w.texts.append(self.string(w, ctx))
                continue
            if ch == "$":
                self.pos += 1
                if s.startswith('"', self.pos):
                    self.string(w, ctx)
                else:
                    m = _VAR.match(s, self.pos)
                    if m is None:
                        raise self.error("'$' not followed by a variable name", start)
                    self.pos = m.end()
                w.kinds.append("var")
            elif ch == "[":
                self.pos += 1
                w.children.extend(self.block(ctx, "]", start))
                w.kinds.append("sub")
            elif ch == "(":
                self.group(w, ctx)
                w.kinds.append("expr")
            elif ch == "{":
                self.braces(w, ctx, cmd_word)
            else:
                m = _BARE.match(s, self.pos)
                if m is None:
                    raise self.error("backslash outside a string (only allowed at line end)", start)
                self.pos = m.end()
                if w.kinds[-1:] == ["bare"]:
                    w.texts[-1] += m.group()
                else:
                    w.kinds.append("bare")
                    w.texts.append(m.group())
                continue
            w.texts.append(s[start:self.pos])
        w.end = self.pos
        return w

    def braces(self, w: _Word, ctx: list[str], cmd_word: str | None) -> None:
        """A `{...}` at ``pos``: a code block (parsed) or an array literal (skipped)."""
        start = self.pos
        if w.kinds == ["bare"] and w.texts[0].endswith("="):
            arg = w.texts[0][:-1]
            code = arg in _CODE_ARGS or (cmd_word == "onerror" and arg == "in")
        else:
            code = not w.kinds and (cmd_word is None or cmd_word in _CODE_POSITIONAL_CMDS)
        if code:
            self.pos += 1
            body = self.block(ctx, "}", start)
            if cmd_word is None:  # a bare `{ ... }` statement block
                body = [Command(path=list(ctx), word="", line=self.line(start), children=body)]
            w.children.extend(body)
        else:
            self.group(w, ctx)
        w.kinds.append("block" if code else "array")

    def escape(self) -> str:
        """Decode the backslash escape at ``pos`` (which is not a line continuation)."""
        start = self.pos
        nxt = self.s[self.pos + 1:self.pos + 2]
        if nxt in _ESCAPES:
            self.pos += 2
            return _ESCAPES[nxt]
        m = _HEX2.match(self.s, self.pos + 1)
        if m is None:
            shown = nxt if nxt not in ("", "\n") else "end of line"
            raise self.error(f"invalid escape sequence '\\{shown}'", start)
        self.pos = m.end()
        return chr(int(m.group(), 16))

    def string(self, w: _Word, ctx: list[str]) -> str:
        """Parse a double-quoted string at ``pos``; return its unescaped value."""
        s = self.s
        open_pos = self.pos
        self.pos += 1
        parts: list[str] = []
        while True:
            if self.pos >= self.n or s[self.pos] == "\n":
                raise self.error("unterminated string", open_pos)
            ch = s[self.pos]
            if ch == '"':
                self.pos += 1
                return "".join(parts)
            if ch == "\\":
                if self.at_continuation():
                    self.pos += 2
                    while self.pos < self.n and s[self.pos] in " \t":
                        self.pos += 1
                else:
                    parts.append(self.escape())
            elif ch == "$":
                start = self.pos
                self.pos += 1
                if s.startswith("[", self.pos):
                    self.pos += 1
                    w.children.extend(self.block(ctx, "]", self.pos - 1))
                elif s.startswith("(", self.pos):
                    self.group(w, ctx)
                else:
                    m = _VAR.match(s, self.pos)
                    self.pos = m.end() if m else self.pos
                w.interps.append((s[start:self.pos], start))
                parts.append(s[start:self.pos])
            else:  # a run of plain characters at once (certificates are long strings)
                m = _STRING_RUN.match(s, self.pos)
                assert m is not None
                parts.append(m.group())
                self.pos = m.end()

    def group(self, w: _Word, ctx: list[str]) -> None:
        """Skip a `(...)` expression or `{...}` array, collecting nested substitutions."""
        open_pos = self.pos
        close = _CLOSERS[self.s[open_pos]]
        self.pos += 1
        while self.pos < self.n:
            ch = self.s[self.pos]
            if ch == close:
                self.pos += 1
                return
            if ch == '"':
                self.string(w, ctx)
            elif ch == "[":
                self.pos += 1
                w.children.extend(self.block(ctx, "]", self.pos - 1))
            elif ch in "({":
                self.group(w, ctx)
            elif ch in ")]}":
                raise self.error(f"unexpected '{ch}'", self.pos)
            else:
                self.pos += 2 if ch == "\\" else 1
        raise self.error(f"unterminated '{self.s[open_pos]}'", open_pos)


def where_properties(where: str) -> list[str]:
    """Property names compared or tested in a ``where`` expression (values are skipped)."""
    masked: list[str] = []
    depth = 0
    in_str = escaped = False
    for ch in where:  # blank out string contents and `[...]` substitutions
        if escaped:
            escaped = False
        elif ch == "\\":
            escaped = True
        elif ch == '"':
            in_str = not in_str
            if depth == 0:
                masked.append(ch)
        elif in_str:
            pass
        elif ch == "[":
            depth += 1
            if depth == 1:
                masked.append("[")
        elif ch == "]" and depth > 0:
            depth -= 1
            if depth == 0:
                masked.append("]")
        elif depth == 0:
            masked.append(ch)
    props: list[str] = []
    expect_value = False
    for tok in _WHERE_TOKEN.findall("".join(masked)):
        if tok.isspace() or tok in ("(", ")", "!", "not"):
            continue
        if tok in _WHERE_OPS:
            expect_value = True
        elif tok in _WHERE_JOIN or expect_value:
            expect_value = False
        elif re.fullmatch(r"[A-Za-z.][A-Za-z0-9._-]*", tok):
            props.append(tok)
    return props


def parse(script: str, is_dir: IsDir) -> list[Command]:
    """Parse ``script`` into top-level commands; raise :class:`RscSyntaxError` on bad syntax."""
    text = script.replace("\r\n", "\n")
    parser = _Parser(text, is_dir)
    return parser.block([], None, 0)
