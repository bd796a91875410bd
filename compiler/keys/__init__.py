"""Deterministic key material (SPEC §4): secrets, HKDF labels, WireGuard keys, OpenVPN PKI.

All keys derive from one organisation secret with HKDF-SHA256, so a build is reproducible
and CI needs a single secret. Without a secret, :class:`KeyRing` returns visible
placeholders instead (a redacted build).

Usage::

    ring = KeyRing(load_secret(args.secret_file, os.environ))
    hub = ring.wireguard_hub("acme-eu", 1)
    hub.private_key, hub.public_key
    ring.openvpn_client("acme-eu", 1, "alice", 2).certificate
"""

from compiler.keys.derive import MAX_EPOCH, SALT, Purpose, label
from compiler.keys.pkinames import NOT_AFTER, NOT_BEFORE
from compiler.keys.ring import CertifiedKey, KeyRing
from compiler.keys.rotation import HubEpochs
from compiler.keys.secret import MIN_SECRET_BYTES, SECRET_ENV, load_secret
from compiler.keys.wireguard import WireGuardKeyPair

__all__ = [
    "MAX_EPOCH",
    "MIN_SECRET_BYTES",
    "NOT_AFTER",
    "NOT_BEFORE",
    "SALT",
    "SECRET_ENV",
    "CertifiedKey",
    "HubEpochs",
    "KeyRing",
    "Purpose",
    "WireGuardKeyPair",
    "label",
    "load_secret",
]
