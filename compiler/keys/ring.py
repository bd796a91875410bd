"""The :class:`KeyRing`: every key, certificate and CRL of a build, from one secret."""

from __future__ import annotations

import base64
import dataclasses
import functools
from collections.abc import Mapping
from typing import TYPE_CHECKING

from compiler.keys import redacted
from compiler.keys.derive import (
    Deriver,
    Purpose,
    check_epoch,
    check_fqdn,
    check_name,
    label,
)
from compiler.keys.pkinames import SCALAR_BYTES, SERIAL_BYTES, client_common_name, serial_number
from compiler.keys.rotation import HubEpochs
from compiler.keys.secret import MIN_SECRET_BYTES
from compiler.keys.wireguard import WireGuardKeyPair

if TYPE_CHECKING:
    from compiler.keys import pki


@dataclasses.dataclass(frozen=True, slots=True)
class CertifiedKey:
    """A certificate and its private key, both PEM text (or PEM-shaped placeholders)."""

    certificate: str
    # repr=False: a logged or printed CertifiedKey must never show the key (SPEC §4).
    private_key: str = dataclasses.field(repr=False)


def _redacted_pair(what: str) -> CertifiedKey:
    """Placeholders for a certificate and its key; ``what`` has one ``{}`` for the kind."""
    return CertifiedKey(
        redacted.pem("CERTIFICATE", what.format("certificate")),
        redacted.pem("PRIVATE KEY", what.format("private key")),
    )


def _restore(deriver: Deriver | None) -> KeyRing:
    """Unpickle a KeyRing (for process-pool workers): rebuild around the same deriver."""
    ring = KeyRing(None)
    ring._init(deriver)
    return ring


class KeyRing:
    """Derives an organisation's key material, or placeholders when there is no secret.

    Every method is a pure function of the secret and its arguments. Names are safe
    identifiers (``[a-z0-9-]+``), epochs are ``key_epoch`` values (``1..MAX_EPOCH``);
    anything else raises ValueError, in redacted mode too, so both modes fail alike.

    Rotation: an instance's epoch owns its WireGuard hub key, its CA and its server
    certificate; a peer's epoch owns its WireGuard key and its OpenVPN client key. A client
    certificate depends on both (it is signed by the instance's CA), so bumping the
    instance epoch re-issues client certificates for the same client keys.
    """

    __slots__ = ("_authority", "_deriver")

    def __init__(self, secret: bytes | None) -> None:
        """Bind to ``secret`` (from :func:`load_secret`), or ``None`` for a redacted build."""
        if secret is not None and len(secret) < MIN_SECRET_BYTES:
            raise ValueError(f"the secret must be at least {MIN_SECRET_BYTES} bytes")
        self._init(Deriver(secret) if secret is not None else None)

    def _init(self, deriver: Deriver | None) -> None:
        self._deriver = deriver
        # Per KeyRing, not per process: the CA of an instance is derived once per build
        # and reused for its server certificate, every client certificate and the CRL.
        self._authority = functools.lru_cache(maxsize=None)(self._make_authority)

    def __repr__(self) -> str:
        return f"KeyRing(redacted={self.redacted})"

    def __reduce__(self) -> tuple[object, tuple[Deriver | None]]:
        # The cache holds key objects that do not pickle; workers rebuild what they need.
        return (_restore, (self._deriver,))

    @property
    def redacted(self) -> bool:
        """True when built without a secret: every method returns placeholders."""
        return self._deriver is None

    def _derive(self, length: int, purpose: Purpose, names: tuple[str, ...], *epochs: int) -> bytes:
        if self._deriver is None:  # pragma: no cover - every caller checks redacted first
            raise RuntimeError("no secret: a redacted KeyRing derives nothing")
        return self._deriver.derive(label(purpose, names, epochs), length)

    def cache_id(self) -> str:
        """An id of the secret for the build cache: HKDF output, so it reveals nothing of it.

        Cached build state is only valid for the secret it was made with; this tells
        secrets apart without writing the secret (or anything derived from a key) to disk.
        """
        if self._deriver is None:
            return "redacted"
        return self._derive(16, Purpose.CACHE_ID, ("build-cache",), 1).hex()

    # -- WireGuard ---------------------------------------------------------------------

    def wireguard_hub(self, instance: str, epoch: int) -> WireGuardKeyPair:
        """Return the WireGuard key pair of ``instance``'s hub at instance ``epoch``."""
        check_name("instance", instance)
        check_epoch("instance", epoch)
        if self._deriver is None:
            return WireGuardKeyPair.placeholder(
                instance,
                redacted.token("wireguard-hub-private-key", instance, epochs=(epoch,)),
                redacted.token("wireguard-hub-public-key", instance, epochs=(epoch,)),
            )
        raw = self._derive(32, Purpose.WG_HUB, (instance,), epoch)
        return WireGuardKeyPair.derived(instance, raw)

    def wireguard_peer(self, instance: str, peer: str, epoch: int) -> WireGuardKeyPair:
        """Return the WireGuard key pair of ``peer`` of ``instance`` at peer ``epoch``."""
        check_name("instance", instance)
        check_name("peer", peer)
        check_epoch("peer", epoch)
        owner = f"{instance}/{peer}"
        if self._deriver is None:
            return WireGuardKeyPair.placeholder(
                owner,
                redacted.token("wireguard-peer-private-key", instance, peer, epochs=(epoch,)),
                redacted.token("wireguard-peer-public-key", instance, peer, epochs=(epoch,)),
            )
        raw = self._derive(32, Purpose.WG_PEER, (instance, peer), epoch)
        return WireGuardKeyPair.derived(owner, raw)

    def wireguard_psk(self, instance: str, peer: str, epoch: int) -> str:
        """Return the preshared key (base64) between ``instance``'s hub and ``peer``.

        A symmetric key mixed into the handshake: recorded traffic stays secret even if
        X25519 falls to a future quantum computer. It rotates with the peer's ``epoch``.
        """
        check_name("instance", instance)
        check_name("peer", peer)
        check_epoch("peer", epoch)
        if self._deriver is None:
            return redacted.token("wireguard-preshared-key", instance, peer, epochs=(epoch,))
        return base64.b64encode(self._derive(32, Purpose.WG_PSK, (instance, peer), epoch)
                                ).decode("ascii")

    # -- OpenVPN PKI ---------------------------------------------------------------------

    def _make_authority(self, instance: str, epoch: int) -> pki.Authority:
        # Imported with the first certificate: cryptography's x509 costs a process that makes
        # none (a WireGuard-only build, a check) about 22 ms.
        from compiler.keys import pki

        return pki.make_authority(
            instance,
            epoch,
            self._derive(SCALAR_BYTES, Purpose.OVPN_CA_KEY, (instance,), epoch),
            self._derive(SERIAL_BYTES, Purpose.OVPN_CA_SERIAL, (instance,), epoch),
        )

    def openvpn_ca(self, instance: str, epoch: int) -> str:
        """Return the PEM certificate of ``instance``'s CA (:func:`pki.authority_common_name`)."""
        check_name("instance", instance)
        check_epoch("instance", epoch)
        if self._deriver is None:
            return redacted.pem("CERTIFICATE", f"openvpn CA certificate {instance} epoch {epoch}")
        return self._authority(instance, epoch).certificate_pem

    def openvpn_trust(self, instance: str, epochs: HubEpochs) -> str:
        """The CA certificates (PEM, oldest first) the hub and new profiles trust.

        One CA, or during step 1 of a rotation the retiring and the current one: OpenVPN
        reads every certificate of its ``ca`` file (and of a profile's ``<ca>``).
        """
        return "".join(self.openvpn_ca(instance, epoch) for epoch in epochs.trusted)

    def openvpn_server(self, instance: str, epoch: int, fqdn: str) -> CertifiedKey:
        """Return the hub's certificate (CN and SAN ``fqdn``, serverAuth) and key at ``epoch``."""
        check_name("instance", instance)
        check_epoch("instance", epoch)
        check_fqdn(fqdn)
        if self._deriver is None:
            return _redacted_pair(f"openvpn server {{}} {instance} ({fqdn}) epoch {epoch}")
        # The FQDN is part of the serial's label: a renamed hub gets a new certificate
        # content, so it must get a new serial too (RFC 5280: unique per CA).
        from compiler.keys import pki

        cert, key = pki.issue_server(
            self._authority(instance, epoch),
            fqdn,
            self._derive(SCALAR_BYTES, Purpose.OVPN_SERVER_KEY, (instance,), epoch),
            self._derive(SERIAL_BYTES, Purpose.OVPN_SERVER_SERIAL, (instance, fqdn), epoch),
        )
        return CertifiedKey(cert, key)

    def openvpn_client(
        self, instance: str, instance_epoch: int, peer: str, peer_epoch: int
    ) -> CertifiedKey:
        """Return the certificate (``CN=<peer>``, clientAuth) and key of ``peer``."""
        check_name("instance", instance)
        check_epoch("instance", instance_epoch)
        check_name("peer", peer)
        check_epoch("peer", peer_epoch)
        if self._deriver is None:
            return _redacted_pair(
                f"openvpn client {{}} {instance}/{peer} "
                f"epoch {peer_epoch} (instance epoch {instance_epoch})"
            )
        from compiler.keys import pki

        cert, key = pki.issue_client(
            self._authority(instance, instance_epoch),
            client_common_name(peer, peer_epoch),
            self._derive(SCALAR_BYTES, Purpose.OVPN_CLIENT_KEY, (instance, peer), peer_epoch),
            self._client_serial_material(instance, instance_epoch, peer, peer_epoch),
        )
        return CertifiedKey(cert, key)

    def _client_serial_material(
        self, instance: str, instance_epoch: int, peer: str, peer_epoch: int
    ) -> bytes:
        return self._derive(
            SERIAL_BYTES,
            Purpose.OVPN_CLIENT_SERIAL,
            (instance, peer),
            instance_epoch,
            peer_epoch,
        )

    def openvpn_crl(self, instance: str, epoch: int, peer_epochs: Mapping[str, int]) -> str:
        """Return the PEM CRL of ``instance``'s CA, revoking each peer's previous certificate.

        ``peer_epochs`` maps each OpenVPN peer of the instance to its current ``key_epoch``;
        the certificate of epoch ``current-1`` (under the current CA) is revoked, so a bump
        makes the hub refuse the old certificate. Older epochs need no entry (and listing
        them all made ``key_epoch: 65535`` a 141 MB CRL): their CN names no ccd file and
        ``ccd-exclusive`` refuses it (:func:`pki.client_common_name`). Certificates of
        earlier *instance* epochs need no entry: they chain to a CA the hub no longer
        trusts. Removed peers need none either: their CN has no ccd file.
        """
        check_name("instance", instance)
        check_epoch("instance", epoch)
        for peer, peer_epoch in peer_epochs.items():
            check_name("peer", peer)
            check_epoch("peer", peer_epoch)
        if self._deriver is None:
            count = sum(1 for peer_epoch in peer_epochs.values() if peer_epoch > 1)
            return redacted.pem(
                "X509 CRL", f"openvpn CRL {instance} epoch {epoch} revoking {count} certificates"
            )
        serials = (
            serial_number(self._client_serial_material(instance, epoch, peer, old))
            for peer, peer_epoch in sorted(peer_epochs.items())
            for old in range(max(1, peer_epoch - 1), peer_epoch)
        )
        from compiler.keys import pki

        return pki.make_crl(self._authority(instance, epoch), serials)

    def openvpn_crls(
        self, instance: str, epochs: HubEpochs, peer_epochs: Mapping[str, int]
    ) -> str:
        """One CRL per trusted CA (see :meth:`openvpn_crl`), in one PEM file, oldest first.

        OpenVPN 2.6 (OpenSSL) reads every CRL in its ``crl-verify`` file
        (``backend_tls_ctx_reload_crl``). A certificate whose CA has no CRL there is
        accepted with only a warning (OpenVPN ignores ``X509_V_ERR_UNABLE_TO_GET_CRL``), so
        without its CRL the retiring CA's revocations would silently stop applying: during
        step 1 both CAs get theirs. The retiring CA's CRL is the one the hub had at that
        epoch, byte for byte.
        """
        return "".join(self.openvpn_crl(instance, epoch, peer_epochs)
                       for epoch in epochs.trusted)
