"""``mvpn deploy`` / ``mvpn status`` without a hub: arguments, refusals, what is sent over
ssh, the drift comparison, and apply.sh under shellcheck (the real hub: test_deploy_e2e.py).

ssh is replaced through ``MVPN_SSH`` by a recorder that saves its argv and stdin and answers
with canned output, so nothing here runs apply.sh on this machine.
"""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path
from typing import Any

import pytest

from compiler.api import compile_tree
from compiler.cli.main import main
from compiler.deploy.bundle import open_bundle
from compiler.deploy.drift import compare
from tests.support.tools import require
from tests.support.trees import TEST_SECRET, build_file_tree, compile_estate

_FAKE_SSH = """#!/bin/sh
printf '%s\\n' "$@" > "$RECORD.argv"
cat > "$RECORD.stdin"
cat "$RECORD.reply"
exit "$(cat "$RECORD.code")"
"""


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The compile estate, compiled with the test secret and redacted."""
    tmp = tmp_path_factory.mktemp("deploy-builds")
    root = build_file_tree(tmp / "tree", compile_estate())
    out = {"derived": tmp / "derived", "redacted": tmp / "redacted"}
    assert compile_tree(root, out["derived"], TEST_SECRET, qr=False).check.ok
    assert compile_tree(root, out["redacted"], None, qr=False).check.ok
    return out


@pytest.fixture
def ssh(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A recording ssh; write ``.reply`` and ``.code`` to script its answer."""
    fake = tmp_path / "fake-ssh"
    fake.write_text(_FAKE_SSH)
    fake.chmod(0o755)
    record = tmp_path / "rec"
    record.with_suffix(".reply").write_text("")
    record.with_suffix(".code").write_text("0")
    monkeypatch.setenv("MVPN_SSH", f"{fake} -F /dev/null")
    monkeypatch.setenv("RECORD", str(record))
    return record


def _deploy(build: Path, *extra: str) -> int:
    return main(["deploy", "acme-eu", "--host", "root@hub.example", "-o", str(build), *extra])


def test_deploy_sends_the_bundle_over_ssh_and_reports_both_versions(
        builds: dict[str, Path], ssh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub = builds["derived"] / "acme-eu" / "hub"
    version = (hub / "VERSION").read_text().strip()
    ssh.with_suffix(".reply").write_text(f"apply.sh: applied acme-eu {version} (was none)\n")
    assert _deploy(builds["derived"]) == 0
    out, err = capsys.readouterr()
    assert out == (f"apply.sh: applied acme-eu {version} (was none)\n"
                   f"deployed acme-eu to root@hub.example: none -> {version}\n")
    assert err == f"mvpn: deploying acme-eu {version} to root@hub.example\n"
    argv = ssh.with_suffix(".argv").read_text().splitlines()
    assert argv[:5] == ["-F", "/dev/null", "-o", "BatchMode=yes", "--"]
    assert argv[5] == "root@hub.example"
    assert argv[6].startswith("sh -c ") and 'sh "$d/hub/apply.sh" ' in argv[6]
    with tarfile.open(fileobj=io.BytesIO(ssh.with_suffix(".stdin").read_bytes())) as tar:
        members = {m.name: m for m in tar.getmembers()}
    assert members["hub/apply.sh"].mode == 0o755
    assert members["hub/openvpn/pki/server.key"].mode == 0o600
    assert {m.uid for m in members.values()} == {0}
    assert set(members) == {"hub", *(f"hub/{p.relative_to(hub)}" for p in hub.rglob("*"))}


def test_deploy_refuses_a_redacted_build_before_running_ssh(
        builds: dict[str, Path], ssh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _deploy(builds["redacted"]) == 2
    assert capsys.readouterr().err == (
        f"mvpn: error: {builds['redacted']} is a redacted build (compiled without the "
        "organisation secret): its hub bundle has placeholders instead of keys; compile with "
        "MVPN_SECRET or --secret-file and deploy that build\n")
    assert not ssh.with_suffix(".argv").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["deploy", "acme-eu", "--host=-oProxyCommand=touch /tmp/x"],
     "--host: '-oProxyCommand=touch /tmp/x' is not [USER@]HOST"),
    (["deploy", "acme-eu", "--host", "hub;reboot"], "--host: 'hub;reboot' is not [USER@]HOST"),
    (["deploy", "Acme EU", "--host", "hub"],
     "'Acme EU' is not an instance name (lower-case letters, digits and '-')"),
    (["deploy", "acme-xx", "--host", "hub"],
     "the build BUILD has no instance 'acme-xx' (instances: acme-eu, acme-us)"),
    (["deploy", "acme-eu", "--host", "hub", "--rollback", "--force"],
     "--rollback takes neither --force nor --dry-run"),
    (["status", "acme-eu", "--host=-F/etc/passwd"],
     "--host: '-F/etc/passwd' is not [USER@]HOST"),
])
def test_bad_arguments_are_refused_before_ssh_runs(
        builds: dict[str, Path], ssh: Path, capsys: pytest.CaptureFixture[str],
        args: list[str], message: str) -> None:
    assert main([*args, "-o", str(builds["derived"])]) == 2
    err = capsys.readouterr().err
    assert err == f"mvpn: error: {message.replace('BUILD', str(builds['derived']))}\n"
    assert not ssh.with_suffix(".argv").exists()


def test_deploy_without_a_build_says_how_to_make_one(
        tmp_path: Path, ssh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _deploy(tmp_path / "nowhere") == 2
    assert capsys.readouterr().err == (
        f"mvpn: error: {tmp_path / 'nowhere'} is not a build (no manifest.json): run mvpn "
        f"compile -o {tmp_path / 'nowhere'} first\n")


@pytest.mark.parametrize(("code", "exit_code", "message"), [
    (1, 1, "mvpn: root@hub.example refused acme-eu {v}: apply.sh exited 1"),
    (255, 2, "mvpn: error: ssh to root@hub.example failed (exit 255; see ssh's message above)"),
])
def test_deploy_reports_a_refusal_and_an_ssh_failure(
        builds: dict[str, Path], ssh: Path, capsys: pytest.CaptureFixture[str],
        code: int, exit_code: int, message: str) -> None:
    version = (builds["derived"] / "acme-eu" / "hub" / "VERSION").read_text().strip()
    ssh.with_suffix(".code").write_text(str(code))
    assert _deploy(builds["derived"]) == exit_code
    assert capsys.readouterr().err.splitlines()[-1] == message.format(v=version)


def test_rollback_runs_the_installed_apply_sh_and_sends_nothing(
        builds: dict[str, Path], ssh: Path) -> None:
    assert _deploy(builds["redacted"], "--rollback") == 0  # no bundle: redacted is fine
    command = ssh.with_suffix(".argv").read_text().splitlines()[6]
    assert 'exec "$@" sh /var/lib/mvpn/acme-eu/current/apply.sh --rollback' in command
    assert ssh.with_suffix(".stdin").read_bytes() == b""


def test_the_remote_command_runs_under_sh_as_root(builds: dict[str, Path], ssh: Path,
                                                   tmp_path: Path) -> None:
    """The command ssh gets is one shell word that sh parses (quoting survives)."""
    assert _deploy(builds["derived"], "--dry-run", "--force") == 0
    command = ssh.with_suffix(".argv").read_text().splitlines()[6]
    script = subprocess.run(["sh", "-c", f"set -- {command[len('sh -c '):]}; printf %s \"$1\""],
                            capture_output=True, text=True, check=True).stdout
    assert script.startswith('if [ "$(id -u)" = 0 ]; then set --; else set -- sudo -n; fi; ')
    assert script.endswith('"$@" sh "$d/hub/apply.sh" --dry-run --force')


# ------------------------------------------------------------------ status


def _probe_output(builds: dict[str, Path], **sections: str) -> str:
    """What the hub says when it runs exactly the build (overridable per section)."""
    bundle = open_bundle(builds["derived"], "acme-eu")
    text = (bundle.folder / "wireguard" / "wg0.conf").read_text()
    keys = [line.split(" = ")[1] for line in text.splitlines() if line.startswith("PublicKey")]
    allowed = [line.split(" = ")[1].replace(" ", "") for line in text.splitlines()
               if line.startswith("AllowedIPs")]
    dump = ["PRIV\tPUB\t51820\toff"] + [
        f"{k}\t(none)\t(none)\t{a}\t{1000 if i == 0 else 0}\t0\t0\toff"
        for i, (k, a) in enumerate(zip(keys, allowed, strict=True))]
    files = [f"{bundle.sha256(rel)}  {where.replace('{i}', 'acme-eu')}" for rel, where in (
        ("wireguard/wg0.conf", "/etc/wireguard/wg0.conf"),
        ("openvpn/server.conf", "/etc/openvpn/server/server.conf"),
        ("openvpn/pki/ca.crt", "/etc/openvpn/server/pki/ca.crt"),
        ("openvpn/pki/server.crt", "/etc/openvpn/server/pki/server.crt"),
        ("openvpn/pki/server.key", "/etc/openvpn/server/pki/server.key"),
        ("openvpn/pki/crl.pem", "/etc/openvpn/server/pki/crl.pem"),
        ("nftables.conf", "/etc/nftables.d/mvpn-{i}.nft"),
        ("sysctl.conf", "/etc/sysctl.d/60-mvpn-{i}.conf"),
        ("dns/dnsmasq.conf", "/etc/mvpn/dnsmasq-{i}.conf"),
        ("openvpn/ccd/hamburg", "/etc/openvpn/server/ccd/hamburg"),
        ("openvpn/ccd/carol", "/etc/openvpn/server/ccd/carol"),
    )]
    table = "table inet mvpn {\n\tchain forward {\n\t\tct state established accept\n\t}\n}"
    parts = {"now": "1030", "version": bundle.version, "wg": "\n".join(dump),
             "addr": "10.255.0.1/24\nfd00:255::1/64", "nft-live": table, "nft-build": table,
             "files": "\n".join(files), **sections}
    return "".join(f"@@{name}\n{body}\n" for name, body in parts.items()) + "@@end\n"


def test_status_of_a_hub_that_runs_the_build_has_no_drift(builds: dict[str, Path]) -> None:
    status = compare(open_bundle(builds["derived"], "acme-eu"), "hub",
                     _probe_output(builds))
    assert status.drift == []
    assert status.applied == status.build
    first = status.peers[0]
    assert (first["name"], first["latest_handshake"], first["seconds_ago"]) == ("alice", 1000, 30)
    assert [p["name"] for p in status.peers] == ["alice", "berlin", "bob", "dave"]
    assert status.peers[1]["latest_handshake"] is None


def test_status_names_every_kind_of_drift(builds: dict[str, Path]) -> None:
    clean = _probe_output(builds)
    wg = clean.split("@@wg\n")[1].split("@@")[0].rstrip("\n").split("\n")
    extra = "kH0Bu6Ch4DQm1F3p2vhBSs0ZQZ5Y2d0Y6HbT2O0vS3s="
    bob = wg[3].split("\t")
    bob[3] = "10.255.0.12/32"  # its IPv6 address was taken off by hand
    wg = [*wg[:2], "\t".join(bob), wg[4],  # berlin is gone
          f"{extra}\t(none)\t(none)\t10.255.0.99/32\t0\t0\t0\toff"]
    table = "table inet mvpn {\n\tchain forward {\n\t\tct state established accept\n\t}\n}"
    live = table.replace("\t}\n}", "\t\tip saddr 10.9.9.9 accept\n\t}\n}")
    files = clean.split("@@files\n")[1].split("@@")[0].replace(
        "  /etc/openvpn/server/ccd/carol", "  /etc/openvpn/server/ccd/old-peer")
    status = compare(open_bundle(builds["derived"], "acme-eu"), "hub", _probe_output(
        builds, wg="\n".join(wg), **{"nft-live": live, "files": files.rstrip("\n"),
                                     "addr": "10.255.0.1/24", "version": "0123456789ab"}))
    details = [d["detail"] for d in status.drift]
    key_of = {p["name"]: p["public_key"] for p in compare(
        open_bundle(builds["derived"], "acme-eu"), "hub", clean).peers}
    assert details == [
        "addresses on the hub 10.255.0.1/24; in the build 10.255.0.1/24, fd00:255::1/64",
        "peer bob: allowed IPs on the hub 10.255.0.12/32; in the build 10.255.0.12/32, "
        "fd00:255::12/128",
        f"peer {extra} (allowed IPs 10.255.0.99/32) is on the hub but not in the build",
        f"peer berlin ({key_of['berlin']}) is in the build but not on the hub",
        "only on the hub: ip saddr 10.9.9.9 accept",
        "/etc/openvpn/server/ccd/carol is missing on the hub",
        "/etc/openvpn/server/ccd/old-peer is on the hub but not in the build",
    ]
    assert status.as_json()["up_to_date"] is False


def test_status_names_a_wg1_left_running_after_step_two(builds: dict[str, Path]) -> None:
    """The build has no wg1.conf (step 2 of a key rotation, or never a rotation): a wg1 still
    up, or its file still installed, is drift (it would hold the port wg0 takes at step 2)."""
    clean = _probe_output(builds)
    files = clean.split("@@files\n")[1].split("@@")[0].rstrip("\n")
    stale = _probe_output(builds, wg1="PRIV\tPUB\t51821\toff", addr1="10.255.0.1/32",
                          files=files + "\n" + "ab" * 32 + "  /etc/wireguard/wg1.conf")
    status = compare(open_bundle(builds["derived"], "acme-eu"), "hub", stale)
    assert [(d["subject"], d["detail"]) for d in status.drift] == [
        ("wg1", "the WireGuard interface wg1 runs on the hub but the build has none (a key "
         "rotation's step 2 not applied yet)"),
        ("/etc/wireguard/wg1.conf", "/etc/wireguard/wg1.conf is on the hub but not in the build"),
    ]
    assert compare(open_bundle(builds["derived"], "acme-eu"), "hub", clean).drift == []


def test_status_compares_wg1_during_step_one(tmp_path: Path) -> None:
    """Step 1 with next_port and alice moved: wg1 must run with her, and its file be there."""
    files: dict[str, Any] = compile_estate()
    inst = files["acme-eu/instance.yaml"]
    files["acme-eu/instance.yaml"] = {**inst, "key_epoch": 2, "retiring_key_epoch": 1,
                                      "wireguard": {**inst["wireguard"], "next_port": 51821}}
    files["acme-eu/peers/alice.yaml"] = {**files["acme-eu/peers/alice.yaml"], "hub_key_epoch": 2}
    root = build_file_tree(tmp_path / "tree", files)
    assert compile_tree(root, tmp_path / "out", TEST_SECRET, qr=False).check.ok
    bundle = open_bundle(tmp_path / "out", "acme-eu")
    without = _probe_output({"derived": tmp_path / "out"})
    assert [(d["subject"], d["detail"]) for d in compare(bundle, "hub", without).drift] == [
        ("wg1", "the WireGuard interface wg1 is not running"),
        ("/etc/wireguard/wg1.conf", "/etc/wireguard/wg1.conf is missing on the hub"),
    ]
    text = (bundle.folder / "wireguard" / "wg1.conf").read_text()
    (key,) = [line.split(" = ")[1] for line in text.splitlines() if line.startswith("PublicKey")]
    files_section = without.split("@@files\n")[1].split("@@")[0].rstrip("\n")
    running = _probe_output(
        {"derived": tmp_path / "out"},
        wg1=f"PRIV\tPUB\t51821\toff\n{key}\t(none)\t(none)\t10.255.0.11/32,fd00:255::11/128"
            "\t0\t0\t0\toff",
        addr1="10.255.0.1/32\nfd00:255::1/128",
        files=files_section + f"\n{bundle.sha256('wireguard/wg1.conf')}  /etc/wireguard/wg1.conf")
    status = compare(bundle, "hub", running)
    assert status.drift == []
    assert "alice" in [p["name"] for p in status.peers]


def test_status_cli_prints_text_and_json_and_exits_1_on_drift(
        builds: dict[str, Path], ssh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ssh.with_suffix(".reply").write_text(_probe_output(builds))
    args = ["status", "acme-eu", "--host", "hub", "-o", str(builds["derived"])]
    assert main(args) == 0
    version = (builds["derived"] / "acme-eu" / "hub" / "VERSION").read_text().strip()
    assert capsys.readouterr().out.splitlines()[:3] == [
        f"acme-eu on hub: applied {version} (up to date)", "drift: none", "peers:"]
    # The build's nftables.conf goes to the hub (listed there in a throwaway namespace).
    nft = builds["derived"] / "acme-eu" / "hub" / "nftables.conf"
    assert ssh.with_suffix(".stdin").read_bytes() == nft.read_bytes()
    ssh.with_suffix(".reply").write_text(_probe_output(builds, version="0123456789ab"))
    assert main([*args, "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert (report["applied"], report["up_to_date"], report["drift"]) == (
        "0123456789ab", False, [])


def test_status_without_an_answer_is_an_environment_error(
        builds: dict[str, Path], ssh: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ssh.with_suffix(".code").write_text("255")
    assert main(["status", "acme-eu", "--host", "hub", "-o", str(builds["derived"])]) == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        "mvpn: error: cannot read the state of hub over ssh (exit 255)")


# ------------------------------------------------------------------ apply.sh


def test_apply_sh_is_executable_and_passes_shellcheck(builds: dict[str, Path]) -> None:
    shellcheck = require("shellcheck")
    scripts = sorted(builds["derived"].glob("*/hub/apply.sh"))
    assert [p.parent.parent.name for p in scripts] == ["acme-eu", "acme-us"]
    for script in scripts:
        assert stat.S_IMODE(script.stat().st_mode) == 0o755
    proc = subprocess.run([shellcheck, "-s", "sh", "-S", "style", *map(str, scripts)],
                          capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stdout


def test_apply_sh_refuses_unknown_options_before_anything_else(
        builds: dict[str, Path]) -> None:
    script = builds["derived"] / "acme-eu" / "hub" / "apply.sh"
    proc = subprocess.run(["/bin/sh", str(script), "--yes"], capture_output=True, text=True,
                          check=False, env={**os.environ, "PATH": "/nonexistent"})
    assert (proc.returncode, proc.stderr) == (
        2, "apply.sh: unknown option '--yes' (use --dry-run, --force, --rollback)\n")
