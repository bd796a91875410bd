"""Hub checks: the services of one hub must be able to listen side by side (``port-conflict``).

A hub runs WireGuard (UDP; during a hub key rotation also on ``next_port``), OpenVPN (UDP or
TCP) and, when ``dns.records`` is set, its own resolver (dnsmasq, port 53 over UDP and TCP).
Two of them on one port and transport pass every other check but the second daemon fails on
the hub with "Address already in use".
"""

from __future__ import annotations

from collections import defaultdict

from compiler.diagnostics import Diagnostics
from compiler.model.estate import Estate, InstanceNode
from compiler.model.instance import Instance

#: (service name, transport, port, where the port is written in instance.yaml)
Listener = tuple[str, str, int, tuple[str, ...]]

DNS_PORT = 53


def listeners(cfg: Instance) -> list[Listener]:
    """Every socket the hub's daemons listen on, in the order of the SPEC's example."""
    out: list[Listener] = []
    if cfg.wireguard is not None:
        out.append(("WireGuard", "udp", cfg.wireguard.port, ("wireguard", "port")))
    if cfg.moving_port is not None:
        out.append(("WireGuard's second interface (next_port)", "udp", cfg.moving_port,
                    ("wireguard", "next_port")))
    if cfg.openvpn is not None:
        out.append(("OpenVPN", cfg.openvpn.transport, cfg.openvpn.port, ("openvpn", "port")))
    if cfg.dns.records:
        for transport in ("udp", "tcp"):
            out.append(("the hub's DNS resolver (dns.records)", transport, DNS_PORT,
                        ("dns", "records")))
    return out


def _check_instance(inst: InstanceNode, cfg: Instance, diags: Diagnostics) -> None:
    assert inst.source is not None
    by_socket: dict[tuple[str, int], list[Listener]] = defaultdict(list)
    for listener in listeners(cfg):
        by_socket[(listener[1], listener[2])].append(listener)
    for (transport, port), found in sorted(by_socket.items()):
        if len(found) < 2:
            continue
        for name, _t, _p, loc in found:
            if loc[0] == "dns":
                continue  # reported at the daemon's own port line, which the user can change
            others = " and ".join(n for n, *_ in found if n != name)
            # a default port is not written: point at the service's block instead
            data = inst.source.data if isinstance(inst.source.data, dict) else {}
            block = data.get(loc[0])
            where = loc if isinstance(block, dict) and loc[-1] in block else loc[:1]
            inst.source.report(
                diags, "port-conflict",
                f"{name} and {others} both listen on {transport.upper()} port {port} of this "
                "hub; the second would fail with 'Address already in use': give each its own "
                "port",
                where,
            )


def check_hubs(estate: Estate, diags: Diagnostics) -> None:
    """``port-conflict``: two services of one hub on the same port and transport."""
    for inst in estate.instances.values():
        if inst.config is not None and inst.source is not None:
            _check_instance(inst, inst.config, diags)
