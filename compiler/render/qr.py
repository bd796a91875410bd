"""QR codes of WireGuard client profiles, as SVG: what the mobile apps scan (SPEC §10).

The payload is the profile without its comment and blank lines (headers, user names and
descriptions do not belong in a code a phone reads, and every byte makes it denser). The
symbol is zxing-cpp's (error correction L); measured on a typical profile (357 bytes) on the
build machine: zxing-cpp 1.7 ms, segno 6.4 ms with a fixed mask and 15 ms choosing the mask,
the way the QR standard asks for. The same symbol, bit for bit, now comes from our own encoder
(:mod:`compiler.render.qrencode`) with the mask chosen in :mod:`compiler.render.qrmask`:
about 0.2 ms. The SVG is drawn here from the module matrix: dark modules on an opaque white
background with the four-module quiet zone the standard requires (a transparent code is
unscannable on a dark screen), one path, no timestamps, so the same profile always gives the
same bytes.

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


#: Before every row (then a light module: a run at a row's start follows one too), and the end.
_ROW: Final = b"\x01\xff"
_END: Final = b"\x02"
#: Dark modules a run needs to start a piece of :class:`_Moves`.
_SPLIT_RUN: Final = 1
#: A light module, then a run of at least :data:`_SPLIT_RUN` dark ones.
_RUN_START: Final = b"\xff" + b"\x00" * _SPLIT_RUN


def _walk(seq: bytes, width: int, start: tuple[int, int] | None) -> str:
    r"""The path of ``seq`` (``\x00`` dark, ``\xff`` light, ``\x01\xff`` a new row, ``\x02``).

    ``start``: the pen's (row, x) before ``seq``, which starts a row before it; ``None``:
    ``seq`` starts with a run at an unknown x (x is relative to it until the row ends: the
    row's end, ``width``, tells where it was). Unless ``seq`` reaches ``\x02`` it ends with a
    move to its end: the next run's start.
    """
    known = start is not None
    row, x = (-1, 0) if known else (0, 0)
    offset = 0 if known else None  # relative x on row 0 + offset = absolute x
    pen = start
    parts: list[str] = []

    def move(to_row: int, to_x: int) -> str:
        assert pen is not None
        pen_row, pen_x = pen
        if pen_row == 0 and to_row > 0 and offset is not None:
            pen_x += offset
        return f"m{to_x - pen_x} {to_row - pen_row}"

    i, length = 0, len(seq)
    while i < length:
        char = seq[i]
        if char == 0:
            begin = x
            while i < length and seq[i] == 0:
                i += 1
                x += 1
            parts.append(("" if pen is None else move(row, begin)) + f"h{x - begin}")
            pen = (row, x)
        elif char == 0xFF:
            x += 1
            i += 1
        elif char == 1:
            if row == 0 and offset is None:
                offset = width - x
            row, x = row + 1, 0
            i += 2  # the light module after a row change is no module
        else:  # the end
            return "".join(parts)
    parts.append(move(row, x))
    return "".join(parts)


class _Moves(dict[bytes, str]):
    r"""The path of the text between two run starts (:data:`_RUN_START`), for one width.

    The rows are joined as ``\x01\xff row \x01\xff row ... \x02`` and split where dark runs
    start (``bytes.split``: C speed). A piece is then the rest of a run, the light modules and
    row changes after it, and the light ones before the next run but the one the split took:
    its path (relative to the run's start) depends on nothing else, so the path is a dict
    lookup per run. The last piece ends with :data:`_END`. Measured on the 1,874 profiles of
    the 10k benchmark tree: 0.09 ms a code (0.15 ms with a regular expression), 800 distinct
    pieces per width. Splitting only where runs of 2 start (:data:`_SPLIT_RUN`) halves the
    lookups (0.08 ms once known) but meets 35,000 distinct pieces per width, each worked out
    in Python: 0.25 ms a code the first time, slower in a build that draws each code once.
    """

    def __init__(self, width: int) -> None:
        super().__init__()
        self.width = width

    def __missing__(self, piece: bytes) -> str:
        seq = b"\x00" * _SPLIT_RUN + piece
        text = _walk(seq if piece.endswith(_END) else seq + b"\xff", self.width, None)
        self[piece] = text
        return text


_MOVES: dict[int, _Moves] = {}


def _path(rows: list[bytes], width: int) -> str:
    """``m<dx> <dy>h<run>`` for every dark run, from the end of the last (the pen starts at 0 0)."""
    pieces = (_ROW + _ROW.join(rows) + _END).split(_RUN_START)
    if len(pieces) == 1:
        return _walk(pieces[0], width, (0, 0))
    moves = _MOVES.get(width)
    if moves is None:
        moves = _MOVES[width] = _Moves(width)
    # The first piece: from x 0 of row 0 to the first long run (maybe past shorter ones).
    first = _walk(pieces[0] + b"\xff", width, (0, 0))
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
