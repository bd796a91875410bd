"""The hub's forwarding policy as nftables rules (the ``access`` chain of ``nftables.conf``).

The rules come from :class:`compiler.model.policy.Policy` in its order (access lists, then
firewall rules, then the default), the same order `mvpn check` evaluates ``tests.yaml`` in.
Only addresses, ports and keywords reach the ruleset; no free text from the tree. Addresses
go through :func:`compiler.render.env.addr` and names through ``name`` (they raise on anything
else), and the template checks every line again (``nft_line``).
"""

from __future__ import annotations

from compiler.model.access import ports_text
from compiler.model.peer import ClientPeer
from compiler.model.policy import Policy, ResolvedRule, peer_nets
from compiler.model.types import IPNetwork
from compiler.render.env import addr, name

_VERDICT = {"allow": "accept", "deny": "drop"}
_ICMP = {4: "icmp", 6: "ipv6-icmp"}


def _set(nets: list[IPNetwork]) -> str:
    return "{ " + ", ".join(map(addr, nets)) + " }"


def _match(ip: str, field: str, nets: list[IPNetwork] | None, family: int) -> str | None:
    """``ip saddr { … }``; "" for any address; None when no address of ``family`` matches."""
    if nets is None:
        return ""
    own = [n for n in nets if n.version == family]
    return f"{ip} {field} {_set(own)} " if own else None


def _rule(rule: ResolvedRule, family: int) -> str | None:
    ip = "ip" if family == 4 else "ip6"
    src = _match(ip, "saddr", rule.source, family)
    dst = _match(ip, "daddr", rule.destination, family)
    if src is None or dst is None:
        return None
    r = rule.rule
    proto = ""
    if r.protocol == "icmp":
        proto = f"meta l4proto {_ICMP[family]} "
    elif r.protocol != "any":
        proto = f"meta l4proto {r.protocol} "
        if r.ports is not None:
            proto += f"th dport {{ {ports_text(r.ports).replace(',', ', ')} }} "
    return f"{src}{dst}{proto}{_VERDICT[r.action]}"


def access_chain(policy: Policy) -> list[str]:
    """The lines of the ``access`` chain: access lists, firewall rules, default."""
    lines: list[str] = []
    for family in (4, 6):
        ip = "ip" if family == 4 else "ip6"
        for peer in policy.peers:
            allowed = policy.access.get(peer.name)
            if allowed is None or not isinstance(peer.config, ClientPeer):
                continue
            own = [n for n in peer_nets(peer) if n.version == family]
            if not own:
                continue
            fam_allowed = [n for n in allowed if n.version == family]
            lines.append(f"# access list of {name(peer.name)}")
            rest = f"{ip} daddr != {_set(fam_allowed)} " if fam_allowed else ""
            lines.append(f"{ip} saddr {_set(own)} {ip} daddr @instance{family} {rest}drop")
    for rule in policy.rules:
        rendered = [text for family in (4, 6) if (text := _rule(rule, family)) is not None]
        if rendered:
            lines.append(f"# firewall rule {rule.index + 1}")
            lines.extend(rendered)
    lines.append(f"# firewall default: {policy.config.firewall.default}")
    lines.append(_VERDICT[policy.config.firewall.default])
    return lines
