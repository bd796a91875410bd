"""Text built in Python instead of a template keeps the templates' rule (issue 14, speed).

``compiler/render/rsctext.py`` lays out the RouterOS site script with f-strings (it was a Jinja
template): the audit below proves that every value an f-string of it prints is a filter of
:mod:`compiler.render.env`, a name assigned only from one, or a parameter that
:mod:`compiler.render.routeros` escaped (``rsctext.ESCAPED``), as
``test_template_filters.py`` does for the templates. The fast paths added to the filters
themselves are compared with the plain character loops they shortcut.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.model.types import BIDI_CONTROLS
from compiler.render import env, rsctext

#: Calls whose result is escaped or checked text (``fail`` is ``rsctext._Fail``: rsc_str).
FILTERS = frozenset({"rsc_str", "name", "host", "word", "line_text", "fail"})


def _safe_value(node: ast.expr, safe_names: set[str]) -> bool:
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in FILTERS
    if isinstance(node, ast.Name):
        return node.id in safe_names
    if isinstance(node, ast.IfExp):
        return _safe_value(node.body, safe_names) and _safe_value(node.orelse, safe_names)
    return False


def _safe_names(tree: ast.Module) -> set[str]:
    """Names every assignment of which is a filter call or a constant (``x, y = f(a), g(b)``)."""
    values: dict[str, list[ast.expr]] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Tuple) and isinstance(node.value, ast.Tuple):
                    for name, value in zip(target.elts, node.value.elts, strict=True):
                        if isinstance(name, ast.Name):
                            values.setdefault(name.id, []).append(value)
                elif isinstance(target, ast.Name):
                    values.setdefault(target.id, []).append(node.value)
                elif isinstance(target, ast.Tuple):  # unpacked from something unknown
                    for name in target.elts:
                        if isinstance(name, ast.Name):
                            values.setdefault(name.id, []).append(node.value)
    base = set(rsctext.ESCAPED) | {"VERSION_SLOT"}
    return base | {name for name, assigned in values.items()
                   if all(_safe_value(v, base) for v in assigned)}


def unfiltered(source: str) -> list[tuple[int, str]]:
    """(line, expression) of every value an f-string prints without a filter."""
    tree = ast.parse(source)
    safe = _safe_names(tree)
    # An f-string passed to a filter is that filter's input, not output: skip it.
    inputs = {id(arg) for node in ast.walk(tree) if isinstance(node, ast.Call)
              and isinstance(node.func, ast.Name) and node.func.id in FILTERS
              for arg in node.args}
    return [(value.lineno, ast.unparse(value.value))
            for node in ast.walk(tree) if isinstance(node, ast.JoinedStr)
            and id(node) not in inputs
            for value in node.values if isinstance(value, ast.FormattedValue)
            and not _safe_value(value.value, safe)]


def test_every_value_of_the_site_script_is_filtered() -> None:
    assert unfiltered(Path(inspect.getfile(rsctext)).read_text(encoding="utf-8")) == []


def test_the_audit_flags_a_raw_value() -> None:
    source = ('def f(peer, managed):\n'
              '    ok = rsc_str(peer.name)\n'
              '    raw = peer.name\n'
              '    both = rsc_str(peer.name) if peer else peer.name\n'
              '    return (f"{ok} {managed} {rsc_str(f\'{peer.name}\')} {peer.address}"\n'
              '            f"{raw} {both} {fail(f\'{peer.name}\')} {len(managed)}")\n')
    # (Implicitly joined f-strings are one node: Python 3.11 gives its values its first line.)
    assert [expr for _line, expr in unfiltered(source)] == ["peer.address", "raw", "both",
                                                            "len(managed)"]


# --- the filters' fast paths are their loops' results ----------------------------------------


def _rsc_str_loop(text: str) -> str:
    out = ['"']
    for ch in text:
        if ch in env._RSC_ESCAPES:
            out.append(env._RSC_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\{b:02X}" for b in ch.encode("utf-8"))
    return "".join([*out, '"'])


def _shown(ch: str) -> str:
    code = ord(ch)
    if code < 0x20 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029\u0085" or ch in BIDI_CONTROLS:
        return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
    return ch


def _line_loop(text: str) -> str:
    out = [_shown(ch) for ch in text]
    end = len(out)
    while end > 0 and out[end - 1] in (" ", "\t"):
        end -= 1
    if end > 0 and out[end - 1] == "\\":
        out[end - 1] = "\\x5c"
    return "".join(out)


_TRICKY = st.sampled_from(["\\", '"', "$", "?", "\n", "\r", "\t", " ", "\x00", "\x7f", "\x85",
                           "é", "\u2028", "\u202e", "-----BEGIN", "a"])


@settings(max_examples=500)
@given(st.one_of(st.text(), st.lists(_TRICKY).map("".join),
                 st.text(st.characters(codec="ascii"))))
def test_fast_paths_give_what_the_loops_give(text: str) -> None:
    assert env.rsc_str(text) == _rsc_str_loop(text)
    assert env.line_text(text) == _line_loop(text)
