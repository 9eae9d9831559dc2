"""Pooling layers and their functional twins, with ATen's pooling arithmetic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from pydantic import Field

from ._core import (
    REGISTRY,
    Arg,
    Bool,
    Dim,
    LayerType,
    NonNegInt,
    Op,
    PosInt,
    ShapeError,
    Tensor,
    as_tuple,
    check_float,
    check_rank,
    fmt_shape,
    read_attribute,
    size_n,
    window_out,
)
from .examples import X1D, X3D, X
from .examples import Input as I
from .examples import LayerExample as L
from .examples import OpExample as O


def pool_spatial(name: str, sizes: Sequence[Dim], args: dict[str, Any], n: int, dilated: bool) -> tuple[Dim, ...]:
    kernel = as_tuple(args["kernel_size"], n)
    stride_arg = args.get("stride")
    stride = kernel if stride_arg is None or stride_arg == () else as_tuple(stride_arg, n)
    padding = as_tuple(args.get("padding", 0), n)
    dilation = as_tuple(args.get("dilation", 1), n) if dilated else (1,) * n
    ceil_mode = bool(args.get("ceil_mode", False))
    out: list[Dim] = []
    for i, size in enumerate(sizes):
        if padding[i] > kernel[i] // 2:
            raise ShapeError(f"{name} padding {padding[i]} must be at most half the kernel size {kernel[i]}",
                             "padding", hint=f"use padding <= {kernel[i] // 2}")
        value = window_out(size, kernel[i], stride[i], 2 * padding[i], dilation[i], ceil_mode, padding[i])
        if isinstance(value, int) and value < 1:
            raise ShapeError(f"{name} output size {value} in spatial dim {i} is < 1 for input size {size} "
                             f"(kernel {kernel[i]}, stride {stride[i]}, padding {padding[i]}, dilation {dilation[i]})",
                             "kernel_size", "output-too-small")
        out.append(value)
    return tuple(out)


def _pool_shape(kind: str, n: int, args: dict[str, Any], x: Tensor) -> Tensor:
    name = f"{kind}Pool{n}d"
    check_rank(x, (n + 1, n + 2), name)
    if kind == "Avg":
        check_float(x, name)
    else:
        _max_pool_dtype(x, n, name)
    if kind == "Avg" and n == 3:
        _avg3d_input_check(x.shape[-n:], as_tuple(args["kernel_size"], n))
    spatial = pool_spatial(name, x.shape[-n:], args, n, dilated=kind == "Max")
    return Tensor((*x.shape[:-n], *spatial), x.dtype)


def _max_pool_dtype(x: Tensor, n: int, name: str) -> None:
    """Max pooling has no bool kernel, and max_pool1d none for integers either (2-D and 3-D take them)."""
    if x.dtype == "bool" or (n == 1 and not x.is_float):
        kinds = "bool" if n > 1 else "integer or bool"
        raise ShapeError(f"{name} is not implemented for {kinds} tensors, found a {x.dtype} input",
                         code="dtype-mismatch", hint="convert the input to a float dtype first")


def _avg3d_input_check(sizes: Sequence[Dim], kernel: tuple[int, ...]) -> None:
    """ATen's avg_pool3d (only it, not 1-D/2-D) wants the unpadded input at least as large as the kernel."""
    for i, (size, k) in enumerate(zip(sizes, kernel, strict=True)):
        if isinstance(size, int) and size < k:
            raise ShapeError(f"AvgPool3d input size {size} in spatial dim {i} is smaller than the kernel size {k} "
                             "(avg_pool3d does not count the padding here)", "kernel_size", "output-too-small")


def _pool_args(kind: str, n: int) -> tuple[Arg, ...]:
    pad = "negative infinity" if kind == "Max" else "zero"
    common = (
        Arg("kernel_size", size_n(n), doc=f"The size of the window to take a {kind.lower()} over."),
        Arg("stride", size_n(n) | None, None, doc="The stride of the window (null: kernel_size)."),
        Arg("padding", size_n(n, NonNegInt), 0, doc=f"Implicit {pad} padding to be added on both sides."),
    )
    if kind == "Max":
        return (*common, Arg("dilation", size_n(n), 1, doc="The stride between elements within a sliding window."),
                Arg("ceil_mode", Bool, False))
    avg: tuple[Arg, ...] = (*common, Arg("ceil_mode", Bool, False), Arg("count_include_pad", Bool, True))
    if n > 1:
        avg = (*avg, Arg("divisor_override", Annotated[int, Field(strict=True, ge=1)] | None, None))
    return avg


def _pool_read_back(module: Any, name: str) -> Any:
    if name == "stride" and getattr(module, "stride", None) == module.kernel_size:
        return None  # torch stores the default (None) as the kernel size
    return read_attribute(module, name)


def _pool(kind: str, n: int) -> None:
    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        return _pool_shape(kind, n, args, inputs[0]), {}

    def op_rule(bound: dict[str, Any]) -> Tensor:
        return _pool_shape(kind, n, bound, bound["input"])

    args = _pool_args(kind, n)
    REGISTRY.add_layer(LayerType(
        name=f"{kind}Pool{n}d", family="pool", args=args, rule=rule, read_back=_pool_read_back,
        summary=f"{n}-D {kind.lower()} pooling (nn.{kind}Pool{n}d); stride defaults to kernel_size"))
    REGISTRY.add_op(Op(
        name=f"{kind.lower()}_pool{n}d", family="pool", spelling=f"F.{kind.lower()}_pool{n}d", tensors=("input",),
        args=args, rule=op_rule, summary=f"functional {n}-D {kind.lower()} pooling"))


def _adaptive_shape(n: int, output_size: Any, x: Tensor) -> Tensor:
    name = f"AdaptiveAvgPool{n}d"
    check_float(x, name)
    if isinstance(output_size, int):
        sizes: tuple[Dim, ...] = (output_size,) * n
    else:
        # F.adaptive_avg_poolNd fills a None entry from the input, and for that wants a dim before the spatial ones
        if x.rank <= n:
            raise ShapeError(f"{name} with output_size {list(output_size)} expects at least {n + 1} dims, found a "
                             f"{x.rank}-D input {fmt_shape(x.shape)}", code="rank-mismatch")
        sizes = tuple(x.shape[-n + i] if s is None else s for i, s in enumerate(output_size))
    if n > 1 and all(s == 1 for s in sizes):
        # ATen's fast path for an all-ones output is x.mean(last n dims, keepdim=True): it takes any rank >= n
        if x.rank < n:
            raise ShapeError(f"{name} expects at least {n} dims, found a {x.rank}-D input {fmt_shape(x.shape)}",
                             code="rank-mismatch")
    else:
        check_rank(x, (n + 1, n + 2), name)
    for i, size in enumerate(x.shape[-n:]):
        if size == 0:
            raise ShapeError(f"{name} input {fmt_shape(x.shape)} has an empty spatial dim {i}", code="output-too-small")
    return Tensor((*x.shape[:-n], *sizes), x.dtype)


def _adaptive(kind: str, n: int) -> None:
    """AdaptiveAvgPoolNd or AdaptiveMaxPoolNd (return_indices left out) and its functional twin."""
    # a whole None is refused by torch (TypeError); entries may be None (keep that input size) from 2-D up
    entries = Annotated[tuple[(PosInt | None,) * n], Field()]  # type: ignore[misc, valid-type]
    size = size_n(1, PosInt) if n == 1 else PosInt | entries
    shape = _adaptive_shape if kind == "Avg" else _adaptive_max_shape
    word = "average" if kind == "Avg" else "max"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        return shape(n, args["output_size"], inputs[0]), {}

    def op_rule(bound: dict[str, Any]) -> Tensor:
        return shape(n, bound["output_size"], bound["input"])

    args = (Arg("output_size", size),)
    REGISTRY.add_layer(LayerType(name=f"Adaptive{kind}Pool{n}d", family="pool", args=args, rule=rule,
                                 summary=f"{n}-D adaptive {word} pooling to output_size"))
    REGISTRY.add_op(Op(name=f"adaptive_{kind.lower()}_pool{n}d", family="pool",
                       spelling=f"F.adaptive_{kind.lower()}_pool{n}d", tensors=("input",), args=args, rule=op_rule,
                       summary=f"functional {n}-D adaptive {word} pooling"))


for _kind in ("Max", "Avg"):
    for _n in (1, 2, 3):
        _pool(_kind, _n)


# ---------------------------------------------------------------- adaptive max pooling (return_indices left out)


def _adaptive_max_shape(n: int, output_size: Any, x: Tensor) -> Tensor:
    """ATen's adaptive_max_poolNd: a (C, ...) or (N, C, ...) input, floating point (the CPU kernels have no integer
    or bool form), every dim after the first non-empty; a None entry keeps that input size."""
    name = f"AdaptiveMaxPool{n}d"
    check_float(x, name)
    check_rank(x, (n + 1, n + 2), name)
    sizes: tuple[Dim, ...] = (output_size,) * n if isinstance(output_size, int) else tuple(
        x.shape[-n + i] if s is None else s for i, s in enumerate(output_size))
    for i, size in enumerate(x.shape[1:], start=1):
        if size == 0:
            raise ShapeError(f"{name} input {fmt_shape(x.shape)} has an empty dim {i} (only dim 0 may be empty)",
                             code="output-too-small")
    return Tensor((*x.shape[:-n], *sizes), x.dtype)


for _kind in ("Avg", "Max"):  # the registry's order: avg pooling's entries were there first
    for _n in (1, 2, 3):
        _adaptive(_kind, _n)


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

REGISTRY.add_examples(
    L("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, X1D),
    # ceil_mode: 5 + 2*1 padded by 2-windows gives 4 windows, but the 4th would start in the right padding
    L("MaxPool2d", {"kernel_size": 2}), L("MaxPool2d", {"kernel_size": 2, "padding": 1, "ceil_mode": True},
                                          (I((1, 1, 5, 5)),), "ceil-last-window"),
    L("MaxPool2d", {"kernel_size": [2, 3], "dilation": 2, "padding": [1, 1]}, label="dilated"),
    L("MaxPool3d", {"kernel_size": 2, "stride": 1}, X3D),
    L("AvgPool1d", {"kernel_size": 4, "ceil_mode": True, "count_include_pad": False, "padding": 2}, X1D),
    L("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "divisor_override": 2}),
    L("AvgPool3d", {"kernel_size": [2, 3, 3], "ceil_mode": True}, X3D),
    L("AdaptiveAvgPool1d", {"output_size": 5}, X1D),
    L("AdaptiveAvgPool2d", {"output_size": [None, 3]}), L("AdaptiveAvgPool2d", {"output_size": 1}, label="global"),
    L("AdaptiveAvgPool3d", {"output_size": [2, None, 1]}, X3D),
    L("AdaptiveMaxPool1d", {"output_size": 5}, X1D), L("AdaptiveMaxPool1d", {"output_size": [7]}, (I((3, 16)),),
                                                       "unbatched-list"),
    L("AdaptiveMaxPool2d", {"output_size": [None, 3]}), L("AdaptiveMaxPool2d", {"output_size": 1}, label="global"),
    L("AdaptiveMaxPool3d", {"output_size": [2, None, 1]}, X3D),
    O("max_pool1d", (X, 2), inputs={"x": I((2, 3, 9))}), O("max_pool2d", (X, [2, 2])),
    O("max_pool2d", (X, 3), {"stride": 2, "ceil_mode": True}, {"x": I((1, 1, 6, 6))}, label="ceil"),
    O("max_pool3d", (X, 2), {"dilation": 2}, inputs={"x": I((1, 2, 6, 6, 6))}),
    O("avg_pool1d", (X, 3), {"padding": 1}, inputs={"x": I((2, 3, 9))}),
    O("avg_pool2d", (X, 2), {"count_include_pad": False}),
    O("avg_pool3d", (X, [1, 2, 2]), inputs={"x": I((1, 2, 4, 6, 6))}),
    O("adaptive_avg_pool1d", (X, 4), inputs={"x": I((2, 3, 9))}), O("adaptive_avg_pool2d", (X, [None, 2])),
    O("adaptive_avg_pool3d", (X, 1), inputs={"x": I((1, 2, 4, 6, 6))}),
    O("adaptive_max_pool1d", (X, 4), inputs={"x": I((2, 3, 9))}), O("adaptive_max_pool2d", (X, [None, 2])),
    O("adaptive_max_pool3d", (X, 1), inputs={"x": I((1, 2, 4, 6, 6))}),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("MaxPool2d", {"kernel_size": 3, "padding": 2}, label="padding-over-half-kernel"),
    L("MaxPool1d", {"kernel_size": 2, "dilation": 3}, (I((1, 1, 3)),), "output-zero"),
    L("AvgPool3d", {"kernel_size": 3, "padding": 1}, (I((1, 1, 2, 2, 2)),), "input-under-kernel"),
    L("AdaptiveAvgPool2d", {"output_size": 3}, (I((3, 4)),), "rank"),
    L("AdaptiveMaxPool2d", {"output_size": 2}, (I((2, 3, 4), "int64"),), "int"),
    L("AdaptiveMaxPool2d", {"output_size": 2}, (I((4, 4)),), "rank"),
    L("AdaptiveMaxPool1d", {"output_size": 2}, (I((2, 0, 4)),), "empty-channels"),
    O("max_pool2d", (X, 2), {"padding": 2}, label="padding"),
    O("adaptive_avg_pool1d", (X, 2), inputs={"x": I((5,))}, label="rank"),
    refused=True,
)
