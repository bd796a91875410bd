"""External programs the tests drive: a missing one skips locally, but fails under CI=true."""

from __future__ import annotations

import os
import shutil
from typing import NoReturn

import pytest

_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def skip_or_fail(reason: str) -> NoReturn:
    """A missing prerequisite: a loud skip locally, a failure under CI (where it must exist)."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (required under CI=true)", pytrace=False)
    pytest.skip(f"{reason} (CI runs this test)")


def require(name: str) -> str:
    """Path of ``name`` (also found in sbin dirs); skip loudly locally, fail under CI."""
    path = shutil.which(name) or shutil.which(name, path=_SBIN)
    if path is None:
        skip_or_fail(f"{name} is not installed: run `make system-deps`")
        raise AssertionError("unreachable")  # pragma: no cover - skip/fail raise
    return path
