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


#: Light modules and row ends (maybe none), then dark ones: one "move, then draw" of the path.
_CHUNK: Final = re.compile(rb"[\xff\x01]*\x00+")
#: Between rows in the joined symbol, so a chunk says how many rows it moves down.
_ROW_END: Final = b"\x01"


class _Moves(dict[bytes, str]):
    """``m<dx> <dy>h<run>`` of a chunk of the joined symbol, for symbols ``width`` wide.

    A chunk is the light modules after a dark run (up to the row's end, then the next rows'),
    the light modules before the next dark run and that run: its move depends on nothing
    else, so the path is one ``findall`` and a dict lookup per chunk at C speed. Formatting
    every run in Python took 0.69 ms per code; this 0.18 ms. A build meets a few hundred
    distinct chunks per width.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def __missing__(self, chunk: bytes) -> str:
        rows = chunk.split(_ROW_END)
        last = rows[-1]
        run = len(last) - len(last.rstrip(b"\x00"))
        gap = len(last) - run
        if len(rows) == 1:  # on the row of the last run, from its end
            text = f"m{gap} 0h{run}"
        else:  # from the end of the last run (the pen starts at 0 0: as if one ended there)
            text = f"m{gap - (self.width - len(rows[0]))} {len(rows) - 1}h{run}"
        self[chunk] = text
        return text


#: Two chunks at a time: half the matches and lookups (each costs more than its text).
_PAIR: Final = re.compile(rb"(?:[\xff\x01]*\x00+){1,2}")


class _Pairs(dict[bytes, str]):
    """The moves of up to two consecutive chunks (:data:`_PAIR`), from their :class:`_Moves`.

    A chunk's move depends only on the chunk, so a pair's is its two moves joined. Measured
    on 4,000 profiles of one width: 20,000 distinct pairs (about 3 MiB, kept per process), and
    0.145 ms a code instead of 0.165 ms once they are known.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.moves = _Moves(width)

    def __missing__(self, pair: bytes) -> str:
        text = "".join(map(self.moves.__getitem__, _CHUNK.findall(pair)))
        self[pair] = text
        return text


_MOVES: dict[int, _Pairs] = {}


def svg(rows: list[bytes]) -> str:
    """The symbol as SVG: a white square with the quiet zone, dark runs as one stroked path."""
    size = len(rows) + 2 * QUIET_ZONE
    width = len(rows[0]) if rows else 0
    moves = _MOVES.get(width)
    if moves is None:
        moves = _MOVES[width] = _Pairs(width)
    # Relative moves keep the path short: "m<dx> <dy>h<run>" from the end of the last run.
    path = "".join(map(moves.__getitem__, _PAIR.findall(_ROW_END.join(rows))))
    pixels = size * SCALE
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels}" height="{pixels}" '
            f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/>'
            f'<path stroke="#000" transform="translate({QUIET_ZONE} {QUIET_ZONE}.5)" '
            f'd="M0 0{path}"/></svg>')
