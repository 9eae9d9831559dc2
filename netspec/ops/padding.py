"""Padding layers: ZeroPad, ConstantPad, ReflectionPad, ReplicationPad and CircularPad, each {1,2,3}d.

``padding`` is one int for every side or ``2*d`` ints, (left, right, top, bottom, front, back): the
last dim first, as F.pad reads them.  Negative padding crops.  The checks are ATen's: constant padding
takes any input of at least ``d`` dims and any dtype; the other modes take ``d+1`` (unbatched) or ``d+2``
(batched) dims; reflection and replication need non-empty dims besides the batch and refuse an output
size < 0 or all output sizes < 1, reflection also a padding that reaches the input's size; circular padding
may wrap at most once.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._core import (
    REGISTRY,
    AnyInt,
    Arg,
    Dim,
    LayerType,
    Real,
    ShapeError,
    Tensor,
    as_tuple,
    dim_add,
    fmt_shape,
    size_n,
)
from .examples import X1D, X3D
from .examples import Input as I
from .examples import LayerExample as L

_MODES = {"Zero": "constant", "Constant": "constant", "Reflection": "reflect", "Replication": "replicate",
          "Circular": "circular"}


def _pad_rule(kind: str, n: int) -> Any:
    name = f"{kind}Pad{n}d"
    mode = _MODES[kind]

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        pads = as_tuple(args["padding"], 2 * n)
        if x.rank < n:
            raise ShapeError(f"{name} pads the last {n} dims, and the input {fmt_shape(x.shape)} has {x.rank}",
                             code="rank-mismatch")
        if mode != "constant":
            if x.rank not in (n + 1, n + 2):
                raise ShapeError(f"{name} expects a {n + 1}-D (unbatched) or {n + 2}-D (batched) input, found a "
                                 f"{x.rank}-D input {fmt_shape(x.shape)}", code="rank-mismatch")
            if x.dtype == "bool" and mode != "circular":
                raise ShapeError(f"{name} does not take a bool input", code="dtype-mismatch")
        if mode in ("reflect", "replicate"):  # every dim but the batch must be non-empty
            kept = x.shape[1:] if x.rank == n + 2 else x.shape
            if any(d == 0 for d in kept):
                raise ShapeError(f"{name} expects non-empty dims besides the batch, found {fmt_shape(x.shape)}",
                                 "padding", "output-too-small")
        out: list[Dim] = list(x.shape)
        for i in range(n):
            left, right = pads[2 * i], pads[2 * i + 1]
            dim = x.rank - 1 - i
            size = x.shape[dim]
            if isinstance(size, int):
                _check_side(name, mode, size, left, right, dim, x)
            out[dim] = dim_add(size, left + right)
        padded = out[x.rank - n:]
        if mode in ("reflect", "replicate") and all(isinstance(d, int) and d < 1 for d in padded):
            raise ShapeError(f"{name} padding {list(pads)} leaves no element of {fmt_shape(x.shape)}: output "
                             f"{fmt_shape(out)}", "padding", "output-too-small")
        return Tensor(tuple(out), x.dtype), {}

    return rule


def _check_side(name: str, mode: str, size: int, left: int, right: int, dim: int, x: Tensor) -> None:
    total = size + left + right
    where = f"dim {dim} of {fmt_shape(x.shape)}"
    if mode == "reflect" and (left >= size or right >= size):
        raise ShapeError(f"{name} padding ({left}, {right}) must be less than the size {size} of {where}",
                         "padding", "output-too-small")
    if mode == "circular" and (left > size or right > size):
        raise ShapeError(f"{name} padding ({left}, {right}) wraps around {where} (size {size}) more than once",
                         "padding", "output-too-small")
    if mode == "circular" and total >= 0 and not _circular_copies_fit(size, left, right):
        raise ShapeError(f"{name} padding ({left}, {right}) crops {where} (size {size}) too far for its wrapped "
                         "copies", "padding", "output-too-small")
    if mode == "constant":  # negative padding crops the input first, one side after the other
        total = size + min(left, 0) + min(right, 0)
    if total < 0:
        raise ShapeError(f"{name} padding ({left}, {right}) crops more than the size {size} of {where}",
                         "padding", "output-too-small")


def _circular_copies_fit(size: int, left: int, right: int) -> bool:
    """ATen's _pad_circular copies slices of the input and of its own output (Python slice clamping, a source of
    one element broadcast); a copy whose slices disagree in length fails.  (A copy between overlapping slices of
    an input whose other dims are all 1 fails too, which depends on memory layout and is not modelled.)"""
    out = size + left + right

    def length(n: int, start: int, end: int) -> int:
        start, end = start + n if start < 0 else start, end + n if end < 0 else end
        start = min(max(start, 0), n)
        return min(max(end, start), n) - start

    def fits(src: int, dst: int) -> bool:
        return src in (dst, 1)

    if not fits(length(size, max(-left, 0), size - max(-right, 0)), length(out, max(left, 0), out - max(right, 0))):
        return False
    if left > 0 and not fits(length(out, out - left - max(right, 0), out - max(right, 0)), length(out, 0, left)):
        return False
    return right <= 0 or fits(length(out, max(left, 0), max(left, 0) + right), length(out, out - right, out))


def _pad_layer(kind: str, n: int) -> LayerType:
    what = {"Zero": "zeros", "Constant": "a constant value", "Reflection": "the reflection of the input",
            "Replication": "the input's edge values", "Circular": "the input wrapped around"}[kind]
    args: tuple[Arg, ...] = (Arg("padding", size_n(2 * n, AnyInt),
                doc=f"Padding of each side: one int for all, or {2 * n} ints (left, right"
                    f"{', top, bottom' if n > 1 else ''}{', front, back' if n > 2 else ''}); negative crops."),)
    if kind == "Constant":
        args += (Arg("value", Real, doc="The fill value of the padding."),)
    return LayerType(name=f"{kind}Pad{n}d", family="padding", rule=_pad_rule(kind, n), positional=len(args),
                     summary=f"pads the last {n} dim{'s' if n > 1 else ''} with {what} (nn.{kind}Pad{n}d)",
                     args=args)


for _kind in _MODES:
    for _n in (1, 2, 3):
        REGISTRY.add_layer(_pad_layer(_kind, _n))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

REGISTRY.add_examples(
    L("ZeroPad1d", {"padding": 2}, X1D), L("ZeroPad1d", {"padding": [1, -2]}, (I((5,)),), "1d-crop"),
    L("ZeroPad2d", {"padding": [1, 0, 2, 3]}), L("ZeroPad2d", {"padding": 1}, (I((4, 5), "int64"),), "2d-int"),
    L("ZeroPad3d", {"padding": 1}, X3D), L("ZeroPad3d", {"padding": [-1, -1, 0, 0, 1, 1]}, X3D, "crop"),
    L("ConstantPad1d", {"padding": 1, "value": 2.5}, X1D),
    L("ConstantPad1d", {"padding": [-2, -2], "value": 0.0}, (I((2, 4)),), "empty"),
    L("ConstantPad2d", {"padding": [1, 2, 0, 1], "value": -1.0}, (I((2, 3, 4, 4), "bool"),)),
    L("ConstantPad3d", {"padding": 1, "value": 1.0}, (I((1, 2, 3, 4, 4, 4)),)),
    L("ReflectionPad1d", {"padding": 2}, (I((3, 4)),)), L("ReflectionPad1d", {"padding": [-4, 1]}, (I((2, 3, 4)),),
                                                          "crop"),
    L("ReflectionPad2d", {"padding": [1, 2, 3, 0]}), L("ReflectionPad2d", {"padding": 1}, (I((3, 4, 4), "int64"),),
                                                       "int"),
    L("ReflectionPad3d", {"padding": 1}, X3D),
    L("ReplicationPad1d", {"padding": 3}, (I((2, 3, 1)),)), L("ReplicationPad2d", {"padding": [0, 1, -1, 2]}),
    L("ReplicationPad3d", {"padding": [1, 1, 2, 2, 0, 0]}, (I((3, 2, 2, 2)),)),
    L("CircularPad1d", {"padding": [4, -1]}, (I((2, 3, 4)),)),
    L("CircularPad1d", {"padding": [-2, -2]}, (I((2, 3, 4)),), "empty"),
    L("CircularPad1d", {"padding": [-3, 4]}, (I((2, 3, 4)),), "crop-then-wrap"),
    L("CircularPad2d", {"padding": 1}, (I((2, 3, 4, 4), "bool"),)),
    L("CircularPad3d", {"padding": [1, 0, 0, 1, 2, 2]}, (I((3, 4, 4, 4)),)),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("ZeroPad2d", {"padding": 1}, (I((3,)),), "rank"),
    L("ConstantPad1d", {"padding": [-2, -3], "value": 0.0}, (I((2, 4)),), "negative-size"),
    L("ReflectionPad1d", {"padding": 3}, (I((2, 3, 3)),), "pad-reaches-size"),
    L("ReflectionPad1d", {"padding": [-2, -2]}, (I((2, 3, 4)),), "empty"),
    L("ReflectionPad2d", {"padding": 1}, (I((3, 3)),), "rank"),
    L("ReflectionPad2d", {"padding": 1}, (I((2, 3, 4, 4), "bool"),), "bool"),
    L("ReflectionPad3d", {"padding": [0, 0, 0, 0, 2, 1]}, (I((2, 3, 2, 4, 4)),), "pad-reaches-size"),
    L("ReplicationPad1d", {"padding": [-4, 0]}, (I((2, 3, 4)),), "empty"),
    L("ReplicationPad2d", {"padding": 1}, (I((1, 2, 3, 4, 4)),), "rank"),
    L("ReplicationPad3d", {"padding": 1}, (I((3, 3, 3)),), "rank"),
    L("CircularPad1d", {"padding": [5, -1]}, (I((2, 3, 4)),), "wraps-twice"),
    L("CircularPad1d", {"padding": [1, -5]}, (I((2, 3, 4)),), "crop-past-size"),
    L("CircularPad2d", {"padding": -2}, (I((2, 3, 2, 2)),), "negative-size"),
    L("CircularPad3d", {"padding": 1}, (I((3, 3, 3)),), "rank"),
    refused=True,
)
