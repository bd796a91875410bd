"""Diagnostic output formats of ``mvpn check --format text|json|github|sarif``."""

from __future__ import annotations

import json
import os
import sys
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.cli.output import (
    MAX_QUOTE_WIDTH,
    display_path,
    github_escape_data,
    github_escape_property,
    quote_line,
    render,
    summary,
)
from compiler.diagnostics import Diagnostic, Severity
from compiler.terminal import neutralize
from tests.support.tools import skip_or_fail

VERSION = "0.1.0"
INSTANCE_YAML = "hostname: vpn\nregion: fra\n"
PEER_YAML = "type: site\nsite: berlin\nsubnets: [10.20.0.0/24]\n"


def _lines_from_disk(path: Path) -> Sequence[str] | None:
    return path.read_text(encoding="utf-8").splitlines() if path.is_file() else None


def _no_lines(path: Path) -> Sequence[str] | None:
    return None


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    (tmp_path / "sites" / "acme-eu" / "peers").mkdir(parents=True)
    (tmp_path / "sites" / "acme-eu" / "instance.yaml").write_text(INSTANCE_YAML)
    (tmp_path / "sites" / "acme-eu" / "peers" / "berlin.yaml").write_text(PEER_YAML)
    return tmp_path


def two(root: Path) -> list[Diagnostic]:
    return [
        Diagnostic(
            "hostname-reserved",
            Severity.ERROR,
            'hostname "vpn" is reserved; choose another',
            root / "sites" / "acme-eu" / "instance.yaml",
            1,
            11,
        ),
        Diagnostic(
            "route-cross-instance",
            Severity.WARNING,
            "10.20.0.0/24 is also advertised by paris on acme-us",
            root / "sites" / "acme-eu" / "peers" / "berlin.yaml",
            3,
            11,
        ),
    ]


def out(
    diags: Sequence[Diagnostic],
    fmt: Any,
    cwd: Path,
    *,
    color: bool = False,
    lines: Any = _lines_from_disk,
) -> str:
    return render(diags, fmt, cwd=cwd, lines=lines, color=color, tool_version=VERSION)


# --- display paths ---------------------------------------------------------------------


def test_display_path_relative_inside_cwd(tmp_path: Path) -> None:
    assert display_path(tmp_path / "sites" / "a.yaml", tmp_path) == "sites/a.yaml"
    assert display_path(tmp_path, tmp_path) == "."


def test_display_path_absolute_outside_cwd(tmp_path: Path) -> None:
    other = tmp_path / "elsewhere"
    target = tmp_path / "tree" / "a.yaml"
    assert display_path(target, other) == target.as_posix()
    # a sibling with a common string prefix is not "inside"
    assert display_path(tmp_path / "tree2" / "a.yaml", tmp_path / "tree") == (
        (tmp_path / "tree2" / "a.yaml").as_posix()
    )


def test_display_path_symlinked_cwd(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real, target_is_directory=True)
    assert display_path(real.resolve() / "sites" / "a.yaml", link) == "sites/a.yaml"


# --- summary ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errors", "warnings", "expected"),
    [
        (0, 0, ""),
        (1, 0, "Found 1 error."),
        (2, 0, "Found 2 errors."),
        (0, 1, "Found 1 warning."),
        (0, 3, "Found 3 warnings."),
        (1, 1, "Found 1 error and 1 warning."),
        (2, 3, "Found 2 errors and 3 warnings."),
    ],
)
def test_summary(errors: int, warnings: int, expected: str) -> None:
    assert summary(errors, warnings) == expected


# --- text ------------------------------------------------------------------------------

EXPECTED_TEXT = """\
sites/acme-eu/instance.yaml:1:11: error[hostname-reserved] hostname "vpn" is reserved; choose another
  |
1 | hostname: vpn
  |           ^

sites/acme-eu/peers/berlin.yaml:3:11: warning[route-cross-instance] 10.20.0.0/24 is also advertised by paris on acme-us
  |
3 | subnets: [10.20.0.0/24]
  |           ^

Found 1 error and 1 warning.
"""


def test_text_exact(tree: Path) -> None:
    assert out(two(tree), "text", tree) == EXPECTED_TEXT


def test_text_clean_tree_prints_nothing(tree: Path) -> None:
    assert out([], "text", tree) == ""
    assert out([], "text", tree, color=True) == ""


def test_text_absolute_path_outside_cwd(tree: Path) -> None:
    cwd = tree / "somewhere-else"
    first = out(two(tree)[:1], "text", cwd).splitlines()[0]
    assert first.startswith(f"{(tree / 'sites/acme-eu/instance.yaml').as_posix()}:1:11: error[")


def test_text_without_source_lines(tree: Path) -> None:
    assert out(two(tree), "text", tree, lines=_no_lines) == (
        'sites/acme-eu/instance.yaml:1:11: error[hostname-reserved] hostname "vpn" is reserved;'
        " choose another\n\n"
        "sites/acme-eu/peers/berlin.yaml:3:11: warning[route-cross-instance] 10.20.0.0/24 is"
        " also advertised by paris on acme-us\n\n"
        "Found 1 error and 1 warning.\n"
    )


def test_text_line_out_of_range_has_no_quote(tree: Path) -> None:
    diag = Diagnostic("schema", Severity.ERROR, "m", tree / "sites/acme-eu/instance.yaml", 99, 1)
    assert out([diag], "text", tree) == (
        "sites/acme-eu/instance.yaml:99:1: error[schema] m\n\nFound 1 error.\n"
    )


def test_text_groups_by_file(tree: Path) -> None:
    a, b = tree / "a.yaml", tree / "b.yaml"
    diags = [
        Diagnostic("schema", Severity.ERROR, "one", a, 1, 1),
        Diagnostic("schema", Severity.ERROR, "two", b, 1, 1),
        Diagnostic("schema", Severity.ERROR, "three", a, 2, 1),
    ]
    headers = [ln for ln in out(diags, "text", tree, lines=_no_lines).splitlines() if ln]
    assert headers == [
        "a.yaml:1:1: error[schema] one",
        "a.yaml:2:1: error[schema] three",
        "b.yaml:1:1: error[schema] two",
        "Found 3 errors.",
    ]


def test_text_color_only_when_asked(tree: Path) -> None:
    plain = out(two(tree), "text", tree)
    colored = out(two(tree), "text", tree, color=True)
    assert "\x1b" not in plain
    assert "\x1b[1;31merror[hostname-reserved]\x1b[0m" in colored
    assert "\x1b[1;33mwarning[route-cross-instance]\x1b[0m" in colored
    assert "\x1b[1mFound 1 error and 1 warning.\x1b[0m" in colored
    # stripping the SGR sequences gives back the plain output
    stripped = colored
    for sgr in ("\x1b[0m", "\x1b[1m", "\x1b[1;31m", "\x1b[1;33m", "\x1b[1;34m"):
        stripped = stripped.replace(sgr, "")
    assert stripped == plain


def test_text_neutralises_control_characters(tmp_path: Path) -> None:
    path = tmp_path / "evil\x1b[2J.yaml"
    path.write_text('description: "\x1b]0;pwned\x07\u202eabc"\n', encoding="utf-8")
    diag = Diagnostic(
        "schema",
        Severity.ERROR,
        "bad value '\x1b[31mred\x1b[0m'\nfake.yaml:1:1: error",
        path,
        1,
        14,
    )
    text = out([diag], "text", tmp_path)
    assert text == (
        "evil\\x1b[2J.yaml:1:14: error[schema] bad value '\\x1b[31mred\\x1b[0m'\\n"
        "fake.yaml:1:1: error\n"
        "  |\n"
        '1 | description: "\\x1b]0;pwned\\x07\\u202eabc"\n'
        "  |              ^\n"
        "\n"
        "Found 1 error.\n"
    )
    colored = out([diag], "text", tmp_path, color=True)
    assert "\x07" not in colored
    assert "\u202e" not in colored
    assert "\x1b[2J" not in colored
    assert "\x1b[31mred" not in colored


def _unsafe(ch: str) -> bool:
    return unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Zl", "Zp")


@settings(max_examples=300, deadline=None)
@given(message=st.text(), source=st.text(), column=st.integers(1, 400))
def test_text_never_emits_raw_controls(message: str, source: str, column: int) -> None:
    path = Path("/nowhere/x.yaml")
    lines = source.split("\n")  # any other control character stays inside a line
    diag = Diagnostic("schema", Severity.ERROR, message, path, 1, column)
    text = render(
        [diag],
        "text",
        cwd=Path("/nowhere"),
        lines=lambda p: lines,
        color=False,
        tool_version=VERSION,
    )
    assert text.endswith("\n")
    assert not [ch for ch in text if _unsafe(ch) and ch != "\n"]
    # header, gutter, quoted line, caret, blank, summary: nothing can add a line
    assert text.count("\n") == 6


# --- quoting ---------------------------------------------------------------------------


def test_quote_line_plain_and_past_end() -> None:
    assert quote_line("hostname: vpn", 11) == ("hostname: vpn", 10, 1)
    assert quote_line("abc", 4) == ("abc", 3, 1)  # just after the last character
    assert quote_line("abc", 50) == ("abc", 3, 1)
    assert quote_line("", 1) == ("", 0, 1)


def test_quote_line_tabs_wide_and_escaped_characters() -> None:
    assert quote_line("\tx", 2) == ("    x", 4, 1)
    assert quote_line("名前: x", 5) == ("名前: x", 6, 1)  # two wide characters before
    assert quote_line("a\x1bb", 2) == ("a\\x1bb", 1, 4)  # caret spans the escape
    assert quote_line("e\u0301x", 3) == ("e\u0301x", 1, 1)  # combining accent has no width


def test_quote_line_long_line_is_windowed() -> None:
    line = "k: " + "a" * 500 + "X" + "b" * 500
    column = line.index("X") + 1
    shown, offset, caret = quote_line(line, column)
    assert len(shown) == MAX_QUOTE_WIDTH
    assert shown.startswith("...") and shown.endswith("...")
    assert shown[offset] == "X" and caret == 1
    start_shown, start_offset, _ = quote_line(line, 1)
    assert start_shown.startswith("k: aaa") and start_shown.endswith("...")
    assert start_offset == 0 and len(start_shown) == MAX_QUOTE_WIDTH


# --- json ------------------------------------------------------------------------------

EXPECTED_JSON = """\
{
  "diagnostics": [
    {
      "code": "hostname-reserved",
      "severity": "error",
      "message": "hostname \\"vpn\\" is reserved; choose another",
      "file": "sites/acme-eu/instance.yaml",
      "line": 1,
      "column": 11
    },
    {
      "code": "route-cross-instance",
      "severity": "warning",
      "message": "10.20.0.0/24 is also advertised by paris on acme-us",
      "file": "sites/acme-eu/peers/berlin.yaml",
      "line": 3,
      "column": 11
    }
  ],
  "errors": 1,
  "warnings": 1
}
"""


def test_json_exact(tree: Path) -> None:
    assert out(two(tree), "json", tree) == EXPECTED_JSON


def test_json_shape(tree: Path) -> None:
    doc = json.loads(out(two(tree), "json", tree.parent))
    assert list(doc) == ["diagnostics", "errors", "warnings"]
    for item in doc["diagnostics"]:
        assert list(item) == ["code", "severity", "message", "file", "line", "column"]
        assert isinstance(item["line"], int) and isinstance(item["column"], int)
    # cwd is the parent of the tree: paths stay relative, through the tree's folder
    assert doc["diagnostics"][0]["file"] == f"{tree.name}/sites/acme-eu/instance.yaml"


def test_json_absolute_path_outside_cwd(tree: Path) -> None:
    doc = json.loads(out(two(tree), "json", tree / "elsewhere"))
    assert doc["diagnostics"][0]["file"] == (tree / "sites/acme-eu/instance.yaml").as_posix()


def test_json_empty() -> None:
    assert json.loads(out([], "json", Path("/"))) == {
        "diagnostics": [],
        "errors": 0,
        "warnings": 0,
    }


def test_json_hostile_text_round_trips(tmp_path: Path) -> None:
    message = "ümlaut \x1b[31m\n\u202e \ud800 end"
    diag = Diagnostic("schema", Severity.ERROR, message, tmp_path / "a.yaml", 1, 1)
    text = out([diag], "json", tmp_path)
    assert text.isascii() and "\x1b" not in text
    assert json.loads(text)["diagnostics"][0]["message"] == message.replace("\ud800", "\ufffd")


# --- github ----------------------------------------------------------------------------

EXPECTED_GITHUB = (
    "::error file=sites/acme-eu/instance.yaml,line=1,col=11,title=hostname-reserved::"
    'hostname "vpn" is reserved; choose another\n'
    "::warning file=sites/acme-eu/peers/berlin.yaml,line=3,col=11,title=route-cross-instance::"
    "10.20.0.0/24 is also advertised by paris on acme-us\n"
)


def test_github_exact(tree: Path) -> None:
    assert out(two(tree), "github", tree) == EXPECTED_GITHUB


def test_github_clean_prints_nothing() -> None:
    assert out([], "github", Path("/")) == ""


def test_github_escaping(tmp_path: Path) -> None:
    path = tmp_path / "we,ird:100%.yaml"
    diag = Diagnostic("schema", Severity.WARNING, "50% done\r\nnext: a,b \x1b[1m", path, 2, 3)
    assert out([diag], "github", tmp_path) == (
        "::warning file=we%2Cird%3A100%25.yaml,line=2,col=3,title=schema::"
        "50%25 done%0D%0Anext: a,b \\x1b[1m\n"
    )


def _runner_unescape_data(text: str) -> str:
    # actions/runner ActionCommand: %0D, %0A, then %25 last
    return text.replace("%0D", "\r").replace("%0A", "\n").replace("%25", "%")


def _runner_unescape_property(text: str) -> str:
    return (
        text.replace("%0D", "\r")
        .replace("%0A", "\n")
        .replace("%3A", ":")
        .replace("%2C", ",")
        .replace("%25", "%")
    )


def _runner_parse(line: str) -> tuple[str, dict[str, str], str]:
    """Parse a workflow command the way actions/runner does (ActionCommand.TryParseV2)."""
    assert line.startswith("::")
    end = line.index("::", 2)
    info, data = line[2:end], line[end + 2 :]
    name, _, props = info.partition(" ")
    properties = {}
    for pair in props.split(","):
        key, sep, value = pair.partition("=")
        assert sep, pair
        properties[key] = _runner_unescape_property(value)
    return name, properties, _runner_unescape_data(data)


_file_names = st.text(min_size=1).filter(lambda s: "/" not in s and s not in (".", ".."))


@settings(max_examples=300, deadline=None)
@given(message=st.text(), name=_file_names, error=st.booleans())
def test_github_round_trip(message: str, name: str, error: bool) -> None:
    cwd = Path("/work/repo")
    severity = Severity.ERROR if error else Severity.WARNING
    diag = Diagnostic("route-overlap", severity, message, cwd / "sites" / name, 7, 9)
    text = render([diag], "github", cwd=cwd, lines=_no_lines, color=False, tool_version=VERSION)
    assert text.endswith("\n") and text.count("\n") == 1
    line = text[:-1]
    assert "\r" not in line
    assert not [ch for ch in line if _unsafe(ch)]
    command, props, data = _runner_parse(line)
    assert command == severity.value
    assert props == {
        "file": neutralize(f"sites/{name}"),
        "line": "7",
        "col": "9",
        "title": "route-overlap",
    }
    assert data == neutralize(message, keep="\r\n")
    if not [ch for ch in message if _unsafe(ch) and ch not in "\r\n"]:
        assert data == message  # exact round trip for anything but control characters


@given(st.text())
def test_github_escape_functions(text: str) -> None:
    assert _runner_unescape_data(github_escape_data(text)) == text
    prop = github_escape_property(text)
    assert _runner_unescape_property(prop) == text
    assert not set(prop) & {",", ":", "\r", "\n"}


# --- sarif -----------------------------------------------------------------------------

# A focused schema for the part of SARIF 2.1.0 that mvpn writes, transcribed from the
# official OASIS schema (same required members, enums, minimums and, where we use an
# object, additionalProperties: false over its official member list).
_MESSAGE = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "text": {"type": "string"},
        "markdown": {"type": "string"},
        "id": {"type": "string"},
        "arguments": {"type": "array"},
        "properties": {"type": "object"},
    },
    "anyOf": [{"required": ["text"]}, {"required": ["id"]}],
}
_MULTIFORMAT = {
    "type": "object",
    "additionalProperties": False,
    "required": ["text"],
    "properties": {
        "text": {"type": "string"},
        "markdown": {"type": "string"},
        "properties": {"type": "object"},
    },
}
_LEVEL = {"enum": ["none", "note", "warning", "error"]}
SARIF_SUBSET_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-07/schema#",
    "type": "object",
    "additionalProperties": False,
    "required": ["version", "runs"],
    "properties": {
        "$schema": {"type": "string", "format": "uri"},
        "version": {"enum": ["2.1.0"]},
        "runs": {"type": "array", "items": {"$ref": "#/definitions/run"}},
        "inlineExternalProperties": {"type": "array"},
        "properties": {"type": "object"},
    },
    "definitions": {
        "run": {
            "type": "object",
            "required": ["tool"],
            "properties": {
                "tool": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["driver"],
                    "properties": {
                        "driver": {"$ref": "#/definitions/toolComponent"},
                        "extensions": {"type": "array"},
                        "properties": {"type": "object"},
                    },
                },
                "results": {"type": "array", "items": {"$ref": "#/definitions/result"}},
                "columnKind": {"enum": ["utf16CodeUnits", "unicodeCodePoints"]},
                "originalUriBaseIds": {"type": "object"},
            },
        },
        "toolComponent": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"type": "string"},
                "version": {"type": "string"},
                "informationUri": {"type": "string", "format": "uri"},
                "rules": {
                    "type": "array",
                    "uniqueItems": True,
                    "items": {"$ref": "#/definitions/reportingDescriptor"},
                },
            },
        },
        "reportingDescriptor": {
            "type": "object",
            "required": ["id"],
            "properties": {
                "id": {"type": "string"},
                "shortDescription": _MULTIFORMAT,
                "fullDescription": _MULTIFORMAT,
                "defaultConfiguration": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "enabled": {"type": "boolean"},
                        "level": _LEVEL,
                        "rank": {"type": "number"},
                        "parameters": {"type": "object"},
                        "properties": {"type": "object"},
                    },
                },
            },
        },
        "result": {
            "type": "object",
            "required": ["message"],
            "properties": {
                "ruleId": {"type": "string"},
                "ruleIndex": {"type": "integer", "minimum": -1},
                "level": _LEVEL,
                "message": _MESSAGE,
                "locations": {"type": "array", "items": {"$ref": "#/definitions/location"}},
            },
        },
        "location": {
            "type": "object",
            "properties": {"physicalLocation": {"$ref": "#/definitions/physicalLocation"}},
        },
        "physicalLocation": {
            "type": "object",
            "anyOf": [{"required": ["address"]}, {"required": ["artifactLocation"]}],
            "properties": {
                "artifactLocation": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "uri": {"type": "string", "format": "uri-reference"},
                        "uriBaseId": {"type": "string"},
                        "index": {"type": "integer", "minimum": -1},
                        "description": _MESSAGE,
                        "properties": {"type": "object"},
                    },
                },
                "region": {
                    "type": "object",
                    "properties": {
                        "startLine": {"type": "integer", "minimum": 1},
                        "startColumn": {"type": "integer", "minimum": 1},
                        "endLine": {"type": "integer", "minimum": 1},
                        "endColumn": {"type": "integer", "minimum": 1},
                    },
                },
            },
        },
    },
}


def _official_sarif_schema() -> dict[str, Any] | None:
    """The official OASIS SARIF 2.1.0 schema, when one is available offline.

    No installable PyPI package ships it in a wheel; point ``MVPN_SARIF_SCHEMA`` at a
    copy (for example the ``sarif-schema-2.1.0.json`` in the sarif-pydantic sdist)
    or vendor it as ``tests/data/sarif-schema-2.1.0.json``.
    """
    env = os.environ.get("MVPN_SARIF_SCHEMA")
    candidates = [Path(env)] if env else []
    candidates.append(Path(__file__).parent / "data" / "sarif-schema-2.1.0.json")
    # `make test` extracts it into the venv (scripts/sarif-schema.sh).
    candidates.append(Path(sys.prefix) / "share" / "sarif-schema-2.1.0.json")
    for path in candidates:
        if path.is_file():
            schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            assert "SARIF" in schema.get("title", "") and "2.1.0" in schema["title"]
            return schema
    return None


def _mixed(tree: Path) -> list[Diagnostic]:
    return [
        *two(tree),
        Diagnostic(
            "route-overlap",
            Severity.ERROR,
            "overlaps 10.20.0.0/25 of paris",
            tree / "sites" / "acme-eu" / "peers" / "berlin.yaml",
            3,
            11,
        ),
        Diagnostic(
            "file-unsafe",
            Severity.ERROR,
            "symlink leaves the tree",
            Path("/etc/outside dir/x#1.yaml"),
            1,
            1,
        ),
        Diagnostic("hostname-reserved", Severity.ERROR, "again", tree / "a b%:ü.yaml", 2, 1),
        Diagnostic("schema", Severity.ERROR, "hostile \x1b[31m\u202e\ud800", tree / "x.yaml", 1, 1),
    ]


def test_sarif_exact(tree: Path) -> None:
    doc = json.loads(out(two(tree), "sarif", tree))

    def result(code: str, index: int, level: str, text: str, uri: str, line: int) -> Any:
        return {
            "ruleId": code,
            "ruleIndex": index,
            "level": level,
            "message": {"text": text},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"},
                        "region": {"startLine": line, "startColumn": 11},
                    }
                }
            ],
        }

    assert doc == {
        "$schema": "https://json.schemastore.org/sarif-2.1.0.json",
        "version": "2.1.0",
        "runs": [
            {
                "tool": {
                    "driver": {
                        "name": "mvpn",
                        "version": VERSION,
                        "rules": [
                            {
                                "id": "hostname-reserved",
                                "shortDescription": {"text": "Hostname is reserved"},
                                "defaultConfiguration": {"level": "error"},
                            },
                            {
                                "id": "route-cross-instance",
                                "shortDescription": {
                                    "text": "Overlapping prefixes advertised by sites on different instances"
                                },
                                "defaultConfiguration": {"level": "warning"},
                            },
                        ],
                    }
                },
                "columnKind": "unicodeCodePoints",
                "results": [
                    result(
                        "hostname-reserved",
                        0,
                        "error",
                        'hostname "vpn" is reserved; choose another',
                        "sites/acme-eu/instance.yaml",
                        1,
                    ),
                    result(
                        "route-cross-instance",
                        1,
                        "warning",
                        "10.20.0.0/24 is also advertised by paris on acme-us",
                        "sites/acme-eu/peers/berlin.yaml",
                        3,
                    ),
                ],
            }
        ],
    }


def test_sarif_uris_and_rules(tree: Path) -> None:
    text = out(_mixed(tree), "sarif", tree)
    assert text.endswith("}\n") and text.isascii()
    run = json.loads(text)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == sorted({d.code for d in _mixed(tree)})
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
    locations = [r["locations"][0]["physicalLocation"]["artifactLocation"] for r in run["results"]]
    assert locations[3] == {"uri": "file:///etc/outside%20dir/x%231.yaml"}
    assert locations[4] == {"uri": "a%20b%25%3A%C3%BC.yaml", "uriBaseId": "%SRCROOT%"}
    assert run["results"][5]["message"]["text"] == "hostile \x1b[31m\u202e\ufffd"


def test_sarif_empty_is_a_valid_log() -> None:
    doc = json.loads(out([], "sarif", Path("/")))
    assert doc["runs"][0]["results"] == [] and doc["runs"][0]["tool"]["driver"]["rules"] == []
    jsonschema.Draft7Validator(SARIF_SUBSET_SCHEMA).validate(doc)


def test_sarif_matches_focused_schema(tree: Path) -> None:
    doc = json.loads(out(_mixed(tree), "sarif", tree))
    validator = jsonschema.Draft7Validator(
        SARIF_SUBSET_SCHEMA, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    validator.validate(doc)
    # the focused schema does catch a wrong member name or a bad level
    broken = json.loads(json.dumps(doc))
    broken["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"][
        "url"
    ] = "x"
    assert list(validator.iter_errors(broken))
    broken = json.loads(json.dumps(doc))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    assert list(validator.iter_errors(broken))


def test_sarif_validates_against_official_schema(tree: Path) -> None:
    schema = _official_sarif_schema()
    if schema is None:
        skip_or_fail("official SARIF 2.1.0 schema not available offline (see MVPN_SARIF_SCHEMA)")
    validator = jsonschema.Draft7Validator(
        schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER
    )
    for diags in ([], two(tree), _mixed(tree)):
        validator.validate(json.loads(out(diags, "sarif", tree)))


# --- dispatch --------------------------------------------------------------------------


def test_unknown_format_is_rejected() -> None:
    with pytest.raises(ValueError, match="unknown output format"):
        out([], "xml", Path("/"))


@pytest.mark.parametrize("fmt", ["text", "json", "github", "sarif"])
def test_output_is_deterministic(tree: Path, fmt: str) -> None:
    assert out(_mixed(tree), fmt, tree) == out(_mixed(tree), fmt, tree)
