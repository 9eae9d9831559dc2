"""netspec as a user gets it: an sdist, the wheel built from that sdist, installed into a
fresh venv and used from an empty directory, with no access to this source tree.

Offline and fast: the build runs setuptools' PEP 517 backend in this interpreter (no
build isolation, no download), the venv is made without pip and the wheel installed
by this interpreter's pip with ``--no-deps --no-index``; only afterwards does a
``.pth`` file lend it this environment's torch, pydantic, pyyaml and click.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
from pathlib import Path

import pytest

from tests.conftest import ROOT

# What a copy of the tree for building leaves out: environments, caches, build output, VCS.
_NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".ci-venv", "build", "dist", "*.egg-info", "__pycache__",
                                     ".pytest_cache", ".mypy_cache", ".ruff_cache", ".hypothesis", ".whl", ".gl")


def test_every_subpackage_is_in_the_wheel_configuration() -> None:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    code = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "netspec").rglob("__init__.py")}
    assert set(config["packages"]) == code | {"netspec._data.specs", "netspec._data.schemas"}
    assert config["package-dir"] == {"netspec._data.specs": "specs", "netspec._data.schemas": "schemas"}


def _backend(directory: Path, hook: str, out: Path) -> Path:
    """Run one PEP 517 hook of setuptools in ``directory``; the path of what it built."""
    code = f"from setuptools import build_meta; print(build_meta.{hook}({str(out)!r}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=directory, capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "Deprecat" not in done.stdout + done.stderr  # the license metadata among others
    return out / done.stdout.strip().splitlines()[-1]


@pytest.fixture(scope="module")
def sdist(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("sdist")
    shutil.copytree(ROOT, work / "src", ignore=_NOT_SOURCE)
    archive = _backend(work / "src", "build_sdist", work / "dist")
    with tarfile.open(archive) as tar:
        tar.extractall(work / "unpacked", filter="data")
    (tree,) = (work / "unpacked").iterdir()
    return tree


@pytest.fixture(scope="module")
def venv(sdist: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel built from the sdist (not from this tree)."""
    work = tmp_path_factory.mktemp("venv")
    wheel = _backend(sdist, "build_wheel", work / "wheels")
    env_dir = work / "env"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    python = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
                    "--quiet", str(wheel)], check=True, timeout=300)
    # After the install, so pip never sees this environment's (editable) netspec.
    site = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env_dir


def _user(venv: Path, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess[str]:
    """A command run as a user would: from an empty directory, nothing of the source tree in reach."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    cwd = tmp_path / "empty"
    cwd.mkdir(exist_ok=True)
    return subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True, timeout=300, check=False)


def test_the_sdist_holds_what_the_wheel_and_the_tests_need(sdist: Path) -> None:
    for rel in ("LICENSE", "README.md", "pyproject.toml", "specs/lenet.yaml", "schemas/netspec.schema.json",
                "tests/conftest.py", "tests/test_package.py", "tests/data/sarif-schema-2.1.0.json", "docs/spec.md",
                "docs/reference.py", "benchmarks/_common.py", "netspec/py.typed"):
        assert (sdist / rel).is_file(), rel
    shipped_here = {p.relative_to(ROOT / "specs") for p in (ROOT / "specs").rglob("*.yaml")}
    assert {p.relative_to(sdist / "specs") for p in (sdist / "specs").rglob("*.yaml")} == shipped_here


def test_the_wheel_works_from_an_empty_directory(venv: Path, tmp_path: Path) -> None:
    netspec = str(venv / "bin" / "netspec")
    python = str(venv / "bin" / "python")

    compiled = _user(venv, tmp_path, netspec, "compile", "specs/alexnet.yaml")
    assert compiled.returncode == 0, compiled.stderr
    assert "class AlexNet(nn.Module):" in compiled.stdout

    listed = _user(venv, tmp_path, netspec, "list")
    assert listed.returncode == 0, listed.stderr
    assert any(line.split()[:3] == ["lenet", "LeNet", "61,706"] for line in listed.stdout.splitlines())

    summary = _user(venv, tmp_path, python, "-m", "netspec", "summary", "lenet")
    assert summary.returncode == 0 and summary.stdout.startswith("LeNet\n"), summary.stderr

    code = """
import pathlib, sys, netspec
here = pathlib.Path(netspec.__file__).resolve()
assert pathlib.Path(sys.prefix).resolve() in here.parents, here     # the installed copy, not a clone
assert (here.parent / "py.typed").is_file()
for spelling in ("lenet.yaml", "specs/lenet.yaml", "lenet", "specs/lenet"):
    model = netspec.load(spelling)
    assert sum(p.numel() for p in model.parameters()) == 61706, spelling
assert netspec.summary("alexnet").total_params == 46764746
from netspec.frontend import shipped
assert shipped.schema_file().is_file() and shipped.schema_file().is_relative_to(here.parent)
print("ok")
"""
    loaded = _user(venv, tmp_path, python, "-c", code)
    assert loaded.returncode == 0 and loaded.stdout == "ok\n", loaded.stderr


def test_the_wheel_reports_an_unknown_name_with_the_shipped_list(venv: Path, tmp_path: Path) -> None:
    done = _user(venv, tmp_path, str(venv / "bin" / "netspec"), "summary", "alexnett")
    assert done.returncode == 1
    assert "hint: did you mean 'alexnet'? shipped specs: alexnet, " in done.stderr
    assert "Traceback" not in done.stderr
