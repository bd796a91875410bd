"""End-to-end compile tests: reproducibility, versions, manifest, modes, and real software.

Failure messages name files and never print key material: only paths, hashes and (for the
fixed test secret) tool logs.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import ipaddress
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from compiler.api import compile_tree
from compiler.cli.main import main
from compiler.engine.versions import combine
from compiler.render.env import VERSION_SLOT
from tests.support.netlab import lab
from tests.support.routeros import tokenize, validate
from tests.support.tools import skip_or_fail
from tests.support.trees import (
    TEST_SECRET,
    TEST_SECRET_B64,
    build_file_tree,
    client,
    compile_estate,
)
from tests.support.vpnlab import OVPN_READY

HEX12 = re.compile(r"[0-9a-f]{12}")
# A process that never gets there is a failure, not a hang: generous bounds, no timing asserts.
PROCESS_BOUND = 30.0


# --------------------------------------------------------------------------- helpers


Tree = dict[str, dict[str, object]]


def _build(tmp: Path, name: str, tree: Tree | None = None,
           secret: bytes | None = TEST_SECRET, out: Path | None = None) -> Path:
    root = build_file_tree(tmp / f"{name}-tree", tree if tree is not None else compile_estate())
    out = out if out is not None else tmp / f"{name}-build"
    result = compile_tree(root, out, secret)
    assert result.build is not None, [d.message for d in result.check.diagnostics]
    return out


def _files(root: Path) -> dict[str, Path]:
    return {p.relative_to(root).as_posix(): p for p in sorted(root.rglob("*")) if p.is_file()}


def _manifest(out: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return data


def _hashes(out: Path) -> dict[str, str]:
    """sha256 of every artifact, keyed ``<instance>/<path>``, from the manifest."""
    return {
        f"{inst}/{path}": art["sha256"]
        for inst, entry in _manifest(out)["instances"].items()
        for path, art in entry["artifacts"].items()
    }


def _changed(a: Path, b: Path) -> set[str]:
    ha, hb = _hashes(a), _hashes(b)
    assert ha.keys() == hb.keys()
    return {k for k in ha if ha[k] != hb[k]}


def _with(tree: Tree, path: str, **changes: object) -> Tree:
    """``tree`` with some keys of the document at ``path`` changed."""
    return {**tree, path: {**tree[path], **changes}}


def _artifacts(out: Path, suffix: str) -> list[Path]:
    return sorted(p for p in out.rglob(f"*{suffix}") if p.is_file())


_skip_or_fail = skip_or_fail


# --------------------------------------------------------------------------- reproducibility


def test_two_builds_are_byte_identical_with_the_same_modes(tmp_path: Path) -> None:
    a = _build(tmp_path, "a")
    b = _build(tmp_path, "b")
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    differing = [r for r in fa if fa[r].read_bytes() != fb[r].read_bytes()]
    assert differing == []
    modes = [r for r in fa if fa[r].stat().st_mode != fb[r].stat().st_mode]
    assert modes == []


def test_cli_compile_with_the_secret_in_the_environment_matches_the_api_build(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    api_build = _build(tmp_path, "api")
    monkeypatch.setenv("MVPN_SECRET", TEST_SECRET_B64)
    out = tmp_path / "cli-build"
    assert main(["compile", str(tmp_path / "api-tree"), "-o", str(out)]) == 0
    printed = capsys.readouterr()
    assert "secrets: derived" in printed.out
    assert TEST_SECRET_B64 not in printed.out + printed.err
    fa, fb = _files(api_build), _files(out)
    assert fa.keys() == fb.keys()
    assert [r for r in fa if fa[r].read_bytes() != fb[r].read_bytes()] == []


# --------------------------------------------------------------------------- key epochs


def test_site_key_epoch_bump_changes_only_that_site_and_its_hub(tmp_path: Path) -> None:
    tree = compile_estate()
    a = _build(tmp_path, "a", tree)
    b = _build(tmp_path, "b", _with(tree, "acme-eu/peers/berlin.yaml", key_epoch=2))
    assert _changed(a, b) == {
        "acme-eu/sites/berlin.rsc", "acme-eu/sites/berlin.conf",
        "acme-eu/hub/wireguard/wg0.conf",  # the hub learns the new public key
    }
    _assert_versions_moved(a, b, changed={"acme-eu"}, hub_changed={"acme-eu"})


def test_openvpn_client_key_epoch_bump_changes_only_that_client_and_its_hub(
    tmp_path: Path,
) -> None:
    tree = compile_estate()
    a = _build(tmp_path, "a", tree)
    b = _build(tmp_path, "b", _with(tree, "acme-eu/peers/carol.yaml", key_epoch=2))
    ha, hb = _hashes(a), _hashes(b)
    # The ccd file follows the certificate's CN, which names the epoch (issue 11.12).
    assert ha.keys() - hb.keys() == {"acme-eu/hub/openvpn/ccd/carol"}
    assert hb.keys() - ha.keys() == {"acme-eu/hub/openvpn/ccd/carol.epoch2"}
    new_head, new_body = (b / "acme-eu/hub/openvpn/ccd/carol.epoch2").read_text().split("\n", 1)
    assert new_head.startswith("# mvpn acme-eu hub/openvpn/ccd/carol.epoch2 version ")
    assert new_body == (a / "acme-eu/hub/openvpn/ccd/carol").read_text().split("\n", 1)[1]
    assert {k for k in ha.keys() & hb.keys() if ha[k] != hb[k]} == {
        "acme-eu/clients/carol.ovpn",
        "acme-eu/hub/openvpn/pki/crl.pem",  # the old certificate is revoked
    }
    _assert_versions_moved(a, b, changed={"acme-eu"}, hub_changed={"acme-eu"})


def test_instance_key_epoch_bump_rotates_the_hub_keys(tmp_path: Path) -> None:
    tree = compile_estate()
    a = _build(tmp_path, "a", tree)
    b = _build(tmp_path, "b", _with(tree, "acme-eu/instance.yaml", key_epoch=2))
    changed = _changed(a, b)
    keyed = {
        "acme-eu/hub/wireguard/wg0.conf", "acme-eu/hub/openvpn/pki/ca.crt",
        "acme-eu/hub/openvpn/pki/server.crt", "acme-eu/hub/openvpn/pki/server.key",
        "acme-eu/hub/openvpn/pki/crl.pem",
    }
    assert keyed <= changed
    # Files without key material stay as they are; the other instance is untouched.
    assert not changed & {
        "acme-eu/hub/nftables.conf", "acme-eu/hub/sysctl.conf",
        "acme-eu/hub/openvpn/server.conf", "acme-eu/hub/openvpn/ccd/carol",
        "acme-eu/hub/openvpn/ccd/hamburg",
    }
    assert not any(k.startswith("acme-us/") for k in changed)
    _assert_versions_moved(a, b, changed={"acme-eu"}, hub_changed={"acme-eu"})


def _assert_versions_moved(a: Path, b: Path, changed: set[str], hub_changed: set[str]) -> None:
    ma, mb = _manifest(a)["instances"], _manifest(b)["instances"]
    for inst in ma:
        moved = ma[inst]["version"] != mb[inst]["version"]
        assert moved == (inst in changed), inst
        assert (a / inst / "VERSION").read_bytes() != (b / inst / "VERSION").read_bytes() or (
            inst not in changed
        ), inst
        hub_moved = ma[inst]["hub_version"] != mb[inst]["hub_version"]
        assert hub_moved == (inst in hub_changed), inst
    assert (a / "manifest.json").read_bytes() != (b / "manifest.json").read_bytes()


# --------------------------------------------------------------------------- manifest & versions


@pytest.mark.parametrize("secrets", ["derived", "redacted"])
def test_manifest_shape_and_hashes(tmp_path: Path, secrets: str) -> None:
    out = _build(tmp_path, "a", secret=TEST_SECRET if secrets == "derived" else None)
    m = _manifest(out)
    assert m["format"] == 1
    assert m["compiler"] == "mvpn 0.1.0"
    assert m["secrets"] == secrets
    assert set(m["instances"]) == {"acme-eu", "acme-us"}
    covered = {"manifest.json"}
    for inst, entry in m["instances"].items():
        assert HEX12.fullmatch(entry["version"]), inst
        assert (out / inst / "VERSION").read_text(encoding="ascii") == entry["version"] + "\n"
        assert (out / inst / "hub" / "VERSION").read_text(encoding="ascii") == (
            entry["hub_version"] + "\n"
        )
        covered |= {f"{inst}/VERSION", f"{inst}/hub/VERSION"}
        assert entry["artifacts"], inst
        for path, art in entry["artifacts"].items():
            assert {"sha256", "bytes", "secret"} <= art.keys(), path
            data = (out / inst / path).read_bytes()
            assert art["sha256"] == hashlib.sha256(data).hexdigest(), path
            assert art["bytes"] == len(data), path
            assert isinstance(art["secret"], bool), path
            covered.add(f"{inst}/{path}")
        # The instance version covers all its artifacts' versions (hub: the hub files only).
        parts = [(p, a["version"]) for p, a in entry["artifacts"].items()]
        assert entry["version"] == combine(parts)
        assert entry["hub_version"] == combine((p, v) for p, v in parts if p.startswith("hub/"))
    # Every file of the build is accounted for by the manifest.
    assert set(_files(out)) == covered


def test_every_artifact_header_carries_its_own_content_version(tmp_path: Path) -> None:
    out = _build(tmp_path, "a")
    for inst, entry in _manifest(out)["instances"].items():
        for path, art in entry["artifacts"].items():
            text = (out / inst / path).read_text(encoding="utf-8")
            head = text.split("\n", 2)[:2]  # line 1, or line 2 after a #! line
            marker = f"mvpn {inst} {path} version "
            header = next((line for line in head if marker in line), None)
            assert header is not None, f"{inst}/{path}: no version header in the first lines"
            match = HEX12.match(header.split(marker, 1)[1])
            assert match is not None, f"{inst}/{path}"
            version = match.group(0)
            unstamped = text.replace(version, VERSION_SLOT)
            assert hashlib.sha256(unstamped.encode()).hexdigest()[:12] == version, (
                f"{inst}/{path}: version is not the hash of the content without it"
            )
            assert art["version"] == version, f"{inst}/{path}"


def test_a_routeros_script_records_its_own_version_on_the_router(tmp_path: Path) -> None:
    out = _build(tmp_path, "a")
    m = _manifest(out)["instances"]
    for rsc in _artifacts(out, ".rsc"):
        inst, rel = rsc.relative_to(out).as_posix().split("/", 1)
        version = m[inst]["artifacts"][rel]["version"]
        scripts = [c for top in tokenize(rsc.read_text(encoding="utf-8")) for c in top.walk()
                   if c.path == ["system", "script"] and c.word == "add"]
        assert len(scripts) == 2, rsc.name  # the version record and the uninstaller
        scripts = [c for c in scripts
                   if not any(a.name == "name" and a.value.endswith("_uninstall")
                              for a in c.args)]
        args = {a.name: a.value for a in scripts[0].args}
        assert args["source"] == f':return "{version}"', rsc.name
        assert args["name"] == f"mvpn_{inst}_{rsc.stem}", rsc.name


# --------------------------------------------------------------------------- secrets & modes

_PEM_KEY = re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----\s*\n\s*([A-Za-z0-9+/=]{16,})")
_WG_KEY = re.compile(r"(?:PrivateKey\s*=\s*|private-key=\"?|PresharedKey\s*=\s*|preshared-key=\"?)"
                     r"([A-Za-z0-9+/]{42,43}=)")


def _secret_spans(data: str) -> list[str]:
    return [m.group(0)[:24] for m in (*_PEM_KEY.finditer(data), *_WG_KEY.finditer(data))]


@pytest.mark.parametrize("secrets", ["derived", "redacted"])
def test_secret_files_are_0600_and_others_0644(tmp_path: Path, secrets: str) -> None:
    out = _build(tmp_path, "a", secret=TEST_SECRET if secrets == "derived" else None)
    for inst, entry in _manifest(out)["instances"].items():
        for path, art in entry["artifacts"].items():
            mode = (out / inst / path).stat().st_mode & 0o777
            want = 0o600 if art["secret"] else 0o755 if path == "hub/apply.sh" else 0o644
            assert mode == want, f"{inst}/{path}: {mode:o}"
    for rel in ("manifest.json", "acme-eu/VERSION", "acme-eu/hub/VERSION"):
        assert (out / rel).stat().st_mode & 0o777 == 0o644, rel


def test_every_file_with_private_key_material_is_marked_secret(tmp_path: Path) -> None:
    out = _build(tmp_path, "a")
    for inst, entry in _manifest(out)["instances"].items():
        for path, art in entry["artifacts"].items():
            text = (out / inst / path).read_text(encoding="utf-8")
            rsc_pem = "BEGIN PRIVATE KEY-----\\n" in text  # inside a RouterOS string
            if _secret_spans(text) or rsc_pem:
                assert art["secret"], f"{inst}/{path} holds a private key but is not secret"
    # The profile of a client with its own key has no private key, but its preshared key.
    dave = _manifest(out)["instances"]["acme-eu"]["artifacts"]["clients/dave.conf"]
    assert dave["secret"] is True


def test_redacted_build_holds_no_private_key_material(tmp_path: Path) -> None:
    derived = _build(tmp_path, "derived")
    redacted = _build(tmp_path, "redacted", secret=None)
    assert _manifest(redacted)["secrets"] == "redacted"
    # Every private key value of the real build, as it appears in any artifact.
    keys: set[str] = set()
    for path in _files(derived).values():
        text = path.read_text(encoding="utf-8")
        keys |= {m.group(1) for m in _WG_KEY.finditer(text)}
        keys |= {m.group(1)[:32] for m in _PEM_KEY.finditer(text)}
    assert keys  # the scan does find the keys of a real build
    for rel, path in _files(redacted).items():
        text = path.read_text(encoding="utf-8")
        assert _secret_spans(text) == [], f"{rel}: looks like private key material"
        leaked = [k for k in keys if k in text]
        assert not leaked, f"{rel}: holds {len(leaked)} private key(s) of the real build"
        if "PrivateKey" in text or "private-key=" in text:
            assert "REDACTED" in text, rel


# --------------------------------------------------------------------------- recompiling


def test_recompile_removes_artifacts_of_removed_peers(tmp_path: Path) -> None:
    tree = compile_estate()
    out = _build(tmp_path, "a", tree)
    before = {rel: p.stat() for rel, p in _files(out).items()}
    hashes_before = _hashes(out)
    smaller = {k: v for k, v in tree.items() if k != "acme-eu/peers/alice.yaml"}
    shutil.rmtree(tmp_path / "a-tree")
    _build(tmp_path, "a", smaller, out=out)
    after = _files(out)
    assert "acme-eu/clients/alice.conf" in before
    assert not {"acme-eu/clients/alice.conf", "acme-eu/clients/alice.svg"} & after.keys()
    assert set(before) - set(after) == {"acme-eu/clients/alice.conf",
                                        "acme-eu/clients/alice.svg"}
    assert "alice" not in _manifest(out)["instances"]["acme-eu"]["artifacts"].__repr__()
    # Artifacts whose content did not change are the very same files (same inode).
    hashes_after = _hashes(out)
    for key, digest in hashes_after.items():
        if hashes_before.get(key) == digest:
            assert after[key].stat().st_ino == before[key].st_ino, key


def test_recompile_of_an_unchanged_tree_rewrites_nothing(tmp_path: Path) -> None:
    tree = compile_estate()
    out = _build(tmp_path, "a", tree)
    before = {rel: p.stat().st_ino for rel, p in _files(out).items()}
    root = tmp_path / "a-tree"
    result = compile_tree(root, out, TEST_SECRET)
    assert result.stats is not None
    assert result.stats.written == 0
    assert result.stats.removed == 0
    assert {rel: p.stat().st_ino for rel, p in _files(out).items()} == before


def test_compile_of_a_tree_with_errors_exits_1_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MVPN_SECRET", raising=False)
    tree = compile_estate()
    # Two peers of one instance on the same tunnel address: address-duplicate.
    tree["acme-eu/peers/zed.yaml"] = client("zed@example.com", "10.255.0.11",
                                            address6="fd00:255::99")
    root = build_file_tree(tmp_path / "tree", tree)
    out = tmp_path / "out"
    assert main(["compile", str(root), "-o", str(out)]) == 1
    captured = capsys.readouterr()
    assert "address-duplicate" in captured.out
    assert "zed.yaml" in captured.out
    assert "nothing was built" in captured.err
    assert not out.exists()
    assert list(tmp_path.glob(".out*")) == []  # no staging folder left behind


def test_compile_with_errors_leaves_an_earlier_build_untouched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MVPN_SECRET", raising=False)
    out = _build(tmp_path, "a", secret=None)
    before = {rel: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
              for rel, p in _files(out).items()}
    tree = compile_estate()
    tree["acme-eu/peers/zed.yaml"] = client("zed@example.com", "10.255.0.11",
                                            address6="fd00:255::99")
    root = build_file_tree(tmp_path / "bad-tree", tree)
    assert main(["compile", str(root), "-o", str(out)]) == 1
    assert "address-duplicate" in capsys.readouterr().out
    after = {rel: (p.read_bytes(), p.stat().st_ino, p.stat().st_mtime_ns)
             for rel, p in _files(out).items()}
    assert after.keys() == before.keys()
    assert [rel for rel in before if before[rel] != after[rel]] == []


# --------------------------------------------------------------------------- RouterOS

def _pairs(text: str) -> set[tuple[str, str]]:
    return {tuple(p.split(" ", 1)) for p in text.split(",")}  # type: ignore[misc]


#: What every site script runs: converging objects (find, get the comment, add or set) and
#: removing what is not wanted (find, remove), plus the script's own control flow.
_COMMON_RSC = _pairs(
    " , do, if, len, local, set,log error,log warning,system/ntp/client get,"
    "interface/list add,interface/list find,"
    "interface/list/member add,interface/list/member find,interface/list/member get,"
    "interface/list/member set,ip/address add,ip/address find,ip/address get,ip/address set,"
    "ip/dns/static add,ip/dns/static find,ip/dns/static get,ip/dns/static remove,"
    "ip/dns/static set,ip/route add,ip/route find,ip/route remove,ip/route set,"
    "ipv6/route find,ipv6/route remove,ipv6/route set,certificate find,certificate remove,"
    "system/script add,system/script find,system/script get,system/script set"
)
_WG_RSC = _COMMON_RSC | _pairs(
    "interface/wireguard add,interface/wireguard find,interface/wireguard get,"
    "interface/wireguard set,interface/wireguard/peers add,interface/wireguard/peers find,"
    "interface/wireguard/peers get,interface/wireguard/peers set,ipv6/route add,"
    "ipv6/address add,ipv6/address find,ipv6/address get,ipv6/address set,"
    "interface/ovpn-client find,interface/ovpn-client remove"
)
_OVPN_RSC = _COMMON_RSC | _pairs(
    " delay,file add,file find,file remove,certificate import,certificate set,"
    "interface/ovpn-client add,interface/ovpn-client find,interface/ovpn-client get,"
    "interface/ovpn-client set,interface/wireguard find,interface/wireguard remove,"
    "interface/wireguard/peers find,interface/wireguard/peers remove,"
    "ipv6/address find,ipv6/address remove"
)
_UNINSTALL_RSC = _pairs(
    " , do, if, local, set,log error,log info,certificate find,certificate remove,"
    "interface/list/member find,interface/list/member remove,interface/ovpn-client find,"
    "interface/ovpn-client remove,interface/wireguard find,interface/wireguard remove,"
    "interface/wireguard/peers find,interface/wireguard/peers remove,ip/address find,"
    "ip/address remove,ip/dns/static find,ip/dns/static remove,ip/route find,ip/route remove,"
    "ipv6/address find,ipv6/address remove,ipv6/route find,ipv6/route remove,"
    "system/script find,system/script remove"
)
_EXPECTED_RSC = {
    "acme-eu/sites/berlin.rsc": _WG_RSC,
    "acme-eu/sites/hamburg.rsc": _OVPN_RSC,
    "acme-us/sites/chicago.rsc": _OVPN_RSC,
}
_DESCRIPTION = 'Berlin "HQ" office, budget $5 [rack 2]'


@pytest.mark.parametrize("secrets", ["derived", "redacted"])
def test_routeros_scripts_are_valid_and_only_use_expected_commands(
    tmp_path: Path, secrets: str,
) -> None:
    out = _build(tmp_path, "a", secret=TEST_SECRET if secrets == "derived" else None)
    scripts = {p.relative_to(out).as_posix(): p for p in _artifacts(out, ".rsc")}
    assert set(scripts) == set(_EXPECTED_RSC)
    for rel, path in scripts.items():
        script = path.read_text(encoding="utf-8")
        inst, _, name = rel.removesuffix(".rsc").partition("/sites/")
        # The uninstaller the script installs (`/system script run mvpn_<inst>_<name>_
        # uninstall`) is checked as a script of its own: its source is the local $un.
        (source,) = [c.positionals[1] for top in tokenize(script) for c in top.walk()
                     if c.word == "local" and c.positionals[0] == "un"]
        for text, expected, kind in ((script, _EXPECTED_RSC[rel], "site"),
                                     (source, _UNINSTALL_RSC, "uninstall")):
            _check_script(text, expected, inst, name, kind, f"{rel} ({kind})")


def _check_script(script: str, expected: set[tuple[str, str]], inst: str, name: str,
                  kind: str, what: str) -> None:
    assert validate(script) == [], what
    commands = [c for top in tokenize(script) for c in top.walk()]
    pairs = {("/".join(c.path), c.word) for c in commands}
    assert pairs == expected, what
    # No string in the script interpolates a variable (user data is escaped).
    assert [(c.line, i.arg, i.expr) for c in commands for i in c.interpolations] == [], what
    tag = f"mvpn:{inst}/{name}"
    comments = {a.value for c in commands for a in c.args if a.name == "comment" and a.literal}
    comments |= {c.positionals[1] for c in commands
                 if c.word == "local" and c.positionals[0] == "rc"}
    desc = f" {_DESCRIPTION}" if name == "berlin" else ""
    # Each object's comment: the tag, the hash of its values, the description verbatim.
    shapes = {re.sub(r" #[0-9a-f]{8}", " #HASH", v, count=1) for v in comments}
    if kind == "uninstall":
        assert comments == set(), what  # it only removes
    else:
        assert shapes - {"mvpn tunnels"} == {f"{tag} #HASH{desc}"}, what
    # Everything is found by this peer's tag only, anchored (berlin must not match berlin-2).
    tags = [c.positionals[1] for c in commands if c.word == "local" and c.positionals[0] == "tag"]
    assert tags == [f"^{tag}( |$)"], what


# --------------------------------------------------------------------------- WireGuard

_WG_KEYS = {
    "Interface": {"PrivateKey", "ListenPort", "FwMark"},
    "Peer": {"PublicKey", "PresharedKey", "AllowedIPs", "Endpoint", "PersistentKeepalive"},
}


def _strip(conf: Path) -> str:
    proc = subprocess.run(["wg-quick", "strip", str(conf)], capture_output=True, text=True,
                          check=False, timeout=PROCESS_BOUND)
    assert proc.returncode == 0, f"wg-quick strip {conf.name}: {proc.stderr.strip()}"
    return proc.stdout


def _sections(text: str) -> list[tuple[str, dict[str, str]]]:
    sections: list[tuple[str, dict[str, str]]] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if line.startswith("["):
            sections.append((line.strip("[]"), {}))
            continue
        key, sep, value = line.partition("=")
        assert sep and sections, f"not a key = value line: {key.strip()!r}"
        assert key.strip() not in sections[-1][1], f"duplicate {key.strip()}"
        sections[-1][1][key.strip()] = value.strip()
    return sections


def _is_wg_key(value: str) -> bool:
    with contextlib.suppress(binascii.Error, ValueError):
        return len(base64.b64decode(value, validate=True)) == 32
    return False


_EXPECTED_WG = {
    # file: (Interface keys, [Peer keys...])
    "acme-eu/hub/wireguard/wg0.conf": (
        {"PrivateKey", "ListenPort"}, [{"PublicKey", "PresharedKey", "AllowedIPs"}] * 4),
    "acme-eu/sites/berlin.conf": (
        {"PrivateKey"}, [{"PublicKey", "PresharedKey", "Endpoint", "AllowedIPs",
                       "PersistentKeepalive"}]),
    "acme-eu/clients/alice.conf": (
        {"PrivateKey"}, [{"PublicKey", "PresharedKey", "Endpoint", "AllowedIPs",
                       "PersistentKeepalive"}]),
    "acme-eu/clients/bob.conf": (
        {"PrivateKey"}, [{"PublicKey", "PresharedKey", "Endpoint", "AllowedIPs",
                       "PersistentKeepalive"}]),
    # Brings their own key: no PrivateKey in the profile (the user adds it).
    "acme-eu/clients/dave.conf": (
        set(), [{"PublicKey", "PresharedKey", "Endpoint", "AllowedIPs",
                       "PersistentKeepalive"}]),
}


def test_wireguard_configs_pass_wg_quick_strip_with_the_expected_keys(tmp_path: Path) -> None:
    if shutil.which("wg-quick") is None:
        _skip_or_fail("wg-quick is not installed")
    if os.geteuid() != 0:
        _skip_or_fail("wg-quick strip needs root")
    out = _build(tmp_path, "a")
    confs = {p.relative_to(out).as_posix(): p for p in _artifacts(out, ".conf")
             if "/hub/" not in p.relative_to(out).as_posix()
             or p.parent.name == "wireguard"}
    assert set(confs) == set(_EXPECTED_WG)
    for rel, conf in confs.items():
        sections = _sections(_strip(conf))
        names = [name for name, _ in sections]
        iface_keys, peer_keys = _EXPECTED_WG[rel]
        assert names == ["Interface"] + ["Peer"] * len(peer_keys), rel
        assert set(sections[0][1]) == iface_keys, rel
        assert [set(keys) for _, keys in sections[1:]] == peer_keys, rel
        for name, keys in sections:
            assert set(keys) <= _WG_KEYS[name], rel  # only what `wg setconf` understands
            for key in ("PrivateKey", "PublicKey", "PresharedKey"):
                if key in keys:
                    assert _is_wg_key(keys[key]), f"{rel}: {key} is not a 32-byte base64 key"
            for net in keys.get("AllowedIPs", "").split(","):
                if net.strip():
                    ipaddress.ip_network(net.strip())
            if "Endpoint" in keys:
                host, _, port = keys["Endpoint"].rpartition(":")
                assert host and 0 < int(port) < 65536, rel
            if "ListenPort" in keys:
                assert 0 < int(keys["ListenPort"]) < 65536, rel
            if "PersistentKeepalive" in keys:
                assert 0 <= int(keys["PersistentKeepalive"]) <= 65535, rel


# --------------------------------------------------------------------------- OpenVPN


@pytest.mark.netns
def test_openvpn_hubs_start_and_accept_every_profile(tmp_path: Path) -> None:
    """Each hub's server.conf starts; every .ovpn (client and Linux site) connects to it.

    The profiles name the hub by DNS; ``--remote 127.0.0.1`` given before ``--config``
    is tried first, so the real profile (certificates, verify-x509-name, ciphers) is used
    unchanged against the real server in the same namespace.  (``tests/test_e2e.py`` runs
    the tunnels for real, host to host.)
    """
    out = _build(tmp_path, "a")
    m = _manifest(out)["instances"]
    with lab(tmp_path / "lab") as made:
        for inst in sorted(m):
            server = out / inst / "hub" / "openvpn" / "server.conf"
            profiles = sorted(p for p in (out / inst).rglob("*.ovpn"))
            assert server.is_file() and profiles, inst
            text = server.read_text(encoding="utf-8")
            port = re.search(r"^port (\d+)$", text, re.M)
            proto = re.search(r"^proto (\S+)$", text, re.M)
            assert port and proto, inst
            client_proto = "udp" if proto.group(1) == "udp" else "tcp-client"
            node = made.node(inst)
            hub = node.spawn("server", "openvpn", "--cd", str(server.parent),
                             "--config", server.name)
            if not hub.wait_for(OVPN_READY):
                made.fail(f"the {inst} hub did not start")
            for profile in profiles:
                peer = node.spawn(profile.stem, "openvpn", "--remote", "127.0.0.1",
                                  port.group(1), client_proto, "--config", str(profile))
                if not peer.wait_for(OVPN_READY):
                    made.fail(f"{profile.relative_to(out)} did not connect")
                peer.stop()
            assert "Options error" not in made.report()


@pytest.mark.netns
def test_openvpn_option_parser_rejects_garbage(tmp_path: Path) -> None:
    """Guards the check above: a broken profile does produce "Options error"."""
    bad = tmp_path / "bad.ovpn"
    bad.write_text("client\nremote-cert-tls server\nno-such-option 1\n", encoding="utf-8")
    with lab(tmp_path / "lab") as made:
        peer = made.node("bad").spawn("bad", "openvpn", "--config", str(bad))
        assert not peer.wait_for(OVPN_READY)
        assert "Options error" in peer.log.read_text()


@pytest.mark.netns
def test_nftables_rulesets_load_and_reload(tmp_path: Path) -> None:
    out = _build(tmp_path, "a")
    with lab(tmp_path / "lab") as made:
        node = made.node("nft")
        for conf in sorted(out.glob("*/hub/nftables.conf")):
            for _ in range(2):  # loading again replaces the table (idempotent)
                node.run("nft", "-f", str(conf))
            listed = node.run("nft", "list", "tables").stdout
            assert listed.split("\n").count("table inet mvpn") == 1
