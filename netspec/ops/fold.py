"""Fold and Unfold (im2col/col2im): sliding blocks of a batch of 2-D images, to columns and back."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._core import (
    REGISTRY,
    Arg,
    Dim,
    LayerType,
    NonNegInt,
    ShapeError,
    Tensor,
    as_tuple,
    dim_floordiv,
    dim_mul,
    fmt_shape,
    product,
    size_n,
    window_out,
)
from .examples import Input as I
from .examples import LayerExample as L


def _window(args: dict[str, Any]) -> tuple[tuple[int, ...], ...]:
    return tuple(as_tuple(args.get(name, default), 2) for name, default in
                 (("kernel_size", None), ("dilation", 1), ("padding", 0), ("stride", 1)))


def _blocks(name: str, sizes: Sequence[Dim], args: dict[str, Any], what: str) -> tuple[Dim, ...]:
    """ATen's im2col/col2im block count per spatial dim: (size + 2 * padding - dilation * (kernel - 1) - 1)
    // stride + 1, rounding toward negative infinity; each must be at least 1."""
    kernel, dilation, padding, stride = _window(args)
    blocks = tuple(window_out(size, kernel[i], stride[i], 2 * padding[i], dilation[i]) for i, size in enumerate(sizes))
    if any(isinstance(b, int) and b < 1 for b in blocks):
        raise ShapeError(f"{name}: {what} {fmt_shape(tuple(sizes))} gives {fmt_shape(blocks)} sliding blocks (kernel "
                         f"{list(kernel)}, dilation {list(dilation)}, padding {list(padding)}, stride {list(stride)});"
                         " each must be at least 1", "kernel_size", "output-too-small")
    return blocks


def _empty(x: Tensor, name: str, batched: bool) -> None:
    """im2col and col2im take an empty batch (dim 0 of a batched input), no other empty dim."""
    start = 1 if batched else 0
    for i, size in enumerate(x.shape[start:], start=start):
        if size == 0:
            raise ShapeError(f"{name} input {fmt_shape(x.shape)} has an empty dim {i} (only a batch may be empty)",
                             code="output-too-small")


def _dtype(x: Tensor, name: str) -> None:
    """The CPU kernels take floating point and bool, no integers."""
    if not (x.is_float or x.dtype == "bool"):
        raise ShapeError(f"{name} is not implemented for {x.dtype} tensors", code="dtype-mismatch",
                         hint="convert the input to a float dtype first")


def _unfold_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """F.unfold: (N, C, H, W) or (C, H, W) -> (N, C * prod(kernel_size), L), L the number of blocks."""
    (x,) = inputs
    if x.rank not in (3, 4):
        raise ShapeError(f"Unfold expects a 3-D or 4-D input ((N,) C, H, W), found {fmt_shape(x.shape)}",
                         code="rank-mismatch", hint="only 2-D images are supported")
    _dtype(x, "Unfold")
    _empty(x, "Unfold", x.rank == 4)
    blocks = _blocks("Unfold", x.shape[-2:], args, "input with spatial size")
    kernel = _window(args)[0]
    return Tensor((*x.shape[:-3], dim_mul(x.shape[-3], math.prod(kernel)), product(blocks)), x.dtype), {}


def _fold_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """F.fold: (N, C * prod(kernel_size), L) or (C * prod(kernel_size), L) -> ((N,) C, *output_size); L must be
    the number of blocks output_size holds."""
    (x,) = inputs
    if x.rank not in (2, 3):
        raise ShapeError(f"Fold expects a 2-D or 3-D input ((N,) C * prod(kernel_size), L), found "
                         f"{fmt_shape(x.shape)}", code="rank-mismatch")
    _dtype(x, "Fold")
    _empty(x, "Fold", x.rank == 3)
    kernel = _window(args)[0]
    columns, length = x.shape[-2], x.shape[-1]
    size = math.prod(kernel)
    if isinstance(columns, int) and columns % size:
        raise ShapeError(f"Fold expects dim -2 of its input divisible by the product of kernel_size {list(kernel)} "
                         f"({size}), found {columns}", "kernel_size", "bad-groups")
    output = as_tuple(args["output_size"], 2)
    blocks = _blocks("Fold", output, args, "output_size")
    total = product(blocks)
    if isinstance(length, int) and isinstance(total, int) and length != total:
        raise ShapeError(f"Fold: output_size {list(output)} holds {' * '.join(map(str, blocks))} = {total} sliding "
                         f"blocks, but the input's last dim is {length}", "output_size",
                         hint=f"give an input with {total} blocks in its last dim, or change output_size")
    return Tensor((*x.shape[:-2], dim_floordiv(columns, size), *output), x.dtype), {}


_WINDOW = (
    Arg("dilation", size_n(2), 1, doc="A parameter that controls the stride of elements within the neighborhood."),
    Arg("padding", size_n(2, NonNegInt), 0, doc="Implicit zero padding to be added on both sides of input."),
    Arg("stride", size_n(2), 1, doc="The stride of the sliding blocks in the input spatial dimensions."),
)

REGISTRY.add_layer(LayerType(
    name="Unfold", family="fold", rule=_unfold_rule, positional=1,
    summary="extracts sliding blocks: (N, C, H, W) to (N, C * prod(kernel_size), L), L blocks (im2col)",
    args=(Arg("kernel_size", size_n(2), doc="The size of the sliding blocks."), *_WINDOW),
))
REGISTRY.add_layer(LayerType(
    name="Fold", family="fold", rule=_fold_rule, positional=2,
    summary="sums sliding blocks back into an image: (N, C * prod(kernel_size), L) to (N, C, *output_size) "
            "(col2im)",
    args=(
        Arg("output_size", size_n(2), doc="The shape of the spatial dimensions of the output."),
        Arg("kernel_size", size_n(2), doc="The size of the sliding blocks."),
        *_WINDOW,
    ),
))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

REGISTRY.add_examples(
    L("Unfold", {"kernel_size": 3}),
    L("Unfold", {"kernel_size": [2, 3], "dilation": [1, 2], "padding": [0, 1], "stride": [1, 2]}, label="per-dim"),
    L("Unfold", {"kernel_size": 3, "padding": 1, "stride": 2}, (I((3, 5, 7), "float64"),), "unbatched"),
    L("Unfold", {"kernel_size": 2}, (I((2, 3, 4, 4), "bool"),), "bool"),
    L("Fold", {"output_size": 4, "kernel_size": 2}, (I((2, 12, 9)),)),
    L("Fold", {"output_size": [5, 7], "kernel_size": [2, 3], "dilation": [1, 2], "padding": [1, 0], "stride": [2, 1]},
      (I((2, 18, 9)),), "per-dim"),
    L("Fold", {"output_size": 3, "kernel_size": 3, "padding": 1}, (I((18, 9), "float16"),), "unbatched"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("Unfold", {"kernel_size": 2}, (I((3, 8)),), "rank-2"),
    L("Unfold", {"kernel_size": 2}, (I((1, 2, 3, 8, 8)),), "rank-5"),
    L("Unfold", {"kernel_size": 9}, label="no-block"),
    L("Unfold", {"kernel_size": 2, "stride": 2}, (I((2, 3, 1, 8)),), "no-block-height"),
    L("Unfold", {"kernel_size": 2}, (I((2, 3, 4, 4), "int64"),), "int"),
    L("Fold", {"output_size": 4, "kernel_size": 2}, (I((2, 13, 9)),), "indivisible"),
    L("Fold", {"output_size": 4, "kernel_size": 2}, (I((2, 12, 4)),), "blocks"),
    L("Fold", {"output_size": 1, "kernel_size": 2}, (I((2, 4, 1)),), "no-block"),
    L("Fold", {"output_size": 4, "kernel_size": 2}, (I((1, 2, 12, 9)),), "rank-4"),
    L("Fold", {"output_size": 4, "kernel_size": 2}, (I((2, 12, 9), "int32"),), "int"),
    refused=True,
)
