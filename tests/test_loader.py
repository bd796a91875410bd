"""Loader: YAML refusals, unsafe files, names and layout (yaml-syntax, file-unsafe, ...)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from compiler.api import check
from compiler.loader.yamlread import YamlError, parse
from tests.support.trees import INSTANCE, brief, build_file_tree, estate, run


def only(result_diags: list[tuple[str, str, str, int, int]], code: str) -> list[tuple[str, str, str, int, int]]:
    return [d for d in result_diags if d[0] == code]


@pytest.mark.parametrize(
    ("text", "message", "line", "column"),
    [
        ("type: site\nsite: [x\n", "did not find expected ',' or ']'", 3, 1),
        ("type: site\ntype: client\n", "duplicate key 'type'; each key may appear once", 2, 1),
        ("a: &x 1\nb: *x\n", "anchors ('&name') are not allowed; write the value out", 1, 4),
        ("a: !custom 1\n", "custom tag '!custom' is not allowed; remove the tag", 1, 4),
        ("a: !!python/object:os.system x\n",
         "custom tag 'tag:yaml.org,2002:python/object:os.system' is not allowed; remove the tag",
         1, 4),
        ("<<: {a: 1}\n", "merge keys ('<<') are not allowed; write the keys out", 1, 1),
        ("a: 1\n---\nb: 2\n", "only one YAML document per file is allowed", 2, 1),
        # found by the fuzz test: the anchor pre-scan must not crash on a reader error
        ("*\x00", "control character U+0000 is not allowed in YAML", 1, 2),
    ],
)
def test_yaml_syntax(tmp_path: Path, text: str, message: str, line: int, column: int) -> None:
    result = run(tmp_path, estate(**{"acme-eu__peers__bad_DOT_yaml": text}))
    diags = [d for d in result.diagnostics.sorted() if d.code == "yaml-syntax"]
    assert [(d.message, d.file.name, d.line, d.column) for d in diags] == [
        (message, "bad.yaml", line, column)
    ]
    assert diags[0].severity == "error"


def test_non_utf8_points_at_the_byte(tmp_path: Path) -> None:
    result = run(tmp_path, estate(**{"acme-eu__peers__bad_DOT_yaml": b"type: site\nsite: caf\xe9\n"}))
    assert brief(result, tmp_path) == [("yaml-syntax", "error", "acme-eu/peers/bad.yaml", 2, 10)]
    assert result.diagnostics.sorted()[0].message == "file is not valid UTF-8"


def test_alias_bomb_is_refused_fast() -> None:
    lines = ['a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for i in range(1, 10):
        refs = ",".join([f"*a{i - 1}"] * 9)
        lines.append(f"a{i}: &a{i} [{refs}]")
    bomb = "\n".join(lines) + "\n"
    assert len(bomb) < 1024
    start = time.perf_counter()
    with pytest.raises(YamlError, match="anchors"):
        parse(bomb)
    # Generous bound: expansion would take minutes and gigabytes.
    assert time.perf_counter() - start < 0.5


def test_yaml_11_keys_stay_strings_and_floats_keep_their_text() -> None:
    value = parse("no: yes\nv: 7.20\n")
    assert value == {"no": True, "v": 7.2}
    assert value["v"].raw == "7.20"


def test_symlink_out_of_tree_is_refused_unread(tmp_path: Path) -> None:
    outside = tmp_path / "outside.yaml"
    outside.write_text("type: site\n")
    root = tmp_path / "root"
    build_file_tree(root, estate())  # type: ignore[arg-type]
    (root / "acme-eu/peers/evil.yaml").symlink_to(outside)
    (root / "acme-eu/peers/inside.yaml").symlink_to(root / "acme-eu/peers/alice.yaml")
    result = check(root)
    assert brief(result, root) == [
        ("address-duplicate", "error", "acme-eu/peers/alice.yaml", 3, 10),
        ("file-unsafe", "error", "acme-eu/peers/evil.yaml", 1, 1),
        ("address-duplicate", "error", "acme-eu/peers/inside.yaml", 3, 10),
    ]
    msg = [d.message for d in result.diagnostics if d.code == "file-unsafe"]
    assert msg == ["'evil.yaml' is a symlink that leaves the config tree (or dangles); "
                   "replace it with the file itself"]


def test_symlinked_instance_dir_out_of_tree(tmp_path: Path) -> None:
    elsewhere = build_file_tree(tmp_path / "elsewhere", {"instance.yaml": INSTANCE})
    root = build_file_tree(tmp_path / "root", {"vpn.yaml": "domain: vpn.example.net\n"})
    (root / "sneaky").symlink_to(elsewhere)
    result = check(root)
    assert brief(result, root) == [("file-unsafe", "error", "sneaky", 1, 1)]


def test_fifo_and_huge_file_are_not_read(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path, estate())  # type: ignore[arg-type]
    os.mkfifo(root / "acme-eu/peers/pipe.yaml")  # reading it would block forever
    (root / "acme-eu/peers/huge.yaml").write_bytes(b"#" * ((1 << 20) + 1))
    result = check(root)
    assert [(d.code, d.file.name, d.message) for d in result.diagnostics.sorted()] == [
        ("file-unsafe", "huge.yaml",
         "'huge.yaml' is 1048577 bytes, over the 1 MiB limit; it was not read"),
        ("file-unsafe", "pipe.yaml", "'pipe.yaml' is not a regular file; it was not read"),
    ]


def test_invalid_names(tmp_path: Path) -> None:
    files = estate(**{"Bad_Inst__instance_DOT_yaml": dict(INSTANCE, hostname="other"),
                      "acme-eu__peers__Alice_DOT_yaml": "type: client\n"})
    result = run(tmp_path, files)
    assert [(d.code, d.severity.value, d.file.name, d.message)
            for d in result.diagnostics.sorted() if d.code == "name-invalid"] == [
        ("name-invalid", "error", "Bad_Inst",
         "instance folder name 'Bad_Inst' is not a safe identifier "
         "(lower-case letters, digits and inner hyphens, 1-32 characters)"),
        ("name-invalid", "error", "Alice.yaml",
         "peer file name 'Alice' is not a safe identifier "
         "(lower-case letters, digits and inner hyphens, 1-32 characters)"),
    ]


def test_unexpected_yaml_warns_and_other_files_are_ignored(tmp_path: Path) -> None:
    files = estate(**{
        "stray_DOT_yaml": "a: 1\n",
        "acme-eu__notes_DOT_yml": "a: 1\n",
        "docs__x_DOT_yaml": "a: 1\n",
        "README_DOT_md": "# hello\n",
        "acme-eu__peers__README_DOT_md": "peers\n",
        "_DOT_github__workflows__ci_DOT_yaml": "on: push\n",
    })
    result = run(tmp_path, files)
    assert brief(result, tmp_path) == [
        ("file-unexpected", "warning", "acme-eu/notes.yml", 1, 1),
        ("file-unexpected", "warning", "docs/x.yaml", 1, 1),
        ("file-unexpected", "warning", "stray.yaml", 1, 1),
    ]
    assert result.ok
    assert result.diagnostics.sorted()[2].message == (
        "'stray.yaml' is not part of the tree layout "
        "(ROOT holds vpn.yaml, tests.yaml and one folder per instance); it was ignored"
    )


def test_instance_without_instance_yaml(tmp_path: Path) -> None:
    result = run(tmp_path, estate(**{"acme-eu__instance_DOT_yaml": None}))
    diags = result.diagnostics.sorted()
    assert [(d.code, d.file.name, d.message) for d in diags] == [
        ("schema", "acme-eu",
         "instance folder 'acme-eu' has no instance.yaml; add one (see `mvpn init`)"),
    ]


def test_many_files_with_errors_all_reported(tmp_path: Path) -> None:
    files = estate(**{
        "acme-eu__peers__a_DOT_yaml": "type: site\nsite: [\n",
        "acme-eu__peers__b_DOT_yaml": {"type": "client", "user": "b", "adress": "x"},
        "acme-eu__peers__c_DOT_yaml": {"type": "site", "site": "c", "subnets": ["10.20.0.0/25"],
                                      "address": "10.255.0.30"},
        "vpn_DOT_yaml": {"domain": "vpn.example.net", "regions": ["iad"]},
    })
    result = run(tmp_path, files)
    codes = {(d.code, d.file.name) for d in result.diagnostics}
    assert codes == {
        ("yaml-syntax", "a.yaml"),
        ("schema", "b.yaml"),
        ("route-overlap", "c.yaml"),
        ("route-overlap", "berlin.yaml"),
        ("region-unknown", "instance.yaml"),
    }
