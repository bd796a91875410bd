"""``<instance>/peers/<peer>.yaml``: a site router or a user's device.

Numbers and booleans are strict, as in :mod:`compiler.model.instance`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, TypeAdapter, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from compiler.model.access import AccessTarget
from compiler.model.base import ConfigModel
from compiler.model.types import (
    AddressV4,
    AddressV6,
    Description,
    Prefix,
    RouterOSVersion,
    SiteId,
    User,
    WgPublicKey,
)

Protocol = Literal["wireguard", "openvpn"]


class SitePeer(ConfigModel):
    """A MikroTik branch router that advertises its LAN subnets."""

    type: Literal["site"]
    site: SiteId = Field(description="SDX site id")
    protocol: Protocol = "wireguard"
    subnets: list[Prefix] = Field(default_factory=list)
    address: AddressV4 | None = None
    address6: AddressV6 | None = None
    allow_broad: bool = Field(False, strict=True)
    routeros: RouterOSVersion | None = None
    description: Description | None = None
    key_epoch: int = Field(1, ge=1, le=65535, strict=True)


class ClientPeer(ConfigModel):
    """One user's device with a downloadable profile."""

    type: Literal["client"]
    user: User
    protocol: Protocol = "wireguard"
    route_all: bool = Field(False, strict=True)
    address: AddressV4 | None = None
    address6: AddressV6 | None = None
    public_key: WgPublicKey | None = None
    access: list[AccessTarget] | None = Field(
        None, description="sites or prefixes this client may reach (default: all)")
    description: Description | None = None
    key_epoch: int = Field(1, ge=1, le=65535, strict=True)

    @field_validator("public_key")
    @classmethod
    def _public_key_is_wireguard_only(cls, value: str | None, info: ValidationInfo
                                      ) -> str | None:
        # An OpenVPN client authenticates with a certificate: the key would be silently unused.
        if value is not None and info.data.get("protocol") == "openvpn":
            raise PydanticCustomError(
                "schema", "an OpenVPN client has no WireGuard key (it gets a certificate); "
                "remove 'public_key' or use protocol wireguard")
        return value


Peer = Annotated[SitePeer | ClientPeer, Field(discriminator="type")]
PEER_ADAPTER: TypeAdapter[SitePeer | ClientPeer] = TypeAdapter(Peer)
