"""The GitHub Action (``action.yml``) and the repository files ``mvpn init`` writes.

The workflows ``init`` writes are checked by the real linters (actionlint, the GitHub
workflow JSON Schema, pre-commit's config loader), and the action's ``run:`` steps are run
with bash the way a runner runs them (``bash --noprofile --norc -eo pipefail``) against an
``init`` repository: install from this checkout, check, plan, compile. ``gh`` is a fake that
records what the plan comment would be; ``uses:`` steps (other actions) are not run.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import yaml
from pre_commit.clientlib import load_config

from compiler import __version__
from compiler.cli import main
from tests.support.tools import skip_or_fail

REPO = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((REPO / "action.yml").read_text())
EXPR = re.compile(r"\$\{\{\s*(.*?)\s*\}\}")
FAKE_GH = """#!/bin/bash
printf '%s\\n' "$*" >> "$FAKE_GH_DIR/calls"
[ -n "${FAKE_GH_FAIL:-}" ] && { echo "HTTP 403: Resource not accessible" >&2; exit 1; }
for arg in "$@"; do
  case "$arg" in body=@*) cp "${arg#body=@}" "$FAKE_GH_DIR/body.md" ;; esac
done
case "$*" in *--paginate*) [ -n "${FAKE_GH_EXISTING:-}" ] && echo "$FAKE_GH_EXISTING" ;; esac
exit 0
"""


def _git(repo: Path, *args: str) -> str:
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    for var in ("GIT_DIR", "GIT_INDEX_FILE"):
        env.pop(var, None)
    return subprocess.run(["git", *args], cwd=repo, env=env, capture_output=True, text=True,
                          check=True).stdout


def _tool(name: str) -> str:
    path = Path(sys.executable).parent / name
    if not path.exists():
        skip_or_fail(f"{name} is not installed: pip install -e '.[test]'")
    return str(path)


# --- the files init writes -----------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``mvpn init --action acme/mvpn`` into a folder that holds only ``.git``."""
    top = tmp_path_factory.mktemp("init") / "demo"
    top.mkdir()
    _git(top, "init", "-q", "-b", "main")
    assert main(["init", str(top), "--action", "acme/mvpn"]) == 0
    return top


def test_init_writes_the_repository_files(demo: Path) -> None:
    names = sorted(str(p.relative_to(demo)) for p in demo.rglob("*")
                   if p.is_file() and ".git/" not in f"{p.relative_to(demo)}/"[:5])
    assert [n for n in names if not n.startswith(("schemas/", "sites/"))] == [
        ".github/workflows/main.yml", ".github/workflows/pull-request.yml", ".gitignore",
        ".pre-commit-config.yaml", ".vscode/settings.json", "README.md"]
    assert "sites/tests.yaml" in names
    ignored = (demo / ".gitignore").read_text().splitlines()
    for entry in ("/build/", "/.mvpn-cache/", "/.build.mvpn-*", "*.b64"):
        assert entry in ignored


def test_gitignore_covers_what_a_compile_leaves_beside_the_tree(demo: Path) -> None:
    for name in ("build/manifest.json", ".mvpn-cache/build-x.json",
                 ".build.mvpn-spare/VERSION", ".build.mvpn-stage-123/x", "org-secret.b64"):
        proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", name], cwd=demo,
                              check=False)
        assert proc.returncode == 0, name
    proc = subprocess.run(["git", "check-ignore", "-q", "--no-index", "sites/vpn.yaml"],
                          cwd=demo, check=False)
    assert proc.returncode == 1


def test_workflows_pin_the_action_to_this_version(demo: Path) -> None:
    inputs = set(ACTION["inputs"])
    uses = []
    for path in sorted((demo / ".github/workflows").glob("*.yml")):
        doc = yaml.safe_load(path.read_text())
        for job in doc["jobs"].values():
            for step in job["steps"]:
                if step.get("uses", "").startswith("acme/mvpn@"):
                    uses.append((path.name, step["with"]["command"]))
                    assert step["uses"] == f"acme/mvpn@v{__version__}"
                    assert set(step["with"]) <= inputs, step  # only inputs the action has
                    assert step["with"]["root"] == "sites"
    assert uses == [("main.yml", "check"), ("main.yml", "compile"),
                    ("pull-request.yml", "check"), ("pull-request.yml", "plan"),
                    ("pull-request.yml", "compile")]
    main_yml = (demo / ".github/workflows/main.yml").read_text()
    assert "secret: ${{ secrets.MVPN_SECRET }}" in main_yml
    assert "secrets." not in (demo / ".github/workflows/pull-request.yml").read_text()


def test_actionlint_passes_on_what_init_writes(demo: Path) -> None:
    actionlint = _tool("actionlint")
    workflows = sorted(map(str, (demo / ".github/workflows").glob("*.yml")))
    proc = subprocess.run([actionlint, "-no-color", *workflows], capture_output=True,
                          text=True, check=False, cwd=demo, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = demo.parent / "bad.yml"  # the same file with a typo: the linter does look
    bad.write_text(Path(workflows[0]).read_text().replace("runs-on:", "runs_on:"))
    proc = subprocess.run([actionlint, "-no-color", str(bad)], capture_output=True,
                          text=True, check=False, timeout=120)
    assert proc.returncode == 1 and '"runs-on" section is missing' in proc.stdout


def test_github_workflow_schema_passes_on_what_init_writes(demo: Path) -> None:
    tool = _tool("check-jsonschema")
    workflows = sorted(map(str, (demo / ".github/workflows").glob("*.yml")))
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-workflows", *workflows],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_action_yml_passes_the_github_action_schema(tmp_path: Path) -> None:
    tool = _tool("check-jsonschema")
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-actions",
                           str(REPO / "action.yml")], capture_output=True, text=True,
                          check=False, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    bad = tmp_path / "action.yml"  # a composite step without its shell: the schema says so
    bad.write_text((REPO / "action.yml").read_text().replace("shell: bash", "shel: bash", 1))
    proc = subprocess.run([tool, "--builtin-schema", "vendor.github-actions", str(bad)],
                          capture_output=True, text=True, check=False, timeout=120)
    assert proc.returncode == 1, proc.stdout
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) >= {"command", "root", "secret"}


def test_pre_commit_config_and_editor_settings(demo: Path) -> None:
    config = load_config(str(demo / ".pre-commit-config.yaml"))  # raises when invalid
    [repo] = config["repos"]
    assert repo["repo"] == "https://github.com/acme/mvpn"
    assert repo["rev"] == f"v{__version__}"
    assert [h["id"] for h in repo["hooks"]] == ["mvpn-check"]
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    assert "mvpn-check" in {h["id"] for h in hooks}  # the id the pinned repo offers
    settings = json.loads((demo / ".vscode/settings.json").read_text())
    mapping = settings["yaml.schemas"]
    for schema, globs in mapping.items():
        assert (demo / schema).is_file(), schema
        assert any(demo.glob(globs[0])), globs
    assert sorted(mapping) == sorted(f"./schemas/{p.name}" for p in (demo / "schemas").iterdir())


def test_init_refuses_a_hostile_action_and_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for bad in ("acme", "acme/mvpn\nrun: curl evil", "acme/mvpn@main", "../x", "a/.."):
        assert main(["init", str(tmp_path / "x"), "--action", bad]) == 2
        assert "is not OWNER/REPO" in capsys.readouterr().err
        assert not (tmp_path / "x").exists()
    (tmp_path / "y").mkdir()
    (tmp_path / "y/.git").mkdir()
    (tmp_path / "y/notes").write_text("mine\n")
    assert main(["init", str(tmp_path / "y")]) == 2
    assert sorted(p.name for p in (tmp_path / "y").iterdir()) == [".git", "notes"]


# --- the action's steps, run as a runner would ------------------------------------------


@dataclass
class Runner:
    """Runs the ``run:`` steps of action.yml in one job (one RUNNER_TEMP, one PATH)."""

    workspace: Path
    temp: Path
    env: dict[str, str]
    path: list[str] = field(default_factory=list)
    summary: Path = field(init=False)

    def __post_init__(self) -> None:
        self.summary = self.temp / "step-summary.md"

    def run(self, event: Mapping[str, str], **given: str) -> tuple[int, dict[str, str], str]:
        """Run the action with inputs ``given``; (exit code, run step outputs, log)."""
        inputs = {k: str(v.get("default", "")) for k, v in ACTION["inputs"].items()}
        inputs.update({k.replace("_", "-"): v for k, v in given.items()})
        inputs["github-token"] = "test-token"
        outputs: dict[str, dict[str, str]] = {}
        log = []
        for n, step in enumerate(ACTION["runs"]["steps"]):
            if "uses" in step:
                continue  # another action (setup-python, uploads): GitHub's, not ours
            assert "if" not in step and "${{" not in step["run"], step.get("name")
            context = {f"inputs.{k}": v for k, v in inputs.items()}
            context.update({f"steps.{s}.outputs.{k}": v
                            for s, outs in outputs.items() for k, v in outs.items()})
            context.update(event)
            env = {**self.env, "PATH": os.pathsep.join([*self.path, self.env["PATH"]])}
            def expand(m: re.Match[str], c: dict[str, str] = context) -> str:
                return c.get(m.group(1), "")

            for key, value in step.get("env", {}).items():
                env[key] = EXPR.sub(expand, str(value))
                for expr in EXPR.findall(str(value)):
                    assert expr in context or expr.startswith("steps."), expr
            out_file, path_file = self.temp / f"out-{n}", self.temp / f"path-{n}"
            for stale in (out_file, path_file):  # fresh files per step, as on a runner
                stale.unlink(missing_ok=True)
            env.update(GITHUB_OUTPUT=str(out_file), GITHUB_PATH=str(path_file),
                       GITHUB_STEP_SUMMARY=str(self.summary))
            script = self.temp / f"step-{n}.sh"
            script.write_text(step["run"])
            proc = subprocess.run(["bash", "--noprofile", "--norc", "-eo", "pipefail",
                                   str(script)], cwd=self.workspace, env=env,
                                  capture_output=True, text=True, check=False, timeout=600)
            log.append(proc.stdout + proc.stderr)
            if path_file.exists():
                self.path[:0] = path_file.read_text().split()
            if "id" in step and out_file.exists():
                outputs[step["id"]] = dict(line.split("=", 1)
                                           for line in out_file.read_text().splitlines())
            if proc.returncode != 0:
                return proc.returncode, outputs.get("run", {}), "".join(log)
        return 0, outputs.get("run", {}), "".join(log)


@pytest.fixture(scope="module")
def runner(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runner]:
    """An init repository on a pull-request branch, and a runner for the action."""
    top = tmp_path_factory.mktemp("action")
    work = top / "vpn"
    assert main(["init", str(work), "--action", "acme/mvpn"]) == 0
    _git(work, "init", "-q", "-b", "main")
    cwd = Path.cwd()
    os.chdir(work)
    try:
        assert main(["allocate"]) == 0
    finally:
        os.chdir(cwd)
    _git(work, "add", "-A")
    _git(work, "commit", "-q", "-m", "estate")
    _git(work, "update-ref", "refs/remotes/origin/main", "HEAD")
    _git(work, "checkout", "-q", "-b", "pr")
    alice = work / "sites/frankfurt/peers/alice.yaml"
    alice.write_text(alice.read_text().replace("Alice's laptop", "Alice's new laptop"))
    _git(work, "commit", "-q", "-am", "alice: new laptop")
    fake = top / "fake-bin"
    fake.mkdir()
    (fake / "gh").write_text(FAKE_GH)
    (fake / "gh").chmod(0o755)
    temp = top / "runner-temp"
    temp.mkdir()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("GITHUB_", "MVPN_", "VIRTUAL_ENV", "PYTHON"))}
    # `python` is this interpreter (setup-python's place), gh the fake one
    env["PATH"] = os.pathsep.join([str(fake), str(Path(sys.executable).parent), env["PATH"]])
    env.update(RUNNER_TEMP=str(temp), GITHUB_ACTION_PATH=str(REPO),
               GITHUB_WORKSPACE=str(work), GITHUB_REPOSITORY="acme/vpn",
               GITHUB_EVENT_NAME="pull_request", GITHUB_BASE_REF="main",
               FAKE_GH_DIR=str(top), NO_COLOR="1")
    yield Runner(work, temp, env)
    shutil.rmtree(temp / "mvpn-venv", ignore_errors=True)


PR = {"github.event.pull_request.number": "7",
      "github.event.pull_request.head.repo.full_name": "acme/vpn"}
PUSH = {k: "" for k in PR}  # not a pull request: these expressions are empty
FORK = {**PR, "github.event.pull_request.head.repo.full_name": "someone/vpn"}


def _gh(runner: Runner) -> tuple[list[str], str]:
    top = runner.workspace.parent
    calls = (top / "calls").read_text().splitlines() if (top / "calls").exists() else []
    body = (top / "body.md").read_text() if (top / "body.md").exists() else ""
    for name in ("calls", "body.md"):
        (top / name).unlink(missing_ok=True)
    return calls, body


def test_action_steps_check_plan_compile_on_an_init_repo(
    runner: Runner, monkeypatch: pytest.MonkeyPatch
) -> None:
    # check: annotations on stdout, SARIF written, installed from this checkout
    code, out, log = runner.run(PR, command="check")
    assert code == 0, log
    assert f"mvpn {__version__}" in log
    assert (runner.temp / "mvpn-venv/bin/mvpn").exists()
    sarif = json.loads(Path(out["sarif"]).read_text())
    assert sarif["version"] == "2.1.0" and sarif["runs"][0]["results"] == []
    assert _gh(runner) == ([], "")  # a clean check leaves the plan comment alone

    # plan: --base defaults to origin/<base>; the comment is posted, the summary written
    code, out, log = runner.run(PR, command="plan")
    assert code == 0, log
    plan = Path(out["plan"]).read_text()
    assert plan.startswith("<!-- mvpn-plan -->\n## mvpn plan for <code>sites</code>")
    assert "<code>description</code>: <code>&#34;Alice&#39;s laptop&#34;</code> → " in plan
    assert runner.summary.read_text() == plan
    calls, body = _gh(runner)
    assert calls == [
        "api repos/acme/vpn/issues/7/comments --paginate --jq .[] | select(.body | "
        'startswith("<!-- mvpn-plan -->")) | .id',
        f"api --method POST repos/acme/vpn/issues/7/comments -F body=@{runner.temp}/"
        "mvpn-plan/comment.md",
    ]
    assert body == plan  # small enough: the comment is the whole plan

    # a later push: the same comment is edited, not a second one posted
    monkeypatch.setitem(runner.env, "FAKE_GH_EXISTING", "4242")
    assert runner.run(PR, command="plan")[0] == 0
    calls, _ = _gh(runner)
    assert calls[1].startswith("api --method PATCH repos/acme/vpn/issues/comments/4242 ")

    # a token without pull-requests: write: a warning, the plan still succeeds
    monkeypatch.setitem(runner.env, "FAKE_GH_FAIL", "1")
    code, out, log = runner.run(PR, command="plan")
    assert code == 0 and out["exit-code"] == "0", log
    assert "::warning::mvpn: could not post the plan comment" in log
    assert len(_gh(runner)[0]) == 1  # the lookup failed, nothing was posted
    monkeypatch.delitem(runner.env, "FAKE_GH_FAIL")

    # a fork's pull request: no comment (its token cannot write), the plan still in the log
    assert runner.run(FORK, command="plan")[0] == 0
    assert _gh(runner) == ([], "")

    # compile: a redacted build in the output folder, named for the artifact
    code, out, log = runner.run(PR, command="compile")
    assert code == 0, log
    head = _git(runner.workspace, "rev-parse", "--short=12", "HEAD").strip()
    assert out == {"build": "build", "artifact": f"build-redacted-{head}", "exit-code": "0"}
    manifest = json.loads((runner.workspace / "build/manifest.json").read_text())
    assert manifest["secrets"] == "redacted"

    # main's compile refuses to publish a build without the secret
    code, out, log = runner.run(PUSH, command="compile", require_secret="true")
    assert code == 2 and out["exit-code"] == "2"
    assert "::error::the organisation secret is empty" in log

    # a broken push: check fails (exit 1 after the SARIF), and replaces the stale plan
    peer = runner.workspace / "sites/frankfurt/peers/alice.yaml"
    good = peer.read_text()
    peer.write_text(good + "adress: 10.255.0.9\n")
    try:
        code, out, log = runner.run(PR, command="check")
    finally:
        peer.write_text(good)
    assert code == 1 and out["exit-code"] == "1"
    assert "::error file=sites/frankfurt/peers/alice.yaml,line=" in log
    assert json.loads(Path(out["sarif"]).read_text())["runs"][0]["results"]
    calls, body = _gh(runner)
    assert calls[1].startswith("api --method PATCH repos/acme/vpn/issues/comments/4242 ")
    assert body.startswith("<!-- mvpn-plan -->\n## mvpn plan for <code>sites</code>\n\n"
                           "**No plan: `mvpn check` found errors in this push** (exit code 1;")
    assert runner.summary.read_text().endswith(body)  # the run's summary says it too

    # an unknown command is a usage error, not a silent success
    code, out, log = runner.run(PR, command="deploy")
    assert code == 2 and "command must be check, plan or compile, not 'deploy'" in log

    # the "done when", with the mvpn the action installed (a wheel of this checkout,
    # not the editable install the tests run from)
    venv_bin = runner.temp / "mvpn-venv/bin"
    env = {**runner.env, "PATH": os.pathsep.join([str(venv_bin), runner.env["PATH"]])}
    where = runner.workspace.parent
    proc = subprocess.run(
        ["bash", "-c", "command -v mvpn && mvpn init demo && cd demo && mvpn allocate "
         "&& mvpn check && mvpn compile"],
        cwd=where, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == str(venv_bin / "mvpn")
    assert lines[-1].startswith("compiled 1 instance into build (secrets: redacted;")
    assert (where / "demo/build/frankfurt/sites/main-office.rsc").is_file()
