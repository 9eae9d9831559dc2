"""netspec/frontend/core.py: pydantic-core's extension module loaded alone is the one the package uses later, and a
layout it cannot load alone falls back to the package."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from netspec.frontend import core
from tests.conftest import ROOT

ALONE_THEN_PYDANTIC = """\
import sys
import netspec
netspec.validate("lenet")
assert "pydantic_core" not in sys.modules and "pydantic_core._pydantic_core" in sys.modules, sorted(sys.modules)
from netspec.frontend import core
import pydantic, pydantic_core

class Model(pydantic.BaseModel):
    x: int

try:
    Model(x="a")
except core.ValidationError as exc:  # pydantic's errors are netspec's class: one extension module
    assert type(exc) is pydantic_core.ValidationError
assert core.SchemaValidator is pydantic_core.SchemaValidator and core.__version__ == pydantic_core.__version__
try:
    netspec.validate(text="netspec: 1\\nname: X\\ninputs: {x: [N, 3]}\\n"
                          "layers: {fc: {type: Linear, out_features: 0}}\\nforward: [fc]\\n")
except netspec.SpecError as exc:
    print(exc.diagnostics[0].code)
"""


def test_the_extension_alone_is_the_one_pydantic_uses(tmp_path: Path) -> None:
    env = {**os.environ, "NETSPEC_CACHE_DIR": str(tmp_path)}
    first = subprocess.run([sys.executable, "-c", "import netspec; netspec.validate('lenet')"], cwd=ROOT, env=env,
                           timeout=120, check=False)  # makes the grammar's cache (from the models: pydantic)
    assert first.returncode == 0
    done = subprocess.run([sys.executable, "-c", ALONE_THEN_PYDANTIC], capture_output=True, text=True, cwd=ROOT,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["bad-value"], done.stdout


def test_an_extension_already_imported_is_reused() -> None:
    assert core._extension() is sys.modules["pydantic_core._pydantic_core"]


def test_a_layout_it_cannot_load_alone_falls_back_to_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    extension = sys.modules["pydantic_core._pydantic_core"]
    monkeypatch.delitem(sys.modules, "pydantic_core._pydantic_core")

    def no_layout() -> None:
        raise ImportError("not this layout")

    monkeypatch.setattr(core, "_load_alone", no_layout)
    again = core._extension()  # the package's own import, which loads the extension again: the same classes
    assert again.ValidationError is extension.ValidationError is core.ValidationError


def test_no_extension_in_the_package_folder_is_an_import_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pydantic_core").mkdir()
    (tmp_path / "pydantic_core" / "__init__.py").write_text("raise AssertionError('the package ran')\n")
    monkeypatch.setattr(core.importlib.util, "find_spec",
                        lambda name: core.importlib.util.spec_from_file_location(
                            name, tmp_path / "pydantic_core" / "__init__.py",
                            submodule_search_locations=[str(tmp_path / "pydantic_core")]))
    with pytest.raises(ImportError, match="extension module was not found"):
        core._load_alone()
