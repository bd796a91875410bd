"""Validated scalar types shared by the models.

Each validator raises :class:`PydanticCustomError` whose *type* is a diagnostic
code (``prefix-invalid``, ``address-invalid``, ``hostname-invalid``), so the
model layer reports SPEC §3 codes directly rather than a generic ``schema``.

Addresses and prefixes are held to the plain textual forms only: Python's
``ipaddress`` accepts an IPv6 zone id (``fe80::1%eth0``) with almost any
characters after the ``%`` (newlines included) and keeps it in ``str()``,
which would carry the text into every artifact; and an IPv4-mapped IPv6
address (``::ffff:10.0.0.1``) would slip an IPv4 host past the IPv4 checks.
Free text (descriptions) is one line without control or bidirectional
formatting characters, which would reorder what a reviewer sees.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import unicodedata
from typing import Annotated, Any, Final

from pydantic import PlainSerializer, PlainValidator, StringConstraints, WithJsonSchema
from pydantic_core import PydanticCustomError

from compiler.loader.scalars import YamlFloat
from compiler.routeros.tree import command_tree

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_LABEL_RE: Final = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?$")
_ROUTEROS_RE: Final = re.compile(r"^7\.\d{1,2}(\.\d{1,2})?$")
_WG_KEY_RE: Final = re.compile(r"^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$")
_USER_RE: Final = re.compile(r"^[A-Za-z0-9._%+-]+(@[A-Za-z0-9.-]+)?$")
#: Every character an address or prefix is printed with (``ipaddress`` text, zone ids refused).
ADDRESS_RE: Final = re.compile(r"[0-9A-Fa-f:./]+")
#: ``::ffff:0:0/96``: IPv4-mapped IPv6 addresses (RFC 4291 §2.5.5.2).
_V4_MAPPED: Final = ipaddress.IPv6Network("::ffff:0:0/96")
#: A dotted-quad IPv4 octet exactly as ``ipaddress`` accepts one (0-255, no leading zero).
_OCTET: Final = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])"
#: The common spellings, ``10.1.2.3`` and ``10.1.2.0/24``, read without ``ipaddress``'s
#: string parser (see _fast_v4_address); any other text takes the general path.
_V4_ADDRESS: Final = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}")
_V4_PREFIX: Final = re.compile(rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}/(3[0-2]|[12]?[0-9])")
#: Bidirectional formatting characters (Unicode TR9): they reorder how text is displayed.
BIDI_CONTROLS: Final = frozenset(
    "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)


def _text(value: Any, what: str) -> str:
    if isinstance(value, str):
        return value.strip()
    raise PydanticCustomError("string_type", "{what} must be a string", {"what": what})


def _plain_form(text: str, code: str, what: str) -> None:
    """Refuse what ``ipaddress`` accepts but no artifact may hold (see the module docstring)."""
    if "%" in text:
        raise PydanticCustomError(
            code, "'{value}' has an IPv6 zone id ('%...'); write the {what} without it",
            {"value": text, "what": what})


def _mapped(text: str, code: str, what: str) -> PydanticCustomError:
    return PydanticCustomError(
        code, "'{value}' is an IPv4-mapped IPv6 {what}; write the IPv4 {what} instead",
        {"value": text, "what": what})


def _not_mapped(net: IPNetwork, text: str, code: str, what: str) -> None:
    if net.version == 6 and net.subnet_of(_V4_MAPPED):
        raise _mapped(text, code, what)


def _fast_v4_prefix(text: str) -> IPNetwork | None:
    """``a.b.c.d/n`` without host bits as ``ipaddress.ip_network`` makes it, else None.

    Most prefixes of a tree are written this way: matching them and building the network
    from integers takes 2.3 µs instead of 4.5 (100k peers have ~200k subnets). The object
    is the one ``ip_network(text)`` returns (tests/test_model_fast.py compares them).
    """
    found = _V4_PREFIX.fullmatch(text)
    if found is None:
        return None
    a, b, c, d, length = found.groups()
    addr = int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)
    bits = int(length)
    if addr & ((1 << (32 - bits)) - 1):
        return None  # host bits set: the general path says so
    return ipaddress.IPv4Network((addr, bits))


def _fast_v4_address(text: str) -> IPAddress | None:
    """``a.b.c.d`` as ``ipaddress.ip_address`` makes it (1.1 µs instead of 2.4), else None."""
    found = _V4_ADDRESS.fullmatch(text)
    if found is None:
        return None
    a, b, c, d = found.groups()
    return ipaddress.IPv4Address(int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d))


def _parse_prefix(value: Any, family: int | None) -> IPNetwork:
    text = _text(value, "a prefix")
    if family != 6 and (fast := _fast_v4_prefix(text)) is not None:
        return fast
    _plain_form(text, "prefix-invalid", "prefix")
    net = _parse_prefix_text(text, family)
    _not_mapped(net, text, "prefix-invalid", "prefix")
    return net


def _parse_prefix_text(text: str, family: int | None) -> IPNetwork:
    try:  # the common case, a valid prefix, parses once
        net = ipaddress.ip_network(text)
    except ValueError:
        pass
    else:
        if family is None or net.version == family:
            return net
    try:
        net = ipaddress.ip_network(text, strict=False)
    except ValueError:
        raise PydanticCustomError(
            "prefix-invalid", "'{value}' is not a valid prefix (write it as 10.20.0.0/24)",
            {"value": text},
        ) from None
    if family is not None and net.version != family:
        raise PydanticCustomError(
            "prefix-invalid", "'{value}' is not an IPv{family} prefix",
            {"value": text, "family": family},
        )
    try:
        ipaddress.ip_network(text)  # strict: refuses host bits
    except ValueError:
        raise PydanticCustomError(
            "prefix-invalid", "'{value}' has host bits set; did you mean {fixed}?",
            {"value": text, "fixed": str(net)},
        ) from None
    return net


def _prefix_any(value: Any) -> IPNetwork:
    return _parse_prefix(value, None)


def _prefix_v4(value: Any) -> IPNetwork:
    return _parse_prefix(value, 4)


def _prefix_v6(value: Any) -> IPNetwork:
    return _parse_prefix(value, 6)


def _address(value: Any, family: int | None) -> IPAddress:
    text = _text(value, "an address")
    if family != 6 and (fast := _fast_v4_address(text)) is not None:
        return fast
    _plain_form(text, "address-invalid", "IP address")
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        hint = " (an address, without /length)" if "/" in text else ""
        raise PydanticCustomError(
            "address-invalid", "'{value}' is not a valid IP address{hint}",
            {"value": text, "hint": hint},
        ) from None
    if family is not None and addr.version != family:
        raise PydanticCustomError(
            "address-invalid", "'{value}' is not an IPv{family} address",
            {"value": text, "family": family},
        )
    if addr.version == 6 and int(addr) >> 32 == 0xFFFF:
        # Inside ::ffff:0:0/96 (only IPv6 can be IPv4-mapped): tested on the integer, as
        # making a /128 network of each IPv6 address to ask subnet_of took 5 µs an address.
        raise _mapped(text, "address-invalid", "address")
    return addr


def parse_address(value: Any) -> IPAddress:
    """Any IP address (a ``ValueError`` with a clear message otherwise)."""
    return _address(value, None)


def _address_v4(value: Any) -> IPAddress:
    return _address(value, 4)


def _address_v6(value: Any) -> IPAddress:
    return _address(value, 6)


def _hostname(value: Any) -> str:
    text = _text(value, "a hostname")
    if not 3 <= len(text) <= 20:
        raise PydanticCustomError(
            "hostname-invalid", "'{value}' must be 3 to 20 characters long",
            {"value": text},
        )
    if not _LABEL_RE.match(text):
        raise PydanticCustomError(
            "hostname-invalid",
            "'{value}' is not a DNS label: use letters, digits and inner hyphens",
            {"value": text},
        )
    if text[2:4] == "--":
        raise PydanticCustomError(
            "hostname-invalid",
            "'{value}' has '--' at positions 3-4, reserved for IDN (xn--) labels",
            {"value": text},
        )
    return text


def _dns_label(value: Any) -> str:
    text = _text(value, "a DNS label")
    if len(text) > 63 or not _LABEL_RE.match(text):
        raise PydanticCustomError(
            "value_error", "'{value}' is not a DNS label: use letters, digits and inner hyphens",
            {"value": text})
    return text


def _dns_name(value: Any) -> str:
    text = _text(value, "a domain name").rstrip(".")
    labels = text.split(".")
    if len(text) > 253 or not all(
        len(label) <= 63 and _LABEL_RE.match(label) for label in labels
    ):
        raise PydanticCustomError(
            "value_error", "'{value}' is not a valid DNS name", {"value": text}
        )
    return text.lower()


def _routeros(value: Any) -> str:
    if isinstance(value, YamlFloat):
        text = value.raw
    elif isinstance(value, int | float) and not isinstance(value, bool):
        text = str(value)
    else:
        text = _text(value, "a RouterOS version")
    if not _ROUTEROS_RE.match(text) or any(p != str(int(p)) for p in text.split(".")):
        raise PydanticCustomError(
            "value_error",
            "RouterOS version '{value}' is not a v7 version like \"7.16\"",
            {"value": text},
        )
    data = command_tree()
    newest = data.minor(len(data.versions) - 1)
    if int(text.split(".")[1]) > int(newest.split(".")[1]):
        # Older versions are refused by `mvpn check` (routeros-unsupported): they exist, but
        # lack what the scripts need; a newer one is unknown to mvpn's command-tree data.
        raise PydanticCustomError(
            "value_error",
            "RouterOS {value} is newer than {newest}, the newest version mvpn knows the "
            "commands of",
            {"value": text, "newest": newest},
        )
    return text


def _wg_public_key(value: Any) -> str:
    text = _text(value, "a WireGuard public key")
    if not _WG_KEY_RE.match(text) or len(base64.b64decode(text)) != 32:
        raise PydanticCustomError(
            "value_error",
            "not a WireGuard public key (44 characters of base64, as printed by `wg pubkey`)",
        )
    return text


def _description(value: Any) -> str:
    if not isinstance(value, str):
        raise PydanticCustomError("string_type", "description must be a string")
    if len(value) > 200:
        raise PydanticCustomError(
            "value_error", "description is {n} characters long; at most 200 are allowed",
            {"n": len(value)},
        )
    bad = first_unprintable(value)
    if bad in BIDI_CONTROLS:
        raise PydanticCustomError(
            "value_error", "description has the bidirectional formatting character {char}, "
            "which reorders how the text is shown; remove it", {"char": f"U+{ord(bad):04X}"})
    if bad is not None:
        raise PydanticCustomError(
            "value_error", "description must be one line of printable text (no control characters)"
        )
    return value


def first_unprintable(text: str) -> str | None:
    """The first control, line-separator, bidi or surrogate character of ``text``, if any."""
    if text.isascii():  # the common case: only C0 controls and DEL to look for
        if text.isprintable():
            return None
        return next(ch for ch in text if not ch.isprintable())
    for ch in text:
        if ch in BIDI_CONTROLS or unicodedata.category(ch) in ("Cc", "Cs", "Zl", "Zp"):
            return ch
    return None


def _user(value: Any) -> str:
    text = _text(value, "a user")
    if len(text) > 128 or not _USER_RE.match(text):
        raise PydanticCustomError(
            "value_error", "user '{value}' must be a user name or e-mail address", {"value": text}
        )
    return text


def _str_schema(fmt: str | None = None, pattern: str | None = None) -> WithJsonSchema:
    schema: dict[str, Any] = {"type": "string"}
    if fmt:
        schema["format"] = fmt
    if pattern:
        schema["pattern"] = pattern
    return WithJsonSchema(schema)


_to_str = PlainSerializer(str, return_type=str)

Prefix = Annotated[IPNetwork, PlainValidator(_prefix_any), _to_str, _str_schema("ip-prefix")]
PrefixV4 = Annotated[IPNetwork, PlainValidator(_prefix_v4), _to_str, _str_schema("ipv4-prefix")]
PrefixV6 = Annotated[IPNetwork, PlainValidator(_prefix_v6), _to_str, _str_schema("ipv6-prefix")]
Address = Annotated[IPAddress, PlainValidator(parse_address), _to_str, _str_schema("ip-address")]
AddressV4 = Annotated[IPAddress, PlainValidator(_address_v4), _to_str, _str_schema("ipv4")]
AddressV6 = Annotated[IPAddress, PlainValidator(_address_v6), _to_str, _str_schema("ipv6")]
Hostname = Annotated[str, PlainValidator(_hostname), _str_schema(pattern=_LABEL_RE.pattern)]
DnsName = Annotated[str, PlainValidator(_dns_name), _str_schema("hostname")]
#: One label of a DNS name, any case (``reserved_hostnames`` entries).
DnsLabel = Annotated[str, PlainValidator(_dns_label), _str_schema(pattern=_LABEL_RE.pattern)]
RouterOSVersion = Annotated[
    str,
    PlainValidator(_routeros),
    # YAML reads an unquoted 7.18 as a number; both spellings are accepted.
    WithJsonSchema({"type": ["string", "number"], "pattern": _ROUTEROS_RE.pattern}),
]
WgPublicKey = Annotated[
    str, PlainValidator(_wg_public_key), _str_schema(pattern=_WG_KEY_RE.pattern)
]
Description = Annotated[
    str, PlainValidator(_description), WithJsonSchema({"type": "string", "maxLength": 200})
]
User = Annotated[str, PlainValidator(_user), _str_schema(pattern=_USER_RE.pattern)]
#: An SDX site id: a lower-case DNS label.
SiteId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")]
