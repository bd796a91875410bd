"""QR codes (SPEC §10): every code decodes to exactly its profile; none fails a build.

The reader is independent of the writer: the SVG's path is interpreted here command by command
into pixels (not taken from the encoder's matrix), and zxing-cpp's *decoder* reads them. What
this proves: the SVG draws a QR symbol, with its quiet zone on white, that a standard reader
decodes to the profile's setting lines byte for byte. What it does not: how a given browser
rasterises SVG strokes (a 1-unit stroke on half-unit centres, crispEdges, is the usual form).
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
import zxingcpp
from hypothesis import given, settings
from hypothesis import strategies as st

from compiler.api import check, compile_tree
from compiler.checks.qr import QR_MAX_BYTES, qr_payload_size
from compiler.model.policy import Policy
from compiler.render import qr as qrcode
from compiler.render import qrdata, qrencode, qrmask
from tests.support.trees import (
    TEST_SECRET,
    build_file_tree,
    client,
    compile_estate,
    site,
)


def _pixels(svg: str, scale: int = 3) -> tuple[bytes, int]:
    """Rasterise the QR SVG by reading its path commands (white = 255, dark = 0)."""
    size = int(re.search(r'viewBox="0 0 (\d+) \1"', svg).group(1))  # type: ignore[union-attr]
    assert f'<rect width="{size}" height="{size}" fill="#fff"/>' in svg
    tx, ty = re.search(r'translate\((\d+) (\d+)\.5\)', svg).groups()  # type: ignore[union-attr]
    assert (tx, ty) == ("4", "4")  # the quiet zone: four modules of white on every side
    path = re.search(r' d="([^"]+)"', svg).group(1)  # type: ignore[union-attr]
    grid = [bytearray(b"\xff" * size) for _ in range(size)]
    x = y = 0
    for cmd, a, b in re.findall(r"([Mmh])(-?\d+)(?: (-?\d+))?", path):
        if cmd == "M":
            x, y = int(a), int(b)
        elif cmd == "m":
            x, y = x + int(a), y + int(b)
        else:
            for i in range(int(a)):
                grid[4 + y][4 + x + i] = 0
            x += int(a)
    # Nothing is drawn in the quiet zone.
    for row in (*grid[:4], *grid[-4:]):
        assert row == b"\xff" * size
    assert all(row[:4] == row[-4:] == b"\xff" * 4 for row in grid)
    out = bytearray()
    for row in grid:
        out += bytes(v for v in row for _ in range(scale)) * scale
    return bytes(out), size * scale


def decode(svg: str) -> bytes:
    """What a QR reader sees in ``svg``."""
    pixels, width = _pixels(svg)
    image = memoryview(pixels).cast("B", (width, width))
    found = zxingcpp.read_barcode(image)
    assert found is not None, "no QR code found"
    return bytes(found.bytes)


def _compile(tmp_path: Path, files: Mapping[str, object], secret: bytes | None = TEST_SECRET,
             ) -> Path:
    root = build_file_tree(tmp_path / "src", files)  # type: ignore[arg-type]
    out = tmp_path / "build"
    result = compile_tree(root, out, secret, qr=True)
    assert result.build is not None, [d.message for d in result.check.diagnostics]
    return out


def test_every_qr_code_decodes_to_exactly_its_profile(tmp_path: Path) -> None:
    out = _compile(tmp_path, compile_estate())
    svgs = sorted(out.glob("*/clients/*.svg"))
    assert [p.name for p in svgs] == ["alice.svg", "bob.svg"]
    for svg in svgs:
        profile = svg.with_suffix(".conf").read_text()
        payload = qrcode.payload(profile)
        assert decode(svg.read_text()) == payload.encode()
        assert not [line for line in payload.splitlines() if line.startswith("#") or not line]
        assert payload.startswith("[Interface]\nPrivateKey = ")
        # Every setting line of the profile is in the code, in order.
        assert payload.splitlines() == [
            line for line in profile.splitlines() if line and not line.startswith("#")]


def test_decoder_notices_a_broken_symbol() -> None:
    """The reader really reads: a symbol with a damaged finder pattern is not found."""
    rows = qrcode.matrix("[Interface]\nAddress = 10.0.0.2/32\n")
    assert rows is not None
    assert decode(qrcode.svg(rows)) == b"[Interface]\nAddress = 10.0.0.2/32\n"
    damaged = [b"\xff" * 7 + row[7:] if y < 7 else row for y, row in enumerate(rows)]
    with pytest.raises(AssertionError, match="no QR code found"):
        decode(qrcode.svg(damaged))


def test_no_qr_code_without_the_private_key_or_in_a_redacted_build(tmp_path: Path) -> None:
    out = _compile(tmp_path / "real", compile_estate())
    assert (out / "acme-eu/clients/dave.conf").exists()  # dave brings his own key
    assert not (out / "acme-eu/clients/dave.svg").exists()
    redacted = _compile(tmp_path / "redacted", compile_estate(), secret=None)
    assert (redacted / "acme-eu/clients/alice.conf").exists()
    assert list(redacted.glob("*/clients/*.svg")) == []


def _crowded(sites: int, aggregates: list[str] | None = None) -> dict[str, object]:
    """One hub with ``sites`` sites of two /24s each (not contiguous) and one split client."""
    routing: dict[str, object] = {"pushed_routes": ["10.0.0.0/16"]}
    if aggregates is not None:
        routing.update(aggregates=aggregates, allow_broad=True)
    files: dict[str, object] = {
        "vpn.yaml": {"domain": "vpn.example.net", "regions": ["fra"]},
        "hub/instance.yaml": {"hostname": "hub-one", "region": "fra",
                              "wireguard": {"network": "10.255.0.0/20"}, "routing": routing},
        "hub/peers/alice.yaml": client("alice@example.com", "10.255.0.2"),
    }
    for i in range(sites):
        nets = [f"10.{16 + i // 64}.{(i % 64) * 4}.0/24", f"10.{16 + i // 64}.{(i % 64) * 4 + 2}.0/24"]
        files[f"hub/peers/s{i}.yaml"] = site(f"s{i}", f"10.255.1.{i + 1}", nets)
    return files


def test_a_profile_too_large_gets_no_svg_and_a_warning_not_an_error(tmp_path: Path) -> None:
    files = _crowded(150)
    root = build_file_tree(tmp_path / "src", files)  # type: ignore[arg-type]
    result = check(root)
    got = [(d.code, d.severity.value, d.file.name, d.line, d.column, d.message)
           for d in result.diagnostics.sorted()]
    assert got == [
        ("qr-too-large", "warning", "alice.yaml", 1, 1,
         "the WireGuard profile of alice is 4,965 bytes without comments, more than a QR code "
         "holds (2,953): no .svg is written; declare routing.aggregates on the instance to "
         "shorten its AllowedIPs"),
    ]
    compiled = compile_tree(root, tmp_path / "build", TEST_SECRET, qr=True)
    assert compiled.build is not None
    conf = (tmp_path / "build/hub/clients/alice.conf").read_text()
    assert len(qrcode.payload(conf).encode()) == 4965
    assert not (tmp_path / "build/hub/clients/alice.svg").exists()


def test_aggregates_make_the_same_profile_fit(tmp_path: Path) -> None:
    root = build_file_tree(tmp_path / "src", _crowded(150, ["10.16.0.0/12"]))  # type: ignore[arg-type]
    assert [d.code for d in check(root).diagnostics] == []
    assert compile_tree(root, tmp_path / "build", TEST_SECRET, qr=True).build is not None
    svg = (tmp_path / "build/hub/clients/alice.svg").read_text()
    conf = (tmp_path / "build/hub/clients/alice.conf").read_text()
    assert "AllowedIPs = 10.0.0.0/16, 10.16.0.0/12, 10.255.0.0/20\n" in conf
    assert decode(svg) == qrcode.payload(conf).encode()


def test_the_limit_is_exact() -> None:
    assert qrcode.matrix("x" * QR_MAX_BYTES) is not None
    assert qrcode.matrix("x" * (QR_MAX_BYTES + 1)) is None


VARIANTS: dict[str, dict[str, Any]] = {
    "plain": {},
    "split-dns": {"dns": {"servers": ["10.0.0.53"], "domains": ["corp.example"], "split": True}},
    "hub-resolver": {"dns": {"servers": ["10.0.0.53"], "records": {"a.corp.example": "10.0.0.9"},
                             "domains": ["corp.example", "x.example"]}},
    "no-dns": {"dns": {}},
    "mtu": {"mtu": 1380},
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_checks_size_is_the_rendered_payload_length(tmp_path: Path, variant: str) -> None:
    """The size `mvpn check` works out is the length of the payload the compile encodes."""
    files = compile_estate()
    inst = dict(files["acme-eu/instance.yaml"])
    inst.update(VARIANTS[variant])
    files["acme-eu/instance.yaml"] = inst
    files["acme-eu/peers/erin.yaml"] = client("erin@example.com", "10.255.0.14",
                                              address6="fd00:255::14", access=["10.0.0.0/24"])
    out = _compile(tmp_path, dict(files))
    result = check(tmp_path / "src")
    inst_node = result.estate.instances["acme-eu"]
    policy = Policy(inst_node, list(inst_node.peers.values()))
    for name in ("alice", "bob", "dave", "erin"):
        conf = (out / f"acme-eu/clients/{name}.conf").read_text()
        payload = qrcode.payload(conf)
        if name == "dave":  # own key: a commented-out PrivateKey line, and no QR code at all
            payload = payload.replace("[Interface]\n", "[Interface]\nPrivateKey = " + "k" * 44
                                      + "\n")
        size = qr_payload_size(policy, inst_node.peers[name], result.estate.org)
        assert size == len(payload.encode()), name


# --- the mask chosen here is the encoder's own (compiler/render/qrmask.py) -----------------


def _encoders_own(text: str) -> list[bytes]:
    """The symbol zxing-cpp makes choosing the mask itself (the slow way qrmask replaces)."""
    code = zxingcpp.create_barcode(text, zxingcpp.BarcodeFormat.QRCode, ec_level="L")
    image = code.to_image(scale=1, add_quiet_zones=False)
    pixels, width = bytes(memoryview(image)), image.shape[1]  # type: ignore[arg-type]
    return [pixels[y * width:(y + 1) * width] for y in range(image.shape[0])]


#: Profile-like text: the characters the encoder's modes split on (digits, upper case, bytes).
_PROFILE_CHARS = st.sampled_from(list("0123456789ABCDEFabcdef:./=+, \n[]"))


@settings(max_examples=400, deadline=None)
@given(st.one_of(
    st.text(_PROFILE_CHARS, min_size=1, max_size=QR_MAX_BYTES),
    st.text(st.characters(codec="ascii", exclude_categories=["Cc"]), min_size=1,
            max_size=QR_MAX_BYTES),
    st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=200),
))
def test_the_mask_is_the_one_the_encoder_chooses(text: str) -> None:
    """Byte for byte the encoder's own symbol, for texts of every size (versions 1 to 40).

    Oracle: zxing-cpp choosing the mask itself. The penalties are libzint's, so a rule that
    differed (an off-by-one run, the edge in the finder rule, a tie) shows as another mask.
    """
    try:
        expected = _encoders_own(text)
    except ValueError:  # too long for any QR code
        assert qrcode.matrix(text) is None
        return
    assert qrcode.matrix(text) == expected


def test_every_mask_is_chosen_somewhere() -> None:
    """The candidates are all reachable (a flip table that broke one would go unnoticed)."""
    chosen: set[int] = set()
    rnd = random.Random(3)  # fixed texts: 400 of them choose every mask (the rarest 5 times)
    for _ in range(400):
        text = "".join(rnd.choices(string.ascii_letters + string.digits + "/=+:.\n ",
                                   k=rnd.randint(20, 600)))
        rows = qrcode.matrix(text)
        assert rows is not None
        size = len(rows)
        (mask,) = [k for k in range(8) if qrmask._encode(text, k)[2] == b"".join(rows)]
        chosen.add(mask)
        assert size == qrmask._encode(text, mask)[0]
    assert chosen == set(range(8))


def _svg_reference(rows: list[bytes]) -> str:
    """The SVG path drawn module by module, the plain way (qr.svg looks runs up)."""
    parts, pen_x, pen_y = [], 0, 0
    for y, row in enumerate(rows):
        x = 0
        while x < len(row):
            if row[x]:
                x += 1
                continue
            start = x
            while x < len(row) and not row[x]:
                x += 1
            parts.append(f"m{start - pen_x} {y - pen_y}h{x - start}")
            pen_x, pen_y = x, y
    return f' d="M0 0{"".join(parts)}"/>'


@settings(max_examples=200, deadline=None)
@given(st.lists(st.binary(min_size=9, max_size=9), min_size=1, max_size=9))
def test_the_svg_path_draws_every_dark_run(raw: list[bytes]) -> None:
    rows = [bytes(0 if b & 1 else 255 for b in row) for row in raw]
    assert _svg_reference(rows) in qrcode.svg(rows)


@pytest.mark.parametrize("shape", [
    ["....", "#..#"],  # a first row without dark modules
    ["#...", "....", "....", "..##"],  # rows without dark modules between
    ["...#", "#...", "####", "....", "#.#."],
    ["....", "...."],
])
def test_the_svg_path_skips_rows_without_dark_modules(shape: list[str]) -> None:
    rows = [row.replace(".", "\xff").replace("#", "\x00").encode("latin-1") for row in shape]
    assert _svg_reference(rows) in qrcode.svg(rows)


# --- our encoder is zxing-cpp's symbol, bit for bit (compiler/render/qrencode.py) ----------


def _byte_capacity(version: int) -> int:
    """Bytes a version holds at level L in one byte segment (mode 4 bits, count 8 or 16)."""
    count = 8 if version < 10 else 16
    return (8 * qrdata.DATA[version - 1] - 4 - count) // 8


def test_the_capacities_are_the_standards() -> None:
    """ISO/IEC 18004 Table 7, level L byte mode, versions 1, 10, 27 and 40."""
    assert [_byte_capacity(v) for v in (1, 10, 27, 40)] == [17, 271, 1465, QR_MAX_BYTES]


@pytest.mark.parametrize("version", range(1, 41))
def test_every_version_at_its_capacity_edge(version: int) -> None:
    """The most a version holds is that version; one byte more is the next (or no code)."""
    rnd = random.Random(version)
    edge = _byte_capacity(version)
    for length in (edge, edge + 1):
        text = "".join(rnd.choices(string.ascii_lowercase + "=[]\n", k=length))  # byte mode
        rows = qrcode.matrix(text)
        if length > QR_MAX_BYTES:
            assert rows is None
            with pytest.raises(ValueError, match="no QR code holds the text"):
                qrencode.encode(text)
            continue
        assert rows == _encoders_own(text)
        assert len(rows) == 17 + 4 * (version + (length > edge))


#: Runs that make libzint switch modes: digits (numeric), upper case and `` $%*+-./:``
#: (alphanumeric), and characters only byte mode holds.
_RUN = st.tuples(st.sampled_from(["0123456789", "ABCXYZ09 $%*+-./:", "az=[]\n,"]),
                 st.integers(1, 30))


@settings(max_examples=300, deadline=None)
@given(st.lists(_RUN, min_size=1, max_size=120), st.randoms(use_true_random=False))
def test_segments_are_the_ones_libzint_chooses(runs: list[tuple[str, int]],
                                               rnd: random.Random) -> None:
    """Texts of runs of each mode's characters: the same segments, version and symbol.

    Oracle: zxing-cpp (libzint) choosing segments and mask itself. A cost, look-ahead or tie
    that differed from libzint's shows as other bits or another size.
    """
    text = "".join("".join(rnd.choices(chars, k=n)) for chars, n in runs)
    try:
        expected = _encoders_own(text)
    except ValueError:
        assert qrcode.matrix(text) is None
        return
    assert qrencode.encode(text) is not None
    assert qrcode.matrix(text) == expected


def test_ascii_never_asks_zxing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Our encoder is the hot path: zxing-cpp's only for texts that are not ASCII."""
    def refuse(text: str, mask: int) -> None:
        raise AssertionError(f"zxing-cpp asked for {text!r}")

    monkeypatch.setattr(qrmask, "_encode", refuse)
    assert qrcode.matrix("[Interface]\nAddress = 10.0.0.2/32\n") is not None
    with pytest.raises(AssertionError, match="zxing-cpp asked for 'é'"):
        qrcode.matrix("é")


def test_real_profiles_are_the_encoders_own(tmp_path: Path) -> None:
    """The example estate's profiles, through our encoder, are zxing-cpp's symbols."""
    out = _compile(tmp_path, compile_estate())
    for svg in sorted(out.glob("*/clients/*.svg")):
        payload = qrcode.payload(svg.with_suffix(".conf").read_text())
        assert qrencode.encode(payload) is not None
        rows = qrcode.matrix(payload)
        assert rows == _encoders_own(payload)
        assert qrcode.svg(rows) in svg.read_text()


def _numeric_bits(version: int, digits: int) -> int:
    count = 10 if version < 10 else 12 if version < 27 else 14
    return 4 + count + 10 * (digits // 3) + (0, 4, 7)[digits % 3]


@pytest.mark.parametrize("version", range(1, 41))
def test_every_version_at_its_numeric_edge(version: int) -> None:
    """Digits only (one numeric segment) filling a version to the bit, and one digit more.

    At the edge the data ends in the last codeword or leaves fewer than 4 bits for the
    terminator: the version choice (``>=``) and the shortened terminator are libzint's.
    """
    rnd = random.Random(version)
    fits = max(n for n in range(1, 7090) if _numeric_bits(version, n) <= 8 * qrdata.DATA[
        version - 1])
    for length in (fits, fits + 1):
        text = "".join(rnd.choices(string.digits, k=length))
        if length > 7089:  # the most digits a QR code holds
            with pytest.raises(ValueError):
                qrmask.symbol(text)
            continue
        expected = _encoders_own(text)  # (matrix() stops at 2,953 characters: the bytes)
        assert qrmask.symbol(text) == expected
        assert len(expected) == 17 + 4 * (version + (length > fits))


#: Characters of one mode each: numeric, alphanumeric (not digits), byte only.
_MODE_CHARS = {"N": "0123456789", "A": "ABCXYZ $%*+-./:", "B": "az=[]\n,"}


@pytest.mark.parametrize("filler", [0, 300, 1400])  # versions 1-9, 10-26, 27-40
def test_segment_break_even_points(filler: int) -> None:
    """A run of one mode's characters inside another's, 1 to 24 long, at the text's end or not.

    Around the lengths where switching modes starts to pay (6 digits among bytes, 10
    alphanumerics, ...) the choice hangs on libzint's exact costs in sixths of a bit, its
    look-ahead and its ties: every cost that differs shows here as another symbol.
    """
    rnd = random.Random(filler)
    checked = 0
    for outer, inner in [(o, i) for o in _MODE_CHARS for i in _MODE_CHARS if o != i]:
        for n in range(1, 25):
            for tail in (True, False):
                text = "".join(rnd.choices(_MODE_CHARS["B"], k=filler))
                text += "".join(rnd.choices(_MODE_CHARS[outer], k=12))
                text += "".join(rnd.choices(_MODE_CHARS[inner], k=n))
                if tail:
                    text += "".join(rnd.choices(_MODE_CHARS[outer], k=12))
                assert qrmask.symbol(text) == _encoders_own(text), (outer, inner, n, tail)
                checked += 1
    assert checked == 6 * 24 * 2
