"""scripts/floors.py: the constraints make test-min installs are exactly pyproject's floors."""

from __future__ import annotations

import importlib.util
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

REPO = Path(__file__).resolve().parents[1]


def _floors() -> ModuleType:
    spec = importlib.util.spec_from_file_location("floors", REPO / "scripts/floors.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_runtime_dependency_is_pinned_at_its_floor() -> None:
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    pins = _floors().floors(REPO / "pyproject.toml")
    assert len(pins) == len(deps) >= 6
    assert "cryptography==45.0.1" in pins  # 44 cannot sign deterministically
    assert "pydantic==2.11" in pins


def test_a_dependency_without_a_floor_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\ndependencies = ["jinja2>=3.1", "segno"]\n')
    with pytest.raises(SystemExit, match="dependency 'segno' has no '>=' floor"):
        _floors().floors(tmp_path / "pyproject.toml")
