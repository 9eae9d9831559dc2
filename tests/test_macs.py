"""Static counts in the summary: MACs agree with torch's FlopCounterMode, memory with the real tensors.

FlopCounterMode runs on the meta device here: it counts from shapes as well, so even vgg16 and ViT-B/16 cost
milliseconds, and on meta MultiheadAttention takes the unfused path whose matmuls FlopCounterMode sees (on CPU
the fused attention kernels hide them: docs/spec.md, "Counts").  The seed's small models are also checked on CPU.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import netspec
from netspec import api

ROOT = Path(__file__).resolve().parent.parent
SPECS = sorted((ROOT / "specs").glob("*.yaml")) + sorted((ROOT / "specs" / "zoo").glob("*.yaml"))
# Symbols other than the batch, bound to small sizes for the forward pass.
DIMS: dict[str, dict[str, int]] = {"corr2d.yaml": {"H": 6, "W": 8}, "gpt2.yaml": {"T": 12}, "llama.yaml": {"T": 12}}


def _inputs(path: Path, device: str) -> list[torch.Tensor]:
    dims = {"N": 1, **DIMS.get(path.name, {})}
    model = api.compile_spec(path).inference.model
    out = []
    for inp in model.inputs:
        shape = [d if isinstance(d, int) else dims[d] for d in inp.shape]
        dtype = getattr(torch, inp.dtype)
        out.append(torch.zeros(shape, dtype=dtype, device=device) if not dtype.is_floating_point
                   else torch.randn(shape, dtype=dtype, device=device))
    return out


def _flop_counter_macs(path: Path, device: str) -> int:
    model = netspec.load(path, device=device).eval()
    with FlopCounterMode(display=False, depth=None) as counter, torch.no_grad():
        model(*_inputs(path, device))
    total: int = counter.get_total_flops()
    assert total % 2 == 0
    return total // 2


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_total_macs_match_flop_counter(path: Path) -> None:
    summary = netspec.summary(path, dims=DIMS.get(path.name))
    assert isinstance(summary.total_macs, int)
    assert summary.total_macs == _flop_counter_macs(path, "meta")
    # the total is the sum of the leaf rows; each container row sums what is inside it
    leaves = [r for r in summary.rows if not r.container]
    assert summary.total_macs == sum(int(r.macs) for r in leaves)


@pytest.mark.parametrize("name, expected", [("mlp", 203_264), ("lenet", 416_520), ("alexnet", 938_146_176)])
def test_seed_models_on_cpu(name: str, expected: int) -> None:
    path = ROOT / "specs" / f"{name}.yaml"
    assert netspec.summary(path).total_macs == expected
    assert _flop_counter_macs(path, "cpu") == expected


@pytest.mark.parametrize("path", SPECS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_memory_matches_tensors(path: Path) -> None:
    memory = netspec.summary(path).memory
    assert memory is not None
    model = netspec.load(path, device="meta")

    def by_dtype(tensors: Any) -> dict[str, int]:
        out: dict[str, int] = {}
        for t in tensors:
            key = str(t.dtype).removeprefix("torch.")
            out[key] = out.get(key, 0) + t.numel() * t.element_size()
        return out

    assert memory.param_bytes == by_dtype(model.parameters())  # parameters() yields a shared one once
    assert memory.buffer_bytes == by_dtype(model.buffers())
    assert memory.trainable_param_bytes == sum(p.numel() * p.element_size() for p in model.parameters()
                                               if p.requires_grad)
    assert memory.gradient_bytes == memory.trainable_param_bytes


def test_activation_bytes_by_hand() -> None:
    """LeNet at batch 32: every layer's and op's output, in float32 elements per sample:
    conv1 + relu 2 x 6x28x28, pool 6x14x14, conv2 + relu 2 x 16x10x10, pool + flatten 2 x 400,
    fc1 + relu 2 x 120, fc2 + relu 2 x 84, fc3 10."""
    per_sample = 2 * 4704 + 1176 + 2 * 1600 + 2 * 400 + 2 * 120 + 2 * 84 + 10
    assert per_sample == 15_002
    summary = netspec.summary("lenet", batch=32)
    memory = summary.memory
    assert memory is not None
    assert memory.activation_bytes == per_sample * 4 * 32 == 1_920_256
    assert memory.input_bytes == 32 * 32 * 32 * 4
    assert memory.total_param_bytes == 61_706 * 4
    assert memory.training_bytes == 2 * 61_706 * 4 + 32 * 32 * 32 * 4 + 1_920_256
    assert summary.total_macs == 416_520 and summary.batch_macs == 32 * 416_520


def test_buffers_and_frozen_parameters() -> None:
    spec = """
netspec: 1
name: Frozen
inputs: {x: [N, 3, 8, 8]}
params:
  scale: {shape: [3], requires_grad: false}
  offset: {shape: [2], dtype: float64}
layers:
  conv: {type: Conv2d, out_channels: 4, kernel_size: 3}
  bn: BatchNorm2d
forward:
  - return bn(conv(x * scale.reshape([1, 3, 1, 1])))
"""
    summary = netspec.summary(text=spec)
    memory = summary.memory
    assert memory is not None
    assert memory.param_bytes == {"float32": (4 * 3 * 9 + 4 + 8 + 3) * 4, "float64": 16}
    assert memory.buffer_bytes == {"float32": 8 * 4, "int64": 8}
    assert memory.frozen_param_bytes == 12
    assert summary.trainable["scale"] is False and summary.trainable["conv"] is True


def test_symbolic_counts_stay_text_until_bound() -> None:
    summary = netspec.summary("specs/corr2d.yaml")
    assert summary.total_macs == "(W-1)*H*2"
    assert netspec.summary("specs/corr2d.yaml", dims={"H": 6, "W": 8}).total_macs == 6 * 7 * 2


def test_matmul_operator_and_attention_count() -> None:
    spec = """
netspec: 1
name: Attn
inputs: {x: [N, 5, 8]}
params:
  w: [8, 3]
layers:
  attn: {type: MultiheadAttention, num_heads: 2, batch_first: true}
forward:
  - h, _ = attn(x, x, x)
  - return h @ w
"""
    summary = netspec.summary(text=spec)
    # q, k, v projections 3 x 5x8x8, QK^T and AV 2 x 5x5x8, out_proj 5x8x8, then (5, 8) @ (8, 3)
    assert summary.total_macs == 3 * 320 + 2 * 200 + 320 + 5 * 8 * 3
    model = netspec.loads(spec, device="meta").eval()
    with FlopCounterMode(display=False, depth=None) as counter:
        model(torch.randn(1, 5, 8, device="meta"))
    assert counter.get_total_flops() // 2 == summary.total_macs


def test_cli_batch_and_json(cli) -> None:
    result = cli("summary", "--json", "--batch", "32", "lenet")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total_macs"] == 416_520 and data["batch"] == 32 and data["batch_macs"] == 32 * 416_520
    assert data["memory"]["activation_bytes"] == 1_920_256
    assert data["memory"]["param_bytes"] == {"float32": 246_824}
    assert [layer["macs"] for layer in data["layers"] if layer["type"] == "Conv2d"] == [117_600, 240_000]


def test_cli_columns(cli) -> None:
    result = cli("summary", "--columns", "input_size,output_size,kernel_size,mult_adds,params_percent,trainable",
                 "lenet")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[2].split() == ["Layer", "Type", "Input", "shape", "Output", "shape", "Kernel", "MACs", "Params",
                                "%", "Trainable"]
    assert lines[4].split() == ["conv1", "Conv2d", "(N,", "1,", "32,", "32)", "(N,", "6,", "28,", "28)", "5",
                                "117,600", "0.25%", "True"]
    assert "MACs per sample: 416,520" in lines
    bad = cli("summary", "--columns", "flops", "lenet")
    assert bad.exit_code == 2 and "unknown column 'flops'" in bad.output
    assert cli("summary", "--batch", "0", "lenet").exit_code == 2
