"""The CI workflows and pre-commit hooks this repository offers config repos.

Checked by the real linters, offline: ``actionlint`` and ``check-jsonschema`` with its
built-in GitHub workflow schema (both run in a network namespace without network when
we are root, which proves neither needs one), and pre-commit's own manifest loader.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml
from pre_commit.clientlib import InvalidManifestError, load_manifest

from tests.support.tools import skip_or_fail

REPO = Path(__file__).resolve().parents[1]
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
BROKEN = "on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    stepz: []\n"


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        skip_or_fail(f"{name} is not installed: pip install -e '.[test]'")
    return str(path)


def _offline(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` without network when we can (root + unshare), else as it is."""
    unshare = shutil.which("unshare")
    if os.geteuid() == 0 and unshare and subprocess.run(
            [unshare, "-n", "true"], capture_output=True, check=False).returncode == 0:
        cmd = [unshare, "-n", *cmd]
    return subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=120)


def test_there_are_two_workflows() -> None:
    assert [p.name for p in WORKFLOWS] == ["main.yml", "pull-request.yml"]


def test_actionlint(tmp_path: Path) -> None:
    actionlint = _tool("actionlint")
    proc = _offline([actionlint, "-no-color", *map(str, WORKFLOWS)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    proc = _offline([actionlint, "-no-color", str(broken)])
    assert proc.returncode == 1 and '"steps" section is missing' in proc.stdout


def test_github_workflow_schema(tmp_path: Path) -> None:
    tool = _tool("check-jsonschema")
    proc = _offline([tool, "--builtin-schema", "vendor.github-workflows", *map(str, WORKFLOWS)])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    broken = tmp_path / "broken.yml"
    broken.write_text(BROKEN)
    proc = _offline([tool, "--builtin-schema", "vendor.github-workflows", str(broken)])
    assert proc.returncode == 1 and "'stepz' was unexpected" in proc.stdout


def _steps(path: str) -> list[dict[str, Any]]:
    doc = yaml.safe_load((REPO / ".github/workflows" / path).read_text())
    [job] = doc["jobs"].values()
    return list(job["steps"])


def _runs(steps: list[dict[str, Any]]) -> str:
    return "\n".join(s.get("run", "") for s in steps)


def test_pull_request_job_does_what_the_issue_asks() -> None:
    steps = _steps("pull-request.yml")
    runs = _runs(steps)
    assert 'mvpn check "$ROOT" --format github' in runs
    assert 'mvpn check "$ROOT" --format sarif > mvpn.sarif' in runs
    assert any(s.get("uses", "").startswith("github/codeql-action/upload-sarif@") for s in steps)
    assert 'mvpn plan "$ROOT" --base "origin/$BASE_REF" --format markdown > plan.md' in runs
    assert "gh pr comment" in runs and "--body-file plan.md" in runs
    assert 'mvpn compile "$ROOT" -o build' in runs
    [upload] = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["path"] == "build/"
    doc = yaml.safe_load((REPO / ".github/workflows/pull-request.yml").read_text())
    assert doc["env"]["MVPN_SECRET"] == ""  # redacted, also for the plan
    assert "secrets." not in (REPO / ".github/workflows/pull-request.yml").read_text()


def test_main_job_compiles_with_the_secret_and_uploads_the_build() -> None:
    steps = _steps("main.yml")
    [compile_step] = [s for s in steps if "mvpn compile" in s.get("run", "")]
    assert compile_step["env"] == {"MVPN_SECRET": "${{ secrets.MVPN_SECRET }}"}
    [upload] = [s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert upload["with"]["path"] == "build/"
    assert upload["with"]["name"] == "build-${{ steps.compile.outputs.version }}"


def test_no_untrusted_expression_reaches_a_shell() -> None:
    for path in WORKFLOWS:
        for step in _steps(path.name):
            assert "${{" not in step.get("run", ""), (path.name, step.get("name"))


def test_pre_commit_hooks_manifest() -> None:
    [hook] = load_manifest(str(REPO / ".pre-commit-hooks.yaml"))  # raises when invalid
    assert hook["id"] == "mvpn-check"
    assert hook["entry"] == "mvpn check"
    assert hook["language"] == "python" and hook["pass_filenames"] is False
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["mvpn"] == "compiler.entry:run"  # what entry runs


def test_pre_commit_manifest_loader_is_strict(tmp_path: Path) -> None:
    bad = tmp_path / "hooks.yaml"
    bad.write_text("- id: x\n  name: x\n  entry: x\n")  # no language
    with pytest.raises(InvalidManifestError):
        load_manifest(str(bad))
