"""Per-version validity of site scripts: ``routeros-unsupported`` and version pins (SPEC §11)."""

from __future__ import annotations

import collections
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from benchmarks import generate
from compiler import api
from compiler.cli.output import render_sarif
from compiler.diagnostics import Diagnostics
from compiler.keys import KeyRing
from compiler.model.estate import Estate
from compiler.render import instance_views, support
from compiler.render.routeros import render_rsc
from compiler.routeros import RouterOSTree, compact, tokenize
from tests.support.routeros import script_version, validate
from tests.support.trees import (
    INSTANCE,
    VPN,
    build_file_tree,
    compile_estate,
    estate,
    rows,
    site,
)

MINORS = [f"7.{n}" for n in range(9, 25)]
OLDEST = 'pin routeros: "7.9" or later'


def test_a_pin_older_than_the_data_is_unsupported_at_its_line(tmp_path: Path) -> None:
    files = estate(**{"acme-eu__peers__berlin_DOT_yaml": site(
        "berlin", "10.255.0.10", ["10.20.0.0/24"], routeros="7.8")})
    assert rows(tmp_path, files) == [
        ("routeros-unsupported", "error", "acme-eu/peers/berlin.yaml", 7, 11,
         f"RouterOS 7.8 is older than 7.9, the oldest version mvpn knows the commands of; "
         f"{OLDEST}"),
    ]


def test_an_inherited_pin_is_reported_once_at_defaults_routeros(tmp_path: Path) -> None:
    files = estate(**{
        "vpn_DOT_yaml": dict(VPN, defaults={"keepalive": 25, "routeros": "7.1"}),
        "acme-eu__peers__munich_DOT_yaml": site("munich", "10.255.0.12", ["10.22.0.0/24"]),
    })
    assert rows(tmp_path, files) == [
        ("routeros-unsupported", "error", "vpn.yaml", 8, 13,
         f"RouterOS 7.1 is older than 7.9, the oldest version mvpn knows the commands of; "
         f"{OLDEST}"),
    ]


@pytest.mark.parametrize(("pin", "message"), [
    ("7.25", "routeros: RouterOS 7.25 is newer than 7.24, the newest version mvpn knows the "
             "commands of"),
    ("8.1", "routeros: RouterOS version '8.1' is not a v7 version like \"7.16\""),
    ("7.09", "routeros: RouterOS version '7.09' is not a v7 version like \"7.16\""),
    ("7.16.", "routeros: RouterOS version '7.16.' is not a v7 version like \"7.16\""),
    ("7", "routeros: RouterOS version '7' is not a v7 version like \"7.16\""),
])
def test_an_unknown_or_malformed_pin_is_a_schema_error(
    tmp_path: Path, pin: str, message: str,
) -> None:
    files = estate(**{"acme-eu__peers__berlin_DOT_yaml": site(
        "berlin", "10.255.0.10", ["10.20.0.0/24"], routeros=pin)})
    assert rows(tmp_path, files) == [
        ("schema", "error", "acme-eu/peers/berlin.yaml", 7, 11, message)]


def _every_version_estate(moved: bool = False, **epochs: int) -> dict[str, object]:
    """One site per minor version 7.9-7.24, WireGuard (with IPv6) and OpenVPN by turns.

    ``epochs``: the instance's ``key_epoch``/``retiring_key_epoch`` (a hub key rotation);
    ``moved``: every WireGuard site moved to the new hub key on ``next_port`` (step 1).
    """
    next_port = {"next_port": 51821} if moved else {}
    inst = dict(INSTANCE, wireguard={"port": 51820, "network": "10.255.0.0/24",
                                     "network6": "fd00:255::/64", **next_port},
                dns={"servers": ["10.0.0.53"], "domains": ["corp.example"]}, **epochs)
    files: dict[str, object] = {"vpn.yaml": VPN, "acme-eu/instance.yaml": inst}
    for i, minor in enumerate(MINORS):
        wireguard = i % 2 == 0
        extra: dict[str, object] = {"routeros": minor}
        if wireguard:
            extra["address6"] = f"fd00:255::{10 + i:x}"
            if moved:
                extra["hub_key_epoch"] = epochs["key_epoch"]
        else:
            extra["protocol"] = "openvpn"
        files[f"acme-eu/peers/s{i}.yaml"] = site(
            f"s{i}", f"10.{255 if wireguard else 254}.0.{10 + i}", [f"10.{100 + i}.0.0/24"],
            **extra)
    return files


@pytest.mark.parametrize(("epochs", "moved"), [
    ({}, False), ({"key_epoch": 2, "retiring_key_epoch": 1}, False),
    ({"key_epoch": 2, "retiring_key_epoch": 1}, True)],
    ids=["steady", "rotation-step-1", "rotation-step-1-wireguard-moved"])
def test_sites_pinned_to_every_version_compile_and_their_scripts_are_valid_there(
    tmp_path: Path, epochs: dict[str, int], moved: bool,
) -> None:
    """Also in step 1 of a hub key rotation, when OpenVPN sites import two CAs and WireGuard
    sites move to the new hub key on next_port."""
    tree = _every_version_estate(moved, **epochs)
    build_file_tree(tmp_path / "tree", tree)  # type: ignore[arg-type]
    result = api.compile_tree(tmp_path / "tree", tmp_path / "out", None, qr=False)
    assert list(result.check.diagnostics) == []
    found = sorted((tmp_path / "out" / "acme-eu" / "sites").glob("*.rsc"))
    scripts = [p for p in found if not p.name.endswith(".uninstall.rsc")]
    assert len(scripts) == len(MINORS)
    seen = set()
    for path in found:  # the site scripts, and any other script made for the site
        text = path.read_text(encoding="utf-8")
        pinned = MINORS[int(path.name.split(".")[0][1:])]
        if path in scripts:
            assert script_version(text) == pinned, path.name  # the header names the pin
            seen.add(pinned)
        assert validate(text, pinned) == [], path.name
        if path in scripts and "protocol=udp" in text:  # an OpenVPN site: one CA per epoch
            # CA(s), then the site's certificate and key
            assert text.count("/certificate import") == 3 + len(epochs) // 2, path.name
        elif path in scripts:  # a WireGuard site: on the hub's wg1 once moved
            assert ("endpoint-port=51821" in text) == moved, path.name
    assert seen == set(MINORS)


def test_the_uninstaller_each_site_script_installs_is_valid_on_its_version(
    tmp_path: Path,
) -> None:
    """The script installs its uninstaller (``/system script``, its source in the local $un):
    that source runs on the same router, so it is validated against the same version."""
    build_file_tree(tmp_path / "tree", _every_version_estate())  # type: ignore[arg-type]
    api.compile_tree(tmp_path / "tree", tmp_path / "out", None, qr=False)
    found = sorted((tmp_path / "out" / "acme-eu" / "sites").glob("*.rsc"))
    assert len(found) == len(MINORS)  # one script per site: no separate uninstall file
    for path in found:
        text = path.read_text(encoding="utf-8")
        (source,) = [c.positionals[1] for top in tokenize(text) for c in top.walk()
                     if c.word == "local" and c.positionals[0] == "un"]
        assert "/system script remove" in source, path.name
        pinned = MINORS[int(path.name.split(".")[0][1:])]
        assert validate(source, pinned) == [], path.name


def test_a_script_needing_a_later_version_names_it_and_the_first_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The scripts of today run on 7.9; a template that needs more is reported like this."""
    def render(*_args: object) -> str:
        return (':onerror e in={ /interface wireguard peers add interface=wg0 public-key="k"'
                ' client-address=10.0.0.2/32 } do={ :log error $e }\n'
                '/interface wifi security add name="x"\n')

    monkeypatch.setattr("compiler.render.support.render_rsc", render)
    files = estate(**{"acme-eu__peers__berlin_DOT_yaml": site(
        "berlin", "10.255.0.10", ["10.20.0.0/24"], routeros="7.11")})
    assert rows(tmp_path, files) == [
        ("routeros-unsupported", "error", "acme-eu/peers/berlin.yaml", 7, 11, message)
        for message in (
            "RouterOS 7.11 has no argument 'client-address' for /interface/wireguard/peers add"
            " (first in 7.12), which the site script needs; pin routeros: \"7.12\" or later",
            "RouterOS 7.11 has no command :onerror (first in 7.13), which the site script "
            "needs; pin routeros: \"7.13\" or later",
            "RouterOS 7.11 has no menu /interface/wifi (first in 7.13), which the site script "
            "needs; pin routeros: \"7.13\" or later",
        )
    ]


def test_one_script_is_rendered_per_shape_not_per_site(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    files = estate()
    for i in range(30):
        files[f"acme-eu/peers/s{i}.yaml"] = site(f"s{i}", f"10.255.0.{20 + i}",
                                                 [f"10.{100 + i}.0.0/24"],
                                                 routeros=("7.12", "7.20")[i % 2])
    calls: list[str] = []

    def counting(inst: object, peer: object) -> str:
        calls.append(peer.name)  # type: ignore[attr-defined]
        return render_rsc(inst, peer)  # type: ignore[arg-type]

    monkeypatch.setattr("compiler.render.support.render_rsc", counting)
    assert rows(tmp_path, files) == []
    # One for the three versions (7.12, 7.20 and berlin's default, 7.16): a script's
    # commands do not depend on its version (_assert_sound below), only the checks do.
    assert len(calls) == 1


PINS = ["7.12", "7.20"]  # few, so that sites of different instances share shapes


@st.composite
def _estates(draw: st.DrawFn) -> dict[str, object]:
    """Small valid estates that vary everything a site script could branch on."""
    files: dict[str, object] = {"vpn.yaml": dict(VPN, defaults={
        "keepalive": 25, "routeros": draw(st.sampled_from(PINS))})}
    for i, (name, region) in enumerate((("acme-eu", "fra"), ("acme-us", "iad"))[
            :draw(st.integers(1, 2))]):
        protocols = draw(st.sampled_from([["wireguard"], ["openvpn"], ["wireguard", "openvpn"]]))
        network6 = draw(st.booleans())
        pushed = draw(st.sets(st.sampled_from([f"10.1{i}.0.0/16", f"2001:db8:f{i}::/48"])))
        dns = draw(st.sampled_from([
            {}, {"servers": ["10.0.0.53"]}, {"servers": ["10.0.0.53"], "domains": ["corp.example"]},
            {"servers": ["2001:db8::53"], "domains": ["corp.example"]},
            {"records": {"intranet.corp.example": "10.0.0.80"}},
            {"records": {"intranet.corp.example": "10.0.0.80"}, "servers": ["10.0.0.53"]}]))
        inst: dict[str, object] = {"hostname": name, "region": region, "dns": dns,
                                   "routing": {"pushed_routes": sorted(pushed), "egress": "nat"}}
        if "wireguard" in protocols:
            inst["wireguard"] = {"port": 51820, "network": f"10.25{i}.0.0/24"} | (
                {"network6": f"fd00:25{i}::/64"} if network6 else {})
        if "openvpn" in protocols:
            inst["openvpn"] = {"port": 1194, "transport": draw(st.sampled_from(["udp", "tcp"])),
                               "network": f"10.24{i}.0.0/24"} | (
                {"network6": f"fd00:24{i}::/64"} if network6 else {})
        files[f"{name}/instance.yaml"] = inst
        for j in range(draw(st.integers(1, 3))):
            proto = draw(st.sampled_from(protocols))
            # An OpenVPN site's IPv6 subnet needs openvpn.network6 (else ipv6-untunnelled).
            six = [f"2001:db8:{i}{j}::/64"] if proto == "wireguard" or network6 else []
            subnets = draw(st.sets(st.sampled_from([f"10.{100 + 10 * i + j}.0.0/24", *six])))
            extra: dict[str, object] = {"protocol": proto}
            if network6:
                extra["address6"] = f"fd00:2{5 if proto == 'wireguard' else 4}{i}::{10 + j:x}"
            if draw(st.booleans()):
                extra["routeros"] = draw(st.sampled_from(PINS))
            octet = 5 if proto == "wireguard" else 4
            files[f"{name}/peers/s{j}.yaml"] = site(
                f"s{i}{j}", f"10.2{octet}{i}.0.{10 + j}", sorted(subnets), **extra)
    return files


@settings(max_examples=60, derandomize=True, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=_estates())
def test_sites_of_one_shape_get_the_same_commands_in_random_estates(
    tmp_path_factory: pytest.TempPathFactory, files: dict[str, object],
) -> None:
    root = build_file_tree(tmp_path_factory.mktemp("tree"), files)  # type: ignore[arg-type]
    result = api.check(root)
    assert result.ok, result.diagnostics.sorted()
    _assert_sound(result)


Feature = tuple[str, str, tuple[str, ...]]


def _features(script: str) -> frozenset[Feature]:
    """(menu, command, arguments) of every command; the values of enum arguments too."""
    tree = RouterOSTree.load("7.24")
    found = set()
    for top in tokenize(script):
        for c in top.walk():
            args = tuple(sorted(
                f"{a.name}={a.value}" if tree.enum_for(c.path, c.word, a.name) else a.name
                for a in c.args))
            found.add(("/".join(c.path), c.word, args))
    return frozenset(found)


def _dns_estate() -> dict[str, object]:
    """Three instances alike but for DNS: none, the hub's resolver, an IPv6 server only."""
    files: dict[str, object] = {"vpn.yaml": VPN}
    variants: list[dict[str, object]] = [
        {}, {"records": {"intranet.corp.example": "10.0.0.80"}},
        {"servers": ["2001:db8::53"], "domains": ["corp.example"]}]
    for i, ((name, region), dns) in enumerate(zip(
            (("acme-eu", "fra"), ("acme-us", "iad"), ("acme-sj", "sjc")), variants, strict=True)):
        files[f"{name}/instance.yaml"] = dict(INSTANCE, hostname=name, region=region, dns=dns,
                                              routing={"pushed_routes": [f"10.1{i}.0.0/16"]})
        files[f"{name}/peers/s.yaml"] = site(f"s{i}", "10.255.0.10", [f"10.2{i}.0.0/24"])
    return files


@pytest.mark.parametrize("tree", ["compile", "every-version", "dns", "example", "generated"])
def test_sites_of_one_shape_get_scripts_with_the_same_commands(tmp_path: Path, tree: str) -> None:
    """The grouping of :mod:`compiler.render.support` is sound for every estate we test, and
    every site script (the example estate's too) is valid on its own version."""
    if tree == "example":
        root = Path(__file__).resolve().parents[1] / "sites"
    elif tree == "generated":  # the benchmark estate: both protocols, IPv6, four pins
        root = tmp_path / "tree"
        generate.main([str(root), "--instances", "3", "--peers", "120", "--seed", "7"])
    else:
        root = tmp_path / "tree"
        files = {"compile": compile_estate, "dns": _dns_estate,
                 "every-version": _every_version_estate}[tree]()
        build_file_tree(root, files)  # type: ignore[arg-type]
    result = api.check(root)
    assert result.ok
    _assert_sound(result)


def _assert_sound(result: api.CheckResult) -> None:
    """Sites of one shape use the same commands, and every script is valid on its version.

    The same commands whatever the version too: check_routeros parses one script for the
    sites of a shape pinned to any version, and checks it against each.
    """
    shapes = support.shapes(result.estate)
    features: dict[object, set[frozenset[Feature]]] = collections.defaultdict(set)
    for view in instance_views(result.estate, KeyRing(None)):
        for peer in view.peers:
            if peer.is_site:
                script = render_rsc(view, peer)
                shape = shapes[view.name, peer.name]
                assert shape.version == peer.routeros == script_version(script)
                assert validate(compact(script), shape.version) == [], (view.name, peer.name)
                features[shape._replace(version="")].add(_features(script))
    assert features
    assert all(len(found) == 1 for found in features.values()), features


def test_an_incremental_compile_checks_the_changed_sites_too(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = build_file_tree(tmp_path / "tree", compile_estate())
    out = tmp_path / "out"
    assert api.compile_tree(root, out, None, qr=False, cache=True).build is not None
    found: list[list[str]] = []
    real = support.check_routeros

    def spy(estate: Estate, diags: Diagnostics) -> None:
        before = len(diags)
        real(estate, diags)
        found.append([d.code for d in list(diags)[before:]])

    monkeypatch.setattr("compiler.incremental.check_routeros", spy)
    berlin = root / "acme-eu" / "peers" / "berlin.yaml"
    text = berlin.read_text(encoding="utf-8")
    assert "routeros: '7.18'" in text
    berlin.write_text(text.replace("routeros: '7.18'", "routeros: '7.8'"), encoding="utf-8")
    refused = api.compile_tree(root, out, None, qr=False, cache=True)
    assert refused.build is None
    assert [d.code for d in refused.check.diagnostics.sorted()] == ["routeros-unsupported"]
    assert found == [["routeros-unsupported"]]  # the incremental check found it first


def test_sarif_describes_the_rule(tmp_path: Path) -> None:
    files = estate(**{"acme-eu__peers__berlin_DOT_yaml": site(
        "berlin", "10.255.0.10", ["10.20.0.0/24"], routeros="7.8")})
    build_file_tree(tmp_path, files)  # type: ignore[arg-type]
    diags = api.check(tmp_path).diagnostics.sorted()
    sarif = json.loads(render_sarif(diags, cwd=tmp_path, tool_version="0"))
    (rule,) = sarif["runs"][0]["tool"]["driver"]["rules"]
    assert rule["id"] == "routeros-unsupported"
    assert rule["shortDescription"]["text"] == (
        "The site's RouterOS version lacks a command or argument its script needs")
