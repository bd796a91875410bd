"""QR codes of WireGuard client profiles, as SVG: what the mobile apps scan (SPEC §10).

The payload is the profile without its comment and blank lines (headers, user names and
descriptions do not belong in a code a phone reads, and every byte makes it denser). The
symbol comes from zxing-cpp's encoder (error correction L); measured on a typical profile
(357 bytes) on the build machine: zxing-cpp 1.7 ms, segno 6.4 ms with a fixed mask and 15 ms
choosing the mask, the way the QR standard asks for; zxing-cpp with the mask chosen in
:mod:`compiler.render.qrmask` (the same symbol) 0.4 ms. The SVG is drawn here from the module
matrix: dark modules on an opaque white background with the four-module quiet zone the standard
requires (a transparent code is unscannable on a dark screen), one path, no timestamps, so the
same profile always gives the same bytes.

A payload no QR code holds gets no code at all (``None``); `mvpn check` says so in advance
(``qr-too-large``, :mod:`compiler.checks.qr`). A build never fails on a QR code.
"""

from __future__ import annotations

import re
from typing import Final

from compiler.checks.qr import QR_MAX_BYTES
from compiler.render import qrmask

#: Modules of white around the symbol (ISO/IEC 18004 asks for 4).
QUIET_ZONE: Final = 4
#: Pixels per module in the SVG's nominal size (it scales without loss).
SCALE: Final = 4


def payload(profile: str) -> str:
    """What the QR code holds: the profile's setting lines, without comments or blank lines."""
    lines = [line for line in profile.split("\n") if line.strip() and
             not line.lstrip().startswith("#")]
    return "".join(line + "\n" for line in lines)


def matrix(text: str) -> list[bytes] | None:
    """The QR symbol of ``text``: one ``bytes`` per row, 0 = dark, 255 = light; or ``None``.

    ``None`` when no QR code holds ``text`` (more than :data:`QR_MAX_BYTES` bytes, or an
    encoder refusal at the limit).
    """
    if len(text.encode("utf-8")) > QR_MAX_BYTES:
        return None
    try:
        return qrmask.symbol(text)
    except ValueError:  # too long after all (the encoder's own count): no code, no failure
        return None


#: Light modules (maybe none) then dark ones: one "move, then draw" of the path.
_CHUNK: Final = re.compile(rb"\xff*\x00+")


class _Moves(dict[bytes, str]):
    """``m<gap> 0h<run>`` of a chunk of a row (``gap`` light modules, then ``run`` dark).

    Filled as chunks are met (at most width x width of them): a dict lookup at C speed
    instead of formatting each of the ~1,400 runs of a typical code in Python.
    """

    def __missing__(self, chunk: bytes) -> str:
        gap = len(chunk) - len(chunk.lstrip(b"\xff"))
        text = f"m{gap} 0h{len(chunk) - gap}"
        self[chunk] = text
        return text


_MOVES: Final = _Moves()


def svg(rows: list[bytes]) -> str:
    """The symbol as SVG: a white square with the quiet zone, dark runs as one stroked path."""
    size = len(rows) + 2 * QUIET_ZONE
    parts: list[str] = []
    # Relative moves keep the path short: "m<dx> <dy>h<run>" from the end of the last run.
    # Only a row's first run moves relative to an earlier row; the others are looked up
    # (0.69 ms per code formatting every run, 0.36 ms so).
    pen_x, pen_y = 0, 0
    for y, row in enumerate(rows):
        chunks = _CHUNK.findall(row)
        if not chunks:
            continue
        first = chunks[0]
        gap = len(first) - len(first.lstrip(b"\xff"))
        parts.append(f"m{gap - pen_x} {y - pen_y}h{len(first) - gap}")
        parts.extend(map(_MOVES.__getitem__, chunks[1:]))
        pen_x, pen_y = len(row.rstrip(b"\xff")), y
    pixels = size * SCALE
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels}" height="{pixels}" '
            f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/>'
            f'<path stroke="#000" transform="translate({QUIET_ZONE} {QUIET_ZONE}.5)" '
            f'd="M0 0{"".join(parts)}"/></svg>')
