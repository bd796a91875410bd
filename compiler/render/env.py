"""The one Jinja2 environment, with escaping filters named per output language.

Values from the config tree are validated on input (names are identifiers,
descriptions are one printable line); the filters below are the second wall:
whatever reaches an artifact is escaped for that artifact's language, so no
value can add a directive, a command or a line.
"""

from __future__ import annotations

import functools
import ipaddress
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import jinja2

from compiler.model.types import IPNetwork


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
    """Text for a ``#`` comment: one line, control characters shown, never a line break."""
    out = []
    for ch in str(value):
        code = ord(ch)
        if code < 0x20 or 0x7F <= code <= 0x9F or ch in "\u2028\u2029\u0085":
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


_RSC_ESCAPES: Final = {"\\": "\\\\", '"': '\\"', "$": "\\$", "?": "\\?", "\n": "\\n",
                       "\r": "\\r", "\t": "\\t"}


#: The same escaping as :func:`rsc_str`'s loop, for ASCII text, as a translation table.
_RSC_ASCII: Final = {
    code: _RSC_ESCAPES.get(chr(code), chr(code) if 0x20 <= code <= 0x7E else f"\\{code:02X}")
    for code in range(128)
}

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
    if text.isascii():
        return f'"{text.translate(_RSC_ASCII)}"'  # e.g. PEM blocks: one C-level pass
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


def netmask(net: IPNetwork) -> str:
    """``10.20.0.0 255.255.255.0`` (OpenVPN's v4 route syntax)."""
    assert isinstance(net, ipaddress.IPv4Network)
    return f"{net.network_address} {net.netmask}"


def of_family(nets: Iterable[IPNetwork], family: int) -> list[IPNetwork]:
    """The networks of one IP version (``selectattr("version", "equalto", f) | list``, faster)."""
    return [net for net in nets if net.version == family]


@functools.cache
def environment() -> jinja2.Environment:
    """The shared environment: strict undefined, no autoescape (filters escape per language)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        undefined=jinja2.StrictUndefined,
        auto_reload=False,  # templates do not change during a build: no stat per render
        autoescape=False,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(
        line=line_text, rsc_str=rsc_str, ovpn_arg=ovpn_arg, token=token, netmask=netmask,
        of_family=of_family,
    )
    return env


def render(template: str, **context: Any) -> str:
    """Render ``templates/<template>`` with ``context``."""
    return _template(template).render(version=VERSION_SLOT, **context)


@functools.cache
def _template(name: str) -> jinja2.Template:
    # Looked up once: a build renders ~200k artifacts from a dozen templates.
    return environment().get_template(name)
