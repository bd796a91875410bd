"""``qr-too-large``: WireGuard profiles no QR code can hold (SPEC §10).

A QR code (version 40, error correction L, byte mode) holds at most 2,953 bytes. The QR
payload of a WireGuard client profile is the profile without its comment and blank lines
(see :mod:`compiler.render.qr`). Its size is worked out here from the model, without keys or
templates, so `mvpn check` warns in a pull request before any compile; a test pins that this
size is exactly the length of the payload the renderer encodes.
"""

from __future__ import annotations

from typing import Final

from compiler.diagnostics import Diagnostics
from compiler.model.addressing import hub_address
from compiler.model.estate import PeerNode
from compiler.model.org import OrgConfig
from compiler.model.peer import ClientPeer
from compiler.model.policy import Policy

#: Bytes a QR code holds at most (version 40-L, byte mode): the payload is ASCII.
QR_MAX_BYTES: Final = 2953
#: A WireGuard key in base64.
_KEY_CHARS: Final = 44


def _dns_line(policy: Policy) -> int:
    cfg = policy.config
    if cfg.dns.split:
        return 0  # a comment in the profile, not a setting
    if cfg.dns.records:
        assert cfg.wireguard is not None
        servers = [str(hub_address(cfg.wireguard.network))]
    else:
        servers = [str(s) for s in cfg.dns.servers]
    if not servers:
        return 0
    return len("DNS = " + ", ".join(servers + list(cfg.dns.domains)) + "\n")


def _allowed(policy: Policy, peer: PeerNode) -> int:
    cfg = peer.config
    if isinstance(cfg, ClientPeer) and cfg.route_all:
        return len("0.0.0.0/0, ::/0")
    if peer.name in policy.access:
        texts = [str(n) for n in policy.reachable(peer)]
    else:
        texts = policy.routes.text()
    return sum(map(len, texts)) + 2 * max(len(texts) - 1, 0)


def _instance_part(policy: Policy, org: OrgConfig) -> int:
    """Bytes of the lines every client of the instance has alike (all but two values)."""
    inst = policy.config
    assert inst.wireguard is not None
    fqdn = f"{inst.hostname.lower()}.{org.domain}"
    lines = [
        "[Interface]", "PrivateKey = " + "k" * _KEY_CHARS, "Address = ", "[Peer]",
        "PublicKey = " + "k" * _KEY_CHARS, "PresharedKey = " + "k" * _KEY_CHARS,
        f"Endpoint = {fqdn}:{inst.wireguard.port}",
        f"PersistentKeepalive = {org.defaults.keepalive}",
    ]
    if inst.mtu is not None:  # a client takes the instance's (only sites have their own)
        lines.append(f"MTU = {inst.mtu}")
    return sum(len(line) + 1 for line in lines) + _dns_line(policy) + len("AllowedIPs = \n")


def qr_payload_size(policy: Policy, peer: PeerNode, org: OrgConfig,
                    instance_part: int | None = None) -> int:
    """Bytes of the QR payload of a WireGuard client's profile (``templates/clients``).

    ``instance_part`` is :func:`_instance_part`, worked out once per instance by the check.
    """
    cfg = peer.config
    address = f"{cfg.address}/32"
    if cfg.address6 is not None:
        address += f", {cfg.address6}/128"
    if instance_part is None:
        instance_part = _instance_part(policy, org)
    return instance_part + len(address) + _allowed(policy, peer)


def check_qr(found: dict[str, Policy], org: OrgConfig, diags: Diagnostics) -> None:
    """``qr-too-large`` at each WireGuard client whose profile would get a QR code but is too big.

    A client that brings its own key gets no QR code (its profile has no private key).
    """
    for policy in found.values():
        if policy.config.wireguard is None:
            continue
        instance_part = _instance_part(policy, org)
        for peer in policy.peers:
            cfg = peer.config
            if not isinstance(cfg, ClientPeer) or cfg.protocol != "wireguard" or cfg.public_key:
                continue
            if cfg.address is None or peer.source is None:
                continue  # address-missing says so
            size = qr_payload_size(policy, peer, org, instance_part)
            if size > QR_MAX_BYTES:
                peer.source.report(
                    diags, "qr-too-large",
                    f"the WireGuard profile of {peer.name} is {size:,} bytes without comments, "
                    f"more than a QR code holds ({QR_MAX_BYTES:,}): no .svg is written; declare "
                    "routing.aggregates on the instance to shorten its AllowedIPs")
