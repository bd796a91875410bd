"""QR codes of WireGuard client profiles, as SVG: what the mobile apps scan (SPEC §10).

The payload is the profile without its comment and blank lines (headers, user names and
descriptions do not belong in a code a phone reads, and every byte makes it denser). The
symbol comes from zxing-cpp's encoder (error correction L); measured on a typical profile
(357 bytes) on the build machine: zxing-cpp 1.7 ms, segno 6.4 ms with a fixed mask and 15 ms
choosing the mask, the way the QR standard asks for. The SVG is drawn here from the module
matrix: dark modules on an opaque white background with the four-module quiet zone the standard
requires (a transparent code is unscannable on a dark screen), one path, no timestamps, so the
same profile always gives the same bytes.

A payload no QR code holds gets no code at all (``None``); `mvpn check` says so in advance
(``qr-too-large``, :mod:`compiler.checks.qr`). A build never fails on a QR code.
"""

from __future__ import annotations

from typing import Final

import zxingcpp

from compiler.checks.qr import QR_MAX_BYTES

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
        code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="L")
    except ValueError:  # too long after all (the encoder's own count): no code, no failure
        return None
    image = code.to_image(scale=1, add_quiet_zones=False)
    height, width = image.shape[0], image.shape[1]
    pixels = bytes(memoryview(image))  # type: ignore[arg-type]  # a buffer; the stub omits it
    return [pixels[y * width:(y + 1) * width] for y in range(height)]


def svg(rows: list[bytes]) -> str:
    """The symbol as SVG: a white square with the quiet zone, dark runs as one stroked path."""
    size = len(rows) + 2 * QUIET_ZONE
    parts: list[str] = []
    # Relative moves keep the path short: "m<dx> <dy>h<run>" from the end of the last run.
    pen_x, pen_y = 0, 0
    for y, row in enumerate(rows):
        x, width = 0, len(row)
        while x < width:
            if row[x]:
                x += 1
                continue
            start = x
            while x < width and not row[x]:
                x += 1
            parts.append(f"m{start - pen_x} {y - pen_y}h{x - start}")
            pen_x, pen_y = x, y
    pixels = size * SCALE
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{pixels}" height="{pixels}" '
            f'viewBox="0 0 {size} {size}" shape-rendering="crispEdges">'
            f'<rect width="{size}" height="{size}" fill="#fff"/>'
            f'<path stroke="#000" transform="translate({QUIET_ZONE} {QUIET_ZONE}.5)" '
            f'd="M0 0{"".join(parts)}"/></svg>')
