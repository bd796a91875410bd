"""A malformed or hostile tree never produces a traceback: diagnostics, exit 1."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.api import check
from tests.support.trees import build_file_tree, estate

_yaml_ish = st.text(
    alphabet=st.sampled_from([*"abc:-[]{}&*!|>'\"#%@`,?\n \t0123456789.", "\x00", "é", "\u2028"]),
    max_size=80,
)
_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_fields = st.dictionaries(
    st.sampled_from(["type", "site", "user", "subnets", "address", "address6", "protocol",
                     "route_all", "public_key", "key_epoch", "description", "routeros",
                     "allow_broad", "bogus"]),
    _values, max_size=6,
)


@settings(max_examples=150, deadline=None)
@given(text=_yaml_ish, raw=st.binary(max_size=40), doc=_fields)
def test_garbage_gives_diagnostics_not_tracebacks(
    text: str, raw: bytes, doc: dict[str, object]
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = estate(**{
            "acme-eu__peers__text_DOT_yaml": text,
            "acme-eu__peers__raw_DOT_yaml": raw,
            "acme-eu__peers__doc_DOT_yaml": {"type": "site", **doc} if doc.get("type") is None else doc,
            "acme-eu__instance_DOT_yaml": text if len(text) % 3 == 0 else estate()["acme-eu/instance.yaml"],
        })
        build_file_tree(root, files)  # type: ignore[arg-type]
        result = check(root)
        for diag in result.diagnostics:
            assert diag.line >= 1 and diag.column >= 1
            assert diag.file.is_relative_to(root.resolve())
