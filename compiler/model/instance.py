"""``<instance>/instance.yaml``: one hub.

Numbers and booleans are strict (``strict=True``): YAML's ``true`` is not port 1 and
``"yes"`` is not a boolean; what the file says is what the hub gets.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import Field, PlainValidator, ValidationInfo, WithJsonSchema, field_validator
from pydantic_core import PydanticCustomError

from compiler.model.access import Firewall
from compiler.model.base import ConfigModel
from compiler.model.types import (
    Address,
    Description,
    DnsName,
    Hostname,
    IPNetwork,
    Prefix,
    PrefixV4,
    PrefixV6,
)

Port = int

#: The hub's second WireGuard interface during step 1 of a hub key rotation with
#: ``wireguard.next_port``: the new epoch's key, for the peers moved to it.
NEXT_WG_IFACE: Final = "wg1"

#: Tunnel MTUs: IPv6 needs 1280 on every link (RFC 8200 §5); 9000 is a jumbo frame.
MTU_MIN: Final = 1280
MTU_MAX: Final = 9000
_MTU = ("tunnel MTU (1280-9000); default: the daemon's own (WireGuard 1420, OpenVPN 1500). "
        "TCP through the hub is clamped to fit it")
#: A Linux interface name: at most 15 bytes (IFNAMSIZ - 1), no '/', ':' or white space; it
#: goes into a sysctl key, so nothing else either.
_IFNAME_RE: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,14}")


def _ifname(value: Any) -> str:
    if not isinstance(value, str) or not _IFNAME_RE.fullmatch(value):
        raise PydanticCustomError(
            "schema", "'{value}' is not a Linux interface name (1-15 letters, digits, '_', "
            "'.' or '-', starting with a letter or digit)", {"value": str(value)})
    return value


InterfaceName = Annotated[str, PlainValidator(_ifname),
                          WithJsonSchema({"type": "string", "pattern": _IFNAME_RE.pattern})]

#: The smallest tunnel networks a daemon can serve. OpenVPN 2.6 refuses `server` on a /30 or
#: /31 ("must define a subnet of 255.255.255.248 (/29) or lower", checked with the binary);
#: WireGuard needs the hub (first host) and at least one peer: a v4 /30, a v6 /126.
MAX_PREFIXLEN: Final = {("WireGuard", 4): 30, ("WireGuard", 6): 126, ("OpenVPN", 4): 29}


def _room(daemon: str, net: IPNetwork) -> IPNetwork:
    longest = MAX_PREFIXLEN[(daemon, net.version)]
    if net.prefixlen > longest:
        raise PydanticCustomError(
            "prefix-invalid",
            "{net} is too small for {daemon}: it needs a /{longest} or larger network "
            "(the hub takes the first host address, peers the ones after it)",
            {"net": str(net), "daemon": daemon, "longest": longest})
    return net


class WireGuardHub(ConfigModel):
    """WireGuard on the hub (present = enabled)."""

    port: int = Field(51820, ge=1, le=65535, strict=True,
                      description="UDP port the hub listens on")
    network: PrefixV4 = Field(description="tunnel network; the hub takes the first host")
    network6: PrefixV6 | None = Field(None, description="optional IPv6 tunnel network")
    next_port: int | None = Field(
        None, ge=1, le=65535, strict=True,
        description="during step 1 of a two-step hub key rotation (with retiring_key_epoch): "
        "the UDP port of a second interface, wg1, with the new key_epoch's key; peers with "
        "hub_key_epoch: <key_epoch> move there and keep working after step 2, when "
        "wireguard.port becomes this port")

    @field_validator("network", "network6")
    @classmethod
    def _fits_hub_and_a_peer(cls, value: IPNetwork | None) -> IPNetwork | None:
        return value if value is None else _room("WireGuard", value)


class OpenVPNHub(ConfigModel):
    """OpenVPN on the hub (present = enabled)."""

    port: int = Field(1194, ge=1, le=65535, strict=True,
                      description="port the hub listens on")
    transport: Literal["udp", "tcp"] = Field("udp", description="udp or tcp")
    network: PrefixV4 = Field(description="tunnel network; the hub takes the first host")
    network6: PrefixV6 | None = Field(
        None, description="optional IPv6 tunnel network (a /64 to /124): peers get a fixed "
        "IPv6 address in it and the tunnel carries IPv6")

    @field_validator("network")
    @classmethod
    def _fits_openvpn_server(cls, value: IPNetwork) -> IPNetwork:
        return _room("OpenVPN", value)

    @field_validator("network6")
    @classmethod
    def _fits_server_ipv6(cls, value: IPNetwork | None) -> IPNetwork | None:
        # OpenVPN 2.6 refuses anything else: "--server-ipv6 settings: network must be
        # between /64 and /124" (checked with the binary).
        if value is not None and not 64 <= value.prefixlen <= 124:
            raise PydanticCustomError(
                "prefix-invalid", "{net} does not fit OpenVPN: its IPv6 tunnel network must be "
                "a /64 to /124", {"net": str(value)})
        return value


class Routing(ConfigModel):
    """What the hub routes for its peers."""

    pushed_routes: list[Prefix] = Field(
        default_factory=list, description="networks behind the hub, routed to every peer")
    egress: Literal["nat", "none"] = Field(
        "nat", description="nat: route-all clients reach the internet through the hub "
        "(NATed to its address); none: they reach only the VPN")
    aggregates: list[Prefix] = Field(
        default_factory=list,
        description="the address space this hub's sites are numbered from; sites and clients "
                    "route these instead of every other site's subnets")
    allow_broad: bool = Field(
        False, strict=True,
        description="allow aggregates broader than the policy minimum (min_prefix_v4/v6)")


class Dns(ConfigModel):
    """DNS pushed to client peers."""

    servers: list[Address] = Field(default_factory=list,
                                   description="DNS servers pushed to clients")
    domains: list[DnsName] = Field(default_factory=list,
                                   description="domains resolved through the VPN")
    split: bool = Field(False, strict=True,
                        description="clients resolve only `domains` through the VPN")
    records: dict[DnsName, Address] = Field(
        default_factory=dict, description="names the hub's resolver answers itself")
    upstream: list[Address] = Field(
        default_factory=list,
        description="where the hub's resolver (with `records`) sends names outside the VPN "
                    "(clients that ignore split DNS ask it for every name); default: `servers` "
                    "without split DNS, else the hub's own /etc/resolv.conf")


class Instance(ConfigModel):
    """One cloud hub (``instance.yaml``)."""

    hostname: Hostname = Field(description="DNS label of 3-20 characters, unique in the "
                               "tree; the hub is <hostname>.<domain>")
    region: str = Field(description="region id, one of vpn.yaml's regions")
    description: Description | None = Field(
        None, description="free text, one line (goes into artifact comments)")
    wireguard: WireGuardHub | None = Field(None, description="WireGuard on the hub; "
                                           "absent: disabled")
    openvpn: OpenVPNHub | None = Field(None, description="OpenVPN on the hub; absent: disabled")
    routing: Routing = Field(default_factory=Routing,
                             description="what the hub routes for its peers")
    dns: Dns = Field(default_factory=Dns, description="DNS pushed to clients")
    firewall: Firewall = Field(default_factory=Firewall, description="the hub's forwarding "
                               "rules: first match wins, then the default")
    key_epoch: int = Field(1, ge=1, le=65535, strict=True,
                           description="bump to rotate the hub's keys")
    retiring_key_epoch: int | None = Field(
        None, ge=1, le=65535, strict=True,
        description="step 1 of a two-step hub key rotation: the earlier key_epoch still in "
        "use. The hub keeps this epoch's OpenVPN certificate and WireGuard key and trusts both "
        "CAs; new OpenVPN profiles carry both CAs and a certificate of the new one. Remove it "
        "(step 2) once every OpenVPN peer has re-imported: the hub then switches to key_epoch "
        "(WireGuard peers need their new profile at that moment)")
    mtu: int | None = Field(None, ge=MTU_MIN, le=MTU_MAX, strict=True, description=_MTU)
    uplink: InterfaceName = Field(
        "eth0", description="the hub's internet-facing interface: with IPv6 it keeps "
        "accepting router advertisements there (accept_ra=2) while forwarding")

    @property
    def moving_port(self) -> int | None:
        """``wireguard.next_port`` while it is in use: step 1 of a rotation, peers moving.

        Outside step 1 the field is refused by the checks and means nothing here.
        """
        if self.retiring_key_epoch is None or self.wireguard is None:
            return None
        return self.wireguard.next_port

    @field_validator("retiring_key_epoch")
    @classmethod
    def _retires_an_earlier_epoch(cls, value: int | None, info: ValidationInfo) -> int | None:
        # Only an epoch the hub really used before can be retired; an equal or later one
        # would mean serving a key no peer has yet (or the new key twice).
        current = info.data.get("key_epoch")
        if value is not None and isinstance(current, int) and value >= current:
            raise PydanticCustomError(
                "key-rotation-invalid",
                "{value} is not earlier than key_epoch {current}: name the "
                "epoch the hub used before the bump (step 1), or remove it (step 2)",
                {"value": value, "current": current})
        return value
