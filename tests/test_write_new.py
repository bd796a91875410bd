"""``write_new``: every byte written even when the kernel takes a write in parts, the mode exact.

``rewrite``: a file written over in place only when no other path can see it change.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from compiler.engine import write
from compiler.engine.cache import entry
from compiler.engine.write import rewrite, write_new


def test_a_write_taken_in_parts_is_finished(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    real = os.write
    calls: list[int] = []

    def short(fd: int, data: bytes | memoryview) -> int:  # at most 3 bytes a call
        calls.append(len(data))
        return real(fd, bytes(data[:3]))

    monkeypatch.setattr(os, "write", short)
    pieces = [b"0123456789", b"", b"abcdefg"]
    st = write_new(tmp_path / "f", pieces, 0o600)
    assert (tmp_path / "f").read_bytes() == b"0123456789abcdefg"
    assert calls == [10, 7, 4, 1, 0, 7, 4, 1]
    assert (st.st_size, stat.S_IMODE(st.st_mode)) == (17, 0o600)


def test_a_write_that_takes_nothing_is_a_full_disk_naming_the_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    with pytest.raises(OSError) as caught:
        write_new(tmp_path / "f", b"data", 0o644)
    assert (caught.value.strerror, caught.value.filename) == (
        "No space left on device", str(tmp_path / "f"))


@pytest.mark.parametrize("mask", [0o000, 0o022, 0o077, 0o777])
def test_the_mode_is_exact_whatever_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        for i, mode in enumerate((0o600, 0o644, 0o755)):
            st = write_new(tmp_path / f"f{i}", b"x", mode)
            assert stat.S_IMODE(os.stat(tmp_path / f"f{i}").st_mode) == mode
            assert stat.S_IMODE(st.st_mode) == mode  # the status returned is the final one
    finally:
        os.umask(old)


def test_a_file_only_this_build_has_is_written_over_in_place(tmp_path: Path) -> None:
    target = write_new(tmp_path / "manifest.json", b"a longer old text\n", 0o644)
    st = rewrite(tmp_path / "manifest.json", [b"new", b" text\n"], 0o644)
    assert (tmp_path / "manifest.json").read_bytes() == b"new text\n"  # the rest cut off
    assert st.st_ino == target.st_ino and st.st_size == 9
    assert stat.S_IMODE(st.st_mode) == 0o644


@pytest.mark.parametrize("other", ["hard link", "symlink", "mode", "folder", "missing"])
def test_a_file_others_may_see_is_replaced_not_written_through(
    tmp_path: Path, other: str
) -> None:
    target = tmp_path / "manifest.json"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"not yours\n")
    os.chmod(elsewhere, 0o644)
    if other == "hard link":
        os.link(elsewhere, target)
    elif other == "symlink":
        target.symlink_to(elsewhere)
    elif other == "mode":
        write_new(target, b"old\n", 0o600)
    elif other == "folder":
        (target / "inside").mkdir(parents=True)
    st = rewrite(target, b"new\n", 0o644)
    assert target.read_bytes() == b"new\n" and not target.is_symlink()
    assert (st.st_nlink, stat.S_IMODE(st.st_mode)) == (1, 0o644)
    assert elsewhere.read_bytes() == b"not yours\n"
    assert st.st_ino != elsewhere.stat().st_ino


def _never() -> Iterator[bytes]:
    """Pieces that must not be needed."""
    raise AssertionError("these pieces were not to be written or read")
    yield b""  # a generator  # pragma: no cover


@pytest.mark.parametrize("file", ["as-known", "touched", "hard link"])
def test_a_file_whose_start_is_known_gets_only_its_tail_written(
    tmp_path: Path, file: str
) -> None:
    """A spare's manifest still as verified keeps the pieces it shares with the new one."""
    target = tmp_path / "manifest.json"
    known = entry(write_new(target, b"head|old middle|old end", 0o644))
    if file == "touched":  # another mtime: its bytes are no longer known
        os.utime(target, ns=(known.mtime_ns + 1, known.mtime_ns + 1))
    elif file == "hard link":  # seen elsewhere: replaced by a new file, all of it written
        os.link(target, tmp_path / "elsewhere")
    calls: list[int] = []
    real = os.write

    def counting(fd: int, data: bytes | memoryview) -> int:
        calls.append(len(data))
        return real(fd, data)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(os, "write", counting)
        if file == "as-known":
            tail = write.Tail(5, known, iter([b"new!"]))
            st = rewrite(target, _never(), 0o644, tail)
        else:
            tail = write.Tail(5, known, _never())
            st = rewrite(target, [b"head|", b"new!"], 0o644, tail)
    written = b"head|new!"
    assert target.read_bytes() == written and st.st_size == len(written)
    assert calls == ([4] if file == "as-known" else [5, 4])
    assert (st.st_ino == known.ino) is (file != "hard link")
    if file == "hard link":
        assert (tmp_path / "elsewhere").read_bytes() == b"head|old middle|old end"


def test_same_parts_of_another_size_reads_neither_file_nor_pieces(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    write_new(path, b"abcdef", 0o644)
    assert write.same_parts(path, _never(), 0o644, size=7) is False
    assert write.same_parts(path, [b"abc", b"def"], 0o644, size=6) is True
