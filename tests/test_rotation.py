"""Two-step hub key rotation (issue 17): the field, the epochs, the keys and the artifacts.

Step 1 (``key_epoch: N`` + ``retiring_key_epoch: O``) must cut nobody off: the hub presents
what every peer already trusts and trusts both CAs; step 2 drops the retiring epoch. The
namespace suite (``tests/test_rotation_e2e.py``) proves it with the real daemons; these
tests pin the pieces.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given
from hypothesis import strategies as st

from compiler.api import compile_tree
from compiler.keys import MAX_EPOCH, HubEpochs, KeyRing, Purpose, WireGuardKeyPair, label
from compiler.keys import pki as pki_mod
from compiler.keys.derive import Deriver
from compiler.keys.pki import authority_common_name
from tests.support.tools import require
from tests.support.trees import TEST_SECRET, build_file_tree, compile_estate, estate, rows

FQDN = "acme-eu.vpn.example.net"
RING = KeyRing(TEST_SECRET)
_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\n.*?-----END \1-----\n", re.DOTALL)


def _instance_text(extra: str) -> str:
    return ("hostname: acme-eu\nregion: fra\n"
            "wireguard: {port: 51820, network: 10.255.0.0/24}\n"
            "openvpn: {port: 1194, transport: udp, network: 10.254.0.0/24}\n" + extra)


# --------------------------------------------------------------------------- the field

@pytest.mark.parametrize(("extra", "column", "message"), [
    ("key_epoch: 2\nretiring_key_epoch: 2\n", 21,
     "retiring_key_epoch: 2 is not earlier than key_epoch 2: name the epoch the hub used before "
     "the bump (step 1), or remove it (step 2)"),
    ("key_epoch: 2\nretiring_key_epoch: 5\n", 21,
     "retiring_key_epoch: 5 is not earlier than key_epoch 2: name the epoch the hub used before "
     "the bump (step 1), or remove it (step 2)"),
    # key_epoch defaults to 1: nothing can be retired before it.
    ("retiring_key_epoch: 1\n", 21,
     "retiring_key_epoch: 1 is not earlier than key_epoch 1: name the epoch the hub used before "
     "the bump (step 1), or remove it (step 2)"),
])
def test_retiring_an_epoch_not_before_key_epoch_is_refused_at_its_line(
        tmp_path: Path, extra: str, column: int, message: str) -> None:
    files = estate()
    files["acme-eu/instance.yaml"] = _instance_text(extra)
    line = 4 + extra.count("\n")
    assert rows(tmp_path, files) == [
        ("key-rotation-invalid", "error", "acme-eu/instance.yaml", line, column, message)]


@pytest.mark.parametrize(("value", "message"), [
    ("true", "retiring_key_epoch: expected a whole number, got boolean true"),
    ('"1"', "retiring_key_epoch: expected a whole number, got '1'"),
    ("0", "retiring_key_epoch: input should be greater than or equal to 1"),
])
def test_retiring_key_epoch_is_a_strict_integer(tmp_path: Path, value: str, message: str) -> None:
    files = estate()
    files["acme-eu/instance.yaml"] = _instance_text(f"key_epoch: 2\nretiring_key_epoch: {value}\n")
    assert rows(tmp_path, files) == [("schema", "error", "acme-eu/instance.yaml", 6, 21, message)]


def test_a_valid_step_one_checks_clean(tmp_path: Path) -> None:
    files = estate()
    files["acme-eu/instance.yaml"] = _instance_text("key_epoch: 3\nretiring_key_epoch: 2\n")
    assert rows(tmp_path, files) == []


# --------------------------------------------------------------------------- the epochs

def test_hub_epochs_serve_the_retiring_epoch_and_trust_both() -> None:
    step1, step2 = HubEpochs(2, 1), HubEpochs(2)
    assert (step1.serving, step1.signing, step1.trusted, step1.overlap) == (1, 2, (1, 2), True)
    assert (step2.serving, step2.signing, step2.trusted, step2.overlap) == (2, 2, (2,), False)


@pytest.mark.parametrize(("current", "retiring"), [(2, 2), (2, 3), (0, None), (2, 0),
                                                   (MAX_EPOCH + 1, 1)])
def test_hub_epochs_refuse_nonsense(current: int, retiring: int | None) -> None:
    with pytest.raises(ValueError):
        HubEpochs(current, retiring)


# --------------------------------------------------------------------------- the keys

@given(st.integers(1, MAX_EPOCH))
def test_every_epoch_keeps_its_hkdf_labels(epoch: int) -> None:
    """No existing key changes: the CA key and the hub's WireGuard key of any epoch are
    still HKDF of the label naming that epoch (a rotation adds names, never labels)."""
    deriver = Deriver(TEST_SECRET)
    ca = x509.load_pem_x509_certificate(RING.openvpn_ca("acme-eu", epoch).encode())
    key = pki_mod.private_key(deriver.derive(
        label(Purpose.OVPN_CA_KEY, ("acme-eu",), (epoch,)), pki_mod.SCALAR_BYTES))
    assert ca.public_key() == key.public_key()
    raw = deriver.derive(label(Purpose.WG_HUB, ("acme-eu",), (epoch,)), 32)
    wg = WireGuardKeyPair.derived("acme-eu", raw)
    assert RING.wireguard_hub("acme-eu", epoch).public_key == wg.public_key


def test_ca_names_differ_per_epoch_and_epoch_one_keeps_its_name() -> None:
    names = [x509.load_pem_x509_certificate(RING.openvpn_ca("acme-eu", e).encode())
             .subject.rfc4514_string() for e in (1, 2, 3)]
    assert names == ["CN=mvpn acme-eu CA", "CN=mvpn acme-eu CA epoch2", "CN=mvpn acme-eu CA epoch3"]
    assert authority_common_name("acme-eu", 1) == "mvpn acme-eu CA"


def test_trust_and_crls_are_each_epochs_own_bytes() -> None:
    peers = {"carol": 2, "dave": 1}
    assert RING.openvpn_trust("acme-eu", HubEpochs(2, 1)) == (
        RING.openvpn_ca("acme-eu", 1) + RING.openvpn_ca("acme-eu", 2))
    assert RING.openvpn_trust("acme-eu", HubEpochs(2)) == RING.openvpn_ca("acme-eu", 2)
    assert RING.openvpn_crls("acme-eu", HubEpochs(2, 1), peers) == (
        RING.openvpn_crl("acme-eu", 1, peers) + RING.openvpn_crl("acme-eu", 2, peers))
    redacted = KeyRing(None).openvpn_trust("acme-eu", HubEpochs(2, 1))
    assert redacted.count("-----BEGIN CERTIFICATE-----") == 2 and "epoch 1" in redacted


@pytest.fixture
def pki_files(tmp_path: Path) -> Path:
    """Step-1 and step-2 hub trust files; carol's certificates under CA 1 (epochs 1, 2) and 2."""
    peers = {"carol": 2}
    for step, epochs in (("step1", HubEpochs(2, 1)), ("step2", HubEpochs(2))):
        (tmp_path / f"{step}-ca.pem").write_text(RING.openvpn_trust("acme-eu", epochs))
        (tmp_path / f"{step}-crl.pem").write_text(RING.openvpn_crls("acme-eu", epochs, peers))
    for name, ca_epoch, peer_epoch in (("old", 1, 2), ("revoked", 1, 1), ("new", 2, 2)):
        cert = RING.openvpn_client("acme-eu", ca_epoch, "carol", peer_epoch).certificate
        (tmp_path / f"{name}.pem").write_text(cert)
    return tmp_path


def _verify(directory: Path, step: str, cert: str, crl: bool = True) -> str:
    options = ["-crl_check_all", "-CRLfile", f"{step}-crl.pem"] if crl else []
    proc = subprocess.run(
        [require("openssl"), "verify", "-x509_strict", "-purpose", "sslclient",
         "-CAfile", f"{step}-ca.pem", *options, cert],
        cwd=directory, capture_output=True, text=True, check=False, timeout=30)
    return (proc.stdout + proc.stderr).strip()


def test_step_one_trusts_both_cas_with_their_crls_and_step_two_only_the_new(
        pki_files: Path) -> None:
    assert _verify(pki_files, "step1", "old.pem") == "old.pem: OK"
    assert _verify(pki_files, "step1", "new.pem") == "new.pem: OK"
    # CA 1's own CRL still revokes what it revoked before the rotation.
    assert "certificate revoked" in _verify(pki_files, "step1", "revoked.pem")
    assert _verify(pki_files, "step2", "new.pem") == "new.pem: OK"
    assert "unable to get local issuer certificate" in _verify(pki_files, "step2", "old.pem")


def test_a_missing_crl_of_the_retiring_ca_would_show(pki_files: Path) -> None:
    """The oracle for the CRL file: checking the whole chain needs a CRL per trusted CA."""
    crls = _PEM.findall((pki_files / "step1-crl.pem").read_text())
    assert len(crls) == 2
    only_new = RING.openvpn_crl("acme-eu", 2, {"carol": 2})
    (pki_files / "step1-crl.pem").write_text(only_new)
    assert "unable to get certificate CRL" in _verify(pki_files, "step1", "old.pem")


# --------------------------------------------------------------------------- the artifacts

def _build(tmp_path: Path, name: str, **epochs: int) -> Path:
    files = compile_estate()
    files["acme-eu/instance.yaml"] = {**files["acme-eu/instance.yaml"], **epochs}
    root = build_file_tree(tmp_path / f"{name}-tree", files)
    out = tmp_path / f"{name}-out"
    result = compile_tree(root, out, TEST_SECRET, qr=False)
    assert result.check.ok
    return out / "acme-eu"


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*")
            if p.is_file() and p.name != "VERSION"}


def _changed(a: Path, b: Path) -> set[str]:
    fa, fb = _files(a), _files(b)
    assert fa.keys() == fb.keys()
    return {name for name in fa if fa[name] != fb[name]}


def _cns(pem_text: str) -> list[str]:
    return [x509.load_pem_x509_certificate(m.group(0).encode()).subject.rfc4514_string()
            for m in _PEM.finditer(pem_text) if m.group(1) == "CERTIFICATE"]


@pytest.fixture(scope="module")
def builds(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("rotation")
    return (_build(tmp, "v1"), _build(tmp, "step1", key_epoch=2, retiring_key_epoch=1),
            _build(tmp, "step2", key_epoch=2))


def test_step_one_changes_only_openvpn_trust_and_profiles(
        builds: tuple[Path, Path, Path]) -> None:
    v1, step1, _ = builds
    # WireGuard (hub and peers), the hub's server certificate and key: byte for byte the same.
    assert _changed(v1, step1) == {
        "hub/openvpn/pki/ca.crt", "hub/openvpn/pki/crl.pem",
        "clients/carol.ovpn", "sites/hamburg.ovpn", "sites/hamburg.rsc",
    }


def test_step_two_switches_the_hub_and_every_wireguard_peer(
        builds: tuple[Path, Path, Path]) -> None:
    _, step1, step2 = builds
    assert _changed(step1, step2) == {
        "hub/openvpn/pki/ca.crt", "hub/openvpn/pki/crl.pem", "hub/openvpn/pki/server.crt",
        "hub/openvpn/pki/server.key", "hub/wireguard/wg0.conf",
        "clients/alice.conf", "clients/bob.conf", "clients/dave.conf", "clients/carol.ovpn",
        "sites/berlin.conf", "sites/berlin.rsc", "sites/hamburg.ovpn", "sites/hamburg.rsc",
    }


def test_step_one_files_trust_both_cas_and_serve_the_old_certificate(
        builds: tuple[Path, Path, Path]) -> None:
    _, step1, step2 = builds
    ca1, ca2 = "CN=mvpn acme-eu CA", "CN=mvpn acme-eu CA epoch2"
    assert _cns((step1 / "hub/openvpn/pki/ca.crt").read_text()) == [ca1, ca2]
    assert _cns((step2 / "hub/openvpn/pki/ca.crt").read_text()) == [ca2]
    server = x509.load_pem_x509_certificate((step1 / "hub/openvpn/pki/server.crt").read_bytes())
    assert server.issuer.rfc4514_string() == ca1
    assert len(_PEM.findall((step1 / "hub/openvpn/pki/crl.pem").read_text())) == 2
    profile = (step1 / "clients/carol.ovpn").read_text()
    ca_block = profile.split("<ca>\n")[1].split("</ca>")[0]
    cert_block = profile.split("<cert>\n")[1].split("</cert>")[0]
    assert _cns(ca_block) == [ca1, ca2]
    cert = x509.load_pem_x509_certificate(cert_block.encode())
    assert cert.issuer.rfc4514_string() == ca2
    assert isinstance(cert.public_key(), ec.EllipticCurvePublicKey)
    # The same client key as before the rotation: only the certificate is re-issued.
    assert profile.split("<key>")[1] == (builds[0] / "clients/carol.ovpn").read_text().split(
        "<key>")[1]
