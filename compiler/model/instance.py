"""``<instance>/instance.yaml``: one hub."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from compiler.model.access import Firewall
from compiler.model.base import ConfigModel
from compiler.model.types import Address, Description, DnsName, Hostname, Prefix, PrefixV4, PrefixV6

Port = int


class WireGuardHub(ConfigModel):
    """WireGuard on the hub (present = enabled)."""

    port: int = Field(51820, ge=1, le=65535, description="UDP port the hub listens on")
    network: PrefixV4 = Field(description="tunnel network; the hub takes the first host")
    network6: PrefixV6 | None = Field(None, description="optional IPv6 tunnel network")


class OpenVPNHub(ConfigModel):
    """OpenVPN on the hub (present = enabled)."""

    port: int = Field(1194, ge=1, le=65535, description="port the hub listens on")
    transport: Literal["udp", "tcp"] = Field("udp", description="udp or tcp")
    network: PrefixV4 = Field(description="tunnel network; the hub takes the first host")


class Routing(ConfigModel):
    """What the hub routes for its peers."""

    pushed_routes: list[Prefix] = Field(
        default_factory=list, description="networks behind the hub, routed to every peer")
    egress: Literal["nat", "none"] = Field(
        "nat", description="nat: route-all clients reach the internet through the hub "
        "(NATed to its address); none: they reach only the VPN")


class Dns(ConfigModel):
    """DNS pushed to client peers."""

    servers: list[Address] = Field(default_factory=list,
                                   description="DNS servers pushed to clients")
    domains: list[DnsName] = Field(default_factory=list,
                                   description="domains resolved through the VPN")
    split: bool = Field(False, description="clients resolve only `domains` through the VPN")
    records: dict[DnsName, Address] = Field(
        default_factory=dict, description="names the hub's resolver answers itself")


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
    key_epoch: int = Field(1, ge=1, le=65535, description="bump to rotate the hub's keys")
