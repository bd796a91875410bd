"""SPEC §8: the instance firewall, client access lists and reachability assertions."""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from typing import Annotated, Any, Final, Literal

from pydantic import Field, PlainSerializer, PlainValidator, WithJsonSchema, model_validator
from pydantic_core import PydanticCustomError

from compiler.loader.names import NAME_RE
from compiler.model.base import ConfigModel
from compiler.model.types import (
    Description,
    IPAddress,
    IPNetwork,
    _parse_prefix,
    parse_address,
)

Action = Literal["allow", "deny"]
L4 = Literal["tcp", "udp", "icmp", "any"]
CLASSES: Final = ("any", "sites", "clients")
_SITE_ID_RE: Final = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


@dataclasses.dataclass(frozen=True)
class Target:
    """A rule endpoint: ``any``, ``sites``, ``clients``, a prefix, or a peer (name or site id)."""

    kind: Literal["class", "prefix", "peer"]
    text: str
    prefix: IPNetwork | None = None

    def __str__(self) -> str:
        return self.text


def _target(value: Any) -> Target:
    if not isinstance(value, str):
        raise PydanticCustomError(
            "string_type", "write a prefix, a peer name, 'sites', 'clients' or 'any'")
    text = value.strip()
    if text in CLASSES:
        return Target("class", text)
    if any(ch in text for ch in "./:"):
        return Target("prefix", text, _parse_prefix(text, None))
    if _SITE_ID_RE.match(text):
        return Target("peer", text)
    raise PydanticCustomError(
        "value_error", "'{value}' is not a prefix, a peer name, 'sites', 'clients' or 'any'",
        {"value": text})


def _reach_target(value: Any) -> Target:
    target = _target(value)
    if target.kind == "class":
        raise PydanticCustomError(
            "value_error", "an access entry is a site (peer name or site id) or a prefix")
    return target


_TARGET_SCHEMA = WithJsonSchema({"type": "string", "description":
                                 "a prefix, a peer name or site id, 'sites', 'clients' or 'any'"})
RuleTarget = Annotated[Target, PlainValidator(_target), PlainSerializer(str, return_type=str),
                       _TARGET_SCHEMA]
AccessTarget = Annotated[Target, PlainValidator(_reach_target),
                         PlainSerializer(str, return_type=str),
                         WithJsonSchema({"type": "string", "description":
                                         "a site (peer name or site id) or a prefix"})]


def _ports(value: Any) -> tuple[tuple[int, int], ...]:
    items: list[Any]
    if isinstance(value, str):
        items = [part.strip() for part in value.split(",")]
    elif isinstance(value, list):
        items = value
    elif isinstance(value, int) and not isinstance(value, bool):
        items = [value]
    else:
        raise PydanticCustomError("value_error", 'write ports as "22,443" or "8000-8100"')
    out: list[tuple[int, int]] = []
    for item in items:
        text = str(item).strip() if not isinstance(item, bool) else "?"
        match = re.fullmatch(r"(\d{1,5})(?:-(\d{1,5}))?", text)
        low, high = (int(match.group(1)), int(match.group(2) or match.group(1))) if match \
            else (0, -1)
        if not match or not 1 <= low <= high <= 65535:
            raise PydanticCustomError(
                "value_error", "'{value}' is not a port or range within 1-65535 (like 8000-8100)",
                {"value": text})
        out.append((low, high))
    return tuple(sorted(set(out)))


def ports_text(ports: tuple[tuple[int, int], ...]) -> str:
    """``22,8000-8100``."""
    return ",".join(str(lo) if lo == hi else f"{lo}-{hi}" for lo, hi in ports)


Ports = Annotated[
    tuple[tuple[int, int], ...], PlainValidator(_ports),
    PlainSerializer(ports_text, return_type=str),
    WithJsonSchema({"oneOf": [{"type": "string",
                               "pattern": r"^\s*\d+(-\d+)?(\s*,\s*\d+(-\d+)?)*\s*$"},
                              {"type": "array", "items": {"type": ["integer", "string"]}},
                              {"type": "integer"}]}),
]


class Rule(ConfigModel):
    """One forwarding rule of the hub; the first rule that matches decides."""

    action: Action = Field(description="allow or deny")
    protocol: L4 = Field("any", description="tcp, udp, icmp or any")
    ports: Ports | None = Field(None, description='tcp/udp ports, e.g. "22,3389" or '
                                '"8000-8100" (default: all)')
    source: RuleTarget = Field(default_factory=lambda: Target("class", "any"))
    destination: RuleTarget = Field(default_factory=lambda: Target("class", "any"))
    description: Description | None = Field(None, description="free text, one line")

    @model_validator(mode="after")
    def _ports_need_a_port_protocol(self) -> Rule:
        if self.ports is not None and self.protocol not in ("tcp", "udp"):
            raise PydanticCustomError("value_error", "ports need protocol tcp or udp")
        return self


class Firewall(ConfigModel):
    """The hub's forwarding policy for traffic from and to its peers."""

    default: Action = Field("allow", description="what traffic no rule matches meets")
    rules: list[Rule] = Field(default_factory=list,
                              description="in order; the first rule that matches decides")


# ------------------------------------------------------------------ tests.yaml


def parse_probe(value: Any) -> tuple[str, int | None]:
    """``443/tcp`` → ("tcp", 443); ``icmp`` → ("icmp", None)."""
    text = str(value).strip().lower() if isinstance(value, str | int) else ""
    if text == "icmp":
        return ("icmp", None)
    match = re.fullmatch(r"(\d{1,5})/(tcp|udp)", text)
    if not match or not 1 <= int(match.group(1)) <= 65535:
        raise PydanticCustomError(
            "value_error", "'{value}' is not PORT/PROTO like 443/tcp or 53/udp, or icmp",
            {"value": value})
    return (match.group(2), int(match.group(1)))


Probe = Annotated[
    tuple[str, int | None], PlainValidator(parse_probe),
    PlainSerializer(lambda p: "icmp" if p[1] is None else f"{p[1]}/{p[0]}", return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^(\d+/(tcp|udp)|icmp)$"}),
]


def parse_peer_ref(value: Any) -> tuple[str, str]:
    """``acme-eu/alice`` → ("acme-eu", "alice")."""
    text = value.strip() if isinstance(value, str) else ""
    inst, _, peer = text.partition("/")
    # fullmatch: the patterns end in `$`, which also matches before a final newline
    if not (NAME_RE.fullmatch(inst) and _SITE_ID_RE.fullmatch(peer)):
        raise PydanticCustomError(
            "value_error", "'{value}' is not INSTANCE/PEER (a peer name or site id)",
            {"value": value})
    return (inst, peer)


def _host(value: Any) -> IPAddress:
    text = value.strip() if isinstance(value, str) else ""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        raise PydanticCustomError(
            "address-invalid", "'{value}' is not an IP address", {"value": value}) from None
    return parse_address(text)  # refuses zone ids and IPv4-mapped forms, like every address


PeerRef = Annotated[
    tuple[str, str], PlainValidator(parse_peer_ref),
    PlainSerializer("/".join, return_type=str),
    WithJsonSchema({"type": "string", "pattern": "^[a-z0-9-]+/[a-z0-9-]+$"}),
]
Host = Annotated[IPAddress, PlainValidator(_host), PlainSerializer(str, return_type=str),
                 WithJsonSchema({"type": "string", "format": "ip-address"})]


class Assertion(ConfigModel):
    """One line of ``tests.yaml``: whether ``from`` reaches ``to`` (on ``port``) via the VPN."""

    from_: PeerRef = Field(alias="from", description="INSTANCE/PEER the packet starts from")
    to: Host = Field(description="destination address")
    port: Probe = Field(("icmp", None), description="PORT/PROTO like 443/tcp, or icmp",
                        json_schema_extra={"default": "icmp"})  # as written in YAML
    expect: Action = Field(description="allow or deny: what the packet should meet")
    description: Description | None = Field(None, description="free text, one line")
