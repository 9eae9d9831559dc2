"""Shape-moving layers (Identity, Flatten, Unflatten, Dropout, Upsample) and the
tensor ops of the forward language (mm, matmul, mean, cat, reshape, corr2d...)."""

from __future__ import annotations

import functools
import inspect
import math
from collections.abc import Sequence
from typing import Annotated, Any, Literal

from ._core import (
    INT64_MAX,
    REGISTRY,
    AnyInt,
    Arg,
    Bool,
    Dim,
    LayerType,
    NonNegInt,
    Op,
    PosInt,
    PosReal,
    Probability,
    Shape,
    ShapeError,
    SymSize,
    Tensor,
    broadcast,
    check_float,
    count_product,
    dim_add,
    dim_floordiv,
    dim_mul,
    dim_sum,
    fmt_shape,
    normalize_dim,
    paren,
    product,
    promote_types,
    same_dims,
    size_n,
    symbol,
)
from .annotations import Constraint
from .examples import X1D, X3D, X, Y
from .examples import Input as I
from .examples import LayerExample as L
from .examples import OpExample as O

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


def reshape_shape(x: Tensor, shape: Sequence[Any]) -> Tensor:
    """torch.reshape's shape: one size may be -1; sizes read at run time (``B``, ``C // n_head``) stand as they are."""
    sizes: list[Dim] = [str(s) if isinstance(s, SymSize) else s for s in shape]
    if sizes.count(-1) > 1:
        raise ShapeError("reshape takes at most one -1", "shape")
    if any(isinstance(s, int) and s < -1 for s in sizes):
        raise ShapeError(f"reshape sizes must be >= -1, found {list(shape)}", "shape")
    if any(isinstance(s, str) for s in sizes):
        return Tensor(_run_time_reshape(x, sizes), x.dtype)
    ints = [s for s in sizes if isinstance(s, int)]
    total = product(x.shape)
    known = math.prod(s for s in ints if s != -1)
    if isinstance(total, int):
        if -1 in sizes:
            if known == 0 or total % known:
                raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} ({total} elements) into {list(shape)}", "shape")
            sizes[sizes.index(-1)] = total // known
        elif known != total:
            raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} ({total} elements) into {list(shape)} "
                             f"({known} elements)", "shape")
    elif 0 in sizes:
        raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} into {list(shape)}: a size 0 needs an empty input",
                         "shape")
    elif -1 in sizes:
        static = math.prod(d for d in x.shape if isinstance(d, int))
        if known and static % known == 0:  # (N, 16, 5, 5) into (-1, 400) is plainly N
            sizes[sizes.index(-1)] = product([static // known, *(d for d in x.shape if isinstance(d, str))])
        else:
            sizes[sizes.index(-1)] = dim_floordiv(total, known)
    return Tensor(tuple(sizes), x.dtype)


def _run_time_reshape(x: Tensor, sizes: list[Dim]) -> tuple[Dim, ...]:
    """Sizes some of which are symbolic: the symbols both sides share cancel (``(N, T, 64)`` into ``(N, T, 4, -1)``
    leaves 64 elements for 4 * -1), so the -1 and the element count are known wherever the rest is."""
    have = [d for d in x.shape if isinstance(d, str)]
    want = [d for d in sizes if isinstance(d, str)]
    for d in list(want):
        if d in have:
            have.remove(d)
            want.remove(d)
    have_static = math.prod(d for d in x.shape if isinstance(d, int))
    want_static = math.prod(d for d in sizes if isinstance(d, int) and d != -1)
    if -1 in sizes:
        at = sizes.index(-1)
        if not want and want_static and have_static % want_static == 0:
            sizes[at] = product([have_static // want_static, *have])
        elif 0 in sizes:
            raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} into {fmt_shape(sizes)}: with a size 0 the -1 "
                             "is ambiguous", "shape")
        else:
            sizes[at] = symbol(f"{paren(product(x.shape))}//{paren(product([d for d in sizes if d != -1]))}")
    elif not have and not want and have_static != want_static:
        raise ShapeError(f"cannot reshape {fmt_shape(x.shape)} into {fmt_shape(sizes)}: {have_static} elements "
                         f"for each of the shared sizes, but {want_static} asked", "shape")
    return tuple(sizes)


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


def matmul_macs(a: Tensor, b: Tensor, out: Tensor) -> Any:
    """torch.matmul's count under FlopCounterMode: a 1-D right operand goes to mv/dot, which it does not count;
    otherwise mm/bmm over (broadcast) batches, inner size multiply-adds per output element."""
    if b.rank == 1:
        return 0
    return count_product((*out.shape, a.shape[-1]))


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
        return symbol(f"floor({paren(d)}*{factor})")  # H+2 scaled is (H+2)*2.0, not H+2*2.0
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
        out.append(dim_add(size, 1 - kernel) if isinstance(kernel, int) else symbol(f"{size}-{paren(kernel)}+1"))
    return Tensor(tuple(out), "float32")


CORR2D_HELPER = '''def corr2d(X, K):
    """2-D cross-correlation of X (H, W) with kernel K (h, w): the loop
    Y[i, j] = (X[i:i + h, j:j + w] * K).sum(), vectorised."""
    return F.conv2d(X.float()[None, None], K.float()[None, None])[0, 0]
'''


def _is_corr2d(fn: Any) -> bool:
    """netspec's own corr2d helper (generated code defines it); a user's function of that name may differ."""
    if getattr(fn, "__name__", None) != "corr2d" or not inspect.isfunction(fn):
        return False
    try:
        return inspect.getsource(fn) == CORR2D_HELPER
    except (OSError, TypeError):
        return False


def _is_stochastic_depth(fn: Any) -> bool:
    return getattr(fn, "__name__", None) == "stochastic_depth" and (
        getattr(fn, "__module__", "") or "").startswith("torchvision.ops")


# The layer type resolve puts in place of one it refused, so the checks of the rest of the spec go on.
PLACEHOLDER_LAYER = "Identity"
# The op ``x.shape[i]`` reads as: ``x.size(i)``.
SHAPE_INDEX_OP = "size"

DimList = Annotated[list[AnyInt], Constraint(min_length=1)]
# reshape and permute take an empty list as torch does: a 0-D tensor's permutation is (), and a one-element
# tensor reshapes to () (mean/sum keep DimList: torch reads dim=[] there as "every dim", a trap worth refusing).
SizeList = list[AnyInt]


def _pixel_shuffle_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """ATen's pixel_shuffle: (*, C*r*r, H, W) -> (*, C, H*r, W*r), any dtype."""
    (x,) = inputs
    r = args["upscale_factor"]
    if x.rank < 3:
        raise ShapeError(f"PixelShuffle expects an input of at least 3 dims (*, C, H, W), found {fmt_shape(x.shape)}",
                         code="rank-mismatch")
    *batch, c, h, w = x.shape
    if isinstance(c, int) and c % (r * r):
        raise ShapeError(f"PixelShuffle needs channels (dim -3) divisible by upscale_factor squared ({r * r}), "
                         f"found {c}", "upscale_factor", "bad-groups")
    return Tensor((*batch, dim_floordiv(c, r * r), dim_mul(h, r), dim_mul(w, r)), x.dtype), {}


def _pixel_unshuffle_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """ATen's pixel_unshuffle: (*, C, H*r, W*r) -> (*, C*r*r, H, W), any dtype."""
    (x,) = inputs
    r = args["downscale_factor"]
    if x.rank < 3:
        raise ShapeError(f"PixelUnshuffle expects an input of at least 3 dims (*, C, H, W), found "
                         f"{fmt_shape(x.shape)}", code="rank-mismatch")
    *batch, c, h, w = x.shape
    for what, d in (("height", h), ("width", w)):
        if isinstance(d, int) and d % r:
            raise ShapeError(f"PixelUnshuffle needs the {what} divisible by downscale_factor {r}, found {d}",
                             "downscale_factor", "bad-value")
    return Tensor((*batch, dim_mul(c, r * r), dim_floordiv(h, r), dim_floordiv(w, r)), x.dtype), {}


def _channel_shuffle_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """ATen's channel_shuffle: more than 2 dims, dim 1 divisible by groups; shape and dtype unchanged."""
    (x,) = inputs
    if x.rank < 3:
        raise ShapeError(f"ChannelShuffle expects an input of more than 2 dims (N, C, *), found {fmt_shape(x.shape)}",
                         code="rank-mismatch")
    c = x.shape[1]
    if isinstance(c, int) and c % args["groups"]:
        raise ShapeError(f"ChannelShuffle needs channels (dim 1) divisible by groups {args['groups']}, found {c}",
                         "groups", "bad-groups")
    return x, {}


for _layer in (
    LayerType(name="Identity", family="tensor", args=(), rule=lambda a, xs: (xs[0], {}), summary="returns its input",
              passthrough=True),
    LayerType(name="Flatten", family="tensor", summary="merges dims start_dim..end_dim",
              args=(Arg("start_dim", AnyInt, 1), Arg("end_dim", AnyInt, -1)),
              rule=lambda a, xs: (flatten_shape(xs[0], a.get("start_dim", 1), a.get("end_dim", -1)), {})),
    LayerType(name="Unflatten", family="tensor", rule=_unflatten_rule, summary="splits dim into unflattened_size",
              args=(Arg("dim", AnyInt, doc="Dimension to be unflattened."),
                    Arg("unflattened_size", Annotated[list[Annotated[int, Constraint(
                  strict=True, ge=-1, le=2**63 - 1)]], Constraint(min_length=1)]))),
    LayerType(name="Dropout", family="tensor", summary="zeroes elements with probability p while training",
              args=(Arg("p", Probability, 0.5), Arg("inplace", Bool, False)),
              rule=lambda a, xs: (_check_float_passthrough({"input": xs[0]}), {})),
    LayerType(name="Upsample", family="tensor", rule=_upsample_rule,
              summary="resizes the spatial dims (N, C, ...) by size or scale_factor",
              args=(Arg("size", size_n(3, PosInt) | Annotated[list[PosInt], Constraint(min_length=1, max_length=3)]
                        | None, None, doc="Output spatial sizes."),
                    Arg("scale_factor", PosReal | Annotated[list[PosReal], Constraint(min_length=1, max_length=3)]
                        | None, None),
                    Arg("mode", Literal["nearest", "linear", "bilinear", "bicubic", "trilinear"], "nearest"),
                    Arg("align_corners", Bool | None, None),
                    Arg("recompute_scale_factor", Bool | None, None))),
    LayerType(name="PixelShuffle", family="tensor", rule=_pixel_shuffle_rule, positional=1,
              summary="moves channels into space: (*, C*r*r, H, W) to (*, C, H*r, W*r)",
              args=(Arg("upscale_factor", PosInt),)),
    LayerType(name="PixelUnshuffle", family="tensor", rule=_pixel_unshuffle_rule, positional=1,
              summary="moves space into channels: (*, C, H*r, W*r) to (*, C*r*r, H, W)",
              args=(Arg("downscale_factor", PosInt),)),
    LayerType(name="ChannelShuffle", family="tensor", rule=_channel_shuffle_rule, positional=1,
              summary="interleaves the channels of groups groups (dim 1)",
              args=(Arg("groups", PosInt, doc="Number of groups to divide the channels into."),)),
):
    REGISTRY.add_layer(_layer)


def _check_float_passthrough(bound: dict[str, Any]) -> Tensor:
    x: Tensor = bound["input"]
    check_float(x, "dropout")
    return x


def _size(bound: dict[str, Any]) -> Dim:
    x: Tensor = bound["input"]
    if x.rank == 0:  # torch: "Dimension specified as 0 but tensor has no dimensions"
        raise ShapeError(f"a 0-D tensor has no dim {bound['dim']} to read", "dim", "rank-mismatch")
    d = x.shape[normalize_dim(bound["dim"], x.rank)]
    return d if isinstance(d, int) else SymSize(d)


def _select(bound: dict[str, Any]) -> Tensor:
    x: Tensor = bound["input"]
    if x.rank == 0:
        raise ShapeError("select needs a tensor with at least 1 dim, found a 0-D tensor", code="rank-mismatch")
    dim = normalize_dim(bound["dim"], x.rank)
    size, index = x.shape[dim], bound["index"]
    if isinstance(size, int) and not -size <= index < size:
        raise ShapeError(f"index {index} is out of range for dim {dim} of size {size}", "index")
    return Tensor((*x.shape[:dim], *x.shape[dim + 1:]), x.dtype)


def _expand(bound: dict[str, Any]) -> Tensor:
    """Tensor.expand: -1 keeps a size, a size-1 dim grows to any size, new leading dims may be added."""
    x: Tensor = bound["input"]
    given = bound["size"]
    if not isinstance(given, (list, tuple)):  # expand(size=6): torch wants the sizes as a tuple by keyword
        raise ShapeError(f"expand takes its sizes as a list, found {given!r}", "size", "bad-value",
                         "write x.expand(6) or expand(x, size=[6])")
    sizes = list(given)
    if len(sizes) < x.rank:
        raise ShapeError(f"expand needs at least {x.rank} sizes for {fmt_shape(x.shape)}, found {len(sizes)}", "size")
    out: list[Dim] = []
    lead = len(sizes) - x.rank
    for i, want in enumerate(sizes):
        if not (isinstance(want, SymSize) or (isinstance(want, int) and not isinstance(want, bool))):
            raise ShapeError(f"expand takes numbers and sizes read off a tensor (x.size(0)), found {want!r}", "size")
        have = x.shape[i - lead] if i >= lead else None
        if want == -1:
            if have is None:
                raise ShapeError("expand cannot keep (-1) a new leading dim", "size")
            out.append(have)
        elif isinstance(want, int) and want < 0:
            raise ShapeError(f"expand sizes are >= -1, found {want}", "size")
        elif have is None or have == 1 or have == want or isinstance(have, str) or isinstance(want, SymSize):
            out.append(str(want) if isinstance(want, SymSize) else want)
        else:
            raise ShapeError(f"cannot expand dim {i - lead} of size {have} to {want}: only size-1 dims grow", "size")
    return Tensor(tuple(out), x.dtype)


_REDUCE_DIM = "The dimension or dimensions to reduce (null: all of them)."

for _op in (
    Op("size", "tensor", "torch.Tensor.size", ("input",),
       (Arg("dim", AnyInt, doc="The dimension for which to retrieve the size."),), _size, method=True,
       returns="size", summary="the size of one dim, as a value (x.size(0) is N on an (N, ...) input)"),
    Op("select", "tensor", "torch.select", ("input",),
       (Arg("dim", AnyInt, doc="The dimension to slice."), Arg("index", AnyInt)), _select,
       method=True, summary="one index along dim, dropping that dim (x.select(1, 0) is x[:, 0])"),
    Op("expand", "tensor", "torch.Tensor.expand", ("input",),
       (Arg("size", Any, doc="The desired expanded size; -1 keeps that dimension's size."),), _expand, method=True,
       summary="a broadcast view: size-1 dims grow, -1 keeps a size (class_token.expand(n, -1, -1))", varargs=True),
    Op("flatten", "tensor", "torch.flatten", ("input",), (Arg("start_dim", AnyInt, 1), Arg("end_dim", AnyInt, -1)),
       lambda b: flatten_shape(b["input"], b.get("start_dim", 1), b.get("end_dim", -1)), method=True,
       summary="merges dims start_dim..end_dim (start_dim defaults to 1, keeping the batch dim)",
       torch_defaults=(("start_dim", 0),),
       bare_method=("x.flatten() flattens the batch dim too in PyTorch, but netspec's flatten keeps it",
                    "write x.flatten(1) to keep the batch dim, or x.flatten(0)")),
    Op("reshape", "tensor", "torch.reshape", ("input",), (Arg("shape", SizeList),),
       lambda b: reshape_shape(b["input"], b["shape"]), method=True,
       summary="reshape; one size may be -1, sizes may be read at run time (x.reshape(B, T, n_head, -1))",
       varargs=True, run_time_sizes=("shape",)),
    Op("view", "tensor", "torch.Tensor.view", ("input",), (Arg("size", SizeList, doc="The desired size; one "
                                                                  "may be -1."),),
       lambda b: reshape_shape(b["input"], b["size"]), method=True,
       summary="a view with another shape (as reshape, and torch refuses where the memory layout does not allow "
       "one: .contiguous() first)", varargs=True, run_time_sizes=("size",)),
    Op("transpose", "tensor", "torch.transpose", ("input",), (Arg("dim0", AnyInt), Arg("dim1", AnyInt)), _transpose,
       method=True, summary="swaps two dims"),
    Op("permute", "tensor", "torch.permute", ("input",), (Arg("dims", SizeList),), _permute, method=True,
       summary="reorders dims", varargs=True),
    Op("unsqueeze", "tensor", "torch.unsqueeze", ("input",),
       (Arg("dim", AnyInt, doc="The index at which to insert the singleton dimension."),), _unsqueeze, method=True,
       summary="inserts a dim of size 1"),
    Op("squeeze", "tensor", "torch.squeeze", ("input",),
       (Arg("dim", AnyInt | None, None, doc="If given, the input is squeezed only in this dimension (null: every "
            "dimension of size 1)."),), _squeeze, method=True,
       summary="removes dims of size 1"),
    Op("mean", "math", "torch.mean", ("input",), (Arg("dim", AnyInt | DimList | None, None, doc=_REDUCE_DIM),
                                                  Arg("keepdim", Bool, False)), lambda b: _reduce(b, "mean"),
       method=True, summary="mean over dim (all dims when omitted)"),
    Op("sum", "math", "torch.sum", ("input",), (Arg("dim", AnyInt | DimList | None, None, doc=_REDUCE_DIM),
                                                Arg("keepdim", Bool, False)), lambda b: _reduce(b, "sum"),
       method=True, summary="sum over dim (all dims when omitted)"),
    Op("cat", "math", "torch.cat", ("*tensors",),
       (Arg("dim", AnyInt, 0, doc="The dimension over which the tensors are concatenated."),),
       lambda b: _join(b, False),
       summary="concatenates a list of tensors along dim"),
    Op("stack", "math", "torch.stack", ("*tensors",), (Arg("dim", AnyInt, 0, doc="Dimension to insert."),),
       lambda b: _join(b, True),
       summary="stacks a list of tensors along a new dim"),
    Op("mm", "math", "torch.mm", ("input", "mat2"), (), _mm, method=True, summary="2-D matrix product",
       macs=lambda b, xs, out: count_product((*out.shape, b["input"].shape[-1]))),
    Op("matmul", "math", "torch.matmul", ("input", "other"), (),
       lambda b: matmul_shape(b["input"], b["other"]), method=True,
       macs=lambda b, xs, out: matmul_macs(b["input"], b["other"], out),
       summary="matrix product with batching and broadcasting (the @ operator)"),
    Op("dropout", "tensor", "F.dropout", ("input",), (Arg("p", Probability, 0.5),), _check_float_passthrough,
       extra=(("training", "self.training"),), summary="dropout, active only in training mode"),
    Op("corr2d", "math", "corr2d", ("X", "K"), (), corr2d_shape, helper=CORR2D_HELPER, traced=_is_corr2d,
       macs=lambda b, xs, out: count_product((*out.shape, *b["K"].shape)),  # F.conv2d: kernel size per output
       summary="2-D cross-correlation of a 2-D input with a 2-D kernel (the seed's corr2d, vectorised)"),
):
    REGISTRY.add_op(_op)


# ---------------------------------------------------------------- torchvision's classification models: more dropout,
# chunk / split / narrow, stochastic depth


def _feature_dropout_caution(args: dict[str, Any], inputs: Sequence[Tensor]) -> ShapeError | None:
    """Dropout2d drops whole channels: in training torch wants at least 2 dims (evaluation passes anything)."""
    if inputs[0].rank < 2:
        return ShapeError(f"Dropout2d in training mode expects an input with at least 2 dims (N, C, ...), found a "
                          f"{inputs[0].rank}-D input {fmt_shape(inputs[0].shape)}", code="rank-mismatch")
    return None


def _dropout2d_op(bound: dict[str, Any]) -> Tensor:
    x = _check_float_passthrough(bound)
    if x.rank < 2:  # generated code passes training=self.training, and a freshly built module trains
        raise ShapeError(f"dropout2d expects an input with at least 2 dims (N, C, ...), found a {x.rank}-D input "
                         f"{fmt_shape(x.shape)}", code="rank-mismatch")
    return x


def _dropout1d_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    x = _check_float_passthrough({"input": inputs[0]})
    if x.rank not in (2, 3):  # F.dropout1d checks the rank in evaluation too
        raise ShapeError(f"Dropout1d expects a 2-D or 3-D input ((N,) C, L), found {fmt_shape(x.shape)}",
                         code="rank-mismatch", hint="Dropout2d and Dropout3d drop channels of images and volumes")
    return x, {}


def _dropout3d_caution(args: dict[str, Any], inputs: Sequence[Tensor]) -> ShapeError | None:
    """torch runs Dropout3d on any input but warns below 4-D and above 5-D (deprecated, to become an error)."""
    if inputs[0].rank not in (4, 5):
        return ShapeError(f"Dropout3d expects a 4-D or 5-D input ((N,) C, D, H, W), found {fmt_shape(inputs[0].shape)}"
                          " (torch warns that other ranks are deprecated)", code="rank-mismatch")
    return None


def _feature_alpha_dropout_caution(args: dict[str, Any], inputs: Sequence[Tensor]) -> ShapeError | None:
    """FeatureAlphaDropout drops whole channels: in training torch wants at least 2 dims (evaluation passes any)."""
    if inputs[0].rank < 2:
        return ShapeError(f"FeatureAlphaDropout in training mode expects an input with at least 2 dims (N, C, ...), "
                          f"found a {inputs[0].rank}-D input {fmt_shape(inputs[0].shape)}", code="rank-mismatch")
    return None


# nn.UpsamplingNearest2d and nn.UpsamplingBilinear2d: Upsample with its mode (and align_corners) fixed
_UPSAMPLING_2D = (Arg("size", size_n(2, PosInt) | None, None, doc="Output spatial sizes."),
                  Arg("scale_factor", PosReal | Annotated[tuple[PosReal, PosReal], Constraint()] | None, None))


# Most pieces chunk or split may give: each piece is a name in forward, so far fewer are ever meant.
MAX_PIECES = 1024


def _pieces(x: Tensor, dim: int, sizes: Sequence[Dim], what: str) -> tuple[Tensor, ...]:
    if len(sizes) > MAX_PIECES:
        raise ShapeError(f"{what} would give {len(sizes)} tensors (at most {MAX_PIECES})", code="too-large",
                         hint="unpack a few tensors, as a, b = x.chunk(2, 1)")
    return tuple(Tensor((*x.shape[:dim], s, *x.shape[dim + 1:]), x.dtype) for s in sizes)


def _split_dim(x: Tensor, dim: int, what: str) -> tuple[int, Dim]:
    if x.rank == 0:
        raise ShapeError(f"{what} expects at least a 1-D tensor, found a 0-D tensor", code="rank-mismatch")
    d = normalize_dim(dim, x.rank)
    return d, x.shape[d]


def _even_sizes(size: int, split_size: int) -> list[Dim]:
    """ATen's split by one size: pieces of split_size, the last one shorter; an empty dim gives one empty piece."""
    if size == 0:
        return [0]
    return [min(split_size, size - start) for start in range(0, size, split_size)]


def _chunk(bound: dict[str, Any]) -> tuple[Tensor, ...]:
    x, chunks = bound["input"], bound["chunks"]
    d, size = _split_dim(x, bound.get("dim", 0), "chunk")
    if isinstance(size, str):
        raise ShapeError(f"chunk cannot tell how many tensors dim {d} of symbolic size '{size}' gives "
                         f"(ceil(size / ceil(size / {chunks})), which can be fewer than {chunks})", "dim",
                         "symbolic-dim", "chunk a dim of concrete size (the channels), or use split with sections")
    if size == 0:
        return _pieces(x, d, [0] * chunks, "chunk")  # an empty dim gives `chunks` empty tensors
    return _pieces(x, d, _even_sizes(size, -(-size // chunks)), "chunk")


def _split(bound: dict[str, Any]) -> tuple[Tensor, ...]:
    x, how = bound["tensor"], bound["split_size_or_sections"]
    d, size = _split_dim(x, bound.get("dim", 0), "split")
    if isinstance(how, int):
        if isinstance(size, str):
            raise ShapeError(f"split cannot tell how many tensors dim {d} of symbolic size '{size}' gives", "dim",
                             "symbolic-dim", "split a dim of concrete size, or give the sections as a list")
        if how == 0 and size != 0:
            raise ShapeError(f"split_size can only be 0 if dim {d} is empty, but it has size {size}",
                             "split_size_or_sections")
        return _pieces(x, d, _even_sizes(size, how), "split")
    sections = list(how)
    if isinstance(size, int) and sum(sections) != size:
        raise ShapeError(f"split sections {sections} sum to {sum(sections)}, but dim {d} has size {size}",
                         "split_size_or_sections", hint="the sections must add up to the dim's size")
    return _pieces(x, d, sections, "split")


def _narrow(bound: dict[str, Any]) -> Tensor:
    x, start, length = bound["input"], bound["start"], bound["length"]
    if x.rank == 0:
        raise ShapeError("narrow cannot be applied to a 0-D tensor", code="rank-mismatch")
    d = normalize_dim(bound["dim"], x.rank)
    size = x.shape[d]
    if isinstance(size, int):
        if not -size <= start <= size:
            raise ShapeError(f"start {start} is out of range for dim {d} of size {size} (expected {-size}..{size})",
                             "start")
        first = start + size if start < 0 else start
        if first + length > size:
            raise ShapeError(f"start ({first}) + length ({length}) exceeds dim {d} of size {size}", "length")
    return Tensor((*x.shape[:d], length, *x.shape[d + 1:]), x.dtype)


def _stochastic_depth(bound: dict[str, Any]) -> Tensor:
    x: Tensor = bound["input"]
    check_float(x, "stochastic_depth")
    if bound["mode"] == "row" and x.rank == 0:
        raise ShapeError("stochastic_depth in mode 'row' draws one value per sample along dim 0, and a 0-D input "
                         "has none", "mode", "rank-mismatch", "use mode 'batch'")
    return x


# torchvision.ops.stochastic_depth, line for line (its _log_api_usage_once left out): generated code imports only
# torch, so the module defines it.
STOCHASTIC_DEPTH_HELPER = '''def stochastic_depth(input, p, mode, training=True):
    """torchvision.ops.stochastic_depth: while training, zeroes the whole input (mode "batch") or each sample
    of it (mode "row") with probability p and scales what survives by 1 / (1 - p); the identity otherwise."""
    if p < 0.0 or p > 1.0:
        raise ValueError(f"drop probability has to be between 0 and 1, but got {p}")
    if mode not in ["batch", "row"]:
        raise ValueError(f"mode has to be either 'batch' or 'row', but got {mode}")
    if not training or p == 0.0:
        return input

    survival_rate = 1.0 - p
    if mode == "row":
        size = [input.shape[0]] + [1] * (input.ndim - 1)
    else:
        size = [1] * input.ndim
    noise = torch.empty(size, dtype=input.dtype, device=input.device)
    noise = noise.bernoulli_(survival_rate)
    if survival_rate > 0.0:
        noise.div_(survival_rate)
    return input * noise
'''

Sections = Annotated[list[NonNegInt], Constraint(min_length=1)]

for _layer in (
    LayerType(name="Dropout2d", family="tensor", summary="zeroes whole channels (dim 1) with probability p while "
              "training", args=(Arg("p", Probability, 0.5, doc="Probability of a channel to be zeroed."),
                                    Arg("inplace", Bool, False)),
              rule=lambda a, xs: (_check_float_passthrough({"input": xs[0]}), {}), caution=_feature_dropout_caution),
    LayerType(name="AlphaDropout", family="tensor", summary="dropout keeping mean and variance (for SELU) while "
              "training", args=(Arg("p", Probability, 0.5), Arg("inplace", Bool, False)),
              rule=lambda a, xs: (_check_float_passthrough({"input": xs[0]}), {})),
    # more of torch.nn
    LayerType(name="Dropout1d", family="tensor", summary="zeroes whole channels of a (N,) C, L input with "
              "probability p while training", args=(Arg("p", Probability, 0.5, doc="Probability of a channel to be "
                                                        "zeroed."), Arg("inplace", Bool, False)),
              rule=_dropout1d_rule),
    LayerType(name="Dropout3d", family="tensor", summary="zeroes whole channels of a (N,) C, D, H, W input with "
              "probability p while training", args=(Arg("p", Probability, 0.5, doc="Probability of a channel to be "
                                                        "zeroed."), Arg("inplace", Bool, False)),
              rule=lambda a, xs: (_check_float_passthrough({"input": xs[0]}), {}), caution=_dropout3d_caution),
    LayerType(name="FeatureAlphaDropout", family="tensor", summary="alpha dropout of whole channels (dim 1) while "
              "training", args=(Arg("p", Probability, 0.5, doc="Probability of a channel to be masked out."),
                                Arg("inplace", Bool, False)),
              rule=lambda a, xs: (_check_float_passthrough({"input": xs[0]}), {}),
              caution=_feature_alpha_dropout_caution),
    LayerType(name="UpsamplingNearest2d", family="tensor", summary="nearest-neighbour upsampling of the spatial dims "
              "by size or scale_factor", rule=lambda a, xs: _upsample_rule({**a, "mode": "nearest"}, xs),
              args=_UPSAMPLING_2D),
    LayerType(name="UpsamplingBilinear2d", family="tensor", summary="bilinear upsampling (align_corners) of a "
              "4-D input by size or scale_factor",
              rule=lambda a, xs: _upsample_rule({**a, "mode": "bilinear", "align_corners": True}, xs),
              args=_UPSAMPLING_2D),
):
    REGISTRY.add_layer(_layer)

for _op in (
    Op("dropout2d", "tensor", "F.dropout2d", ("input",),
       (Arg("p", Probability, 0.5, doc="Probability of a channel to be zeroed."),), _dropout2d_op,
       extra=(("training", "self.training"),), summary="channel dropout (whole dim-1 slices), active only in training "
       "mode"),
    Op("alpha_dropout", "tensor", "F.alpha_dropout", ("input",), (Arg("p", Probability, 0.5),),
       _check_float_passthrough, extra=(("training", "self.training"),),
       summary="alpha dropout (keeps mean and variance, for SELU), active only in training mode"),
    Op("chunk", "tensor", "torch.chunk", ("input",),
       (Arg("chunks", PosInt), Arg("dim", AnyInt, 0, doc="Dimension along which to split the tensor.")),
       _chunk,
       method=True, summary="splits dim into pieces of ceil(size / chunks), a tuple: a, b = x.chunk(2, 1)",
       outputs_arg="chunks"),
    Op("split", "tensor", "torch.split", ("tensor",),
       (Arg("split_size_or_sections", NonNegInt | Sections),
        Arg("dim", AnyInt, 0, doc="Dimension along which to split the tensor.")), _split, method=True,
       summary="splits dim into pieces of one size (the last shorter) or of the listed sizes, a tuple"),
    Op("narrow", "tensor", "torch.narrow", ("input",),
       (Arg("dim", AnyInt, doc="The dimension along which to narrow."), Arg("start", AnyInt),
        Arg("length", NonNegInt)), _narrow, method=True,
       summary="length entries of dim from start (negative start counts from the end)"),
    Op("stochastic_depth", "tensor", "stochastic_depth", ("input",),
       (Arg("p", Probability, doc="Probability of the input to be zeroed."),
        Arg("mode", Literal["batch", "row"], doc="'batch' randomly zeroes the entire input, 'row' zeroes randomly "
            "selected rows from the batch.")), _stochastic_depth,
       extra=(("training", "self.training"),), helper=STOCHASTIC_DEPTH_HELPER, traced=_is_stochastic_depth,
       summary="torchvision.ops.stochastic_depth: drops the residual branch per sample (row) or per batch while "
       "training"),
):
    REGISTRY.add_op(_op)


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

_MAT = {"x": I((2, 3)), "y": I((3, 4))}
REGISTRY.add_examples(
    L("Identity"), L("Flatten"), L("Flatten", {"start_dim": 0, "end_dim": -2}, label="start0"),
    L("Unflatten", {"dim": 1, "unflattened_size": [2, -1]}, (I((2, 12)),)),
    L("Dropout", {"p": 0.25}),
    L("Upsample", {"scale_factor": 2.0}), L("Upsample", {"scale_factor": 1.5, "mode": "bilinear"}, label="1.5"),
    L("Upsample", {"scale_factor": 0.3}, X1D, "0.3"),
    L("Upsample", {"size": [4, 5, 7], "mode": "trilinear", "align_corners": True}, X3D, "size"),
    L("Dropout2d", {"p": 0.2}), L("AlphaDropout", {"p": 0.1}, (I((2, 7)),)),
    # more of torch.nn
    L("Dropout1d", {"p": 0.2}, X1D), L("Dropout1d", inputs=(I((3, 16)),), label="unbatched"),
    L("Dropout3d", {"p": 0.2}, X3D), L("Dropout3d", {"inplace": True}, (I((3, 6, 6, 6)),), "unbatched"),
    L("FeatureAlphaDropout", {"p": 0.1}), L("FeatureAlphaDropout", inputs=(I((2, 7)),), label="2d"),
    L("UpsamplingNearest2d", {"scale_factor": 2.0}), L("UpsamplingNearest2d", {"size": [5, 11]}, label="size"),
    L("UpsamplingNearest2d", {"size": 5}, X1D, "1d"), L("UpsamplingNearest2d", {"scale_factor": [1.5, 0.5]},
                                                       label="per-dim"),
    L("UpsamplingBilinear2d", {"scale_factor": 1.5}), L("UpsamplingBilinear2d", {"size": [4, 9]}, label="size"),
    L("PixelShuffle", {"upscale_factor": 2}, (I((2, 8, 3, 5)),)),
    L("PixelShuffle", {"upscale_factor": 3}, (I((1, 2, 9, 2, 2), "int64"),), "5d-int"),
    L("PixelUnshuffle", {"downscale_factor": 2}, (I((3, 4, 6)),)),
    L("PixelUnshuffle", {"downscale_factor": 2}, (I((2, 3, 4, 4), "bool"),), "bool"),
    L("ChannelShuffle", {"groups": 3}, (I((2, 6, 3, 3)),)), L("ChannelShuffle", {"groups": 2}, (I((2, 4, 5)),), "3d"),
    O("flatten", (X,)), O("flatten", (X, 0, 2), label="0-2"), O("reshape", (X, [2, -1])), O("view", (X, [6, -1])),
    O("view", (X, [-1]), inputs={"x": I((2, 3, 4))}, label="flat"),
    O("transpose", (X, 1, -1)), O("permute", (X, [0, 2, 3, 1])), O("unsqueeze", (X, -1)),
    O("squeeze", (X,), inputs={"x": I((2, 1, 3, 1))}), O("squeeze", (X, 1), inputs={"x": I((2, 1, 3, 1))},
                                                           label="dim"),
    O("mean", (X,)), O("mean", (X,), {"dim": [2, 3], "keepdim": True}, label="dims"),
    O("sum", (X, -1)), O("sum", (X,), inputs={"x": I((2, 3), "int32")}, label="int-to-int64"),
    O("cat", ([X, Y],), {"dim": 1}, {"x": I((2, 3, 4)), "y": I((2, 5, 4))}),
    O("cat", ([X, Y],), inputs={"x": I((2, 3), "int64"), "y": I((1, 3))}, label="promote"),
    O("stack", ([X, Y, X], -1), inputs={"x": I((2, 3)), "y": I((2, 3))}),
    O("mm", (X, Y), inputs=_MAT), O("matmul", (X, Y), inputs=_MAT),
    O("matmul", (X, Y), inputs={"x": I((4,)), "y": I((2, 4, 3))}, label="1d-batched"),
    O("matmul", (X, Y), inputs={"x": I((5, 1, 2, 3)), "y": I((4, 3, 2))}, label="broadcast"),
    O("matmul", (X, Y), inputs={"x": I((3,)), "y": I((3,))}, label="dot"),
    O("dropout", (X,), {"p": 0.1}),
    O("corr2d", (X, Y), inputs={"x": I((6, 8)), "y": I((1, 2))}),
    # torchvision's classification models
    O("dropout2d", (X,), {"p": 0.1}), O("alpha_dropout", (X, 0.2), inputs={"x": I((2, 7))}),
    O("chunk", (X, 2, 1), unpack=2), O("chunk", (X, 4), {"dim": -1}, inputs={"x": I((2, 5))}, unpack=3,
                                        label="fewer-than-chunks"),
    O("split", (X, 3, 1), inputs={"x": I((2, 8, 4))}, unpack=3),
    O("split", (X, [1, 2]), {"dim": 1}, label="sections", unpack=2),
    O("narrow", (X, 1, 1, 2)), O("narrow", (X, -1, -3, 3), label="negative-start"),
    O("stochastic_depth", (X, 0.2, "row")),
    O("select", (X, 1, 0)), O("select", (X, -1, -2), label="negative"),
    O("expand", (X, [2, -1, 5]), inputs={"x": I((1, 3, 1))}),
    O("expand", (X, [4, 2, 3, 8]), inputs={"x": I((2, 3, 1))}, label="new-leading-dim"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("Upsample", {"scale_factor": 0.3}, (I((1, 1, 3)),), "output-zero"),
    L("Upsample", {"size": 4, "recompute_scale_factor": True}, X1D, "recompute-with-size"),
    L("Upsample", {"scale_factor": 2.0, "mode": "bilinear"}, X1D, "mode-rank"),
    L("Upsample", {"scale_factor": 2.0, "align_corners": True}, X1D, "align-corners-nearest"),
    L("Flatten", {"start_dim": 2, "end_dim": 1}, label="start-after-end"),
    L("PixelShuffle", {"upscale_factor": 2}, (I((2, 6, 3, 3)),), "channels"),
    L("PixelShuffle", {"upscale_factor": 2}, (I((8, 3)),), "rank"),
    L("PixelUnshuffle", {"downscale_factor": 2}, (I((2, 3, 5, 4)),), "height"),
    L("PixelUnshuffle", {"downscale_factor": 2}, (I((2, 3, 4, 5)),), "width"),
    L("ChannelShuffle", {"groups": 3}, (I((2, 5, 3, 3)),), "channels"),
    L("ChannelShuffle", {"groups": 3}, (I((6, 3)),), "unbatched"),
    L("Unflatten", {"dim": 1, "unflattened_size": [5, -1]}, (I((2, 12)),), "indivisible"),
    L("Dropout", inputs=(I((2, 3), "int64"),), label="int"),
    L("Dropout1d", label="4d"), L("Dropout1d", inputs=(I((16,)),), label="1d"),
    L("Dropout3d", inputs=(I((2, 3, 4, 4, 4), "int64"),), label="int"),
    L("FeatureAlphaDropout", inputs=(I((2, 3), "int64"),), label="int"),
    L("UpsamplingNearest2d", label="neither"), L("UpsamplingNearest2d", {"size": 4, "scale_factor": 2.0}, label="both"),
    L("UpsamplingNearest2d", {"scale_factor": [2.0, 2.0]}, X1D, "per-dim-rank"),
    L("UpsamplingNearest2d", {"scale_factor": 2.0}, (I((2, 3, 4, 4), "int64"),), "int"),
    L("UpsamplingBilinear2d", {"scale_factor": 2.0}, X1D, "rank"),
    L("UpsamplingBilinear2d", {"scale_factor": 2.0}, X3D, "rank-5d"),
    L("UpsamplingBilinear2d", {"scale_factor": 0.1}, label="output-zero"),
    O("cat", ([X, Y],), inputs={"x": I(()), "y": I(())}, label="scalars"),
    O("cat", ([X, Y],), {"dim": 1}, {"x": I((2, 3)), "y": I((3, 3))}, label="sizes"),
    O("stack", ([X, Y],), inputs={"x": I((2, 3)), "y": I((2, 4))}, label="sizes"),
    O("mean", (X,), inputs={"x": I((2, 3), "int64")}, label="int"),
    O("mean", (X, [1, -3]), label="duplicate-dims"),
    O("matmul", (X, Y), inputs={"x": I((2, 3)), "y": I((3, 2), "float64")}, label="dtypes"),
    O("matmul", (X, Y), inputs={"x": I((2, 3)), "y": I((4, 2))}, label="inner"),
    O("mm", (X, Y), inputs={"x": I((3,)), "y": I((3, 2))}, label="rank"),
    O("reshape", (X, [5, -1]), label="indivisible"), O("view", (X, [5, 5]), label="count"),
    O("transpose", (X, 0, 4), label="dim"),
    O("permute", (X, [0, 1, 1, 2]), label="repeat"),
    O("flatten", (X, 1), inputs={"x": I(())}, label="scalar-dim"),
    O("corr2d", (X, Y), inputs={"x": I((2, 2)), "y": I((3, 1))}, label="kernel-too-big"),
    O("chunk", (X, 2), inputs={"x": I(())}, label="scalar"),
    O("split", (X, [2, 2], 1), label="sections-sum"),
    O("split", (X, 0, 1), label="size-zero"),
    O("narrow", (X, 2, 6, 3), label="past-the-end"),
    O("narrow", (X, 2, -9, 1), label="start-out-of-range"),
    refused=True,
)


# ---------------------------------------------------------------- transformers: repeat_interleave (grouped KV heads),
# outer (RoPE's positions x frequencies)


def _repeat_interleave(bound: dict[str, Any]) -> Tensor:
    """Each element ``repeats`` times along ``dim`` (the flattened input when dim is None)."""
    x: Tensor = bound["input"]
    repeats, dim = bound["repeats"], bound.get("dim")
    if dim is None:
        return Tensor((dim_mul(product(x.shape), repeats),), x.dtype)
    if x.rank == 0:  # torch raises IndexError: a 0-D tensor has no dim to repeat along
        raise ShapeError(f"a 0-D tensor has no dim {dim} to repeat along", "dim", "rank-mismatch",
                         "leave dim out to repeat the flattened tensor")
    at = normalize_dim(dim, x.rank)
    return Tensor((*x.shape[:at], dim_mul(x.shape[at], repeats), *x.shape[at + 1:]), x.dtype)


def _outer(bound: dict[str, Any]) -> Tensor:
    a, b = bound["input"], bound["vec2"]
    if a.rank != 1 or b.rank != 1:
        raise ShapeError(f"outer expects two 1-D tensors, found {fmt_shape(a.shape)} and {fmt_shape(b.shape)}",
                         code="rank-mismatch")
    return Tensor((a.shape[0], b.shape[0]), promote_types(a.dtype, b.dtype))


for _op in (
    Op("repeat_interleave", "tensor", "torch.repeat_interleave", ("input",),
       (Arg("repeats", NonNegInt, doc="The number of repetitions of each element."),
        Arg("dim", AnyInt | None, None, doc="The dimension along which to repeat values (null: the flattened "
                                          "input).")), _repeat_interleave, method=True,
       summary="each element repeated along dim: k.repeat_interleave(n_rep, dim=1) shares KV heads"),
    Op("outer", "math", "torch.outer", ("input", "vec2"), (), _outer, method=True,
       macs=lambda b, xs, out: 0, summary="the outer product of two vectors: (n,) and (m,) give (n, m)"),
):
    REGISTRY.add_op(_op)

REGISTRY.add_examples(
    O("repeat_interleave", (X, 2), {"dim": 1}), O("repeat_interleave", (X, 3), label="flat"),
    O("repeat_interleave", (X, 0, -1), label="zero"),
    O("outer", (X, Y), inputs={"x": I((4,)), "y": I((3,), "float64")}),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    O("repeat_interleave", (X, 2, 4), label="dim"),
    O("outer", (X, Y), inputs={"x": I((4, 1)), "y": I((3,))}, label="rank"),
    refused=True,
)
