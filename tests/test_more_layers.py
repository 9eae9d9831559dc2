"""Fold/Unfold, CosineSimilarity/PairwiseDistance, EmbeddingBag, SyncBatchNorm and CrossMapLRN2d past the one-call
worked examples of tests/test_registry.py: MACs as FlopCounterMode counts them, SyncBatchNorm's state_dict and
CPU forward, symbolic sizes, and the round trips and refusals a user meets."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import netspec
from netspec.errors import SpecError
from tests.layer_examples import LAYER_EXAMPLES

MINE = {"MaxUnpool1d", "MaxUnpool2d", "MaxUnpool3d", "LPPool1d", "LPPool2d", "LPPool3d", "FractionalMaxPool2d",
        "FractionalMaxPool3d", "Fold", "Unfold", "CosineSimilarity", "PairwiseDistance", "EmbeddingBag",
        "SyncBatchNorm", "CrossMapLRN2d"}


def spec(layers: dict[str, dict[str, Any]], inputs: dict[str, Any], forward: list[str]) -> str:
    text = "netspec: 1\nname: Probe\ninputs:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in inputs.items())
    text += "layers:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in layers.items())
    return text + "forward:\n" + "".join(f"  - {json.dumps(step)}\n" for step in forward)


def load(tmp_path: Path, text: str) -> nn.Module:
    path = tmp_path / "probe.yaml"
    path.write_text(text, encoding="utf-8")
    return netspec.load(path)


def tensor(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    kind = getattr(torch, dtype)
    if kind.is_floating_point:
        return torch.rand(shape, dtype=kind)
    return torch.zeros(shape, dtype=kind) if kind == torch.bool else torch.ones(shape, dtype=kind)


@pytest.mark.parametrize("example", [e for e in LAYER_EXAMPLES if e.type in MINE], ids=lambda e: e.id)
def test_macs_match_flop_counter(example: Any) -> None:
    """None of these runs a matrix product or a convolution: FlopCounterMode counts nothing, nor does netspec."""
    compiled = netspec.compile_string(example.spec())
    args = compiled.inference.layer_args["l"]
    module = getattr(nn, example.type)(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})
    floats = [i.dtype for i in example.inputs if i.dtype in ("float32", "float64")]
    module = module.to(getattr(torch, floats[0])) if floats else module
    if any(i.dtype in ("float16", "bfloat16") for i in example.inputs):
        pytest.skip("the CPU kernels of some take no half floats")
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        module.eval()(*(tensor(i.shape, i.dtype) for i in example.inputs))
    assert sum(int(r.macs) for r in compiled.inference.rows) == counter.get_total_flops() // 2 == 0


# ---------------------------------------------------------------- SyncBatchNorm


@pytest.mark.parametrize("extra", [{}, {"bias": False}, {"affine": False}, {"track_running_stats": False},
                                   {"momentum": None, "eps": 1e-3}])
def test_sync_batch_norm_state_dict_is_batch_norms(tmp_path: Path, extra: dict[str, Any]) -> None:
    model = load(tmp_path, spec({"bn": {"type": "SyncBatchNorm", **extra}}, {"x": [2, 3, 4, 4]}, ["return bn(x)"]))
    theirs = nn.BatchNorm2d(3, **extra).state_dict()
    bn = model.get_submodule("bn")
    assert isinstance(bn, nn.SyncBatchNorm)
    assert [(k, tuple(v.shape), v.dtype) for k, v in bn.state_dict().items()] == [
        (k, tuple(v.shape), v.dtype) for k, v in theirs.items()]


def test_sync_batch_norm_trains_on_cpu_as_batch_norm(tmp_path: Path) -> None:
    """Without an initialised process group torch's SyncBatchNorm runs F.batch_norm, in training mode too."""
    model = load(tmp_path, spec({"bn": {"type": "SyncBatchNorm"}}, {"x": [4, 3, 5]}, ["return bn(x)"]))
    x = torch.randn(4, 3, 5)
    reference = nn.BatchNorm1d(3)
    assert torch.allclose(model.train()(x), reference.train()(x))
    bn = model.get_submodule("bn")
    assert isinstance(bn, nn.SyncBatchNorm) and bn.running_mean is not None and reference.running_mean is not None
    assert torch.allclose(bn.running_mean, reference.running_mean)
    assert torch.allclose(model.eval()(x), reference.eval()(x))


def test_sync_batch_norm_warns_about_one_value_per_channel_in_training() -> None:
    compiled = netspec.compile_string(spec({"bn": {"type": "SyncBatchNorm"}}, {"x": [1, 3]}, ["return bn(x)"]))
    assert [w.code for w in compiled.warnings] == ["train-mode"]
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.SyncBatchNorm(3).train()(torch.randn(1, 3))


def test_sync_batch_norm_buffers_in_the_summary(tmp_path: Path) -> None:
    path = tmp_path / "bn.yaml"
    path.write_text(spec({"bn": {"type": "SyncBatchNorm"}}, {"x": ["N", 6, 4]}, ["return bn(x)"]), encoding="utf-8")
    memory = netspec.summary(path).memory
    assert memory is not None
    assert memory.buffer_bytes == {"float32": 2 * 6 * 4, "int64": 8}


# ---------------------------------------------------------------- Fold and Unfold


def test_fold_of_unfold_round_trip(tmp_path: Path) -> None:
    window = {"kernel_size": [3, 2], "dilation": [1, 2], "padding": [1, 0], "stride": [2, 1]}
    text = spec({"unfold": {"type": "Unfold", **window}, "fold": {"type": "Fold", "output_size": [9, 7], **window}},
                {"x": ["N", 3, 9, 7]}, ["return fold(unfold(x))"])
    compiled = netspec.compile_string(text)
    assert compiled.inference.output.shape == ("N", 3, 9, 7)
    x = torch.randn(2, 3, 9, 7)
    unfold = nn.Unfold((3, 2), (1, 2), (1, 0), (2, 1))
    expected = nn.Fold((9, 7), (3, 2), (1, 2), (1, 0), (2, 1))(unfold(x))
    assert torch.equal(load(tmp_path, text)(x), expected)


def test_unfold_symbolic_sizes() -> None:
    text = spec({"u": {"type": "Unfold", "kernel_size": 3, "stride": 2}}, {"x": ["N", 3, "H", 8]}, ["return u(x)"])
    shape = netspec.compile_string(text).inference.output.shape
    assert shape[:2] == ("N", 27)
    for h in (3, 4, 9, 10):
        blocks = eval(str(shape[2]), {}, {"H": h})  # an expression netspec wrote
        assert blocks == nn.Unfold(3, stride=2)(torch.randn(1, 3, h, 8)).shape[2]


def test_fold_refuses_a_block_count_that_disagrees() -> None:
    text = spec({"f": {"type": "Fold", "output_size": 4, "kernel_size": 2}}, {"x": [2, 12, 8]}, ["return f(x)"])
    with pytest.raises(SpecError) as refusal:
        netspec.compile_string(text)
    assert "3 * 3 = 9 sliding blocks" in refusal.value.diagnostics[0].message


# ---------------------------------------------------------------- CosineSimilarity and PairwiseDistance


@pytest.mark.parametrize(("kind", "args", "a", "b"), [
    ("CosineSimilarity", {"dim": -1}, ["N", 5, 7], [1, 7]),
    ("CosineSimilarity", {"dim": 0}, ["N", 5], ["N", 5]),
    ("PairwiseDistance", {"keepdim": True}, ["N", 5, 7], [5, 7]),
    ("PairwiseDistance", {"p": 1.0}, [7], ["N", 7]),
])
def test_distances_broadcast_symbolic_batches(kind: str, args: dict[str, Any], a: list[Any], b: list[Any]) -> None:
    compiled = netspec.compile_string(spec({"d": {"type": kind, **args}}, {"x": a, "y": b}, ["return d(x, y)"]))
    concrete = [[3 if d == "N" else d for d in s] for s in (a, b)]
    out = getattr(nn, kind)(**args)(*(torch.randn(s) for s in concrete))
    assert [3 if d == "N" else d for d in compiled.inference.output.shape] == list(out.shape)


def test_distance_values_match_the_functional_form(tmp_path: Path) -> None:
    text = spec({"cos": {"type": "CosineSimilarity", "dim": 2}, "dist": {"type": "PairwiseDistance", "p": 3.0}},
                {"x": [2, 4, 6], "y": [4, 6]}, ["return cos(x, y) + dist(x, y)"])
    x, y = torch.randn(2, 4, 6), torch.randn(4, 6)
    expected = F.cosine_similarity(x, y, 2) + F.pairwise_distance(x, y, 3.0)
    assert torch.allclose(load(tmp_path, text)(x, y), expected)


# ---------------------------------------------------------------- EmbeddingBag


@pytest.mark.parametrize("mode", ["sum", "mean", "max"])
def test_embedding_bag_values(tmp_path: Path, mode: str) -> None:
    text = spec({"bag": {"type": "EmbeddingBag", "num_embeddings": 10, "embedding_dim": 4, "mode": mode}},
                {"x": {"shape": ["B", 3], "dtype": "int64"}}, ["return bag(x)"])
    assert netspec.compile_string(text).inference.output.shape == ("B", 4)
    model = load(tmp_path, text)
    x = torch.randint(0, 10, (5, 3))
    bag = model.get_submodule("bag")
    assert isinstance(bag, nn.EmbeddingBag)
    assert torch.equal(model(x), F.embedding_bag(x, bag.weight, mode=mode))


def test_embedding_bag_one_dim_input_needs_offsets() -> None:
    """The 1-D input + offsets form takes a second tensor, which netspec's EmbeddingBag cannot be given yet."""
    text = spec({"bag": {"type": "EmbeddingBag", "num_embeddings": 10, "embedding_dim": 4}},
                {"x": {"shape": [6], "dtype": "int64"}}, ["return bag(x)"])
    with pytest.raises(SpecError) as refusal:
        netspec.compile_string(text)
    assert "offsets" in (refusal.value.diagnostics[0].hint or "")


# ---------------------------------------------------------------- CrossMapLRN2d


def test_cross_map_lrn2d_values(tmp_path: Path) -> None:
    text = spec({"lrn": {"type": "CrossMapLRN2d", "size": 3, "alpha": 0.01, "k": 2.0}}, {"x": [2, 5, 4, 4]},
                ["return lrn(x)"])
    x = torch.randn(2, 5, 4, 4)
    assert torch.equal(load(tmp_path, text)(x), nn.CrossMapLRN2d(3, 0.01, 0.75, 2.0)(x))
