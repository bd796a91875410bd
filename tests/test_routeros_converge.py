"""Site scripts converge in place: proven on the RouterOS state model (tests/support/rosmodel).

The model interprets the scripts' subset of RouterOS scripting over tables of objects with
ids; it models RouterOS, it is not a device. "Kept" below means the same internal id: the
object was neither removed nor re-created. "Untouched" means no ``set`` ran on it either.
"""

from __future__ import annotations

import copy
import hashlib
import re
import tempfile
from collections import Counter
from collections.abc import Mapping
from pathlib import Path
from typing import cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compiler.api import check
from compiler.engine.versions import stamp
from compiler.keys import KeyRing
from compiler.render.context import instance_views
from compiler.render.routeros import render_rsc
from tests.support.rosmodel import Menu, Router, RouterError, UnsupportedError
from tests.support.routeros import validate
from tests.support.trees import TEST_SECRET, build_file_tree, compile_estate

WG: Menu = ("interface", "wireguard")
PEER: Menu = ("interface", "wireguard", "peers")
OVPN: Menu = ("interface", "ovpn-client")
ROUTE: Menu = ("ip", "route")
TAG = {"berlin": "mvpn:acme-eu/berlin", "hamburg": "mvpn:acme-eu/hamburg"}

Tree = dict[str, dict[str, object]]


def scripts(tree: Mapping[str, object], peer: str, inst: str = "acme-eu") -> tuple[str, str]:
    """(site script, what uninstalls it) of ``inst/peer``, stamped as a build stamps them.

    The site script installs its uninstaller on the router; uninstalling is running it.
    """
    with tempfile.TemporaryDirectory() as tmp:
        root = build_file_tree(Path(tmp), tree)  # type: ignore[arg-type]
        result = check(root)
        assert result.ok, [d.message for d in result.diagnostics.sorted()]
        view = next(v for v in instance_views(result.estate, KeyRing(TEST_SECRET))
                    if v.name == inst)
        site = next(p for p in view.peers if p.name == peer)
        return (stamp(render_rsc(view, site))[1].decode(),
                f"/system script run mvpn_{inst}_{peer}_uninstall\n")


def edited(tree: Tree, path: str, **changes: object) -> Tree:
    out = copy.deepcopy(tree)
    out[path].update(changes)
    return out


def version(router: Router, peer: str, inst: str = "acme-eu") -> str | None:
    found = [o.props["source"] for o in router.objects("system", "script")
             if o.props["name"] == f"mvpn_{inst}_{peer}"]
    if not found:
        return None
    m = re.fullmatch(r':return "([0-9a-f]{12})"', found[0])
    assert m is not None, found
    return m.group(1)


def header_version(script: str) -> str:
    m = re.match(r"# mvpn \S+ \S+ version ([0-9a-f]{12});", script)
    assert m is not None
    return m.group(1)


def one(router: Router, menu: Menu) -> int:
    """The id of the only object of ``menu``."""
    (obj,) = router.objects(*menu)
    return obj.id


def sets(router: Router) -> dict[tuple[Menu, int], int]:
    return {(m, o.id): o.sets for m, o in router.all_objects()}


def content(router: Router) -> Counter[tuple[Menu, tuple[tuple[str, str], ...]]]:
    """What the router holds, ids aside (to compare two routers that got there differently)."""
    return Counter((m, tuple(sorted(o.props.items()))) for m, o in router.all_objects())


def foreign(router: Router) -> None:
    """Objects an operator made (or a neighbouring peer's script): none may be touched."""
    router.run('/ip route add dst-address=0.0.0.0/0 gateway="ether1" comment="uplink"\n'
               '/ip route add dst-address=10.99.0.0/24 gateway="bridge" '
               'comment="mvpn:acme-eu/berlin-2 #00000000"\n'
               '/ip dns static add name="corp.example" type=FWD forward-to=1.1.1.1 '
               'match-subdomain=yes comment="mvpn:acme-eu/berlinx"\n')


BASE = compile_estate()
WITH_ROUTE = edited(BASE, "acme-eu/instance.yaml",
                    routing={"pushed_routes": ["10.0.0.0/16", "10.5.0.0/16"], "egress": "nat"})


# --------------------------------------------------------------------------- the properties

@pytest.mark.parametrize("peer", ["berlin", "hamburg"])
def test_running_the_same_script_twice_changes_nothing(peer: str) -> None:
    v1, _ = scripts(BASE, peer)
    router = Router()
    foreign(router)
    router.run(v1)
    before, touched = router.ids(), sets(router)
    assert version(router, peer) == header_version(v1)
    router.run(v1)
    assert router.ids() == before  # same ids, same values: nothing removed or re-created
    assert sets(router) == touched  # and nothing set again
    assert [e for e in router.log if e[0] != "info"] == []


@pytest.mark.parametrize("peer, tunnel", [("berlin", [WG, PEER]), ("hamburg", [OVPN])])
def test_a_route_only_change_never_touches_the_interface_or_its_peer(
        peer: str, tunnel: list[Menu]) -> None:
    v1, _ = scripts(BASE, peer)
    v2, _ = scripts(WITH_ROUTE, peer)
    router = Router()
    router.run(v1)
    kept = {m: one(router, m) for m in tunnel}
    touched = sets(router)
    router.run(v2)
    assert {m: one(router, m) for m in tunnel} == kept
    assert {(m, i): touched[(m, i)] for m, i in kept.items()} == {
        (m, i): sets(router)[(m, i)] for m, i in kept.items()}
    assert "10.5.0.0/16" in {o.props["dst-address"] for o in router.objects(*ROUTE)}
    assert version(router, peer) == header_version(v2)


@pytest.mark.parametrize("peer", ["berlin", "hamburg"])
def test_going_back_removes_exactly_the_extra_route(peer: str) -> None:
    v1, _ = scripts(BASE, peer)
    v2, _ = scripts(WITH_ROUTE, peer)
    router = Router()
    foreign(router)
    router.run(v2)
    before = router.ids()
    router.run(v1)
    after = router.ids()
    fresh = Router()
    fresh.run(v1)

    def routes(snapshot: dict[tuple[Menu, int], dict[str, str]]) -> set[tuple[Menu, str]]:
        return {(k[0], v["dst-address"]) for k, v in snapshot.items()
                if k[0] in (ROUTE, ("ipv6", "route"))
                and v.get("comment", "").startswith(TAG[peer] + " ")}

    extra = routes(before) - routes(fresh.ids())
    assert (ROUTE, "10.5.0.0/16") in extra
    gone = {(k[0], before[k]["dst-address"]) for k in before.keys() - after.keys()}
    assert gone == extra  # exactly the routes v1 does not want
    # With aggregates (SPEC §10) a new network may also change which blocks v1 routes:
    # whatever v1 wants that v2 did not have is added, nothing else.
    added = {(k[0], after[k]["dst-address"]) for k in after.keys() - before.keys()}
    assert added == routes(fresh.ids()) - routes(before)
    changed = {k for k in before.keys() & after.keys() if after[k] != before[k]}
    assert {k[0] for k in changed} == {("system", "script")}  # the version, nothing else
    assert version(router, peer) == header_version(v1)


def test_a_wireguard_key_rotation_sets_the_new_key_in_place() -> None:
    v1, _ = scripts(BASE, "berlin")
    v2, _ = scripts(edited(BASE, "acme-eu/peers/berlin.yaml", key_epoch=2), "berlin")
    router = Router()
    router.run(v1)
    iface, peer = one(router, WG), one(router, PEER)
    old_key = router.objects(*WG)[0].props["private-key"]
    routes = {o.id for o in router.objects(*ROUTE)}
    router.run(v2)
    assert (one(router, WG), one(router, PEER)) == (iface, peer)
    assert router.objects(*WG)[0].props["private-key"] != old_key
    assert {o.id for o in router.objects(*ROUTE)} == routes
    assert version(router, "berlin") == header_version(v2)


def test_an_openvpn_key_rotation_switches_certificates_in_place() -> None:
    v1, _ = scripts(BASE, "hamburg")
    v2, _ = scripts(edited(BASE, "acme-eu/peers/hamburg.yaml", key_epoch=2), "hamburg")
    router = Router()
    router.run(v1)
    client = one(router, OVPN)
    old = router.objects(*OVPN)[0].props["certificate"]
    router.run(v2)
    assert one(router, OVPN) == client
    new = router.objects(*OVPN)[0].props["certificate"]
    certs = {o.props["name"]: o.props for o in router.objects("certificate")}
    assert new != old and old not in certs and new in certs  # the old one went, last
    assert certs[new]["private-key"] == "yes"
    trusted = [n for n, p in certs.items() if p["trusted"] == "yes"]
    assert len(certs) == 2 and len(trusted) == 1 and "_ca_" in trusted[0]
    assert router.objects("file") == []  # no key file left on the flash


def _ca_name(epoch: int) -> str:
    """The name hamburg's script imports the instance's CA of ``epoch`` under."""
    pem = KeyRing(TEST_SECRET).openvpn_ca("acme-eu", epoch)
    return f"mvpn_acme-eu_hamburg_ca_{hashlib.sha256(pem.encode()).hexdigest()[:8]}"


def _certificates(router: Router) -> tuple[list[str], list[str]]:
    """(trusted CAs, certificates with a key) on the router, by name."""
    certs = router.objects("certificate")
    return (sorted(o.props["name"] for o in certs if o.props.get("trusted") == "yes"),
            sorted(o.props["name"] for o in certs if o.props.get("private-key") == "yes"))


def test_a_two_step_hub_key_rotation_adds_the_new_ca_then_drops_the_old() -> None:
    """Step 1 trusts both CAs (the hub still presents a CA-1 certificate) and switches the
    client to a CA-2 certificate in place; step 2 only removes CA 1."""
    inst = "acme-eu/instance.yaml"
    v1, _ = scripts(BASE, "hamburg")
    step1, _ = scripts(edited(BASE, inst, key_epoch=2, retiring_key_epoch=1), "hamburg")
    step2, _ = scripts(edited(BASE, inst, key_epoch=2), "hamburg")
    router = Router()
    router.run(v1)
    client = one(router, OVPN)
    (old_cert,) = _certificates(router)[1]
    assert _certificates(router)[0] == [_ca_name(1)]
    router.run(step1)
    cas, (new_cert,) = _certificates(router)
    assert cas == sorted([_ca_name(1), _ca_name(2)]) and new_cert != old_cert
    assert one(router, OVPN) == client
    assert router.objects(*OVPN)[0].props["certificate"] == new_cert
    touched = sets(router)[(OVPN, client)]
    router.run(step2)
    assert _certificates(router) == ([_ca_name(2)], [new_cert])
    assert sets(router)[(OVPN, client)] == touched  # the client is not even set
    assert router.objects("file") == [] and version(router, "hamburg") == header_version(step2)
    fresh = Router()
    fresh.run(step2)
    assert content(router) == content(fresh)


def test_a_wireguard_site_moves_to_the_new_hub_key_and_port_in_place_and_stays_at_step_two(
        ) -> None:
    """Moved during step 1 (hub_key_epoch, next_port): the hub peer is set to the new key and
    port on the same interface; step 2 with the port switched is the same script, a no-op."""
    inst, site = "acme-eu/instance.yaml", "acme-eu/peers/berlin.yaml"
    wireguard = cast("dict[str, object]", BASE[inst]["wireguard"])
    step1 = edited(BASE, inst, key_epoch=2, retiring_key_epoch=1,
                   wireguard={**wireguard, "next_port": 51821})
    v1, _ = scripts(BASE, "berlin")
    unmoved, _ = scripts(step1, "berlin")
    moved, _ = scripts(edited(step1, site, hub_key_epoch=2), "berlin")
    step2, _ = scripts(edited(edited(BASE, inst, key_epoch=2,
                                     wireguard={**wireguard, "port": 51821}),
                              site, hub_key_epoch=2), "berlin")
    assert unmoved == v1 and step2 == moved
    router = Router()
    router.run(v1)
    iface, peer = one(router, WG), one(router, PEER)
    hub = router.objects(*PEER)[0].props
    assert (hub["public-key"], hub["endpoint-port"]) == (
        KeyRing(TEST_SECRET).wireguard_hub("acme-eu", 1).public_key, "51820")
    before = sets(router)
    router.run(moved)
    assert (one(router, WG), one(router, PEER)) == (iface, peer)
    hub = router.objects(*PEER)[0].props
    assert (hub["public-key"], hub["endpoint-port"]) == (
        KeyRing(TEST_SECRET).wireguard_hub("acme-eu", 2).public_key, "51821")
    # Only the hub peer (and the version record) was set: the interface and routes stay.
    after = sets(router)
    assert {k[0] for k in after if after[k] != before.get(k)} == {PEER, ("system", "script")}
    router.run(step2)
    assert sets(router) == after  # step 2 changes nothing on a moved site
    fresh = Router()
    fresh.run(step2)
    assert content(router) == content(fresh)


@pytest.mark.parametrize("peer", ["berlin", "hamburg"])
def test_uninstall_leaves_no_tagged_object(peer: str) -> None:
    v1, uninstall = scripts(WITH_ROUTE, peer)
    router = Router()
    foreign(router)
    theirs = router.ids()
    router.run(v1)
    assert router.tagged(TAG[peer])
    router.run(uninstall)
    assert router.tagged(TAG[peer]) == []
    left = router.ids()
    # Only the operator's objects and the shared interface list stay.
    assert {k: v for k, v in left.items() if k[0] != ("interface", "list")} == theirs
    assert [o.props["name"] for o in router.objects("interface", "list")] == ["mvpn"]
    assert router.objects("certificate") == [] and version(router, peer) is None
    assert router.objects("system", "script") == []  # the uninstaller went too, last
    assert ("info", f"mvpn acme-eu/{peer}: removed") in router.log


@pytest.mark.parametrize("peer", ["berlin", "hamburg"])
def test_an_uninstall_that_failed_half_way_stays_and_runs_again(peer: str) -> None:
    """Each removal in turn fails: the uninstaller is kept, and its next run finishes."""
    v1, uninstall = scripts(WITH_ROUTE, peer)
    steps = _mutations(uninstall, v1)
    assert steps > 5
    for fail_at in range(steps):
        router = Router()
        router.run(v1)
        router.fail_at = router.mutations + fail_at
        router.run(uninstall)  # no error escapes it
        assert router.tagged(TAG[peer]), fail_at  # the uninstaller at least
        assert [o.props["name"] for o in router.objects("system", "script")
                if o.props["name"].endswith("_uninstall")] == [
                    f"mvpn_acme-eu_{peer}_uninstall"], fail_at
        errors = [msg for level, msg in router.log if level == "error"]
        assert errors[-1] in (f"mvpn acme-eu/{peer}: not everything was removed (see above); "
                              "run it again", f"mvpn acme-eu/{peer}: uninstall script not "
                              "removed"), fail_at
        router.fail_at = None
        router.run(uninstall)
        assert router.tagged(TAG[peer]) == [], fail_at


def _mutations(script: str, setup: str) -> int:
    router = Router()
    router.run(setup)
    start = router.mutations
    router.run(script)
    return router.mutations - start


@pytest.mark.parametrize("peer", ["berlin", "hamburg"])
def test_a_failure_half_way_keeps_the_tunnel_and_the_old_version(peer: str) -> None:
    """Each mutating command of v2 in turn fails (RouterOS refusing it)."""
    v1, _ = scripts(BASE, peer)
    changed = edited(WITH_ROUTE, f"acme-eu/peers/{peer}.yaml", key_epoch=3)
    v2, _ = scripts(edited(changed, "acme-eu/instance.yaml", dns={}), peer)  # forwarders go
    clean = Router()
    clean.run(v2)
    steps = _mutations(v2, v1)
    assert steps > 5
    for fail_at in range(steps):
        router = Router()
        router.run(v1)
        before = router.ids()
        tunnel = {(m, o.id) for m, o in router.all_objects() if m in (WG, PEER, OVPN)}
        router.fail_at = router.mutations + fail_at
        router.run(v2)  # no error escapes the script
        after = router.ids()
        assert version(router, peer) == header_version(v1), fail_at
        assert tunnel <= after.keys(), fail_at
        errors = [msg for level, msg in router.log if level == "error"]
        assert errors, fail_at  # the failure is logged, naming what was not done
        if any(msg.endswith(" not applied") for msg in errors):
            assert before.keys() - after.keys() == set(), fail_at  # so nothing was removed
        router.fail_at = None
        router.run(v2)  # the next run completes what the failed one left
        assert content(router) == content(clean), fail_at
        assert version(router, peer) == header_version(v2)


def test_switching_protocol_adds_the_new_tunnel_before_the_old_goes() -> None:
    v1, _ = scripts(BASE, "berlin")
    openvpn = edited(BASE, "acme-eu/peers/berlin.yaml", protocol="openvpn", address="10.254.0.20")
    del openvpn["acme-eu/peers/berlin.yaml"]["address6"]
    # An OpenVPN site carries no IPv6 here (ipv6-untunnelled): its IPv6 LAN goes with it.
    berlin = openvpn["acme-eu/peers/berlin.yaml"]
    berlin["subnets"] = [n for n in cast("list[str]", berlin["subnets"]) if ":" not in n]
    v2, _ = scripts(openvpn, "berlin")
    router = Router()
    router.run(v1)
    address = one(router, ("ip", "address"))
    router.run(v2)
    assert router.objects(*WG) == [] and router.objects(*PEER) == []
    assert one(router, ("ip", "address")) == address  # moved to the new interface in place
    (client,) = router.objects(*OVPN)
    assert {o.props["gateway"] for o in router.objects(*ROUTE)} == {client.props["name"]}
    assert version(router, "berlin") == header_version(v2)


# --------------------------------------------------------------------------- hypothesis

_SUBNETS = ["10.20.0.0/24", "10.20.1.0/24", "2001:db8:20::/64"]
_PUSHED = ["10.0.0.0/16", "10.5.0.0/16", "10.6.0.0/16"]
_DOMAINS = ["corp.example", "lab.example"]


@st.composite
def estates(draw: st.DrawFn) -> Tree:
    """The test estate with random edits: subnets, pushed routes, key epoch, DNS, a neighbour."""
    tree = copy.deepcopy(BASE)
    berlin = tree["acme-eu/peers/berlin.yaml"]
    berlin["subnets"] = draw(st.lists(st.sampled_from(_SUBNETS), min_size=1, unique=True))
    berlin["key_epoch"] = draw(st.integers(1, 2))
    inst = tree["acme-eu/instance.yaml"]
    inst["routing"] = {"pushed_routes": draw(st.lists(st.sampled_from(_PUSHED), unique=True)),
                       "egress": "nat"}
    domains = draw(st.lists(st.sampled_from(_DOMAINS), unique=True))
    inst["dns"] = {"servers": ["10.0.0.53"], "domains": domains} if domains else {}
    if draw(st.booleans()):
        tree["acme-eu/peers/munich.yaml"] = {
            "type": "site", "site": "munich-office", "protocol": "wireguard",
            "subnets": ["10.22.0.0/24"], "address": "10.255.0.30",
            "address6": "fd00:255::30"}
    return tree


@settings(max_examples=25, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(a=estates(), b=estates())
def test_any_edit_converges_like_a_fresh_install(a: Tree, b: Tree) -> None:
    va, _ = scripts(a, "berlin")
    vb, uninstall = scripts(b, "berlin")
    assert validate(vb) == []
    fresh = Router()
    fresh.run(vb)
    router = Router()
    router.run(va)
    tunnel = (one(router, WG), one(router, PEER))
    touched = sets(router)
    router.run(vb)
    assert content(router) == content(fresh)  # the same state as a fresh install of b
    assert (one(router, WG), one(router, PEER)) == tunnel  # never re-created
    if (a["acme-eu/peers/berlin.yaml"]["key_epoch"] == b["acme-eu/peers/berlin.yaml"]["key_epoch"]
            and sorted(map(str, a)) == sorted(map(str, b))):
        # Same key, same peers: only routes and DNS may differ: the interface is untouched.
        assert sets(router)[(WG, tunnel[0])] == touched[(WG, tunnel[0])]
    before = router.ids()
    router.run(vb)
    assert router.ids() == before  # and running b again changes nothing
    router.run(uninstall)
    assert router.tagged(TAG["berlin"]) == []


_HUB_EPOCHS = [{"key_epoch": 1}, {"key_epoch": 2, "retiring_key_epoch": 1}, {"key_epoch": 2},
               {"key_epoch": 3, "retiring_key_epoch": 2}, {"key_epoch": 3}]


@st.composite
def rotations(draw: st.DrawFn) -> Tree:
    """The test estate at a random point of hub key rotations, hamburg at a random epoch."""
    tree = edited(BASE, "acme-eu/instance.yaml", **draw(st.sampled_from(_HUB_EPOCHS)))
    return edited(tree, "acme-eu/peers/hamburg.yaml", key_epoch=draw(st.integers(1, 2)))


@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(a=rotations(), b=rotations())
def test_any_hub_rotation_step_converges_like_a_fresh_install(a: Tree, b: Tree) -> None:
    """An OpenVPN site moved between any two rotation states keeps its client and ends with
    exactly the CAs and certificate a fresh install of the later script has."""
    va, _ = scripts(a, "hamburg")
    vb, _ = scripts(b, "hamburg")
    fresh = Router()
    fresh.run(vb)
    router = Router()
    router.run(va)
    client = one(router, OVPN)
    router.run(vb)
    assert content(router) == content(fresh) and one(router, OVPN) == client
    epochs = cast("dict[str, int]", b["acme-eu/instance.yaml"])
    trusted = {epochs.get("retiring_key_epoch", epochs["key_epoch"]), epochs["key_epoch"]}
    assert _certificates(router)[0] == sorted(_ca_name(e) for e in trusted)


def _wg_state(state: int) -> Tree:
    """berlin (WireGuard) through a rotation: 0 epoch 1; 1 step 1 with next_port, not moved;
    2 moved; 3 step 2 with the port switched; 4 step 2 without (a changed profile)."""
    inst, site = "acme-eu/instance.yaml", "acme-eu/peers/berlin.yaml"
    wireguard = cast("dict[str, object]", BASE[inst]["wireguard"])
    if state == 0:
        return BASE
    if state in (1, 2):
        tree = edited(BASE, inst, key_epoch=2, retiring_key_epoch=1,
                      wireguard={**wireguard, "next_port": 51821})
    else:
        port = 51821 if state == 3 else 51820
        tree = edited(BASE, inst, key_epoch=2, wireguard={**wireguard, "port": port})
    return edited(tree, site, hub_key_epoch=2) if state != 1 else tree


@settings(max_examples=15, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(a=st.integers(0, 4), b=st.integers(0, 4))
def test_a_wireguard_site_between_any_two_rotation_states_converges_in_place(
        a: int, b: int) -> None:
    """The hub peer follows the hub's key and port; the interface and the peer object stay."""
    va, _ = scripts(_wg_state(a), "berlin")
    vb, _ = scripts(_wg_state(b), "berlin")
    fresh = Router()
    fresh.run(vb)
    router = Router()
    router.run(va)
    kept = (one(router, WG), one(router, PEER))
    router.run(vb)
    assert content(router) == content(fresh) and (one(router, WG), one(router, PEER)) == kept


# --------------------------------------------------------------------------- the model itself

@pytest.mark.parametrize("script, error", [
    ('/ip firewall filter add chain=input action=accept\n', "unmodelled menu /ip firewall"),
    (':foreach i in=[/ip route find] do={}\n', ":foreach"),
    ('/ip route add dst-address=10.0.0.0/8 gateway="ether1" distance=5\n', "distance"),
    (':local x "a$y"\n', "interpolated"),
    (':if ([:len [/ip route find]] = "0") do={}\n', "comparing int with str"),
])
def test_the_model_refuses_what_it_does_not_model(script: str, error: str) -> None:
    with pytest.raises(UnsupportedError, match=re.escape(error)):
        Router().run(script)


def test_the_model_refuses_what_routeros_refuses() -> None:
    router = Router()
    add = '/interface wireguard add name="wg-x" listen-port=1 private-key="k"\n'
    router.run(add)
    with pytest.raises(RouterError, match="already exists"):
        router.run(add)  # an unguarded add, run twice
    router.run('/ip address add address=10.0.0.1/24 interface="wg-x"\n')
    with pytest.raises(RouterError, match="in use"):
        router.run('/interface wireguard remove [find where name="wg-x"]\n')


def test_the_model_sees_a_recreating_script() -> None:
    """What the properties above rule out: the old remove-then-add script changes every id."""
    script = ('/ip route remove [find where comment~"^t( |\\$)"]\n'
              '/ip route add dst-address=10.0.0.0/16 gateway="ether1" comment="t"\n')
    router = Router()
    router.run(script)
    before = router.ids()
    router.run(script)
    assert router.ids() != before


def test_an_unsynchronised_clock_is_logged_and_the_run_goes_on() -> None:
    v1, _ = scripts(BASE, "berlin")
    router = Router()
    router.ntp_status = "waiting"
    router.run(v1)
    assert router.log == [("warning", "mvpn acme-eu/berlin: the clock is not synchronised by NTP; "
                                      "the tunnel needs the right time")]
    assert version(router, "berlin") == header_version(v1)


def test_upgrading_from_the_former_recreating_script_keeps_the_tunnel() -> None:
    """What the former scripts left on a router (objects tagged without a hash) is set in place."""
    old_comment = '"mvpn:acme-eu/berlin Berlin \\"HQ\\" office, budget \\$5 [rack 2]"'
    former = (
        f'/interface wireguard add name="wg-acme-eu" private-key="old" comment={old_comment}\n'
        '/interface wireguard peers add interface="wg-acme-eu" public-key="hub" '
        'endpoint-address="acme-eu.vpn.example.net" endpoint-port=51820 '
        f'allowed-address=10.0.0.0/16 persistent-keepalive=25s comment={old_comment}\n'
        '/ip address add address=10.255.0.10/24 interface="wg-acme-eu" '
        f'comment={old_comment}\n'
        '/ip route add dst-address=10.0.0.0/16 gateway="wg-acme-eu" '
        f'comment={old_comment}\n'
        '/ip route add dst-address=10.99.0.0/24 gateway="wg-acme-eu" '
        f'comment={old_comment}\n'
        '/system script add name="mvpn_acme-eu_berlin" source=":return \\"000000000000\\"" '
        f'comment={old_comment}\n')
    v1, _ = scripts(BASE, "berlin")
    router = Router()
    router.run(former)
    kept = {m: one(router, m) for m in (WG, PEER, ("ip", "address"))}
    route = next(o.id for o in router.objects(*ROUTE) if o.props["dst-address"] == "10.0.0.0/16")

    def record() -> list[int]:  # the version record (the uninstaller is a script beside it)
        return [o.id for o in router.objects("system", "script")
                if o.props["name"] == "mvpn_acme-eu_berlin"]

    before = record()
    router.run(v1)
    assert {m: one(router, m) for m in kept} == kept and record() == before
    routes = {o.props["dst-address"]: o.id for o in router.objects(*ROUTE)}
    assert routes["10.0.0.0/16"] == route and "10.99.0.0/24" not in routes
    assert router.objects(*WG)[0].props["private-key"] != "old"
    assert all(" #" in o.props["comment"] for _m, o in router.tagged(TAG["berlin"]))
    assert version(router, "berlin") == header_version(v1)
