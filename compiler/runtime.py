"""Process tuning: what only a process that runs one command and exits may do.

The library API (:mod:`compiler.api`) is an ordinary library: in a long-lived caller (tests,
a service) nothing here changes how Python manages memory beyond pausing the collector while
a tree is loaded. ``mvpn`` runs one command and exits, so its command line (and nothing else)
calls :func:`enter_one_shot`: what was loaded is then frozen out of later collections, a
model the compile no longer needs is freed at once and its pages go back to the system
(:func:`drop`), and after an interrupt a second Ctrl-C ends the process at once; it ends by
:func:`exit_now`.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import os
import sys
from collections.abc import Iterator
from typing import NoReturn


class _Process:
    """What the process was told about itself (one instance; set once by the CLI)."""

    one_shot = False


_PROCESS = _Process()


def enter_one_shot() -> None:
    """Mark the process as running one command, then exiting (``mvpn``; never a library)."""
    _PROCESS.one_shot = True


def one_shot() -> bool:
    """Whether :func:`enter_one_shot` was called."""
    return _PROCESS.one_shot


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while a tree is loaded and checked.

    Loading allocates a few objects per file and frees almost none, so every
    collection scans the whole growing heap for nothing: at 100k peers the
    collector took about a third of `mvpn check`. Reference counting still frees
    everything that is not in a cycle.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if _PROCESS.one_shot:
            # What was loaded lives until the process ends: keep later collections from
            # scanning it again (a full collection over a 100k-peer estate takes ~1 s).
            gc.freeze()
        if enabled:
            gc.enable()


def trim_heap() -> None:
    """Give freed heap pages back to the system (glibc's ``malloc_trim``).

    Elsewhere nothing to do: other allocators return pages themselves or keep them, and the
    output is the same.
    """
    try:
        trim = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError, TypeError):  # no libc by that name, or not glibc
        return
    trim(0)


def drop(model: object) -> None:
    """In a one-shot process: free a large model the command no longer needs, now.

    A checked tree's graph is built only when asked for (``mvpn graph``, ``allocate``), and
    networkx keeps cached views in a graph's ``__dict__``, a reference cycle that the paused
    (or frozen) collector would not free: clearing it frees a built graph at once (an unbuilt
    one costs nothing), and the freed pages go back to the system before rendering allocates
    its own. A library caller's objects are left as they are.
    """
    if not _PROCESS.one_shot:
        return
    vars(model).clear()
    trim_heap()


def exit_now(code: int) -> NoReturn:
    """End a one-shot process with ``code`` at once, without tearing down the heap.

    After checking a 100k-peer tree, freeing millions of objects one by one took longer than
    a fifth of the check, for nothing, as the process ends anyway. Output is flushed first
    (a stream that cannot be flushed was already reported, or there is none).
    """
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            stream.flush()
    os._exit(code)
