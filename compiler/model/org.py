"""``vpn.yaml``: organisation settings; every key has a default (numbers are strict)."""

from __future__ import annotations

from typing import Annotated, Final

from pydantic import Field, StringConstraints

from compiler.model.base import ConfigModel
from compiler.model.types import DnsLabel, DnsName, Prefix, RouterOSVersion

#: Region ids allowed when ``vpn.yaml`` names none (airport codes of common cloud regions).
BUILTIN_REGIONS: Final[tuple[str, ...]] = (
    "ams", "arn", "atl", "bom", "cdg", "dfw", "dub", "dxb", "ewr", "fra", "gru", "hkg",
    "iad", "icn", "jnb", "lax", "lhr", "mad", "mel", "mia", "mxp", "nrt", "ord", "sea",
    "sfo", "sin", "sjc", "syd", "waw", "yul", "yyz", "zrh",
)

#: Hostnames no instance may take, whatever ``reserved_hostnames`` says.
BUILTIN_RESERVED: Final[frozenset[str]] = frozenset(
    {
        "www", "api", "vpn", "mail", "cdn", "ns", "ns1", "ns2", "smtp", "imap", "pop",
        "ftp", "admin", "portal", "status", "localhost", "autodiscover", "autoconfig",
        "mx", "dns", "ldap", "git", "sso", "auth", "login", "static", "assets",
    }
)


#: A region id: a lower-case DNS label (``fra``, ``us-east-1``); it names folders and hosts.
RegionId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]


class Policy(ConfigModel):
    """Route policy: how short a prefix may be before it counts as broad."""

    min_prefix_v4: int = Field(
        16, ge=0, le=32, strict=True, description="shorter v4 routes are broad")
    min_prefix_v6: int = Field(
        48, ge=0, le=128, strict=True, description="shorter v6 routes are broad")


class Defaults(ConfigModel):
    """Defaults for peers that do not set their own."""

    routeros: RouterOSVersion = Field("7.16", description="RouterOS version of site scripts")
    keepalive: int = Field(
        25, ge=0, le=65535, strict=True, description="WireGuard persistent keepalive, s")


class OrgConfig(ConfigModel):
    """Organisation settings (``vpn.yaml``)."""

    domain: DnsName = Field("vpn.example.net", description="public zone of instance hostnames")
    regions: list[RegionId] = Field(default_factory=lambda: list(BUILTIN_REGIONS),
                               description="region ids instances may use (default: airport "
                               "codes of common cloud regions)")
    reserved_hostnames: list[DnsLabel] = Field(
        default_factory=list, description="hostnames no instance may take, besides the "
        "built-in ones (www, api, vpn, ...)")
    reserved_prefixes: list[Prefix] = Field(default_factory=list,
                                            description="ranges no site may advertise")
    policy: Policy = Field(default_factory=Policy,
                           description="how short a route may be before it counts as broad")
    defaults: Defaults = Field(default_factory=Defaults,
                               description="defaults for peers that do not set their own")

    def reserved(self) -> frozenset[str]:
        """The built-in reserved hostnames plus the organisation's own (lower-case)."""
        return BUILTIN_RESERVED | {h.lower() for h in self.reserved_hostnames}
