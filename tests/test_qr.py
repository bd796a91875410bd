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
from compiler.render import qrmask
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
