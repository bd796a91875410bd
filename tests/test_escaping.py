"""Round trips of the per-language escaping filters (compiler.render.env).

Each filter is checked against a reader of its output language: RouterOS strings against the
test tokenizer, OpenVPN arguments against a port of OpenVPN's ``parse_line``, ``#`` comment
text against every line break Python knows, bare tokens against what could end or split them.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.model.types import BIDI_CONTROLS
from compiler.render.env import line_text, ovpn_arg, rsc_str, token
from tests.support.rsc_tokenize import Command, parse

settings.register_profile("mvpn-escaping", derandomize=True, deadline=None, max_examples=300)

#: Characters that mean something to one of the output languages, or break a line.
SPECIAL = list(
    '"\\$?[](){};#=\' \t\n\r\v\f\x00\x01\x1b\x1c\x1d\x1e\x7f\x80\x85\x9f'
    "\u00a0\u2028\u2029\u200b\u202e\ufeff\U0001f600é"
)
#: Any Unicode text that can be written as UTF-8 (no lone surrogates: YAML refuses them).
TEXT = st.text(
    alphabet=st.one_of(st.sampled_from(SPECIAL), st.characters(codec="utf-8")), max_size=120
)
ESCAPING = settings(settings.get_profile("mvpn-escaping"))

#: The line breaks of ``str.splitlines`` (a superset of what any of the targets honours).
LINE_BREAKS = "\n\r\v\f\x1c\x1d\x1e\x85\u2028\u2029"


# --- RouterOS ------------------------------------------------------------------------------


def _no_menus(path: Sequence[str]) -> bool:
    return list(path) in (["ip"], ["ip", "route"])


def _rsc_decode(value: str) -> str:
    r"""The tokenizer yields ``\HH`` escapes as one code point per byte; undo that."""
    return value.encode("latin-1").decode("utf-8")


def _commands(script: str) -> list[Command]:
    return [c for top in parse(script, _no_menus) for c in top.walk()]


@ESCAPING
@given(TEXT)
def test_rsc_str_round_trips_through_the_routeros_tokenizer(text: str) -> None:
    literal = rsc_str(text)
    assert literal.isascii()
    assert not any(ch in literal for ch in LINE_BREAKS)
    cmds = _commands(f"/ip route add comment={literal} disabled=no\n:put {literal}\n")
    assert [(c.path, c.word) for c in cmds] == [(["ip", "route"], "add"), ([], "put")]
    add, put = cmds
    assert [a.name for a in add.args] == ["comment", "disabled"]
    assert _rsc_decode(add.args[0].value) == text
    assert add.args[0].literal
    assert add.args[1].value == "no"
    assert [_rsc_decode(p) for p in put.positionals] == [text]
    assert add.interpolations == [] and put.interpolations == []


@pytest.mark.parametrize(
    ("text", "literal"),
    [
        ("", '""'),
        ("a b", '"a b"'),
        ('say "hi"', '"say \\"hi\\""'),
        ("C:\\dir", '"C:\\\\dir"'),
        ("$x $[/ip] $(1)", '"\\$x \\$[/ip] \\$(1)"'),
        ("what?", '"what\\?"'),
        ("é", '"\\C3\\A9"'),
        ("\x00", '"\\00"'),
        ("a\nb", '"a\\nb"'),
    ],
)
def test_rsc_str_examples(text: str, literal: str) -> None:
    assert rsc_str(text) == literal


# --- OpenVPN -------------------------------------------------------------------------------


def _c_isspace(byte: int) -> bool:
    return byte in b" \t\n\v\f\r" or byte == 0  # OpenVPN's space(): isspace() or NUL


def openvpn_parse_line(line: str) -> list[str]:
    """Split one config line into parameters exactly as OpenVPN's ``parse_line`` does.

    A byte-wise port of ``options_util.c:parse_line`` (C locale): a backslash escapes the
    next byte (outside single quotes), ``"..."`` and ``'...'`` group, ``#``/``;`` where a
    parameter could start end the line. Raises ValueError where OpenVPN reports an error.
    """
    initial, quoted, unquoted, squoted = range(4)
    params: list[str] = []
    parm = bytearray()
    state = initial
    backslash = False
    data = line.encode("utf-8") + b"\0"
    for byte in data:
        done = False
        if not backslash and byte == ord("\\") and state != squoted:
            backslash = True
        else:
            if state == initial:
                if not _c_isspace(byte):
                    if byte in b";#":
                        break
                    if not backslash and byte == ord('"'):
                        state = quoted
                    elif not backslash and byte == ord("'"):
                        state = squoted
                    else:
                        parm.append(byte)
                        state = unquoted
            elif state == unquoted:
                if not backslash and _c_isspace(byte):
                    done = True
                else:
                    parm.append(byte)
            elif state == quoted:
                if not backslash and byte == ord('"'):
                    done = True
                else:
                    parm.append(byte)
            elif byte == ord("'"):  # single quoted: no escapes at all
                done = True
            else:
                parm.append(byte)
            if done:
                params.append(parm.decode("utf-8"))
                parm = bytearray()
                state = initial
            backslash = False
        if byte == 0:
            break
    if state in (quoted, squoted):
        raise ValueError(f"no closing quotation in {line!r}")
    if backslash:
        raise ValueError(f"residual parameter after backslash in {line!r}")
    return params


def test_openvpn_parser_model() -> None:
    assert openvpn_parse_line('push "route 10.0.0.0 255.0.0.0"') == [
        "push", "route 10.0.0.0 255.0.0.0"]
    assert openvpn_parse_line("# comment") == []
    assert openvpn_parse_line("  ; comment") == []
    assert openvpn_parse_line('a "b\\"c" d\\ e') == ["a", 'b"c', "d e"]
    assert openvpn_parse_line("x 'a\\b'") == ["x", "a\\b"]
    assert openvpn_parse_line("verb 3 # trailing") == ["verb", "3"]
    with pytest.raises(ValueError, match="quotation"):
        openvpn_parse_line('x "open')


def _one_line(text: str) -> bool:
    return not any(ord(ch) < 0x20 or ch in "\u2028\u2029\u0085\x7f" for ch in text)


@ESCAPING
@given(TEXT)
def test_ovpn_arg_round_trips_through_openvpn_parse_line(text: str) -> None:
    if not _one_line(text):
        with pytest.raises(ValueError, match="one line"):
            ovpn_arg(text)
        return
    arg = ovpn_arg(text)
    assert arg.splitlines() == [arg]
    assert openvpn_parse_line(arg) == [text]
    assert openvpn_parse_line(f"setenv MVPN_X {arg} # trailing") == ["setenv", "MVPN_X", text]
    assert openvpn_parse_line(f"{arg}{arg}") == [text, text]


@pytest.mark.parametrize("text", ["a\nb", "a\rb", "\x00", "a\u2028b", "\x85", "\x7f", "\t"])
def test_ovpn_arg_refuses_line_breaks(text: str) -> None:
    with pytest.raises(ValueError, match="one line"):
        ovpn_arg(text)


# --- "#" comment text ----------------------------------------------------------------------


@ESCAPING
@given(TEXT)
def test_line_never_breaks_a_line(text: str) -> None:
    out = line_text(text)
    assert out.splitlines() in ([out], [])
    assert not any(ch in out for ch in LINE_BREAKS)
    assert not any(ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F for ch in out)
    # A backslash may not end it either: RouterOS would continue the comment.
    assert not out.rstrip(" \t").endswith("\\")
    # As a comment it hides in every target: no command appears around it.
    script = f"# {out}\n/ip route add comment=\"x\"\n"
    assert [(c.path, c.word) for c in _commands(script)] == [(["ip", "route"], "add")]
    assert openvpn_parse_line(f"# {out}") == []
    assert f"# {out}".split("#", 1)[0].strip() == ""  # wg-quick


@ESCAPING
@given(st.text(alphabet=st.characters(codec="utf-8", exclude_categories=["Cc", "Zl", "Zp"],
                                       exclude_characters=BIDI_CONTROLS)))
def test_line_keeps_printable_text(text: str) -> None:
    if text.rstrip(" ").endswith("\\"):
        return
    assert line_text(text) == text


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("a\nb", "a\\x0ab"),
        ("a\u2028b", "a\\u2028b"),
        ("\x85", "\\x85"),
        ("invoice \u202egpj.exe", "invoice \\u202egpj.exe"),
        ("\u2066x\u2069", "\\u2066x\\u2069"),
        ("ends with \\", "ends with \\x5c"),
        ("ends with \\  ", "ends with \\x5c  "),
        ("a \\ b", "a \\ b"),
    ],
)
def test_line_examples(text: str, shown: str) -> None:
    assert line_text(text) == shown


# --- bare tokens ---------------------------------------------------------------------------

UNSAFE_IN_TOKEN = "#;\"'\\,[]{}$"


@ESCAPING
@given(TEXT)
def test_token_refuses_what_could_split_or_end_it(text: str) -> None:
    unsafe = not text or any(
        ch.isspace() or ch in UNSAFE_IN_TOKEN or not ch.isprintable() for ch in text
    )
    if unsafe:
        with pytest.raises(ValueError, match="not a safe bare token"):
            token(text)
    else:
        assert token(text) == text


@pytest.mark.parametrize(
    "text", ["", "a b", "a\tb", "a\nb", "a#b", "a;b", 'a"b', "a'b", "a\\b", "a\u2028b",
             "a\u00a0b", "a\x85b", "a\x1cb", "a\x00b", "a\x7fb", "a\u200bb"],
)
def test_token_refusals(text: str) -> None:
    with pytest.raises(ValueError, match="not a safe bare token"):
        token(text)


def test_token_accepts_keys_and_names() -> None:
    key = "yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk="
    assert token(key) == key
    assert token("corp.example") == "corp.example"
