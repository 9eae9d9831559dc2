"""The summary's options as torchinfo users expect them (--depth counted as torchinfo counts, --batch for shapes
and MACs too, --dtype for the memory figures, --columns listing the valid ones) and `dump --args`."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import torch

import netspec
from netspec.backend.placement import DTYPE_NAMES

COLUMNS_TEXT = "input_size, output_size, num_params, params_percent, kernel_size, mult_adds, trainable"


def _table_rows(output: str) -> list[str]:
    """The row paths of a summary table (between the second and third rules)."""
    lines = output.splitlines()
    rules = [i for i, line in enumerate(lines) if line and set(line) == {"-"}]
    return [line.split()[0] for line in lines[rules[1] + 1: rules[2]]]


# ---------------------------------------------------------------- --depth


@pytest.mark.parametrize("depth", [0, 1, 2])
def test_depth_is_torchinfos_depth_minus_one(cli: Any, depth: int) -> None:
    # torchinfo's depth=1 shows the model's direct children alone (the model itself is its depth 0); netspec's
    # rows start at the children, so its --depth 0 is that table, and --depth N torchinfo's depth=N+1
    result = cli("summary", "resnet18", "--depth", str(depth))
    assert result.exit_code == 0, result.output
    expected = [r.path for r in netspec.summary("resnet18").rows if r.depth <= depth and r.type != "Parameter"]
    assert _table_rows(result.output) == expected
    children = [name for name, _ in netspec.load("resnet18", device="meta").named_children()]  # torchinfo's depth 1
    layers = [p for p in _table_rows(result.output) if not p.startswith("forward.")]  # op rows are no modules
    assert (layers == children) == (depth == 0)
    assert f"Total params: {netspec.summary('resnet18').total_params:,}" in result.output


def test_depth_is_documented_beside_torchinfos(cli: Any) -> None:
    assert "torchinfo's depth=N+1 shows the same rows" in " ".join(cli("summary", "--help").output.split())


def test_render_depth_is_the_cli_depth() -> None:
    result = netspec.summary("resnet18")
    assert "layer2 " in result.render(depth=0) and "layer2.0" not in result.render(depth=0)
    assert "layer2.0 " in result.render(depth=1) and "layer2.0.conv1" not in result.render(depth=1)


# ---------------------------------------------------------------- --batch


def test_batch_shows_shapes_and_macs_at_that_batch(cli: Any) -> None:
    result = cli("summary", "lenet", "--batch", "8", "--columns", "input_size,output_size,mult_adds")
    assert result.exit_code == 0, result.output
    at_8, at_1 = netspec.summary("lenet", batch=8), netspec.summary("lenet")
    assert "Input: x (8, 1, 32, 32)" in result.output and "Output: (8, 10)" in result.output
    assert "MACs (batch 8)" in result.output and "(N," not in result.output
    fc1 = next(line for line in result.output.splitlines() if line.startswith("fc1 "))
    assert fc1.split()[-1] == f"{8 * next(r.macs for r in at_1.rows if r.path == 'fc1'):,}"
    assert fc1.split()[2:5] == ["(8,", "400)", "(8,"]
    assert f"MACs per sample: {at_1.total_macs:,}" in result.output
    assert f"MACs at batch 8: {at_8.batch_macs:,}" in result.output
    assert at_8.row_batch_macs["fc1"] == 8 * next(r.macs for r in at_1.rows if r.path == "fc1")


def test_batch_one_keeps_the_symbol(cli: Any) -> None:
    result = cli("summary", "lenet", "--columns", "output_size,mult_adds")
    assert "Output: (N, 10)" in result.output and "MACs (batch" not in result.output


# ---------------------------------------------------------------- --dtype


def _real_bytes(spec: str, dtype: torch.dtype) -> tuple[int, int]:
    model = netspec.load(spec, device="meta", dtype=dtype)
    return (sum(p.numel() * p.element_size() for p in model.parameters()),
            sum(b.numel() * b.element_size() for b in model.buffers()))


@pytest.mark.parametrize("spelling", sorted(DTYPE_NAMES))
def test_dtype_memory_figures_are_the_built_modules(spelling: str) -> None:
    result = netspec.summary("zoo/resnet18")
    cast = netspec.api.summarise(netspec.compile_spec("zoo/resnet18"), dtype=spelling)
    params, buffers = _real_bytes("zoo/resnet18", getattr(torch, DTYPE_NAMES[spelling]))
    assert cast.memory is not None and result.memory is not None
    assert cast.memory.total_param_bytes == params
    assert cast.memory.total_buffer_bytes == buffers  # num_batches_tracked stays int64
    size = torch.empty(0, dtype=getattr(torch, DTYPE_NAMES[spelling])).element_size()
    assert cast.memory.activation_bytes == result.memory.activation_bytes // 4 * size
    assert cast.memory.input_bytes == result.memory.input_bytes // 4 * size
    assert cast.memory.gradient_bytes == result.memory.gradient_bytes // 4 * size


def test_dtype_on_the_command_line(cli: Any) -> None:
    plain = cli("summary", "lenet").output
    half = cli("summary", "lenet", "--dtype", "bf16").output
    params = netspec.summary("lenet").total_params
    assert f"Params size: {params * 4:,} bytes" in plain
    assert "Memory figures in bfloat16" in half and f"Params size: {params * 2:,} bytes" in half
    assert cli("summary", "lenet", "--dtype", "BF16").output == half
    bad = cli("summary", "lenet", "--dtype", "int8")
    assert bad.exit_code == 2 and "'int8' is not one of" in bad.output and "'bf16'" in bad.output


def test_json_carries_the_dtype_and_each_rows_macs_at_the_batch(cli: Any) -> None:
    result = cli("summary", "lenet", "--json", "--batch", "4", "--dtype", "half")
    data = json.loads(result.output)
    assert data["dtype"] == "float16" and data["memory"]["total_param_bytes"] == 2 * data["total_params"]
    assert all(row["batch_macs"] == 4 * row["macs"] for row in data["layers"])
    plain = json.loads(cli("summary", "lenet", "--json").output)
    assert "dtype" not in plain and all("batch_macs" not in row for row in plain["layers"])


def test_summary_takes_the_dtype_in_python() -> None:
    assert netspec.summary("lenet", dtype="bf16").memory == netspec.api.summarise(
        netspec.compile_spec("lenet"), dtype="bfloat16").memory
    assert netspec.summary("lenet", dtype="bf16").dtype == "bfloat16"


def test_dtype_spellings_are_checked_in_python() -> None:
    with pytest.raises(ValueError, match="dtype='int8' is not a floating-point dtype; use one of: float32, float"):
        netspec.api.summarise(netspec.compile_spec("lenet"), dtype="int8")


def test_dtype_leaves_integer_tensors_alone() -> None:
    text = textwrap.dedent("""\
        netspec: 1
        name: Ids
        inputs: {ids: {shape: [N, 16], dtype: int64}}
        layers:
          embed: {type: Embedding, num_embeddings: 100, embedding_dim: 8}
        """)
    compiled = netspec.compile_spec(text=text)
    plain, half = netspec.api.summarise(compiled), netspec.api.summarise(compiled, dtype="fp16")
    assert plain.memory is not None and half.memory is not None
    assert plain.memory.input_bytes == half.memory.input_bytes == 16 * 8  # token ids stay int64
    assert plain.memory.activation_bytes == 16 * 8 * 4 and half.memory.activation_bytes == 16 * 8 * 2
    assert half.memory.param_bytes == {"float16": 100 * 8 * 2}


# ---------------------------------------------------------------- --columns


def test_unknown_column_lists_the_valid_ones(cli: Any) -> None:
    result = cli("summary", "lenet", "--columns", "output_size,foo")
    assert result.exit_code == 2
    assert f"Error: Invalid value for '--columns': unknown column 'foo'; the columns are {COLUMNS_TEXT}" \
        in result.output
    empty = cli("summary", "lenet", "--columns", ",")
    assert empty.exit_code == 2 and f"no column named; the columns are {COLUMNS_TEXT}" in empty.output
    with pytest.raises(ValueError, match=f"unknown column 'foo'; the columns are {COLUMNS_TEXT}"):
        netspec.summary("lenet").render(columns=["foo"])


# ---------------------------------------------------------------- dump --args


MODELS = """\
import torch
from torch import nn


class Net(nn.Module):
    def __init__(self, num_classes: int = 1000, width: int = 8) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, width, 3, padding=1)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(torch.flatten(self.pool(torch.relu(self.conv(x))), 1))
"""


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(MODELS, encoding="utf-8")
    return path


def test_dump_passes_constructor_arguments(cli: Any, models: Path) -> None:
    result = cli("dump", f"{models}:Net", "--input", "x=N,3,32,32", "--args", '{"num_classes": 10, "width": 4}')
    assert result.exit_code == 0, result.output
    assert "fc: {type: Linear, out_features: 10}" in result.output
    assert "conv: {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}" in result.output
    default = cli("dump", f"{models}:Net", "--input", "x=N,3,32,32")
    assert "out_features: 1000" in default.output


HOSTILE_ARGS = [
    ("[1, 2]", "expected a JSON object of keyword arguments such as '{\"num_classes\": 10}', found a JSON list"),
    ("{num_classes: 10}", "expected a JSON object such as '{\"num_classes\": 10}', found invalid JSON (Expecting "
                          "property name enclosed in double quotes: line 1 column 2 (char 1))"),
    ('{"not a name": 1}', "expected argument names, found 'not a name'"),
    ("[" * 10_000, "expected JSON nested at most 32 deep, found 10000"),
    ('{"x": "' + "a" * 70_000 + '"}', "expected at most 65,536 characters of JSON, found 70,009"),
    ('{"x": 1' + "0" * 5000 + "}", "expected a JSON object such as '{\"num_classes\": 10}', found invalid JSON"),
]


@pytest.mark.parametrize(("text", "message"), HOSTILE_ARGS, ids=["list", "not-json", "key", "deep", "long", "digits"])
def test_dump_args_hostile(cli: Any, models: Path, text: str, message: str) -> None:
    result = cli("dump", f"{models}:Net", "--input", "x=N,3,32,32", "--args", text)
    assert result.exit_code == 2, result.output
    assert f"Error: Invalid value for '--args': {message}" in result.output
    assert "Traceback" not in result.output


def test_dump_args_the_class_refuses(cli: Any, models: Path) -> None:
    result = cli("dump", f"{models}:Net", "--input", "x=N,3,32,32", "--args", json.dumps({"depth": 3}))
    assert result.exit_code == 1
    assert "Net(depth=3) failed: TypeError: Net.__init__() got an unexpected keyword argument 'depth'" in result.output
