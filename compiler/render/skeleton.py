r"""Text laid out once with markers in place of one item's values, then filled in per item.

A RouterOS site script is ~12 KB, and the sites of one instance share all of it but a few
hundred bytes (names, keys, addresses, comment hashes): laid out by Python code it took
~100 µs a site, 80,000 times at 100k peers. :func:`prepare` runs a layout function with
markers for an item's values and keeps the text around them; :meth:`Skeleton.fill` puts
another item's values in with one ``str.join``.

The layout runs twice, with two different sets of markers, and its skeleton is kept only when
both runs give the same text around them: the layout printed the markers and did nothing else
with them (no value was hashed, measured, cut or branched on in the layout), so any item whose
values are printed the same way gets, filled in, the bytes the layout would have given it.
Markers are of three kinds:

* plain (``Qzp<field>zQ``): a value of :data:`PLAIN` characters (names, numbers, addresses,
  keys, hex). Every filter of :mod:`compiler.render.env` prints such text unchanged, so a
  plain value may stand inside text the layout escapes (a quoted RouterOS string, a comment);
  the caller fills in only values that match :data:`PLAIN`.
* escaped (``\x1eQze<field>zQ\x1e``): text already escaped for its place, printed as it is.
  Its control characters make a filter the layout wrongly applies to it visible (escaped or
  refused): the marker is then not found whole and :func:`prepare` refuses the layout.
* derived (``\x1eQzd<n>zQ\x1e``): text worked out from an input the layout recorded
  (:meth:`Marks.derived`), which may hold plain and escaped markers (a RouterOS comment
  holds the hash of its object's values); worked out once when the input has no marker.
"""

from __future__ import annotations

import dataclasses
import operator
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


@dataclasses.dataclass(frozen=True)
class Text:
    """A text with an item's values to put in: the pieces around them, and whose values."""

    pieces: tuple[str, ...]
    keys: tuple[str, ...]
    #: The values in order (``operator.itemgetter``, always giving a tuple).
    _get: Callable[[Mapping[str, str]], tuple[str, ...]] = dataclasses.field(
        init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        keys = self.keys
        get = ((lambda values: (values[keys[0]],)) if len(keys) == 1
               else operator.itemgetter(*keys) if keys else (lambda values: ()))
        object.__setattr__(self, "_get", get)

    def __call__(self, values: Mapping[str, str]) -> str:
        """The text with ``values`` (by key) put in."""
        # One join of a list laid out by slices: 5 µs for a site script, where a ``%``
        # format over a dict takes 16 (CPython's ``%`` copies character by character).
        out = [""] * (2 * len(self.keys) + 1)
        out[::2] = self.pieces
        out[1::2] = self._get(values)
        return "".join(out)


class Skeleton(NamedTuple):
    """A layout's text over an item's fields (``_d<n>``: derived)."""

    text: Text
    derived: tuple[tuple[str, Text], ...]  # (key, the recorded input) to work out per item

    def fill(self, values: dict[str, str], derive: Callable[[str], str]) -> str:
        """The text for ``values`` (each field's text), which gains the derived values."""
        for key, text in self.derived:
            values[key] = derive(text(values))
        return self.text(values)


def _split(text: str, marks: Marks, kinds: Mapping[str, str],
           derived: Mapping[str, str] | None) -> Text | None:
    """``text`` split at its markers (``None``: a marker not printed whole).

    ``derived``: the text of derived values that are the same for every item, by key (put
    in here); ``None``: ``text`` may hold no derived marker.
    """
    pieces: list[str] = []
    keys: list[str] = []
    piece, pos = "", 0
    for match in marks.pattern.finditer(text):
        lead, kind, key, trail = match.groups()
        whole = "" if kind == "p" else "\x1e"
        if lead != whole or trail != whole:
            return None
        piece += text[pos:match.start()]
        pos = match.end()
        if kind == "d":
            key = f"_d{key}"
            if derived is None or not key[2:].isdigit():
                return None
            if key in derived:
                piece += derived[key]
                continue
        elif kinds.get(key) != kind:
            return None
        pieces.append(piece)
        keys.append(key)
        piece = ""
    pieces.append(piece + text[pos:])
    if any("\x1e" in p for p in pieces):
        return None
    return Text(tuple(pieces), tuple(keys))


def prepare(layout: Callable[[Marks], str], kinds: Mapping[str, str],
            derive: Callable[[str], str]) -> Skeleton | None:
    """The skeleton of ``layout`` (given the markers), or ``None`` when it is not one.

    ``kinds``: ``"p"`` (plain) or ``"e"`` (escaped) by field, for the fields the layout is
    given markers of; ``derive``: a derived value from its input (the same function for
    every item: the values of inputs without markers are worked out here, once). ``None``
    when the two runs differ around their markers, a marker is not printed whole, or a
    filter of the layout refused one (it checks a value itself).
    """
    runs: list[Skeleton] = []
    for style in ("Qz", "Xjk"):  # of different lengths: a length taken of one shows
        marks = Marks(style)
        try:
            text = layout(marks)
        except UnsafeValueError:
            return None
        inputs = [_split(t, marks, kinds, None) for t in marks.inputs]
        if any(i is None for i in inputs):
            return None
        variable = {f"_d{n}": i for n, i in enumerate(inputs) if i is not None and i.keys}
        fixed = {f"_d{n}": derive(i.pieces[0]) for n, i in enumerate(inputs)
                 if i is not None and not i.keys}
        split = _split(text, marks, kinds, fixed)
        if split is None:
            return None
        runs.append(Skeleton(split, tuple(variable.items())))
    return runs[0] if runs[0] == runs[1] else None
