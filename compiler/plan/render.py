"""Print a plan: text for terminals, Markdown (with a Mermaid diagram) for a PR, JSON for tools.

Values that come from the config tree (descriptions, users, anything in a field change)
are escaped for each target: visible escapes on a terminal, HTML entities inside
``<code>`` in Markdown (no Markdown, no HTML and no @-mention can come through), entity
codes in Mermaid labels.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable, Iterable
from typing import Any, Final, Literal

from compiler.plan.diff import (
    ADDED,
    CHANGED,
    REMOVED,
    Action,
    Change,
    ItemChange,
    PlanDiff,
    Rotation,
)
from compiler.terminal import neutralize, plural
from compiler.topology import mermaid

Format = Literal["text", "markdown", "json"]

MARK: Final = {ADDED: "+", REMOVED: "-", CHANGED: "~"}
#: The first line of a Markdown plan: CI finds its earlier comment by it and edits it.
MARKDOWN_MARKER: Final = "<!-- mvpn-plan -->"
_MD_SAFE: Final = re.compile(r"[A-Za-z0-9 .,:/_()+=\-]")


def _value(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False)


def _counts(changes: Iterable[Any]) -> dict[str, int]:
    out = {ADDED: 0, CHANGED: 0, REMOVED: 0}
    for c in changes:
        out[c.kind] += 1
    return out


def summary(d: PlanDiff) -> str:
    """One line: what changes, in numbers."""
    if d.empty:
        return "No changes: both trees compile to the same artifacts."
    p = _counts(d.peers)
    i = _counts(d.instances)
    parts = [f"{p[ADDED]} to add, {p[CHANGED]} to change, {p[REMOVED]} to remove"]
    text = f"Peers: {parts[0]}."
    if any(i.values()):
        text += f" Instances: {i[ADDED]} to add, {i[CHANGED]} to change, {i[REMOVED]} to remove."
    return (f"{text} {plural(len(d.artifacts), 'artifact')} change; "
            f"{plural(len(d.routers), 'router')} to re-run; "
            f"{plural(len(d.profiles), 'new profile')} to hand out.")


# --- text ----------------------------------------------------------------------------


def _text_changes(title: str, changes: list[Change]) -> list[str]:
    out = [title] if changes else []
    for c in changes:
        out.append(f"  {MARK[c.kind]} {c.key}  {c.summary}  ({c.file})")
        out.extend(f"      {f.field}: {_value(f.old)} -> {_value(f.new)}" for f in c.fields)
    return out


def _text_items(title: str, items: list[ItemChange]) -> list[str]:
    out = [title] if items else []
    out.extend(f"  {MARK[c.kind]} {c.instance} {c.item} ({c.owner})" for c in items)
    return out


def _text_actions(title: str, actions: list[Action]) -> list[str]:
    out = [title] if actions else []
    out.extend(f"  {MARK[a.kind]} {a.key} ({a.who}): {', '.join(a.artifacts)}" for a in actions)
    return out


def _text_rotations(rotations: list[Rotation]) -> list[str]:
    out = []
    for r in rotations:
        out.append(f"Hub key rotation {r.instance}: {r.title}")
        for g in r.groups:
            out += _text_actions(f"  {g.title}", g.peers)
    return out


def to_text(d: PlanDiff) -> str:
    """The plan for a terminal or a CI log."""
    out = [f"mvpn plan: {d.root} at {d.base} -> {d.head}", ""]
    if not d.empty:
        out += _text_changes("Instances", d.instances)
        out += _text_changes("Peers", d.peers)
        out += _text_items("Routes", d.routes)
        out += _text_items("Addresses", d.addresses)
        out += _text_items("DNS", d.dns)
        if d.artifacts:
            out.append(f"Artifacts ({d.secrets} build)")
            out.extend(f"  {MARK[a.kind]} {a.instance}/{a.path}" for a in d.artifacts)
        out += _text_actions("Hubs to redeploy", d.hubs)
        out += _text_actions("Routers to re-run their script", d.routers)
        out += _text_actions("Users who need a new profile", d.profiles)
        out += _text_actions("Retired (remove from the router or device)", d.retired)
        out += _text_rotations(d.rotations)
        out.append("")
    out.append(summary(d))
    return neutralize("\n".join(out) + "\n", keep="\n")


# --- markdown ------------------------------------------------------------------------


def code(text: str) -> str:
    """``text`` as inline code that Markdown and HTML cannot reinterpret."""
    safe = "".join(ch if _MD_SAFE.fullmatch(ch) else f"&#{ord(ch)};" for ch in text)
    return f"<code>{safe}</code>"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    if not rows:
        return []
    out = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    out.extend("| " + " | ".join(row) + " |" for row in rows)
    return [*out, ""]


def _md_changes(title: str, changes: list[Change]) -> list[str]:
    rows = []
    for c in changes:
        fields = "<br>".join(f"{code(f.field)}: {code(_value(f.old))} → {code(_value(f.new))}"
                             for f in c.fields)
        rows.append([MARK[c.kind], code(c.key), code(c.summary), code(c.file), fields])
    table = _table(["", "name", "what", "file", "fields"], rows)
    return [f"### {title}", "", *table] if table else []


def _md_items(title: str, items: list[ItemChange], owner: str) -> list[str]:
    rows = [[MARK[c.kind], code(c.instance), code(c.item), code(c.owner)] for c in items]
    table = _table(["", "instance", title.lower(), owner], rows)
    return [f"### {title}", "", *table] if table else []


def _md_actions(title: str, actions: list[Action], who: str) -> list[str]:
    rows = [[MARK[a.kind], code(a.key), code(a.who), ", ".join(code(p) for p in a.artifacts)]
            for a in actions]
    table = _table(["", "peer" if who != "hostname" else "instance", who, "artifacts"], rows)
    return [f"### {title}", "", *table] if table else []


def _diagram(d: PlanDiff) -> list[str]:
    """A Mermaid flowchart of the changed instances, peers and routes, coloured by change."""
    lines = ["flowchart LR"]
    classes: dict[str, list[str]] = {ADDED: [], REMOVED: [], CHANGED: []}
    ids: dict[str, str] = {}
    inst_kind = {c.key: c.kind for c in d.instances}
    touched = sorted({c.key.split("/")[0] for c in d.peers} | set(inst_kind)
                     | {r.instance for r in d.routes} | {a.instance for a in d.artifacts})
    for n, name in enumerate(touched, 1):
        ids[name] = f"i{n}"
        lines.append(mermaid.node(f"i{n}", "instance", [name]))
        if name in inst_kind:
            classes[inst_kind[name]].append(f"i{n}")
    for n, c in enumerate(d.peers, 1):
        inst, _, peer = c.key.partition("/")
        what = [f.field for f in c.fields]
        shape = "client" if c.summary.startswith("client") else "site"
        lines.append(mermaid.node(f"p{n}", shape, [peer, c.kind, *what[:4]]))
        lines.append(f"  {ids[inst]} --- p{n}")
        classes[c.kind].append(f"p{n}")
        ids[c.key] = f"p{n}"
    for n, r in enumerate(d.routes, 1):
        lines.append(mermaid.node(f"n{n}", "prefix", [r.item]))
        owner = ids.get(f"{r.instance}/{r.owner}", ids[r.instance])
        lines.append(f"  {owner} --> n{n}")
        classes[r.kind].append(f"n{n}")
    styles = {ADDED: "fill:#dafbe1,stroke:#1a7f37", REMOVED: "fill:#ffebe9,stroke:#cf222e",
              CHANGED: "fill:#fff8c5,stroke:#9a6700"}
    for kind, members in classes.items():
        lines.append(f"  classDef {kind} {styles[kind]}")
        if members:
            lines.append(f"  class {','.join(members)} {kind}")
    return ["```mermaid", *lines, "```", ""]


def to_markdown(d: PlanDiff) -> str:
    """The plan as a pull-request comment."""
    out = [MARKDOWN_MARKER, f"## mvpn plan for {code(d.root)}", "",
           f"{code(d.base)} → {code(d.head)} ({d.secrets} build)", "", f"**{summary(d)}**", ""]
    if d.empty:
        return "\n".join(out)
    out += _diagram(d)
    out += _md_changes("Instances", d.instances)
    out += _md_changes("Peers", d.peers)
    out += _md_items("Routes", d.routes, "advertised by")
    out += _md_items("Addresses", d.addresses, "peer")
    out += _md_items("DNS", d.dns, "kind")
    out += _md_actions("Hubs to redeploy", d.hubs, "hostname")
    out += _md_actions("Routers to re-run their script", d.routers, "site")
    out += _md_actions("Users who need a new profile", d.profiles, "user")
    out += _md_actions("Retired (remove from the router or device)", d.retired, "site or user")
    for r in d.rotations:
        out += [f"### Hub key rotation {code(r.instance)}: {code(r.title)}", ""]
        for g in r.groups:
            out += [code(g.title), "", *_table(
                ["peer", "site or user", "artifacts"],
                [[code(a.key), code(a.who), ", ".join(code(p) for p in a.artifacts)]
                 for a in g.peers])]
    rows = [[MARK[a.kind], code(f"{a.instance}/{a.path}"), code(a.old or "-"), code(a.new or "-")]
            for a in d.artifacts]
    out += ["<details><summary>Artifacts</summary>", "",
            *_table(["", "artifact", "old version", "new version"], rows), "</details>", ""]
    return "\n".join(out)


def to_json(d: PlanDiff) -> str:
    """The plan as one JSON object."""
    doc = dataclasses.asdict(d)
    doc["empty"] = d.empty
    doc["summary"] = summary(d)
    return json.dumps(doc, indent=2, ensure_ascii=True) + "\n"


RENDERERS: Final[dict[str, Callable[[PlanDiff], str]]] = {
    "text": to_text, "markdown": to_markdown, "json": to_json,
}


def render_plan(d: PlanDiff, fmt: str) -> str:
    """Render the plan in ``fmt`` (text, markdown or json)."""
    return RENDERERS[fmt](d)


#: GitHub refuses a comment body longer than this many characters.
GITHUB_COMMENT_LIMIT: Final = 65_536
_CUT_NOTE: Final = ("**The plan is longer than a GitHub comment allows: {cut} cut here.** "
                    "The full plan is in this workflow run (its job summary, and the "
                    "`mvpn-plan` artifact).")


def fit_comment(markdown: str, limit: int = GITHUB_COMMENT_LIMIT) -> str:
    """``markdown`` cut to at most ``limit`` characters at a line, with a note saying so.

    The plan puts its summary first, so a cut keeps what a reviewer reads first. A cut
    never leaves a Mermaid block or a ``<details>`` element open (GitHub would render the
    rest of the comment as code or hide it): an open fence is dropped with its block, an
    open ``<details>`` is closed.
    """
    if len(markdown) <= limit:
        return markdown
    lines = markdown.split("\n")
    reserve = len(_CUT_NOTE) + 64  # the note, its counts and a closing </details>
    kept: list[str] = []
    size = 0
    for line in lines:
        if size + len(line) + 1 > limit - reserve:
            break
        kept.append(line)
        size += len(line) + 1
    fences = [i for i, line in enumerate(kept) if line.startswith("```")]
    if len(fences) % 2:  # inside a code block: drop the block
        del kept[fences[-1]:]
    opened = sum(line.startswith("<details>") for line in kept)
    closed = sum(line.startswith("</details>") for line in kept)
    tail = ["</details>", ""] if opened > closed else []
    cut = len(lines) - len(kept)
    note = _CUT_NOTE.format(cut=f"{cut} line{'' if cut == 1 else 's'}")
    return "\n".join([*kept, *tail, "", note, ""])  # a blank line ends an open table
