"""MaxPool's return_indices, MaxUnpool, LPPool and FractionalMaxPool against torch, past the one-call worked
examples of tests/test_registry.py: layers that return a tuple, the MaxPool -> MaxUnpool round trip, MaxUnpool's
output_size call argument, FractionalMaxPool's output_ratio rounding and LPPool's norm_type check."""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import netspec
from netspec.errors import SpecError
from netspec.ops import LAYERS, ShapeError, Tensor


def spec(layers: dict[str, dict[str, Any]], inputs: dict[str, Any], forward: list[str]) -> str:
    text = "netspec: 1\nname: Probe\ninputs:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in inputs.items())
    text += "layers:\n" + "".join(f"  {k}: {json.dumps(v)}\n" for k, v in layers.items())
    return text + "forward:\n" + "".join(f"  - {json.dumps(step)}\n" for step in forward)


def shape_dtype(t: torch.Tensor) -> tuple[tuple[int, ...], str]:
    return tuple(t.shape), str(t.dtype).removeprefix("torch.")


def value(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    kind = getattr(torch, dtype)
    if kind == torch.bool:
        return torch.rand(shape) > 0.5
    return torch.randn(shape).to(kind) if kind.is_floating_point else torch.randint(0, 5, shape, dtype=kind)


def module(kind: str, args: dict[str, Any]) -> nn.Module:
    return getattr(nn, kind)(**{k: tuple(v) if isinstance(v, list) else v for k, v in args.items()})  # type: ignore[no-any-return]


# ---------------------------------------------------------------- MaxPool(return_indices=True) gives a tuple


@pytest.mark.parametrize(("n", "dtype"), list(itertools.product((1, 2, 3), ("float32", "float64", "int64", "int32"))))
def test_max_pool_return_indices_gives_values_and_int64_indices(n: int, dtype: str) -> None:
    args = {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "return_indices": True}
    shape = (2, 3, *(7,) * n)
    text = spec({"pool": {"type": f"MaxPool{n}d", **args}}, {"x": {"shape": list(shape), "dtype": dtype}},
                ["y, i = pool(x)", "return i"])
    compiled = netspec.compile_string(text)
    (event,) = [e for e in compiled.inference.trace if e.kind == "layer"]
    y, i = module(f"MaxPool{n}d", args)(value(shape, dtype))
    assert tuple((t.shape, t.dtype) for t in event.output) == (shape_dtype(y), shape_dtype(i))
    assert (compiled.inference.output.shape, compiled.inference.output.dtype) == shape_dtype(i)


def test_max_pool_return_indices_refuses_bool_like_torch() -> None:
    text = spec({"pool": {"type": "MaxPool1d", "kernel_size": 2, "return_indices": True}},
                {"x": {"shape": [2, 3, 8], "dtype": "bool"}}, ["y, i = pool(x)", "return y"])
    with pytest.raises(SpecError):
        netspec.compile_string(text)
    with pytest.raises(NotImplementedError):
        nn.MaxPool1d(2, return_indices=True)(torch.zeros(2, 3, 8, dtype=torch.bool))


def test_a_tuple_is_no_input_of_the_next_layer() -> None:
    """Without forward, layers run in order: a pool that returns (values, indices) is refused there, with a code."""
    text = "netspec: 1\nname: C\ninputs:\n  x: [2, 3, 8, 8]\nlayers:\n"
    text += "  pool: {type: MaxPool2d, kernel_size: 2, return_indices: true}\n  act: ReLU\n"
    with pytest.raises(SpecError) as refusal:
        netspec.compile_string(text)
    assert refusal.value.diagnostics[0].code == "bad-call"


# ---------------------------------------------------------------- MaxPool -> MaxUnpool


# Sizes whose default unpooled size is the input's, so that every index is in range (torch checks the values).
@pytest.mark.parametrize(("n", "pool", "size", "batched"), [
    (1, {"kernel_size": 2}, 6, True),
    (1, {"kernel_size": 3, "stride": 2, "padding": 1}, 7, False),
    (2, {"kernel_size": 2}, 6, True),
    (2, {"kernel_size": [2, 3], "stride": [2, 1], "padding": [0, 1]}, 6, False),
    (3, {"kernel_size": 2, "stride": 1}, 6, True),
])
def test_max_pool_then_unpool_matches_torch(tmp_path: Path, n: int, pool: dict[str, Any], size: int,
                                            batched: bool) -> None:
    shape = ((2,) if batched else ()) + (3,) + (size,) * n
    text = spec({"pool": {"type": f"MaxPool{n}d", **pool, "return_indices": True},
                 "unpool": {"type": f"MaxUnpool{n}d", **pool}}, {"x": list(shape)},
                ["y, idx = pool(x)", "return unpool(y, idx)"])
    compiled = netspec.compile_string(text)
    x = torch.randn(shape)
    expected = module(f"MaxUnpool{n}d", pool)(*module(f"MaxPool{n}d", {**pool, "return_indices": True})(x))
    assert (compiled.inference.output.shape, compiled.inference.output.dtype) == shape_dtype(expected)
    path = tmp_path / "roundtrip.yaml"
    path.write_text(text, encoding="utf-8")
    assert torch.equal(netspec.load(path)(x), expected)


def test_fractional_max_pool_indices_feed_max_unpool() -> None:
    text = spec({"pool": {"type": "FractionalMaxPool2d", "kernel_size": 2, "output_size": 4, "return_indices": True},
                 "unpool": {"type": "MaxUnpool2d", "kernel_size": 2}}, {"x": [2, 3, 8, 8]},
                ["y, idx = pool(x)", "return unpool(y, idx)"])
    y, idx = nn.FractionalMaxPool2d(2, output_size=4, return_indices=True)(torch.randn(2, 3, 8, 8))
    assert netspec.compile_string(text).inference.output.shape == tuple(nn.MaxUnpool2d(2)(y, idx).shape)


def _unpool_call(n: int, shape: tuple[int, ...], args: dict[str, Any], output_size: Any) -> Any:
    rule = LAYERS[f"MaxUnpool{n}d"].rule
    try:
        out, _ = rule({**args, "__output_size__": output_size}, [Tensor(shape), Tensor(shape, "int64")])
    except ShapeError:
        return "refused"
    return tuple(out.shape)


def _torch_unpool(n: int, shape: tuple[int, ...], args: dict[str, Any], output_size: Any) -> Any:
    m = module(f"MaxUnpool{n}d", args)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = m(torch.randn(shape), torch.zeros(shape, dtype=torch.long), output_size=output_size)
    except (ValueError, TypeError, RuntimeError):
        return "refused"
    return "refused" if 0 in out.shape else tuple(out.shape)


@pytest.mark.parametrize("n", (1, 2, 3))
def test_max_unpool_output_size_rule_matches_torch(n: int) -> None:
    """The call argument output_size: n or n + 2 entries, each strictly within stride of the default size."""
    for batched, stride, output_size in itertools.product(
            (True, False), (None, 1, 3), ([5] * n, [6] * n, [7] * n, [8] * n, [9] * n, [2, 3] + [7] * n,
                                          [7] * (n + 1), 7, [0] * n)):
        shape = ((2,) if batched else ()) + (3,) + (3,) * n
        args = {"kernel_size": 2, "stride": stride}
        assert _unpool_call(n, shape, args, output_size) == _torch_unpool(n, shape, args, output_size), (
            batched, stride, output_size)


def test_max_unpool_output_size_in_forward() -> None:
    text = spec({"pool": {"type": "MaxPool2d", "kernel_size": 2, "return_indices": True},
                 "unpool": {"type": "MaxUnpool2d", "kernel_size": 2}}, {"x": [2, 3, 9, 9]},
                ["y, idx = pool(x)", "return unpool(y, idx, output_size=[9, 9])"])
    assert netspec.compile_string(text).inference.output.shape == (2, 3, 9, 9)


# ---------------------------------------------------------------- FractionalMaxPool's output_ratio


@pytest.mark.parametrize("n", (2, 3))
def test_fractional_output_ratio_rounds_as_torch(n: int) -> None:
    """int(size * ratio) in float arithmetic, as F.fractional_max_poolNd computes it."""
    rule = LAYERS[f"FractionalMaxPool{n}d"].rule
    for size, ratio in itertools.product(range(2, 41), (0.1, 0.2, 0.29, 0.3, 0.33, 0.5, 0.57, 0.7, 0.9, 0.99)):
        shape = (1, 1, *(size,) * n)
        args = {"kernel_size": 1, "output_ratio": ratio}
        try:
            ours: Any = tuple(rule(args, [Tensor(shape)])[0].shape)
        except ShapeError:
            ours = "refused"
        try:
            out = nn.FractionalMaxPool2d(1, output_ratio=ratio)(torch.randn(shape)) if n == 2 else \
                nn.FractionalMaxPool3d(1, output_ratio=ratio)(torch.randn(shape))
            theirs: Any = "refused" if 0 in out.shape else tuple(out.shape)
        except RuntimeError:
            theirs = "refused"
        assert ours == theirs, (size, ratio)


def test_fractional_return_indices() -> None:
    text = spec({"pool": {"type": "FractionalMaxPool3d", "kernel_size": 2, "output_ratio": [0.5, 0.6, 0.4],
                          "return_indices": True}}, {"x": [2, 3, 9, 10, 11]}, ["y, i = pool(x)", "return i"])
    compiled = netspec.compile_string(text)
    (event,) = [e for e in compiled.inference.trace if e.kind == "layer"]
    y, i = nn.FractionalMaxPool3d(2, output_ratio=(0.5, 0.6, 0.4), return_indices=True)(torch.randn(2, 3, 9, 10, 11))
    assert tuple((t.shape, t.dtype) for t in event.output) == (shape_dtype(y), shape_dtype(i))


# ---------------------------------------------------------------- LPPool


def test_lp_pool_norm_type_zero_is_refused_like_torch() -> None:
    text = spec({"l": {"type": "LPPool1d", "norm_type": 0.0, "kernel_size": 2}}, {"x": [2, 3, 8]}, ["return l(x)"])
    with pytest.raises(SpecError):
        netspec.compile_string(text)
    with pytest.raises(ZeroDivisionError):
        nn.LPPool1d(0.0, 2)(torch.randn(2, 3, 8))


def test_lp_pool_1d_takes_one_kernel_size_only() -> None:
    """lp_pool1d multiplies by kernel_size: torch refuses a list there, and netspec's grammar does too."""
    text = spec({"l": {"type": "LPPool1d", "norm_type": 2.0, "kernel_size": [2]}}, {"x": [2, 3, 8]}, ["return l(x)"])
    with pytest.raises(SpecError):
        netspec.compile_string(text)
    with pytest.raises(TypeError):
        nn.LPPool1d(2.0, [2])(torch.randn(2, 3, 8))  # type: ignore[arg-type]  # what torch refuses


@pytest.mark.parametrize(("n", "dtype"), list(itertools.product((1, 2, 3), ("float32", "float64", "int64", "int32",
                                                                             "bool"))))
def test_lp_pool_dtypes(n: int, dtype: str) -> None:
    shape = (2, 3, *(5,) * n)
    text = spec({"l": {"type": f"LPPool{n}d", "norm_type": 2.0, "kernel_size": 2, "ceil_mode": True}},
                {"x": {"shape": list(shape), "dtype": dtype}}, ["return l(x)"])
    compiled = netspec.compile_string(text)
    out = nn.__dict__[f"LPPool{n}d"](2.0, 2, ceil_mode=True)(value(shape, dtype))
    assert (compiled.inference.output.shape, compiled.inference.output.dtype) == shape_dtype(out)


# ---------------------------------------------------------------- symbolic sizes


@pytest.mark.parametrize(("layer", "shape", "sizes"), [
    ({"type": "LPPool2d", "norm_type": 2.0, "kernel_size": 3, "stride": 2, "ceil_mode": True}, [2, 3, "H", "W"],
     {"H": 9, "W": 12}),
    ({"type": "FractionalMaxPool2d", "kernel_size": 2, "output_ratio": [0.5, 0.3]}, [2, 3, "H", "W"],
     {"H": 9, "W": 21}),
    ({"type": "LPPool1d", "norm_type": 1.0, "kernel_size": 4}, [2, 3, "L"], {"L": 17}),
])
def test_symbolic_sizes_evaluate_to_torch(layer: dict[str, Any], shape: list[Any], sizes: dict[str, int]) -> None:
    compiled = netspec.compile_string(spec({"l": layer}, {"x": shape}, ["return l(x)"]))
    concrete = [sizes[d] if isinstance(d, str) else int(d) for d in shape]
    args = {k: v for k, v in layer.items() if k != "type"}
    out = module(layer["type"], args)(torch.randn(concrete))
    got = [eval(str(d), {"ceil": lambda v: -(-v // 1), "min": min, "int": int}, dict(sizes))  # netspec's text
           if isinstance(d, str) else d for d in compiled.inference.output.shape]
    assert [int(d) for d in got] == list(out.shape)


def test_max_unpool_symbolic_batch_and_size() -> None:
    text = spec({"pool": {"type": "MaxPool2d", "kernel_size": 2, "return_indices": True},
                 "unpool": {"type": "MaxUnpool2d", "kernel_size": 3, "stride": 2, "padding": 1}},
                {"x": ["N", 3, "H", 8]}, ["y, idx = pool(x)", "return unpool(y, idx)"])
    shape = netspec.compile_string(text).inference.output.shape
    assert shape[0] == "N" and shape[1] == 3 and shape[3] == 7
