"""RouterOS site scripts filled into a skeleton are the bytes their layout gives (issue 14).

``compiler/render/skeleton.py`` lays a text out once with markers and fills in each item's
values; ``compiler/render/routeros.py`` uses it for the sites of an instance that share a
shape. The oracle is the layout itself (``routeros._layout``, what every script was before):
each site of a varied estate, any values hypothesis draws, and the golden files
(``tests/test_golden.py``) must come out the same. The skeleton's own checks are shown to
refuse a layout that does more than print a value.
"""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.api import check
from compiler.keys import KeyRing
from compiler.render import instance_views, routeros, skeleton
from compiler.render.context import InstanceView, PeerView
from compiler.render.env import UnsafeValueError, line_text, name, rsc_str
from compiler.render.names import fit_comment
from compiler.render.rsctext import Site
from tests.support.trees import TEST_SECRET, build_file_tree, compile_estate, site

#: Descriptions that need escaping in a comment line and in a RouterOS string, ones as long
#: as a comment (cut on a character boundary, where the cut depends on the name's length),
#: and ones that look like format strings or markers.
DESCRIPTIONS = [
    'Berlin "HQ" $budget ?x \\n [rack 2]', "ends in a backslash \\", "é" * 200,
    "日本語のサイト " * 12, "%s %(name)s {0} {{x}} %%", "QzpnamezQ Xjkpname_kjX \\x1e", "x",
]


def _tree() -> dict[str, dict[str, object]]:
    """The compile estate plus sites of many shapes: every protocol, name length, MTU...

    ``acme-eu``'s OpenVPN gets IPv6 (its sites' scripts say they carry none); ``acme-ap``:
    WireGuard without IPv6 (no ``address6``).
    """
    tree = compile_estate()
    eu = tree["acme-eu/instance.yaml"]
    eu["openvpn"] = {**eu["openvpn"], "network6": "fd00:254::/64"}  # type: ignore[dict-item]
    for peer, six in (("hamburg", "fd00:254::10"), ("carol", "fd00:254::11")):
        tree[f"acme-eu/peers/{peer}.yaml"]["address6"] = six
    tree["acme-ap/instance.yaml"] = {
        "hostname": "acme-ap", "region": "sjc",
        "wireguard": {"port": 51820, "network": "10.252.0.0/24"},
        "routing": {"pushed_routes": ["10.2.0.0/16"], "egress": "nat"},
    }
    for i in range(30):
        inst = "acme-ap" if i >= 24 else "acme-eu"
        wireguard = i % 3 != 2 or inst == "acme-ap"
        extra: dict[str, object] = {"protocol": "wireguard" if wireguard else "openvpn"}
        if i % 4 == 0:
            extra["description"] = DESCRIPTIONS[i // 4 % len(DESCRIPTIONS)]
        if i % 5 == 1:
            extra["mtu"] = 1400 + i
        if inst == "acme-eu":
            extra["address6"] = f"fd00:{255 if wireguard else 254}::{0x100 + i:x}"
        subnets = [f"10.22.{i}.0/24"] + ([f"2001:db8:20:{i:x}::/64"] if i % 6 == 5 else [])
        peer = ("s" + "-long" * (i % 7) + f"{i}")[:32]
        net = "10.252" if inst == "acme-ap" else "10.255" if wireguard else "10.254"
        tree[f"{inst}/peers/{peer}.yaml"] = site(f"site-{i}", f"{net}.0.{100 + i}", subnets,
                                                 **extra)
    return tree


@pytest.fixture(scope="module")
def views(tmp_path_factory: pytest.TempPathFactory) -> list[InstanceView]:
    root = build_file_tree(tmp_path_factory.mktemp("tree"), _tree())
    result = check(root)
    assert result.ok, [d.message for d in result.diagnostics.sorted()]
    return instance_views(result.estate, KeyRing(TEST_SECRET))


def _sites(views: list[InstanceView]) -> list[tuple[InstanceView, PeerView]]:
    return [(inst, peer) for inst in views for peer in inst.peers if peer.is_site]


def test_every_site_script_is_what_its_layout_gives(views: list[InstanceView]) -> None:
    sites = _sites(views)
    assert len(sites) == 33
    for _ in range(2):  # the first site of a shape is laid out; the others are filled in
        for inst, peer in sites:
            v = routeros.site_values(inst, peer)
            assert routeros.render_rsc(inst, peer) == routeros._layout(inst, v, routeros._digest)
    shapes = {(inst.name, routeros._shape(routeros.site_values(inst, peer)))
              for inst, peer in sites}
    made = {(inst.name, key) for inst in views for key, found in routeros._SKELETONS[inst].items()
            if isinstance(found, skeleton.Skeleton)}
    # Every shape got its skeleton (the loop above saw each at least twice).
    assert len(shapes) >= 10 and shapes <= made
    shown = {routeros.site_values(i, p).description for i, p in sites}
    assert {line_text(d) for d in DESCRIPTIONS} <= shown


def test_each_shape_is_laid_out_three_times_at_most(
    views: list[InstanceView], monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The first site of a shape, then the skeleton's two runs; every other site is filled."""
    calls: list[str] = []
    layout = routeros._layout

    def counted(inst: InstanceView, v: Site, digest: routeros.Digest) -> str:
        calls.append(v.name)
        return layout(inst, v, digest)

    monkeypatch.setattr(routeros, "_layout", counted)
    monkeypatch.setattr(routeros, "_SKELETONS", type(routeros._SKELETONS)())
    sites = _sites(views)
    for inst, peer in sites * 3:
        routeros.render_rsc(inst, peer)
    shapes = {(inst, routeros._shape(routeros.site_values(inst, peer))) for inst, peer in sites}
    assert len(calls) <= 3 * len(shapes) < len(sites) * 3
    # Markers stand in for the values in the skeleton's runs: no site's name is in them.
    assert len([c for c in calls if not c.startswith(("Qz", "Xjk"))]) == len(shapes)


def test_a_site_with_a_value_that_is_not_plain_is_laid_out(views: list[InstanceView]) -> None:
    inst, peer = next((i, p) for i, p in _sites(views) if p.config.protocol == "wireguard")
    v = routeros.site_values(inst, peer)
    routeros._skeleton(inst, v)  # the shape seen once: the next site of it prepares it
    assert routeros._skeleton(inst, v) is not None
    for key in ("a$b", 'a"b', "a?b", "a b", "a\\b", "é"):
        assert routeros._skeleton(inst, v._replace(private_key=key)) is None


_NAMES = st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}", fullmatch=True)
_KEYS = st.from_regex(r"[A-Za-z0-9+/]{43}=", fullmatch=True)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_a_skeleton_filled_with_any_values_is_their_layout(
    views: list[InstanceView], data: st.DataObject,
) -> None:
    """Values drawn for a site of each shape: the skeleton of another site of that shape."""
    sites = _sites(views)
    inst, peer = sites[data.draw(st.integers(0, len(sites) - 1))]
    model = routeros.site_values(inst, peer)
    drawn = data.draw(_NAMES)
    described = data.draw(st.text(min_size=1, max_size=300)) if model.description else ""
    changes: dict[str, Any] = {
        "name": name(drawn), "site": data.draw(_NAMES),
        "description": line_text(described) if described else "",
        "comment_tail": rsc_str(routeros.comment_tail(f"mvpn:{inst.name}/{drawn}",
                                                      described))[1:],
        "address": f"10.255.0.{data.draw(st.integers(1, 254))}",
        "epoch": str(data.draw(st.integers(1, 10**6))),
    }
    if model.protocol == "wireguard":
        changes.update(port=str(data.draw(st.integers(20000, 29999))),
                       private_key=data.draw(_KEYS), public_key=data.draw(_KEYS),
                       preshared_key=data.draw(_KEYS), hub_key=data.draw(_KEYS))
    else:
        changes.update(user=data.draw(_NAMES), cert_hash=f"{data.draw(st.integers(0, 2**32 - 1)):08x}",
                       cert_pem=rsc_str(data.draw(st.text(min_size=1))),
                       key_pem=rsc_str(data.draw(st.text(min_size=1))))
    if model.mtu:
        changes["mtu"] = str(data.draw(st.integers(1280, 9000)))
    v = model._replace(**changes)
    assert routeros._shape(v) == routeros._shape(model)
    made = routeros._prepare(inst, model)
    assert made is not None
    assert made.fill(v._asdict(), routeros._digest) == routeros._layout(inst, v, routeros._digest)


@settings(max_examples=200, deadline=None)
@given(peer=_NAMES, description=st.one_of(
    st.text(max_size=300), st.text("é日x\\\"$ ", min_size=60, max_size=250)))
def test_a_comment_is_the_tag_and_hash_then_the_description_cut_to_fit(
    views: list[InstanceView], peer: str, description: str,
) -> None:
    """What the comment of every object was: ``rsc_str(fit_comment("<tag> #<hash>", desc))``."""
    inst, model = views[0], routeros.site_values(*_sites(views)[0])
    tag = f"mvpn:{inst.name}/{peer}"
    tail = rsc_str(routeros.comment_tail(tag, description))[1:]
    v = model._replace(name=peer, comment_tail=tail)
    comment = routeros._Script(inst, v, routeros._digest).comment("/ip address", 24, "wg0")
    head = f"{tag} #{routeros._hash('/ip address', 24, 'wg0')}"
    assert comment == rsc_str(fit_comment(head, description or None))


# --- what the skeleton refuses -----------------------------------------------------------------

KINDS = {"name": "p", "description": "e"}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:8]


def test_a_layout_that_only_prints_values_is_a_skeleton() -> None:
    def layout(m: skeleton.Marks) -> str:
        q_name = rsc_str(f"mvpn {m.plain('name')}: 100% {{done}}")
        return (f"# {m.escaped('description')}\n:log info {q_name} {m.derived('fixed')}"
                f" {m.derived(m.plain('name') + '/x')}\n")

    made = skeleton.prepare(layout, KINDS, _digest)
    assert made is not None
    assert made.fill({"name": "berlin", "description": 'a "b"'}, _digest) == (
        f'# a "b"\n:log info "mvpn berlin: 100% {{done}}" {_digest("fixed")} '
        f'{_digest("berlin/x")}\n')
    assert len(made.derived) == 1  # the input without a value was worked out once


@pytest.mark.parametrize("layout", [
    lambda m: f"{m.plain('name')} {_digest(m.plain('name'))}",  # hashes a value
    lambda m: f"{m.plain('name')} {len(m.plain('name'))}",  # measures one
    lambda m: f"{m.plain('name')[:4]}",  # cuts one
    lambda m: f"{rsc_str(m.escaped('description'))}",  # escapes escaped text again
    lambda m: f"{line_text(m.escaped('description'))}",
    lambda m: f"{m.escaped('name')} {m.plain('description')}",  # the wrong kind
    lambda m: f"{m.plain('nonesuch')}",  # a field it was not given
    lambda m: f"{m.derived(m.derived('x'))}",  # a derived value in a derived input
    lambda m: f"{name(m.plain('name')) + str(int(m.plain('name')))}",  # checks one (raises)
    lambda m: "a constant that reads QzpnamezQ",  # text that looks like a marker
], ids=["hash", "len", "cut", "rsc_str", "line_text", "kind", "field", "nested", "check",
        "lookalike"])
def test_a_layout_that_does_more_than_print_a_value_is_refused(layout: object) -> None:
    def guarded(marks: skeleton.Marks) -> str:
        try:
            return layout(marks)  # type: ignore[operator, no-any-return]
        except ValueError as exc:  # int() of a marker: as a filter refusing it
            raise UnsafeValueError(str(exc)) from exc

    assert skeleton.prepare(guarded, KINDS, _digest) is None


def test_the_marks_are_plain_to_every_filter() -> None:
    """A plain marker may stand inside escaped text only because filters print it as it is."""
    for style in ("Qz", "Xjk"):
        marker = skeleton.Marks(style).plain("cert_hash")
        assert skeleton.PLAIN.fullmatch(marker)
        assert rsc_str(marker) == f'"{marker}"' and line_text(marker) == marker
    for value in ("berlin-office", "10.20.0.0/24", "fd00::a", "AKMK+/9=", "REDACTED-x.y.epoch-1"):
        assert skeleton.PLAIN.fullmatch(value)
        assert rsc_str(value) == f'"{value}"' and line_text(value) == value


@given(st.text(), st.text())
def test_rsc_str_escapes_character_by_character(a: str, b: str) -> None:
    """Why a comment may be laid out as the quoted head without its quote, then the tail."""
    assert rsc_str(a + b) == rsc_str(a)[:-1] + rsc_str(b)[1:]

