"""Client certificates laid out from a reference certificate, then signed: no builder per peer.

A CA signs one client certificate per OpenVPN peer (10,000 at 100k peers). With
``cryptography``'s ``CertificateBuilder`` one took about 150 µs, of which the signature is 35:
the rest is the builder copying itself per step and its extensions being read back from
Python objects. Every client certificate of a CA has the same DER but for four fields, so
:class:`ClientLayout` takes the others from one certificate the builder made (version,
signature algorithm, issuer, validity, the extensions up to the subject key identifier,
which is last), fills in the serial, subject, public key and key identifier, and signs the
to-be-signed bytes with the same deterministic ECDSA (RFC 6979) the builder uses.

:meth:`ClientLayout.probe` makes one certificate both ways when the CA is made, and the
layout is used only when they are byte for byte the same; ``tests/test_keys.py`` compares
both ways on many names, keys and serials.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Final

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

_ECDSA: Final = ec.ECDSA(hashes.SHA256(), deterministic_signing=True)
#: ``SEQUENCE { SET { SEQUENCE { OID 2.5.4.3 (commonName), UTF8String`` (lengths apart).
_CN_OID: Final = b"\x06\x03\x55\x04\x03"
#: The key identifier is a SHA-1 of the public key: 20 bytes at the end of the extensions.
_SKI_LEN: Final = 20
#: An uncompressed P-256 point: 0x04 and two 32-byte coordinates.
_POINT_LEN: Final = 65


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def tlv(tag: int, body: bytes) -> bytes:
    """One DER element: tag, definite length, body."""
    return bytes((tag,)) + _length(len(body)) + body


def elements(der: bytes) -> list[bytes]:
    """The elements (tag, length and body) of the DER ``SEQUENCE`` ``der``, in order."""
    body, out = _body(der), []
    while body:
        size = _header(body) + _size(body)
        out.append(body[:size])
        body = body[size:]
    return out


def _header(der: bytes) -> int:
    return 2 if der[1] < 0x80 else 2 + (der[1] & 0x7F)


def _size(der: bytes) -> int:
    if der[1] < 0x80:
        return der[1]
    return int.from_bytes(der[2:_header(der)], "big")


def _body(der: bytes) -> bytes:
    start = _header(der)
    return der[start:start + _size(der)]


def _pem(der: bytes) -> str:
    text = base64.b64encode(der).decode("ascii")
    lines = "\n".join(text[i:i + 64] for i in range(0, len(text), 64))
    return f"-----BEGIN CERTIFICATE-----\n{lines}\n-----END CERTIFICATE-----\n"


class ClientLayout:
    """The DER every client certificate of one CA shares, from a reference certificate."""

    __slots__ = ("_extensions", "_head", "_key", "_middle", "_signature_algorithm", "_spki")

    def __init__(self, reference: bytes, ca_key: ec.EllipticCurvePrivateKey) -> None:
        """``reference``: the DER of a client certificate the builder made with this CA."""
        tbs, algorithm, _signature = elements(reference)
        version, _serial, signature, issuer, validity, _subject, spki, extensions = elements(tbs)
        self._head = version
        self._signature_algorithm = algorithm
        # What lies between the serial and the subject is the same for every certificate.
        self._middle = signature + issuer + validity
        self._spki = spki[:-_POINT_LEN]
        self._extensions = extensions[:-_SKI_LEN]
        self._key = ca_key
        if len(spki) - len(self._spki) != _POINT_LEN:  # pragma: no cover - a P-256 CA only
            raise ValueError("not a P-256 public key")

    def issue(self, common_name: str, public: ec.EllipticCurvePublicKey, serial: int) -> str:
        """The PEM certificate for ``public``, ``CN=<common_name>``, ``serial``.

        Refuses what the builder refuses: a name of more than 64 characters (RFC 5280's
        ``ub-common-name``) or none, a serial outside ``1..2**159-1`` (20 octets).
        """
        if not 1 <= len(common_name) <= 64:
            raise ValueError(f"common name {common_name!r} is not 1-64 characters")
        if not 0 < serial < 1 << 159:
            raise ValueError(f"serial {serial} is not in 1..2**159-1")
        point = public.public_bytes(serialization.Encoding.X962,
                                    serialization.PublicFormat.UncompressedPoint)
        cn = common_name.encode("utf-8")
        subject = tlv(0x30, tlv(0x31, tlv(0x30, _CN_OID + tlv(0x0C, cn))))
        tbs = tlv(0x30, b"".join((
            self._head,
            tlv(0x02, serial.to_bytes(serial.bit_length() // 8 + 1, "big")),
            self._middle,
            subject,
            self._spki + point,
            self._extensions + hashlib.sha1(point).digest(),  # RFC 5280 4.2.1.2, method 1
        )))
        signature = self._key.sign(tbs, _ECDSA)
        return _pem(tlv(0x30, tbs + self._signature_algorithm + tlv(0x03, b"\0" + signature)))
