"""The one Jinja2 environment, with escaping filters named per output language.

Values from the config tree are validated on input (names are identifiers,
descriptions are one printable line); the filters below are the second wall:
whatever reaches an artifact is escaped for that artifact's language, so no
value can add a directive, a command or a line.

Text is escaped per language (``rsc_str``, ``ovpn_arg``, ``line`` for comments).
Values that are never escaped are checked instead, and a value outside its alphabet
raises (it is never passed through): ``addr``/``addrs`` for addresses and prefixes
(``[0-9A-Fa-f:./]``; ``addrs_text``/``mask_text`` for lists joined in Python),
``num`` for integers, ``name`` for instance, peer and site names, ``host`` for DNS
names, ``word`` for keywords, ``token`` for keys, ``nft_line`` for firewall rules. Those
alphabets hold no metacharacter of any output language (wg-quick, OpenVPN,
nftables, dnsmasq, RouterOS, ``#`` comments), so one check serves them all; a
template prints no value from the tree without one of these filters.
"""

from __future__ import annotations

import functools
import ipaddress
import re
import struct
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from compiler.model.types import ADDRESS_RE, BIDI_CONTROLS, IPNetwork

if TYPE_CHECKING:
    import jinja2


def _templates() -> Path:
    """The templates: package data of an installed wheel, else ``templates/`` of the checkout.

    The wheel's copy comes first: an installed package's ``parents[2]`` is site-packages,
    where another distribution's ``templates`` folder may sit.
    """
    package = Path(__file__).resolve().parents[1]
    shipped = package / "templates"
    return shipped if shipped.is_dir() else package.parent / "templates"


TEMPLATES: Final = _templates()

#: Where an artifact's own version goes; replaced after hashing (see build.versions).
VERSION_SLOT: Final = "\x1fMVPN-VERSION\x1f"


def line_text(value: object) -> str:
    """Text for a ``#`` comment: one line, control characters shown, never a line break.

    Bidirectional formatting characters are shown too (they are refused on input; here they
    could reorder how the rest of the line reads).
    """
    text = str(value)
    if _LINE_PLAIN.fullmatch(text) and not text.rstrip(" \t").endswith("\\"):
        return text  # the common case: nothing to show (23 µs per description -> 1 µs)
    out = []
    for ch in text:
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029\u0085" or ch in BIDI_CONTROLS:
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(ch)
    # A backslash ending the line (trailing blanks aside) would continue a RouterOS
    # comment onto the next line; show it as an escape, like control characters.
    end = len(out)
    while end > 0 and out[end - 1] in (" ", "\t"):
        end -= 1
    if end > 0 and out[end - 1] == "\\":
        out[end - 1] = "\\x5c"
    return "".join(out)


#: What :func:`line_text` passes unchanged: no control, line-breaking or bidi character.
_LINE_PLAIN: Final = re.compile(
    "[^\x00-\x1f\x7f-\x9f\u2028\u2029" + "".join(sorted(BIDI_CONTROLS)) + "]*")


_RSC_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "$": "\\$", "?": "\\?", "\n": "\\n",
                       "\r": "\\r", "\t": "\\t"}


#: The same escaping as :func:`rsc_str`'s loop, for ASCII text, as a translation table.
_RSC_ASCII: Final = {
    code: _RSC_ESCAPES.get(chr(code), chr(code) if 0x20 <= code <= 0x7E else f"\\{code:02X}")
    for code in range(128)
}

#: Printable ASCII and the three escaped white-space characters.
_RSC_TEXT: Final = re.compile(r"[ -~\n\r\t]*")
#: :data:`_RSC_ESCAPES` in an order where no replacement is escaped again (backslash first).
_RSC_TEXT_ESCAPES: Final = sorted(_RSC_ESCAPES.items(), key=lambda item: item[0] != "\\")

#: Printable ASCII without the four characters a RouterOS string must escape.
_RSC_PLAIN: Final = re.compile(r'[ !#%->@-\[\]-~]*')


def rsc_str(value: object) -> str:
    r"""A RouterOS double-quoted string literal (quotes included), pure ASCII.

    ``$`` would interpolate a variable and ``\\`` starts an escape; both are
    escaped, and everything outside printable ASCII becomes ``\\HH`` bytes of
    its UTF-8 encoding, which RouterOS decodes back to the same bytes.
    """
    text = str(value)
    if _RSC_PLAIN.fullmatch(text):
        return f'"{text}"'  # the common case: nothing to escape
    if _RSC_TEXT.fullmatch(text):
        # PEM blocks, the uninstaller's source: a few replaces at C speed (a translate with a
        # dict table looks up every character: 14 µs for the uninstaller, 3 µs so).
        for char, escaped in _RSC_TEXT_ESCAPES:
            text = text.replace(char, escaped)
        return f'"{text}"'
    if text.isascii():
        return f'"{text.translate(_RSC_ASCII)}"'  # control characters: one C-level pass
    out = ['"']
    for ch in text:
        if ch in _RSC_ESCAPES:
            out.append(_RSC_ESCAPES[ch])
        elif " " <= ch <= "~":
            out.append(ch)
        else:
            out.extend(f"\\{b:02X}" for b in ch.encode("utf-8"))
    out.append('"')
    return "".join(out)


def ovpn_arg(value: object) -> str:
    r"""An OpenVPN config argument: double-quoted with ``\\`` and ``"`` escaped, one line."""
    text = str(value)
    if any(ord(ch) < 0x20 or ch in "\u2028\u2029\u0085\x7f" for ch in text):
        raise ValueError("an OpenVPN argument must be one line")
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


#: Characters that are always safe in a bare token (a subset of what :func:`token` allows).
_TOKEN_PLAIN: Final = re.compile(r"[A-Za-z0-9+/=.:_@-]+")


def token(value: object) -> str:
    """A bare token (key, address, name): refuses anything that could end or split it."""
    text = str(value)
    if _TOKEN_PLAIN.fullmatch(text):
        return text  # keys, addresses, names: the common case, one regex match
    if not text or any(
        ch.isspace() or ch in "#;\"'\\,[]{}$" or not ch.isprintable() for ch in text
    ):
        raise ValueError(f"not a safe bare token: {text!r}")
    return text


class UnsafeValueError(ValueError):
    """A value outside the alphabet of where it is printed: a bug upstream, never output."""


def addr(value: object) -> str:
    """An address or prefix, refused unless it is only ``[0-9A-Fa-f:./]`` (no zone id, no text)."""
    try:
        return _addr_text(value)
    except TypeError:  # unhashable: no address, refused below
        return _addr(value)


def _addr(value: object) -> str:
    text = ip_text(value)
    if ADDRESS_RE.fullmatch(text) is None:
        raise UnsafeValueError(f"not an address or prefix: {text!r}")
    return text


def ip_text(value: object) -> str:
    """``str(value)``, in a third to a half of the time for the ``ipaddress`` types.

    ``str()`` of an ``ipaddress`` object is worked out in Python, digit by digit (2 µs for
    IPv4, 6-8 µs for IPv6), and a build prints about three addresses per peer for the first
    time. The same text (``tests/test_addr_text.py`` compares them over the whole space): IPv4
    as four decimals, IPv6 as RFC 5952 says and ``ipaddress`` does it (lower-case hex without
    leading zeros, the longest run of two or more zero groups, the first of equal ones, as
    ``::``). What ``ipaddress`` prints its own way (zone ids, IPv4 inside IPv6: the forms
    differ between Python versions) and anything else is left to ``str()``.
    """
    if type(value) is ipaddress.IPv4Address:
        a, b, c, d = value.packed
        return f"{a}.{b}.{c}.{d}"
    if type(value) is ipaddress.IPv4Network:
        a, b, c, d = value.network_address.packed
        return f"{a}.{b}.{c}.{d}/{value.prefixlen}"
    if type(value) is ipaddress.IPv6Address:
        if value.scope_id is None and value.packed[:10] != _V4_IN_V6:
            return _v6_text(value.packed)
    elif type(value) is ipaddress.IPv6Network:
        first = value.network_address
        if first.scope_id is None and first.packed[:10] != _V4_IN_V6:
            return f"{_v6_text(first.packed)}/{value.prefixlen}"
    return str(value)


#: The first 80 bits of ``::/96`` and ``::ffff:0:0/96`` (IPv4 inside IPv6), left to ``str()``.
_V4_IN_V6: Final = bytes(10)
_WORDS: Final = struct.Struct("!8H")


def _v6_text(packed: bytes) -> str:
    words = _WORDS.unpack(packed)
    start, longest, run = -1, 1, 0  # a run of one zero group is not shortened
    for i, word in enumerate(words):
        if word:
            run = 0
        else:
            run += 1
            if run > longest:
                start, longest = i - run + 1, run
    if start < 0:
        return ":".join([f"{w:x}" for w in words])
    head = ":".join([f"{w:x}" for w in words[:start]])
    tail = ":".join([f"{w:x}" for w in words[start + longest:]])
    return f"{head}::{tail}"


#: :func:`_addr`, remembered: ``str()`` of an ``ipaddress`` object is worked out in Python
#: each time (2 µs for IPv4, 7 µs for IPv6), and a build prints each address a few times
#: (hub, profile, site config) and the instance's networks in every peer's files. Keyed by
#: type and value (``typed``: equal values of one type print the same). Bounded: about one
#: instance's addresses.
_addr_text: Final = functools.lru_cache(maxsize=8192, typed=True)(_addr)


def addrs(values: Iterable[object], sep: str = ", ") -> str:
    """Addresses or prefixes joined by ``sep``, each checked like :func:`addr`."""
    return sep.join(map(addr, values))


_ADDRS_TEXT: Final = re.compile(r"[0-9A-Fa-f:./, ]*")
#: An nftables rule line as :mod:`compiler.render.firewall` writes it (no ``;``, quote or newline).
_NFT_LINE: Final = re.compile(r"[A-Za-z0-9 :./,{}!=@_#-]*")


#: OpenVPN's ``address netmask`` pair (no comma: a pushed option ends at a comma).
_MASK_TEXT: Final = re.compile(r"[0-9.]+ [0-9.]+")


def mask_text(text: str) -> str:
    """``10.20.0.0 255.255.255.0`` already joined (a route pushed to an OpenVPN client)."""
    return _checked(_MASK_TEXT, text, "an address and netmask")


def addrs_text(text: str) -> str:
    """Addresses or prefixes already joined (by ``, ``, ``,`` or a space), checked as a whole."""
    return _checked(_ADDRS_TEXT, text, "a list of addresses")


def nft_line(text: str) -> str:
    """One line of the ``access`` chain (built from checked addresses, names and keywords)."""
    return _checked(_NFT_LINE, text, "an nftables rule")


def num(value: object) -> str:
    """An integer (a port, a length, a count); a bool or anything else is refused."""
    if type(value) is not int:
        raise UnsafeValueError(f"not an integer: {value!r}")
    return str(value)


_NAME: Final = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
_HOST: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]{0,252})")
_WORD: Final = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def name(value: object) -> str:
    """An instance, peer or site name: a lower-case DNS label."""
    return _checked(_NAME, value, "a name")


def host(value: object) -> str:
    """A DNS name (``hub.vpn.example.net``)."""
    return _checked(_HOST, value, "a DNS name")


def word(value: object) -> str:
    """A keyword chosen from a fixed set (``udp``, ``wireguard``, ``7.16``)."""
    return _checked(_WORD, value, "a keyword")


def _checked(pattern: re.Pattern[str], value: object, what: str) -> str:
    text = str(value)
    if pattern.fullmatch(text) is None:
        raise UnsafeValueError(f"not {what}: {text!r}")
    return text


def netmask(net: IPNetwork) -> str:
    """``10.20.0.0 255.255.255.0`` (OpenVPN's v4 route syntax)."""
    assert isinstance(net, ipaddress.IPv4Network)
    return f"{addr(net.network_address)} {addr(net.netmask)}"


def of_family(nets: Iterable[IPNetwork], family: int) -> list[IPNetwork]:
    """The networks of one IP version (``selectattr("version", "equalto", f) | list``, faster)."""
    return [net for net in nets if net.version == family]


@functools.cache
def environment() -> jinja2.Environment:
    """The shared environment: strict undefined, no autoescape (filters escape per language)."""
    # Jinja is imported with the first template: `mvpn check` (and everything else but a
    # render) uses the filters of this module only, not Jinja (about 25 ms of its start-up).
    import jinja2

    from compiler.render.jinjacode import PrecompiledLoader

    env = jinja2.Environment(
        # Each template's code as compiled ahead, when current (compiler.render.jinjacode).
        loader=PrecompiledLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates do not change during a build: no stat per render
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        line=line_text, rsc_str=rsc_str, ovpn_arg=ovpn_arg, token=token, netmask=netmask,
        of_family=of_family, addr=addr, addrs=addrs, num=num, name=name, host=host, word=word,
        addrs_text=addrs_text, nft_line=nft_line, mask_text=mask_text,
    )
    return env


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``.

    What ``Template.render`` does, without copying the environment's globals (``range``,
    ``namespace``...; no template uses one, and StrictUndefined refuses a name that is not
    given) into every context: 3 µs instead of 7 µs a render, 220,000 renders at 100k peers.
    """
    tpl = _template(template)
    context["version"] = VERSION_SLOT
    try:
        return "".join(tpl.root_render_func(tpl.new_context(context, shared=True)))
    except Exception:  # as Template.render: the traceback points into the template
        tpl.environment.handle_exception()
        raise  # not reached: handle_exception re-raises


@functools.cache
def _template(name: str) -> jinja2.Template:
    # Looked up once: a build renders ~200k artifacts from a dozen templates.
    return environment().get_template(name)
