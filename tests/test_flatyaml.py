"""The flat-file reader means exactly what libyaml's path means, or declines the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import generate
from compiler.loader.flatyaml import parse_flat
from compiler.loader.scalars import YamlFloat
from compiler.loader.yamlread import YamlError, parse, parse_composed


def _typed(value: Any) -> Any:
    """``value`` with every scalar's exact type (and a float's text), to compare readers."""
    if isinstance(value, dict):
        return {k: _typed(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_typed(v) for v in value]
    if isinstance(value, YamlFloat):
        return ("YamlFloat", repr(float(value)), value.raw)
    return (type(value).__name__, value)


def _same_as_libyaml(text: str) -> dict[str, Any] | None:
    flat = parse_flat(text)
    if flat is not None:
        assert _typed(flat) == _typed(parse_composed(text)), text
    return flat


# Pieces chosen to sit on the edges of the subset: indicators, quotes, colons, comments,
# the YAML 1.1 spellings of booleans, numbers, nulls and dates, and what peer files hold.
_WORDS = st.sampled_from([
    "site", "wireguard", "10.0.0.0/24", "fd00::a", "fd00::", "2001:db8::/48", "::1",
    "a:b", "a:", "a: b", "a :b", "yes", "No", "on", "OFF", "true", "y", "n", "~", "null",
    "Null", "1", "-1", "+1", "0x1F", "0o17", "017", "1_000", "1:30", "7.20", "7.2", ".5",
    "1e3", "1.0e+3", ".inf", "-.inf", ".NaN", "2001-12-14", "2001-12-14 21:59:43.10 -5",
    "=", "<<", "a=b", "K2ZR+a/b=", "x@example.com", "a#b", "a #b", "#c", "&a", "*a", "!x",
    "!!str", "|", ">", "%x", "@x", "`x", "?x", "-x", "- x", "{a: 1}", "[a]", "a,b", "a]",
    "'q'", "'it''s'", '"d"', '"a\\tb"', '"a,b"', "''", '""', "a  b", "a\tb", "é", "",
    " ", "...", "---",
])
_KEYS = st.sampled_from(["type", "site", "no", "on", "y", "<<", "a-b", "_x", "K", "1",
                         "subnets", "key_epoch", "a b", '"k"', "k" * 70])
_SEPS = st.sampled_from([": ", ":", " : ", ":  ", ": [", ":\t"])


@st.composite
def _lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["entry", "entry", "entry", "flow", "comment", "blank",
                                 "odd"]))
    if kind == "comment":
        return "#" + draw(_WORDS)
    if kind == "blank":
        return draw(st.sampled_from(["", " ", "  # indented comment"]))
    if kind == "odd":
        return draw(st.sampled_from(["- a", "  b: 1", "---", "...", "%YAML 1.1", "? a",
                                     "key:\r", "\ufeffa: 1", "k: v # c", "k: v#c"]))
    key = draw(_KEYS)
    if kind == "flow":
        items = draw(st.lists(_WORDS, max_size=4))
        sep = draw(st.sampled_from([", ", ",", " , "]))
        return f"{key}: [{sep.join(items)}]"
    value = " ".join(draw(st.lists(_WORDS, min_size=0, max_size=3)))
    comment = draw(st.sampled_from(["", " # note", "#x", "  #"]))
    return f"{key}{draw(_SEPS)}{value}{comment}"


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_lines(), min_size=1, max_size=8), st.booleans())
def test_a_file_read_flat_means_what_libyaml_says(lines: list[str], newline: bool) -> None:
    """Oracle: libyaml's path. Whatever the flat reader accepts, libyaml reads the same.

    (A file libyaml refuses must never be accepted: parse_composed raises and fails it.)
    """
    _same_as_libyaml("\n".join(lines) + ("\n" if newline else ""))


# Only what the flat reader may accept: most of these files are read without libyaml, so the
# comparison above is made on many accepted files too, not only on declined ones.
_FLAT_WORDS = st.sampled_from([
    "site", "wireguard", "10.0.0.0/24", "fd00::a", "2001:db8::/48", "a:b", "yes", "No", "on",
    "null", "Null", "1", "0x1F", "0o17", "017", "1_000", "1:30", "7.20", "1e3", "2001-12-14",
    "K2ZR+a/b=", "x@example.com", "a=b", "'q'", '"d"', "''", '""', "'a b'", '"#x"',
])


@st.composite
def _flat_files(draw: st.DrawFn) -> str:
    keys = draw(st.lists(st.from_regex(r"[a-z_][a-z0-9_-]{0,8}", fullmatch=True),
                         min_size=1, max_size=8, unique=True))
    lines = []
    for key in keys:
        words = draw(st.lists(_FLAT_WORDS, max_size=4))
        quoted = [w for w in words if w[0] in "'\""]
        value = draw(st.sampled_from([
            f"[{', '.join(words)}]",  # a flow list
            " ".join(w for w in words if w not in quoted),  # a plain scalar, maybe with spaces
            quoted[0] if quoted else "",  # one quoted scalar
        ]))
        comment = draw(st.sampled_from(["", " # note", "  #"]))
        lines.append(f"{key}: {value}{comment}".replace(":  #", ": #"))
        if draw(st.booleans()):
            lines.append(draw(st.sampled_from(["", "# a comment"])))
    return "\n".join(lines) + "\n"


@settings(max_examples=1500, deadline=None)
@given(_flat_files())
def test_a_flat_file_means_what_libyaml_says(text: str) -> None:
    _same_as_libyaml(text)


@pytest.mark.parametrize(("text", "expected"), [
    ("type: site\nsite: a-1\nsubnets: [10.0.0.0/24, fd00::/64]\nkey_epoch: 2\n",
     {"type": "site", "site": "a-1", "subnets": ["10.0.0.0/24", "fd00::/64"], "key_epoch": 2}),
    ('# c\nrouteros: "7.18"\nmtu: 1400 # PPPoE\nallow_broad: yes\n\ndescription: a b  c\n',
     {"routeros": "7.18", "mtu": 1400, "allow_broad": True, "description": "a b  c"}),
    ("routeros: 7.20\naddress6: fd00::a\nno: x\non:\nsubnets: []\n",
     {"routeros": YamlFloat(7.2, "7.20"), "address6": "fd00::a", "no": "x", "on": None, "subnets": []}),
    ("user: 'x@example.com'\naccess: [lan, 'a b', \"#c\"]",
     {"user": "x@example.com", "access": ["lan", "a b", "#c"]}),
])
def test_flat_files_are_read_without_libyaml(text: str, expected: dict[str, Any]) -> None:
    assert _typed(_same_as_libyaml(text)) == _typed(expected)


@pytest.mark.parametrize("text", [
    "a: 1\na: 2\n",  # duplicate key: libyaml's path reports it at the second
    "a: b: c\n", "a: fd00::\n", "a: [fd00::, b]\n", "a: [x: 1]\n",  # a ':' that is a key
    "a: &x 1\n", "a: !!str 1\n", "a: =\n", "a: 'it''s'\n", 'a: "\\t"\n',  # no anchors, tags...
    "a:\n  b: 1\n", "a:\n- 1\n", "a: 1\n  continued\n", "---\na: 1\n", "a: [1,\n 2]\n",
    "a: 1\r\nb: 2\r\n", "a:\t1\n", "a: é\n", "a: 1 \n", "# only a comment\n", "",
])
def test_anything_else_is_left_to_libyaml(text: str) -> None:
    assert parse_flat(text) is None


def test_errors_still_come_from_libyaml_with_their_place() -> None:
    with pytest.raises(YamlError) as caught:
        parse("type: site\nsite: x\nsite: y\n")
    assert (caught.value.message, caught.value.line, caught.value.column) == (
        "duplicate key 'site'; each key may appear once", 3, 1)


def test_the_benchmark_estates_peer_files_are_read_flat(tmp_path: Path) -> None:
    """The shape the speed of `mvpn check` is measured on (SPEC §9) takes the fast path."""
    generate.main([str(tmp_path), "--instances", "1", "--peers", "200", "--seed", "1"])
    peers = sorted((tmp_path).glob("*/peers/*.yaml"))
    flat = [p for p in peers if _same_as_libyaml(p.read_text(encoding="utf-8")) is not None]
    assert len(peers) == 200 and len(flat) >= 0.9 * len(peers)
