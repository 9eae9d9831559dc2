"""Shape-moving layers (Identity, Flatten, Unflatten, Dropout, Upsample) and the
tensor ops of the forward language (mm, matmul, mean, cat, reshape, corr2d...)."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from pydantic import Field

from ._core import (
    INT64_MAX,
    REGISTRY,
    AnyInt,
    Arg,
    Bool,
    Dim,
    LayerType,
    Op,
    PosInt,
    PosReal,
    Probability,
    Shape,
    ShapeError,
    Tensor,
    broadcast,
    check_float,
    dim_add,
    dim_floordiv,
    dim_sum,
    fmt_shape,
    normalize_dim,
    product,
    promote_types,
    same_dims,
    size_n,
    symbol,
)

# ---------------------------------------------------------------- flatten / unflatten


def flatten_shape(x: Tensor, start_dim: int, end_dim: int) -> Tensor:
    start = normalize_dim(start_dim, x.rank, "start_dim")
    end = normalize_dim(end_dim, x.rank, "end_dim")
    if x.rank == 0:
        return Tensor((1,), x.dtype)  # a 0-D input takes dims -1 and 0 only, and flattens to one element
    if start > end:
        raise ShapeError(f"start_dim {start_dim} comes after end_dim {end_dim} for a {x.rank}-D input", "start_dim")
    merged = product(x.shape[start : end + 1])
    return Tensor((*x.shape[:start], merged, *x.shape[end + 1 :]), x.dtype)


def _unflatten_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    if x.rank == 0:
        raise ShapeError("Unflatten needs an input with at least 1 dim, found a 0-D tensor", code="rank-mismatch")
    dim = normalize_dim(args["dim"], x.rank)
    sizes = list(args["unflattened_size"])
    if sizes.count(-1) > 1:
        raise ShapeError("unflattened_size may hold at most one -1", "unflattened_size")
    known = math.prod(s for s in sizes if s != -1)
    size = x.shape[dim]
    if isinstance(size, int):
        if -1 in sizes:
            if known == 0 or size % known:
                raise ShapeError(f"cannot unflatten dim {dim} of size {size} into {sizes}", "unflattened_size")
            sizes[sizes.index(-1)] = size // known
        elif known != size:
            raise ShapeError(f"unflattened_size {sizes} multiplies to {known}, but dim {dim} has size {size}",
                             "unflattened_size")
    elif -1 in sizes:
        sizes[sizes.index(-1)] = dim_floordiv(size, known)
    return Tensor((*x.shape[:dim], *sizes, *x.shape[dim + 1 :]), x.dtype), {}


def reshape_shape(x: Tensor, shape: Sequence[int]) -> Tensor:
    sizes: list[Dim] = list(shape)
    if sizes.count(-1) > 1:
        raise ShapeError("reshape takes at most one -1", "shape")
    if any(s < -1 for s in shape):
        raise ShapeError(f"reshape sizes must be >= -1, found {list(shape)}", "shape")
    total = product(x.shape)
    known = math.prod(s for s in shape if s != -1)
    if isinstance(total, int):
        if -1 in shape:
            if known == 0 or total % known:
                raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} ({total} elements) into {list(shape)}", "shape")
            sizes[shape.index(-1)] = total // known
        elif known != total:
            raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} ({total} elements) into {list(shape)} "
                             f"({known} elements)", "shape")
    elif 0 in shape:
        raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} into {list(shape)}: a size 0 needs an empty input",
                         "shape")
    elif -1 in shape:
        static = math.prod(d for d in x.shape if isinstance(d, int))
        if known and static % known == 0:  # (N, 16, 5, 5) into (-1, 400) is plainly N
            sizes[shape.index(-1)] = product([static // known, *(d for d in x.shape if isinstance(d, str))])
        else:
            sizes[shape.index(-1)] = dim_floordiv(total, known)
    return Tensor(tuple(sizes), x.dtype)


# ---------------------------------------------------------------- upsample


def _upsample_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    check_float(x, "Upsample")
    size: Any = args.get("size")
    scale: Any = args.get("scale_factor")
    if (size is None) == (scale is None):
        raise ShapeError("Upsample needs exactly one of size and scale_factor", "size")
    if size is not None and args.get("recompute_scale_factor"):
        raise ShapeError("recompute_scale_factor is not meaningful with an explicit size", "recompute_scale_factor")
    mode = args.get("mode", "nearest")
    ranks = {"linear": (3,), "bilinear": (4,), "bicubic": (4,), "trilinear": (5,)}.get(mode, (3, 4, 5))
    if x.rank not in ranks:
        raise ShapeError(f"Upsample mode '{mode}' expects a {' or '.join(f'{r}-D' for r in ranks)} input, "
                         f"found {fmt_shape(x.shape)}", "mode", "rank-mismatch")
    if args.get("align_corners") is not None and mode not in ("linear", "bilinear", "bicubic", "trilinear"):
        raise ShapeError("align_corners can only be set with the interpolating modes", "align_corners")
    n = x.rank - 2
    spatial: list[Dim] = []
    for i, d in enumerate(x.shape[2:]):
        if size is not None:
            spatial.append(size if isinstance(size, int) else _nth(size, i, n, "size"))
        else:
            factor = scale if isinstance(scale, float) else _nth(scale, i, n, "scale_factor")
            spatial.append(_scaled(d, factor))
    if any(isinstance(d, int) and d < 1 for d in spatial):
        raise ShapeError(f"Upsample output {spatial} has a size < 1", "scale_factor", "output-too-small")
    return Tensor((*x.shape[:2], *spatial), x.dtype), {}


def _nth(values: Sequence[Any], i: int, n: int, name: str) -> Any:
    if len(values) != n:
        raise ShapeError(f"{name} has {len(values)} entries for {n} spatial dims", name)
    return values[i]


# ---------------------------------------------------------------- math ops


def check_product_dtypes(a: Tensor, b: Tensor, name: str) -> None:
    """Matrix products do not promote: both operands need one dtype, and bool has no kernel."""
    if a.dtype != b.dtype:
        raise ShapeError(f"{name} needs operands of one dtype, found {a.dtype} and {b.dtype}", code="dtype-mismatch",
                         hint="declare both inputs with the same dtype")
    if a.dtype == "bool":
        raise ShapeError(f"{name} is not implemented for bool tensors", code="dtype-mismatch")


def _mm(bound: dict[str, Any]) -> Tensor:
    a, b = bound["input"], bound["mat2"]
    check_product_dtypes(a, b, "mm")
    if a.rank != 2 or b.rank != 2:
        raise ShapeError(f"mm multiplies two 2-D tensors, found {fmt_shape(a.shape)} and {fmt_shape(b.shape)}",
                         code="rank-mismatch", hint="use matmul for batched or 1-D operands")
    if not same_dims(a.shape[1], b.shape[0]):
        raise ShapeError(f"cannot multiply {fmt_shape(a.shape)} by {fmt_shape(b.shape)}: inner sizes "
                         f"{a.shape[1]} and {b.shape[0]} differ")
    return Tensor((a.shape[0], b.shape[1]), a.dtype)


def matmul_shape(a: Tensor, b: Tensor) -> Tensor:
    if a.rank == 0 or b.rank == 0:
        raise ShapeError("matmul needs operands with at least 1 dim", code="rank-mismatch")
    check_product_dtypes(a, b, "matmul")
    left = a.shape if a.rank > 1 else (1, *a.shape)
    right = b.shape if b.rank > 1 else (*b.shape, 1)
    if not same_dims(left[-1], right[-2]):
        raise ShapeError(f"cannot multiply {fmt_shape(a.shape)} by {fmt_shape(b.shape)}: inner sizes "
                         f"{left[-1]} and {right[-2]} differ")
    out: Shape = (*broadcast(left[:-2], right[:-2]), left[-2], right[-1])
    if a.rank == 1:
        out = out[:-2] + out[-1:]
    if b.rank == 1:
        out = out[:-1]
    return Tensor(out, a.dtype)


def _reduce(bound: dict[str, Any], name: str) -> Tensor:
    x, dim, keep = bound["input"], bound.get("dim"), bound.get("keepdim", False)
    if name == "mean" and not x.is_float:
        raise ShapeError(f"mean needs a floating-point input, found {x.dtype}", code="dtype-mismatch",
                         hint="sum it instead, or declare the input as a float dtype")
    # sum accumulates bool and integer tensors in int64
    dtype = x.dtype if x.is_float else "int64"
    if dim is None:
        return Tensor((1,) * x.rank if keep else (), dtype)
    listed = dim if isinstance(dim, (list, tuple)) else [dim]
    dims = [normalize_dim(d, x.rank) for d in listed]
    if len(set(dims)) != len(dims):
        raise ShapeError(f"dim {list(listed)} names a dim more than once", "dim")
    shape = tuple(1 if i in dims else s for i, s in enumerate(x.shape)) if keep else tuple(
        s for i, s in enumerate(x.shape) if i not in dims)
    return Tensor(shape, dtype)


def _join(bound: dict[str, Any], new_dim: bool) -> Tensor:
    tensors: list[Tensor] = bound["tensors"]
    name = "stack" if new_dim else "cat"
    if not tensors:
        raise ShapeError(f"{name} needs at least one tensor", "tensors")
    first = tensors[0]
    if not new_dim:
        for i, t in enumerate(tensors):
            if t.rank == 0:
                raise ShapeError(f"cat cannot join 0-D tensors (tensor {i})", code="rank-mismatch",
                                 hint="use stack to join scalars into a vector")
    dim = normalize_dim(bound.get("dim", 0), first.rank + (1 if new_dim else 0))
    for t in tensors[1:]:
        if t.rank != first.rank:
            raise ShapeError(f"tensors have ranks {first.rank} and {t.rank}", code="rank-mismatch")
        for i, (a, b) in enumerate(zip(first.shape, t.shape, strict=True)):
            if (new_dim or i != dim) and not same_dims(a, b):
                raise ShapeError(f"tensors {fmt_shape(first.shape)} and {fmt_shape(t.shape)} differ in dim {i}")
    dtype = functools.reduce(promote_types, (t.dtype for t in tensors))
    if new_dim:
        return Tensor((*first.shape[:dim], len(tensors), *first.shape[dim:]), dtype)
    joined: Dim = first.shape[dim]
    for t in tensors[1:]:
        joined = dim_sum(joined, t.shape[dim])
    return Tensor((*first.shape[:dim], joined, *first.shape[dim + 1 :]), dtype)


def _transpose(bound: dict[str, Any]) -> Tensor:
    x = bound["input"]
    shape = list(x.shape)
    i, j = normalize_dim(bound["dim0"], x.rank), normalize_dim(bound["dim1"], x.rank)
    if shape:  # a 0-D tensor takes dims -1 and 0 and stays as it is
        shape[i], shape[j] = shape[j], shape[i]
    return Tensor(tuple(shape), x.dtype)


def _permute(bound: dict[str, Any]) -> Tensor:
    x = bound["input"]
    dims = [normalize_dim(d, x.rank) for d in bound["dims"]]
    if sorted(dims) != list(range(x.rank)):
        raise ShapeError(f"dims {list(bound['dims'])} are not a permutation of {x.rank} dims", "dims")
    return Tensor(tuple(x.shape[d] for d in dims), x.dtype)


def _unsqueeze(bound: dict[str, Any]) -> Tensor:
    x = bound["input"]
    dim = normalize_dim(bound["dim"], x.rank + 1)
    return Tensor((*x.shape[:dim], 1, *x.shape[dim:]), x.dtype)


def _squeeze(bound: dict[str, Any]) -> Tensor:
    x, dim = bound["input"], bound.get("dim")
    if dim is None:
        return Tensor(tuple(s for s in x.shape if s != 1), x.dtype)
    d = normalize_dim(dim, x.rank)
    return Tensor(tuple(s for i, s in enumerate(x.shape) if i != d or s != 1), x.dtype)


def _scaled(d: Dim, factor: float) -> Dim:
    if isinstance(d, str):
        return symbol(f"floor({d}*{factor})")
    value = float(d) * factor
    if not math.isfinite(value) or value > INT64_MAX:  # a float past 2**63 cannot be a size
        raise ShapeError(f"scale_factor {factor} makes size {d} larger than a tensor can hold", "scale_factor",
                         "too-large")
    return math.floor(value)


def corr2d_shape(bound: dict[str, Any]) -> Tensor:
    x, k = bound["X"], bound["K"]
    if x.rank != 2 or k.rank != 2:
        raise ShapeError(f"corr2d takes a 2-D input and a 2-D kernel, found {fmt_shape(x.shape)} and "
                         f"{fmt_shape(k.shape)}", code="rank-mismatch")
    out: list[Dim] = []
    for size, kernel in zip(x.shape, k.shape, strict=True):
        if isinstance(size, int) and isinstance(kernel, int) and size - kernel + 1 < 1:
            raise ShapeError(f"corr2d of {fmt_shape(x.shape)} by kernel {fmt_shape(k.shape)}: output size "
                             f"{size - kernel + 1} < 1", code="output-too-small")
        out.append(dim_add(size, 1 - kernel) if isinstance(kernel, int) else symbol(f"{size}-{kernel}+1"))
    return Tensor(tuple(out), "float32")


CORR2D_HELPER = '''def corr2d(X, K):
    """2-D cross-correlation of X (H, W) with kernel K (h, w): the loop
    Y[i, j] = (X[i:i + h, j:j + w] * K).sum(), vectorised."""
    return F.conv2d(X.float()[None, None], K.float()[None, None])[0, 0]
'''

DimList = Annotated[list[AnyInt], Field(min_length=1)]

for _layer in (
    LayerType(name="Identity", family="tensor", args=(), rule=lambda a, xs: (xs[0], {}), summary="returns its input"),
    LayerType(name="Flatten", family="tensor", summary="merges dims start_dim..end_dim",
              args=(Arg("start_dim", AnyInt, 1), Arg("end_dim", AnyInt, -1)),
              rule=lambda a, xs: (flatten_shape(xs[0], a.get("start_dim", 1), a.get("end_dim", -1)), {})),
    LayerType(name="Unflatten", family="tensor", rule=_unflatten_rule, summary="splits dim into unflattened_size",
              args=(Arg("dim", AnyInt), Arg("unflattened_size", Annotated[list[Annotated[int, Field(
                  strict=True, ge=-1, le=2**63 - 1)]], Field(min_length=1)]))),
    LayerType(name="Dropout", family="tensor", summary="zeroes elements with probability p while training",
              args=(Arg("p", Probability, 0.5), Arg("inplace", Bool, False)),
              rule=lambda a, xs: (_check_float_passthrough({"input": xs[0]}), {})),
    LayerType(name="Upsample", family="tensor", rule=_upsample_rule,
              summary="resizes the spatial dims (N, C, ...) by size or scale_factor",
              args=(Arg("size", size_n(3, PosInt) | Annotated[list[PosInt], Field(min_length=1, max_length=3)] | None,
                        None),
                    Arg("scale_factor", PosReal | Annotated[list[PosReal], Field(min_length=1, max_length=3)] | None,
                        None),
                    Arg("mode", Literal["nearest", "linear", "bilinear", "bicubic", "trilinear"], "nearest"),
                    Arg("align_corners", Bool | None, None),
                    Arg("recompute_scale_factor", Bool | None, None))),
):
    REGISTRY.add_layer(_layer)


def _check_float_passthrough(bound: dict[str, Any]) -> Tensor:
    x: Tensor = bound["input"]
    check_float(x, "dropout")
    return x


for _op in (
    Op("flatten", "tensor", "torch.flatten", ("input",), (Arg("start_dim", AnyInt, 1), Arg("end_dim", AnyInt, -1)),
       lambda b: flatten_shape(b["input"], b.get("start_dim", 1), b.get("end_dim", -1)), method=True,
       summary="merges dims start_dim..end_dim (start_dim defaults to 1, keeping the batch dim)"),
    Op("reshape", "tensor", "torch.reshape", ("input",), (Arg("shape", DimList),),
       lambda b: reshape_shape(b["input"], b["shape"]), method=True, summary="reshape; one size may be -1"),
    Op("transpose", "tensor", "torch.transpose", ("input",), (Arg("dim0", AnyInt), Arg("dim1", AnyInt)), _transpose,
       method=True, summary="swaps two dims"),
    Op("permute", "tensor", "torch.permute", ("input",), (Arg("dims", DimList),), _permute, method=True,
       summary="reorders dims"),
    Op("unsqueeze", "tensor", "torch.unsqueeze", ("input",), (Arg("dim", AnyInt),), _unsqueeze, method=True,
       summary="inserts a dim of size 1"),
    Op("squeeze", "tensor", "torch.squeeze", ("input",), (Arg("dim", AnyInt | None, None),), _squeeze, method=True,
       summary="removes dims of size 1"),
    Op("mean", "math", "torch.mean", ("input",), (Arg("dim", AnyInt | DimList | None, None),
                                                  Arg("keepdim", Bool, False)), lambda b: _reduce(b, "mean"),
       method=True, summary="mean over dim (all dims when omitted)"),
    Op("sum", "math", "torch.sum", ("input",), (Arg("dim", AnyInt | DimList | None, None),
                                                Arg("keepdim", Bool, False)), lambda b: _reduce(b, "sum"),
       method=True, summary="sum over dim (all dims when omitted)"),
    Op("cat", "math", "torch.cat", ("*tensors",), (Arg("dim", AnyInt, 0),), lambda b: _join(b, False),
       summary="concatenates a list of tensors along dim"),
    Op("stack", "math", "torch.stack", ("*tensors",), (Arg("dim", AnyInt, 0),), lambda b: _join(b, True),
       summary="stacks a list of tensors along a new dim"),
    Op("mm", "math", "torch.mm", ("input", "mat2"), (), _mm, method=True, summary="2-D matrix product"),
    Op("matmul", "math", "torch.matmul", ("input", "other"), (),
       lambda b: matmul_shape(b["input"], b["other"]), method=True,
       summary="matrix product with batching and broadcasting (the @ operator)"),
    Op("dropout", "tensor", "F.dropout", ("input",), (Arg("p", Probability, 0.5),), _check_float_passthrough,
       extra=(("training", "self.training"),), summary="dropout, active only in training mode"),
    Op("corr2d", "math", "corr2d", ("X", "K"), (), corr2d_shape, helper=CORR2D_HELPER,
       summary="2-D cross-correlation of a 2-D input with a 2-D kernel (the seed's corr2d, vectorised)"),
):
    REGISTRY.add_op(_op)
