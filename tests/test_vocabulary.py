"""The layers and ops torchvision's classification models use (issue 9 §5): shape rules against torch on
random sizes, chunk/split unpacked in forward and run, and stochastic_depth against torchvision's formula."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netspec
from netspec.errors import SpecError
from netspec.ops import OPS

RNG = random.Random(9)


def _spec(inputs: dict[str, list[Any]], forward: list[str]) -> str:
    lines = ["netspec: 1", "name: Probe", "inputs:"]
    lines += [f"  {name}: {json.dumps(shape)}" for name, shape in inputs.items()]
    lines += ["forward:", *(f"  - {json.dumps(step)}" for step in forward)]
    return "\n".join(lines) + "\n"


def _inferred(text: str) -> tuple[tuple[Any, ...], str]:
    out = netspec.compile_string(text).inference.output
    return tuple(out.shape), out.dtype


def _shape(t: torch.Tensor) -> tuple[tuple[int, ...], str]:
    return tuple(t.shape), str(t.dtype).removeprefix("torch.")


# ---------------------------------------------------------------- shape rules against torch


ACTIVATIONS = {
    "hardswish": F.hardswish, "hardsigmoid": F.hardsigmoid, "elu": F.elu, "selu": F.selu, "celu": F.celu,
    "mish": F.mish, "softplus": F.softplus, "hardtanh": F.hardtanh,
}


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_activation_dtypes_follow_torch(name: str, dtype: str) -> None:
    """Float inputs keep their dtype; hardtanh alone keeps integers too (the CPU kernels of the others have none)."""
    shape = [RNG.randint(1, 4) for _ in range(RNG.randint(0, 4))]
    x = torch.zeros(shape, dtype=getattr(torch, dtype))
    text = _spec({"x": {"shape": shape, "dtype": dtype}}, [f"return {name}(x)"])
    try:
        want = _shape(ACTIVATIONS[name](x))
    except (RuntimeError, NotImplementedError):
        with pytest.raises(SpecError):
            netspec.compile_string(text)
        return
    assert _inferred(text) == want


@pytest.mark.parametrize("n", [1, 2, 3])
def test_adaptive_max_pool_on_random_sizes(n: int) -> None:
    fn = getattr(F, f"adaptive_max_pool{n}d")
    for _ in range(20):
        shape = [RNG.randint(1, 3) for _ in range(RNG.choice([1, 2]))] + [RNG.randint(1, 9) for _ in range(n)]
        size: Any = RNG.randint(1, 6) if n == 1 or RNG.random() < 0.4 else [
            RNG.choice([None, RNG.randint(1, 6)]) for _ in range(n)]
        text = _spec({"x": shape}, [f"return adaptive_max_pool{n}d(x, {size!r})"])
        assert _inferred(text) == _shape(fn(torch.rand(shape), tuple(size) if isinstance(size, list) else size))


def test_adaptive_max_pool_refusals_match_torch() -> None:
    for shape in [(5, 5), (1, 1, 2, 5, 5)]:
        with pytest.raises(RuntimeError):
            F.adaptive_max_pool2d(torch.rand(shape), 2)
        with pytest.raises(SpecError):
            netspec.compile_string(_spec({"x": list(shape)}, ["return adaptive_max_pool2d(x, 2)"]))
    # an empty dim (inputs are never empty; narrow makes one): refused after dim 0, as torch does
    for dim, refused in [(0, False), (1, True), (2, True)]:
        x = torch.rand(2, 3, 4, 4).narrow(dim, 0, 0)
        text = _spec({"x": [2, 3, 4, 4]}, [f"y = x.narrow({dim}, 0, 0)", "return adaptive_max_pool2d(y, 2)"])
        if refused:
            with pytest.raises(RuntimeError):
                F.adaptive_max_pool2d(x, 2)
            with pytest.raises(SpecError, match="empty"):
                netspec.compile_string(text)
        else:
            assert _inferred(text) == _shape(F.adaptive_max_pool2d(x, 2))


@pytest.mark.parametrize("op", ["chunk", "split", "split-sections"])
def test_chunk_and_split_on_random_sizes(op: str) -> None:
    for _ in range(40):
        shape = [RNG.randint(1, 9) for _ in range(RNG.randint(1, 3))]
        dim = RNG.randrange(-len(shape), len(shape))
        size = shape[dim]
        x = torch.rand(shape)
        if op == "split-sections":
            cuts = sorted(RNG.randint(0, size) for _ in range(RNG.randint(0, 3)))
            arg: Any = [b - a for a, b in zip([0, *cuts], [*cuts, size], strict=True)]
        else:
            arg = RNG.randint(1, 10)
        name = op.split("-")[0]
        pieces = getattr(torch, name)(x, arg, dim)
        call = f"{name}(x, {arg!r}, {dim})"
        if len(pieces) == 1:  # one tensor cannot be unpacked into names: cat joins the tuple of one
            assert _inferred(_spec({"x": shape}, [f"return cat({call}, {dim})"])) == _shape(pieces[0])
            continue
        names = [f"p{i}" for i in range(len(pieces))]
        for k, piece in enumerate(pieces):  # each piece's shape, returned one at a time
            forward = [f"{', '.join(names)} = {call}", f"return {names[k]}"]
            assert _inferred(_spec({"x": shape}, forward)) == _shape(piece), (shape, call, k)


def test_chunk_gives_fewer_tensors_than_asked_as_torch_does() -> None:
    assert len(torch.chunk(torch.rand(2, 5), 4, 1)) == 3
    ok = _spec({"x": [2, 5]}, ["a, b, c = x.chunk(4, 1)", "return c"])
    assert _inferred(ok) == ((2, 1), "float32")
    with pytest.raises(SpecError, match="unpack"):
        netspec.compile_string(_spec({"x": [2, 5]}, ["a, b, c, d = x.chunk(4, 1)", "return d"]))


def test_chunk_of_a_symbolic_dim_is_refused_but_other_dims_may_be_symbolic() -> None:
    with pytest.raises(SpecError, match="symbolic"):
        netspec.compile_string(_spec({"x": ["N", 6]}, ["a, b = x.chunk(2, 0)", "return a"]))
    assert _inferred(_spec({"x": ["N", 6, "L"]}, ["a, b = x.chunk(2, 1)", "return b"])) == (("N", 3, "L"), "float32")
    # sections need no concrete size
    assert _inferred(_spec({"x": ["N", "C"]}, ["a, b = split(x, [2, 3], 1)", "return b"])) == (("N", 3), "float32")


def test_narrow_on_random_sizes() -> None:
    for _ in range(60):
        shape = [RNG.randint(1, 7) for _ in range(RNG.randint(1, 3))]
        dim = RNG.randrange(-len(shape), len(shape))
        start, length = RNG.randint(-8, 8), RNG.randint(0, 8)
        text = _spec({"x": shape}, [f"return x.narrow({dim}, {start}, {length})"])
        try:
            want = _shape(torch.rand(shape).narrow(dim, start, length))
        except (RuntimeError, IndexError):
            with pytest.raises(SpecError):
                netspec.compile_string(text)
            continue
        assert _inferred(text) == want, (shape, dim, start, length)


@pytest.mark.parametrize("dtype", ["int64", "bool", "float16"])
def test_chunk_split_narrow_keep_any_dtype(dtype: str) -> None:
    x = torch.zeros(2, 6, dtype=getattr(torch, dtype))
    for step, piece in [("a, b = x.chunk(2, 1)", x.chunk(2, 1)[1]),
                        ("a, b = x.split([4, 2], 1)", x.split([4, 2], 1)[1]),
                        ("b = x.narrow(1, 2, 3)", x.narrow(1, 2, 3))]:
        assert _inferred(_spec({"x": {"shape": [2, 6], "dtype": dtype}}, [step, "return b"])) == _shape(piece)


# ---------------------------------------------------------------- layers built and run


def test_prelu_parameters_and_values() -> None:
    text = """
netspec: 1
name: P
inputs:
  x: [2, 3, 4, 4]
layers:
  act: {type: PReLU, num_parameters: 3, init: 0.1}
"""
    compiled = netspec.compile_string(text)
    assert compiled.inference.total_params == 3
    model = netspec.load(text=text)
    assert repr(model.act) == repr(nn.PReLU(3, 0.1))
    x = torch.randn(2, 3, 4, 4)
    with torch.no_grad():
        torch.testing.assert_close(model(x), F.prelu(x, torch.full((3,), 0.1)))


def test_activation_layers_run_as_torch() -> None:
    layers = {"a": "{type: Hardswish}", "b": "{type: ELU, alpha: 0.5}", "c": "{type: Softplus, beta: 2.0}",
              "d": "{type: Hardtanh, min_val: -0.5, max_val: 0.5}", "e": "{type: Mish}",
              "f": "{type: AdaptiveMaxPool2d, output_size: [null, 2]}", "g": "{type: Dropout2d, p: 0.3}"}
    text = "netspec: 1\nname: Acts\ninputs:\n  x: [2, 3, 6, 6]\nlayers:\n" + "".join(
        f"  {k}: {v}\n" for k, v in layers.items())
    model = netspec.load(text=text).eval()
    x = torch.randn(2, 3, 6, 6)
    want = F.adaptive_max_pool2d(F.mish(F.hardtanh(F.softplus(F.elu(F.hardswish(x), 0.5), 2.0), -0.5, 0.5)),
                                 (None, 2))
    with torch.no_grad():
        torch.testing.assert_close(model(x), want)
    assert netspec.compile_string(text).inference.output.shape == (2, 3, 6, 2)


# ---------------------------------------------------------------- chunk / split in a forward, run


def test_chunk_and_split_unpack_in_forward_and_run() -> None:
    text = """
netspec: 1
name: Shuffle
inputs:
  x: [N, 8, 5, 5]
layers:
  conv: {type: Conv2d, out_channels: 4, kernel_size: 1}
forward:
  - a, b = x.chunk(2, 1)
  - b = conv(b)
  - c, d, e = split(b, [1, 2, 1], dim=1)
  - f = x.narrow(1, 6, 2)
  - return cat([a, c, d, e, f], 1)
"""
    assert netspec.compile_string(text).inference.output.shape == ("N", 10, 5, 5)
    model = netspec.load(text=text)
    source = netspec.compile_source(text=text)
    assert "torch.chunk(" in source and "torch.split(" in source and "torch.narrow(" in source
    x = torch.randn(3, 8, 5, 5)
    with torch.no_grad():
        a, b = x.chunk(2, 1)
        b = model.conv(b)
        c, d, e = torch.split(b, [1, 2, 1], dim=1)
        torch.testing.assert_close(model(x), torch.cat([a, c, d, e, x.narrow(1, 6, 2)], 1))


def test_unpacking_the_wrong_number_of_pieces_is_refused() -> None:
    with pytest.raises(SpecError, match="unpack"):
        netspec.compile_string(_spec({"x": [2, 6]}, ["a, b = split(x, 2, 1)", "return a"]))
    with pytest.raises(SpecError, match="tensor"):  # a tuple is not a tensor to return
        netspec.compile_string(_spec({"x": [2, 6]}, ["return x.chunk(2, 1)"]))


# ---------------------------------------------------------------- stochastic depth


def torchvision_stochastic_depth(input: torch.Tensor, p: float, mode: str, training: bool = True) -> torch.Tensor:
    """torchvision.ops.stochastic_depth (torchvision/ops/stochastic_depth.py), as the reference."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
    if mode not in ["batch", "row"]:
        raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
    if not training or p == 0.0:
        return input
    survival_rate = 1.0 - p
    if mode == "row":  # noqa: SIM108 - torchvision's code as it is written
        size = [input.shape[0]] + [1] * (input.ndim - 1)
    else:
        size = [1] * input.ndim
    noise = torch.empty(size, dtype=input.dtype, device=input.device)
    noise = noise.bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return input * noise


SD_SPEC = """
netspec: 1
name: Residual
args: {{mode: {mode}, p: {p}}}
inputs:
  x: [N, 4, 3, 3]
layers:
  conv: {{type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}}
forward:
  - return x + stochastic_depth(conv(x), p, mode)
"""


@pytest.mark.parametrize("mode", ["row", "batch"])
@pytest.mark.parametrize("p", [0.0, 0.3, 0.5, 1.0])
def test_stochastic_depth_is_torchvisions_formula(mode: str, p: float) -> None:
    text = SD_SPEC.format(mode=mode, p=p)
    model = netspec.load(text=text)
    assert model.training
    x = torch.randn(16, 4, 3, 3)
    with torch.no_grad():
        branch = model.conv(x)
        torch.manual_seed(0)
        want = x + torchvision_stochastic_depth(branch, p, mode)
        torch.manual_seed(0)
        torch.testing.assert_close(model(x), want)
        model.eval()
        torch.testing.assert_close(model(x), x + branch)  # the identity in evaluation


def test_stochastic_depth_drops_rows_or_the_batch() -> None:
    x = torch.ones(64, 2)
    for mode in ("row", "batch"):
        namespace: dict[str, Any] = {"torch": torch}
        exec(OPS["stochastic_depth"].helper or "", namespace)
        torch.manual_seed(1)
        out = namespace["stochastic_depth"](x, 0.5, mode)
        rows = {tuple(r.tolist()) for r in out}
        assert rows <= {(0.0, 0.0), (2.0, 2.0)}
        assert len(rows) == (2 if mode == "row" else 1)


def test_stochastic_depth_generated_source_imports_only_torch() -> None:
    source = netspec.compile_source(text=SD_SPEC.format(mode="row", p=0.2))
    assert "def stochastic_depth(input, p, mode, training=True):" in source
    assert "training=self.training" in source
    imports = [line.split()[1] for line in source.splitlines() if line.startswith(("import ", "from "))]
    assert {name.split(".")[0] for name in imports} <= {"torch", "collections"}, imports


def test_stochastic_depth_refusals() -> None:
    with pytest.raises(SpecError):
        netspec.compile_string(_spec({"x": []}, ["return stochastic_depth(x, 0.2, 'row')"]))
    with pytest.raises(SpecError):
        netspec.compile_string(_spec({"x": [2, 3]}, ["return stochastic_depth(x, 1.5, 'row')"]))
    with pytest.raises(SpecError):
        netspec.compile_string(_spec({"x": [2, 3]}, ["return stochastic_depth(x, 0.5, 'col')"]))
    with pytest.raises(SpecError):
        netspec.compile_string(_spec({"x": {"shape": [2, 3], "dtype": "int64"}},
                                     ["return stochastic_depth(x, 0.5, 'batch')"]))
    # mode 'batch' takes a 0-D input
    assert _inferred(_spec({"x": []}, ["return stochastic_depth(x, 0.2, 'batch')"])) == ((), "float32")
