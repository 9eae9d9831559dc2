"""The Python API as users call it: shipped specs by name, specs from text and mappings,
device and dtype spellings, the summary's rows and text, docstrings."""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import netspec
from netspec.errors import format_path
from netspec.frontend import shipped
from tests.conftest import ROOT, SPECS_DIR

LENET_TEXT = (SPECS_DIR / "lenet.yaml").read_text(encoding="utf-8")


# ---------------------------------------------------------------- shipped specs by name


@pytest.mark.parametrize("spelling", ["lenet", "lenet.yaml", "specs/lenet.yaml", "./specs/lenet"])
def test_a_shipped_name_works_from_any_directory(spelling: str, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)  # no specs/ here: the name finds the shipped copy
    assert netspec.summary(spelling).total_params == 61_706


def test_every_shipped_spec_is_listed_and_loads_by_name() -> None:
    on_disk = {p.relative_to(SPECS_DIR).with_suffix("").as_posix() for p in SPECS_DIR.rglob("*.yaml")}
    assert set(netspec.list_specs()) == on_disk
    assert netspec.list_specs() == sorted(on_disk)
    for name, path in shipped.shipped().items():
        # specs/zoo/x.yaml answers to zoo/x, zoo/x.yaml and specs/zoo/x.yaml, and to x unless specs/x.yaml exists
        spellings = [name, f"{name}.yaml", f"specs/{name}.yaml"]
        bare = name.removeprefix("zoo/")
        if bare == name or bare not in on_disk:
            spellings.append(bare)
        assert {shipped.resolve(s).resolve() for s in spellings} == {path.resolve()}, name


def test_the_seed_and_the_zoo_alexnet_are_both_reachable() -> None:
    assert shipped.resolve("alexnet").parent.name == "specs"
    assert shipped.resolve("zoo/alexnet").parent.name == "zoo"
    assert shipped.resolve("specs/zoo/alexnet.yaml").parent.name == "zoo"


def test_a_file_on_disk_wins_over_the_shipped_spec(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / "specs").mkdir()
    mine = LENET_TEXT.replace("name: LeNet", "name: MyLeNet")
    (tmp_path / "specs" / "lenet.yaml").write_text(mine, encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert netspec.summary("specs/lenet.yaml").name == "MyLeNet"
    assert netspec.summary("lenet").name == "LeNet"  # a bare name is not a file here: the shipped one


def test_an_unknown_name_lists_the_shipped_specs_with_a_did_you_mean(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(netspec.SpecError) as caught:
        netspec.summary("lenett")
    (d,) = caught.value.diagnostics
    assert d.code == "file-unreadable"
    assert "no shipped spec named 'lenett'" in d.message
    assert d.hint is not None and d.hint.startswith("did you mean 'lenet'? shipped specs: alexnet, ")


def test_a_missing_path_of_ones_own_gets_no_shipped_hint(tmp_path: Path) -> None:
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(tmp_path / "models" / "lenet.yaml")
    (d,) = caught.value.diagnostics
    assert (d.code, d.hint) == ("file-unreadable", None)


def test_a_directory_is_an_unreadable_spec(tmp_path: Path) -> None:
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(tmp_path)
    assert caught.value.diagnostics[0].code == "file-unreadable"


def test_the_shipped_schema_is_the_generated_one() -> None:
    assert shipped.schema_file() == ROOT / "schemas" / "netspec.schema.json"  # a clone reads its own files


# ---------------------------------------------------------------- specs from text


BAD_TEXT = LENET_TEXT.replace("out_features: 120}", "in_features: 256, out_features: 120}")


def test_text_diagnostics_point_into_the_text() -> None:
    line = next(i for i, text in enumerate(BAD_TEXT.splitlines(), 1) if "in_features: 256" in text)
    col = BAD_TEXT.splitlines()[line - 1].index("in_features") + 1
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(text=BAD_TEXT)
    assert str(caught.value.errors[0].span) == f"<string>:{line}:{col}"
    with pytest.raises(netspec.SpecError) as caught:
        netspec.summary(text=BAD_TEXT, filename="model.yaml")
    assert str(caught.value.errors[0].span) == f"model.yaml:{line}:{col}"


def test_every_function_takes_text() -> None:
    assert netspec.validate(text=LENET_TEXT) == []
    assert netspec.summary(text=LENET_TEXT).total_params == 61_706
    assert "class LeNet(nn.Module):" in netspec.compile_source(text=LENET_TEXT)
    assert netspec.build_class(text=LENET_TEXT).__name__ == "LeNet"
    model = netspec.loads(LENET_TEXT)
    assert sum(p.numel() for p in model.parameters()) == 61_706


def test_spec_and_text_together_or_neither_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="either"):
        netspec.validate()
    with pytest.raises(TypeError, match="either"):
        netspec.validate("lenet", text=LENET_TEXT)
    with pytest.raises(TypeError, match="YAML text as a str"):
        netspec.validate(text=b"netspec: 1")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="a path"):
        netspec.validate(42)  # type: ignore[arg-type]


# ---------------------------------------------------------------- specs from mappings


class ConfigNode(Mapping[str, Any]):
    """A config system's node (OmegaConf's DictConfig and the like): a Mapping, not a dict."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._data = {k: _wrap(v) for k, v in data.items()}

    def __getitem__(self, key: str) -> Any:
        return self._data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def __len__(self) -> int:
        return len(self._data)


class ConfigList(Sequence[Any]):
    def __init__(self, items: list[Any]) -> None:
        self._items = [_wrap(v) for v in items]

    def __getitem__(self, index: Any) -> Any:
        return self._items[index]

    def __len__(self) -> int:
        return len(self._items)


def _wrap(value: Any) -> Any:
    if isinstance(value, dict):
        return ConfigNode(value)
    if isinstance(value, list):
        return ConfigList(value)
    return value


def test_load_takes_a_dict_and_a_config_node_keeping_key_order() -> None:
    data = yaml.safe_load(LENET_TEXT)
    from_file = netspec.load("specs/lenet.yaml")
    for spec in (data, ConfigNode(data)):
        model = netspec.load(spec)
        assert list(model.state_dict()) == list(from_file.state_dict())  # registration order kept
        assert netspec.summary(spec).total_params == 61_706


def test_mapping_diagnostics_name_the_mapping_and_the_key_path() -> None:
    data = yaml.safe_load(BAD_TEXT)
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(data)
    (d,) = caught.value.errors
    assert d.span is not None and d.span.file == "<mapping>" and d.span.line > 0
    assert d.dotted_path == "layers.fc1"


def test_a_mapping_with_a_value_yaml_cannot_write_is_a_spec_error() -> None:
    data = yaml.safe_load(LENET_TEXT)
    data["layers"]["fc1"]["out_features"] = object()
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(data)
    assert caught.value.diagnostics[0].code == "bad-type"


def test_a_mapping_that_contains_itself_is_refused() -> None:
    data: dict[str, Any] = {"netspec": 1}
    data["layers"] = data
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(data)
    assert caught.value.diagnostics[0].code == "too-deep"


# ---------------------------------------------------------------- device and dtype


@pytest.mark.parametrize(("spelling", "dtype"), [
    *((name, getattr(torch, target)) for name, target in netspec.DTYPE_NAMES.items()),
    ("FP16", torch.float16), ("torch.bfloat16", torch.bfloat16), (torch.float64, torch.float64), (None, None),
])
def test_dtype_spellings(spelling: Any, dtype: Any) -> None:
    model = netspec.load("my_list_dense", dtype=spelling)
    assert next(model.parameters()).dtype == (dtype or torch.get_default_dtype())


@pytest.mark.parametrize("bad", ["fp8", "int8", "float8", torch.int64, 16, "torch.int8"])
def test_a_bad_dtype_names_the_accepted_spellings(bad: Any) -> None:
    with pytest.raises(ValueError, match="float32, float, fp32, float16, half, fp16, bfloat16, bf16"):
        netspec.load("my_list_dense", dtype=bad)


@pytest.mark.parametrize("bad", ["gpu", "cuda:x", 1.5])
def test_a_bad_device_is_a_value_error_with_examples(bad: Any) -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 'cpu', 'cuda'"):
        netspec.load("my_list_dense", device=bad)


def test_devices_torch_takes_are_taken() -> None:
    assert next(netspec.load("mlp", device=torch.device("meta")).parameters()).is_meta
    assert next(netspec.load("mlp", device="meta").parameters()).is_meta


def _device_refusal(device: Any) -> Any:
    with pytest.raises(netspec.SpecError) as info:
        netspec.load("lenet", device=device)
    (d,) = info.value.diagnostics
    assert d.code == "device-unavailable", d
    assert d.span.line == 0 and d.span.file.endswith("lenet.yaml")  # the file as a whole: no line is wrong
    assert "please report" not in str(info.value) and "the spec itself is fine" in (d.hint or "")
    return d


def test_an_unavailable_device_says_so_with_torchs_reason() -> None:
    """Here on a CPU-only machine "cuda" (torch: "Torch not compiled with CUDA enabled" or "Found no
    NVIDIA driver"), on a GPU machine an index past the devices torch sees; never a layer refused."""
    if torch.cuda.is_available():
        n = torch.cuda.device_count()
        d = _device_refusal(f"cuda:{n}")
        assert f"device 'cuda:{n}' is not available on this machine: torch sees {n} cuda device" in d.message
    else:
        d = _device_refusal("cuda")
        assert d.message.startswith("device 'cuda' is not available on this machine: ")
        assert "CUDA" in d.message or "NVIDIA" in d.message, d.message  # torch's own words


def test_torchs_reason_is_passed_on_and_an_index_is_counted(monkeypatch) -> None:
    def no_driver(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("Found no NVIDIA driver on your system. Please check that you have an NVIDIA GPU")

    monkeypatch.setattr(torch, "empty", no_driver)
    assert _device_refusal("cuda").message == ("device 'cuda' is not available on this machine: Found no NVIDIA "
                                               "driver on your system. Please check that you have an NVIDIA GPU")
    monkeypatch.setattr(torch, "empty", lambda *args, **kwargs: None)  # CUDA answers, with one GPU
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    assert _device_refusal(torch.device("cuda", 7)).message == (
        "device 'cuda:7' is not available on this machine: torch sees 1 cuda device (numbered from 0 to 0), "
        "so there is no index 7")


@pytest.mark.skipif(torch.backends.mps.is_available(), reason="this machine has MPS")
def test_an_unavailable_mps_device_says_so() -> None:
    assert _device_refusal("mps").message.startswith("device 'mps' is not available on this machine: ")


def test_a_build_failure_on_another_device_does_not_blame_the_spec() -> None:
    from netspec import api

    compiled = api.compile_spec("lenet")
    on_cpu = api.build_failure(compiled, RuntimeError("boom"), torch.device("cpu")).diagnostics[0]
    on_mps = api.build_failure(compiled, RuntimeError("boom"), torch.device("mps")).diagnostics[0]
    assert on_cpu.hint == "netspec's checks should have caught this first: please report the spec"
    assert on_mps.hint is not None and "a limit of 'mps' in this PyTorch" in on_mps.hint


def _refusing(monkeypatch, layer: type[torch.nn.Module], refuses: Any) -> None:
    """``layer``'s constructor raises where ``refuses(*args, **kwargs)`` is true: torch refusing what netspec passed."""
    real = layer.__init__

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        if refuses(*args, **kwargs):
            raise RuntimeError("boom")
        real(self, *args, **kwargs)

    monkeypatch.setattr(layer, "__init__", init)


def test_a_build_failure_inside_a_block_class_points_at_the_block_entry(monkeypatch) -> None:
    _refusing(monkeypatch, torch.nn.BatchNorm2d, lambda features, *a, **k: features == 128)  # layer2.0's bn1
    with pytest.raises(netspec.SpecError) as info:
        netspec.load("resnet18", device="meta")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "build-failed"
    assert diagnostic.message == "PyTorch refused to build layer 'bn1': RuntimeError: boom"
    assert diagnostic.path == ("blocks", "BasicBlock", "layers", "bn1")
    assert (diagnostic.span.line, diagnostic.span.col) == (15, 7)
    assert diagnostic.span.file.endswith("resnet18.yaml")


def test_a_build_failure_inside_a_sequential_points_at_the_child(monkeypatch) -> None:
    _refusing(monkeypatch, torch.nn.MaxPool2d, lambda *a, **k: True)
    with pytest.raises(netspec.SpecError) as info:
        netspec.load("alexnet", device="meta")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "PyTorch refused to build layer 'conv.2': RuntimeError: boom"
    assert diagnostic.path == ("layers", "conv", 2) and diagnostic.span.line == 11


def test_a_build_failure_of_a_root_layer_names_it(monkeypatch) -> None:
    _refusing(monkeypatch, torch.nn.Linear, lambda *a, **k: True)
    with pytest.raises(netspec.SpecError) as info:
        netspec.load("lenet", device="meta")
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.message == "PyTorch refused to build layer 'fc1': RuntimeError: boom"
    assert diagnostic.path == ("layers", "fc1") and (diagnostic.span.line, diagnostic.span.col) == (10, 3)


def test_every_generated_line_of_an_entry_maps_to_its_spec_line() -> None:
    compiled = netspec.compile_spec("resnet18")
    lines = compiled.source_code.splitlines()
    where = {lines[n - 1].strip(): origin for n, origin in compiled.lineno_map.items()}
    assert str(where["expansion = 1"].path[-1]) == "expansion"
    assert where["self.downsample = None"].path == ("blocks", "BasicBlock", "layers", "downsample")
    assert where["out = self.bn2(self.conv2(out))"].path == ("blocks", "BasicBlock", "forward", 1)
    assert where["x = self.maxpool(x)"].path == ("forward", 3)
    # the root is written over its vars (issue 19): a repeated entry is one line in a loop, a var's check its own
    assert where["_layer2.append(BasicBlock(64 if i == 0 else 128, 128, stride=2 if i == 0 else 1, device=device, "
                 "dtype=dtype))"].path == ("layers", "layer2", 0)
    assert where["_generated_for('block', block, 'BasicBlock')"].path == ("vars", "block")
    assert not any(lines[n - 1].startswith(("import", "#")) for n in compiled.lineno_map)


def test_a_forward_failure_is_explained_at_the_forward_step() -> None:
    model = netspec.load("lenet")
    with pytest.raises(RuntimeError) as info:
        model(torch.zeros(1, 1, 28, 28))  # 16*4*4 features reach fc1, which takes 400
    origins = netspec.explain(info.value, "lenet")
    assert [format_path(o.path) for o in origins] == ["forward.7"]
    assert (origins[0].span.line, origins[0].span.col) == (21, 5)
    assert str(origins[0]).endswith("lenet.yaml:21:5: forward.7")
    assert netspec.explain(RuntimeError("elsewhere"), "lenet") == []


def test_a_forward_failure_inside_a_block_is_explained_at_every_depth() -> None:
    model = netspec.load("resnet18", device="meta")
    model.layer2[0].conv1 = torch.nn.Conv2d(3, 128, 3, device="meta")  # a module the spec did not build
    with pytest.raises(RuntimeError) as info:
        model(torch.zeros(1, 3, 64, 64, device="meta"))
    assert [format_path(o.path) for o in netspec.explain(info.value, "resnet18")] == [
        "forward.5", "blocks.BasicBlock.forward.0"]


# ---------------------------------------------------------------- summary


def test_print_summary_prints_the_table(capsys) -> None:
    result = netspec.summary("lenet")
    print(result)
    assert capsys.readouterr().out == result.render() + "\n"


def test_one_step_recording_several_rows_numbers_them() -> None:
    paths = [r.path for r in netspec.summary("lenet_expr").rows]
    assert paths[:3] == ["conv1", "forward.0", "forward.0.1"]
    assert [r.path for r in netspec.summary("my_list_dense").rows][:4] == [
        "forward.0", "forward.0.1", "forward.0.2", "forward.0.3"]


@pytest.mark.parametrize("name", shipped.shipped())
def test_summary_row_names_are_unique(name: str) -> None:
    paths = [r.path for r in netspec.summary(name).rows]
    assert len(paths) == len(set(paths))


# ---------------------------------------------------------------- the package surface


def test_every_public_function_has_a_docstring() -> None:
    for name in netspec.__all__:
        obj = getattr(netspec, name)
        if inspect.isfunction(obj) or inspect.isclass(obj):
            assert inspect.getdoc(obj), f"netspec.{name} has no docstring"


def test_py_typed_and_python_dash_m() -> None:
    assert (ROOT / "netspec" / "py.typed").is_file()
    done = subprocess.run([sys.executable, "-m", "netspec", "--version"], capture_output=True, text=True, cwd=ROOT,
                          check=False)
    assert done.returncode == 0 and done.stdout.startswith("netspec, version ")


def test_by_name_stays_torch_free(tmp_path: Path) -> None:
    code = ("import sys, netspec; netspec.summary('alexnet'); netspec.validate('specs/lenet.yaml'); "
            "netspec.list_specs(); assert 'torch' not in sys.modules")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}  # run from elsewhere, as a user would
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)
