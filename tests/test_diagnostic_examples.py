"""The examples of docs/diagnostics.md are run, not written: each gives its code.

compiler.docs lays out each example tree, runs mvpn on it and shows the first diagnostic of
the code with its file:line:column; an example that does not give its code cannot be shown.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from compiler.diagnostics import CODES, Example
from compiler.docs import run_example


@pytest.mark.parametrize("code", sorted(CODES))
def test_the_example_gives_its_code_at_a_place_in_its_tree(code: str) -> None:
    example = CODES[code].example
    diag = run_example(code, example)
    assert diag.code == code and diag.severity is CODES[code].severity
    assert not diag.file.is_absolute() and diag.line >= 1 and diag.column >= 1
    changed = set(example.files) | ({example.symlink[0]} if example.symlink else set())
    # The diagnostic is about what the example changed, or a file it clashes with (an
    # empty tree is reported at its vpn.yaml, the one file left).
    assert diag.file.as_posix() in changed or code in (
        "address-duplicate", "hostname-duplicate", "route-cross-instance", "tree-empty"), diag


def test_pinned_examples() -> None:
    assert run_example("schema", CODES["schema"].example).message == \
        "unknown key 'adress'; did you mean 'address'?"
    pool = run_example("pool-exhausted", CODES["pool-exhausted"].example)
    assert (pool.file, pool.line, pool.column) == (Path("acme-eu/peers/bob.yaml"), 1, 7)
    assert pool.message.startswith("no free IPv4 address left for 'address' in 10.255.0.0/30")
    unsafe = run_example("file-unsafe", CODES["file-unsafe"].example)
    assert unsafe.message == ("'alice.yaml' is a symlink that leaves the config tree (or "
                              "dangles); replace it with the file itself")


def test_an_example_that_does_not_give_its_code_is_refused() -> None:
    wrong = dataclasses.replace(CODES["schema"].example, files={})  # the valid tree itself
    with pytest.raises(ValueError, match=re.escape("the example of 'schema' in compiler/diagnostics.py")):
        run_example("schema", wrong)
    with pytest.raises(ValueError, match="'route-broad'"):
        run_example("route-broad", Example({"acme-eu/peers/alice.yaml": None}))
