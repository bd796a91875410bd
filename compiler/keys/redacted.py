"""Placeholders written instead of key material in a build without a secret (SPEC §4).

Design rules:

* obviously not a key: every placeholder starts with ``REDACTED`` and contains ``-``
  and ``.``, which base64 never does, so it cannot be mistaken for (or scanned as) a key;
* one token: WireGuard, OpenVPN and RouterOS values are parsed as single words, so the
  one-line placeholders use only ``[A-Za-z0-9.-]`` (no spaces, quotes or ``=``);
* distinct per owner and epoch: a redacted build still shows a ``key_epoch`` bump as a
  change, and two peers never share a "public key" that a duplicate check would flag;
* PEM placeholders keep the real BEGIN/END lines so the surrounding artifact keeps its
  shape (``<cert>`` blocks, ``pki/*.crt``), with a body that no PEM parser accepts.
"""

from __future__ import annotations

from typing import Final

#: The sentence that explains, inside every PEM placeholder, why it is there.
REASON: Final = "(build without MVPN_SECRET)"


def token(what: str, *owner: str, epochs: tuple[int, ...]) -> str:
    """One-word placeholder, e.g. ``REDACTED-wireguard-peer-private-key.acme-eu.alice.epoch-1``."""
    epoch = ".".join(str(e) for e in epochs)
    return ".".join((f"REDACTED-{what}", *owner, f"epoch-{epoch}"))


def pem(block: str, description: str) -> str:
    """PEM-shaped placeholder whose body says what was redacted and why."""
    return f"-----BEGIN {block}-----\nREDACTED {description} {REASON}\n-----END {block}-----\n"
