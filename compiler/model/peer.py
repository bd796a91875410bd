"""``<instance>/peers/<peer>.yaml``: a site router or a user's device.

Numbers and booleans are strict, as in :mod:`compiler.model.instance`.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Final, Literal

from pydantic import (
    Field,
    PlainSerializer,
    PlainValidator,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
)
from pydantic_core import PydanticCustomError

from compiler.model.access import AccessTarget
from compiler.model.base import ConfigModel
from compiler.model.instance import MTU_MAX, MTU_MIN
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

# Editor hover texts shared by both peer kinds.
_PROTOCOL = "wireguard or openvpn; the instance must enable it"
_ADDRESS = "IPv4 tunnel address (`mvpn allocate` fills in the lowest free one)"
_ADDRESS6 = "IPv6 tunnel address, on an instance with network6 (`mvpn allocate` fills it in)"
_DESCRIPTION = "free text, one line (goes into artifact comments)"
_KEY_EPOCH = "bump to rotate this peer's keys"
_HUB_KEY_EPOCH = ("WireGuard only: the hub key epoch this peer's artifacts carry during step 1 "
                  "of a hub key rotation; key_epoch moves it to the new key on wireguard."
                  "next_port (default: the retiring epoch's key)")

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

    type: Literal["site"] = Field(description="site: a router that advertises LAN subnets")
    site: SiteId = Field(description="SDX site id")
    protocol: Protocol = Field("wireguard", description=_PROTOCOL)
    subnets: list[Subnet] = Field(
        default_factory=list, description="LAN prefixes behind the router, advertised; "
        "`auto/24` is numbered by `mvpn allocate` from the instance's aggregates")
    address: AddressV4 | None = Field(None, description=_ADDRESS)
    address6: AddressV6 | None = Field(None, description=_ADDRESS6)
    allow_broad: bool = Field(False, strict=True, description="true: may advertise a route "
                              "shorter than vpn.yaml's policy allows")
    routeros: RouterOSVersion | None = Field(
        None, description="RouterOS version of its script (default: vpn.yaml defaults)")
    mtu: int | None = Field(
        None, ge=MTU_MIN, le=MTU_MAX, strict=True,
        description="the smallest MTU on the way to its LAN (1492 behind PPPoE): its tunnel "
        "uses it and the hub clamps TCP to and from its subnets to fit (default: the "
        "instance's mtu)")
    description: Description | None = Field(None, description=_DESCRIPTION)
    key_epoch: int = Field(1, ge=1, le=65535, strict=True, description=_KEY_EPOCH)
    hub_key_epoch: int | None = Field(None, ge=1, le=65535, strict=True,
                                      description=_HUB_KEY_EPOCH)


class ClientPeer(ConfigModel):
    """One user's device with a downloadable profile."""

    type: Literal["client"] = Field(description="client: one user's device with a profile")
    user: User = Field(description="who uses the device (e-mail or user id)")
    protocol: Protocol = Field("wireguard", description=_PROTOCOL)
    route_all: bool = Field(False, strict=True, description="true: all traffic through the "
                            "hub; false: only the VPN's networks (split tunnel)")
    address: AddressV4 | None = Field(None, description=_ADDRESS)
    address6: AddressV6 | None = Field(None, description=_ADDRESS6)
    public_key: WgPublicKey | None = Field(
        None, description="the device's own WireGuard public key (its private key never "
        "leaves it); default: derived from the organisation secret")
    access: list[AccessTarget] | None = Field(
        None, description="sites or prefixes this client may reach (default: all)")
    description: Description | None = Field(None, description=_DESCRIPTION)
    key_epoch: int = Field(1, ge=1, le=65535, strict=True, description=_KEY_EPOCH)
    hub_key_epoch: int | None = Field(None, ge=1, le=65535, strict=True,
                                      description=_HUB_KEY_EPOCH)

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
