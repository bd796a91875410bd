"""Names that must fit device limits (compiler/render/names.py), and where the build uses them."""

from __future__ import annotations

import copy
import re
import subprocess
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.api import compile_tree
from compiler.render.names import (
    fit_comment,
    linux_ifnames,
    listen_port,
    ovpn_user,
    routeros_ifname,
)
from tests.support.routeros import tokenize, validate
from tests.support.tools import require
from tests.support.trees import TEST_SECRET, build_file_tree, compile_estate

NAME = st.from_regex(r"[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?", fullmatch=True)


@settings(max_examples=200, deadline=None)
@given(names=st.lists(NAME, min_size=1, max_size=30, unique=True))
def test_linux_interface_names_fit_and_never_collide(names: list[str]) -> None:
    out = linux_ifnames(names)
    assert set(out) == set(names)
    assert all(len(v) <= 15 and re.fullmatch(r"[a-z0-9][a-z0-9-]*", v) for v in out.values())
    assert len(set(out.values())) == len(names)  # collision-free within the instance
    assert all(out[n] == n for n in names if len(n) <= 15)  # short names are kept
    assert linux_ifnames(reversed(names)) == out  # deterministic, whatever the order


def test_a_collision_with_a_short_name_is_salted_away() -> None:
    long = "a-very-long-site-name-number-one"
    short = linux_ifnames([long])[long]
    out = linux_ifnames([long, short])  # another peer is literally called like the short form
    assert out[short] == short and out[long] != short and len(out[long]) <= 15


def test_openvpn_user_names_fit_routeros() -> None:
    assert ovpn_user("berlin") == "berlin" and ovpn_user("a" * 27) == "a" * 27
    long_a, long_b = ovpn_user("a" * 28), ovpn_user("a" * 27 + "b")
    assert re.fullmatch(r"a{22}-[0-9a-f]{4}", long_a) and len(long_a) == 27
    assert long_a != long_b and ovpn_user("a" * 28) == long_a


@given(inst=st.from_regex(r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?", fullmatch=True),
       proto=st.sampled_from(["wireguard", "openvpn"]))
def test_routeros_interface_names_fit(inst: str, proto: str) -> None:
    name = routeros_ifname(proto, inst)
    assert len(name) <= 15 and name.startswith("wg-" if proto == "wireguard" else "ovpn-")


def test_listen_port_is_fixed_and_away_from_the_defaults() -> None:
    ports = {listen_port(f"mvpn:eu/site{i}") for i in range(200)}
    assert ports <= set(range(20000, 30000)) and len(ports) > 150
    assert listen_port("mvpn:eu/a") == listen_port("mvpn:eu/a")


def test_comments_are_cut_to_255_bytes_on_a_character_boundary() -> None:
    assert fit_comment("mvpn:e/p #12345678", None) == "mvpn:e/p #12345678"
    long = fit_comment("mvpn:e/p #12345678", "é" * 200)
    assert len(long.encode()) <= 255 and long.endswith("é")
    assert long == "mvpn:e/p #12345678 " + "é" * ((255 - 19) // 2)


def test_long_names_compile_to_artifacts_within_the_limits(tmp_path: Path) -> None:
    """A 32-character site name and a 32-character instance: every limit holds."""
    tree = copy.deepcopy(compile_estate())
    long_peer = "berlin-office-headquarters-rack2"  # 32 characters
    inst = "acme-europe-frankfurt-main-hub01"
    files = {k.replace("acme-eu/", f"{inst}/").replace("/berlin.", f"/{long_peer}."): v
             for k, v in tree.items()}
    files[f"{inst}/instance.yaml"]["hostname"] = "acme-europe"
    files[f"{inst}/peers/hamburg.yaml"]["routeros"] = "7.18"
    hamburg = files.pop(f"{inst}/peers/hamburg.yaml")
    files[f"{inst}/peers/hamburg-warehouse-logistics-nrth.yaml"] = hamburg
    out = tmp_path / "out"
    result = compile_tree(build_file_tree(tmp_path / "src", files), out, TEST_SECRET, qr=False)
    assert result.build is not None, [d.message for d in result.check.diagnostics.sorted()]
    sites = sorted(p.name for p in (out / inst / "sites").iterdir())
    conf = [n for n in sites if n.endswith(".conf")]
    assert conf == [linux_ifnames([long_peer])[long_peer] + ".conf"]
    assert len(conf[0].removesuffix(".conf")) <= 15
    for name in sites:
        if not name.endswith(".rsc"):
            continue
        script = (out / inst / "sites" / name).read_text(encoding="utf-8")
        assert validate(script) == [], name
        for cmd in (c for top in tokenize(script) for c in top.walk()):
            args = {a.name: a.value for a in cmd.args}
            if cmd.path[:1] == ["interface"] and "name" in args:
                assert len(args["name"]) <= 15, (name, args["name"])
            if "user" in args:
                assert len(args["user"]) <= 27
            if "comment" in args:
                assert len(args["comment"].encode("latin-1")) <= 255
    # wg-quick takes the interface name from the file name and refuses one over 15.
    proc = subprocess.run([require("wg-quick"), "strip", str(out / inst / "sites" / conf[0])],
                          capture_output=True, text=True, check=False, timeout=30)
    assert proc.returncode == 0, proc.stderr
