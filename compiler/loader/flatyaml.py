"""A fast reader for flat YAML files, the shape of almost every peer file; libyaml does the rest.

A peer file is a handful of ``key: value`` lines at column 0, a value being a plain or quoted
scalar or a one-line flow sequence of them. Composing such a file with libyaml costs a
Python node object, a resolver call-back and two marks per scalar, then a walk over the
nodes: about 30 µs a file (PyYAML's own C loader: 42 µs), a third of `mvpn check` at 100k
peers. Matching its lines with one regular expression each and typing its plain scalars
with libyaml's own resolver table takes 10-12 µs (measured on the benchmark's 10k tree).

:func:`parse_flat` accepts only a strict subset of YAML whose meaning is unambiguous:
printable ASCII, LF line ends, no indentation, no anchors, tags, block sequences, escapes,
multi-line scalars, duplicate keys or document markers. Anything else returns ``None`` and
the file goes through :func:`compiler.loader.yamlread.parse` as before, so every error and
its position still comes from libyaml. Plain scalars get their type from the same resolver
table and constructors (:data:`~compiler.loader.scalars.SCALARS`) as the libyaml path, so
``on: yes`` or ``7.20`` mean exactly what they mean there; ``tests/test_flatyaml.py``
compares both readers on generated files (hypothesis).
"""

from __future__ import annotations

import re
from typing import Any, Final

import yaml
from yaml.nodes import ScalarNode

from compiler.loader.scalars import SCALARS, STR_TAG

#: libyaml before 0.2.5 refused a ':' inside a plain scalar of a flow sequence (an IPv6
#: prefix in ``[...]``): on such a build every file goes through libyaml.
_ENABLED: Final = yaml.__with_libyaml__ and yaml._yaml.get_version() >= (0, 2, 5)

# A plain scalar: letters, digits and ``._/+@=:-``, starting with a letter or digit (never an
# indicator such as '-', '?', '!', '&', '*', '|'); a block value may have inner spaces. A ':'
# before a space or at the end would be a key (or, in ``[...]``, an error): such a file is
# left to libyaml (see parse_flat), which is cheaper than a look-ahead at every character.
_CH = r"[A-Za-z0-9._/+@=:-]"
_PLAIN = rf"[A-Za-z0-9]{_CH}*"
_BLOCK_PLAIN = rf"{_PLAIN}(?: +{_CH}+)*"
_DQ = r'"[ !#-\[\]-~]*"'  # no '"', no '\\': no escapes to decode
_SQ = r"'[ -&(-~]*'"  # no "'": no '' escapes
_FLOW_ITEM = rf"{_PLAIN}|\"[ !#-+\--\[\]-~]*\"|'[ -&(-+\--~]*'"  # quoted: no ','
_FLOW = rf"\[ *(?:(?:{_FLOW_ITEM})(?: *, *(?:{_FLOW_ITEM}))*)? *\]"

#: One line: a comment, a blank line, or ``key:`` with an optional value and comment.
_LINE: Final = re.compile(
    rf"(?:(?P<key>[A-Za-z_][A-Za-z0-9_-]{{0,63}}):"
    rf"(?: +(?:(?P<plain>{_BLOCK_PLAIN})|(?P<quoted>{_DQ}|{_SQ})|(?P<flow>{_FLOW})))?"
    r"(?: +#.*)?|#.*|)"
)
_ITEM: Final = re.compile(_FLOW_ITEM)


#: The implicit resolvers libyaml's path consults (``Resolver.resolve``: those of the first
#: character, then the wildcard ones), per first character: the same table, joined once.
_RESOLVERS: Final = {
    first: (*found, *yaml.SafeLoader.yaml_implicit_resolvers.get(None, ()))
    for first, found in yaml.SafeLoader.yaml_implicit_resolvers.items() if first is not None
}
_WILDCARD: Final = tuple(yaml.SafeLoader.yaml_implicit_resolvers.get(None, ()))
#: Typed plain values seen (``1``, ``false``, ``7.20``): few, repeated in every file, and
#: slow to construct (a YAML int is about 1 µs). Immutable, so files may share them.
_TYPED: dict[str, Any] = {}
_TYPED_MAX: Final = 1024


class _UnsureError(Exception):
    """The file is not in the flat subset after all: libyaml reads it."""


def _plain(value: str) -> Any:
    """A plain scalar's value, typed as the libyaml path types it (``Resolver.resolve``)."""
    found = _TYPED.get(value, _TYPED)
    if found is not _TYPED:
        return found
    tag = STR_TAG
    for candidate, regexp in _RESOLVERS.get(value[0], _WILDCARD):
        if regexp.match(value):
            tag = candidate
            break
    if tag == STR_TAG:
        return value
    convert = SCALARS.get(tag)
    if convert is None:  # e.g. '=' (the "value" tag): libyaml's path refuses it, with a place
        raise _UnsureError
    typed = convert(ScalarNode(tag, value))
    if len(_TYPED) < _TYPED_MAX:
        _TYPED[value] = typed
    return typed


def _item(text: str) -> Any:
    if text[0] in "\"'":
        return text[1:-1]
    if text.endswith(":"):  # ':' before ',' or ']' is an error, before ' ' a key
        raise _UnsureError
    return _plain(text)


def parse_flat(text: str) -> dict[str, Any] | None:
    """The mapping a flat file holds, or ``None`` when it is not (only) a flat mapping."""
    # Printable ASCII and LF only (no tab, CR, control or non-ASCII character): two passes
    # in C, cheaper than a regular expression.
    if not (_ENABLED and text.isascii() and text.replace("\n", "").isprintable()):
        return None
    out: dict[str, Any] = {}
    match = _LINE.fullmatch
    try:
        for line in text.split("\n"):
            found = match(line)
            if found is None:
                return None
            key, plain, quoted, flow = found.groups()
            if key is None:
                continue  # a comment or a blank line
            if key in out:
                return None  # libyaml's path reports it, at the second key
            if plain is not None:
                if ":" in plain and (plain.endswith(":") or ": " in plain):
                    return None  # a nested key: libyaml's path refuses it, with a place
                out[key] = _plain(plain)
            elif quoted is not None:
                out[key] = quoted[1:-1]
            elif flow is not None:
                out[key] = [_item(item) for item in _ITEM.findall(flow)]
            else:
                out[key] = None  # ``key:`` alone: an empty plain scalar is null
    except _UnsureError:
        return None
    return out or None  # no key at all: an empty document (libyaml's path says so)
