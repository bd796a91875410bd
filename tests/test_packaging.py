"""The wheel alone runs mvpn: built from the sdist, installed into a fresh venv.

``python -m build`` makes the sdist from a copy of the project's files and the wheel from that
sdist (so the sdist is proven complete too). The wheel goes into a new venv without its
dependencies, which come from this test's environment through a ``.pth`` file (no network),
and the installed ``mvpn`` runs init, allocate, check and compile away from the checkout.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from compiler import __version__
from compiler.api import compile_tree

REPO = Path(__file__).resolve().parents[1]
SECRET = b"mvpn-test-secret-0123456789abcdef"
#: What the sdist is made from: the files a clone has, less tests, the estate and CI.
SOURCES = ("compiler", "templates", "docs", "pyproject.toml", "setup.py", "MANIFEST.in",
           "README.md", "LICENSE", "CHANGELOG.md")


def _digests(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bin/ folder of a fresh venv holding only the built wheel."""
    work = tmp_path_factory.mktemp("packaging")
    src = work / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = work / "dist"
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--outdir", str(dist),
                    str(src)], check=True, capture_output=True, timeout=600)
    wheels, sdists = list(dist.glob("*.whl")), list(dist.glob("*.tar.gz"))
    assert [w.name for w in wheels] == [f"mvpn-{__version__}-py3-none-any.whl"]
    assert [s.name for s in sdists] == [f"mvpn-{__version__}.tar.gz"]
    venv = work / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=300)
    site = Path(subprocess.run(
        [str(venv / "bin/python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
        check=True, capture_output=True, text=True).stdout.strip())
    # Dependencies from this environment, after the venv's own site-packages.
    (site / "zz-test-deps.pth").write_text(sysconfig.get_path("purelib") + "\n")
    subprocess.run([sys.executable, "-m", "pip", "--python", str(venv / "bin/python"), "install",
                    "-q", "--no-deps", "--no-index", str(wheels[0])],
                   check=True, capture_output=True, timeout=600)
    return venv / "bin"


def test_the_wheel_and_sdist_carry_templates_docs_and_licence(installed: Path) -> None:
    dist = installed.parents[1] / "dist"
    templates = {p.relative_to(REPO).as_posix() for p in (REPO / "templates").rglob("*.j2")}
    assert len(templates) > 10
    with zipfile.ZipFile(next(dist.glob("*.whl"))) as whl:
        names = set(whl.namelist())
        meta = whl.read(f"mvpn-{__version__}.dist-info/METADATA").decode()
    assert {f"compiler/{t}" for t in templates} <= names
    assert f"mvpn-{__version__}.dist-info/licenses/LICENSE" in names
    assert "License-Expression: Apache-2.0" in meta.splitlines()
    assert f"Version: {__version__}" in meta.splitlines()
    with tarfile.open(next(dist.glob("*.tar.gz"))) as sdist:
        inside = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert templates | {"LICENSE", "CHANGELOG.md", "docs/configuration.md", "setup.py"} <= inside


def test_the_installed_mvpn_runs_init_allocate_check_compile(
    installed: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MVPN_SECRET", "PYTHONPATH")}
    env["PATH"] = f"{installed}{os.pathsep}{env.get('PATH', '')}"
    where = subprocess.run(
        [str(installed / "python"), "-c",
         "import compiler, compiler.render.env as e; print(compiler.__file__); print(e.TEMPLATES)"],
        cwd=tmp_path, env=env, check=True, capture_output=True, text=True).stdout.split()
    venv = installed.parent
    assert Path(where[0]).is_relative_to(venv) and Path(where[1]).is_relative_to(venv), where
    proc = subprocess.run(
        ["bash", "-c", "mvpn --version && mvpn init demo && cd demo && mvpn allocate && "
         "mvpn check && mvpn compile"],
        cwd=tmp_path, env=env, capture_output=True, text=True, check=False, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == f"mvpn {__version__}"
    assert lines[-1].startswith("compiled 1 instance into build (secrets: redacted;")
    assert (tmp_path / "demo/build/frankfurt/sites/main-office.rsc").is_file()


def test_the_installed_mvpn_builds_the_same_bytes_as_the_checkout(
    installed: Path, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env["MVPN_SECRET"] = "bXZwbi10ZXN0LXNlY3JldC0wMTIzNDU2Nzg5YWJjZGVm"  # SECRET, base64
    subprocess.run([str(installed / "mvpn"), "compile", str(REPO / "sites"), "-o",
                    str(tmp_path / "wheel"), "--no-qr"], cwd=tmp_path, env=env, check=True,
                   capture_output=True, timeout=300)
    assert compile_tree(REPO / "sites", tmp_path / "checkout", SECRET, qr=False).build
    assert _digests(tmp_path / "wheel") == _digests(tmp_path / "checkout")


def test_one_version_number(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """pyproject takes it from compiler/__init__.py; the CLI and the manifest print it."""
    import re
    import tomllib

    from compiler import COMPILER_ID
    from compiler.cli import main

    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    assert project["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "compiler.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", __version__)
    hits = [p for p in (REPO / "compiler").rglob("*.py") if __version__ in p.read_text()]
    assert hits == [REPO / "compiler/__init__.py"]  # written nowhere else
    assert main(["--version"]) == 0
    assert capsys.readouterr().out == f"mvpn {__version__}\n" == f"{COMPILER_ID}\n"
    assert compile_tree(REPO / "sites", tmp_path / "out", None, qr=False).build
    manifest = (tmp_path / "out/manifest.json").read_text()
    assert f'"compiler": "mvpn {__version__}"' in manifest
    assert f"## [{__version__}]" in (REPO / "CHANGELOG.md").read_text()


def test_building_in_the_checkout_leaves_build_to_mvpn(tmp_path: Path) -> None:
    """setuptools' build folder is not build/, where `make compile` writes (and refuses a
    folder it did not write): `pip install .` must not break the next `make compile`."""
    src = tmp_path / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    subprocess.run([sys.executable, "-m", "build", "--no-isolation", "--wheel", "--outdir",
                    str(tmp_path / "dist"), str(src)], check=True, capture_output=True,
                   timeout=600)
    assert not (src / "build").exists()
    assert (src / ".build-setuptools").is_dir()
