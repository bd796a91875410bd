"""A progress bar for builds, on a terminal only (SPEC §6: plain, stable output otherwise).

It stays invisible for the first half second (a small tree is done before a bar would
mean anything), redraws at most ten times a second, and erases itself when the build is
done, so the terminal ends up with exactly the lines a non-terminal run prints.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Final, TextIO

#: Seconds before a bar appears, and between two redraws.
DELAY = 0.5
INTERVAL: Final = 0.1
WIDTH: Final = 30


def wanted(stream: TextIO) -> bool:
    """A bar only on a terminal, and not on a dumb one."""
    return stream.isatty() and os.environ.get("TERM") != "dumb"


class ProgressBar:
    """Call it with (done, total); :meth:`close` erases it."""

    def __init__(self, stream: TextIO, label: str, *, delay: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.stream = stream
        self.label = label
        self.delay = DELAY if delay is None else delay
        self.clock = clock
        self.start = clock()
        self.last = -INTERVAL
        self.drawn = 0

    def __call__(self, done: int, total: int) -> None:
        """Redraw for ``done`` of ``total`` peers, when it is time to."""
        now = self.clock()
        if now - self.start < self.delay:
            return
        if now - self.last < INTERVAL and done < total:
            return
        self.last = now
        frac = done / total if total else 1.0
        filled = int(frac * WIDTH)
        line = (f"{self.label} [{'#' * filled}{'.' * (WIDTH - filled)}] "
                f"{int(frac * 100):3d}% {done}/{total} peers")
        self.stream.write("\r" + line)
        self.stream.flush()
        self.drawn = len(line)

    def close(self) -> None:
        """Erase the bar (if one was drawn)."""
        if self.drawn:
            self.stream.write("\r" + " " * self.drawn + "\r")
            self.stream.flush()
            self.drawn = 0
