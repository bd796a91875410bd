"""The data and error correction codewords of a text, as libzint (inside zxing-cpp) makes them.

zxing-cpp encodes through libzint: 180 µs of a profile's 385 µs went to building its
``Barcode`` object, mostly in per-character work. The codewords here are the same, so every
symbol (:mod:`compiler.render.qrencode`) and build stays byte-identical; ``tests/test_qr.py``
compares the symbols on random texts of every version. What must match libzint exactly, and
how it is done at CPython speed:

* **Segments.** libzint chooses numeric, alphanumeric and byte segments with Project Nayuki's
  dynamic programme (``qr_define_modes``: costs in sixths of a bit, look-ahead of 3 digits or
  2 alphanumerics, ties to the first mode) once per group of versions (1-9, 10-26, 27-40: the
  count field widths). Its state is the same after every character that is only encodable in
  byte mode (a lower-case letter, ``=``, a newline), so the text splits there into *tokens*
  whose modes depend on the token alone, and on its characters' classes only (digit, other
  alphanumeric, byte-only): the programme runs once per distinct shape of token, a profile's
  recurring lines are one lookup each, and a token or line whose alphanumeric runs are too
  short to pay for leaving byte mode needs no programme at all.
* **Version.** libzint's search exactly: the version 40 estimate, the first version it fits,
  re-estimated, then smaller versions while the re-estimated data fits. Level L stays L
  (zxing-cpp names the level, so libzint does not raise it).
* **Terminator and padding.** libzint's: 4 zero bits, fewer when fewer are left in the last
  codeword; then ``0xEC 0x11``.
* **Reed-Solomon.** The remainder is linear over GF(2): the XOR of one precomputed value per
  (distance from the block's end, byte) and ecc length; blocks interleave by slice assignment.

Only ASCII texts are handled (a profile is ASCII): libzint converts others to ISO 8859-1 or
Shift JIS with rules of its own (U+0080 is not ISO 8859-1 to it).
"""

from __future__ import annotations

import functools
import operator
import re
from collections.abc import Sequence
from typing import Final

#: Error correction codewords per block at level L, versions 1-40 (ISO/IEC 18004 Table 9).
_ECC_PER_BLOCK: Final = (
    7, 10, 15, 20, 26, 18, 20, 24, 30, 18, 20, 24, 26, 30, 22, 24, 28, 30, 28, 28,
    28, 28, 30, 30, 26, 28, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30, 30)
#: Error correction blocks at level L, versions 1-40 (ISO/IEC 18004 Table 9).
_BLOCKS: Final = (
    1, 1, 1, 1, 1, 2, 2, 2, 2, 4, 4, 4, 4, 4, 6, 6, 6, 6, 7, 8,
    8, 9, 9, 10, 12, 12, 12, 13, 14, 15, 16, 17, 18, 19, 19, 20, 21, 22, 24, 25)

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


def version_size(version: int) -> int:
    """Modules on a side of a version's symbol."""
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
    size = version_size(version)
    result = size * size - 3 * 64 - 2 * (size - 16) - 31  # finders, timing, format, dark
    if version >= 2:
        align = version // 7 + 2
        result -= (align * align - 3) * 25 - 2 * (align - 2) * 5  # alignment, less timing
        if version >= 7:
            result -= 36  # version information
    return result


#: Total and data codewords per version (index 0 = version 1) at level L.
TOTAL: Final = tuple(_raw_modules(v) // 8 for v in range(1, 41))
DATA: Final = tuple(TOTAL[v] - _ECC_PER_BLOCK[v] * _BLOCKS[v] for v in range(40))


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
#: The modes of a text's first line (with its newline), per group.
_FIRST_LINES: Final[tuple[dict[bytes, str], ...]] = ({}, {}, {})


def _modes(data: bytes, group: int) -> str:
    """The modes libzint gives each character of ``data`` (ASCII or its classes) in ``group``."""
    newline = data.find(b"\n")
    if newline < 0:
        return _token_modes(data, group, first=True)
    lines = data[newline + 1:].split(b"\n")
    last = lines.pop()  # after the last newline
    first = data[:newline + 1]
    cached = _FIRST_LINES[group].get(first)
    if cached is None:
        cached = _token_modes(first, group, first=True)
        if len(_FIRST_LINES[group]) < 1000:  # a profile's is always "[Interface]"
            _FIRST_LINES[group][first] = cached
    parts = [cached]
    parts += map(_LINES[group].__getitem__, lines)
    if last:
        parts.append(_token_modes(last, group, first=False))
    return "".join(parts)


def _binlen(modes: str, group: int) -> int:
    """Bits of the segments (libzint's ``qr_calc_binlen``, no ECI)."""
    widths = _COUNT_BITS[group]
    if "N" not in modes and "A" not in modes:  # (most profiles): one byte segment
        return 4 + widths["B"] + 8 * len(modes)
    bits = 0
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


def choose(data: bytes) -> tuple[int, str] | None:
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
    if bits > 8 * DATA[39]:
        return None
    version = next(v for v in range(1, 41) if 8 * DATA[v - 1] >= bits)
    if version != 40:
        first = bits
        modes, bits = estimate(version)
        if first < bits:  # libzint: "shouldn't happen"; it falls back to version 40's modes
            modes, bits = estimate(40)
    while version > 1:
        smaller, smaller_bits = estimate(version - 1)
        if 8 * DATA[version - 2] < smaller_bits:
            break
        version, modes, bits = version - 1, smaller, smaller_bits
    return version, modes


# --- the data codewords ---------------------------------------------------------------------


def codewords(data: bytes, version: int, modes: str) -> bytes:
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
    target = DATA[version - 1]
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


class Blocks:
    """How a version splits, corrects and interleaves its data codewords."""

    def __init__(self, version: int) -> None:
        data, blocks = DATA[version - 1], _BLOCKS[version - 1]
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
