"""The repository files ``mvpn init`` writes beside the config tree.

CI workflows that run the mvpn GitHub Action (``action.yml`` at the root of the mvpn
project), a pre-commit configuration, editor settings mapping the JSON Schemas and a
``.gitignore`` for everything mvpn writes beside the tree. The action and the pre-commit
hook are pinned to the tag of the mvpn version that wrote them, so a config repository
keeps building the same way until someone bumps the pin on purpose.
"""

from __future__ import annotations

import json
import re
from typing import Final

from compiler import __version__
from compiler.diagnostics import UsageError

#: Where the action and the pre-commit hook come from unless ``--action`` says otherwise.
DEFAULT_ACTION: Final = "mvpn-project/mvpn"
_REPO_NAME: Final = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}")


def check_action(action: str) -> str:
    """``OWNER/REPO`` as GitHub spells repositories; anything else is a usage error.

    The value lands in YAML and in a URL, so only the characters GitHub allows get through.
    """
    if not _REPO_NAME.fullmatch(action) or action.split("/")[1] in {".", ".."}:
        raise UsageError(f"--action: '{action}' is not OWNER/REPO (e.g. {DEFAULT_ACTION})")
    return action


def tag(version: str = __version__) -> str:
    """The git tag of an mvpn release (`v` + the version): what the generated files pin."""
    return f"v{version}"


_PULL_REQUEST: Final = """\
# Pull requests: check (annotations + code scanning), the plan as one PR comment (edited on
# every push, replaced by a note when the check fails) and a redacted build to download.
# Nothing here sees the organisation secret, so pull requests from forks run it too.
name: mvpn pull request

on:
  pull_request:

permissions:
  contents: read

concurrency:
  group: mvpn-pr-${{{{ github.event.pull_request.number }}}}
  cancel-in-progress: true

jobs:
  mvpn:
    runs-on: ubuntu-latest
    timeout-minutes: 20
    permissions:
      contents: read
      pull-requests: write    # the plan comment
      security-events: write  # code scanning (SARIF)
    steps:
      - uses: actions/checkout@v5
        with:
          fetch-depth: 0  # plan compares with the base branch
          persist-credentials: false

      - name: Check
        uses: {ref}
        with:
          command: check
          root: sites

      - name: Plan
        uses: {ref}
        with:
          command: plan
          root: sites

      - name: Compile (redacted)
        uses: {ref}
        with:
          command: compile
          root: sites
"""

_MAIN: Final = """\
# The main branch: check, then compile with the organisation secret from the repository's
# secret store and upload the build (it holds private keys: readers of this repository can
# download it for 30 days). Store the secret once: `mvpn secret new org-secret.b64`, then
# `gh secret set MVPN_SECRET < org-secret.b64`.
name: mvpn main

on:
  push:
    branches: [main]

permissions:
  contents: read

concurrency:
  group: mvpn-main
  cancel-in-progress: false  # every merged change gets its build

jobs:
  mvpn:
    runs-on: ubuntu-latest
    timeout-minutes: 30
    steps:
      - uses: actions/checkout@v5
        with:
          persist-credentials: false

      - name: Check
        uses: {ref}
        with:
          command: check
          root: sites

      - name: Compile
        uses: {ref}
        with:
          command: compile
          root: sites
          secret: ${{{{ secrets.MVPN_SECRET }}}}
          require-secret: "true"
"""

_PRE_COMMIT: Final = """\
# pre-commit (https://pre-commit.com): `pre-commit install` once, then every commit is
# checked by the same mvpn version as CI.
repos:
  - repo: https://github.com/{action}
    rev: {tag}
    hooks:
      - id: mvpn-check
        args: [sites]
"""

GITIGNORE: Final = """\
# Written by mvpn beside the tree, never committed:
/build/
# the compile cache (safe to delete)
/.mvpn-cache/
# the previous build kept for the next compile, and the stage of a running one
/.build.mvpn-*
# an organisation secret must never be committed (store it as the MVPN_SECRET CI secret)
*.b64
"""

#: ``yaml.schemas`` of the YAML extension: schema file → the files it describes.
SCHEMA_MAP: Final[dict[str, list[str]]] = {
    "./schemas/vpn.schema.json": ["sites/vpn.yaml"],
    "./schemas/instance.schema.json": ["sites/*/instance.yaml"],
    "./schemas/peer.schema.json": ["sites/*/peers/*.yaml"],
    "./schemas/tests.schema.json": ["sites/tests.yaml"],
}


def repo_files(action: str = DEFAULT_ACTION) -> dict[str, str]:
    """Path (relative to the repository) → content of every file beside the tree."""
    action = check_action(action)
    ref = f"{action}@{tag()}"
    settings = {"yaml.schemas": SCHEMA_MAP}
    return {
        ".gitignore": GITIGNORE,
        ".github/workflows/pull-request.yml": _PULL_REQUEST.format(ref=ref),
        ".github/workflows/main.yml": _MAIN.format(ref=ref),
        ".pre-commit-config.yaml": _PRE_COMMIT.format(action=action, tag=tag()),
        ".vscode/settings.json": json.dumps(settings, indent=2) + "\n",
    }
