"""Text built in Python instead of a template keeps the templates' rule (issue 14, speed).

``compiler/render/rsctext.py`` lays out the RouterOS site script with f-strings (it was a Jinja
template): the audit below proves that every value an f-string of it prints is a filter of
:mod:`compiler.render.env`, a name assigned only from one, a parameter that
:mod:`compiler.render.routeros` escaped (``rsctext.ESCAPED``), or a field of the site's
values (``v.<field>``, a :class:`rsctext.Site`), as ``test_template_filters.py`` does for the
templates. The site's values are the only thing a skeleton fills in per site
(``compiler/render/skeleton.py``): the second audit proves that ``routeros.site_values`` makes
every field of them with a filter, and that the skeleton is only ever filled with them. The
fast paths added to the filters themselves are compared with the plain character loops they
shortcut.
"""

from __future__ import annotations

import ast
import inspect
import typing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.model.types import BIDI_CONTROLS
from compiler.render import env, routeros, rsctext

#: Calls whose result is escaped or checked text (``fail`` is ``rsctext._Fail``: rsc_str).
FILTERS = frozenset({"rsc_str", "name", "host", "word", "line_text", "fail"})


def _site_field(node: ast.expr) -> bool:
    """``v.<field>``: a field of the site's values (each made by a filter, audited below)."""
    return (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
            and node.value.id == "v" and node.attr in rsctext.Site._fields)


def _safe_value(node: ast.expr, safe_names: set[str]) -> bool:
    if isinstance(node, ast.Constant) or _site_field(node):
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
    source = ('def f(peer, managed, v):\n'
              '    ok = rsc_str(peer.name)\n'
              '    raw = peer.name\n'
              '    both = rsc_str(peer.name) if peer else peer.name\n'
              '    field = v.name\n'
              '    return (f"{ok} {managed} {rsc_str(f\'{peer.name}\')} {peer.address}"\n'
              '            f"{raw} {both} {fail(f\'{peer.name}\')} {len(managed)} {field}"\n'
              '            f"{v.address} {v.nonesuch} {peer.v.name}")\n')
    # (Implicitly joined f-strings are one node: Python 3.11 gives its values its first line.)
    assert [expr for _line, expr in unfiltered(source)] == ["peer.address", "raw", "both",
                                                            "len(managed)", "v.nonesuch",
                                                            "peer.v.name"]


# --- every value a skeleton fills in is a filter's ------------------------------------------

#: What a field of the site's values may be made by: a filter of compiler.render.env, or
#: ``_routes`` (route lines and where clauses of prefixes it checks with ``addrs_text``:
#: see test_route_lines_refuse_what_is_no_prefix).
SITE_FILTERS = frozenset({"rsc_str", "name", "word", "line_text", "addr", "num", "token"})
SITE_HELPERS = frozenset({"_routes"})


def _filtered(node: ast.expr, names: dict[str, ast.expr]) -> bool:
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str)
    if isinstance(node, ast.Call):
        return isinstance(node.func, ast.Name) and node.func.id in SITE_FILTERS
    if isinstance(node, ast.IfExp):
        return _filtered(node.body, names) and _filtered(node.orelse, names)
    if isinstance(node, ast.Subscript):  # a literal without its opening or closing quote
        cut = ast.unparse(node.slice)
        return cut in ("1:", ":-1") and _filtered(node.value, names)
    if isinstance(node, ast.Name):  # unpacked from one of the helpers
        made = names.get(node.id)
        return (isinstance(made, ast.Call) and isinstance(made.func, ast.Name)
                and made.func.id in SITE_HELPERS)
    return False


def unfiltered_fields(source: str) -> list[str]:
    """Fields of ``Site(...)`` in ``source`` made without a filter (bool fields: branches)."""
    tree = ast.parse(source)
    names: dict[str, ast.expr] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign):
            for target in node.targets:
                pairs: list[tuple[ast.expr, ast.expr]] = [(target, node.value)]
                if isinstance(target, ast.Tuple):
                    values = (node.value.elts if isinstance(node.value, ast.Tuple)
                              else [node.value] * len(target.elts))  # unpacked from a call
                    pairs = list(zip(target.elts, values, strict=True))
                for one, value in pairs:
                    if isinstance(one, ast.Name):  # assigned twice: neither is trusted
                        names[one.id] = value if one.id not in names else ast.Constant(0)
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == "Site"]
    out = [ast.unparse(arg) for call in calls for arg in call.args]  # keywords only
    bools = {f for f, kind in typing.get_type_hints(rsctext.Site).items() if kind is bool}
    return out + [k.arg or "**" for call in calls for k in call.keywords
                  if k.arg not in bools and not _filtered(k.value, names)]


def test_every_field_of_a_site_is_made_by_a_filter() -> None:
    source = Path(inspect.getfile(routeros)).read_text(encoding="utf-8")
    assert unfiltered_fields(source) == []
    sites = [node for node in ast.walk(ast.parse(source)) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Name) and node.func.id == "Site"]
    assert [sorted(k.arg or "" for k in call.keywords) for call in sites] == [
        sorted(rsctext.Site._fields)]


def test_the_field_audit_flags_a_raw_value() -> None:
    source = ('def f(peer):\n'
              '    a, b, c = _routes(x), other(y), 1\n'
              '    return Site(name=name(peer.name), site=peer.site, port=str(peer.port),\n'
              '                user=rsc_str(x)[1:], key=rsc_str(x)[2:], mtu="" if x else y,\n'
              '                ipv6_note=x and y, a=a, b=b, c=c, d=len(x), e=f"{x}")\n')
    assert unfiltered_fields(source) == ["site", "port", "key", "mtu", "b", "c", "d", "e"]


def test_route_lines_refuse_what_is_no_prefix() -> None:
    assert "dst-address=10.0.0.0/8 " in routeros._routes(("10.0.0.0/8",), ())[0]
    for bad in ("10.0.0.0/8]; /system reset", "10.0.0.0/8\n", "x"):
        with pytest.raises(env.UnsafeValueError):
            routeros._routes((bad,), ())
        with pytest.raises(env.UnsafeValueError):
            routeros._routes((), (bad,))


def test_a_skeleton_is_filled_with_the_site_values_only() -> None:
    """``fill`` takes ``v._asdict()`` of a ``v`` made by ``site_values``, nothing else."""
    tree = ast.parse(Path(inspect.getfile(routeros)).read_text(encoding="utf-8"))
    made = {t.id for node in ast.walk(tree) if isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Call) and isinstance(node.value.func, ast.Name)
            and node.value.func.id == "site_values" for t in node.targets
            if isinstance(t, ast.Name)}
    fills = [node for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "fill"]
    assert fills
    for call in fills:
        values = call.args[0]
        assert (isinstance(values, ast.Call) and isinstance(values.func, ast.Attribute)
                and values.func.attr == "_asdict" and isinstance(values.func.value, ast.Name)
                and values.func.value.id in made), ast.unparse(call)


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
