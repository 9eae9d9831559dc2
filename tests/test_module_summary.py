"""netspec.summary of any nn.Module and `netspec summary FILE.py:CLASS` (netspec/backend/module_summary.py):
the figures checked against torch's own (FlopCounterMode, parameters()), against the spec summary of the same
model, and every failure a diagnostic."""

from __future__ import annotations

import json
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.fx
from click.testing import Result
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import netspec
from netspec import api
from netspec.errors import SpecError


def flop_macs(module: nn.Module, *args: torch.Tensor, train: bool = False) -> int:
    """What FlopCounterMode counts for one forward, as MACs (flops / 2)."""
    module.train(train)
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        module(*args)
    return counter.get_total_flops() // 2


def n_params(module: nn.Module, trainable: bool = False) -> int:
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable)


class ValueBranch(nn.Module):
    """torch.fx cannot trace this (a branch on the input's values), nor can the meta device run it."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3, padding=1)
        self.norm = nn.BatchNorm2d(8)
        self.big = nn.Sequential(nn.Conv2d(8, 16, 3), nn.ReLU(), nn.Conv2d(16, 16, 3))
        self.small = nn.Conv2d(8, 16, 1)
        self.head = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        x = self.big(x) if x.abs().sum() > 0 else self.small(x)  # always big for random inputs
        return self.head(x.mean((2, 3)))


class ShapeBranch(nn.Module):
    """torch.fx cannot trace this either (a branch on a size), but the meta device runs it."""

    def __init__(self) -> None:
        super().__init__()
        self.wide = nn.Linear(32, 64)
        self.narrow = nn.Linear(16, 64)
        self.out = nn.Linear(64, 4)
        self.seen: list[str] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.seen.append(x.device.type)
        h = self.wide(x) if x.shape[-1] == 32 else self.narrow(x)
        for _ in range(x.shape[-1] // 16):  # a loop over a size: fx cannot unroll a Proxy
            h = torch.relu(h)
        return self.out(h)


class Tied(nn.Module):
    """A token model: an int input, an output layer tied to the embedding, a frozen scale, a raw Parameter."""

    def __init__(self) -> None:
        super().__init__()
        self.emb = nn.Embedding(100, 16)
        self.pos = nn.Parameter(torch.zeros(16))
        self.mix = nn.MultiheadAttention(16, 2, batch_first=True)
        self.fc = nn.Linear(16, 100, bias=False)
        self.fc.weight = self.emb.weight
        self.scale = nn.Linear(16, 16)
        self.scale.requires_grad_(False)

    def forward(self, ids: torch.Tensor) -> torch.Tensor:
        h = self.emb(ids) + self.pos
        h = self.mix(h, h, h, need_weights=False)[0]
        return self.fc(self.scale(h))


def test_a_module_fx_cannot_trace_equals_flop_counter_and_parameters() -> None:
    module = ValueBranch()
    with pytest.raises(torch.fx.proxy.TraceError):
        torch.fx.symbolic_trace(module)
    state = {k: v.clone() for k, v in module.state_dict().items()}
    module.train()
    module.head.eval()
    result = netspec.summary(module, inputs={"x": [2, 3, 32, 32]})
    # it could not run on meta: it ran for real, said so, and left the module as it was
    assert [w.code for w in result.warnings] == ["module-ran-for-real"]
    assert result.warnings[0].span is not None and result.warnings[0].span.file == __file__
    assert result.warnings[0].severity == "warning"
    assert [m.training for m in module.modules()] == [m is not module.head for m in module.modules()]
    assert all(torch.equal(v, module.state_dict()[k]) for k, v in state.items())  # BN statistics untouched
    assert result.total_macs == flop_macs(module, torch.randn(2, 3, 32, 32)) > 0
    assert result.total_params == n_params(module) and result.trainable_params == n_params(module, True)
    paths = [r.path for r in result.rows]
    assert "big.0" in paths and "small" not in paths  # the branch the inputs took


def test_a_shape_branch_runs_on_meta_only() -> None:
    module = ShapeBranch()
    with pytest.raises(torch.fx.proxy.TraceError):
        torch.fx.symbolic_trace(module)
    module.seen.clear()
    result = netspec.summary(module, inputs={"x": ["N", 32]}, batch=3)
    assert module.seen and set(module.seen) == {"meta"}  # nothing ran on real tensors
    assert result.warnings == []
    assert result.total_macs == flop_macs(module, torch.randn(1, 32)) == 32 * 64 + 64 * 4
    assert result.batch_macs == flop_macs(module, torch.randn(3, 32))
    assert next(p.device for p in module.parameters()).type == "cpu"
    assert [(r.path, r.type, r.output_shape) for r in result.rows] == [
        ("wide", "Linear", ("N", 64)), ("forward.1", "relu", ("N", 64)), ("forward.2", "relu", ("N", 64)),
        ("out", "Linear", ("N", 4))]
    assert result.inputs == {"x": ("N", 32)} and result.output_shape == ("N", 4)


def test_rows_params_ties_frozen_and_memory() -> None:
    module = Tied()
    ids = torch.zeros(1, 8, dtype=torch.long)
    result = netspec.summary(module, inputs={"ids": ids})
    attention = 3 * 16 * 16 + 3 * 16 + 16 * 16 + 16
    assert result.total_params == n_params(module) == 100 * 16 + 16 + attention + 16 * 16 + 16
    assert result.trainable_params == n_params(module, True) == result.total_params - (16 * 16 + 16)
    # FlopCounterMode has no formula for the CPU's fused attention kernels (eval's fast path, or
    # scaled_dot_product_attention's CPU flash kernel): on meta attention runs as counted matmuls, Q K^T and
    # A V, as a spec's MACs count it; by hand:
    projections = 8 * 16 * 48 + 8 * 16 * 16
    assert result.total_macs == projections + 2 * 8 * 8 * 16 + 8 * 16 * 16 + 8 * 16 * 100
    assert result.total_macs == flop_macs(module, ids, train=True) + 2 * 8 * 8 * 16  # all but the kernel
    rows = {r.path: r for r in result.rows}
    assert rows["emb"].params == rows["fc"].params == 1600  # a tied tensor in both rows, once in the total
    assert rows["mix"].params == n_params(module.mix) and not rows["mix"].container
    assert rows["pos"].type == "Parameter" and rows["pos"].params == 16 and rows["pos"].depth == 0
    assert result.trainable == {"emb": True, "mix": True, "fc": True, "scale": False, "pos": True}
    leaves = [r for r in result.rows if not r.container and r.type != "Parameter"]
    assert sum(r.macs for r in leaves) == result.total_macs
    memory = result.memory
    assert memory is not None
    assert memory.total_param_bytes == 4 * result.total_params
    assert memory.trainable_param_bytes == 4 * result.trainable_params
    assert memory.input_bytes == 8 * 8  # int64 ids
    # emb, the `+ self.pos` (a torch function of the root's forward: a row of its own), mix, scale, fc
    assert [r.path for r in leaves] == ["emb", "forward.1", "mix", "scale", "fc"] and rows["forward.1"].type == "add"
    assert memory.activation_bytes == sum(r.activation_bytes for r in leaves) == 4 * 8 * (16 + 16 + 16 + 16 + 100)


def test_a_container_row_holds_its_children_and_a_shared_call_is_marked() -> None:
    class Shared(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.block = nn.Sequential(nn.Linear(8, 8), nn.ReLU())
            self.act = nn.Tanh()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.act(self.block(self.act(self.block(x))))

    module = Shared()
    result = netspec.summary(module, inputs=[1, 8])  # one shape alone: passed positionally
    assert [(r.path, r.type, r.depth, r.params) for r in result.rows] == [
        ("block", "Sequential", 0, 72), ("block.0", "Linear", 1, 72), ("block.1", "ReLU", 1, 0),
        ("act", "Tanh", 0, 0),
        ("block#2", "Sequential (shared)", 0, 0), ("block.0#2", "Linear (shared)", 1, 0),
        ("block.1#2", "ReLU (shared)", 1, 0), ("act#2", "Tanh (shared)", 0, 0)]
    assert result.rows[0].macs == result.rows[1].macs == 64 and result.rows[0].container
    assert result.total_macs == flop_macs(module, torch.randn(1, 8)) == 128
    assert result.inputs == {"x": (1, 8)}
    # folded to the top level (depth 0 or 1, as summary.py counts it), as a spec's table folds
    tables = [result.render(depth=d, columns=["output_size", "num_params", "mult_adds"]) for d in (0, 1)]
    assert any("block.0" not in table and "block#2" in table for table in tables)
    assert all("MACs per sample: 128" in table for table in tables)
    assert json.loads(json.dumps(result.to_json()))["total_macs"] == 128


# Zoo models built from their specs: the module summary agrees with the spec summary on parameters and MACs
# (per sample and at a batch), and on the state's bytes.
ZOO = ["lenet", "zoo/alexnet", "zoo/resnet18", "zoo/vgg11_bn", "zoo/mobilenet_v2", "zoo/densenet121", "zoo/vit_b_16",
       "zoo/gpt2", "zoo/llama"]


@pytest.mark.parametrize("name", ZOO)
def test_a_zoo_module_agrees_with_its_spec(name: str) -> None:
    compiled = api.compile_spec(name)
    spec_inputs = compiled.inference.model.inputs
    dims = {d: 8 for i in spec_inputs for d in i.shape if isinstance(d, str) and d != "N"}
    spec = netspec.summary(name, dims=dims, batch=2)
    module = netspec.load(name, device="meta")  # no memory: the module summary never needs real weights
    inputs = {i.name: {"shape": list(i.shape), "dtype": i.dtype or "float32"} for i in spec_inputs}
    result = netspec.summary(module, inputs=inputs, dims=dims, batch=2)
    assert result.warnings == []
    assert (result.total_params, result.trainable_params) == (spec.total_params, spec.trainable_params)
    assert result.total_macs == spec.total_macs and result.batch_macs == spec.batch_macs
    assert result.output_shape == tuple(dims.get(d, d) if isinstance(d, str) else d for d in spec.output_shape)
    # every MAC is in a row that is not a container (a layer, or a torch function of a container's forward)
    assert sum(r.macs for r in result.rows if not r.container) == result.total_macs
    assert set(result.to_json()) == set(spec.to_json()) - {"vars"}  # the same JSON, a module has no vars
    assert result.memory is not None and spec.memory is not None
    assert result.memory.total_param_bytes == spec.memory.total_param_bytes
    assert result.memory.total_buffer_bytes == spec.memory.total_buffer_bytes
    assert result.memory.input_bytes == spec.memory.input_bytes
    # the layers both list have the same shapes, parameters and MACs (ops are numbered by forward step in a spec,
    # by call in a module)
    mine = {r.path: (r.output_shape, r.params, r.macs) for r in result.rows if "forward." not in r.path}
    theirs = {r.path: (tuple(dims.get(d, d) if isinstance(d, str) else d for d in r.output_shape), r.params,
                       r.macs) for r in spec.rows}
    common = set(mine) & set(theirs)
    assert len(common) >= min(len(mine), 5)
    assert {p: mine[p] for p in common} == {p: theirs[p] for p in common}


def test_memory_figures_in_another_dtype_are_the_specs() -> None:
    from netspec.backend import module_summary

    spec = api.summarise(api.compile_spec("zoo/resnet18"), batch=4, dtype="bf16")
    result = module_summary.summarise_module(netspec.load("zoo/resnet18", device="meta"),
                                             {"x": ["N", 3, 224, 224]}, batch=4, dtype="bf16")
    assert result.memory is not None and spec.memory is not None
    assert result.memory.param_bytes == spec.memory.param_bytes == {"bfloat16": 2 * spec.total_params}
    assert result.memory.buffer_bytes == spec.memory.buffer_bytes  # num_batches_tracked stays int64
    assert result.memory.input_bytes == spec.memory.input_bytes == 2 * 4 * 3 * 224 * 224
    assert result.dtype == spec.dtype == "bfloat16" and "Memory figures in bfloat16" in result.render()


def test_batch_needs_a_named_batch_dim_and_names_need_binding() -> None:
    module = nn.Linear(4, 2)
    with pytest.raises(SpecError) as info:
        netspec.summary(module, inputs={"input": [1, 4]}, batch=8)
    assert info.value.diagnostics[0].code == "bad-module-input" and "N" in (info.value.diagnostics[0].hint or "")
    with pytest.raises(SpecError) as info:
        netspec.summary(module, inputs={"input": ["N", "F"]})
    assert info.value.diagnostics[0].code == "bad-module-input" and "'F'" in info.value.diagnostics[0].message
    assert netspec.summary(module, inputs={"input": ["N", "F"]}, dims={"F": 4}).total_macs == 8


@pytest.mark.parametrize("inputs, words", [
    ({"x": [1, 0, 3]}, "size 0"),
    ({"x": [1, -2]}, "size -2"),
    ({"x": [1, True]}, "size True"),
    ({"x": [1, "3x"]}, "size '3x'"),
    ({"x": "1,3"}, "found str"),
    ({"x": 3}, "found int"),
    ({}, "names no input"),
    ({"x": {"shape": [1, 4], "dtype": "complex"}}, "dtype 'complex'"),
    ({"x": {"size": [1, 4]}}, "'size'"),
    ({"x": {"shape": {"shape": [1, 4]}}}, "not a list of sizes"),
    ({"x": {"shape": [1, 4], "dtype": ["int64"]}}, "dtype ['int64']"),
])
def test_bad_inputs_are_diagnostics(inputs: Any, words: str) -> None:
    with pytest.raises(SpecError) as info:
        netspec.summary(nn.Linear(4, 2), inputs=inputs)
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "bad-module-input" and words in diagnostic.message, diagnostic.message


def test_a_forward_that_raises_is_a_diagnostic_at_the_users_line() -> None:
    class Raises(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.fc = nn.Linear(4, 4)

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise ValueError("no good")  # the line the diagnostic points at

    with pytest.raises(SpecError) as info:
        netspec.summary(Raises(), inputs={"x": [1, 4]})
    (diagnostic,) = info.value.diagnostics
    assert diagnostic.code == "module-forward-failed" and "ValueError: no good" in diagnostic.message
    assert diagnostic.span is not None and diagnostic.span.file == __file__
    assert "the line the diagnostic points at" in Path(__file__).read_text().splitlines()[diagnostic.span.line - 1]
    with pytest.raises(SpecError) as info:  # wrong shapes: torch's own words
        netspec.summary(nn.Linear(4, 2), inputs={"input": [1, 5]})
    assert info.value.diagnostics[0].code == "module-forward-failed"
    assert "5" in info.value.diagnostics[0].message


def test_a_meta_module_that_must_run_for_real_is_refused() -> None:
    with torch.device("meta"):
        module = ValueBranch()
    with pytest.raises(SpecError) as info:
        netspec.summary(module, inputs={"x": [1, 3, 8, 8]})
    assert info.value.diagnostics[0].code == "module-forward-failed"
    assert "meta" in info.value.diagnostics[0].message and "CPU" in (info.value.diagnostics[0].hint or "")


def test_the_api_says_what_it_needs() -> None:
    with pytest.raises(TypeError, match="inputs="):
        netspec.summary(nn.Linear(2, 2))
    with pytest.raises(TypeError, match=r"nn\.Module"):
        netspec.summary("lenet", inputs={"x": [1, 1, 32, 32]})
    with pytest.raises(ValueError, match="batch"):
        netspec.summary(nn.Linear(2, 2), inputs={"input": ["N", 2]}, batch=0)


MODELS = '''
import torch
from torch import nn


class Branchy(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 8, 3)
        self.head = nn.Linear(8, 10)

    def forward(self, x):
        x = self.conv(x)
        if x.sum() > 1e9:
            x = x * 2
        return self.head(x.mean((2, 3)))


class Plain(nn.Module):
    def __init__(self, width=16):
        super().__init__()
        self.fc1 = nn.Linear(width, 32)
        self.fc2 = nn.Linear(32, 4)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


class Tokens(nn.Module):
    def __init__(self):
        super().__init__()
        self.emb = nn.Embedding(50, 8)

    def forward(self, ids):
        return self.emb(ids)


class Huge(nn.Module):
    """20 billion parameters (80 GB): built and run on meta, never allocated."""

    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(200_000, 100_000)

    def forward(self, x):
        return self.fc(x)


class NoTensor(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x):
        self.fc(x)
        return None


class NeedsArgs(nn.Module):
    def __init__(self, width, depth):
        super().__init__()


class Broken(nn.Module):
    def __init__(self):
        super().__init__()
        raise RuntimeError("constructor says no")


NOT_A_MODULE = 3
'''


@pytest.fixture
def models(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(textwrap.dedent(MODELS), encoding="utf-8")
    return path


def test_cli_summary_of_a_class(cli: Callable[..., Result], models: Path) -> None:
    result = cli("summary", f"{models}:Plain", "--input", "x=N,16", "--batch", "4",
                 "--columns", "input_size,output_size,num_params,mult_adds")
    assert result.exit_code == 0, result.output
    fc1 = next(line.split() for line in result.stdout.splitlines() if line.startswith("fc1 "))
    assert fc1[1] == "Linear" and "544" in fc1 and "(N, 32)" in " ".join(fc1).replace("4,", "N,")
    assert "MACs per sample: 640" in result.output and "MACs at batch 4: 2,560" in result.output
    result = cli("summary", f"{models}:Plain", "--input", "N,16", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total_params"] == 16 * 32 + 32 + 32 * 4 + 4 and data["inputs"] == {"x": ["N", 16]}
    result = cli("summary", f"{models}:Plain", "--input", "N,16", "--depth", "1")
    assert result.exit_code == 0 and "fc2" in result.output


def test_cli_summary_of_an_untraceable_class_and_int_inputs(cli: Callable[..., Result], models: Path) -> None:
    result = cli("summary", f"{models}:Branchy", "--input", "x=1,3,10,10")
    assert result.exit_code == 0, result.output
    assert "warning[module-ran-for-real]" in result.stderr and "MACs per sample: 13,904" in result.stdout
    result = cli("summary", f"{models}:Tokens", "--input", "ids=N,7:int64", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["memory"]["input_bytes"] == 7 * 8
    result = cli("summary", f"{models}:Tokens", "--input", "ids=N,7:int64", "--dtype", "fp16", "--json")
    memory = json.loads(result.stdout)["memory"]
    assert memory["param_bytes"] == {"float16": 50 * 8 * 2} and memory["input_bytes"] == 7 * 8  # ids stay int64
    assert memory["activation_bytes"] == 7 * 8 * 2


@pytest.mark.parametrize("target, args, code, words", [
    ("{dir}/missing.py:Net", ["--input", "1,2"], "module-unloadable", "no such file"),
    ("{models}:Nope", ["--input", "1,2"], "module-unloadable", "defines no 'Nope'"),
    ("{models}:NOT_A_MODULE", ["--input", "1,2"], "module-unloadable", "not an nn.Module class"),
    ("{models}:NeedsArgs", ["--input", "1,2"], "module-constructor-failed", "arguments: width, depth"),
    ("{models}:Broken", ["--input", "1,2"], "module-constructor-failed", "constructor says no"),
    ("{models}:Plain", ["--input", "x=N,15"], "module-forward-failed", "RuntimeError"),
    ("{models}:Plain", ["--input", "x=1,16", "--batch", "2"], "bad-module-input", "no input shape names"),
    ("{models}:Tokens", ["--input", "ids=1,7:int65"], "bad-module-input", "dtype 'int65'"),
])
def test_cli_failures_are_diagnostics(cli: Callable[..., Result], models: Path, target: str, args: list[str],
                                      code: str, words: str) -> None:
    result = cli("summary", target.format(dir=models.parent, models=models), *args)
    assert result.exit_code == 1, result.output
    assert f"error[{code}]" in result.stderr and words in result.stderr, result.stderr
    assert "Traceback" not in result.output


def test_cli_hostile_modules(cli: Callable[..., Result], models: Path, tmp_path: Path) -> None:
    result = cli("summary", f"{models}:Huge", "--input", "x=N,200000", "--json")
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data["total_params"] == 200_000 * 100_000 + 100_000 and data["total_macs"] == 200_000 * 100_000
    result = cli("summary", f"{models}:NoTensor", "--input", "x=N,4")
    assert result.exit_code == 0 and "Output: ()" in result.stdout
    bad = tmp_path / "bad.py"
    bad.write_text("def broken(:\n", encoding="utf-8")
    result = cli("summary", f"{bad}:Net", "--input", "1,2")
    assert result.exit_code == 1 and "error[module-unloadable]" in result.stderr and "SyntaxError" in result.stderr
    result = cli("summary", f"{models}:Plain", "--input", "y=N,16")  # no forward parameter named y
    assert result.exit_code == 1 and "error[module-forward-failed]" in result.stderr and "'y'" in result.stderr


def test_cli_usage(cli: Callable[..., Result], models: Path) -> None:
    result = cli("summary", f"{models}:Plain")
    assert result.exit_code == 2 and "--input" in result.output
    result = cli("summary", "lenet", "--input", "x=1,1,32,32")
    assert result.exit_code == 2 and "FILE.py:CLASS" in result.output
    result = cli("summary", f"{models}:Plain", "--input", "x=1,16", "--input", "1,16")
    assert result.exit_code == 2 and "name each" in result.output
    result = cli("summary", f"{models}:Plain", "--input", "x=N,16", "--json")
    assert result.exit_code == 0
    result = cli("summary", f"{models}:NeedsArgs", "--input", "x=1,16", "--json")
    assert result.exit_code == 1 and "module-constructor-failed" in result.stdout  # data for tools, as for a spec


@pytest.mark.parametrize("name", ["zoo/resnet18", "zoo/densenet121"])
def test_the_picture_of_a_zoo_module_is_its_specs(name: str) -> None:
    from netspec.backend import graph, module_summary

    mine, result = module_summary.graph_module(netspec.load(name, device="meta"), {"x": ["N", 3, 224, 224]})
    theirs = graph.build(api.compile_spec(name).inference)
    assert result.warnings == []
    assert (len(mine.nodes), len(mine.edges), len(mine.clusters)) == \
        (len(theirs.nodes), len(theirs.edges), len(theirs.clusters))
    layers = {(n.path, n.type, n.shape, n.params, n.macs) for n in mine.nodes if n.kind == "layer"}
    assert layers == {(n.path, n.type, n.shape, n.params, n.macs) for n in theirs.nodes if n.kind == "layer"}
    assert [(c.path, c.type, c.params) for c in mine.clusters] == \
        [(c.path, c.type, c.params) for c in theirs.clusters]

    def flow(g: graph.Graph) -> set[tuple[str, str, tuple[Any, ...]]]:
        """Edges between layers, by path: the data flow, whatever the ops between are named."""
        by_id = {n.id: n for n in g.nodes}
        return {(by_id[e.src].path, by_id[e.dst].path, e.shape) for e in g.edges
                if by_id[e.src].kind == by_id[e.dst].kind == "layer"}

    assert flow(mine) == flow(theirs)


def test_cli_graph_of_a_class(cli: Callable[..., Result], models: Path, tmp_path: Path) -> None:
    result = cli("graph", f"{models}:Plain", "--input", "x=N,16", "--format", "mmd")
    assert result.exit_code == 0, result.output
    assert "fc1: Linear<br/>(N, 32)" in result.stdout and "-->|\"(N, 32)\"|" in result.stdout
    out = tmp_path / "plain.html"
    result = cli("graph", f"{models}:Plain", "--input", "x=N,16", "-o", out)
    assert result.exit_code == 0 and "<html" in out.read_text().lower()
    result = cli("graph", f"{models}:Nope", "--input", "x=N,16")
    assert result.exit_code == 1 and "error[module-unloadable]" in result.stderr
    result = cli("graph", "lenet", "--input", "x=N,16")
    assert result.exit_code == 2
