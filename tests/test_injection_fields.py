"""Issue 11 / SPEC §5: a hostile value in *any* field is refused at its line or is inert.

Every field of every file kind that reaches an artifact (and the address fields that do not)
gets hostile strings: line breaks and directives of each output language, comment and quote
characters, RouterOS interpolation, zone ids, IPv4-mapped forms, non-integers and
non-booleans. Each example is either

- refused: ``mvpn check`` reports errors, every one of them in that file at that field's line,
  and ``mvpn compile`` writes nothing; or
- compiled to artifacts that the real consumers read exactly as the clean tree's:
  wg-quick's own parser (hub ``wg0.conf``, site ``.conf``, client ``.conf``), ``nft -f`` in a
  throwaway network namespace, ``dnsmasq --test``, OpenVPN's own option parser (server,
  site and client configs) and the RouterOS tokenizer (``.rsc``). OpenVPN reads ``ccd/``
  files only when a client connects, with options a ``--config`` may not hold (``iroute``),
  so those go through the model of its tokenizer (``openvpn_parse_line``) instead.

Comments are what consumers drop, so a description may change them; the RouterOS
``comment=`` value (which carries the description) is the one argument not compared.
Artifacts whose bytes equal the clean build's need no consumer to read them the same way.
"""

from __future__ import annotations

import copy
import functools
import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import pytest
import yaml
from hypothesis import HealthCheck, currently_in_test_context, event, given, settings
from hypothesis import strategies as st

from compiler.api import check, compile_tree
from tests.support import consumers
from tests.support.routeros import tokenize, validate
from tests.support.trees import TEST_SECRET, build_file_tree
from tests.test_escaping import openvpn_parse_line

KEY = "<key>"  # a path ending in KEY names the mapping key before it, not its value

#: The clean tree: two hubs so that both DNS paths are covered (dns.servers pushed to the
#: clients, and a hub resolver with records and split DNS); every artifact family appears.
TREE: dict[str, Any] = {
    "vpn.yaml": {
        "domain": "vpn.example.net", "regions": ["fra", "iad"],
        "reserved_prefixes": ["192.168.0.0/16"],
        "policy": {"min_prefix_v4": 16, "min_prefix_v6": 48},
        "defaults": {"routeros": "7.16", "keepalive": 25},
    },
    "acme-eu/instance.yaml": {
        "hostname": "acme-eu", "region": "fra", "description": "Frankfurt hub",
        "wireguard": {"port": 51820, "network": "10.255.0.0/24", "network6": "fd00:255::/64"},
        "openvpn": {"port": 1194, "transport": "udp", "network": "10.254.0.0/24"},
        "routing": {"pushed_routes": ["10.0.0.0/16", "fd00:1::/64"], "egress": "nat"},
        "dns": {"servers": ["10.0.0.53", "fd00:1::53"], "domains": ["corp.example"],
                "split": False},
        "firewall": {"default": "allow", "rules": [
            {"action": "deny", "protocol": "tcp", "ports": "22,3389", "source": "clients",
             "destination": "10.20.0.0/16", "description": "no admin ports"},
            {"action": "allow", "protocol": "any", "source": "berlin-office",
             "destination": "fd00:1::/64"},
        ]},
        "key_epoch": 1,
    },
    "acme-eu/peers/berlin.yaml": {
        "type": "site", "site": "berlin-office", "protocol": "wireguard",
        "subnets": ["10.20.0.0/24", "2001:db8:20::/64"], "address": "10.255.0.10",
        "address6": "fd00:255::10", "allow_broad": False, "routeros": "7.18",
        "description": "Berlin office", "key_epoch": 1,
    },
    "acme-eu/peers/hamburg.yaml": {
        "type": "site", "site": "hamburg-office", "protocol": "openvpn",
        "subnets": ["10.21.0.0/24"], "address": "10.254.0.10", "description": "Hamburg",
    },
    "acme-eu/peers/alice.yaml": {
        "type": "client", "user": "alice@example.com", "protocol": "wireguard",
        "route_all": False, "address": "10.255.0.11", "address6": "fd00:255::11",
        "access": ["berlin-office", "10.0.0.0/16"], "description": "Alice's laptop",
        "key_epoch": 1,
    },
    "acme-eu/peers/carol.yaml": {
        "type": "client", "user": "carol@example.com", "protocol": "openvpn",
        "route_all": True, "address": "10.254.0.11",
    },
    "acme-eu/peers/dave.yaml": {  # brings their own WireGuard key: it reaches wg0.conf as is
        "type": "client", "user": "dave@example.com", "address": "10.255.0.13",
        "address6": "fd00:255::13",
        "public_key": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=",
    },
    "acme-us/instance.yaml": {
        "hostname": "acme-us", "region": "iad",
        "wireguard": {"port": 51820, "network": "10.253.0.0/24"},
        "openvpn": {"port": 443, "transport": "tcp", "network": "10.252.0.0/24"},
        "routing": {"pushed_routes": ["10.1.0.0/16"], "egress": "none"},
        "dns": {"servers": ["10.1.0.53"], "domains": ["us.corp.example"], "split": True,
                "records": {"intranet.us.corp.example": "10.1.0.80",
                            "v6.us.corp.example": "fd00:2::80"}},
    },
    "acme-us/peers/chicago.yaml": {
        "type": "site", "site": "chicago-office", "protocol": "wireguard",
        "subnets": ["10.30.0.0/24"], "address": "10.253.0.10",
    },
    "acme-us/peers/erin.yaml": {
        "type": "client", "user": "erin@example.com", "address": "10.253.0.11",
    },
    "acme-us/peers/frank.yaml": {
        "type": "client", "user": "frank@example.com", "protocol": "openvpn",
        "address": "10.252.0.11",
    },
    "tests.yaml": [
        {"from": "acme-eu/alice", "to": "10.20.0.5", "port": "22/tcp", "expect": "deny",
         "description": "no ssh from laptops"},
    ],
}


class Field(NamedTuple):
    """One field of one file: where it is, and what kind of value it holds."""

    rel: str
    path: tuple[str | int, ...]
    kind: str  # addr, prefix, host, name, text, user, word, token, int, bool, ports, probe, ref

    def __str__(self) -> str:
        return f"{self.rel}:{'.'.join(map(str, self.path))}"


def _fields() -> list[Field]:
    eu, us = "acme-eu/instance.yaml", "acme-us/instance.yaml"
    berlin, hamburg = "acme-eu/peers/berlin.yaml", "acme-eu/peers/hamburg.yaml"
    alice, carol = "acme-eu/peers/alice.yaml", "acme-eu/peers/carol.yaml"
    spec: list[tuple[str, tuple[str | int, ...], str]] = [
        ("vpn.yaml", ("domain",), "host"),
        ("vpn.yaml", ("reserved_prefixes", 0), "prefix"),
        ("vpn.yaml", ("policy", "min_prefix_v4"), "int"),
        ("vpn.yaml", ("policy", "min_prefix_v6"), "int"),
        ("vpn.yaml", ("defaults", "routeros"), "word"),
        ("vpn.yaml", ("defaults", "keepalive"), "int"),
        (eu, ("hostname",), "host"),
        (eu, ("region",), "word"),
        (eu, ("description",), "text"),
        (eu, ("wireguard", "port"), "int"),
        (eu, ("wireguard", "network"), "prefix"),
        (eu, ("wireguard", "network6"), "prefix"),
        (eu, ("openvpn", "port"), "int"),
        (eu, ("openvpn", "transport"), "word"),
        (eu, ("openvpn", "network"), "prefix"),
        (eu, ("routing", "pushed_routes", 0), "prefix"),
        (eu, ("routing", "pushed_routes", 1), "prefix"),
        (eu, ("routing", "egress"), "word"),
        (eu, ("dns", "servers", 0), "addr"),
        (eu, ("dns", "servers", 1), "addr"),
        (eu, ("dns", "domains", 0), "host"),
        (eu, ("dns", "split"), "bool"),
        (eu, ("firewall", "default"), "word"),
        (eu, ("firewall", "rules", 0, "protocol"), "word"),
        (eu, ("firewall", "rules", 0, "ports"), "ports"),
        (eu, ("firewall", "rules", 0, "source"), "word"),
        (eu, ("firewall", "rules", 0, "destination"), "prefix"),
        (eu, ("firewall", "rules", 0, "description"), "text"),
        (eu, ("firewall", "rules", 1, "source"), "name"),
        (eu, ("firewall", "rules", 1, "destination"), "prefix"),
        (eu, ("key_epoch",), "int"),
        (us, ("dns", "records", "intranet.us.corp.example", KEY), "host"),
        (us, ("dns", "records", "intranet.us.corp.example"), "addr"),
        (us, ("dns", "records", "v6.us.corp.example"), "addr"),
        (berlin, ("site",), "name"),
        (berlin, ("protocol",), "word"),
        (berlin, ("subnets", 0), "prefix"),
        (berlin, ("subnets", 1), "prefix"),
        (berlin, ("address",), "addr"),
        (berlin, ("address6",), "addr"),
        (berlin, ("allow_broad",), "bool"),
        (berlin, ("routeros",), "word"),
        (berlin, ("description",), "text"),
        (berlin, ("key_epoch",), "int"),
        (hamburg, ("site",), "name"),
        (hamburg, ("subnets", 0), "prefix"),
        (hamburg, ("address",), "addr"),
        (hamburg, ("description",), "text"),
        (alice, ("user",), "user"),
        (alice, ("address",), "addr"),
        (alice, ("address6",), "addr"),
        (alice, ("route_all",), "bool"),
        (alice, ("access", 0), "name"),
        (alice, ("access", 1), "prefix"),
        (alice, ("description",), "text"),
        (alice, ("key_epoch",), "int"),
        (carol, ("user",), "user"),
        (carol, ("address",), "addr"),
        (carol, ("route_all",), "bool"),
        ("acme-eu/peers/dave.yaml", ("public_key",), "token"),
        ("tests.yaml", (0, "from"), "ref"),
        ("tests.yaml", (0, "to"), "addr"),
        ("tests.yaml", (0, "port"), "probe"),
        ("tests.yaml", (0, "expect"), "word"),
        ("tests.yaml", (0, "description"), "text"),
    ]
    return [Field(*item) for item in spec]


FIELDS = _fields()

# --- hostile values --------------------------------------------------------------------------

#: A line, a directive or a token boundary of some output language.
INJECT = [
    "\n[Interface]\nPreUp = touch /tmp/PWNED #", "\nPostUp = id", "\r\nDNS = 192.0.2.66",
    " #", "#", ";", '"', "'", "[", "]", "{", "}", "$x", "$[/system reboot]", "`id`", "\\",
    "\u2028", "\u2029", "\u0085", "\x00", "\x1b[2J", "\n/system reboot\n", "; flush ruleset",
    "\nserver=192.0.2.66", '\npush "route 0.0.0.0 0.0.0.0"', ",0.0.0.0/0", " 0.0.0.0/0",
    "\n}\ntable inet x {", "\u202e", "\t", "=", "/", ":", ",",
]
#: Characters a description may hold that are syntax somewhere (these compile, inert).
PRINTABLE = "#;\"'[]{}$`\\=,:/ ?()<>|&*!%@^~\u00e9\u00a0\u200b\U0001f600"


def _splice(clean: str, chunk: str, where: str) -> str:
    if where == "prefix":
        return chunk + clean
    if where == "middle":
        half = len(clean) // 2
        return clean[:half] + chunk + clean[half:]
    return clean + chunk


def _zone(clean: str, chunk: str) -> str:
    net, slash, plen = clean.partition("/")
    return f"{net}%{chunk}{slash}{plen}"


def hostile(kind: str, clean: Any) -> st.SearchStrategy[Any]:
    """Values that must be refused at their line, or compile exactly like ``clean``."""
    if kind == "int":
        return st.sampled_from([True, False, str(clean), f"{clean}\n#", float(clean),
                                f"{clean} #", clean + 0.5, None, [clean]])
    if kind == "bool":
        return st.sampled_from(["yes", "no", "on", "off", "true", 1, 0, "false\n#", None])
    text = str(clean)
    spliced = st.builds(_splice, st.just(text), st.sampled_from(INJECT),
                        st.sampled_from(["prefix", "middle", "suffix"]))
    noise = st.builds(_splice, st.just(text),
                      st.lists(st.sampled_from(INJECT + list(PRINTABLE)), min_size=1,
                               max_size=6).map("".join),
                      st.sampled_from(["prefix", "middle", "suffix"]))
    options = [spliced, noise]
    if kind in ("addr", "prefix"):
        options.append(st.builds(_zone, st.just(text), st.sampled_from(["x", "0", "eth0", *INJECT])))
        mapped = "::ffff:10.0.0.1" if kind == "addr" else "::ffff:10.0.0.0/120"
        options.append(st.just(mapped))
    return st.one_of(*options)


def benign(kind: str, clean: Any) -> st.SearchStrategy[Any]:
    """Spellings of ``clean`` that must compile to the same directives."""
    if kind in ("int", "bool"):
        return st.just(clean)
    text = str(clean)
    options = [st.just(f" {text} "), st.just(text)]
    if kind in ("addr", "prefix", "host"):
        options.append(st.just(text.upper()))
    if kind == "text":
        options.append(st.text(alphabet=st.sampled_from(PRINTABLE), min_size=1, max_size=20)
                       .map(lambda extra: (text + extra)[:200]))
    return st.one_of(*options)


# --- the tree, and where a field is --------------------------------------------------------


def _get(doc: Any, path: Sequence[str | int]) -> Any:
    for part in path:
        doc = doc[part]
    return doc


def with_value(field: Field, value: Any) -> dict[str, Any]:
    """The clean tree with ``value`` in ``field`` (or as the key it names)."""
    files = copy.deepcopy(TREE)
    doc = files[field.rel]
    if field.path[-1] == KEY:
        parent = _get(doc, field.path[:-2])
        old = field.path[-2]
        parent[value] = parent.pop(old)  # keeps the other keys; this one moves last
    else:
        _get(doc, field.path[:-1])[field.path[-1]] = value
    return files


class _Dumper(yaml.SafeDumper):
    """Every string double-quoted on one line, escapes for all but printable ASCII: a line
    break or separator inside a value neither spans nor moves a line."""


_Dumper.add_representer(
    str, lambda dumper, text: dumper.represent_scalar("tag:yaml.org,2002:str", text, style='"'))


def dump(files: dict[str, Any]) -> dict[str, str]:
    return {rel: yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=False,
                           width=10_000) for rel, doc in files.items()}


def lines_of(text: str, field: Field, value: Any) -> set[int]:
    """1-based line of the field's value node in the dumped YAML.

    A key too long or odd for a plain ``key: value`` line is written ``? key`` with
    ``: value`` on the next line; its diagnostic may name either line.
    """
    composed = yaml.compose(text)
    assert composed is not None
    node: yaml.Node = composed
    path = list(field.path)
    key_wanted = path[-1] == KEY
    if key_wanted:
        path = [*path[:-2], value]
    for i, part in enumerate(path):
        if isinstance(node, yaml.SequenceNode):
            assert isinstance(part, int)
            node = node.value[part]
            continue
        assert isinstance(node, yaml.MappingNode)
        for knode, vnode in node.value:
            if yaml.safe_load(yaml.serialize(knode)) == part:
                if key_wanted and i == len(path) - 1:
                    return {knode.start_mark.line + 1, vnode.start_mark.line + 1}
                node = vnode
                break
        else:
            raise AssertionError(f"{part!r} not found in {field}")
    return {node.start_mark.line + 1}


# --- what the consumers make of a build ----------------------------------------------------

_VERSION = re.compile(r" version ([0-9a-f]{12}|REDACTED[^;\s]*)[;\s]")


def _text(out: Path, rel: str) -> str:
    text = (out / rel).read_text(encoding="utf-8")
    match = _VERSION.search(text.split("\n", 1)[0])
    return text.replace(match.group(1), "<version>") if match else text


def _rsc(script: str) -> object:
    assert validate(script) == [], validate(script)
    shape = []
    for top in tokenize(script):
        for cmd in top.walk():
            assert not cmd.interpolations, cmd
            shape.append((tuple(cmd.path), cmd.word, tuple(cmd.positionals),
                          tuple((a.name, a.value if a.name != "comment" else "") for a in cmd.args)))
    return shape


def _ccd(text: str) -> object:
    out: list[object] = []
    for line in text.splitlines():
        params = openvpn_parse_line(line)
        if params:
            # A pushed option is parsed again by the client, after the server joined them
            # with commas into one PUSH_REPLY: compare what the client would split and parse.
            out.append([params, *(openvpn_parse_line(opt) for opt in params[1].split(","))]
                       if params[0] == "push" else params)
    return out


def parse(out: Path, rel: str, workdir: Path) -> object:
    """What the consumer of artifact ``rel`` reads from it."""
    name = rel.split("/", 1)[1]
    if name.endswith(".rsc"):
        return _rsc(_text(out, rel))
    if name.startswith("hub/openvpn/ccd/"):
        return _ccd(_text(out, rel))
    if name == "hub/nftables.conf":
        return consumers.nft([out / rel])
    if name == "hub/dns/dnsmasq.conf":
        return consumers.dnsmasq(out / rel)
    if name.endswith(".ovpn") or name == "hub/openvpn/server.conf":
        return consumers.openvpn(out / rel, (out / rel).parent)
    if name.endswith(".conf") and name != "hub/sysctl.conf":
        return consumers.wg_quick(out / rel, workdir)
    if name == "hub/apply.sh":
        # sh: the script takes only the instance name and ports from the tree (name and num
        # filters); apart from its header comment it must stay the same text.
        return [line for line in _text(out, rel).splitlines() if not line.startswith("# mvpn ")]
    raise AssertionError(f"no consumer for {rel}")


#: Files whose bytes may change with an accepted value but hold no directive from the tree:
#: versions and the manifest (they follow content), and PKI files (derived from the secret).
UNPARSED = re.compile(r"(^manifest\.json|/VERSION|/hub/openvpn/pki/.*|/hub/sysctl\.conf)$")


def build(workdir: Path, files: dict[str, str]) -> tuple[Path, Path]:
    root = build_file_tree(workdir / "src", files)
    out = workdir / "out"
    return root, out


@functools.cache
def baseline() -> tuple[dict[str, bytes], Callable[[str], object]]:
    """The clean build's bytes, and what the consumers read from each artifact (lazily)."""
    tmp = Path(tempfile.mkdtemp(prefix="mvpn-baseline-"))
    root, out = build(tmp, dump(TREE))
    result = compile_tree(root, out, TEST_SECRET, qr=False)
    assert result.build is not None, result.check.diagnostics.sorted()
    blobs = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    return blobs, functools.cache(lambda rel: parse(out, rel, tmp))


def test_the_clean_tree_compiles_and_every_consumer_reads_it() -> None:
    blobs, parsed = baseline()
    for rel in sorted(blobs):
        if not UNPARSED.search(rel):
            assert parsed(rel), rel
    families = {rel.rsplit(".", 1)[-1] for rel in blobs}
    assert {"rsc", "ovpn", "conf", "json"} <= families
    assert "acme-us/hub/dns/dnsmasq.conf" in blobs


# --- the property --------------------------------------------------------------------------


def _consequence(code: str) -> bool:
    """A reference to a peer whose file was refused (a firewall rule, an access list, an
    assertion of tests.yaml): the peer is gone, so the name is unknown (issue 11 item 21)."""
    return code.startswith("reference-")


def _event(what: str) -> None:
    if currently_in_test_context():  # the pinned cases run outside hypothesis
        event(what)


def assert_refused_or_inert(field: Field, value: Any) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        texts = dump(with_value(field, value))
        root, out = build(workdir, texts)
        lines = lines_of(texts[field.rel], field, value)
        errors = [d for d in check(root).diagnostics.sorted() if d.severity.value == "error"]
        if errors:
            here = {(field.rel, line) for line in lines}
            where = {(d.file.relative_to(root.resolve()).as_posix(), d.line) for d in errors
                     if not _consequence(d.code)}
            assert where and where <= here, [(d.code, d.file.name, d.line, d.message)
                                             for d in errors]
            assert compile_tree(root, out, TEST_SECRET, qr=False).build is None
            assert not out.exists()
            _event("refused at its line")
            return
        result = compile_tree(root, out, TEST_SECRET, qr=False)
        assert result.build is not None, result.check.diagnostics.sorted()
        blobs, parsed = baseline()
        got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
        assert sorted(got) == sorted(blobs), "the same artifacts"
        changed = [rel for rel, data in sorted(got.items())
                   if data != blobs[rel] and not UNPARSED.search(rel)]
        for rel in changed:
            assert parse(out, rel, workdir) == parsed(rel), rel
        _event("compiled, same bytes" if not changed else "compiled, read by the consumers")


def slow(examples: int) -> settings:
    """Few examples per field (each is a compile and real processes), always the same ones."""
    return settings(max_examples=examples, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("field", FIELDS, ids=str)
@slow(4)
@given(data=st.data())
def test_hostile_values_are_refused_at_their_line_or_inert(field: Field, data: st.DataObject) -> None:
    clean = _get(TREE[field.rel], field.path[:-1] if field.path[-1] == KEY else field.path)
    if field.path[-1] == KEY:
        clean = field.path[-2]
    assert_refused_or_inert(field, data.draw(hostile(field.kind, clean)))


@pytest.mark.parametrize("field", FIELDS, ids=str)
@slow(2)
@given(data=st.data())
def test_clean_spellings_compile_to_the_same_directives(field: Field, data: st.DataObject) -> None:
    clean = field.path[-2] if field.path[-1] == KEY else _get(TREE[field.rel], field.path)
    assert_refused_or_inert(field, data.draw(benign(field.kind, clean)))


# --- the attacks of issue 11, pinned -------------------------------------------------------

PINNED = [
    (Field("acme-eu/peers/alice.yaml", ("address6",), "addr"), "fd00:255::11%x\nPreUp = touch PWNED #"),
    (Field("acme-eu/peers/berlin.yaml", ("address6",), "addr"),
     "fd00:255::10%x\n[Interface]\nPreUp = touch PWNED #"),
    (Field("acme-eu/instance.yaml", ("routing", "pushed_routes", 1), "prefix"),
     "fd00:1::%x\n:global pwned 1\n#/64"),
    (Field("acme-eu/peers/berlin.yaml", ("subnets", 1), "prefix"),
     "2001:db8:20::%x\n}\ntable inet x {/64"),
    (Field("acme-eu/instance.yaml", ("dns", "servers", 1), "addr"), "fd00:1::53%x\nserver=192.0.2.66"),
    (Field("acme-us/instance.yaml", ("dns", "records", "v6.us.corp.example"), "addr"),
     "fd00:2::80%x\nserver=192.0.2.66"),
]


@pytest.mark.parametrize(("field", "value"), PINNED, ids=[str(f) for f, _ in PINNED])
def test_the_zone_id_attacks_are_refused_at_their_line(field: Field, value: str) -> None:
    assert_refused_or_inert(field, value)
    with tempfile.TemporaryDirectory() as tmp:
        root, _ = build(Path(tmp), dump(with_value(field, value)))
        assert not check(root).ok
