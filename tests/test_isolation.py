"""What one caller does cannot change what another sees: cached summaries, the registry."""

from __future__ import annotations

import subprocess
import sys

import pytest

import netspec
from netspec.ops import LAYERS, OPS, REGISTRY, LayerType
from netspec.ops._core import Registry, RegistryError
from tests.conftest import SPECS_DIR


def test_a_summary_handed_out_does_not_alias_the_cache() -> None:
    lenet = SPECS_DIR / "lenet.yaml"
    first = netspec.summary(lenet)
    before = [(r.path, r.type, r.output_shape, r.params) for r in first.rows]
    for row in first.rows:
        row.params, row.path = -1, "edited"
    first.rows.clear()
    again = netspec.summary(lenet)
    assert [(r.path, r.type, r.output_shape, r.params) for r in again.rows] == before


def test_registering_a_layer_type_again_names_both_places() -> None:
    relu = LAYERS["ReLU"]
    with pytest.raises(RegistryError, match=r"layer type 'ReLU' is registered twice: at netspec\.ops\.activation:\d+ "
                                            r"and at tests\.test_isolation:\d+"):
        REGISTRY.add_layer(LayerType(name="ReLU", family="activation", args=(), rule=relu.rule, summary="impostor"))
    assert LAYERS["ReLU"] is relu


def test_the_registry_is_frozen_once_the_grammar_is_built() -> None:
    relu = OPS["relu"]
    refusal = r"cannot register op 'relu2'.*netspec\.frontend\.schema already built the grammar"
    with pytest.raises(RegistryError, match=refusal):
        REGISTRY.add_op(type(relu)(**{**relu.__dict__, "name": "relu2"}))
    assert "relu2" not in OPS


def test_the_duplicate_check_survives_python_dash_O() -> None:
    code = ("import netspec\nfrom netspec.ops import LAYERS, REGISTRY\ntry:\n    REGISTRY.add_layer(LAYERS['ReLU'])\n"
            "except RuntimeError as exc:\n    print(type(exc).__name__)\n")
    done = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.split() == ["RegistryError"]


def test_a_module_imported_again_after_a_failed_import_may_register_again() -> None:
    registry = Registry()
    relu = LAYERS["ReLU"]
    code = compile("registry.add_layer(relu)\n", "plugin.py", "exec")
    exec(code, {"__name__": "plugin", "registry": registry, "relu": relu})
    exec(code, {"__name__": "plugin", "registry": registry, "relu": relu})  # a new copy of the module: fine
    again = {"__name__": "plugin", "registry": registry, "relu": relu}
    exec(code, again)
    with pytest.raises(RegistryError, match="registered twice: at plugin:1 and at plugin:1"):
        exec(code, again)  # the same copy registering twice is a real duplicate
