"""`netspec export --onnx` and netspec.export_onnx: every shipped and zoo spec, checked by the ONNX checker
and run by onnxruntime against PyTorch, at two batch sizes (the batch axis is dynamic).

The round trips need the onnx extra (`pip install "netspec[onnx]"`; .ci/run installs it) and skip
without it; the missing-extra error is tested either way.
"""

from __future__ import annotations

import os
import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import pytest

from netspec import api
from netspec.tools import export as exporting

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "specs" / "zoo").glob("*.yaml"))
MISSING = 'the onnx extra is not installed: pip install "netspec[onnx]"'

# Smaller than the zoo's defaults, through the specs' own vars (what --set does), so the whole file
# stays near a minute on two cores: the exporter's time grows with the graph's size (ViT-B/16's twelve
# layers at 224x224, DenseNet-121's 58 dense layers), and the smaller graphs take every same path.
# The VGGs keep their full size: vgg16's 528 MB of weights check that a big model exports in one file.
SMALLER: dict[str, dict[str, Any]] = {
    "vit_b_16": {"image_size": 64, "num_layers": 2},
    "densenet121": {"block_config": [2, 2, 2, 2]},
    "gpt2": {"vocab_size": 1000, "n_positions": 128, "n_embd": 64, "n_layer": 2, "n_head": 4},
    "llama": {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256},
}
# The sizes the symbolic input dims get in the second run: other than the trace's (N=2, others 8).
OTHER_SIZES = {"N": 3}
OTHER_SIZE = 9


def _ids(path: Path) -> str:
    return f"zoo/{path.stem}" if path.parent.name == "zoo" else path.stem


@pytest.fixture(scope="module")
def ort() -> Any:
    pytest.importorskip("onnx", reason=MISSING)
    pytest.importorskip("onnxscript", reason=MISSING)
    return pytest.importorskip("onnxruntime", reason=MISSING)


def _inputs(torch: Any, compiled: api.Compiled, sizes: dict[str, int], default: int, seed: int) -> dict[str, Any]:
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for declared in compiled.inference.model.inputs:
        shape = tuple(d if isinstance(d, int) else sizes.get(d, default) for d in declared.shape)
        if declared.dtype in ("int64", "int32"):
            dtype = getattr(torch, declared.dtype)
            tensors[declared.name] = torch.randint(0, 2, shape, generator=generator, dtype=dtype)
        else:
            tensors[declared.name] = torch.randn(shape, generator=generator)
    return tensors


@pytest.mark.parametrize("path", SPECS, ids=_ids)
def test_onnxruntime_matches_pytorch(path: Path, ort: Any) -> None:
    import onnx
    import torch

    overrides = SMALLER.get(path.stem)
    compiled = api.compile_spec(path, overrides=overrides)
    torch.manual_seed(0)
    model = api.load(path, overrides=overrides).eval()
    with torch.no_grad():  # BatchNorm's running statistics away from 0 and 1, so their export is tested too
        for name, buffer in model.named_buffers():
            if buffer.is_floating_point() and name.endswith("running_var"):
                buffer.uniform_(0.5, 1.5)
            elif buffer.is_floating_point():
                buffer.normal_()
    data, info = exporting.export_module(model, compiled)

    proto = onnx.load_from_string(data)
    onnx.checker.check_model(proto, full_check=True)
    declared = {i.name: i.shape for i in compiled.inference.model.inputs}
    graph_inputs = {i.name: tuple(d.dim_param or d.dim_value for d in i.type.tensor_type.shape.dim)
                    for i in proto.graph.input}
    assert graph_inputs == declared == info.inputs  # symbols as named dynamic axes, ints as they are
    assert info.outputs == ["output"]

    session = ort.InferenceSession(data, providers=["CPUExecutionProvider"])
    runs = [({**exporting.EXAMPLE_SIZES}, exporting.DEFAULT_EXAMPLE_SIZE), (OTHER_SIZES, OTHER_SIZE)]
    for seed, (sizes, default) in enumerate(runs):
        tensors = _inputs(torch, compiled, sizes, default, seed)
        with torch.no_grad():
            expected = model(*tensors.values()).numpy()
        (got,) = session.run(None, {name: t.numpy() for name, t in tensors.items()})
        assert got.shape == expected.shape
        # float32 rounding grows with the outputs' size: torchvision's kaiming (fan_out) initialisation, which
        # the zoo now declares, makes resnet50's logits larger than PyTorch's default initialisation did
        scale = max(1.0, float(abs(expected).max()))
        torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(expected), rtol=1e-4, atol=1e-4 * scale)


def test_api_writes_the_file_and_names_the_axes(ort: Any, tmp_path: Path) -> None:
    import netspec

    target = tmp_path / "lenet.onnx"
    result = netspec.export_onnx("lenet", target)
    assert result.path == target and result.size == target.stat().st_size > 0
    assert result.model == "LeNet" and result.inputs == {"x": ("N", 1, 32, 32)} and result.opset >= 18
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert [d for d in session.get_inputs()[0].shape] == ["N", 1, 32, 32]
    assert session.get_outputs()[0].shape == ["N", 10]
    assert not list(tmp_path.glob(".netspec-*"))  # the temp file became the target


def test_same_seed_same_bytes_and_weights(ort: Any) -> None:
    import torch

    first, _ = exporting.onnx_bytes("mlp", seed=3)
    assert exporting.onnx_bytes("mlp", seed=3)[0] == first
    assert exporting.onnx_bytes("mlp", seed=4)[0] != first
    torch.manual_seed(3)  # the weights are the constructor's after manual_seed(seed)
    model = api.load("mlp").eval()
    session = ort.InferenceSession(first, providers=["CPUExecutionProvider"])
    x = torch.randn(5, 784)
    torch.testing.assert_close(torch.from_numpy(session.run(None, {"x": x.numpy()})[0]),
                               model(x).detach(), rtol=1e-4, atol=1e-4)


# ---------------------------------------------------------------- the command


def test_cli_export_with_set_and_a_fixed_batch(ort: Any, tmp_path: Path, cli) -> None:
    import numpy as np

    target = tmp_path / "r18.onnx"
    result = cli("export", "resnet18", "--onnx", str(target), "--set", "num_classes=10", "--batch", "1")
    assert result.exit_code == 0, result.output
    assert result.stderr.startswith(f"wrote {target} (ResNet, opset ") and "x (1, 3, 224, 224)" in result.stderr
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == [1, 3, 224, 224]  # --batch fixes N
    (out,) = session.run(None, {"x": np.zeros((1, 3, 224, 224), dtype=np.float32)})
    assert out.shape == (1, 10)


def test_cli_reads_stdin_and_symbols_other_than_n_stay_dynamic(ort: Any, tmp_path: Path, cli) -> None:
    target = tmp_path / "corr2d.onnx"
    text = (ROOT / "specs" / "corr2d.yaml").read_text(encoding="utf-8")
    result = cli("export", "-", "--onnx", str(target), input=text)
    assert result.exit_code == 0, result.output
    session = ort.InferenceSession(str(target), providers=["CPUExecutionProvider"])
    assert session.get_inputs()[0].shape == ["H", "W"]


def test_cli_opset_it_cannot_give_is_one_line_and_keeps_the_old_file(ort: Any, tmp_path: Path, cli) -> None:
    target = tmp_path / "lenet.onnx"
    target.write_bytes(b"old")
    result = cli("export", "lenet", "--onnx", str(target), "--opset", "13")
    assert result.exit_code == 1
    assert result.stderr == ("netspec: error: torch.onnx could not convert LeNet to opset 13 (it gives opset 18); "
                             "try a newer opset\n")
    assert target.read_bytes() == b"old"


def test_cli_batch_needs_a_batch_dim(ort: Any, tmp_path: Path, cli) -> None:
    result = cli("export", "corr2d", "--onnx", str(tmp_path / "c.onnx"), "--batch", "2")
    assert result.exit_code == 1
    assert result.stderr == "netspec: error: Conv2D has no batch dim N to fix (x (H, W)): leave out batch\n"


def test_cli_refuses_a_spec_error_before_exporting(tmp_path: Path, write_spec: Any, cli) -> None:
    spec = write_spec("netspec: 1\nname: Bad\ninputs: {x: [N, 4]}\nlayers: {fc: {type: Linear}}\n")
    result = cli("export", str(spec), "--onnx", str(tmp_path / "bad.onnx"))
    if result.exit_code == 1 and "onnx extra" in result.stderr:
        pytest.skip(MISSING)
    assert result.exit_code == 1 and "error[" in result.stderr and "Traceback" not in result.output
    assert not (tmp_path / "bad.onnx").exists()


@pytest.mark.parametrize("module", ["onnx", "onnxscript"])
def test_cli_missing_extra_is_one_line_naming_it(module: str, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path, cli) -> None:
    # `import <module>` now raises ImportError, installed or not; the modules checked before it import
    # (as empty stand-ins where the extra is missing), so the message names `module` in any environment.
    for earlier in exporting.REQUIRED_MODULES[:exporting.REQUIRED_MODULES.index(module)]:
        monkeypatch.setitem(sys.modules, earlier, sys.modules.get(earlier) or types.ModuleType(earlier))
    monkeypatch.setitem(sys.modules, module, None)
    target = tmp_path / "lenet.onnx"
    result = cli("export", "lenet", "--onnx", str(target))
    assert result.exit_code == 1
    assert result.stderr == (f"netspec: error: ONNX export needs the onnx extra ({module} is not installed): "
                             'pip install "netspec[onnx]"\n')
    assert not target.exists()
    with pytest.raises(exporting.MissingExtraError, match=r'pip install "netspec\[onnx\]"'):
        exporting.export_onnx("lenet", target)


def test_cli_needs_onnx_path(cli) -> None:
    result = cli("export", "lenet")
    assert result.exit_code == 2 and "--onnx" in result.output


def test_importing_netspec_imports_neither_torch_nor_onnx(tmp_path: Path) -> None:
    code = ("import sys, netspec; f = netspec.export_onnx; assert callable(f); "
            "assert not {'torch', 'onnx', 'onnxscript'} & set(sys.modules), sorted(sys.modules)")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, "-c", code], check=True, cwd=tmp_path, env=env)
