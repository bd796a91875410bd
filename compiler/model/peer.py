"""``<instance>/peers/<peer>.yaml``: a site router or a user's device."""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import Field, PlainSerializer, PlainValidator, TypeAdapter, WithJsonSchema
from pydantic_core import PydanticCustomError

from compiler.model.access import AccessTarget
from compiler.model.base import ConfigModel
from compiler.model.types import (
    AddressV4,
    AddressV6,
    Description,
    IPNetwork,
    RouterOSVersion,
    SiteId,
    User,
    WgPublicKey,
    _prefix_any,
)

Protocol = Literal["wireguard", "openvpn"]

#: ``auto/24``: a LAN that `mvpn allocate` numbers from the instance's aggregates (SPEC §10).
AUTO_SUBNET_RE: Final = re.compile(r"^auto/(\d{1,3})$")


def _subnet(value: Any) -> IPNetwork:
    """A site subnet: a prefix; ``auto/N`` is not one yet (it waits for `mvpn allocate`)."""
    if isinstance(value, str) and (auto := AUTO_SUBNET_RE.match(value.strip())):
        raise PydanticCustomError(
            "address-missing",
            "subnet '{value}' is not numbered yet; run `mvpn allocate` to take a free "
            "/{length} from the instance's aggregates", {"value": value.strip(),
                                                        "length": auto.group(1)})
    return _prefix_any(value)


#: A prefix, or ``auto/N`` before allocation.
Subnet = Annotated[IPNetwork, PlainValidator(_subnet), PlainSerializer(str, return_type=str),
                   WithJsonSchema({"type": "string", "anyOf": [
                       {"format": "ip-prefix"}, {"pattern": AUTO_SUBNET_RE.pattern}]})]


class SitePeer(ConfigModel):
    """A MikroTik branch router that advertises its LAN subnets."""

    type: Literal["site"]
    site: SiteId = Field(description="SDX site id")
    protocol: Protocol = "wireguard"
    subnets: list[Subnet] = Field(
        default_factory=list, description="LAN prefixes; `auto/24` is numbered by `mvpn allocate` "
        "from the instance's aggregates")
    address: AddressV4 | None = None
    address6: AddressV6 | None = None
    allow_broad: bool = False
    routeros: RouterOSVersion | None = None
    description: Description | None = None
    key_epoch: int = Field(1, ge=1, le=65535)


class ClientPeer(ConfigModel):
    """One user's device with a downloadable profile."""

    type: Literal["client"]
    user: User
    protocol: Protocol = "wireguard"
    route_all: bool = False
    address: AddressV4 | None = None
    address6: AddressV6 | None = None
    public_key: WgPublicKey | None = None
    access: list[AccessTarget] | None = Field(
        None, description="sites or prefixes this client may reach (default: all)")
    description: Description | None = None
    key_epoch: int = Field(1, ge=1, le=65535)


Peer = Annotated[SitePeer | ClientPeer, Field(discriminator="type")]
PEER_ADAPTER: TypeAdapter[SitePeer | ClientPeer] = TypeAdapter(Peer)
