"""The QR symbol of a text, as zxing-cpp's encoder makes it, with the mask chosen here, faster.

A QR encoder tries the 8 data masks of ISO/IEC 18004 and keeps the one with the lowest
penalty (runs, 2x2 blocks, finder-like patterns, dark/light balance). zxing-cpp (libzint
inside) spends about 1 ms of its 1.2 ms on that choice for a typical profile (73x73 modules),
and a build makes one code per WireGuard client. The unmasked symbol of an ASCII text comes
from :mod:`compiler.render.qrencode` (bit for bit zxing-cpp's), with each mask's flips and
format bits; of any other text, from zxing-cpp asked for mask 0, the other 7 candidates being
that symbol XOR a difference learnt once per size from zxing-cpp itself. The penalties are
computed with whole-symbol big-integer bit operations (:meth:`Layout.choose`: about 75 µs for
all 8, the neighbour terms shared). The rules are libzint's ``qr_evaluate`` exactly (its
finder-pattern rule counts the edge as light, ties keep the lower mask), so the symbol is the
one the encoder would have chosen, byte for byte: ``tests/test_qr.py`` compares both on random
texts of every size.
"""

from __future__ import annotations

import functools
from typing import Final

import zxingcpp

from compiler.render import qrencode

#: Light modules around the symbol in the bit layout: the finder-pattern rule looks 4 beyond.
_PAD: Final = qrencode.PAD
#: Image pixels (0 dark, 255 light) to bit characters and back.
_TO_BITS: Final = bytes.maketrans(b"\x00\xff", b"10")
_TO_PIXELS: Final = bytes.maketrans(b"10", b"\x00\xff")


def _encode(text: str, mask: int) -> tuple[int, str, bytes]:
    """(size, error correction level, pixels row by row) of ``text`` with data mask ``mask``.

    Raises ``ValueError`` when no QR code holds ``text``.
    """
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="L",
                                   data_mask=mask)
    image = code.to_image(scale=1, add_quiet_zones=False)
    pixels = bytes(memoryview(image))  # type: ignore[arg-type]  # a buffer; the stub omits it
    return int(image.shape[1]), str(code.ec_level), pixels


class Layout:
    """The bit layout of one symbol size: module (x, y) is bit ``(y + 4) * stride + x + 4``.

    A border of 4 bits that are neither dark nor light surrounds the symbol, so a shift by 1
    (horizontal neighbour) or by ``stride`` (vertical) never wraps into another row.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.stride = stride = size + 2 * _PAD
        row = ((1 << size) - 1) << _PAD
        self.inside = sum(row << ((y + _PAD) * stride) for y in range(size))
        self.border = ((1 << (stride * stride)) - 1) ^ self.inside
        self.pairs_h = self.inside & (self.inside >> 1)  # both modules of a pair inside
        self.pairs_v = self.inside & (self.inside >> stride)
        #: :meth:`choose`'s per-mask terms, by the ``id`` of a (lasting) list of masks.
        self._flips: dict[int, list[tuple[int, int]]] = {}

    def bits(self, pixels: bytes) -> int:
        """The dark modules of an image (0 = dark) as bits."""
        size, text = self.size, pixels.translate(_TO_BITS)
        # A row's right border and the next row's left one lie between two rows.
        rows = (b"0" * (2 * _PAD)).join([text[y * size:(y + 1) * size] for y in range(size)])
        edge = b"0" * (self.stride * _PAD + _PAD)
        return int((edge + rows + edge)[::-1], 2)

    def rows(self, bits: int) -> list[bytes]:
        """Bits back to image rows (0 = dark, 255 = light)."""
        text = format(bits, f"0{self.stride * self.stride}b")[::-1].encode("ascii")
        pixels = text.translate(_TO_PIXELS)
        first = _PAD * self.stride + _PAD
        return [pixels[first + y * self.stride:first + y * self.stride + self.size]
                for y in range(self.size)]

    def penalty(self, dark: int) -> int:
        """The penalty of a symbol as libzint's ``qr_evaluate`` counts it (ISO 18004 N1-N4)."""
        # Neighbours of the same colour, horizontally and vertically.
        same_h = self.pairs_h & ~(dark ^ (dark >> 1))
        same_v = self.pairs_v & ~(dark ^ (dark >> self.stride))
        return self._penalty(dark, same_h, same_v)

    def choose(self, unmasked: int, masks: list[int]) -> int:
        """The candidate ``unmasked ^ masks[k]`` of least penalty (a tie: the lower ``k``)."""
        # "Same colour as the right (lower) neighbour" is linear in the symbol: work out the
        # unmasked symbol's once and each mask's once per size, then one XOR per candidate.
        key = id(masks)
        if key not in self._flips:
            self._flips[key] = [(self.pairs_h & ~(m ^ (m >> 1)),
                                 self.pairs_v & ~(m ^ (m >> self.stride))) for m in masks]
        base_h = self.pairs_h & (unmasked ^ (unmasked >> 1))
        base_v = self.pairs_v & (unmasked ^ (unmasked >> self.stride))
        penalties = [self._penalty(unmasked ^ mask, base_h ^ flip_h, base_v ^ flip_v)
                     for mask, (flip_h, flip_v) in zip(masks, self._flips[key], strict=True)]
        return penalties.index(min(penalties))  # a tie keeps the lower mask, as libzint does

    def _penalty(self, dark: int, same_h: int, same_v: int) -> int:
        stride = self.stride
        light = self.inside ^ dark
        score = 3 * (same_h & (same_h >> stride) & same_v).bit_count()  # N2: 2x2 blocks
        for same, step in ((same_h, 1), (same_v, stride)):
            # N1: a run of n >= 5 costs n - 2; it holds n - 4 windows of 4 equal pairs.
            two = same & (same >> step)
            window = two & (two >> 2 * step)
            # (x ^ (x & y) is x & ~y without a negative number: 0.1 µs, not 0.3)
            score += window.bit_count() + 2 * (window ^ (window & (window << step))).bit_count()
        # N3: dark-light-dark-dark-dark-light-dark with 4 light modules (or the edge) before
        # or after it, 40 each.
        open_ = light | self.border
        for step in (1, stride):
            found = (dark & (light >> step) & (dark >> 2 * step) & (dark >> 3 * step)
                     & (dark >> 4 * step) & (light >> 5 * step) & (dark >> 6 * step))
            if found:
                four = open_ & (open_ >> step)
                four &= four >> 2 * step
                score += 40 * (found & ((four << 4 * step) | (four >> 7 * step))).bit_count()
        # N4: 10 per 5 % away from half dark, in floating point as libzint computes it.
        percentage = (100.0 * dark.bit_count()) / (self.size * self.size)
        return score + 10 * int(abs(percentage - 50.0) / 5.0)


@functools.cache
def _layout(size: int) -> Layout:
    return Layout(size)


#: (size, error correction level) -> symbol with mask k XOR symbol with mask 0, k = 0..7.
_FLIPS: dict[tuple[int, str], list[int]] = {}


def _flips(text: str, layout: Layout, level: str, mask0: int) -> list[int]:
    """What turns the mask-0 symbol into each mask's, learnt from the encoder once per size."""
    key = (layout.size, level)
    if key not in _FLIPS:
        flips = []
        for mask in range(8):
            size, other, pixels = _encode(text, mask)
            assert (size, other) == key  # the mask changes neither version nor level
            flips.append(layout.bits(pixels) ^ mask0)
        _FLIPS[key] = flips
    return _FLIPS[key]


def symbol(text: str) -> list[bytes]:
    """The QR symbol of ``text`` (error correction L): one ``bytes`` per row, 0 = dark.

    Raises ``ValueError`` when no QR code holds ``text``.
    """
    encoded = qrencode.encode(text)
    if encoded is None:  # not ASCII: zxing-cpp encodes it (ISO 8859-1 or Shift JIS)
        return _zxing_symbol(text)
    placement, unmasked = encoded
    best = _layout(placement.size).choose(unmasked, placement.masks)
    return placement.rows(unmasked ^ placement.masks[best])


def _zxing_symbol(text: str) -> list[bytes]:
    """:func:`symbol` by zxing-cpp's encoder with mask 0 and the mask chosen here."""
    size, level, pixels = _encode(text, 0)
    layout = _layout(size)
    mask0 = layout.bits(pixels)
    candidates = [mask0 ^ flip for flip in _flips(text, layout, level, mask0)]
    penalties = [layout.penalty(c) for c in candidates]
    best = penalties.index(min(penalties))  # a tie keeps the lower mask, as libzint does
    if best == 0:
        return [pixels[y * size:(y + 1) * size] for y in range(size)]
    return layout.rows(candidates[best])
