"""The per-instance OpenVPN PKI: ECDSA P-256 CA, server and client certificates, and CRL.

Everything here is a pure function of derived bytes, so certificates are reproducible:
keys come from HKDF output, signatures are deterministic ECDSA (RFC 6979), validity and
revocation dates are fixed, serial numbers are derived, and extensions are added in a
fixed order.

Key usage, checked against OpenVPN 2.6: ``remote-cert-tls server|client`` means
``remote-cert-ku`` (the keyUsage extension must be present; the TLS library then enforces
its bits) plus ``remote-cert-eku "TLS Web Server|Client Authentication"``. With ECDSA keys
TLS needs ``digitalSignature`` (the handshake is signed); OpenSSL's TLS purpose check
accepts any of digitalSignature/keyEncipherment/keyAgreement. So both end-entity certs
carry digitalSignature; the server also carries keyAgreement (harmless, conventional for
EC server certs), and each carries exactly its own EKU, so a client certificate can never
pose as the hub.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Final

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID, ObjectIdentifier

from compiler.keys.der import ClientLayout
from compiler.keys.pkinames import (
    NOT_AFTER,
    NOT_BEFORE,
    SCALAR_BYTES,
    SERIAL_BYTES,
    authority_common_name,
    client_common_name,
    serial_number,
)

#: Order of the P-256 group; private scalars must lie in ``1..n-1``.
_P256_ORDER: Final = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551

_CURVE: Final = ec.SECP256R1()


def private_key(material: bytes) -> ec.EllipticCurvePrivateKey:
    """Map :data:`SCALAR_BYTES` derived bytes to a P-256 private key, uniformly."""
    scalar = int.from_bytes(material, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, _CURVE)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> str:
    # PKCS#8 "BEGIN PRIVATE KEY": what OpenSSL 3 writes by default, read by OpenVPN
    # (OpenSSL and mbed TLS builds) and OpenVPN Connect.
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode("ascii")


def _cert_pem(cert: x509.Certificate) -> str:
    return cert.public_bytes(serialization.Encoding.PEM).decode("ascii")


def _cn(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _key_usage(
    *, signature: bool = False, agreement: bool = False, ca: bool = False
) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=agreement,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _template(
    issuer: x509.Name,
    aki: x509.AuthorityKeyIdentifier,
    usage: x509.KeyUsage,
    purpose: ObjectIdentifier,
) -> x509.CertificateBuilder:
    return (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.ExtendedKeyUsage([purpose]), critical=False)
        .add_extension(aki, critical=False)
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Authority:
    """An instance's CA: its key, certificate and the values its issued objects reuse."""

    key: ec.EllipticCurvePrivateKey = dataclasses.field(repr=False)
    certificate: x509.Certificate
    certificate_pem: str
    key_identifier: x509.AuthorityKeyIdentifier
    #: Everything a client certificate shares with every other one, built once per CA:
    #: the builder is immutable and copies itself on each call, so per-certificate steps
    #: are the cost that scales with the number of peers.
    client_template: x509.CertificateBuilder
    #: The same as DER to fill in and sign (:mod:`compiler.keys.der`), when its probe
    #: certificate came out byte for byte as the builder's (else ``None``: the builder).
    client_layout: ClientLayout | None = None

    def template(self, usage: x509.KeyUsage, purpose: ObjectIdentifier) -> x509.CertificateBuilder:
        """Start an end-entity certificate: issuer, validity, constraints, KU, EKU, AKI."""
        return _template(self.certificate.subject, self.key_identifier, usage, purpose)

    def issue(
        self,
        template: x509.CertificateBuilder,
        common_name: str,
        key: ec.EllipticCurvePrivateKey,
        serial: int,
    ) -> str:
        """Complete ``template`` for ``key`` as ``CN=<common_name>``, sign it, return PEM."""
        public = key.public_key()
        cert = (
            template.subject_name(_cn(common_name))
            .public_key(public)
            .serial_number(serial)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
            .sign(self.key, hashes.SHA256(), ecdsa_deterministic=True)
        )
        return _cert_pem(cert)


def make_authority(
    instance: str, epoch: int, key_material: bytes, serial_material: bytes
) -> Authority:
    """Self-signed CA (:func:`authority_common_name`) that may sign end-entity certificates only."""
    key = private_key(key_material)
    public = key.public_key()
    name = _cn(authority_common_name(instance, epoch))
    ski = x509.SubjectKeyIdentifier.from_public_key(public)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(serial_number(serial_material))
        .not_valid_before(NOT_BEFORE)
        .not_valid_after(NOT_AFTER)
        # path_length=0: this CA issues hub and peer certificates, never another CA.
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(ca=True), critical=True)
        .add_extension(ski, critical=False)
        .sign(key, hashes.SHA256(), ecdsa_deterministic=True)
    )
    aki = x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski)
    client = _template(name, aki, _key_usage(signature=True), ExtendedKeyUsageOID.CLIENT_AUTH)
    authority = Authority(key, cert, _cert_pem(cert), aki, client)
    return dataclasses.replace(authority, client_layout=_client_layout(authority))


def _client_layout(ca: Authority) -> ClientLayout | None:
    """The CA's client certificates as DER to fill in, if that gives the builder's bytes.

    Laid out from one certificate the builder made, and checked on a second one with another
    name, key and serial (fixed probe values, never written anywhere).
    """
    probes = [(name, ec.derive_private_key(scalar, _CURVE), serial) for name, scalar, serial in
              (("probe", 2, (1 << 158) + 1), ("probe-second.epoch2", 3, (1 << 159) - 1))]
    made = [ca.issue(ca.client_template, name, key, serial) for name, key, serial in probes]
    reference = x509.load_pem_x509_certificate(made[0].encode("ascii"))
    layout = ClientLayout(reference.public_bytes(serialization.Encoding.DER), ca.key)
    name, key, serial = probes[1]
    return layout if layout.issue(name, key.public_key(), serial) == made[1] else None


def issue_server(
    ca: Authority, fqdn: str, key_material: bytes, serial_material: bytes
) -> tuple[str, str]:
    """Hub certificate ``CN=<fqdn>``, SAN DNS:<fqdn>, EKU serverAuth; returns (cert, key) PEM."""
    key = private_key(key_material)
    template = ca.template(
        _key_usage(signature=True, agreement=True), ExtendedKeyUsageOID.SERVER_AUTH
    ).add_extension(x509.SubjectAlternativeName([x509.DNSName(fqdn)]), critical=False)
    return ca.issue(template, fqdn, key, serial_number(serial_material)), _key_pem(key)


def issue_client(
    ca: Authority, common_name: str, key_material: bytes, serial_material: bytes
) -> tuple[str, str]:
    """Peer certificate ``CN=<common_name>``, EKU clientAuth; returns (cert, key) PEM.

    The CN is the hub's ccd file name (see :func:`client_common_name`).
    """
    key = private_key(key_material)
    serial = serial_number(serial_material)
    if ca.client_layout is not None:  # the builder's bytes, at a third of its cost
        return ca.client_layout.issue(common_name, key.public_key(), serial), _key_pem(key)
    return ca.issue(ca.client_template, common_name, key, serial), _key_pem(key)


def make_crl(ca: Authority, serials: Iterable[int]) -> str:
    """CRL signed by ``ca`` revoking ``serials`` (reason: superseded), as PEM.

    Callers list one certificate per rotated peer (the epoch just replaced), so the CRL
    grows with the number of peers, never with their epochs: older certificates carry a
    CN without a ccd file (:func:`client_common_name`). The listed one still gets the
    clearest refusal in the hub's log ("certificate revoked"), at the TLS handshake.

    Entries are sorted so the output does not depend on the caller's order. There is no
    CRL number: a stateless build cannot keep one monotonic (a removed peer shrinks the
    list), and OpenVPN's ``crl-verify`` does not use it.
    """
    superseded = x509.CRLReason(x509.ReasonFlags.superseded)
    revoked = [
        x509.RevokedCertificateBuilder()
        .serial_number(serial)
        .revocation_date(NOT_BEFORE)
        .add_extension(superseded, critical=False)
        .build()
        for serial in sorted(set(serials))
    ]
    # The list goes to the constructor: add_revoked_certificate() copies the whole list on
    # every call, which is quadratic for an instance with many rotated clients.
    builder = x509.CertificateRevocationListBuilder(
        issuer_name=ca.certificate.subject,
        last_update=NOT_BEFORE,
        next_update=NOT_AFTER,
        revoked_certificates=revoked,
    ).add_extension(ca.key_identifier, critical=False)
    crl = builder.sign(ca.key, hashes.SHA256(), ecdsa_deterministic=True)
    return crl.public_bytes(serialization.Encoding.PEM).decode("ascii")


__all__ = [
    "NOT_AFTER", "NOT_BEFORE", "SCALAR_BYTES", "SERIAL_BYTES", "Authority",
    "authority_common_name", "client_common_name", "issue_client", "issue_server",
    "make_authority", "make_crl", "private_key", "serial_number",
]
