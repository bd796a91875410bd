"""SPEC §5 "Injection-proof": no description can add a directive, a command or a line.

Hostile descriptions are either refused on input (a ``schema`` diagnostic at the description,
no traceback) or compiled into artifacts whose *structure*, as each target's own reader sees
it, is exactly that of the same tree with the plain description ``x``.
"""

from __future__ import annotations

import functools
import re
import tempfile
from collections.abc import Mapping
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from compiler.api import CompileResult, check, compile_tree
from tests.support.routeros import tokenize, validate
from tests.support.trees import INSTANCE, build_file_tree, client, estate, site
from tests.test_escaping import openvpn_parse_line

SECRET = b"mvpn-test-secret-0123456789abcdef"  # base64: tests' fixed MVPN_SECRET
INST = "acme-eu"
PEERS = ("berlin", "paris", "alice", "bob")  # wg site, ovpn site, wg client, ovpn client

WG_QUICK = ("hub/wireguard/wg0.conf", "sites/berlin.conf", "clients/alice.conf")
OPENVPN = ("hub/openvpn/server.conf", "hub/openvpn/ccd/paris", "hub/openvpn/ccd/bob",
           "sites/paris.ovpn", "clients/bob.ovpn")
RSC = ("sites/berlin.rsc", "sites/paris.rsc")
NFT = ("hub/nftables.conf",)

HOSTILE_CHARS = list(
    '"\'\\$[]{}();#?=` \t\n\r\x00\x07\x1b\x7f\x85\x9f\u00a0\u2028\u2029\u202e\ufeff'
    "\u00e9\u00df\u4e2d\U0001f600"
)
HOSTILE_CHUNKS = ["$x", "$[/system reboot]", "\\\n", '"; /x "', "\r\n#", "\n/ip route add", "\\n"]
PRINTABLE_HOSTILE = list(
    '"\'\\$[]{}();#?=` \u00a0\u200b\ufeff\u00e9\U0001f600'
)
DESCRIPTION = st.lists(
    st.one_of(st.sampled_from(HOSTILE_CHARS), st.sampled_from(HOSTILE_CHUNKS),
              st.characters(codec="utf-8"),
              st.text(alphabet=st.characters(codec="utf-8"), max_size=5)),
    max_size=40,
).map("".join) | st.text(alphabet=st.sampled_from(PRINTABLE_HOSTILE), min_size=198, max_size=202)


def tree_files(inst_desc: str, peer_descs: Mapping[str, str]) -> dict[str, object]:
    """The small estate with one peer of each kind, carrying the given descriptions."""
    def desc(text: str) -> dict[str, str]:
        return {"description": text}

    return estate(**{
        "acme-eu__instance_DOT_yaml": {**INSTANCE, **desc(inst_desc)},
        "acme-eu__peers__berlin_DOT_yaml": site(
            "berlin", "10.255.0.10", ["10.20.0.0/24"], **desc(peer_descs["berlin"])),
        "acme-eu__peers__paris_DOT_yaml": site(
            "paris", "10.254.0.10", ["10.21.0.0/24"], protocol="openvpn",
            **desc(peer_descs["paris"])),
        "acme-eu__peers__alice_DOT_yaml": client(
            "alice@example.com", "10.255.0.11", **desc(peer_descs["alice"])),
        "acme-eu__peers__bob_DOT_yaml": client(
            "bob@example.com", "10.254.0.11", protocol="openvpn", **desc(peer_descs["bob"])),
    })


#: Bidirectional formatting characters (Unicode TR9), refused in free text (issue 11 item 18).
BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def acceptable(text: str) -> bool:
    """What SPEC §2 admits: one line of printable text, at most 200 characters, no bidi."""
    return len(text) <= 200 and not any(
        ord(ch) < 0x20 or 0x7F <= ord(ch) <= 0x9F or ch in "\u2028\u2029" or ch in BIDI
        or 0xD800 <= ord(ch) <= 0xDFFF
        for ch in text
    )


def admissible(text: str) -> str:
    """``text`` without the characters a description may not hold, cut to 200."""
    return "".join(ch for ch in text if acceptable(ch))[:200]


def compile_into(workdir: Path, files: Mapping[str, object]) -> tuple[Path, CompileResult]:
    root = build_file_tree(workdir / "src", files)  # type: ignore[arg-type]
    out = workdir / "out"
    return out, compile_tree(root, out, SECRET, qr=False)


# --- structure of each artifact, as its reader sees it -------------------------------------

RscShape = list[tuple[tuple[str, ...], str, tuple[str, ...]]]


def rsc_shape(script: str) -> RscShape:
    """(menu path, command word, argument names) of every command, nested ones included."""
    return [(tuple(c.path), c.word, tuple(a.name for a in c.args))
            for top in tokenize(script) for c in top.walk()]


def wg_quick_shape(text: str) -> list[str]:
    """wg-quick drops ``#`` to end of line; what remains are sections and ``Key = value``."""
    lines = (ln.split("#", 1)[0].strip() for ln in text.splitlines())
    return [ln if ln.startswith("[") else ln.split("=", 1)[0].strip() for ln in lines if ln]


def openvpn_shape(text: str) -> list[list[str]]:
    """Every parameter of every directive line (inline ``<tag>`` blocks kept as one line)."""
    out: list[list[str]] = []
    inline: str | None = None
    for ln in text.splitlines():
        if inline is not None:
            if ln.strip() == f"</{inline}>":
                inline = None
            continue
        m = re.fullmatch(r"<([a-z-]+)>", ln.strip())
        if m:
            inline = m.group(1)
            out.append([ln.strip()])
            continue
        params = openvpn_parse_line(ln)
        if params:
            out.append(params)
    assert inline is None, "unterminated inline block"
    return out


def nft_shape(text: str) -> list[str]:
    lines = (ln.split("#", 1)[0].strip() for ln in text.splitlines())
    return [ln for ln in lines if ln]


@functools.cache
def baseline() -> dict[str, object]:
    """Shapes of every artifact of the tree whose descriptions are all ``x``."""
    with tempfile.TemporaryDirectory() as tmp:
        out, result = compile_into(Path(tmp), tree_files("x", dict.fromkeys(PEERS, "x")))
        assert result.build is not None, result.check.diagnostics.sorted()
        return {rel: shape_of(out, rel) for rel in (*WG_QUICK, *OPENVPN, *RSC, *NFT)}


def shape_of(out: Path, rel: str) -> object:
    """The structure of artifact ``rel`` of instance INST, parsed as its target reads it."""
    text = (out / INST / rel).read_text(encoding="utf-8")
    if rel in RSC:
        return rsc_shape(text)
    if rel in WG_QUICK:
        return wg_quick_shape(text)
    if rel in NFT:
        return nft_shape(text)
    return openvpn_shape(text)


def description_line(path: Path) -> int:
    """1-based line of the ``description:`` key in a YAML file we wrote."""
    for number, ln in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if ln.startswith("description:"):
            return number
    raise AssertionError(f"no description in {path}")


# --- the property --------------------------------------------------------------------------


def check_refused(root: Path, bad: dict[str, str]) -> None:
    """Every error is a ``schema`` error on the description of a file that has a bad one."""
    result = check(root)
    diags = [d for d in result.diagnostics.sorted() if d.severity.value == "error"]
    assert diags, "a hostile description was accepted"
    where = {(d.code, d.file.relative_to(root.resolve()).as_posix(), d.line) for d in diags}
    expected = {("schema", rel, description_line(root / rel)) for rel in bad}
    assert where == expected, [(d.code, d.message) for d in diags]


def check_compiled(out: Path, inst_desc: str, peer_descs: Mapping[str, str]) -> None:
    base = baseline()
    for rel in (*WG_QUICK, *OPENVPN, *RSC, *NFT):
        assert shape_of(out, rel) == base[rel], rel
    for peer in ("berlin", "paris"):
        script = (out / INST / "sites" / f"{peer}.rsc").read_text(encoding="utf-8")
        assert validate(script) == []
        desc = peer_descs[peer]
        commands = [c for top in tokenize(script) for c in top.walk()]
        comments = [a.value for c in commands for a in c.args
                    if a.name == "comment" and a.literal and a.value != "mvpn tunnels"]
        comments += [c.positionals[1] for c in commands  # the routes' comment, `:local rc`
                     if c.word == "local" and c.positionals[0] == "rc"]
        assert comments, "the script tags its objects"
        assert all(a.literal for c in commands for a in c.args  # else only $rc
                   if a.name == "comment" and a.raw != "$rc")
        for raw in comments:
            value = raw.encode("latin-1").decode("utf-8")
            head = re.match(f"mvpn:{re.escape(INST)}/{peer} #[0-9a-f]{{8}}", value)
            assert head is not None, value
            assert len(value.encode("utf-8")) <= 255  # RouterOS comment limit (see names.py)
            rest = value[head.end():]
            # The description verbatim, cut only where it would not fit.
            expected = f" {desc}" if desc else ""
            assert rest == expected or (rest and expected.startswith(rest)
                                        and len((value[:head.end()] + expected).encode()) > 255)
        assert all(not c.interpolations for top in tokenize(script) for c in top.walk())


@settings(max_examples=50, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.too_slow])
@given(inst_desc=DESCRIPTION, peer_descs=st.fixed_dictionaries(dict.fromkeys(PEERS, DESCRIPTION)),
       clean=st.booleans())
def test_hostile_descriptions_are_refused_or_inert(
    inst_desc: str, peer_descs: dict[str, str], clean: bool
) -> None:
    if clean:  # half the trees only keep what is admissible: exercise the compile path too
        inst_desc = admissible(inst_desc)
        peer_descs = {p: admissible(d) for p, d in peer_descs.items()}
    files = tree_files(inst_desc, peer_descs)
    bad = {rel: text for rel, text in [(f"{INST}/instance.yaml", inst_desc)] + [
        (f"{INST}/peers/{p}.yaml", d) for p, d in peer_descs.items()] if not acceptable(text)}
    with tempfile.TemporaryDirectory() as tmp:
        out, result = compile_into(Path(tmp), files)
        event("refused" if bad else "compiled")
        if bad:
            assert result.build is None
            assert not out.exists()
            check_refused(Path(tmp) / "src", bad)
        else:
            assert result.build is not None, result.check.diagnostics.sorted()
            check_compiled(out, inst_desc, peer_descs)


@pytest.mark.parametrize("desc", [
    '"; /system reset-configuration; :put "',
    "$[/system reboot] $x \\$ \\",
    "# [Peer] ; push \"route 0.0.0.0 0.0.0.0\" } {",
    "ends with a backslash \\",
    "ends with a backslash and blanks \\  ",
    "\U0001f600 unicode é \ufeff \u00a0 \u200b",
    "x" * 200,
])
def test_named_attacks_compile_inert(tmp_path: Path, desc: str) -> None:
    out, result = compile_into(tmp_path, tree_files(desc, dict.fromkeys(PEERS, desc)))
    assert result.build is not None, result.check.diagnostics.sorted()
    check_compiled(out, desc, dict.fromkeys(PEERS, desc))


# --- YAML-level attacks: escapes that decode to line breaks --------------------------------

YAML_ATTACKS = [
    '"a\\nb"',  # YAML escape for a newline
    '"a\\rb"',
    '"a\\u2028b"',
    '"a\\u2029b"',
    '"a\\x85b"',
    '"a\\Nb"',  # YAML's own escape for U+0085
    '"a\\Lb"',  # ... for U+2028
    '"a\\tb"',
    '"a\\0b"',
    '"a\\x7fb"',
    '"a\\eb"',
    "|\n  a\n  b",  # a literal block: two lines
    '"' + "y" * 201 + '"',
]


@pytest.mark.parametrize("where", ["instance", "peer"])
@pytest.mark.parametrize("scalar", YAML_ATTACKS)
def test_yaml_escapes_into_descriptions_are_refused(
    tmp_path: Path, scalar: str, where: str
) -> None:
    files = tree_files("x", dict.fromkeys(PEERS, "x"))
    rel = f"{INST}/instance.yaml" if where == "instance" else f"{INST}/peers/berlin.yaml"
    doc = yaml.safe_dump({k: v for k, v in files[rel].items()  # type: ignore[attr-defined]
                          if k != "description"}, sort_keys=False)
    files[rel] = f"{doc}description: {scalar}\n"
    root = build_file_tree(tmp_path / "src", files)  # type: ignore[arg-type]
    line = len(doc.splitlines()) + 1
    result = check(root)
    got = [(d.code, d.file.relative_to(root.resolve()).as_posix(), d.line)
           for d in result.diagnostics.sorted()]
    assert got == [("schema", rel, line)]
    out = tmp_path / "out"
    assert compile_tree(root, out, SECRET, qr=False).build is None
    assert not out.exists()


def test_two_hundred_characters_are_allowed(tmp_path: Path) -> None:
    files = tree_files("x" * 200, dict.fromkeys(PEERS, "é" * 200))
    root = build_file_tree(tmp_path / "src", files)  # type: ignore[arg-type]
    assert check(root).ok
