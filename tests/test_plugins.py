"""Plugins: user layer types (@netspec.layer) loaded only when the user names them.

Every plugin here is loaded in this process, in a registry of the test's own (conftest.plugin_sandbox): a
plugin makes a new registry and leaves the built-in one as it is, so the rest of the suite checks the
registry and the grammar as shipped.
"""

from __future__ import annotations

import importlib
import json
import textwrap
from collections.abc import Iterator
from contextlib import chdir, contextmanager
from pathlib import Path

import pytest
import torch
from click.testing import Result

import netspec
from netspec import load_plugins, plugins
from netspec.frontend import schema
from netspec.ops import LAYERS, REGISTRY, registry
from tests.conftest import plugin_sandbox, run_cli

PLUGIN = '''\
import torch
from torch import nn

import netspec


@netspec.layer("Centered")
class CenteredLayer(nn.Module):
    """x - x.mean(), scaled."""

    def __init__(self, scale: float = 1.0):
        super().__init__()
        self.scale = scale

    def forward(self, x):
        return (x - x.mean()) * self.scale


@netspec.layer()
class Affine(nn.Module):
    def __init__(self, features: int, bias: bool = True, device=None, dtype=None):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(features, device=device, dtype=dtype))
        self.bias = nn.Parameter(torch.zeros(features, device=device, dtype=dtype)) if bias else None

    def forward(self, x):
        return x * self.weight + (self.bias if self.bias is not None else 0)


def _halve(args, inputs):
    *lead, last = inputs[0]
    return (*lead, last // 2 if isinstance(last, int) else f"{last}//2")


@netspec.layer("Halve", shape=_halve, macs=lambda args, inputs, out: 0)
class Halve(nn.Module):
    def forward(self, x):
        return x[..., : x.shape[-1] // 2]


@netspec.layer("Smooth")
class Smooth(nn.Module):
    def __init__(self, channels: int, kernel: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, kernel)

    def forward(self, x):
        return self.conv(x)


@netspec.layer("Every2")
class Every2(nn.Module):
    def forward(self, x):
        return x[..., ::2]
'''

SPEC = '''\
netspec: 1
name: Net
inputs:
  x: [N, 20]
layers:
  fc: {type: Linear, out_features: 8}
  c: {type: Centered, scale: 2.0}
  a: {type: Affine, features: 8}
  h: Halve
'''

CONV_SPEC = '''\
netspec: 1
name: ConvNet
inputs:
  x: [N, 3, H, W]
layers:
  s: {type: Smooth, channels: 3}
  t: {type: Smooth, channels: 3, kernel: 5}
'''


@contextmanager
def _process(cwd: Path, env_path: Path | None = None) -> Iterator[None]:
    """What ``python`` started in ``cwd`` (with PYTHONPATH ``env_path``) gives, in this process: a fresh
    registry, and every module imported from ``cwd`` forgotten afterwards (see conftest.plugin_sandbox)."""
    with plugin_sandbox(cwd, path=env_path), chdir(cwd):
        yield


def _cli(cwd: Path, *args: str, env_path: Path | None = None) -> Result:
    """``python -m netspec ARGS`` in ``cwd``, run in this process; an exception escaping it fails the test."""
    with _process(cwd, env_path):
        done = run_cli(*args)
    if done.exception is not None and not isinstance(done.exception, SystemExit):
        raise done.exception
    return done


@pytest.fixture
def project(tmp_path: Path) -> Path:
    (tmp_path / "mylayers.py").write_text(PLUGIN)
    (tmp_path / "net.yaml").write_text(SPEC)
    (tmp_path / "conv.yaml").write_text(CONV_SPEC)
    return tmp_path


def test_cli_validate_summary_compile_with_plugin_file(project: Path) -> None:
    done = _cli(project, "validate", "--plugin", "mylayers.py", "net.yaml")
    assert done.exit_code == 0, done.stderr
    assert "ok (Net, 184 params)" in done.stdout
    done = _cli(project, "summary", "--plugin", str(project / "mylayers.py"), "net.yaml")
    assert done.exit_code == 0, done.stderr
    rows = {line.split()[0]: line for line in done.stdout.splitlines() if line[:2] in ("fc", "c ", "a ", "h ")}
    assert "Centered (meta)" in rows["c"] and "(N, 8)" in rows["c"]
    assert "Affine (meta)" in rows["a"] and rows["a"].split()[-1] == "16"
    assert "Halve " in rows["h"] and "(meta)" not in rows["h"] and "(N, 4)" in rows["h"]
    done = _cli(project, "compile", "--plugin", "mylayers.py", "net.yaml", "-o", "net_model.py")
    assert done.exit_code == 0, done.stderr
    code = (project / "net_model.py").read_text()
    assert "from mylayers import CenteredLayer as Centered\nfrom mylayers import Affine\n" in code
    assert "self.c = Centered(scale=2.0)" in code and "Affine(features=8, device=device, dtype=dtype)" in code
    # The generated source runs wherever the plugin module is importable, without netspec's help.
    with _process(project, env_path=project):
        model = importlib.import_module("net_model").Net()
        assert model(torch.randn(3, 20)).shape == (3, 4)


def test_unknown_layer_without_plugin_points_to_plugin(project: Path) -> None:
    done = _cli(project, "validate", "net.yaml")
    assert done.exit_code == 1
    assert "error[unknown-layer] layers.c.type: unknown layer type 'Centered'" in done.stderr
    assert "--plugin" in done.stderr and "Traceback" not in done.stderr
    (project / "typo.yaml").write_text(SPEC.replace("type: Centered", "type: Centred"))
    done = _cli(project, "validate", "--plugin", "mylayers.py", "typo.yaml")
    assert done.exit_code == 1
    assert "did you mean 'Centered'?" in done.stderr
    assert "--plugin" not in done.stderr  # a plugin is loaded: the hint is the did-you-mean alone


def test_bad_plugin_is_a_usage_error(project: Path) -> None:
    for name, message in (("missing.py", "plugin file not found"), ("no_such_module", "cannot import plugin"),
                          ("bad name!", "neither a .py file nor a module name")):
        done = _cli(project, "validate", "--plugin", name, "net.yaml")
        assert done.exit_code == 2, done.stderr
        assert message in done.stderr and "Traceback" not in done.stderr


def test_load_api_and_torch_save_round_trip(project: Path) -> None:
    with _process(project):
        torch.manual_seed(0)
        model = netspec.load("net.yaml", plugins=["mylayers.py"])
        x = torch.randn(2, 20)
        torch.save({"model": model, "x": x, "y": model(x)}, "saved.pt")
        s = netspec.summary("net.yaml", plugins="mylayers.py")
        assert s.total_params == 184, s.total_params
        assert netspec.validate("net.yaml", plugins=["mylayers.py"]) == []
    # As in a fresh process: the plugin module is importable (the current directory), the spec is never read.
    with _process(project, env_path=project):
        saved = torch.load("saved.pt", weights_only=False)
        assert torch.equal(saved["model"](saved["x"]), saved["y"])
        assert (type(saved["model"].c).__module__, type(saved["model"].c).__name__) == ("mylayers", "CenteredLayer")


def test_meta_inferred_shapes(project: Path) -> None:
    done = _cli(project, "summary", "--plugin", "mylayers.py", "conv.yaml")
    assert done.exit_code == 0, done.stderr
    assert "(N, 3, H-2, W-2)" in done.stdout and "(N, 3, H-6, W-6)" in done.stdout
    assert "Total params: 312" in done.stdout  # 3*3*9+3 and 3*3*25+3
    (project / "every2.yaml").write_text("netspec: 1\nname: E\ninputs: {x: [N, 3, W]}\nlayers: {e: Every2}\n")
    done = _cli(project, "validate", "--plugin", "mylayers.py", "every2.yaml")
    assert done.exit_code == 1 and "error[symbolic-dim] layers.e" in done.stderr and "shape= rule" in done.stderr
    (project / "every2.yaml").write_text("netspec: 1\nname: E\ninputs: {x: [N, 3, 9]}\nlayers: {e: Every2}\n")
    done = _cli(project, "summary", "--plugin", "mylayers.py", "every2.yaml")
    assert done.exit_code == 0 and "(N, 3, 5)" in done.stdout, done.stderr


def test_entry_point_plugin(tmp_path: Path) -> None:
    site = tmp_path / "site"
    (site / "tinypkg").mkdir(parents=True)
    (site / "tinypkg" / "__init__.py").write_text("")
    (site / "tinypkg" / "layers.py").write_text(PLUGIN)
    info = site / "tinypkg-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tinypkg\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[netspec.layers]\ntiny = tinypkg.layers\n")
    (tmp_path / "net.yaml").write_text(SPEC)
    # Installed is not loaded: entry points load only when asked for.
    done = _cli(tmp_path, "validate", "net.yaml", env_path=site)
    assert done.exit_code == 1 and "unknown layer type 'Centered'" in done.stderr
    done = _cli(tmp_path, "validate", "--plugin", "@entry-points", "net.yaml", env_path=site)
    assert done.exit_code == 0, done.stderr
    done = _cli(tmp_path, "compile", "--plugin", "tinypkg.layers", "net.yaml", env_path=site)
    assert done.exit_code == 0 and "from tinypkg.layers import CenteredLayer as Centered" in done.stdout


def test_registering_twice_or_shadowing_names_both_places(tmp_path: Path) -> None:
    (tmp_path / "twice.py").write_text(textwrap.dedent('''\
        from torch import nn
        import netspec

        @netspec.layer("Twin")
        class A(nn.Module):
            pass

        @netspec.layer("Twin")
        class B(nn.Module):
            pass
    '''))
    (tmp_path / "shadow.py").write_text(textwrap.dedent('''\
        from torch import nn
        import netspec

        @netspec.layer()
        class ReLU(nn.Module):
            pass
    '''))
    (tmp_path / "net.yaml").write_text("netspec: 1\nname: M\ninputs: {x: [N, 4]}\nlayers: {r: ReLU}\n")
    done = _cli(tmp_path, "validate", "--plugin", "twice.py", "net.yaml")
    assert done.exit_code == 2
    assert "layer type 'Twin' is registered twice: at twice:4 (class A) and at twice:8 (class B)" in done.stderr
    done = _cli(tmp_path, "validate", "--plugin", "shadow.py", "net.yaml")
    assert done.exit_code == 2
    assert "layer type 'ReLU' is registered twice: at netspec.ops.activation:" in done.stderr
    assert "and at shadow:4 (class ReLU)" in done.stderr


def test_schema_and_layers_include_plugins(project: Path) -> None:
    with _process(project):
        before = json.loads(schema.json_schema_text())
        load_plugins("mylayers.py")
        after = json.loads(schema.json_schema_text())
    assert sorted(set(after["$defs"]) - set(before["$defs"])) == ["Affine", "Centered", "Every2", "Halve", "Smooth"]
    assert after["$defs"]["Centered"]["properties"]["scale"].get("default") == 1.0
    done = _cli(project, "layers", "--plugin", "mylayers.py")
    assert done.exit_code == 0 and "Centered(scale)" in done.stdout
    # a mistake inside a plugin layer is checked by the grammar like a built-in's
    (project / "bad.yaml").write_text(SPEC.replace("scale: 2.0", "scalee: 2.0"))
    done = _cli(project, "validate", "--plugin", "mylayers.py", "bad.yaml")
    assert done.exit_code == 1 and "unknown key 'scalee'" in done.stderr and "did you mean 'scale'?" in done.stderr


def test_generated_names_never_clash_with_a_plugin(project: Path) -> None:
    (project / "same.yaml").write_text(SPEC.replace("name: Net", "name: Centered"))
    with _process(project):
        code = netspec.compile_source("same.yaml", plugins="mylayers.py")
        assert "from mylayers import CenteredLayer as _Centered" in code and "self.c = _Centered(" in code, code
        assert netspec.load("same.yaml", plugins="mylayers.py")(torch.randn(2, 20)).shape == (2, 4)


def test_importing_netspec_loads_no_plugin() -> None:
    # Outside a test's own registry the current one is the registry importing netspec made: no plugin in it.
    # (That importing netspec imports no torch is test_scale's, in a fresh interpreter.)
    assert registry() is REGISTRY
    assert plugins.loaded() == (), plugins.loaded()


def test_a_plugin_affects_only_the_registry_it_was_added_to(project: Path) -> None:
    with _process(project) as _:
        load_plugins("mylayers.py")
        assert "Centered" in plugins.loaded() and "Centered" in LAYERS
        assert "Centered" not in REGISTRY.layers and "Centered" not in schema.LAYER_MODELS
    assert plugins.loaded() == () and "Centered" not in LAYERS
