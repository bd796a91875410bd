"""Issue 11 (loader part): hostile names, nesting, symlink loops, line separators, silent passes.

Each test is the input of the attack, the exit code and the exact diagnostic with file:line.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from compiler.api import check
from compiler.cli import main
from compiler.loader.yamlread import MAX_DEPTH, Positions
from tests.support.trees import TEST_SECRET_B64, build_file_tree, estate, rows, site


def _cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = main(args)
    out = capsys.readouterr()
    assert "internal error" not in out.out + out.err
    assert "Traceback" not in out.out + out.err
    return code, out.out


# ---------------------------------------------------------------- item 1: control characters in names


@pytest.mark.parametrize("stem", ["alice\n", "ali\x1bce", "bob\r"])
def test_peer_file_name_with_control_character(
    tmp_path: Path, stem: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    files = estate(**{f"acme-eu__peers__{stem}_DOT_yaml": site("x", "10.255.0.20", [])})
    found = [r for r in rows(tmp_path, files) if r[0] == "name-invalid"]
    shown = stem.encode("unicode_escape").decode()
    assert found == [("name-invalid", "error", f"acme-eu/peers/{stem}.yaml", 1, 1,
                      f"peer file name '{shown}' is not a safe identifier (lower-case letters, "
                      "digits and inner hyphens, 1-32 characters)")]
    # compile and plan-like commands refuse it the same way, never an internal error
    monkeypatch.setenv("MVPN_SECRET", TEST_SECRET_B64)
    code, out = _cli(["compile", str(tmp_path), "-o", str(tmp_path.parent / "out")], capsys)
    assert code == 1 and "name-invalid" in out
    assert not (tmp_path.parent / "out").exists()


def test_instance_folder_name_with_newline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = {k.replace("acme-eu/", "acme-eu\n/"): v for k, v in estate().items()}
    build_file_tree(tmp_path, files)  # type: ignore[arg-type]
    code, out = _cli(["check", str(tmp_path)], capsys)
    assert code == 1
    assert ("error[name-invalid] instance folder name 'acme-eu\\n' is not a safe identifier"
            in out)
    # the message never carries the raw newline: one diagnostic, one line
    assert "'acme-eu\n'" not in out


# ---------------------------------------------------------------- item 2: positions from one pass


def test_all_positions_of_a_file_come_from_one_compose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = [f"10.{i // 250}.{i % 250}.1/24" for i in range(2000)]  # host bits set: all refused
    files = estate(**{"acme-eu__peers__berlin_DOT_yaml": site("berlin", "10.255.0.10", bad)})
    build_file_tree(tmp_path, files)  # type: ignore[arg-type]
    before = Positions.composes
    result = check(tmp_path)
    found = [d for d in result.diagnostics.sorted() if d.code == "prefix-invalid"]
    assert len(found) == 2000
    assert [(d.line, d.column) for d in found[:2]] == [(5, 3), (6, 3)]
    assert (found[-1].line, found[-1].column) == (2004, 3)
    # one compose for the positions of the file with 2,000 diagnostics (it was 2,000)
    assert Positions.composes - before == 1


def test_ten_thousand_keys_are_looked_up_in_linear_time(tmp_path: Path) -> None:
    # 10,000 bad DNS records in one mapping: each lookup is a dict hit, not a scan of the keys
    records = "".join(f"    h{i}.corp.example: 10.0.{i // 250}.{i % 250}/8\n" for i in range(10000))
    inst = "hostname: acme-eu\nregion: fra\nwireguard: {network: 10.255.0.0/24}\ndns:\n  records:\n"
    build_file_tree(tmp_path, {"acme-eu/instance.yaml": inst + records})
    result = check(tmp_path)
    lines = sorted(d.line for d in result.diagnostics if d.code != "file-unexpected")
    assert lines[:2] == [6, 7] and lines[-1] == 10005 and len(lines) == 10000


# ---------------------------------------------------------------- item 4: deep nesting


@pytest.mark.parametrize("depth", [MAX_DEPTH + 1, 500, 900])
def test_deep_nesting_is_yaml_syntax(tmp_path: Path, depth: int,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    flow = "type: site\nsite: x\nsubnets: " + "[" * depth + "]" * depth + "\n"
    block = "type: site\nsite: y\nsubnets:\n" + "".join(" " * (i + 2) + "-\n" for i in range(depth))
    files = estate(**{"acme-eu__peers__flow_DOT_yaml": flow, "acme-eu__peers__block_DOT_yaml": block})
    found = [r for r in rows(tmp_path, files) if r[0] == "yaml-syntax"]
    message = f"nesting deeper than {MAX_DEPTH} levels is not allowed"
    assert found == [
        ("yaml-syntax", "error", "acme-eu/peers/block.yaml", 4 + MAX_DEPTH, 3 + MAX_DEPTH,
         message),
        ("yaml-syntax", "error", "acme-eu/peers/flow.yaml", 3, 10 + MAX_DEPTH, message),
    ]
    code, _ = _cli(["check", str(tmp_path)], capsys)
    assert code == 1


def test_nesting_within_the_limit_reaches_the_model(tmp_path: Path) -> None:
    # 60 levels is valid YAML: the model says what is wrong, and does not recurse to death
    doc = "type: site\nsite: x\nsubnets: " + "[" * 60 + "]" * 60 + "\n"
    found = [r for r in rows(tmp_path, estate(**{"acme-eu__peers__x_DOT_yaml": doc})) if r[2].endswith("x.yaml")]
    assert found == [("schema", "error", "acme-eu/peers/x.yaml", 3, 11,
                      "subnets[0]: expected a string (quote it if YAML read it as something "
                      "else), got a list")]


# ---------------------------------------------------------------- item 5: symlink loops


def test_symlink_loop_in_peers_is_file_unsafe(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    build_file_tree(tmp_path, estate())  # type: ignore[arg-type]
    os.symlink(".", tmp_path / "acme-eu/peers/a")
    os.symlink(".", tmp_path / "loop")
    os.symlink("self", tmp_path / "acme-eu/peers/self")  # ELOOP on every stat
    os.symlink("x.yaml", tmp_path / "acme-eu/peers/x.yaml")
    found = [r for r in rows(tmp_path, {}) if r[0] == "file-unsafe"]
    assert found == [
        ("file-unsafe", "error", "acme-eu/peers/a", 1, 1,
         "'a' is a symlink loop: it points to 'peers', a folder that contains it; remove it"),
        ("file-unsafe", "error", "acme-eu/peers/x.yaml", 1, 1,
         "'x.yaml' is a symlink that leaves the config tree (or dangles); "
         "replace it with the file itself"),
        ("file-unsafe", "error", "loop", 1, 1,
         f"'loop' is a symlink loop: it points to '{tmp_path.resolve().name}', a folder that "
         "contains it; remove it"),
    ]
    code, _ = _cli(["check", str(tmp_path)], capsys)
    assert code == 1


def test_symlink_cycle_between_folders_terminates(tmp_path: Path) -> None:
    files = estate(docs__a__README_DOT_md="a\n", docs__b__README_DOT_md="b\n")
    build_file_tree(tmp_path, files)  # type: ignore[arg-type]
    os.symlink("../b", tmp_path / "docs/a/to-b")
    os.symlink("../a", tmp_path / "docs/b/to-a")
    found = [r[:3] for r in rows(tmp_path, {}) if r[0] == "file-unsafe"]
    assert found == [("file-unsafe", "error", "docs/a/to-b/to-a")]


# ---------------------------------------------------------------- item 17: line separators


@pytest.mark.parametrize("sep", ["\u2028", "\u2029", "\u0085"])
def test_line_separator_in_a_string_does_not_shift_lines(
    tmp_path: Path, sep: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # editors and GitHub end lines at LF, CRLF and CR only; YAML 1.1 also at these three
    doc = (f'type: client\nuser: alice@example.com\ndescription: "a{sep}b{sep}c"\n'
           "address: 10.255.0.11\nadress: 10.255.0.12\n")
    files = estate(**{"acme-eu__peers__alice_DOT_yaml": doc})
    found = [r for r in rows(tmp_path, files) if "adress" in r[5]]
    assert found == [("schema", "error", "acme-eu/peers/alice.yaml", 5, 1,
                      "unknown key 'adress'; did you mean 'address'?")]
    code, out = _cli(["check", str(tmp_path)], capsys)
    assert code == 1
    assert "5 | adress: 10.255.0.12\n" in out  # the quoted line is the one the number names


def test_line_separator_before_a_yaml_syntax_error(tmp_path: Path) -> None:
    doc = 'type: client\nuser: "x\u2028y"\nuser: again\n'
    files = estate(**{"acme-eu__peers__alice_DOT_yaml": doc})
    found = [r for r in rows(tmp_path, files) if r[0] == "yaml-syntax"]
    assert found == [("yaml-syntax", "error", "acme-eu/peers/alice.yaml", 3, 1,
                      "duplicate key 'user'; each key may appear once")]


def test_cr_only_file_lines(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    doc = b"type: client\ruser: alice@example.com\raddress: 10.255.0.11\radress: x\r"
    build_file_tree(tmp_path, estate(**{"acme-eu__peers__alice_DOT_yaml": doc}))  # type: ignore[arg-type]
    code, out = _cli(["check", str(tmp_path)], capsys)
    assert code == 1
    assert "alice.yaml:4:1: error[schema] unknown key 'adress'" in out
    assert "4 | adress: x\n" in out


# ---------------------------------------------------------------- item 19: silent passes


def test_peers_as_a_regular_file_is_an_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    files = estate(**{"acme-eu__peers__berlin_DOT_yaml": None, "acme-eu__peers__alice_DOT_yaml": None,
                      "acme-eu__peers": "type: site\n"})
    assert rows(tmp_path, files) == [
        ("schema", "error", "acme-eu/peers", 1, 1,
         "'peers' must be a folder holding one <peer>.yaml per peer, but it is not a folder; "
         "no peer of this instance was loaded"),
    ]
    code, _ = _cli(["check", str(tmp_path)], capsys)
    assert code == 1


def test_hidden_yaml_in_peers_warns(tmp_path: Path) -> None:
    files = estate(**{"acme-eu__peers__.x_DOT_yaml": site("x", "10.255.0.20", [])})
    assert rows(tmp_path, files) == [
        ("file-unexpected", "warning", "acme-eu/peers/.x.yaml", 1, 1,
         "'.x.yaml' (a hidden file) is not part of the tree layout (peers/ holds one "
         "<peer>.yaml per peer); it was ignored"),
    ]


def test_git_folder_is_not_walked(tmp_path: Path) -> None:
    files = estate(**{".git__config_DOT_yaml": "a: 1\n", ".github__ci_DOT_yml": "a: 1\n"})
    assert rows(tmp_path, files) == []


@pytest.mark.parametrize(("first", "second", "what"), [
    ("acme-eu/instance.yaml", "acme-eu/instance.yml", "instance 'acme-eu'"),
    ("vpn.yaml", "vpn.yml", "vpn.yaml"),
])
def test_yml_beside_yaml_is_an_error(tmp_path: Path, first: str, second: str, what: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    files = dict(estate())
    files[second] = files[first]
    assert rows(tmp_path, files) == [
        ("name-invalid", "error", second, 1, 1,
         f"{what} is defined twice ({first.rsplit('/', 1)[-1]} and "
         f"{second.rsplit('/', 1)[-1]}); keep one"),
    ]
    code, _ = _cli(["check", str(tmp_path)], capsys)
    assert code == 1


def test_regions_are_validated(tmp_path: Path) -> None:
    vpn = "domain: vpn.example.net\nregions:\n  - fra\n  - Frankfurt am Main\n  - fra\n"
    assert rows(tmp_path, estate(vpn_DOT_yaml=vpn)) == [
        ("schema", "error", "vpn.yaml", 4, 5,
         "regions[1]: expected a lower-case DNS label (letters, digits, inner hyphens), got "
         "'Frankfurt am Main'"),
    ]
    vpn = "domain: vpn.example.net\nregions:\n  - fra\n  - iad\n  - fra\n"
    assert rows(tmp_path, estate(vpn_DOT_yaml=vpn)) == [
        ("schema", "error", "vpn.yaml", 5, 5,
         "regions[2]: region 'fra' is already listed as regions[0]; remove one"),
    ]


def test_public_key_on_an_openvpn_client(tmp_path: Path) -> None:
    doc = ("type: client\nuser: carol@example.com\nprotocol: openvpn\naddress: 10.254.0.11\n"
           "public_key: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n")
    assert rows(tmp_path, estate(**{"acme-eu__peers__carol_DOT_yaml": doc})) == [
        ("schema", "error", "acme-eu/peers/carol.yaml", 5, 13,
         "public_key: an OpenVPN client has no WireGuard key (it gets a certificate); remove "
         "'public_key' or use protocol wireguard"),
    ]


def test_big_other_file_is_skipped_and_others_are_not_kept(tmp_path: Path) -> None:
    pdf = b"%PDF-1.7\n" + os.urandom(3 << 20)
    key = "-----BEGIN PRIVATE KEY-----\n"
    files = estate(**{"docs__manual_DOT_pdf": pdf, "docs__notes_DOT_txt": "x\r" * 3 + key})
    assert rows(tmp_path, files) == [
        ("secret-in-repo", "error", "docs/notes.txt", 4, 1,
         "a PEM private key block; never commit private keys: mvpn derives every key from "
         "MVPN_SECRET. Remove it from the tree (and its git history) and rotate it"),
    ]
    others = check(tmp_path).estate.raw.others
    assert [o.path.name for o in others] == ["notes.txt"]  # the PDF was only stat'ed
    assert [o.text for o in others] == [""]  # nothing of the file is kept after the scan


def test_assertion_instance_name_with_newline(tmp_path: Path) -> None:
    tests = '- {from: "acme-eu\\n/alice", to: 10.20.0.5, expect: allow}\n'
    found = [r for r in rows(tmp_path, estate(tests_DOT_yaml=tests)) if r[2] == "tests.yaml"]
    assert found == [("schema", "error", "tests.yaml", 1, 10,
                      "from: 'acme-eu\n/alice' is not INSTANCE/PEER (a peer name or site id)")]


def test_positions_are_kept_for_recent_files_only() -> None:
    from compiler.loader import source as source_module

    files = [source_module.SourceFile(Path(f"f{i}.yaml"), f"a: 1\nb: {i}\n") for i in range(200)]
    before = Positions.composes
    for src in files:
        assert src.pos(("b",)) == (2, 4)
        assert src.pos(("a",), key=True) == (1, 1)  # the same file again: no second compose
    assert Positions.composes - before == 200
    assert len(source_module._RECENT) <= 64  # memory stays bounded in a tree of warnings


@pytest.mark.parametrize(("text", "line", "column"), [
    ('a: "x\u2028y"\nb: \x01\n', 2, 4),  # a line separator before it
    ("\u00e9\u00e9: \x01\n", 1, 5),  # libyaml counts bytes here; columns are characters
    ('a: "x\u2028y"\nb: &x 1\n', 2, 4),
])
def test_reader_and_anchor_errors_after_odd_characters(text: str, line: int, column: int) -> None:
    from compiler.loader.yamlread import YamlError, parse

    with pytest.raises(YamlError) as info:
        parse(text)
    assert (info.value.line, info.value.column) == (line, column)


def test_invalid_utf8_position_in_a_cr_only_file() -> None:
    from compiler.loader.yamlread import YamlError, decode

    with pytest.raises(YamlError) as info:
        decode("a: 1\rb: \u00e9\u00e9".encode() + b"\xff\r")
    assert (info.value.line, info.value.column) == (2, 6)


def test_other_files_are_scanned_one_at_a_time(tmp_path: Path) -> None:
    import tracemalloc

    files = estate(**{f"docs__blob{i}_DOT_txt": b"x" * (1 << 20) for i in range(24)})
    build_file_tree(tmp_path, files)  # type: ignore[arg-type]
    check(tmp_path)  # first: lazy imports and caches, which are not what is measured
    tracemalloc.start()
    try:
        result = check(tmp_path)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(result.estate.raw.others) == 24 and result.ok
    # 24 MiB of other files: never more than a few of them in memory at once (was all 24)
    assert peak < 8 << 20, peak
