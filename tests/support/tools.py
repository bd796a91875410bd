"""External programs the tests drive: a missing one skips locally, but fails under CI=true."""

from __future__ import annotations

import os
import shutil

import pytest

_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def require(name: str) -> str:
    """Path of ``name`` (also found in sbin dirs); skip loudly locally, fail under CI."""
    path = shutil.which(name) or shutil.which(name, path=_SBIN)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is required under CI=true but is not installed (make system-deps)")
        pytest.skip(f"{name} is not installed: run `make system-deps` (CI runs this test)")
    return path
