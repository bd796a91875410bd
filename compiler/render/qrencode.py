"""A QR encoder (ISO/IEC 18004, error correction L) that makes zxing-cpp's symbol, faster.

zxing-cpp encodes through libzint: 180 µs of a profile's 385 µs went to building its
``Barcode`` object, mostly in per-character work. The symbol here is the same bit for bit, so
every code and build stays byte-identical; ``tests/test_qr.py`` compares both on random texts
of every version. What must match libzint exactly, and how it is done at CPython speed:

* **Segments.** libzint chooses numeric, alphanumeric and byte segments with Project Nayuki's
  dynamic programme (``qr_define_modes``: costs in sixths of a bit, look-ahead of 3 digits or
  2 alphanumerics, ties to the first mode) once per group of versions (1-9, 10-26, 27-40: the
  count field widths). Its state is the same after every character that is only encodable in
  byte mode (a lower-case letter, ``=``, a newline), so the text splits there into *tokens*
  whose modes depend on the token alone: the programme runs once per distinct token (a build
  meets the same lines and key fragments again and again) and a text's modes are a join.
* **Version.** libzint's search exactly: the version 40 estimate, the first version it fits,
  re-estimated, then smaller versions while the re-estimated data fits. Level L stays L.
* **Reed-Solomon.** The remainder is linear over GF(2): the XOR of one precomputed value per
  (distance from the block's end, byte) and ecc length.
* **Placement.** The zig-zag visits every module of each two-column strip; with the function
  modules' values spliced into the bit string (one C-level ``itemgetter`` of slices) each
  column is then one stepped slice. The layout is column-major, i.e. the symbol mirrored on
  its anti-diagonal: the mask penalties are the same for it (each rule is symmetric), and the
  rows are stepped slices of the chosen one.
* **Mask.** Per version, each mask's flips (data modules only) with its format bits, and
  :meth:`compiler.render.qrmask.Layout.penalty` (libzint's rules) chooses, ties to the lower.

Only ASCII texts are encoded here (a profile is ASCII): libzint converts others to ISO 8859-1
or Shift JIS with rules of its own (U+0080 is not ISO 8859-1 to it), so :func:`encode` returns
``None`` for them and the caller asks zxing-cpp.
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Callable, Sequence
from typing import Final

#: Error correction codewords per block at level L, versions 1-40 (ISO/IEC 18004 Table 9).
_ECC_PER_BLOCK: Final = (
    7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
    28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30)
#: Error correction blocks at level L, versions 1-40 (ISO/IEC 18004 Table 9).
_BLOCKS: Final = (
    1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
    8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25)

#: Light modules around the symbol in the bit layout (the finder-pattern rule looks 4 beyond).
PAD: Final = 4

#: The alphanumeric set (ISO/IEC 18004 Table 5), in value order.
_ALNUM: Final = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ $%*+-./:"
_ALNUM_VALUE: Final = {c: i for i, c in enumerate(_ALNUM)}
_DIGITS: Final = frozenset(b"0123456789")
_ALPHA: Final = frozenset(_ALNUM)
#: A run of characters another mode could take, then characters only byte mode takes (or the
#: end): after those the mode programme's state is always the same.
_TOKEN: Final = re.compile(rb"[0-9A-Z $%*+\-./:]*(?:[^0-9A-Z $%*+\-./:]+|\Z)")
#: Runs of one mode in a text's modes (``N``umeric, ``A``lphanumeric, ``B``yte).
_SEGMENT: Final = re.compile(r"N+|A+|B+")


def _version_size(version: int) -> int:
    return 17 + 4 * version


def _group(version: int) -> int:
    """The count-field width group of a version: 1-9, 10-26, 27-40."""
    return 0 if version < 10 else 1 if version < 27 else 2


#: Count field bits per mode (numeric, alphanumeric, byte) and group.
_COUNT_BITS: Final = ({"N": 10, "A": 9, "B": 8}, {"N": 12, "A": 11, "B": 16},
                      {"N": 14, "A": 13, "B": 16})
#: libzint's head (= switch) costs in sixths of a bit, per group: N, A, B, K.
_HEAD: Final = ((84, 78, 72, 72), (96, 90, 120, 84), (108, 102, 120, 96))
_MODES: Final = "NABK"


def _raw_modules(version: int) -> int:
    """Modules left for data and error correction (Nayuki's formula, ISO/IEC 18004 Table 1)."""
    size = _version_size(version)
    result = size * size - 3 * 64 - 2 * (size - 16) - 31  # finders, timing, format, dark
    if version >= 2:
        align = version // 7 + 2
        result -= (align * align - 3) * 25 - 2 * (align - 2) * 5  # alignment, less timing
        if version >= 7:
            result -= 36  # version information
    return result


#: Total and data codewords per version (index 0 = version 1) at level L.
_TOTAL: Final = tuple(_raw_modules(v) // 8 for v in range(1, 41))
_DATA: Final = tuple(_TOTAL[v] - _ECC_PER_BLOCK[v] * _BLOCKS[v] for v in range(40))


# --- segmentation: libzint's qr_define_modes ----------------------------------------------


def _define_modes(data: bytes, start: Sequence[int], head: Sequence[int], at_end: bool) -> str:
    """The modes of ``data`` from cost state ``start``, as libzint's ``qr_define_modes``.

    ``at_end``: ``data`` ends the text (the last character costs more in alphanumeric mode,
    and the cheapest final mode is chosen); otherwise ``data`` ends with a byte-only character,
    whose modes are all ``B``, and the trace starts there.
    """
    prev = list(start)
    length = len(data)
    n_end = n_cost = a_end = a_cost = 0
    trace: list[list[str]] = []
    for i, char in enumerate(data):
        cost = [0, 0, 0, 0]
        modes = ["", "", "", ""]
        # Numeric: the cost per digit of the group of up to 3 that starts a run.
        numeric = i < n_end
        if not numeric:
            count = 0
            while count < 3 and i + count < length and data[i + count] in _DIGITS:
                count += 1
            n_end = i + count if count else 0
            n_cost = 24 if count == 1 else 21 if count == 2 else 20
            numeric = count > 0
        if numeric:
            cost[0], modes[0] = prev[0] + n_cost, "N"
        last = at_end and i + 1 == length
        alpha = i < a_end
        if alpha:
            a_cost = 36 if last else 33
        elif char in _ALPHA:
            two = not last and data[i + 1] in _ALPHA
            a_end = i + 2 if two else i + 1
            a_cost = 33 if two else 36
            alpha = True
        else:
            a_end = 0
        if alpha:
            cost[1], modes[1] = prev[1] + a_cost, "A"
        cost[2], modes[2] = prev[2] + 48, "B"
        # Start a new segment after this character: the switch costs are the head costs.
        for j in range(4):
            for k in range(4):
                if j != k and modes[k]:
                    new = cost[k] + head[j]
                    if not modes[j] or new < cost[j]:
                        cost[j], modes[j] = new, _MODES[k]
        trace.append(modes)
        prev = cost
    mode = "B"
    if at_end:
        mode = _MODES[prev.index(min(prev))]  # the first of equal costs, as libzint
    out = []
    for modes in reversed(trace):
        mode = modes[_MODES.index(mode)]
        out.append(mode)
    return "".join(reversed(out))


#: The most a character saves over byte mode (48) in numeric (20) or alphanumeric mode (33),
#: in libzint's sixths of a bit.
_SAVING_N: Final = 28
_SAVING_A: Final = 15


class _Tokens(dict[bytes, str]):
    """The modes of a token that neither starts nor ends its text, for one version group."""

    def __init__(self, group: int) -> None:
        super().__init__()
        self.head = _HEAD[group]
        n, a, b, k = self.head
        self.state = (n, a, 0, k)  # the state after a byte-only character (relative to B)
        # The least a detour from byte mode costs: a switch to another mode and back.
        self.detour = min(n, a) + b

    def __missing__(self, token: bytes) -> str:
        run = token[:len(token) - len(token.lstrip(_ALNUM))]
        digits = len(run) - len(run.translate(None, b"0123456789"))
        if _SAVING_N * digits + _SAVING_A * (len(run) - digits) < self.detour:
            modes = "B" * len(token)  # no other mode can pay for its switches
        else:
            modes = _define_modes(token, self.state, self.head, at_end=False)
        if len(self) < 200_000:  # a bound on memory: a build meets far fewer tokens
            self[token] = modes
        return modes


_TOKENS: Final = tuple(_Tokens(g) for g in range(3))


def _token_modes(data: bytes, group: int, first: bool) -> str:
    """The modes of ``data``, the end of a text, token by token.

    ``first``: ``data`` starts the text (from the head costs); otherwise it follows a
    byte-only character.
    """
    tokens = _TOKEN.findall(data)
    if tokens and not tokens[-1]:
        tokens.pop()  # the empty match at the end
    table, head = _TOKENS[group], _HEAD[group]
    parts = []
    for index, token in enumerate(tokens):
        at_end = index == len(tokens) - 1 and token[-1] in _ALPHA  # ends in a run
        if index == 0 and first:
            parts.append(_define_modes(token, head, head, at_end))
        elif at_end:
            parts.append(_define_modes(token, table.state, head, at_end))
        else:
            parts.append(table[token])
    return "".join(parts)


class _Lines(dict[bytes, str]):
    """The modes of a line (without its newline) that follows a newline, for one group.

    A profile's lines recur (the hub's key, endpoint and routes in every profile of an
    instance): one lookup each instead of one per token.
    """

    def __init__(self, group: int) -> None:
        super().__init__()
        self.tokens = tokens = _TOKENS[group]
        # Alphanumeric runs too short to pay for a detour even if all digits need no work.
        shortest = -(-tokens.detour // _SAVING_N)
        self.long_run = re.compile(rb"[0-9A-Z $%*+\-./:]{" + str(shortest).encode() + b",}")

    def __missing__(self, line: bytes) -> str:
        if not self.long_run.search(line):  # (most lines): nothing pays for a detour
            return "B" * (len(line) + 1)
        tokens = _TOKEN.findall(line + b"\n")
        modes = "".join(map(self.tokens.__getitem__, tokens[:-1]))  # the last: b""
        if len(self) < 100_000:  # a bound on memory: a build meets far fewer lines
            self[line] = modes
        return modes


_LINES: Final = tuple(_Lines(g) for g in range(3))


def _modes(data: bytes, group: int) -> str:
    """The modes libzint gives each character of ``data`` (ASCII or its classes) in ``group``."""
    newline = data.find(b"\n")
    if newline < 0:
        return _token_modes(data, group, first=True)
    lines = data[newline + 1:].split(b"\n")
    last = lines.pop()  # after the last newline
    parts = [_token_modes(data[:newline + 1], group, first=True)]
    parts += map(_LINES[group].__getitem__, lines)
    if last:
        parts.append(_token_modes(last, group, first=False))
    return "".join(parts)


def _binlen(modes: str, group: int) -> int:
    """Bits of the segments (libzint's ``qr_calc_binlen``, no ECI)."""
    bits = 0
    widths = _COUNT_BITS[group]
    for match in _SEGMENT.finditer(modes):
        mode = modes[match.start()]
        n = match.end() - match.start()
        bits += 4 + widths[mode]
        if mode == "B":
            bits += 8 * n
        elif mode == "A":
            bits += 11 * (n // 2) + 6 * (n % 2)
        else:
            bits += 10 * (n // 3) + (0, 4, 7)[n % 3]
    return bits


#: A character's class is all the mode programme looks at: a digit, another alphanumeric, or
#: a byte-only character. The programme works on classes, so that one address or key fragment
#: stands for every other with its shape (the cache hits).
_CLASSES: Final = bytes(48 if c in _DIGITS else 65 if c in _ALPHA else 10 if c == 10 else 98
                        for c in range(256))  # (newlines kept: where lines are cut)


def _choose(data: bytes) -> tuple[int, str] | None:
    """(version, modes) as libzint's ``zint_qrcode`` chooses them; ``None`` if too long."""
    cache: dict[int, tuple[str, int]] = {}
    classes = data.translate(_CLASSES)

    def estimate(version: int) -> tuple[str, int]:
        group = _group(version)
        if group not in cache:
            modes = _modes(classes, group)
            cache[group] = (modes, _binlen(modes, group))
        return cache[group]

    modes, bits = estimate(40)
    if bits > 8 * _DATA[39]:
        return None
    version = next(v for v in range(1, 41) if 8 * _DATA[v - 1] >= bits)
    if version != 40:
        first = bits
        modes, bits = estimate(version)
        if first < bits:  # libzint: "shouldn't happen"; it falls back to version 40's modes
            modes, bits = estimate(40)
    while version > 1:
        smaller, smaller_bits = estimate(version - 1)
        if 8 * _DATA[version - 2] < smaller_bits:
            break
        version, modes, bits = version - 1, smaller, smaller_bits
    return version, modes


# --- the data codewords ---------------------------------------------------------------------


def _codewords(data: bytes, version: int, modes: str) -> bytes:
    """The data codewords: segments, terminator, padding (libzint's ``qr_binary_segs``)."""
    widths = _COUNT_BITS[_group(version)]
    acc = 0
    nbits = 0
    for match in _SEGMENT.finditer(modes):
        start, end = match.span()
        mode = modes[start]
        n = end - start
        width = widths[mode]
        if mode == "B":
            acc = (((acc << 4 | 4) << width | n) << 8 * n) | int.from_bytes(data[start:end])
            nbits += 4 + width + 8 * n
            continue
        acc = (acc << 4 | (2 if mode == "A" else 1)) << width | n
        nbits += 4 + width
        chunk = data[start:end]
        if mode == "A":
            values = [_ALNUM_VALUE[c] for c in chunk]
            for i in range(0, n - 1, 2):
                acc = acc << 11 | values[i] * 45 + values[i + 1]
            nbits += 11 * (n // 2)
            if n % 2:
                acc = acc << 6 | values[-1]
                nbits += 6
        else:
            for i in range(0, n, 3):
                group = chunk[i:i + 3]
                width = (0, 4, 7, 10)[len(group)]
                acc = acc << width | int(group)
                nbits += width
    target = _DATA[version - 1]
    # Terminator: 4 zero bits, fewer when the last codeword has room for only those.
    term = -nbits % 8
    full = (nbits + term) // 8
    if term or full < target:
        term = term if term < 4 and full == target else 4
        acc <<= term
        nbits += term
    pad = -nbits % 8
    acc <<= pad
    nbits += pad
    count = nbits // 8
    return acc.to_bytes(count) + (b"\xec\x11" * target)[:target - count]


# --- Reed-Solomon ------------------------------------------------------------------------------


def _gf_tables() -> tuple[list[int], list[int]]:
    exp = [0] * 512
    log = [0] * 256
    value = 1
    for i in range(255):
        exp[i] = value
        log[value] = i
        value <<= 1
        if value & 0x100:
            value ^= 0x11D
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    return exp, log


_EXP, _LOG = _gf_tables()


def _generator(degree: int) -> list[int]:
    """Coefficients of prod (x - a^i), i < degree, highest power first (leading 1 dropped)."""
    poly = [1]
    for i in range(degree):
        nxt = [0] * (len(poly) + 1)
        for j, coef in enumerate(poly):
            nxt[j] ^= coef
            if coef:
                nxt[j + 1] ^= _EXP[_LOG[coef] + i]
        poly = nxt
    return poly[1:]


class _Remainders:
    """Per ecc length ``e``: ``rows[k][b]`` = remainder of ``b * x^(k + e)`` as an integer.

    A block's error correction is the XOR over its bytes of ``rows[distance from the end]``.
    """

    def __init__(self, degree: int) -> None:
        self.degree = degree
        gen = _generator(degree)
        first = []
        for byte in range(256):  # b * x^e mod g: one step of the usual division
            if not byte:
                first.append(0)
                continue
            factor = _LOG[byte]
            rem = 0
            for coef in gen:
                rem = rem << 8 | (_EXP[_LOG[coef] + factor] if coef else 0)
            first.append(rem)
        self.rows = [first]

    def rows_for(self, length: int) -> list[list[int]]:
        """Rows for a block of ``length`` bytes, in the block's order (first byte first)."""
        rows, top = self.rows, 8 * (self.degree - 1)
        mask = (1 << 8 * self.degree) - 1
        first = rows[0]
        while len(rows) < length:
            prev = rows[-1]
            rows.append([((r << 8) & mask) ^ first[r >> top] for r in prev])
        return rows[length - 1::-1]


@functools.cache
def _remainders(degree: int) -> _Remainders:
    return _Remainders(degree)


class _Blocks:
    """How a version splits, corrects and interleaves its data codewords."""

    def __init__(self, version: int) -> None:
        data, blocks = _DATA[version - 1], _BLOCKS[version - 1]
        self.blocks = blocks
        self.ecc = ecc = _ECC_PER_BLOCK[version - 1]
        self.short = short = data // blocks
        self.shorts = shorts = blocks - data % blocks
        self.spans = []
        start = 0
        rem = _remainders(ecc)
        self.rows = {short: rem.rows_for(short), short + 1: rem.rows_for(short + 1)}
        for i in range(blocks):
            length = short + (i >= shorts)
            self.spans.append((start, start + length))
            start += length
        self.data = data

    def stream(self, data: bytes) -> bytes:
        """Data and error correction codewords, interleaved in placement order."""
        blocks, ecc, short = self.blocks, self.ecc, self.short
        xor, getitem = operator.xor, operator.getitem
        if blocks == 1:
            rows = self.rows[short]
            return data + functools.reduce(xor, map(getitem, rows, data)).to_bytes(ecc)
        out = bytearray(self.data + blocks * ecc)
        tail = short * blocks
        eccs = bytearray(blocks * ecc)
        for i, (start, end) in enumerate(self.spans):
            block = data[start:end]
            out[i:tail:blocks] = block[:short]
            if end - start > short:
                out[tail + i - self.shorts] = block[short]
            eccs[i::blocks] = functools.reduce(
                xor, map(getitem, self.rows[end - start], block)).to_bytes(ecc)
        out[self.data:] = eccs
        return bytes(out)


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
    size = _version_size(version)
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
    size = _version_size(version)
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
        self.size = size = _version_size(version)
        self.stride = stride = size + 2 * PAD
        self.blocks = _Blocks(version)
        functions = _function_modules(version)
        order, strips = _zigzag(size)
        data_bits = 8 * _TOTAL[version - 1]
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
    chosen = _choose(data)
    if chosen is None:
        raise ValueError("no QR code holds the text")
    version, modes = chosen
    layout = symbol_layout(version)
    return layout, layout.unmasked(_codewords(data, version, modes))
