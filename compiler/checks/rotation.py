"""Hub key rotation checks: ``wireguard.next_port`` and the peers' ``hub_key_epoch``.

During step 1 of a two-step rotation (``retiring_key_epoch``) with ``wireguard.next_port``,
the hub runs a second WireGuard interface (``wg1``) with the new epoch's key, and a peer
whose ``hub_key_epoch`` is the instance's ``key_epoch`` is moved there (see
:mod:`compiler.keys.rotation`). Everything else about these fields is a mistake that would
either do nothing (and be believed to) or cut a peer off, so it is a ``key-rotation-invalid``
at the field's line. A port clash of ``next_port`` with another service is a
``port-conflict`` (:mod:`compiler.checks.hub`).
"""

from __future__ import annotations

from compiler.diagnostics import Diagnostics
from compiler.model.estate import Estate, InstanceNode, PeerNode
from compiler.model.instance import NEXT_WG_IFACE, Instance

_CODE = "key-rotation-invalid"


def _check_instance(inst: InstanceNode, cfg: Instance, diags: Diagnostics) -> None:
    assert inst.source is not None
    wg = cfg.wireguard
    if wg is None or wg.next_port is None:
        return
    if cfg.retiring_key_epoch is None:
        inst.source.report(
            diags, _CODE,
            f"wireguard.next_port {wg.next_port} is only used during step 1 of a hub key "
            "rotation (with retiring_key_epoch): after step 2 set wireguard.port to it "
            "and remove next_port", ("wireguard", "next_port"))
    elif cfg.uplink == NEXT_WG_IFACE:
        inst.source.report(
            diags, _CODE,
            f"uplink '{cfg.uplink}' is the name of the hub's second WireGuard interface "
            "during the rotation (wireguard.next_port); name the hub's real uplink",
            ("uplink",))


def _check_peer(inst: InstanceNode, cfg: Instance, peer: PeerNode, diags: Diagnostics) -> None:
    value = peer.config.hub_key_epoch
    if value is None:
        return
    where = ("hub_key_epoch",)
    if peer.config.protocol != "wireguard":
        peer.source.report(
            diags, _CODE,
            f"hub_key_epoch {value}: an OpenVPN peer follows the hub's CAs (both are trusted "
            "during step 1); remove hub_key_epoch", where)
        return
    current, retiring = cfg.key_epoch, cfg.retiring_key_epoch
    if retiring is None:
        if value != current:
            peer.source.report(
                diags, _CODE,
                f"hub_key_epoch {value} is not instance '{inst.name}''s key_epoch {current}: "
                "outside step 1 of a hub key rotation every WireGuard peer has the hub's "
                f"current key; remove hub_key_epoch or set it to {current}", where)
        return
    if value not in (current, retiring):
        peer.source.report(
            diags, _CODE,
            f"hub_key_epoch {value} is neither key_epoch {current} (moved to the new hub key) "
            f"nor retiring_key_epoch {retiring} (the old key) of instance '{inst.name}'",
            where)
    elif value == current and cfg.moving_port is None:
        peer.source.report(
            diags, _CODE,
            f"hub_key_epoch {value} moves this peer to the new hub key, but instance "
            f"'{inst.name}' has no wireguard.next_port for it: add one (a second UDP port) "
            "or remove hub_key_epoch", where)


def check_rotation(estate: Estate, diags: Diagnostics) -> None:
    """``key-rotation-invalid``: next_port outside step 1, hub_key_epoch that moves nothing."""
    for inst in estate.instances.values():
        cfg = inst.config
        if cfg is None or inst.source is None:
            continue
        _check_instance(inst, cfg, diags)
        for peer in inst.peers.values():
            _check_peer(inst, cfg, peer, diags)
