"""A QR encoder (ISO/IEC 18004, error correction L) that makes zxing-cpp's symbol, faster.

The codewords come from :mod:`compiler.render.qrdata`; here they are placed, at CPython
speed, and the 8 mask candidates prepared:

* **Placement.** The zig-zag visits every module of each two-column strip; with the function
  modules' values spliced into the bit string (one C-level ``itemgetter`` of slices) each
  column is then one stepped slice. The layout is column-major, i.e. the symbol mirrored on
  its anti-diagonal: the mask penalties are the same for it (each rule is symmetric), and the
  rows are stepped slices of the chosen one.
* **Masks.** Per version, each mask's flips (data modules only) with its format bits, so a
  candidate is one XOR; :meth:`compiler.render.qrmask.Layout.choose` (libzint's penalty
  rules) chooses, ties to the lower mask.

Texts that are empty or not ASCII are not handled here: :func:`encode` returns ``None`` for
them and the caller asks zxing-cpp.
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable
from typing import Final

from compiler.render.qrdata import TOTAL, Blocks, choose, codewords, version_size

#: Light modules around the symbol in the bit layout (the finder-pattern rule looks 4 beyond).
PAD: Final = 4


# --- placement ----------------------------------------------------------------------------------


def _finder_or_separator(size: int) -> dict[tuple[int, int], int]:
    grid: dict[tuple[int, int], int] = {}
    for cx, cy in ((3, 3), (size - 4, 3), (3, size - 4)):
        for dy in range(-4, 5):
            for dx in range(-4, 5):
                x, y = cx + dx, cy + dy
                if 0 <= x < size and 0 <= y < size:
                    ring = max(abs(dx), abs(dy))
                    grid[x, y] = int(ring not in {2, 4})
    return grid


def _alignment_centres(version: int) -> list[int]:
    if version == 1:
        return []
    count = version // 7 + 2
    size = version_size(version)
    step = 26 if version == 32 else (version * 4 + count * 2 + 1) // (count * 2 - 2) * 2
    return [6, *reversed([size - 7 - i * step for i in range(count - 1)])]


def _bch(data: int, poly: int, degree: int) -> int:
    rem = data << degree
    top = poly.bit_length() - 1
    while rem.bit_length() > top:
        rem ^= poly << (rem.bit_length() - 1 - top)
    return data << degree | rem


def _format_modules(size: int, mask: int) -> dict[tuple[int, int], int]:
    """Format information for level L and ``mask``, as libzint's ``qr_add_format_info``."""
    seq = _bch(0b01 << 3 | mask, 0x537, 10) ^ 0x5412
    bits: dict[tuple[int, int], int] = {}
    for i in range(6):
        bits[8, i] = seq >> i & 1
    for i in range(8):
        bits[size - 1 - i, 8] = seq >> i & 1
    for i in range(6):
        bits[5 - i, 8] = seq >> (i + 9) & 1
    for i in range(7):
        bits[8, size - 7 + i] = seq >> (i + 8) & 1
    bits[8, 7] = seq >> 6 & 1
    bits[8, 8] = seq >> 7 & 1
    bits[7, 8] = seq >> 8 & 1
    return bits


def _function_modules(version: int) -> dict[tuple[int, int], int]:
    """Every function module (x, y) with its value (1 dark); format areas light."""
    size = version_size(version)
    grid: dict[tuple[int, int], int] = {}
    for i in range(size):
        grid[i, 6] = grid[6, i] = int(i % 2 == 0)
    finders = _finder_or_separator(size)
    grid.update(finders)
    centres = _alignment_centres(version)
    for cy in centres:
        for cx in centres:
            if (cx, cy) in finders:
                continue  # libzint: no alignment pattern over a finder pattern
            for dy in range(-2, 3):
                for dx in range(-2, 3):
                    grid[cx + dx, cy + dy] = int(max(abs(dx), abs(dy)) != 1)
    for key in _format_modules(size, 0):
        grid[key] = 0
    grid[8, size - 8] = 1  # the dark module
    if version >= 7:
        bits = _bch(version, 0x1F25, 12)
        for i in range(18):
            a, b = size - 11 + i % 3, i // 3
            grid[a, b] = grid[b, a] = bits >> i & 1
    return grid


def _mask_condition(mask: int, x: int, y: int) -> bool:
    """Whether data ``mask`` flips module (x column, y row): ISO/IEC 18004's, libzint's."""
    if mask == 0:
        return (y + x) % 2 == 0
    if mask == 1:
        return y % 2 == 0
    if mask == 2:
        return x % 3 == 0
    if mask == 3:
        return (y + x) % 3 == 0
    if mask == 4:
        return (y // 2 + x // 3) % 2 == 0
    if mask == 5:
        return (y * x) % 6 == 0
    if mask == 6:
        return ((y * x) % 2 + (y * x) % 3) % 2 == 0
    return ((y + x) % 2 + (y * x) % 3) % 2 == 0


def _zigzag(size: int) -> tuple[list[tuple[int, int]], list[tuple[int, bool]]]:
    """Every module of each strip of two columns, in placement order, and the strips.

    A strip is its left column and whether it is filled upwards (right column first in each
    row); column 6 (the timing pattern) is no strip's.
    """
    order: list[tuple[int, int]] = []
    strips: list[tuple[int, bool]] = []
    x, up = size - 2, True
    while x >= 0:
        if x == 5:
            x = 4
        strips.append((x, up))
        for y in range(size - 1, -1, -1) if up else range(size):
            order += [(x + 1, y), (x, y)]
        x -= 2
        up = not up
    return order, strips


def _splice(modules: list[tuple[int, int]], functions: dict[tuple[int, int], int],
            source_len: int) -> tuple[str, list[slice]]:
    """Slices that take ``modules`` in order from the data bits followed by the constants.

    Data modules take the next bits of the ``source_len`` data bits; runs of function modules
    take their values, which are appended to the constants returned.
    """
    constants: list[str] = []
    pieces: list[slice] = []
    taken = 0  # data modules so far
    offset = source_len  # where the next constants start
    run: list[str] = []  # the function modules' values since the last data module
    for module in [*modules, None]:
        if module in functions:
            run.append(str(functions[module]))
            continue
        if run:
            constants.append("".join(run))
            pieces.append(slice(offset, offset + len(run)))
            offset += len(run)
            run = []
        if module is None:
            break
        if pieces and pieces[-1].stop == taken and pieces[-1].start < source_len:
            pieces[-1] = slice(pieces[-1].start, taken + 1)
        else:
            pieces.append(slice(taken, taken + 1))
        taken += 1
    assert taken == source_len
    return "".join(constants), pieces


def _column_slices(strips: list[tuple[int, bool]], size: int) -> list[slice]:
    """Each column, top to bottom, from the zig-zag string (timing column 6 at its end)."""
    columns: dict[int, slice] = {}
    span = 2 * size
    for index, (left, up) in enumerate(strips):
        a = index * span
        if up:  # bottom-up pairs: top-down is backwards
            columns[left + 1] = slice(a + span - 2, a - 2 if a >= 2 else None, -2)
            columns[left] = slice(a + span - 1, a - 1 if a >= 1 else None, -2)
        else:
            columns[left + 1] = slice(a, a + span, 2)
            columns[left] = slice(a + 1, a + span, 2)
    columns[6] = slice(len(strips) * span, len(strips) * span + size)
    return [columns[x] for x in range(size)]


class Symbol:
    """One version's placement: bit stream -> the symbol's bits, and the 8 mask candidates.

    Layout: module (x, y) is character ``(x + PAD) * stride + PAD + y`` of a string of
    ``stride * stride`` characters (columns top to bottom, light padding), read as a binary
    number; ``stride = size + 2 * PAD``.
    """

    def __init__(self, version: int) -> None:
        self.version = version
        self.size = size = version_size(version)
        self.stride = stride = size + 2 * PAD
        self.blocks = Blocks(version)
        functions = _function_modules(version)
        order, strips = _zigzag(size)
        data_bits = 8 * TOTAL[version - 1]
        remainder = sum(1 for m in order if m not in functions) - data_bits
        self.bits_format = f"0{data_bits}b"
        self.zeros = "0" * remainder
        self.constants, pieces = _splice(order + [(6, y) for y in range(size)], functions,
                                         data_bits + remainder)
        self.zigzag: Callable[[str], tuple[str, ...]] = operator.itemgetter(*pieces)
        self.columns: Callable[[str], tuple[str, ...]] = operator.itemgetter(
            *_column_slices(strips, size))
        self.head = "0" * (PAD * stride + PAD)
        self.gap = "0" * (2 * PAD)
        # Mask k: its data modules and its format information, as bits of the layout.
        data = [(x, y) for y in range(size) for x in range(size) if (x, y) not in functions]
        self.masks = []
        for mask in range(8):
            text = bytearray(b"0" * (stride * stride))
            for x, y in data:
                if _mask_condition(mask, x, y):
                    text[(x + PAD) * stride + PAD + y] = 49  # "1"
            for (x, y), on in _format_modules(size, mask).items():
                if on:
                    text[(x + PAD) * stride + PAD + y] = 49
            self.masks.append(int(text, 2))

    def unmasked(self, codewords: bytes) -> int:
        """The symbol of ``codewords`` (data codewords) without mask and format bits."""
        stream = self.blocks.stream(codewords)
        source = (format(int.from_bytes(stream), self.bits_format) + self.zeros
                  + self.constants)
        zigzag = "".join(self.zigzag(source))
        return int(self.head + self.gap.join(self.columns(zigzag)) + self.head, 2)

    def rows(self, bits: int) -> list[bytes]:
        """Bits back to image rows (0 = dark, 255 = light)."""
        stride = self.stride
        text = format(bits, f"0{stride * stride}b").encode("ascii").translate(_TO_PIXELS)
        end = (self.size + PAD) * stride
        first = PAD * stride + PAD
        return [text[first + y:end:stride] for y in range(self.size)]


_TO_PIXELS: Final = bytes.maketrans(b"01", b"\xff\x00")


@functools.cache
def symbol_layout(version: int) -> Symbol:
    """The placement of ``version`` (built once per process and version: about 20 ms)."""
    return Symbol(version)


def encode(text: str) -> tuple[Symbol, int] | None:
    """(placement, unmasked symbol bits) of ``text`` at level L, as libzint encodes it.

    ``None`` when this encoder does not handle ``text`` (empty, or not ASCII).
    Raises ``ValueError`` when no QR code holds ``text``.
    """
    if not text or not text.isascii():
        return None
    data = text.encode("ascii")
    chosen = choose(data)
    if chosen is None:
        raise ValueError("no QR code holds the text")
    version, modes = chosen
    layout = symbol_layout(version)
    return layout, layout.unmasked(codewords(data, version, modes))
