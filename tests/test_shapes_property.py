"""Property tests: netspec's static shape rules against real PyTorch.

For random arguments and input sizes, including ones that make an output
smaller than 1 and argument combinations PyTorch refuses, the property is

    torch raises  <=>  netspec raises ShapeError (SpecError through the pipeline)

and, when both succeed, the output shapes (and dtypes) are equal.  Most cases
call a registry rule directly (``LAYERS['Conv2d'].rule(args, [Tensor(shape)])``),
which is fast; a smaller number go through the whole pipeline
(``netspec.compile_string``).  PyTorch runs on the meta device where it
computes shapes there; where a check lives only in a CPU kernel (the
transposed convolution's output_padding, mixed-dtype matmul, a 0-D cat, the
dtype support of pooling) it runs on tiny CPU tensors.

Every test is deterministic (``derandomize=True``); the example counts add up
to about 4,000.
"""

from __future__ import annotations

import json
import math
import tempfile
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from torch import nn

import netspec
from netspec.api import Compiled
from netspec.backend.build import make_class
from netspec.errors import SpecError
from netspec.ops import LAYERS, OPS, ShapeError, Tensor, broadcast
from tests.chains import Unevaluable
from tests.chains import evaluate as evaluate_text

RAISES = "raises"
Outcome = Any  # (shape, dtype) when the call succeeds, RAISES when it refuses
TORCH_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError, AssertionError)


def cases(n: int) -> settings:
    return settings(derandomize=True, deadline=None, max_examples=n, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# ---------------------------------------------------------------- running both sides


def torch_outcome(fn: Callable[[], torch.Tensor]) -> tuple[Outcome, str]:
    # torch's deprecation warnings are not refusals: the suite turns warnings into errors, so silence them here.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = fn()
        except TORCH_ERRORS as exc:
            lines = str(exc).strip().splitlines()
            return RAISES, f"{type(exc).__name__}: {lines[0] if lines else ''}"
    if 0 in out.shape:
        # Inputs here never have a 0-size dim, so an empty output means a size-0 result that the backends
        # disagree on (oneDNN and cuDNN return it for transposed convolutions, the slow CPU path, ROCm and MPS
        # refuse it; the meta functions refuse it when every spatial dim is 0).  netspec refuses it.
        return RAISES, f"empty output {tuple(out.shape)}"
    return (tuple(out.shape), str(out.dtype).removeprefix("torch.")), ""


def netspec_outcome(fn: Callable[[], Tensor]) -> tuple[Outcome, str]:
    try:
        out = fn()
    except ShapeError as exc:
        return RAISES, exc.message
    assert all(isinstance(d, int) for d in out.shape), out
    return (tuple(out.shape), out.dtype), ""


def agree(ours: Callable[[], Tensor], theirs: Callable[[], torch.Tensor] | Sequence[Callable[[], torch.Tensor]],
          context: str) -> Outcome:
    """Assert both sides raise, or both succeed with the same shape and dtype; return the outcome.

    Several torch callables (the same call on meta and on CPU) count as one reference: torch refuses when
    any of them refuses, and where all succeed they must agree with each other.
    """
    ns, ns_msg = netspec_outcome(ours)
    th, th_msg = reference_outcome([theirs] if callable(theirs) else theirs)
    assert ns == th, f"{context}\n  netspec: {ns} {ns_msg}\n  torch:   {th} {th_msg}"
    event("both raise" if ns == RAISES else "both succeed")  # --hypothesis-show-statistics shows the balance
    return ns


def reference_outcome(calls: Sequence[Callable[[], torch.Tensor]]) -> tuple[Outcome, str]:
    outcomes = [torch_outcome(call) for call in calls]
    refused = [o for o in outcomes if o[0] == RAISES]
    if refused:
        return refused[0]
    assert len({o[0] for o in outcomes}) == 1, f"torch's devices disagree: {outcomes}"
    return outcomes[0]


def layer(name: str, args: dict[str, Any], *shapes: Sequence[int], dtype: str = "float32") -> Callable[[], Tensor]:
    return lambda: LAYERS[name].rule(dict(args), [Tensor(tuple(s), dtype) for s in shapes])[0]


def make(shape: Sequence[int], device: str, dtype: str = "float32") -> torch.Tensor:
    return torch.zeros(tuple(shape), device=device, dtype=getattr(torch, dtype))


def as_written_in_code(value: Any) -> Any:
    """Generated code spells every list argument as a tuple (nn.Upsample, for one, refuses a list scale_factor)."""
    return tuple(value) if isinstance(value, list) else value


def module(name: str, args: dict[str, Any], device: str) -> nn.Module:
    with torch.device(device):
        return getattr(nn, name)(**{k: as_written_in_code(v) for k, v in args.items()})  # type: ignore[no-any-return]


# ---------------------------------------------------------------- strategies


@st.composite
def per_dim(draw: st.DrawFn, n: int, lo: int, hi: int) -> int | tuple[int, ...]:
    """An int, or a tuple of n ints, as PyTorch's ``_size_Nd_t`` arguments."""
    if draw(st.booleans()):
        return draw(st.integers(lo, hi))
    return tuple(draw(st.integers(lo, hi)) for _ in range(n))


def spatial_sizes(n: int) -> st.SearchStrategy[list[int]]:
    top = (12, 9, 5)[n - 1]  # keep 3-D cases small: the CPU kernels run on them
    return st.lists(st.integers(1, top), min_size=n, max_size=n)


@st.composite
def conv_case(draw: st.DrawFn, transpose: bool) -> tuple[str, dict[str, Any], list[int]]:
    n = draw(st.integers(1, 3))
    in_ch, out_ch, groups = draw(st.integers(1, 6)), draw(st.integers(1, 6)), draw(st.sampled_from([1, 1, 2, 3]))
    args: dict[str, Any] = {"out_channels": out_ch, "kernel_size": draw(per_dim(n, 1, 5))}
    if draw(st.booleans()):
        args["stride"] = draw(per_dim(n, 1, 3))
    if draw(st.booleans()):
        args["dilation"] = draw(per_dim(n, 1, 3))
    if groups > 1:
        args["groups"] = groups
    if draw(st.integers(0, 4)) == 0:
        args["bias"] = False
    if draw(st.integers(0, 4)) == 0:  # a written in_channels, sometimes not the input's
        args["in_channels"] = draw(st.sampled_from([in_ch, in_ch + 1]))
    if transpose:
        if draw(st.booleans()):
            args["padding"] = draw(per_dim(n, 0, 3))
        if draw(st.booleans()):
            args["output_padding"] = draw(per_dim(n, 0, 2))
    else:
        args["padding"] = draw(st.one_of(st.sampled_from(["same", "valid"]), per_dim(n, 0, 3)))
        args["padding_mode"] = draw(st.sampled_from(["zeros", "reflect", "replicate", "circular"]))
    batch = [draw(st.integers(1, 2))] if draw(st.booleans()) else []
    shape = [*batch, in_ch, *draw(spatial_sizes(n))]
    return f"Conv{'Transpose' * transpose}{n}d", args, shape


def torch_layer(name: str, args: dict[str, Any], shapes: Sequence[Sequence[int]], device: str,
                dtype: str = "float32", infer: dict[str, int] | None = None) -> Callable[[], torch.Tensor]:
    """Build nn.<name> from the written args plus what netspec would infer, and run it."""

    def run() -> torch.Tensor:
        mod = module(name, {**(infer or {}), **args}, device)  # float32 weights, as a built module has them
        mod.eval()
        return mod(*(make(s, device, dtype) for s in shapes))  # type: ignore[no-any-return]

    return run


@cases(700)
@given(conv_case(transpose=False))
def test_conv_matches_torch(case: tuple[str, dict[str, Any], list[int]]) -> None:
    name, args, shape = case
    n = int(name[-2])
    infer = {"in_channels": shape[-n - 1]}
    agree(layer(name, args, shape), [torch_layer(name, args, [shape], d, infer=infer) for d in ("meta", "cpu")],
          f"nn.{name}({args}) on {shape}")


@cases(400)
@given(conv_case(transpose=True))
def test_conv_transpose_matches_torch(case: tuple[str, dict[str, Any], list[int]]) -> None:
    name, args, shape = case
    n = int(name[-2])
    # CPU: the output_padding < max(stride, dilation) check lives in the CPU kernels, not the meta functions.
    infer = {"in_channels": shape[-n - 1]}
    agree(layer(name, args, shape), [torch_layer(name, args, [shape], d, infer=infer) for d in ("meta", "cpu")],
          f"nn.{name}({args}) on {shape}")


@st.composite
def pool_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[int]]:
    kind, n = draw(st.sampled_from(["Max", "Avg"])), draw(st.integers(1, 3))
    args: dict[str, Any] = {"kernel_size": draw(per_dim(n, 1, 5))}
    if draw(st.booleans()):
        args["stride"] = draw(st.one_of(st.none(), per_dim(n, 1, 4)))
    if draw(st.booleans()):
        args["padding"] = draw(per_dim(n, 0, 3))  # up to 3: past kernel/2 for most kernels, refused by both
    if draw(st.booleans()):
        args["ceil_mode"] = True
    if kind == "Max" and draw(st.booleans()):
        args["dilation"] = draw(per_dim(n, 1, 3))
    if kind == "Avg" and draw(st.booleans()):
        args["count_include_pad"] = False
    if kind == "Avg" and n > 1 and draw(st.integers(0, 3)) == 0:
        args["divisor_override"] = draw(st.integers(1, 3))
    batch = [draw(st.integers(1, 2))] if draw(st.booleans()) else []
    shape = [*batch, draw(st.integers(1, 2)), *draw(spatial_sizes(n))]
    return f"{kind}Pool{n}d", args, shape


@cases(800)
@given(pool_case())
def test_pool_matches_torch(case: tuple[str, dict[str, Any], list[int]]) -> None:
    name, args, shape = case
    # CPU: max_pool1d's own checks ("Invalid computed output size") run in its CPU kernel.
    agree(layer(name, args, shape), [torch_layer(name, args, [shape], d) for d in ("meta", "cpu")],
          f"nn.{name}({args}) on {shape}")


@st.composite
def adaptive_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[int]]:
    n = draw(st.integers(1, 3))
    entry = st.one_of(st.none(), st.integers(1, 7)) if n > 1 else st.integers(1, 7)
    if draw(st.booleans()):
        size: Any = draw(st.integers(1, 7))
    else:
        size = tuple(draw(entry) for _ in range(n))
    shape = [draw(st.integers(1, 2)) for _ in range(draw(st.integers(0, 2)))] + draw(spatial_sizes(n))
    return f"AdaptiveAvgPool{n}d", {"output_size": size}, shape


@cases(250)
@given(adaptive_case())
def test_adaptive_pool_matches_torch(case: tuple[str, dict[str, Any], list[int]]) -> None:
    name, args, shape = case
    agree(layer(name, args, shape), torch_layer(name, args, [shape], "cpu"), f"nn.{name}({args}) on {shape}")


SCALES = [0.3, 0.5, 0.7, 1.5, 2.0, 2.5, 3.0, 1.1, 0.25, 1 / 3, 0.9, 1.7]
MODES = ["nearest", "linear", "bilinear", "bicubic", "trilinear"]


RANK_MODES = {3: "linear", 4: "bilinear", 5: "trilinear"}


@st.composite
def upsample_case(draw: st.DrawFn) -> tuple[dict[str, Any], list[int]]:
    rank = draw(st.sampled_from([3, 3, 4, 4, 5, 2, 6]))
    spatial = max(rank - 2, 1)
    scale = st.one_of(st.sampled_from(SCALES), st.floats(0.05, 4.0, allow_nan=False, allow_infinity=False))
    # mostly a mode that fits the rank (bicubic fits 4-D), sometimes any mode
    fitting = ["nearest", RANK_MODES.get(rank, "nearest"), "bicubic" if rank == 4 else "nearest"]
    args: dict[str, Any] = {"mode": draw(st.sampled_from(fitting if draw(st.integers(0, 4)) else MODES))}
    which = draw(st.sampled_from(["size", "size", "scale", "scale", "scale", "both", "neither"]))
    if which in ("size", "both"):
        length = draw(st.sampled_from([spatial, spatial, spatial, 1, 2, 3]))
        args["size"] = draw(st.one_of(st.integers(1, 9), st.lists(st.integers(1, 9), min_size=length,
                                                                   max_size=length)))
    if which in ("scale", "both"):
        length = draw(st.sampled_from([spatial, spatial, spatial, 1, 2, 3]))
        args["scale_factor"] = draw(st.one_of(scale, st.lists(scale, min_size=length, max_size=length)))
    if draw(st.integers(0, 3)) == 0:
        args["align_corners"] = draw(st.booleans())
    if draw(st.integers(0, 3)) == 0:
        args["recompute_scale_factor"] = draw(st.booleans())
    shape = [draw(st.integers(1, 2)), draw(st.integers(1, 2)), *(draw(st.integers(1, 9)) for _ in range(rank - 2))]
    return args, shape


@cases(400)
@given(upsample_case())
def test_upsample_matches_torch(case: tuple[dict[str, Any], list[int]]) -> None:
    args, shape = case
    # CPU: the meta functions of the linear modes skip the "output sizes should be greater than 0" check.
    agree(layer("Upsample", args, shape), torch_layer("Upsample", args, [shape], "cpu"),
          f"nn.Upsample({args}) on {shape}")


# ---------------------------------------------------------------- shape-moving ops


def shapes_of_rank(lo: int, hi: int, top: int = 4) -> st.SearchStrategy[list[int]]:
    return st.lists(st.integers(1, top), min_size=lo, max_size=hi)


def op(name: str, **bound: Any) -> Callable[[], Tensor]:
    return lambda: OPS[name].rule(dict(bound))


@st.composite
def dim_of(draw: st.DrawFn, rank: int) -> int:
    """A dim for a tensor of ``rank`` dims: mostly in range (negative or not), sometimes just outside."""
    low, high = (-rank, rank - 1) if rank else (-1, 0)
    return draw(st.integers(low - 1, high + 1) if not draw(st.integers(0, 5)) else st.integers(low, high))


@st.composite
def factors(draw: st.DrawFn, total: int, most: int) -> list[int]:
    """Sizes whose product is ``total``; one of them sometimes written -1."""
    sizes = [total]
    for _ in range(draw(st.integers(0, most - 1))):
        i = draw(st.integers(0, len(sizes) - 1))
        divisors = [d for d in range(1, sizes[i] + 1) if sizes[i] % d == 0]
        d = draw(st.sampled_from(divisors))
        sizes[i : i + 1] = [d, sizes[i] // d]
    if draw(st.booleans()):
        sizes[draw(st.integers(0, len(sizes) - 1))] = -1
    return sizes


@st.composite
def flatten_case(draw: st.DrawFn) -> tuple[list[int], int, int]:
    shape = draw(shapes_of_rank(0, 5))
    return shape, draw(dim_of(len(shape))), draw(dim_of(len(shape)))


@cases(150)
@given(flatten_case())
def test_flatten_matches_torch(case: tuple[list[int], int, int]) -> None:
    shape, start, end = case
    x = Tensor(tuple(shape))
    agree(op("flatten", input=x, start_dim=start, end_dim=end), lambda: torch.flatten(make(shape, "meta"), start, end),
          f"torch.flatten({shape}, {start}, {end})")
    agree(layer("Flatten", {"start_dim": start, "end_dim": end}, shape),
          lambda: nn.Flatten(start, end)(make(shape, "meta")), f"nn.Flatten({start}, {end}) on {shape}")


SIZE_ENTRY = st.sampled_from([-1, -1, 0, 1, 2, 3, 4, 6, 8, 12])


@st.composite
def unflatten_case(draw: st.DrawFn) -> tuple[list[int], int, list[int]]:
    shape = draw(shapes_of_rank(0, 4, 12))
    dim = draw(dim_of(len(shape)))
    fits = shape and -len(shape) <= dim < len(shape) and draw(st.integers(0, 3))
    sizes = draw(factors(shape[dim], 3) if fits else st.lists(SIZE_ENTRY, min_size=1, max_size=3))
    return shape, dim, sizes


@cases(200)
@given(unflatten_case())
def test_unflatten_matches_torch(case: tuple[list[int], int, list[int]]) -> None:
    shape, dim, sizes = case
    args = {"dim": dim, "unflattened_size": sizes}
    agree(layer("Unflatten", args, shape), lambda: nn.Unflatten(dim, sizes)(make(shape, "meta")),
          f"nn.Unflatten({dim}, {sizes}) on {shape}")


@st.composite
def reshape_case(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    shape = draw(shapes_of_rank(0, 4))
    if draw(st.integers(0, 3)):
        return shape, draw(factors(math.prod(shape), 4))
    return shape, draw(st.lists(st.sampled_from([-2, -1, -1, 0, 1, 2, 3, 4, 6, 8, 12, 24]), min_size=1, max_size=4))


@cases(200)
@given(reshape_case())
def test_reshape_matches_torch(case: tuple[list[int], list[int]]) -> None:
    shape, target = case
    agree(op("reshape", input=Tensor(tuple(shape)), shape=target), lambda: torch.reshape(make(shape, "meta"), target),
          f"torch.reshape({shape}, {target})")


DTYPES = ["float32", "float32", "float32", "float64", "int64", "float16", "bool"]


@st.composite
def matmul_case(draw: st.DrawFn) -> tuple[list[int], list[int], str, str]:
    """Two shapes that mostly fit (shared inner size, broadcastable batch), sometimes not."""
    inner = draw(st.integers(1, 3))
    batch = draw(shapes_of_rank(0, 2, 3))

    def operand(rank: int, left: bool) -> list[int]:
        if rank == 1:
            return [inner if draw(st.integers(0, 5)) else inner + 1]
        own = [b if draw(st.integers(0, 3)) else draw(st.sampled_from([1, b + 1])) for b in batch]
        own = own[len(own) - min(len(own), rank - 2):] if rank > 2 else []
        own = [draw(st.integers(1, 3)) for _ in range(rank - 2 - len(own))] + own
        mat = [draw(st.integers(1, 3)), inner] if left else [inner, draw(st.integers(1, 3))]
        if not draw(st.integers(0, 5)):
            mat[1 if left else 0] += 1
        return own + mat

    a, b = operand(draw(st.integers(0, 4)), True), operand(draw(st.integers(0, 4)), False)
    a_dtype = draw(st.sampled_from(DTYPES[:5]))
    b_dtype = a_dtype if draw(st.integers(0, 4)) else draw(st.sampled_from(DTYPES[:5]))
    return a, b, a_dtype, b_dtype


@cases(350)
@given(matmul_case())
def test_matmul_matches_torch(case: tuple[list[int], list[int], str, str]) -> None:
    a, b, da, db = case
    # CPU: the same-dtype check of the matrix product lives in the CPU kernel.
    agree(op("matmul", input=Tensor(tuple(a), da), other=Tensor(tuple(b), db)),
          lambda: torch.matmul(make(a, "cpu", da), make(b, "cpu", db)), f"torch.matmul({a} {da}, {b} {db})")
    if len(a) == 2 and len(b) == 2:
        agree(op("mm", input=Tensor(tuple(a), da), mat2=Tensor(tuple(b), db)),
              lambda: torch.mm(make(a, "cpu", da), make(b, "cpu", db)), f"torch.mm({a} {da}, {b} {db})")


@st.composite
def broadcast_case(draw: st.DrawFn) -> tuple[list[int], list[int]]:
    base = draw(shapes_of_rank(0, 4, 4))

    def variant() -> list[int]:
        own = [d if draw(st.integers(0, 4)) else draw(st.sampled_from([1, 1, d + 1])) for d in base]
        if bool(own) and draw(st.booleans()):
            own = own[draw(st.integers(0, len(own))):]  # fewer dims: broadcasting prepends 1s
        return own

    return variant(), variant()


@cases(150)
@given(broadcast_case())
def test_broadcast_matches_torch(case: tuple[list[int], list[int]]) -> None:
    a, b = case
    agree(lambda: Tensor(broadcast(tuple(a), tuple(b))),
          lambda: torch.empty(torch.broadcast_shapes(a, b), device="meta"),  # type: ignore[no-untyped-call]
          f"torch.broadcast_shapes({a}, {b})")


@st.composite
def mm_case(draw: st.DrawFn) -> tuple[list[int], list[int], str, str]:
    inner = draw(st.integers(1, 3))
    a = [draw(st.integers(1, 3)), inner if draw(st.integers(0, 4)) else inner + 1]
    b = [inner, draw(st.integers(1, 3))]
    if not draw(st.integers(0, 4)):
        a = draw(shapes_of_rank(0, 3, 3))
    if not draw(st.integers(0, 4)):
        b = draw(shapes_of_rank(0, 3, 3))
    dtype = draw(st.sampled_from(DTYPES))
    return a, b, dtype, dtype if draw(st.integers(0, 4)) else draw(st.sampled_from(DTYPES))


@cases(100)
@given(mm_case())
def test_mm_matches_torch(case: tuple[list[int], list[int], str, str]) -> None:
    a, b, da, db = case
    agree(op("mm", input=Tensor(tuple(a), da), mat2=Tensor(tuple(b), db)),
          lambda: torch.mm(make(a, "cpu", da), make(b, "cpu", db)), f"torch.mm({a} {da}, {b} {db})")


@st.composite
def join_case(draw: st.DrawFn) -> tuple[list[list[int]], list[str], int]:
    base = draw(shapes_of_rank(0, 3, 3))
    shapes = []
    for _ in range(draw(st.integers(1, 3))):
        shape = list(base)
        if bool(shape) and draw(st.booleans()):
            shape[draw(st.integers(0, len(shape) - 1))] = draw(st.integers(1, 3))
        if not draw(st.integers(0, 9)):
            shape = shape[:-1] if shape else [2]
        shapes.append(shape)
    dtypes = [draw(st.sampled_from(DTYPES)) for _ in shapes]
    return shapes, dtypes, draw(st.integers(-4, 4))


@cases(300)
@given(join_case(), st.booleans())
def test_cat_stack_match_torch(case: tuple[list[list[int]], list[str], int], stacked: bool) -> None:
    shapes, dtypes, dim = case
    name = "stack" if stacked else "cat"
    tensors = [Tensor(tuple(s), d) for s, d in zip(shapes, dtypes, strict=True)]
    fn = torch.stack if stacked else torch.cat
    agree(op(name, tensors=tensors, dim=dim), lambda: fn([make(s, "cpu", d) for s, d in zip(shapes, dtypes,
                                                                                           strict=True)], dim=dim),
          f"torch.{name}({shapes} {dtypes}, dim={dim})")


@cases(300)
@given(shapes_of_rank(0, 4, 3), st.one_of(st.none(), st.integers(-5, 4), st.lists(st.integers(-5, 4), min_size=1,
                                                                                   max_size=3)),
       st.booleans(), st.sampled_from(DTYPES), st.sampled_from(["mean", "sum"]))
def test_mean_sum_match_torch(shape: list[int], dim: Any, keepdim: bool, dtype: str, name: str) -> None:
    x = Tensor(tuple(shape), dtype)
    fn: Callable[..., torch.Tensor] = getattr(torch, name)

    def theirs() -> torch.Tensor:
        t = make(shape, "cpu", dtype)
        return fn(t) if dim is None and not keepdim else fn(t, dim=dim, keepdim=keepdim)

    agree(op(name, input=x, dim=dim, keepdim=keepdim), theirs, f"torch.{name}({shape} {dtype}, dim={dim}, "
          f"keepdim={keepdim})")


@cases(200)
@given(shapes_of_rank(0, 4, 3), st.integers(-5, 4), st.integers(-5, 4),
       st.lists(st.integers(-5, 4), min_size=0, max_size=5), st.sampled_from([None, -5, -2, -1, 0, 1, 3, 4]))
def test_dim_ops_match_torch(shape: list[int], d0: int, d1: int, dims: list[int], squeeze_dim: int | None) -> None:
    x = Tensor(tuple(shape))
    t = make(shape, "meta")
    agree(op("transpose", input=x, dim0=d0, dim1=d1), lambda: torch.transpose(t, d0, d1),
          f"torch.transpose({shape}, {d0}, {d1})")
    agree(op("permute", input=x, dims=dims), lambda: torch.permute(t, dims), f"torch.permute({shape}, {dims})")
    agree(op("unsqueeze", input=x, dim=d0), lambda: torch.unsqueeze(t, d0), f"torch.unsqueeze({shape}, {d0})")
    agree(op("squeeze", input=x, dim=squeeze_dim),
          lambda: torch.squeeze(t) if squeeze_dim is None else torch.squeeze(t, squeeze_dim),
          f"torch.squeeze({shape}, {squeeze_dim})")


# ---------------------------------------------------------------- the other layers


@st.composite
def feature_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[list[int]], str]:
    name = draw(st.sampled_from(["Linear", "Bilinear", "Embedding", "BatchNorm1d", "BatchNorm2d", "BatchNorm3d",
                                 "LayerNorm", "GroupNorm"]))
    shape = draw(shapes_of_rank(0, 5, 4))
    dtype = draw(st.sampled_from(DTYPES))
    last = shape[-1] if shape else 1
    args: dict[str, Any] = {}
    shapes = [shape]
    if name == "Linear":
        args = {"out_features": draw(st.integers(1, 3))}
        if draw(st.booleans()):
            args["in_features"] = draw(st.sampled_from([last, last + 1]))
    elif name == "Bilinear":
        other = [*shape[:-1], draw(st.integers(1, 4))] if draw(st.integers(0, 4)) else draw(shapes_of_rank(0, 4))
        shapes.append(other)
        args = {"out_features": draw(st.integers(1, 3))}
    elif name == "Embedding":
        dtype = draw(st.sampled_from(["int64", "int32", "bool", "float32"]))
        n = draw(st.integers(1, 5))
        args = {"num_embeddings": n, "embedding_dim": draw(st.integers(1, 3))}
        if draw(st.booleans()):
            args["padding_idx"] = draw(st.integers(-n - 1, n))
    elif name.startswith("BatchNorm"):
        channels = shape[1] if len(shape) > 1 else 1
        if draw(st.booleans()):
            args["num_features"] = draw(st.sampled_from([channels, channels + 1]))
    elif name == "LayerNorm":
        if draw(st.booleans()):
            args["normalized_shape"] = draw(st.one_of(st.integers(1, 4), st.lists(st.integers(1, 4), min_size=1,
                                                                                    max_size=3)))
    else:
        args = {"num_groups": draw(st.integers(1, 4))}
    return name, args, shapes, dtype


def infer_for(name: str, args: dict[str, Any], shapes: list[list[int]]) -> dict[str, Any]:
    """The arguments netspec infers from the input, as the torch constructor needs them."""
    first = shapes[0]
    last = first[-1] if first else 1
    channels = first[1] if len(first) > 1 else 1
    return {"Linear": {"in_features": last}, "Bilinear": {"in1_features": last,
                                                          "in2_features": shapes[-1][-1] if shapes[-1] else 1},
            "LayerNorm": {"normalized_shape": last}, "GroupNorm": {"num_channels": channels}}.get(
        name, {"num_features": channels} if name.startswith("BatchNorm") else {})


@cases(250)
@given(feature_case())
def test_feature_layers_match_torch(case: tuple[str, dict[str, Any], list[list[int]], str]) -> None:
    name, args, shapes, dtype = case
    agree(layer(name, args, *shapes, dtype=dtype),
          torch_layer(name, args, shapes, "cpu", dtype, infer=infer_for(name, args, shapes)),
          f"nn.{name}({args}) on {shapes} {dtype}")


ACTIVATIONS = ["ReLU", "ReLU6", "LeakyReLU", "GELU", "SiLU", "Sigmoid", "Tanh", "Softmax", "LogSoftmax", "Dropout",
               "Identity"]


@cases(150)
@given(st.sampled_from(ACTIVATIONS), shapes_of_rank(0, 4, 3), st.sampled_from(DTYPES), st.integers(-5, 4))
def test_elementwise_layers_match_torch(name: str, shape: list[int], dtype: str, dim: int) -> None:
    args = {"dim": None if dim == 4 else dim} if "Softmax" in name else {}  # None: torch picks (and warns)
    # CPU, in training mode: dropout refuses integer tensors only when it is active.
    agree(layer(name, args, shape, dtype=dtype), lambda: module(name, args, "cpu")(make(shape, "cpu", dtype)),
          f"nn.{name}({args}) on {shape} {dtype}")


# ---------------------------------------------------------------- through the whole pipeline


def one_layer_spec(layer_args: dict[str, Any], shape: Sequence[int | str], forward: str | None = None) -> str:
    text = f"netspec: 1\nname: Probe\ninputs:\n  x: {json.dumps(list(shape))}\n"
    text += f"layers:\n  l: {json.dumps(layer_args)}\n" if layer_args else ""
    return text + (f"forward:\n  - {json.dumps(forward)}\n" if forward else "")


def compiled_outcome(text: str) -> tuple[Outcome, str, Compiled | None]:
    try:
        compiled = netspec.compile_string(text)
    except SpecError as exc:
        return RAISES, str(exc), None
    out = compiled.inference.output
    return (tuple(out.shape), out.dtype), "", compiled


@st.composite
def conv2d_or_pool_spec(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[int]]:
    kind = draw(st.sampled_from(["Conv2d", "Conv2d", "MaxPool2d", "AvgPool2d", "ConvTranspose2d"]))
    args: dict[str, Any] = {"kernel_size": draw(per_dim(2, 1, 5))}
    if kind.startswith("Conv"):
        args["out_channels"] = draw(st.integers(1, 4))
    if draw(st.booleans()):
        args["stride"] = draw(per_dim(2, 1, 4))
    if draw(st.booleans()):
        args["padding"] = draw(st.one_of(per_dim(2, 0, 3), st.sampled_from(["same", "valid"])) if kind == "Conv2d"
                               else per_dim(2, 0, 3))
    if kind == "MaxPool2d" and draw(st.booleans()):
        args["ceil_mode"] = True
    if kind == "Conv2d" and draw(st.booleans()):
        args["padding_mode"] = draw(st.sampled_from(["reflect", "circular", "replicate"]))
    if not draw(st.integers(0, 7)):  # a value the grammar refuses (a SpecError), as torch does
        key, value = draw(st.sampled_from([("kernel_size", 0), ("stride", 0), ("padding", -1), ("kernel_size", -2),
                                           ("stride", [1, 0])]))
        args[key] = value
    shape = [draw(st.integers(1, 2)), draw(st.integers(1, 3)), *draw(spatial_sizes(2))]
    return kind, args, shape


def jsonable(args: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in args.items()}


@cases(150)
@given(conv2d_or_pool_spec())
def test_pipeline_layer_matches_torch(case: tuple[str, dict[str, Any], list[int]]) -> None:
    kind, args, shape = case
    ns, ns_msg, compiled = compiled_outcome(one_layer_spec({"type": kind, **jsonable(args)}, shape))
    infer = {"in_channels": shape[1]} if kind.startswith("Conv") else {}
    th, th_msg = torch_outcome(torch_layer(kind, args, [shape], "cpu", infer=infer))
    assert ns == th, f"nn.{kind}({args}) on {shape}\n  netspec: {ns} {ns_msg}\n  torch:   {th} {th_msg}"
    event("both raise" if ns == RAISES else "both succeed")
    if compiled is not None:
        built = module(kind, compiled.inference.layer_args["l"], "meta")
        assert compiled.inference.total_params == sum(p.numel() for p in built.parameters())
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "probe.yaml"
            path.write_text(one_layer_spec({"type": kind, **jsonable(args)}, shape), encoding="utf-8")
            ours = netspec.load(path, device="meta")
        assert repr(ours.l) == repr(built)


@cases(100)
@given(pool_case())
def test_pipeline_pool_op_matches_torch(case: tuple[str, dict[str, Any], list[int]]) -> None:
    name, args, shape = case
    fn = name.lower().replace("pool", "_pool")
    call = ", ".join(["x", *(f"{k}={v!r}" for k, v in args.items())])
    ns, ns_msg, _ = compiled_outcome(one_layer_spec({}, shape, f"return {fn}({call})"))
    th, th_msg = torch_outcome(lambda: getattr(F, fn)(make(shape, "cpu"), **args))
    assert ns == th, f"F.{fn}({call}) on {shape}\n  netspec: {ns} {ns_msg}\n  torch:   {th} {th_msg}"
    event("both raise" if ns == RAISES else "both succeed")


# The seed chapter's comp_conv2d examples (3.4 模型构建), checked through the pipeline and against torch.
COMP_CONV2D = [
    ({"kernel_size": 3, "padding": 1}, (8, 8)),
    ({"kernel_size": [5, 3], "padding": [2, 1]}, (8, 8)),
    ({"kernel_size": [3, 5], "padding": [0, 1], "stride": [3, 4]}, (2, 2)),
]


@pytest.mark.parametrize(("args", "expected"), COMP_CONV2D)
def test_seed_comp_conv2d(args: dict[str, Any], expected: tuple[int, int]) -> None:
    compiled = netspec.compile_string(one_layer_spec({"type": "Conv2d", "out_channels": 1, **args}, [1, 1, 8, 8]))
    ours = compiled.inference.output.shape
    theirs = module("Conv2d", {"in_channels": 1, "out_channels": 1, **args}, "cpu")(torch.rand(1, 1, 8, 8)).shape
    assert ours == tuple(theirs) == (1, 1, *expected)


# ---------------------------------------------------------------- symbolic dims


def evaluate(dim: int | str, symbol: str, value: int) -> int | None:
    """A symbolic dim evaluated at ``symbol=value`` (an ast walk, no eval); None for an opaque shortened symbol."""
    if isinstance(dim, int):
        return dim
    try:
        return int(evaluate_text(dim, {symbol: value}))
    except Unevaluable:
        return None


@st.composite
def symbolic_case(draw: st.DrawFn) -> tuple[str, dict[str, Any], list[int], int]:
    case = draw(st.sampled_from(["conv", "convT", "pool", "pool", "upsample", "adaptive"]))
    if case in ("conv", "convT"):
        name, args, shape = draw(conv_case(transpose=case == "convT"))
    elif case == "pool":
        name, args, shape = draw(pool_case())
    elif case == "adaptive":
        name, args, shape = draw(adaptive_case())
    else:
        (args, shape), name = draw(upsample_case()), "Upsample"
    # mostly a spatial dim (the trailing ones): a symbolic channel dim only stops in_channels being inferred
    spatial = len(shape) - 1 - draw(st.integers(0, min(2, len(shape) - 1)))
    return name, args, shape, spatial if draw(st.integers(0, 4)) else draw(st.integers(0, len(shape) - 1))


@cases(300)
@given(symbolic_case())
def test_symbolic_dims_do_not_crash(case: tuple[str, dict[str, Any], list[int], int]) -> None:
    """A symbolic dim never crashes a rule; where the result is a plain expression, it evaluates to the
    concrete answer at the concrete size."""
    name, args, shape, where = case
    symbolic = [*shape]
    symbolic[where] = "H"  # type: ignore[call-overload]
    try:
        out = LAYERS[name].rule(dict(args), [Tensor(tuple(symbolic))])[0]
    except ShapeError:
        return
    assert all(isinstance(d, (int, str)) for d in out.shape)
    try:
        concrete = LAYERS[name].rule(dict(args), [Tensor(tuple(shape))])[0]
    except ShapeError:
        return
    values = [evaluate(d, "H", shape[where]) for d in out.shape]
    event("symbolic result checked at the concrete size")
    assert len(out.shape) == len(concrete.shape)
    for got, want in zip(values, concrete.shape, strict=True):
        assert got is None or got == want, f"nn.{name}({args}) on {symbolic}: {out.shape} at H={shape[where]} " \
                                           f"gives {values}, concrete {concrete.shape}"


@st.composite
def symbolic_op_case(draw: st.DrawFn) -> tuple[Callable[[list[Any]], Tensor], list[int], str]:
    """A shape op over one or two tensors, as a function of the first tensor's shape."""
    kind = draw(st.sampled_from(["flatten", "unflatten", "reshape", "cat", "stack", "matmul", "mean", "transpose",
                                 "broadcast"]))
    shape = draw(shapes_of_rank(1, 4, 6))
    rank = len(shape)
    d0, d1 = draw(dim_of(rank)), draw(dim_of(rank))
    other = draw(st.sampled_from([shape, [*shape[:-1], 2], shape[::-1]]))
    rules: dict[str, Callable[[list[Any]], Tensor]] = {
        "flatten": lambda s: flatten_rule(s, d0, d1),
        "unflatten": lambda s: LAYERS["Unflatten"].rule({"dim": d0, "unflattened_size": sizes}, [Tensor(tuple(s))])[0],
        "reshape": lambda s: OPS["reshape"].rule({"input": Tensor(tuple(s)), "shape": sizes}),
        "cat": lambda s: OPS["cat"].rule({"tensors": [Tensor(tuple(s)), Tensor(tuple(other))], "dim": d0}),
        "stack": lambda s: OPS["stack"].rule({"tensors": [Tensor(tuple(s)), Tensor(tuple(other))], "dim": d0}),
        "matmul": lambda s: OPS["matmul"].rule({"input": Tensor(tuple(s)), "other": Tensor(tuple(other[::-1]))}),
        "mean": lambda s: OPS["mean"].rule({"input": Tensor(tuple(s)), "dim": [d0], "keepdim": d1 > 0}),
        "transpose": lambda s: OPS["transpose"].rule({"input": Tensor(tuple(s)), "dim0": d0, "dim1": d1}),
        "broadcast": lambda s: Tensor(broadcast(tuple(s), tuple(other))),
    }
    sizes = draw(factors(math.prod(shape), 3)) if kind == "reshape" else draw(factors(shape[d0 % rank], 3))
    return rules[kind], shape, kind


def flatten_rule(shape: list[Any], start: int, end: int) -> Tensor:
    return OPS["flatten"].rule({"input": Tensor(tuple(shape)), "start_dim": start, "end_dim": end})  # type: ignore


@cases(200)
@given(symbolic_op_case(), st.integers(0, 3))
def test_symbolic_dims_through_shape_ops(case: tuple[Callable[[list[Any]], Tensor], list[int], str],
                                         where: int) -> None:
    """The shape ops never crash on a symbolic dim, and a plain symbolic result evaluates to the concrete one."""
    rule, shape, kind = case
    where %= len(shape)
    symbolic: list[Any] = [*shape]
    symbolic[where] = "N"
    try:
        out = rule(symbolic)
    except ShapeError:
        return
    assert all(isinstance(d, (int, str)) for d in out.shape)
    try:
        concrete = rule(shape)
    except ShapeError:
        return  # the symbolic rule cannot know N; it may accept what one size refuses
    event("symbolic result checked at the concrete size")
    values = [evaluate(d, "N", shape[where]) for d in out.shape]
    assert len(values) == len(concrete.shape)
    for got, want in zip(values, concrete.shape, strict=True):
        assert got is None or got == want, f"{kind} on {symbolic}: {out.shape} at N={shape[where]} is {values}, " \
                                           f"concrete {concrete.shape}"


# ---------------------------------------------------------------- issue 8, section 4: agreeing with torch exactly


def run_generated(text: str, x: torch.Tensor) -> torch.Tensor:
    compiled = netspec.compile_string(text)
    module = make_class(compiled.source_code, compiled.name)()
    assert compiled.inference.output.shape == tuple(module(x).shape)
    return module(x)


@pytest.mark.parametrize(("step", "shape", "method"), [
    ("x.reshape(-1)", [2, 3], lambda t: t.reshape(-1)),
    ("x.reshape(6)", [2, 3], lambda t: t.reshape(6)),
    ("x.permute(0)", [5], lambda t: t.permute(0)),
    ("x.permute(-1)", [5], lambda t: t.permute(-1)),
    ("x.reshape(-1, 3)", [6], lambda t: t.reshape(-1, 3)),
    ("x.reshape([3, 2])", [6], lambda t: t.reshape([3, 2])),
])
def test_a_tensor_method_takes_sizes_one_by_one(step: str, shape: list[int],
                                                method: Callable[[torch.Tensor], torch.Tensor]) -> None:
    """x.reshape(-1) is x.reshape((-1,)): a single int is one size, as Tensor.reshape(*shape) takes it."""
    x = torch.randn(shape)
    text = one_layer_spec({}, shape, f"return {step}")
    assert torch.equal(run_generated(text, x), method(x))


def test_permute_of_a_scalar_takes_no_dims() -> None:
    x = torch.tensor(3.0)
    for forward in ("permute: []", "return x.permute([])"):
        text = f"netspec: 1\nname: P\ninputs:\n  x: []\nforward:\n  - {forward}\n"
        assert run_generated(text, x).shape == torch.permute(x, ()).shape == ()
    with pytest.raises(SpecError, match="not a permutation of 1 dims"):
        netspec.compile_string("netspec: 1\nname: P\ninputs:\n  x: [3]\nforward:\n  - permute: []\n")


def test_reshape_of_one_element_to_no_dims() -> None:
    x = torch.randn(1, 1)
    assert run_generated("netspec: 1\nname: R\ninputs:\n  x: [1, 1]\nforward:\n  - reshape: []\n", x).shape == ()


DELIBERATE_CASES = {
    # torch gives a (1, 0, 13) tensor here; an empty output is a mistake in the spec
    "transposed-conv-empty": ({"type": "ConvTranspose2d", "out_channels": 1, "kernel_size": 4, "padding": [2, 0]},
                              [3, 1, 10], lambda: nn.ConvTranspose2d(3, 1, 4, padding=(2, 0))),
    # torch never reads num_channels without affine weights; netspec refuses a count that is wrong
    "groupnorm-no-affine": ({"type": "GroupNorm", "num_groups": 1, "num_channels": 8, "affine": False},
                            [2, 3, 8], lambda: nn.GroupNorm(1, 8, affine=False)),
    "batchnorm-stateless": ({"type": "BatchNorm2d", "num_features": 7, "affine": False,
                             "track_running_stats": False}, [2, 4, 3, 3],
                            lambda: nn.BatchNorm2d(7, affine=False, track_running_stats=False)),
}


@pytest.mark.parametrize("case", DELIBERATE_CASES)
def test_deliberate_checks_say_so(case: str) -> None:
    """Where netspec is stricter than torch on purpose, torch runs the layer and netspec's message says why."""
    layer, shape, build = DELIBERATE_CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert build().eval()(torch.randn(shape)) is not None
    with pytest.raises(SpecError, match="netspec refuses this deliberately"):
        netspec.compile_string(one_layer_spec(layer, shape))


def test_a_mismatch_torch_refuses_too_is_not_called_deliberate() -> None:
    text = one_layer_spec({"type": "GroupNorm", "num_groups": 1, "num_channels": 8}, [2, 3, 8])
    with pytest.raises(SpecError) as info:
        netspec.compile_string(text)
    assert "expects 8 channels, gets 3" in str(info.value)
    assert "deliberately" not in str(info.value)


TWO_CALLS = """netspec: 1
name: M
inputs:
  x: [N, 8, 5]
  y: [N, 4, 5]
layers:
  norm: {layer}
forward:
  - return norm(x).mean() + norm(y).mean()
"""


@pytest.mark.parametrize(("layer", "reference"), [
    ("{type: GroupNorm, num_groups: 2, affine: false}", lambda: nn.GroupNorm(2, 8, affine=False)),
    ("{type: BatchNorm1d, affine: false, track_running_stats: false}",
     lambda: nn.BatchNorm1d(8, affine=False, track_running_stats=False)),
])
def test_a_count_torch_never_reads_may_differ_between_calls(layer: str, reference: Callable[[], nn.Module]) -> None:
    """Nothing written: the first call's count is the class's, and torch runs both calls."""
    x, y = torch.randn(2, 8, 5), torch.randn(2, 4, 5)
    torch_module = reference()
    torch_module(x), torch_module(y)  # torch runs it
    model = netspec.loads(TWO_CALLS.format(layer=layer))
    assert repr(model.norm) == repr(torch_module)
    assert model(x, y).shape == ()


def test_a_written_unread_count_hint_does_not_ask_for_the_other_calls_count() -> None:
    text = TWO_CALLS.format(layer="{type: GroupNorm, num_groups: 2, num_channels: 8, affine: false}")
    with pytest.raises(SpecError) as info:
        netspec.compile_string(text)
    (d,) = info.value.diagnostics
    assert "netspec refuses this deliberately" in d.message
    assert d.hint == "leave num_channels out to have it inferred: torch ignores it here, so the calls may differ"


@pytest.mark.parametrize(("layer", "name"), [
    ("{type: GroupNorm, num_groups: 2}", "num_channels"),
    ("{type: Conv1d, out_channels: 3, kernel_size: 1}", "in_channels"),
])
def test_a_count_torch_reads_differing_between_calls_is_refused_without_asking_to_set_it(layer: str,
                                                                                          name: str) -> None:
    with pytest.raises(SpecError) as info:
        netspec.compile_string(TWO_CALLS.format(layer=layer))
    (d,) = info.value.diagnostics
    assert d.code == "shape-mismatch" and d.span.line == 7
    assert f"{name} 8 was inferred from an earlier call of this layer" in d.message
    assert d.hint == f"one layer is one module with one {name}: call a layer of its own on this input"
    assert "deliberately" not in d.message
