"""What the OpenVPN PKI names and fixes without making a certificate: CNs, serials, dates.

Split from :mod:`compiler.keys.pki` so that a build or check that makes no certificate (a
WireGuard-only instance, ``mvpn check``, the ccd file names of the hub) does not import
``cryptography.x509`` (about 22 ms of a process's start-up); :mod:`compiler.keys.pki`
re-exports all of it.
"""

from __future__ import annotations

import datetime
from typing import Final

NOT_BEFORE: Final = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
NOT_AFTER: Final = datetime.datetime(2099, 12, 31, 23, 59, 59, tzinfo=datetime.UTC)

#: HKDF bytes per private scalar: 64 bits beyond the group size make the modulo bias
#: negligible (FIPS 186-5 A.2.1, "extra random bits").
SCALAR_BYTES: Final = 48
#: HKDF bytes per serial number (RFC 5280: at most 20 octets).
SERIAL_BYTES: Final = 20


def serial_number(material: bytes) -> int:
    """Map :data:`SERIAL_BYTES` derived bytes to a serial in ``[2**158, 2**159)``.

    Positive and below 2**159 so the DER INTEGER fits RFC 5280's 20 octets; the fixed top
    bit gives every serial the same encoded length, 158 bits stay unpredictable.
    """
    return (int.from_bytes(material, "big") >> 2) | (1 << 158)


def authority_common_name(instance: str, epoch: int) -> str:
    """The CN of ``instance``'s CA at ``epoch``: ``mvpn <instance> CA [epoch<N>]``.

    Epoch 1 is the bare name, later epochs append ``epoch<N>``.

    Two CAs of one instance must have different names: during step 1 of a two-step
    rotation the hub trusts both, and an OpenVPN 2.6 server refuses to start with a ``ca``
    file holding two CAs of the same subject ("Cannot load CA certificate file ... (only 1
    of 2 entries were valid X509 names)", ``tls_ctx_load_ca`` in ``ssl_openssl.c``); chains
    and CRLs are also looked up by issuer name. Epoch 1 keeps the name it always had.
    """
    return f"mvpn {instance} CA" if epoch == 1 else f"mvpn {instance} CA epoch{epoch}"


def client_common_name(peer: str, epoch: int) -> str:
    """The CN of ``peer``'s certificate at ``epoch``, which is also its ccd file's name.

    Epoch 1 is the bare peer name; later epochs append ``.epoch<N>`` (a dot never occurs
    in a peer name, so no two peers or epochs share a CN). This is what makes a key
    rotation cost O(1): the hub runs with ``ccd-exclusive``, so a certificate of *any*
    earlier epoch presents a CN that has no ccd file and is refused, however many
    rotations ago it was issued; the CRL only needs the epoch just replaced (see
    :func:`compiler.keys.pki.make_crl`), not every epoch since 1.
    """
    return peer if epoch == 1 else f"{peer}.epoch{epoch}"
