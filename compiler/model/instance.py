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

    port: int = Field(51820, ge=1, le=65535)
    network: PrefixV4 = Field(description="tunnel network; the hub takes the first host")
    network6: PrefixV6 | None = Field(None, description="optional IPv6 tunnel network")


class OpenVPNHub(ConfigModel):
    """OpenVPN on the hub (present = enabled)."""

    port: int = Field(1194, ge=1, le=65535)
    transport: Literal["udp", "tcp"] = "udp"
    network: PrefixV4 = Field(description="tunnel network; the hub takes the first host")


class Routing(ConfigModel):
    """What the hub routes for its peers."""

    pushed_routes: list[Prefix] = Field(default_factory=list)
    egress: Literal["nat", "none"] = "nat"
    aggregates: list[Prefix] = Field(
        default_factory=list,
        description="the address space this hub's sites are numbered from; sites and clients "
                    "route these instead of every other site's subnets")
    allow_broad: bool = Field(
        False, description="allow aggregates broader than the policy minimum (min_prefix_v4/v6)")


class Dns(ConfigModel):
    """DNS pushed to client peers."""

    servers: list[Address] = Field(default_factory=list)
    domains: list[DnsName] = Field(default_factory=list)
    split: bool = Field(False, description="clients resolve only `domains` through the VPN")
    records: dict[DnsName, Address] = Field(
        default_factory=dict, description="names the hub's resolver answers itself")


class Instance(ConfigModel):
    """One cloud hub (``instance.yaml``)."""

    hostname: Hostname
    region: str
    description: Description | None = None
    wireguard: WireGuardHub | None = None
    openvpn: OpenVPNHub | None = None
    routing: Routing = Field(default_factory=Routing)
    dns: Dns = Field(default_factory=Dns)
    firewall: Firewall = Field(default_factory=Firewall)
    key_epoch: int = Field(1, ge=1, le=65535)
