"""Materialise a config tree as it was at a git revision, without touching the checkout.

``git archive`` streams the tree of one commit (only the ROOT folder) into a temporary
directory; the working tree, the index and HEAD are never read or written. The archive
is unpacked with tarfile's ``data`` filter, so no member can leave the directory; a member
the filter refuses (a symlink to an absolute path or out of the tree) is skipped and named
in ``refused``, so the caller reports it as a diagnostic at ``REV:path`` like ``check`` does.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path, PurePosixPath

from compiler.diagnostics import UsageError


@dataclasses.dataclass(frozen=True)
class Revision:
    """A resolved revision: what the user wrote, the commit, ROOT inside the repository."""

    name: str
    commit: str
    repo: Path
    root: PurePosixPath  # ROOT relative to the repository's top folder ("." for the top)

    @property
    def label(self) -> str:
        """``origin/main (3f2a9c1)``."""
        return f"{self.name} ({self.commit[:7]})"


def _git(repo: Path, *args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True,
                              check=False)
    except FileNotFoundError:
        raise UsageError("git is not installed; `mvpn plan` needs it") from None


def resolve(root: Path, rev: str) -> Revision:
    """Find the repository holding ``root`` and the commit ``rev`` names (exit 2 if not)."""
    if rev.startswith("-") or not rev.strip():
        raise UsageError(f"'{rev}' is not a git revision")
    folder = root.resolve()
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise UsageError(f"'{root}' is not inside a git repository; `mvpn plan` compares "
                         "with a git revision")
    repo = Path(top.stdout.decode().strip())
    found = _git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if found.returncode != 0:
        raise UsageError(f"unknown git revision '{rev}' (fetch it first, e.g. "
                         "`git fetch origin main`)")
    if not folder.is_relative_to(repo.resolve()):  # pragma: no cover - git found it there
        raise UsageError(f"'{root}' is not inside the git repository {repo}")
    rel = folder.relative_to(repo.resolve())
    return Revision(rev, found.stdout.decode().strip(), repo, PurePosixPath(rel.as_posix()))


@contextlib.contextmanager
def materialise(rev: Revision, refused: list[Path] | None = None) -> Iterator[Path]:
    """A temporary copy of ROOT at ``rev`` (an empty folder if ROOT did not exist then).

    Members the ``data`` filter refuses are not extracted; their would-be paths under the
    copy are appended to ``refused``.
    """
    with tempfile.TemporaryDirectory(prefix="mvpn-plan-") as tmp:
        base = Path(tmp) / "tree"
        target = base / rev.root
        target.mkdir(parents=True)
        spec = f"{rev.commit}:{rev.root}" if str(rev.root) != "." else rev.commit
        if _git(rev.repo, "cat-file", "-e", spec).returncode == 0:
            out = _git(rev.repo, "archive", "--format=tar", rev.commit, "--", str(rev.root))
            if out.returncode != 0:
                raise UsageError(f"git archive failed for {rev.label}: "
                                 f"{out.stderr.decode(errors='replace').strip()}")
            def data(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo | None:
                try:
                    return tarfile.data_filter(member, dest)
                except tarfile.FilterError:
                    if refused is not None:
                        refused.append(Path(os.path.realpath(base)) / member.name)
                    return None

            with tarfile.open(fileobj=io.BytesIO(out.stdout)) as tar:
                tar.extractall(base, filter=data)
        yield target
