r"""Render diagnostics for ``mvpn check --format text|json|github|sarif`` (SPEC §3, §6).

Every renderer is a pure function of its inputs: the diagnostics (already in
their stable order), the current directory (for display paths) and, for the
human format, a way to fetch a file's lines. Nothing here prints.

Diagnostics quote hostile input (file names, YAML keys and values), so the
formats meant for a terminal or a CI log (``text``, ``github``) never pass a
raw control character through: terminal escapes and other C0/C1 controls,
format characters (bidi overrides, zero-width spaces), line separators and
lone surrogates are shown as visible ``\x1b``-style escapes.
The JSON formats rely on JSON string escaping and are written in ASCII.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, Final, Literal
from urllib.parse import quote_from_bytes

from compiler.diagnostics import CODES, Diagnostic, Severity
from compiler.terminal import escape_char, is_unsafe, neutralize, plural

Format = Literal["text", "json", "github", "sarif"]
LineSource = Callable[[Path], Sequence[str] | None]

FORMATS: Final[tuple[Format, ...]] = ("text", "json", "github", "sarif")

SARIF_SCHEMA: Final = "https://json.schemastore.org/sarif-2.1.0.json"
SARIF_VERSION: Final = "2.1.0"
SRCROOT: Final = "%SRCROOT%"

# --- neutralising hostile text -------------------------------------------------------

_SURROGATES: Final = re.compile("[\ud800-\udfff]")


def _json_safe(text: str) -> str:
    """Replace lone surrogates (undecodable file names) by U+FFFD for strict JSON parsers."""
    return _SURROGATES.sub("\ufffd", text)


# --- paths ---------------------------------------------------------------------------


def display_path(path: Path, cwd: Path) -> str:
    """``path`` relative to ``cwd`` when it lies inside it, else absolute (SPEC §6).

    Separators are always ``/``. A symlinked ``cwd`` is also compared in its
    resolved form; ``path`` itself is never resolved (a diagnostic about a
    symlink must name the link, not its target).
    """
    if path.is_absolute():
        bases = [cwd]
        try:
            resolved = cwd.resolve()
        except OSError:  # pragma: no cover - unreadable cwd component
            resolved = cwd
        if resolved != cwd:
            bases.append(resolved)
        for base in bases:
            if base.is_absolute() and path.is_relative_to(base):
                return path.relative_to(base).as_posix()  # "." when path == base
    return path.as_posix()


# --- counting ------------------------------------------------------------------------


def _counts(diags: Sequence[Diagnostic]) -> tuple[int, int]:
    errors = sum(1 for d in diags if d.severity is Severity.ERROR)
    return errors, len(diags) - errors


def summary(errors: int, warnings: int) -> str:
    """``Found 2 errors and 1 warning.``; empty when there is nothing to report."""
    parts = []
    if errors:
        parts.append(plural(errors, "error"))
    if warnings:
        parts.append(plural(warnings, "warning"))
    return f"Found {' and '.join(parts)}." if parts else ""


# --- text ----------------------------------------------------------------------------

_RESET: Final = "\x1b[0m"
_BOLD: Final = "\x1b[1m"
_RED: Final = "\x1b[1;31m"
_YELLOW: Final = "\x1b[1;33m"
_BLUE: Final = "\x1b[1;34m"

#: Quoted source lines are cut to a window of this many terminal cells.
MAX_QUOTE_WIDTH: Final = 160
_QUOTE_LEAD: Final = 60  # cells kept before the caret when a long line is cut
_TAB: Final = "    "
_ELLIPSIS: Final = "..."


def _cells(ch: str) -> int:
    """Terminal cells taken by one (already neutralised) character."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def _display_units(line: str) -> list[tuple[str, int]]:
    """Each character of ``line`` as (what is shown, cells it takes)."""
    units = []
    for ch in line:
        if ch == "\t":
            units.append((_TAB, len(_TAB)))
        elif is_unsafe(ch):
            esc = escape_char(ch)
            units.append((esc, len(esc)))
        else:
            units.append((ch, _cells(ch)))
    return units


def quote_line(line: str, column: int) -> tuple[str, int, int]:
    """Lay out a source line for quoting: (text shown, caret offset, caret width).

    ``column`` is 1-based in characters; a column past the end points just after
    the last character. Tabs are expanded, unsafe characters escaped, wide
    characters counted twice, and a line wider than :data:`MAX_QUOTE_WIDTH`
    is cut to a window around the column, marked with ``...``.
    """
    units = _display_units(line)
    index = min(max(column, 1), len(units) + 1) - 1
    start, stop = 0, len(units)
    prefix = suffix = ""
    if sum(cells for _, cells in units) > MAX_QUOTE_WIDTH:
        lead = 0
        start = index
        while start > 0 and lead + units[start - 1][1] <= _QUOTE_LEAD:
            start -= 1
            lead += units[start][1]
        prefix = _ELLIPSIS if start > 0 else ""
        budget = MAX_QUOTE_WIDTH - len(prefix) - len(_ELLIPSIS)
        stop, used = start, 0
        while stop < len(units) and (used + units[stop][1] <= budget or stop <= index):
            used += units[stop][1]
            stop += 1
        suffix = _ELLIPSIS if stop < len(units) else ""
    offset = len(prefix) + sum(cells for _, cells in units[start:index])
    caret = max(units[index][1], 1) if index < len(units) else 1
    shown = prefix + "".join(text for text, _ in units[start:stop]) + suffix
    return shown.rstrip(), offset, caret


def _paint(text: str, style: str, color: bool) -> str:
    return f"{style}{text}{_RESET}" if color and text else text


def _group_by_file(diags: Sequence[Diagnostic]) -> list[Diagnostic]:
    """Diagnostics grouped by file, files in order of first appearance, stable inside."""
    groups: dict[Path, list[Diagnostic]] = {}
    for diag in diags:
        groups.setdefault(diag.file, []).append(diag)
    return [d for group in groups.values() for d in group]


def _render_text_one(diag: Diagnostic, cwd: Path, lines: LineSource, color: bool,
                     paths: dict[Path, str] | None = None) -> list[str]:
    sev_style = _RED if diag.severity is Severity.ERROR else _YELLOW
    if paths is None:
        paths = {}
    if diag.file not in paths:  # once per file: 10,000 diagnostics of one file, one lookup
        paths[diag.file] = display_path(diag.file, cwd)
    where = neutralize(f"{paths[diag.file]}:{diag.line}:{diag.column}:")
    label = f"{diag.severity.value}[{neutralize(diag.code)}]"
    out = [
        f"{_paint(where, _BOLD, color)} {_paint(label, sev_style, color)} "
        f"{neutralize(diag.message)}"
    ]
    source = lines(diag.file)
    if source is not None and 1 <= diag.line <= len(source):
        shown, offset, caret = quote_line(source[diag.line - 1], diag.column)
        number = str(diag.line)
        pad = " " * len(number)
        bar = _paint("|", _BLUE, color)
        out.append(f"{pad} {bar}")
        out.append(f"{_paint(number, _BLUE, color)} {bar} {shown}".rstrip())
        out.append(f"{pad} {bar} {' ' * offset}{_paint('^' * caret, sev_style, color)}")
    return out


def render_text(diags: Sequence[Diagnostic], *, cwd: Path, lines: LineSource, color: bool) -> str:
    """Human output in the style of ruff and rustc; empty on a clean tree."""
    if not diags:
        return ""
    out: list[str] = []
    paths: dict[Path, str] = {}
    for diag in _group_by_file(diags):
        out.extend(_render_text_one(diag, cwd, lines, color, paths))
        out.append("")
    out.append(_paint(summary(*_counts(diags)), _BOLD, color))
    return "\n".join(out) + "\n"


# --- json ----------------------------------------------------------------------------


def _dump(obj: Any) -> str:
    return json.dumps(obj, indent=2, ensure_ascii=True) + "\n"


def render_json(diags: Sequence[Diagnostic], *, cwd: Path) -> str:
    """One JSON object: ``{"diagnostics": [...], "errors": N, "warnings": N}`` (SPEC §6)."""
    errors, warnings = _counts(diags)
    return _dump(
        {
            "diagnostics": [
                {
                    "code": d.code,
                    "severity": d.severity.value,
                    "message": _json_safe(d.message),
                    "file": _json_safe(display_path(d.file, cwd)),
                    "line": d.line,
                    "column": d.column,
                }
                for d in diags
            ],
            "errors": errors,
            "warnings": warnings,
        }
    )


# --- github --------------------------------------------------------------------------


def github_escape_data(text: str) -> str:
    """Escape the message part of a workflow command (as ``@actions/core`` does)."""
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def github_escape_property(text: str) -> str:
    """Escape a property value of a workflow command (as ``@actions/core`` does)."""
    return github_escape_data(text).replace(":", "%3A").replace(",", "%2C")


def render_github(diags: Sequence[Diagnostic], *, cwd: Path) -> str:
    """One ``::error``/``::warning`` workflow command per diagnostic, nothing else.

    Newlines in a message survive as ``%0A`` (GitHub shows a multi-line
    annotation); every other unsafe character is neutralised first, since the
    runner would otherwise write it raw into the job log.
    """
    out = []
    for d in diags:
        props = ",".join(
            f"{name}={github_escape_property(neutralize(value))}"
            for name, value in (
                ("file", display_path(d.file, cwd)),
                ("line", str(d.line)),
                ("col", str(d.column)),
                ("title", d.code),
            )
        )
        message = github_escape_data(neutralize(d.message, keep="\r\n"))
        out.append(f"::{d.severity.value} {props}::{message}\n")
    return "".join(out)


# --- sarif ---------------------------------------------------------------------------


def _artifact_location(path: Path, cwd: Path) -> dict[str, str]:
    shown = display_path(path, cwd)
    if path.is_absolute() and Path(shown).is_absolute():
        return {"uri": path.as_uri()}
    raw = shown.encode("utf-8", "surrogateescape")  # undecodable names keep their bytes
    return {"uri": quote_from_bytes(raw, safe="/"), "uriBaseId": SRCROOT}


def _rule(code: str, severity: Severity) -> dict[str, Any]:
    return {
        "id": code,
        "shortDescription": {"text": CODES[code].summary if code in CODES else code},
        "defaultConfiguration": {
            "level": (CODES[code].severity if code in CODES else severity).value},
    }


def _rules(diags: Iterable[Diagnostic]) -> tuple[list[dict[str, Any]], dict[str, int]]:
    first: dict[str, Severity] = {}
    for d in diags:
        first.setdefault(d.code, d.severity)
    codes = sorted(first)
    return [_rule(c, first[c]) for c in codes], {c: i for i, c in enumerate(codes)}


def render_sarif(diags: Sequence[Diagnostic], *, cwd: Path, tool_version: str) -> str:
    """Render a SARIF 2.1.0 log with one run; relative URIs are based on ``%SRCROOT%``.

    Columns are counted in Unicode code points, which the run declares with
    ``columnKind``. No absolute base URI is written, so the log is reproducible.
    """
    rules, index = _rules(diags)
    results = [
        {
            "ruleId": d.code,
            "ruleIndex": index[d.code],
            "level": d.severity.value,
            "message": {"text": _json_safe(d.message)},
            "locations": [
                {
                    "physicalLocation": {
                        "artifactLocation": _artifact_location(d.file, cwd),
                        "region": {"startLine": d.line, "startColumn": d.column},
                    }
                }
            ],
        }
        for d in diags
    ]
    log = {
        "$schema": SARIF_SCHEMA,
        "version": SARIF_VERSION,
        "runs": [
            {
                "tool": {"driver": {"name": "mvpn", "version": tool_version, "rules": rules}},
                "columnKind": "unicodeCodePoints",
                "results": results,
            }
        ],
    }
    return _dump(log)


# --- entry point ---------------------------------------------------------------------


def render(
    diags: Sequence[Diagnostic],
    fmt: Format,
    *,
    cwd: Path,
    lines: LineSource,
    color: bool,
    tool_version: str,
) -> str:
    """Render ``diags`` (kept in the given order) in ``fmt``; the result ends with a newline.

    ``text`` and ``github`` are empty when there is nothing to report; ``json``
    and ``sarif`` always print one document. ``lines`` and ``color`` only
    matter for ``text``, ``tool_version`` only for ``sarif``.
    """
    if fmt == "text":
        return render_text(diags, cwd=cwd, lines=lines, color=color)
    if fmt == "json":
        return render_json(diags, cwd=cwd)
    if fmt == "github":
        return render_github(diags, cwd=cwd)
    if fmt == "sarif":
        return render_sarif(diags, cwd=cwd, tool_version=tool_version)
    raise ValueError(f"unknown output format {fmt!r}; expected one of {', '.join(FORMATS)}")
