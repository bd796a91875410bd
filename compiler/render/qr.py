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


#: Before every row (light: a run at a row's start follows a light module too), and the end.
_ROW: Final = b"\x01\xff"
_END: Final = b"\x02"
#: A light module, then a dark one: where a dark run starts.
_RUN_START: Final = b"\xff\x00"


class _Moves(dict[bytes, str]):
    r"""The path of the text between two run starts (:data:`_RUN_START`), for one width.

    The rows are joined as ``\xff row \x01\xff row ... \x02`` and split where runs start
    (``bytes.split``: C speed). A piece is then the rest of a dark run, the light modules (and
    row ends) after it, and the light ones before the next run but the one the split took: its
    ``h<run>m<dx> <dy>`` (relative to the run's end) depends on nothing else, so the path is a
    dict lookup per run. The first piece is the move from ``0 0`` to the first run, the last
    ends with :data:`_END`. A build meets a few hundred distinct pieces per width.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def __missing__(self, piece: bytes) -> str:
        light = piece.lstrip(b"\x00")
        text = f"h{len(piece) - len(light) + 1}"
        if light.endswith(_END):
            self[piece] = text
            return text
        rows = light.split(b"\x01")
        if len(rows) == 1:  # on the same row: the light modules and the one split off
            text += f"m{len(light) + 1} 0"
        else:  # the next run's x (the \xff before each row makes up for the one split off)
            end = self.width - len(rows[0])
            text += f"m{len(rows[-1]) - end} {len(rows) - 1}"
        self[piece] = text
        return text


_MOVES: dict[int, _Moves] = {}


def _path(rows: list[bytes], width: int) -> str:
    """``m<dx> <dy>h<run>`` for every dark run, from the end of the last (the pen starts at 0 0)."""
    pieces = (b"\xff" + _ROW.join(rows) + _END).split(_RUN_START)
    if len(pieces) == 1:
        return ""
    moves = _MOVES.get(width)
    if moves is None:
        moves = _MOVES[width] = _Moves(width)
    # The first piece: light rows and modules before the first run, from x 0 of row 0.
    rows_before = pieces[0].split(b"\x01")
    first = f"m{len(rows_before[-1])} {len(rows_before) - 1}"
    return first + "".join(map(moves.__getitem__, pieces[1:]))


def svg(rows: list[bytes]) -> str:
    """The symbol as SVG: a white square with the quiet zone, dark runs as one stroked path."""
    size = len(rows) + 2 * QUIET_ZONE
    path = _path(rows, len(rows[0]) if rows else 0)
    pixels = size * SCALE
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels}" height="{pixels}" '
            f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/>'
            f'<path stroke="#000" transform="translate({QUIET_ZONE} {QUIET_ZONE}.5)" '
            f'd="M0 0{path}"/></svg>')
