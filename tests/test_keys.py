"""Deterministic key material: secrets, HKDF labels, WireGuard keys, OpenVPN PKI, redaction."""

from __future__ import annotations

import base64
import hashlib
import pickle
import re
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.diagnostics import UsageError
from compiler.keys import (
    MAX_EPOCH,
    NOT_AFTER,
    NOT_BEFORE,
    SALT,
    SECRET_ENV,
    CertifiedKey,
    KeyRing,
    Purpose,
    WireGuardKeyPair,
    der,
    label,
    load_secret,
    pki,
)
from compiler.keys.derive import Deriver
from tests.support.tools import require

# A fixed, obviously fake secret: never use a real one in tests.
SECRET = b"mvpn-test-secret-0123456789abcdef"
SECRET_B64 = base64.b64encode(SECRET).decode("ascii")
FQDN = "acme-eu.vpn.example.net"


@pytest.fixture(scope="module")
def ring() -> KeyRing:
    return KeyRing(SECRET)


_tool = require


def _cert(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode("ascii"))


def _key(pem: str) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(pem.encode("ascii"), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    return key


def _everything(ring: KeyRing, instance_epoch: int = 1, alice_epoch: int = 1) -> dict[str, str]:
    """Every value the ring derives for a small estate, by name."""
    hub = ring.wireguard_hub("acme-eu", instance_epoch)
    alice = ring.wireguard_peer("acme-eu", "alice", alice_epoch)
    bob = ring.wireguard_peer("acme-eu", "bob", 1)
    server = ring.openvpn_server("acme-eu", instance_epoch, FQDN)
    alice_ovpn = ring.openvpn_client("acme-eu", instance_epoch, "alice", alice_epoch)
    bob_ovpn = ring.openvpn_client("acme-eu", instance_epoch, "bob", 1)
    other = ring.wireguard_hub("acme-us", 1)
    return {
        "hub.private": hub.private_key,
        "hub.public": hub.public_key,
        "alice.wg.private": alice.private_key,
        "alice.wg.public": alice.public_key,
        "bob.wg.private": bob.private_key,
        "bob.wg.public": bob.public_key,
        "ca": ring.openvpn_ca("acme-eu", instance_epoch),
        "server.cert": server.certificate,
        "server.key": server.private_key,
        "alice.ovpn.cert": alice_ovpn.certificate,
        "alice.ovpn.key": alice_ovpn.private_key,
        "bob.ovpn.cert": bob_ovpn.certificate,
        "bob.ovpn.key": bob_ovpn.private_key,
        "crl": ring.openvpn_crl("acme-eu", instance_epoch, {"alice": alice_epoch, "bob": 1}),
        "other.hub.private": other.private_key,
        "other.ca": ring.openvpn_ca("acme-us", 1),
    }


# -- derivation and labels -------------------------------------------------------------


def test_deriver_is_plain_hkdf_sha256() -> None:
    info = label(Purpose.WG_PEER, ("acme-eu", "alice"), (1,))
    for length in (20, 32, 48):
        reference = HKDF(hashes.SHA256(), length, SALT, info).derive(SECRET)
        assert Deriver(SECRET).derive(info, length) == reference


@given(st.binary(max_size=80), st.integers(1, 200))
def test_deriver_is_hkdf_for_any_info_and_length(info: bytes, length: int) -> None:
    # Several expand blocks (48 bytes: two) and lengths that cut a block.
    reference = HKDF(hashes.SHA256(), length, SALT, info).derive(SECRET)
    assert Deriver(SECRET).derive(info, length) == reference


@given(st.lists(st.text(alphabet="ab0/.-=Z", max_size=4), min_size=1, max_size=3))
def test_label_refuses_exactly_names_that_are_not_atoms(names: list[str]) -> None:
    # One match over the joined names must refuse what a match per name refused: a name
    # with a slash (it would read as two names), an empty name, any other character.
    if all(re.fullmatch(r"[a-z0-9.-]+", name) for name in names):
        assert label(Purpose.WG_PSK, tuple(names), (1,)).count(b"/") == 3 + len(names)
    else:
        with pytest.raises(ValueError, match="contains a separator"):
            label(Purpose.WG_PSK, tuple(names), (1,))


def test_label_format() -> None:
    assert label(Purpose.WG_HUB, ("acme-eu",), (3,)) == b"mvpn/v1/wg-hub/acme-eu/epoch=3"
    assert (
        label(Purpose.OVPN_CLIENT_SERIAL, ("acme-eu", "alice"), (2, 5))
        == b"mvpn/v1/ovpn-client-serial/acme-eu/alice/epoch=2.5"
    )


NAMES = st.from_regex(r"[a-z0-9-]{1,12}", fullmatch=True)
EPOCHS = st.integers(1, MAX_EPOCH)
LABEL_INPUTS = st.tuples(
    st.sampled_from(list(Purpose)),
    st.lists(NAMES, min_size=1, max_size=3).map(tuple),
    st.lists(EPOCHS, min_size=1, max_size=2).map(tuple),
)


@given(LABEL_INPUTS, LABEL_INPUTS)
def test_labels_never_collide(
    a: tuple[Purpose, tuple[str, ...], tuple[int, ...]],
    b: tuple[Purpose, tuple[str, ...], tuple[int, ...]],
) -> None:
    assert (label(*a) == label(*b)) == (a == b)


@given(LABEL_INPUTS)
def test_labels_parse_back(inputs: tuple[Purpose, tuple[str, ...], tuple[int, ...]]) -> None:
    # The injectivity argument made executable: a label splits into exactly its inputs.
    head, version, purpose, *names, epochs = label(*inputs).decode("ascii").split("/")
    assert (head, version) == ("mvpn", "v1")
    assert epochs.startswith("epoch=")
    parsed = tuple(int(e) for e in epochs.removeprefix("epoch=").split("."))
    assert (Purpose(purpose), tuple(names), parsed) == inputs


@settings(max_examples=25, deadline=None)
@given(
    st.lists(
        st.tuples(NAMES, NAMES, st.integers(1, 4), st.integers(1, 4)),
        min_size=2,
        max_size=6,
        unique=True,
    )
)
def test_serials_and_keys_never_collide(owners: list[tuple[str, str, int, int]]) -> None:
    ring = KeyRing(SECRET)
    certs = [_cert(ring.openvpn_client(i, ie, p, pe).certificate) for i, p, ie, pe in owners]
    assert len({c.serial_number for c in certs}) == len(owners)
    wg = {(i, p, pe): ring.wireguard_peer(i, p, pe).private_key for i, p, _, pe in owners}
    assert len(set(wg.values())) == len(wg)


@pytest.mark.parametrize(
    ("instance", "peer", "epoch"),
    [
        ("Acme", "alice", 1),
        ("acme", "a/b", 1),
        ("acme", "", 1),
        ("acme", "alice", 0),
        ("acme", "alice", MAX_EPOCH + 1),
        ("acme", "alice", True),
    ],
)
def test_invalid_names_and_epochs_are_refused(instance: str, peer: str, epoch: int) -> None:
    for ring in (KeyRing(SECRET), KeyRing(None)):
        with pytest.raises(ValueError):
            ring.wireguard_peer(instance, peer, epoch)
        with pytest.raises(ValueError):
            ring.openvpn_client(instance, 1, peer, epoch)


@pytest.mark.parametrize("fqdn", ["Acme.example.net", "acme..net", "-a.net", "a b", ""])
def test_invalid_fqdn_is_refused(ring: KeyRing, fqdn: str) -> None:
    with pytest.raises(ValueError):
        ring.openvpn_server("acme-eu", 1, fqdn)


def test_short_secret_is_refused() -> None:
    with pytest.raises(ValueError):
        KeyRing(b"x" * 31)


# -- determinism, rotation, separation --------------------------------------------------


def test_two_rings_derive_identical_bytes() -> None:
    assert _everything(KeyRing(SECRET)) == _everything(KeyRing(SECRET))


def test_known_answers() -> None:
    # Pinned outputs: a change here silently rotates every deployed key, so it must be
    # deliberate (a new label version), never a side effect of a refactor.
    ring = KeyRing(SECRET)
    hub = ring.wireguard_hub("acme-eu", 1)
    assert hub.private_key == "iMj2Z/8yeXGfxnbgbJv4nsJf9rp2pC2ZWiAZlBThZGs="
    assert hub.public_key == "CXwAa3eYoBtW4/Z0BZcqWGO7hJM1O9YayLGlwB14tkI="
    server = ring.openvpn_server("acme-eu", 1, FQDN)
    client = ring.openvpn_client("acme-eu", 1, "alice", 2)
    pems = (
        ring.openvpn_ca("acme-eu", 1)
        + server.certificate
        + server.private_key
        + client.certificate
        + client.private_key
        + ring.openvpn_crl("acme-eu", 1, {"alice": 2, "bob": 1})
    )
    # Changed deliberately once (issue 11.12): alice's epoch-2 certificate says
    # CN=alice.epoch2; every key, the CA, the server and the CRL are unchanged.
    assert (
        hashlib.sha256(pems.encode()).hexdigest()
        == "1d8c74fc0bbf77a24039711ac4569f752660aae7e59c77fe9572614062663868"
    )


def test_different_secrets_differ() -> None:
    a, b = _everything(KeyRing(SECRET)), _everything(KeyRing(SECRET[::-1]))
    assert all(a[name] != b[name] for name in a)


def test_different_owners_differ(ring: KeyRing) -> None:
    values = _everything(ring)
    keys = [v for k, v in values.items() if k != "crl"]
    assert len(set(keys)) == len(keys)
    # A peer may be called "hub" and two instances may share a peer name.
    assert ring.wireguard_peer("acme-eu", "hub", 1).private_key != values["hub.private"]
    assert ring.wireguard_peer("acme-us", "alice", 1).private_key != values["alice.wg.private"]
    server_key = _key(values["server.key"]).private_numbers().private_value
    client_key = _key(values["alice.ovpn.key"]).private_numbers().private_value
    assert server_key != client_key


def test_peer_epoch_rotates_exactly_that_peer(ring: KeyRing) -> None:
    before, after = _everything(ring), _everything(ring, alice_epoch=2)
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {
        "alice.wg.private",
        "alice.wg.public",
        "alice.ovpn.cert",
        "alice.ovpn.key",
        "crl",
    }


def test_instance_epoch_rotates_the_instance_pki(ring: KeyRing) -> None:
    before, after = _everything(ring), _everything(ring, instance_epoch=2)
    changed = {name for name in before if before[name] != after[name]}
    # Client keys stay (they belong to the peer); their certificates are re-issued by
    # the new CA. Other instances and WireGuard peer keys are untouched.
    assert changed == {
        "hub.private",
        "hub.public",
        "ca",
        "server.cert",
        "server.key",
        "alice.ovpn.cert",
        "bob.ovpn.cert",
        "crl",
    }


def test_pickled_ring_derives_the_same(ring: KeyRing) -> None:
    ring.openvpn_ca("acme-eu", 1)  # populate the cache: it must not break pickling
    clone = pickle.loads(pickle.dumps(ring))
    assert not clone.redacted
    assert _everything(clone) == _everything(ring)
    assert pickle.loads(pickle.dumps(KeyRing(None))).redacted


def test_reprs_never_show_keys(ring: KeyRing) -> None:
    pair = ring.wireguard_peer("acme-eu", "alice", 1)
    server = ring.openvpn_server("acme-eu", 1, FQDN)
    for text in (repr(ring), repr(pair), repr(server), str(server)):
        assert pair.private_key not in text
        assert "PRIVATE KEY" not in text
        assert SECRET.decode() not in text


# -- WireGuard ------------------------------------------------------------------------


def test_wireguard_key_format(ring: KeyRing) -> None:
    pair = ring.wireguard_peer("acme-eu", "alice", 1)
    assert isinstance(pair, WireGuardKeyPair)
    raw = base64.b64decode(pair.private_key, validate=True)
    assert len(pair.private_key) == 44
    assert len(raw) == 32
    # Clamped as `wg genkey` prints it.
    assert raw[0] & 7 == 0
    assert raw[31] & 128 == 0
    assert raw[31] & 64 == 64
    expected = x25519.X25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw()
    assert base64.b64decode(pair.public_key) == expected


@settings(max_examples=300, deadline=None)
@given(st.binary(min_size=32, max_size=32))
def test_wireguard_public_key_is_cryptographys_x25519(raw: bytes) -> None:
    # The public key comes from libsodium (fast); cryptography's X25519 is the oracle.
    pair = WireGuardKeyPair.derived("acme-eu/alice", raw)
    scalar = base64.b64decode(pair.private_key)
    expected = x25519.X25519PrivateKey.from_private_bytes(scalar).public_key().public_bytes_raw()
    assert base64.b64decode(pair.public_key) == expected
    # Clamping changes nothing X25519 would not ignore: the unclamped bytes give the same key.
    assert x25519.X25519PrivateKey.from_private_bytes(raw).public_key().public_bytes_raw() \
        == expected


def test_wireguard_public_key_matches_wg(ring: KeyRing) -> None:
    wg = _tool("wg")
    for pair in (
        ring.wireguard_hub("acme-eu", 1),
        ring.wireguard_peer("acme-eu", "alice", 1),
        ring.wireguard_peer("acme-eu", "alice", 2),
    ):
        result = subprocess.run(
            [wg, "pubkey"],
            input=pair.private_key + "\n",
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        )
        assert result.stdout.strip() == pair.public_key


# -- OpenVPN PKI ---------------------------------------------------------------------


def _common_name(cert: x509.Certificate) -> str:
    (attribute,) = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
    return str(attribute.value)


def _check_validity_and_serial(cert: x509.Certificate) -> None:
    assert cert.not_valid_before_utc == NOT_BEFORE
    assert cert.not_valid_after_utc == NOT_AFTER
    assert 0 < cert.serial_number < 2**159
    assert isinstance(cert.signature_hash_algorithm, hashes.SHA256)


def test_ca_certificate(ring: KeyRing) -> None:
    ca = _cert(ring.openvpn_ca("acme-eu", 1))
    assert _common_name(ca) == "mvpn acme-eu CA"
    assert ca.issuer == ca.subject
    ca.verify_directly_issued_by(ca)
    _check_validity_and_serial(ca)
    constraints = ca.extensions.get_extension_for_class(x509.BasicConstraints)
    assert constraints.critical
    assert constraints.value.ca
    assert constraints.value.path_length == 0
    usage = ca.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.key_cert_sign
    assert usage.value.crl_sign
    assert not usage.value.digital_signature
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(ca.public_key())
    public = ca.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert isinstance(public.curve, ec.SECP256R1)


def _check_end_entity(cert: x509.Certificate, ca: x509.Certificate, key_pem: str) -> None:
    cert.verify_directly_issued_by(ca)
    _check_validity_and_serial(cert)
    assert cert.public_key() == _key(key_pem).public_key()
    constraints = cert.extensions.get_extension_for_class(x509.BasicConstraints)
    assert not constraints.value.ca
    aki = cert.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    ski = ca.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == ski.digest
    assert key_pem.startswith("-----BEGIN PRIVATE KEY-----\n")


def test_server_certificate(ring: KeyRing) -> None:
    ca = _cert(ring.openvpn_ca("acme-eu", 1))
    server = ring.openvpn_server("acme-eu", 1, FQDN)
    cert = _cert(server.certificate)
    _check_end_entity(cert, ca, server.private_key)
    assert _common_name(cert) == FQDN
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == [FQDN]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.key_agreement
    assert not usage.value.key_cert_sign


def test_client_certificate(ring: KeyRing) -> None:
    ca = _cert(ring.openvpn_ca("acme-eu", 1))
    client = ring.openvpn_client("acme-eu", 1, "alice", 1)
    assert isinstance(client, CertifiedKey)
    cert = _cert(client.certificate)
    _check_end_entity(cert, ca, client.private_key)
    assert _common_name(cert) == "alice"
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    usage = cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature
    assert not (usage.key_agreement or usage.key_cert_sign or usage.key_encipherment)


def test_certificate_of_another_epoch_ca_does_not_verify(ring: KeyRing) -> None:
    new_ca = _cert(ring.openvpn_ca("acme-eu", 2))
    old_client = _cert(ring.openvpn_client("acme-eu", 1, "alice", 1).certificate)
    # Another name (an OpenVPN server refuses two CAs of one name in its ca file) and
    # another key: neither the name nor the signature chains to the new CA.
    assert new_ca.subject != old_client.issuer
    with pytest.raises(ValueError, match="subject does not match"):
        old_client.verify_directly_issued_by(new_ca)
    renamed = x509.CertificateBuilder(
        issuer_name=new_ca.subject, subject_name=old_client.issuer,
        public_key=new_ca.public_key(), serial_number=1,
        not_valid_before=NOT_BEFORE, not_valid_after=NOT_AFTER,
    ).sign(ec.generate_private_key(ec.SECP256R1()), hashes.SHA256())
    with pytest.raises(InvalidSignature):
        old_client.verify_directly_issued_by(renamed)


def _serial(ring: KeyRing, instance_epoch: int, peer: str, epoch: int) -> int:
    return _cert(ring.openvpn_client("acme-eu", instance_epoch, peer, epoch).certificate
                 ).serial_number


def test_crl_revokes_exactly_the_epoch_just_replaced(ring: KeyRing) -> None:
    epochs = {"alice": 3, "bob": 1, "carol": 2}
    crl = x509.load_pem_x509_crl(ring.openvpn_crl("acme-eu", 2, epochs).encode())
    ca = _cert(ring.openvpn_ca("acme-eu", 2))
    ca_key = ca.public_key()
    assert isinstance(ca_key, ec.EllipticCurvePublicKey)
    assert crl.is_signature_valid(ca_key)
    assert crl.issuer == ca.subject
    assert crl.last_update_utc == NOT_BEFORE
    assert crl.next_update_utc == NOT_AFTER
    # alice's epoch 1 is refused by its CN (no ccd file "alice"), not by the CRL.
    expected = {_serial(ring, 2, "alice", 2), _serial(ring, 2, "carol", 1)}
    assert {entry.serial_number for entry in crl} == expected
    current = {_serial(ring, 2, peer, epoch) for peer, epoch in epochs.items()}
    assert not current & expected
    # The caller's mapping order does not matter.
    reordered = dict(reversed(list(epochs.items())))
    assert ring.openvpn_crl("acme-eu", 2, reordered) == ring.openvpn_crl("acme-eu", 2, epochs)


def test_crl_without_rotations_is_empty(ring: KeyRing) -> None:
    crl = x509.load_pem_x509_crl(ring.openvpn_crl("acme-eu", 1, {"alice": 1}).encode())
    assert len(crl) == 0
    assert ring.openvpn_crl("acme-eu", 1, {}) == ring.openvpn_crl("acme-eu", 1, {"alice": 1})


@pytest.fixture
def pki_dir(ring: KeyRing, tmp_path: Path) -> Path:
    """A PKI on disk: CA, CRL (alice at epoch 2), server, and alice's certs at epochs 1, 2."""
    (tmp_path / "ca.pem").write_text(ring.openvpn_ca("acme-eu", 1))
    (tmp_path / "crl.pem").write_text(ring.openvpn_crl("acme-eu", 1, {"alice": 2, "bob": 1}))
    server = ring.openvpn_server("acme-eu", 1, FQDN)
    (tmp_path / "server.pem").write_text(server.certificate)
    (tmp_path / "server.key").write_text(server.private_key)
    for epoch in (1, 2):
        client = ring.openvpn_client("acme-eu", 1, "alice", epoch)
        (tmp_path / f"alice{epoch}.pem").write_text(client.certificate)
        (tmp_path / f"alice{epoch}.key").write_text(client.private_key)
    return tmp_path


def _openssl_verify(directory: Path, cert: str, *options: str) -> subprocess.CompletedProcess[str]:
    command = [_tool("openssl"), "verify", "-x509_strict", "-CAfile", "ca.pem", *options, cert]
    return subprocess.run(
        command, cwd=directory, capture_output=True, text=True, check=False, timeout=30
    )


def test_openssl_accepts_current_and_rejects_revoked(pki_dir: Path) -> None:
    crl = ("-CRLfile", "crl.pem", "-crl_check")
    current = _openssl_verify(pki_dir, "alice2.pem", "-purpose", "sslclient", *crl)
    assert current.returncode == 0, current.stdout + current.stderr
    server = _openssl_verify(pki_dir, "server.pem", "-purpose", "sslserver")
    assert server.returncode == 0, server.stdout + server.stderr
    old = _openssl_verify(pki_dir, "alice1.pem", "-purpose", "sslclient", *crl)
    assert old.returncode != 0
    assert "revoked" in old.stdout + old.stderr
    # EKU keeps roles apart: a client certificate cannot pose as the hub.
    posing = _openssl_verify(pki_dir, "alice2.pem", "-purpose", "sslserver")
    assert posing.returncode != 0


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def openvpn_server(pki_dir: Path) -> Iterator[tuple[Path, int]]:
    """An OpenVPN 2.6 hub on 127.0.0.1 without a tun device (``--dev null``, no root)."""
    openvpn = require("openvpn")
    port = _free_udp_port()
    log = (pki_dir / "server.log").open("w")
    process = subprocess.Popen(
        [
            openvpn,
            "--dev",
            "null",
            "--proto",
            "udp4",
            "--local",
            "127.0.0.1",
            "--lport",
            str(port),
            "--tls-server",
            "--ca",
            "ca.pem",
            "--cert",
            "server.pem",
            "--key",
            "server.key",
            "--dh",
            "none",
            "--remote-cert-tls",
            "client",
            "--crl-verify",
            "crl.pem",
            "--verb",
            "3",
        ],
        cwd=pki_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        yield pki_dir, port
    finally:
        process.terminate()
        process.wait(timeout=10)
        log.close()


def _handshake(directory: Path, port: int, client: str) -> str:
    """Run an OpenVPN client briefly; return the server's log."""
    process = subprocess.Popen(
        [
            shutil.which("openvpn") or "openvpn",
            "--dev",
            "null",
            "--proto",
            "udp4",
            "--remote",
            "127.0.0.1",
            str(port),
            "--nobind",
            "--tls-client",
            "--ca",
            "ca.pem",
            "--cert",
            f"{client}.pem",
            "--key",
            f"{client}.key",
            "--remote-cert-tls",
            "server",
            "--verify-x509-name",
            FQDN,
            "name",
            "--verb",
            "3",
        ],
        cwd=directory,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            log = (directory / "server.log").read_text()
            if "Initialization Sequence Completed" in log or "revoked" in log:
                return log
            time.sleep(0.1)
        return (directory / "server.log").read_text()
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_openvpn_accepts_current_client(openvpn_server: tuple[Path, int]) -> None:
    log = _handshake(*openvpn_server, "alice2")
    assert "VERIFY KU OK" in log
    assert "VERIFY EKU OK" in log
    assert "Initialization Sequence Completed" in log, log


def test_openvpn_refuses_revoked_client(openvpn_server: tuple[Path, int]) -> None:
    log = _handshake(*openvpn_server, "alice1")
    assert "revoked" in log, log
    assert "Initialization Sequence Completed" not in log


# -- redacted builds ------------------------------------------------------------------

TOKEN = re.compile(r"REDACTED-[a-z-]+(\.[a-z0-9-]+)+")


def test_redacted_placeholders_hold_no_key_material() -> None:
    real, redacted = _everything(KeyRing(SECRET)), _everything(KeyRing(None))
    assert KeyRing(None).redacted
    assert not KeyRing(SECRET).redacted
    for name, value in redacted.items():
        assert "REDACTED" in value, name
        assert all(secret_value not in value for secret_value in real.values()), name
        assert SECRET.decode() not in value
        if value.startswith("-----BEGIN "):
            assert value.endswith("-----\n")
            assert "(build without MVPN_SECRET)" in value
            body = value.splitlines()[1]
            with pytest.raises(ValueError):
                base64.b64decode(body, validate=True)
        else:
            assert TOKEN.fullmatch(value), value  # one token, usable where a key goes
    # Distinct per owner and epoch, so redacted builds still show rotations as changes.
    assert len(set(redacted.values())) == len(redacted)
    bumped = _everything(KeyRing(None), alice_epoch=2)
    assert bumped["alice.wg.private"] != redacted["alice.wg.private"]


def test_redacted_examples() -> None:
    ring = KeyRing(None)
    pair = ring.wireguard_peer("acme-eu", "alice", 1)
    assert pair.private_key == "REDACTED-wireguard-peer-private-key.acme-eu.alice.epoch-1"
    assert pair.public_key == "REDACTED-wireguard-peer-public-key.acme-eu.alice.epoch-1"
    assert ring.openvpn_ca("acme-eu", 1) == (
        "-----BEGIN CERTIFICATE-----\n"
        "REDACTED openvpn CA certificate acme-eu epoch 1 (build without MVPN_SECRET)\n"
        "-----END CERTIFICATE-----\n"
    )
    with pytest.raises(ValueError):
        _cert(ring.openvpn_client("acme-eu", 1, "alice", 1).certificate)


# -- loading the secret --------------------------------------------------------------


def test_no_secret_means_redacted() -> None:
    assert load_secret(None, {}) is None
    # GitHub Actions expands an unavailable secret (fork PRs) to the empty string.
    assert load_secret(None, {SECRET_ENV: ""}) is None
    assert load_secret(None, {SECRET_ENV: " \n"}) is None


def test_secret_from_environment() -> None:
    assert load_secret(None, {SECRET_ENV: SECRET_B64}) == SECRET
    wrapped = f"  {SECRET_B64[:20]}\n{SECRET_B64[20:]}\n"
    assert load_secret(None, {SECRET_ENV: wrapped}) == SECRET


def test_secret_file_wins(tmp_path: Path) -> None:
    path = tmp_path / "secret"
    other = base64.b64encode(SECRET[::-1]).decode()
    path.write_text(other + "\n")
    assert load_secret(path, {SECRET_ENV: SECRET_B64}) == SECRET[::-1]
    # The file wins even over a broken environment value.
    assert load_secret(path, {SECRET_ENV: "not base64!"}) == SECRET[::-1]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (base64.b64encode(b"mvpn-too-short-secret").decode(), "at least 32"),
        ("mvpn-not!base64*secret=value-0123456789abcdef", "not valid base64"),
        (SECRET_B64[:-1], "not valid base64"),
        ("mvpn-s\u00e9cret-0123456789abcdef0123456789abcdef", "not valid base64"),
    ],
)
def test_bad_secret_is_a_usage_error_without_echo(tmp_path: Path, value: str, message: str) -> None:
    path = tmp_path / "secret"
    path.write_text(value, encoding="utf-8")
    for secret_file, environ in ((None, {SECRET_ENV: value}), (path, {})):
        with pytest.raises(UsageError, match=message) as info:
            load_secret(secret_file, environ)
        text = str(info.value)
        assert value not in text
        assert value.strip("=")[:12] not in text
        # Raised `from None`: no chained decoder error can carry the input along.
        assert info.value.__cause__ is None
        assert info.value.__context__ is None or info.value.__suppress_context__


def test_unreadable_secret_files(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read secret file"):
        load_secret(tmp_path / "missing", {SECRET_ENV: SECRET_B64})
    with pytest.raises(UsageError, match="cannot read secret file"):
        load_secret(tmp_path, {})
    empty = tmp_path / "empty"
    empty.write_text("\n")
    with pytest.raises(UsageError, match="is empty"):
        load_secret(empty, {})
    huge = tmp_path / "huge"
    huge.write_text(SECRET_B64 * 5000)
    with pytest.raises(UsageError, match="larger than"):
        load_secret(huge, {})


def test_each_epoch_has_its_own_common_name(ring: KeyRing) -> None:
    """The CN (and so the ccd file) changes with every epoch: an old certificate of any
    age names no ccd file and ``ccd-exclusive`` refuses it (issue 11.12)."""
    names = [_cert(ring.openvpn_client("acme-eu", 1, "alice", e).certificate).subject
             .get_attributes_for_oid(NameOID.COMMON_NAME)[0].value for e in (1, 2, 65535)]
    assert names == ["alice", "alice.epoch2", "alice.epoch65535"]


def test_a_rotation_costs_the_same_at_any_epoch(ring: KeyRing) -> None:
    """``key_epoch: 65535`` on 30 peers took 34 s and wrote a 141 MB CRL (issue 11.12)."""
    peers = {f"p{i}": 65535 for i in range(30)}
    started = time.perf_counter()
    crl = ring.openvpn_crl("acme-eu", 1, peers)
    assert time.perf_counter() - started < 2.0
    assert len(x509.load_pem_x509_crl(crl.encode())) == 30
    assert len(crl) == len(ring.openvpn_crl("acme-eu", 1, {p: 2 for p in peers}))
    redacted = KeyRing(None).openvpn_crl("acme-eu", 1, peers)
    assert "revoking 30 certificates" in redacted


# -- client certificates without the builder (compiler/keys/der.py) -----------------------

_CA = pki.make_authority("acme-eu", 1, bytes(range(48)), bytes(range(20)))


@settings(max_examples=60, deadline=None)
@given(st.from_regex(r"[a-z0-9][a-z0-9-]{0,31}(\.epoch[1-9][0-9]{0,4})?", fullmatch=True),
       st.integers(1, 2**200), st.integers(2**158, 2**159 - 1))
def test_a_laid_out_client_certificate_is_the_builders(cn: str, scalar: int, serial: int) -> None:
    assert _CA.client_layout is not None
    key = ec.derive_private_key(scalar % (2**255) + 1, ec.SECP256R1())
    builder = _CA.issue(_CA.client_template, cn, key, serial)
    assert _CA.client_layout.issue(cn, key.public_key(), serial) == builder


def test_the_layout_takes_what_the_builder_takes_and_refuses_the_rest() -> None:
    assert _CA.client_layout is not None
    public = ec.derive_private_key(12345, ec.SECP256R1()).public_key()
    key = ec.derive_private_key(12345, ec.SECP256R1())
    # Serials of every DER length (a leading zero byte at 255), the longest name.
    for cn, serial in (("x" * 64, 1), ("y", 255), ("z", 2**159 - 1)):
        assert (_CA.client_layout.issue(cn, public, serial)
                == _CA.issue(_CA.client_template, cn, key, serial))
    for cn, serial in (("x" * 65, 1), ("", 1), ("z", 0), ("z", 2**159)):
        with pytest.raises(ValueError, match=r"common name|serial"):
            _CA.client_layout.issue(cn, public, serial)


def test_a_layout_that_differs_from_the_builder_is_not_used(
        monkeypatch: pytest.MonkeyPatch) -> None:
    expected, _key = pki.issue_client(_CA, "alice", bytes(range(48)), bytes(range(20)))
    monkeypatch.setattr(der.ClientLayout, "issue", lambda self, cn, public, serial: "")
    ca = pki.make_authority("acme-eu", 1, bytes(range(48)), bytes(range(20)))
    assert ca.client_layout is None
    # The builder makes it, the same certificate.
    assert pki.issue_client(ca, "alice", bytes(range(48)), bytes(range(20)))[0] == expected
