"""Text laid out once with markers in place of one item's values, then filled in per item.

A RouterOS site script is ~12 KB, and the sites of one instance share all of it but a few
hundred bytes (names, keys, addresses, comment hashes): laid out by Python code it took
~100 µs a site, 80,000 times at 100k peers. :func:`prepare` runs a layout function with
markers for an item's values and keeps the text around them as a ``%`` format;
:meth:`Skeleton.fill` puts another item's values in at C speed.

The layout runs twice, with two different sets of markers, and its skeleton is kept only when
both runs give the same text around them: the layout printed the markers and did nothing else
with them (no value was hashed, measured, cut or branched on in the layout), so any item whose
values are printed the same way gets, filled in, the bytes the layout would have given it.
Markers are of three kinds:

* plain (``Qzp<field>zQ``): a value of :data:`PLAIN` characters (names, numbers, addresses,
  keys, hex). Every filter of :mod:`compiler.render.env` prints such text unchanged, so a
  plain value may stand inside text the layout escapes (a quoted RouterOS string, a comment);
  the caller fills in only values that match :data:`PLAIN`.
* escaped (``\\x1eQze<field>zQ\\x1e``): text already escaped for its place, printed as it is.
  Its control characters make a filter the layout wrongly applies to it visible (escaped or
  refused): the marker is then not found whole and :func:`prepare` refuses the layout.
* derived (``\\x1eQzd<n>zQ\\x1e``): text worked out per item from an input the layout recorded
  (:meth:`Marks.derived`), which may hold plain and escaped markers (a RouterOS comment is
  the hash of its object's values).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Final, NamedTuple

from compiler.render.env import UnsafeValueError

#: What a plain value may hold: no character any output language escapes or gives a meaning
#: to inside a quoted string, a comment or a regular expression's literal text... except
#: ``.`` and ``+`` in a regex, which is why :mod:`compiler.render.routeros` puts only a
#: checked name (``[a-z0-9-]``) into one.
PLAIN: Final = re.compile(r"[A-Za-z0-9+/=._:-]*")


class Marks:
    """The markers of one layout run, and the derived inputs it recorded."""

    def __init__(self, style: str) -> None:
        self.style = style
        self.inputs: list[str] = []
        self.pattern = re.compile(f"(\x1e?){style}([ped])([a-z0-9_]+?){style[::-1]}(\x1e?)")

    def plain(self, field: str) -> str:
        """The marker of a plain value."""
        return f"{self.style}p{field}{self.style[::-1]}"

    def escaped(self, field: str) -> str:
        """The marker of escaped text."""
        return f"\x1e{self.style}e{field}{self.style[::-1]}\x1e"

    def derived(self, text: str) -> str:
        """The marker of a value derived per item from ``text`` (recorded)."""
        self.inputs.append(text)
        return f"\x1e{self.style}d{len(self.inputs) - 1}{self.style[::-1]}\x1e"


class Skeleton(NamedTuple):
    """A layout's text as a ``%`` format over an item's fields (``_d<n>``: derived)."""

    text: str
    derived: tuple[str, ...]  # the recorded inputs, as formats over the same fields

    def fill(self, values: dict[str, str], derive: Callable[[str], str]) -> str:
        """The text for ``values`` (each field's text; ``derive``: an input's derived text).

        ``values`` gains the derived texts.
        """
        for n, fmt in enumerate(self.derived):
            values[f"_d{n}"] = derive(fmt % values)
        return self.text % values


def _format(text: str, marks: Marks, kinds: Mapping[str, str], derived: bool) -> str | None:
    """``text`` as a format over its markers' fields (``None``: a marker not printed whole)."""
    out: list[str] = []
    pos = 0
    for match in marks.pattern.finditer(text):
        lead, kind, key, trail = match.groups()
        whole = "" if kind == "p" else "\x1e"
        if lead != whole or trail != whole:
            return None
        if kind == "d":
            if not derived or not key.isdigit():
                return None
            key = f"_d{key}"
        elif kinds.get(key) != kind:
            return None
        out += (text[pos:match.start()].replace("%", "%%"), f"%({key})s")
        pos = match.end()
    out.append(text[pos:].replace("%", "%%"))
    result = "".join(out)
    return None if "\x1e" in result else result


def prepare(layout: Callable[[Marks], str], kinds: Mapping[str, str]) -> Skeleton | None:
    """The skeleton of ``layout`` (given the markers), or ``None`` when it is not one.

    ``kinds``: ``"p"`` (plain) or ``"e"`` (escaped) by field, for the fields the layout is
    given markers of. ``None`` when the two runs differ around their markers, a marker is not
    printed whole, or a filter of the layout refused one (it checks a value itself).
    """
    runs: list[Skeleton] = []
    for style in ("Qz", "Xj"):
        marks = Marks(style)
        try:
            text = layout(marks)
        except UnsafeValueError:
            return None
        fmt = _format(text, marks, kinds, derived=True)
        inputs = [_format(t, marks, kinds, derived=False) for t in marks.inputs]
        if fmt is None or any(i is None for i in inputs):
            return None
        runs.append(Skeleton(fmt, tuple(i for i in inputs if i is not None)))
    return runs[0] if runs[0] == runs[1] else None
