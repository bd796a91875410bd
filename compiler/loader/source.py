"""A file of the config tree: YAML text with lazy positions, or another file read on demand."""

from __future__ import annotations

import os
import stat
from collections import OrderedDict
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import Any, Final

from compiler.diagnostics import Diagnostics
from compiler.loader.yamlread import Positions, line_starts, parse

#: The largest file the loader reads (SPEC §2); larger YAML is refused, larger others skipped.
MAX_BYTES: Final = 1 << 20


def split_lines(text: str) -> list[str]:
    """Lines as editors and GitHub count them: only LF, CRLF and CR end one."""
    starts = line_starts(text)
    ends = [*starts[1:], len(text)]
    return [text[a:b].rstrip("\r\n") for a, b in zip(starts, ends, strict=True)]


#: How many files keep their node positions between diagnostics (least recently used go).
_RECENT_FILES: Final = 64
_RECENT: OrderedDict[int, tuple[SourceFile, Positions]] = OrderedDict()


class SourceFile:
    """One file of the tree: its text, and (for YAML) its parsed value.

    ``ok`` is false when the YAML could not be parsed; a diagnostic says why.
    """

    def __init__(self, path: Path, text: str, data: Any = None, ok: bool = True) -> None:
        self.path = path
        self.text = text
        self.ok = ok
        self._data = data
        self._released = False

    def __repr__(self) -> str:
        return f"SourceFile({str(self.path)!r})"

    @property
    def data(self) -> Any:
        """The parsed value (parsed again from the text when it was released)."""
        if self._released:
            self._data, self._released = parse(self.text), False
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data, self._released = value, False

    def release(self) -> None:
        """Drop the parsed value: the file's model is built and holds what it says.

        The parsed values of 100k peer files are about 115 MiB that only ``mvpn allocate``
        reads again (it gets them parsed anew). Freed as each model is built, their memory
        holds the next models instead of adding to the heap.
        """
        if self.ok:
            self._data, self._released = None, True

    @cached_property
    def lines(self) -> list[str]:
        """The file's lines as editors count them (LF, CRLF, CR), for quoting."""
        return split_lines(self.text)

    @property
    def positions(self) -> Positions:
        """Node positions, composed on the first diagnostic that needs them.

        Kept for the files that had a diagnostic most recently (not on the file itself): a
        file with 10,000 diagnostics is composed once, and a 100k-file tree with a warning in
        every file does not keep 100k node trees alive.
        """
        found = _RECENT.get(id(self))
        if found is not None and found[0] is self:
            _RECENT.move_to_end(id(self))
            return found[1]
        positions = Positions(self.text)
        _RECENT[id(self)] = (self, positions)
        if len(_RECENT) > _RECENT_FILES:
            _RECENT.popitem(last=False)
        return positions

    def pos(self, loc: Sequence[str | int], key: bool = False) -> tuple[int, int]:
        """1-based (line, column) of the value at ``loc`` (of its key when ``key``)."""
        if not loc and not key:
            return (1, 1)
        return self.positions.locate(loc, key=key)

    def report(
        self,
        diags: Diagnostics,
        code: str,
        message: str,
        loc: Sequence[str | int] = (),
        key: bool = False,
    ) -> None:
        """Add a diagnostic pointing at ``loc`` in this file."""
        line, column = self.pos(loc, key)
        diags.add(code, message, self.path, line, column)


class OtherFile(SourceFile):
    """A file outside the layout (README, a PDF): stat'ed by the loader, never kept in memory.

    The secret scan reads it once (:meth:`read_text`, at most 1 MiB, one file at a time) and
    drops the text; ``lines`` reads it again only to quote a line a diagnostic points at.
    """

    def __init__(self, path: Path, real: Path, size: int) -> None:
        super().__init__(path, "")
        self.real = real
        self.size = size

    def read_text(self) -> str:
        """The file's text now (invalid UTF-8 replaced), or "" when it is no longer a file."""
        try:
            fd = os.open(self.real, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC)
        except OSError:
            return ""
        try:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                return ""
            chunks: list[bytes] = []
            size = 0
            while size <= MAX_BYTES and (chunk := os.read(fd, 1 << 16)):
                chunks.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        return b"".join(chunks)[:MAX_BYTES].decode("utf-8", errors="replace")

    @cached_property
    def lines(self) -> list[str]:
        """The file's lines, read when a diagnostic quotes one."""
        return split_lines(self.read_text())
