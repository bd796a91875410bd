"""The command line under a hostile environment, with real processes (issue 11: 13-16, 20).

Refused outputs, two compiles at once, Ctrl-C, closed stdout, disk full, read-only
targets, a deleted working directory, a world-readable secret file: each is one line on
stderr with a fixed exit code, never a traceback and never "internal error".
"""

from __future__ import annotations

import fcntl
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from benchmarks.generate import main as generate
from compiler.cli import main
from tests.support.mounts import read_only, tmpfs
from tests.support.trees import TEST_SECRET_B64, build_file_tree, compile_estate, estate

REPO = Path(__file__).resolve().parents[1]


def mvpn(*args: str, cwd: Path | None = None, **popen: object) -> subprocess.Popen[str]:
    """``python -m compiler ARGS`` as a process of its own (own process group)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MVPN_SECRET", "MVPN_DEBUG")}
    env["PYTHONPATH"] = str(REPO)
    return subprocess.Popen(  # type: ignore[call-overload,no-any-return]
        [sys.executable, "-m", "compiler", *args], cwd=cwd, env={**env, **popen.pop("env", {})},  # type: ignore[dict-item]
        stdout=popen.pop("stdout", subprocess.PIPE), stderr=subprocess.PIPE, text=True,
        start_new_session=True, **popen)


def finished(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=120)
    return proc.returncode, out or "", err


def listing(folder: Path) -> set[str]:
    return {p.relative_to(folder).as_posix() for p in folder.rglob("*")}


@pytest.fixture
def small(tmp_path: Path) -> Path:
    return build_file_tree(tmp_path / "sites", compile_estate())


@pytest.fixture(scope="module")
def large(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An estate that takes a few seconds to compile in two workers, even on an idle machine."""
    root = tmp_path_factory.mktemp("large") / "sites"
    assert generate([str(root), "--instances", "12", "--peers", "12000", "--seed", "5"]) == 0
    return root


# --------------------------------------------------------------------- 13. refused -o


@pytest.mark.parametrize(("output", "message"), [
    ("/", "output '/' is the root folder; choose a folder of its own, e.g. -o build"),
    ("/usr", "output '/usr' is not empty and holds no mvpn manifest.json; refusing to "
             "replace it (choose another -o DIR)"),
    ("dangling", "output 'dangling' is a symlink; give the folder it should be (a build is "
                 "swapped in by renaming, which would replace the link)"),
    ("sites/build", "output 'sites/build' overlaps the config tree 'sites'; build outside "
                    "it (artifacts hold keys, which must never be in the tree)"),
    ("sites", "output 'sites' overlaps the config tree 'sites'; build outside it (artifacts "
              "hold keys, which must never be in the tree)"),
    (".", "output '.' overlaps the config tree 'sites'; build outside it (artifacts hold "
          "keys, which must never be in the tree)"),
    ("notes", "output 'notes' is not empty and holds no mvpn manifest.json; refusing to "
              "replace it (choose another -o DIR)"),
    ("webapp", "output 'webapp' holds a manifest.json that mvpn did not write; refusing to "
               "replace it (choose another -o DIR)"),
])
def test_an_unusable_output_is_refused_before_anything_is_created(
    small: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
    output: str, message: str,
) -> None:
    top = small.parent
    monkeypatch.chdir(top)
    (top / "dangling").symlink_to(top / "nowhere" / "build")
    (top / "notes").mkdir()
    (top / "notes" / "mine.txt").write_text("mine\n")
    build_file_tree(top / "webapp", {"manifest.json": '{"name": "app"}\n', "src/app.js": ""})
    before, root_before = listing(top), set(os.listdir("/"))
    assert main(["compile", "sites", "-o", output, "--no-qr"]) == 2
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"mvpn: error: {message}\n")
    assert listing(top) == before  # not even .mvpn-cache or a stage
    assert set(os.listdir("/")) == root_before


def test_a_mount_point_is_refused(
    small: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(small.parent)
    with tmpfs(small.parent / "mnt") as mnt:
        before = listing(small.parent)
        assert main(["compile", "sites", "-o", "mnt", "--no-qr"]) == 2
        assert capsys.readouterr().err == (
            "mvpn: error: output 'mnt' is a mount point; a build is swapped in by renaming, "
            "so build into a folder inside it, e.g. mnt/build\n")
        assert listing(small.parent) == before
        assert main(["compile", "sites", "-o", "mnt/build", "--no-qr"]) == 0
        assert (mnt / "build/manifest.json").is_file()


def test_a_compile_of_a_tree_with_errors_creates_no_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
) -> None:
    """The lock needs the output's parent; one made for a compile that writes nothing is
    removed again."""
    root = build_file_tree(tmp_path / "sites", estate(**{  # type: ignore[arg-type]
        "acme-eu__peers__x_DOT_yaml": "type: client\nuser: x@example.com\nadress: 1\n"}))
    monkeypatch.chdir(tmp_path)
    before = listing(tmp_path)
    assert main(["compile", str(root), "-o", "new/deep/build", "--no-qr"]) == 1
    assert "error[schema] unknown key 'adress'" in capsys.readouterr().out
    assert listing(tmp_path) == before


# --------------------------------------------------------------- 14. two compiles at once


def test_a_second_compile_waits_for_the_first(small: Path) -> None:
    """The lock is held (here by the test, as a running compile would): the real process
    says it waits, builds nothing meanwhile, and finishes once the lock is released."""
    out = small.parent / "build"
    fd = os.open(small.parent, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(fd, fcntl.LOCK_EX)
    try:
        proc = mvpn("compile", str(small), "-o", str(out), "--no-qr")
        assert proc.stderr is not None
        line = proc.stderr.readline()
        assert line == f"mvpn: waiting for another compile into {small.parent} to finish\n"
        time.sleep(0.3)
        assert proc.poll() is None and not out.exists()
    finally:
        os.close(fd)
    code, stdout, err = finished(proc)
    assert (code, err) == (0, "")
    assert stdout.startswith("compiled 2 instances into ")


def test_two_compiles_into_the_same_output_both_succeed(large: Path, tmp_path: Path) -> None:
    out = tmp_path / "build"
    env = {"MVPN_JOBS": "2"}
    for _ in range(2):
        first = mvpn("compile", str(large), "-o", str(out), "--no-qr", "--no-cache", env=env)
        time.sleep(0.2)
        second = mvpn("compile", str(large), "-o", str(out), "--no-qr", "--no-cache", env=env)
        results = [finished(first), finished(second)]
        assert [code for code, _, _ in results] == [0, 0], results
        assert all("internal error" not in err for _, _, err in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]  # no stage left behind


# ----------------------------------------------------------------------- 15. Ctrl-C


@pytest.mark.parametrize("when", [0.15, 0.6, 1.5, "rendering"])
def test_ctrl_c_is_one_line_and_exit_130(large: Path, tmp_path: Path, when: object) -> None:
    """SIGINT to the whole process group (what a terminal sends) during start-up (imports
    take about 0.5 s), checking, and while workers render into the stage: one line, 130,
    the previous build untouched, the stage removed."""
    out = tmp_path / "build"
    build_file_tree(out, {"manifest.json": "{}\n"})
    proc = mvpn("compile", str(large), "-o", str(out), "--no-qr", env={"MVPN_JOBS": "2"})
    if isinstance(when, float):
        time.sleep(when)
    else:  # the workers have started writing
        deadline = time.monotonic() + 60
        while not list(tmp_path.glob(".build.mvpn-stage-*/*")) and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
    assert proc.poll() is None, "the compile ended before it could be interrupted"
    os.killpg(proc.pid, signal.SIGINT)
    code, stdout, err = finished(proc)
    assert (code, stdout, err) == (130, "", "mvpn: interrupted\n")
    assert listing(out) == {"manifest.json"}
    time.sleep(0.2)  # workers are gone: nothing is written after the parent exited
    assert sorted(p.name for p in tmp_path.iterdir()) == ["build"]


# ------------------------------------------------------------------ closed stdout


def test_closed_stdout(small: Path, tmp_path: Path) -> None:
    """``mvpn check >&-``: nothing to print is fine (0); a report that cannot be written is
    an environment error (2), as for any output mvpn cannot write."""
    code, _, err = finished(mvpn("check", str(small), stdout=subprocess.DEVNULL,
                                 pass_fds=(), preexec_fn=lambda: os.close(1)))
    assert (code, err) == (0, "")
    bad = build_file_tree(tmp_path / "bad", estate(**{"stray_DOT_yaml": "a: 1\n"}))  # type: ignore[arg-type]
    code, _, err = finished(mvpn("check", "--strict", str(bad), stdout=subprocess.DEVNULL,
                                 preexec_fn=lambda: os.close(1)))
    assert (code, err) == (2, "mvpn: error: cannot write to standard output: Bad file "
                              "descriptor (<stdout>)\n")


# ----------------------------------------------------------- 16. environment failures


def test_disk_full_is_an_error_with_the_path(small: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "tiny", size="64k") as tiny:
        code, stdout, err = finished(mvpn("compile", str(small), "-o", str(tiny / "build"),
                                          "--no-qr"))
        assert (code, stdout) == (2, "")
        assert re.fullmatch(r"mvpn: error: No space left on device "
                            rf"\({re.escape(str(tiny))}/\.build\.mvpn-stage-\d+/\S+\)\n", err), err
        assert os.listdir(tiny) == []  # the stage is removed, nothing else was made


def test_read_only_target_is_an_error_with_the_path(small: Path, tmp_path: Path) -> None:
    with tmpfs(tmp_path / "ro") as ro:
        read_only(ro)
        code, _, err = finished(mvpn("compile", str(small), "-o", str(ro / "build"),
                                     "--no-qr"))
        assert (code, err) == (2, "mvpn: error: Read-only file system "
                                  f"({ro}/.build.mvpn-stage-{err.split('stage-')[-1][:-2]})\n")


def test_path_too_long_is_an_error_with_the_path(small: Path, tmp_path: Path) -> None:
    long = tmp_path / ("x" * 300) / "build"
    code, _, err = finished(mvpn("compile", str(small), "-o", str(long), "--no-qr"))
    assert (code, err) == (2, f"mvpn: error: File name too long ({long})\n")


def test_deleted_working_directory(small: Path, tmp_path: Path) -> None:
    gone = tmp_path / "gone"
    gone.mkdir()
    proc = mvpn("check", str(small), cwd=gone, preexec_fn=lambda: os.rmdir(gone),
                env={"PWD": str(gone)})
    code, _, err = finished(proc)
    assert (code, err) == (2, f"mvpn: error: the working directory no longer exists ({gone})\n")


# ------------------------------------------------------------- 20. secret file mode


def test_a_secret_file_others_can_read_is_warned_about(
    small: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    secret = tmp_path / "org.key"
    secret.write_text(TEST_SECRET_B64 + "\n")
    for mode, warned in ((0o644, True), (0o640, True), (0o600, False), (0o400, False)):
        secret.chmod(mode)
        assert main(["compile", str(small), "-o", str(tmp_path / "build"), "--no-qr",
                     "--secret-file", str(secret)]) == 0
        err = capsys.readouterr().err
        expected = (f"mvpn: warning: secret file {secret} has mode {mode:04o}: other users "
                    f"can access it; restrict it with chmod 600 {secret}\n") if warned else ""
        assert err == expected
