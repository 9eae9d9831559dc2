"""Pooling layers and their functional twins, with ATen's pooling arithmetic."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from ._core import (
    REGISTRY,
    Arg,
    Bool,
    Dim,
    LayerType,
    NonNegInt,
    Op,
    PosInt,
    Real,
    ShapeError,
    Tensor,
    as_tuple,
    check_float,
    check_rank,
    dim_add,
    dim_mul,
    fmt_shape,
    paren,
    read_attribute,
    same_dims,
    size_n,
    symbol,
    window_out,
)
from .annotations import Constraint, StrictFloat
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
        _max_pool_dtype(x, n, name, bool(args.get("return_indices", False)))
    if kind == "Avg" and n == 3:
        _avg3d_input_check(x.shape[-n:], as_tuple(args["kernel_size"], n))
    spatial = pool_spatial(name, x.shape[-n:], args, n, dilated=kind == "Max")
    return Tensor((*x.shape[:-n], *spatial), x.dtype)


def _max_pool_dtype(x: Tensor, n: int, name: str, indices: bool = False) -> None:
    """Max pooling has no bool kernel, and max_pool1d none for integers either (2-D and 3-D take them); with
    return_indices max_pool1d runs max_pool1d_with_indices, the 2-D kernel, which takes them."""
    if x.dtype == "bool" or (n == 1 and not indices and not x.is_float):
        kinds = "bool" if n > 1 or indices else "integer or bool"
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
        avg = (*avg, Arg("divisor_override", Annotated[int, Constraint(strict=True, ge=1)] | None, None))
    return avg


def _pool_read_back(module: Any, name: str) -> Any:
    if name == "stride" and getattr(module, "stride", None) == module.kernel_size:
        return None  # torch stores the default (None) as the kernel size
    return read_attribute(module, name)


def _with_indices(out: Tensor, args: dict[str, Any]) -> Any:
    """A max pool's result: the pooled tensor, or with return_indices (pooled, indices), the indices int64 and of
    the pooled tensor's shape (what MaxUnpool takes back)."""
    return (out, Tensor(out.shape, "int64")) if args.get("return_indices", False) else out


def _pool(kind: str, n: int) -> None:
    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Any, dict[str, Any]]:
        return _with_indices(_pool_shape(kind, n, args, inputs[0]), args), {}

    def op_rule(bound: dict[str, Any]) -> Tensor:
        return _pool_shape(kind, n, bound, bound["input"])

    args = _pool_args(kind, n)
    layer_args = args
    if kind == "Max":  # the module's order: return_indices before ceil_mode (F.max_poolNd has it last: left out)
        layer_args = (*args[:-1], Arg("return_indices", Bool, False), args[-1])
    REGISTRY.add_layer(LayerType(
        name=f"{kind}Pool{n}d", family="pool", args=layer_args, rule=rule, read_back=_pool_read_back,
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
    entries = Annotated[tuple[(PosInt | None,) * n], Constraint()]  # type: ignore[misc, valid-type]
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


# ---------------------------------------------------------------- max unpooling, LP and fractional max pooling


def _empty_after_first(x: Tensor, name: str) -> None:
    """The pooling kernels here take an empty first dim (a batch, or an unbatched input's channels), no other."""
    for i, size in enumerate(x.shape[1:], start=1):
        if size == 0:
            raise ShapeError(f"{name} input {fmt_shape(x.shape)} has an empty dim {i} (only dim 0 may be empty)",
                             code="output-too-small")


def _unpool_sizes(name: str, n: int, args: dict[str, Any], x: Tensor) -> tuple[Dim, ...]:
    """F._unpool_output_size: (in - 1) * stride + kernel - 2 * padding per spatial dim, or the call's output_size
    (its last n entries when it has n + 2), which must lie strictly within stride of that."""
    kernel = as_tuple(args["kernel_size"], n)
    stride_arg = args.get("stride")
    stride = kernel if stride_arg is None else as_tuple(stride_arg, n)
    padding = as_tuple(args.get("padding", 0), n)
    default: list[Dim] = []
    for size, k, s, p in zip(x.shape[-n:], kernel, stride, padding, strict=True):
        default.append(dim_add(dim_mul(dim_add(size, -1), s), k - 2 * p))
    wanted = args.get("__output_size__")
    if wanted is None:
        sizes: tuple[Dim, ...] = tuple(default)
    else:
        if isinstance(wanted, int):  # _unpool_output_size takes its len()
            raise ShapeError(f"{name}'s output_size is a list of sizes, found {wanted}", "output_size", "bad-value",
                             f"write output_size=[{', '.join([str(wanted)] * n)}]")
        wanted = list(wanted)
        if len(wanted) == n + 2:
            wanted = wanted[2:]
        if len(wanted) != n:
            raise ShapeError(f"{name}'s output_size should have {n} or {n + 2} entries, found {len(wanted)}",
                             "output_size", "bad-value")
        for i, (want, d, s) in enumerate(zip(wanted, default, stride, strict=True)):
            if isinstance(d, int) and not d - s < want < d + s:
                raise ShapeError(f"{name}'s output_size {wanted} is out of range: dim {i} must lie strictly between "
                                 f"{d - s} and {d + s}", "output_size", "bad-value")
        sizes = tuple(wanted)
    for i, size in enumerate(sizes):
        if isinstance(size, int) and size < 1:
            raise ShapeError(f"{name} output size {size} in spatial dim {i} is < 1 for input {fmt_shape(x.shape)}",
                             "padding", "output-too-small")
    return sizes


def _unpool(n: int) -> LayerType:
    name = f"MaxUnpool{n}d"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        """F.max_unpoolNd: the pooled values (floating point: the CPU kernels have no integer form) and int64
        indices of the same shape, as MaxPoolNd(return_indices=True) gives them."""
        x, indices = inputs
        check_rank(x, (n + 1, n + 2), name)
        if not x.is_float:
            raise ShapeError(f"{name} is not implemented for {x.dtype} values, found a {x.dtype} input",
                             code="dtype-mismatch", hint="convert the values to a float dtype first")
        if indices.dtype != "int64":
            raise ShapeError(f"{name} expects int64 indices (as MaxPool{n}d(return_indices=True) gives), found "
                             f"{indices.dtype}", code="dtype-mismatch")
        if indices.rank != x.rank or not all(same_dims(a, b) for a, b in zip(x.shape, indices.shape, strict=True)):
            raise ShapeError(f"{name} expects indices of the input's shape {fmt_shape(x.shape)}, found "
                             f"{fmt_shape(indices.shape)}")
        _empty_after_first(x, name)
        return Tensor((*x.shape[:-n], *_unpool_sizes(name, n, args, x)), x.dtype), {}

    return LayerType(
        name=name, family="pool", rule=rule, n_inputs=2, read_back=_pool_read_back,
        summary=f"partial inverse of MaxPool{n}d: called with the pooled values and their indices, "
                f"`y, i = pool(x)` then `unpool(y, i)`",
        call_args=(Arg("output_size", list[PosInt] | None, None, doc="The output's size: its spatial dims (or all "
                       f"{n + 2} dims), each strictly within stride of the default size."),),
        args=(
            Arg("kernel_size", size_n(n), doc="Size of the max pooling window."),
            Arg("stride", size_n(n) | None, None, doc="Stride of the max pooling window (null: kernel_size)."),
            Arg("padding", size_n(n, NonNegInt), 0, doc="Padding that was added to the input."),
        ),
    )


def _lp_pool(n: int) -> LayerType:
    name = f"LPPool{n}d"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        """F.lp_poolNd: avg_poolNd of x ** norm_type (no padding), times the window size, to the 1 / norm_type;
        an integer or bool input becomes float32 (the power takes a float exponent)."""
        (x,) = inputs
        check_rank(x, (n + 1, n + 2), name)
        for i, size in enumerate(x.shape[1:] if x.rank == n + 2 else x.shape, start=x.rank - n - 1):
            if size == 0:
                raise ShapeError(f"{name} input {fmt_shape(x.shape)} has an empty dim {i} (only a batch may be empty)",
                                 code="output-too-small")
        kernel = as_tuple(args["kernel_size"], n)
        if n == 3:
            _avg3d_input_check(x.shape[-n:], kernel)
        spatial = pool_spatial(name, x.shape[-n:], {**args, "padding": 0}, n, dilated=False)
        return Tensor((*x.shape[:-n], *spatial), x.dtype if x.is_float else "float32"), {}

    def check(args: dict[str, Any]) -> None:
        if args["norm_type"] == 0:
            raise ShapeError("LPPool's norm_type 0 divides by zero (the result is raised to 1 / norm_type)",
                             "norm_type", "bad-value")

    kernel: Any = PosInt if n == 1 else size_n(n)  # lp_pool1d multiplies by kernel_size: one int only
    return LayerType(
        name=name, family="pool", rule=rule, check=check, positional=2,
        summary=f"{n}-D power-average pooling: (sum of x ** p over each window) ** (1 / p); stride defaults to "
                "kernel_size",
        args=(
            Arg("norm_type", Real, doc="The exponent p: 1 gives sum pooling; large values approach max pooling."),
            Arg("kernel_size", kernel, doc="The size of the window."),
            Arg("stride", size_n(n) | None, None, doc="The stride of the window (null: kernel_size)."),
            Arg("ceil_mode", Bool, False),
        ),
    )


_RATIO = Annotated[StrictFloat, Constraint(gt=0, lt=1, allow_inf_nan=False)]


def _fractional(n: int) -> LayerType:
    name = f"FractionalMaxPool{n}d"
    # ATen: output + kernel - 1 <= input for 2-D, < input for 3-D
    strict = n == 3

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Any, dict[str, Any]]:
        """F.fractional_max_poolNd: floating point only (the random samples take the input's dtype), output_size
        or int(size * output_ratio) per spatial dim, each window inside the input."""
        (x,) = inputs
        check(args)
        check_rank(x, (n + 1, n + 2), name)
        if not x.is_float:
            raise ShapeError(f"{name} expects a floating-point input (its random samples take the input's dtype), "
                             f"found {x.dtype}", code="dtype-mismatch")
        _empty_after_first(x, name)
        kernel = as_tuple(args["kernel_size"], n)
        sizes: list[Dim] = []
        if args.get("output_size") is not None:
            sizes = list(as_tuple(args["output_size"], n))
        else:
            for size, ratio in zip(x.shape[-n:], as_tuple(args["output_ratio"], n), strict=True):
                sizes.append(int(size * ratio) if isinstance(size, int) else symbol(f"int({paren(size)}*{ratio!r})"))
        for i, (out, k, size) in enumerate(zip(sizes, kernel, x.shape[-n:], strict=True)):
            if isinstance(out, int) and out < 1:
                raise ShapeError(f"{name} output size {out} in spatial dim {i} is < 1 for input {fmt_shape(x.shape)}",
                                 "output_ratio" if args.get("output_size") is None else "output_size",
                                 "output-too-small")
            if isinstance(out, int) and isinstance(size, int) and (out + k - 1 >= size if strict else
                                                                   out + k - 1 > size):
                need = "less than" if strict else "at most"
                raise ShapeError(f"{name}: output size {out} plus kernel size {k} less 1 must be {need} the input "
                                 f"size {size} in spatial dim {i}", "kernel_size", "output-too-small")
        return _with_indices(Tensor((*x.shape[:-n], *sizes), x.dtype), args), {}

    def check(args: dict[str, Any]) -> None:
        if (args.get("output_size") is None) == (args.get("output_ratio") is None):
            raise ShapeError(f"{name} takes exactly one of output_size and output_ratio", "output_size", "bad-value")

    return LayerType(
        name=name, family="pool", rule=rule, check=check, positional=1,
        summary=f"{n}-D fractional max pooling (stochastic windows) to output_size or output_ratio of the input",
        args=(
            Arg("kernel_size", size_n(n), doc="The size of the window to take a max over."),
            Arg("output_size", size_n(n) | None, None, doc="The output's spatial size (give it or output_ratio)."),
            Arg("output_ratio", size_n(n, _RATIO) | None, None, doc="The output's spatial size as a fraction of the "
                "input's, each in (0, 1): int(size * ratio)."),
            Arg("return_indices", Bool, False),
        ),
    )


for _n in (1, 2, 3):
    REGISTRY.add_layer(_unpool(_n))
for _n in (1, 2, 3):
    REGISTRY.add_layer(_lp_pool(_n))
for _n in (2, 3):
    REGISTRY.add_layer(_fractional(_n))


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
    # MaxUnpool: the values and int64 indices (as MaxPool(return_indices=True) gives them; tests/test_pool_more.py)
    L("MaxUnpool1d", {"kernel_size": 2}, (I((2, 3, 4)), I((2, 3, 4), "int64"))),
    L("MaxUnpool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, (I((3, 5), "float64"), I((3, 5), "int64")),
      "unbatched-padded"),
    L("MaxUnpool2d", {"kernel_size": 2}, (I((2, 3, 4, 4)), I((2, 3, 4, 4), "int64"))),
    L("MaxUnpool2d", {"kernel_size": [2, 3], "stride": [1, 2], "padding": [0, 1]},
      (I((3, 4, 5), "float16"), I((3, 4, 5), "int64")), "per-dim"),
    L("MaxUnpool3d", {"kernel_size": 2, "stride": 1}, (I((2, 3, 2, 2, 2)), I((2, 3, 2, 2, 2), "int64"))),
    L("LPPool1d", {"norm_type": 2.0, "kernel_size": 3, "stride": 2}, X1D),
    L("LPPool1d", {"norm_type": 1.5, "kernel_size": 4, "ceil_mode": True}, (I((3, 9), "int64"),), "unbatched-int"),
    L("LPPool2d", {"norm_type": 2.0, "kernel_size": 3}), L("LPPool2d", {"norm_type": -1.0, "kernel_size": [2, 3],
                                                                          "stride": [1, 2], "ceil_mode": True},
                                                             (I((3, 5, 8), "float64"),), "per-dim-ceil"),
    L("LPPool3d", {"norm_type": 3.0, "kernel_size": 2}, X3D),
    L("LPPool3d", {"norm_type": 2.0, "kernel_size": [1, 2, 3], "stride": 2}, (I((3, 4, 5, 6), "bool"),),
      "unbatched-bool"),
    L("FractionalMaxPool2d", {"kernel_size": 2, "output_size": 5}),
    L("FractionalMaxPool2d", {"kernel_size": [3, 2], "output_ratio": [0.5, 0.7]}, (I((3, 10, 9), "float64"),),
      "ratio-unbatched"),
    L("FractionalMaxPool3d", {"kernel_size": 2, "output_size": [3, 4, 2]}, X3D),
    L("FractionalMaxPool3d", {"kernel_size": 1, "output_ratio": 0.3}, (I((1, 2, 7, 10, 4)),), "ratio"),
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
    L("MaxUnpool2d", {"kernel_size": 2}, (I((2, 3, 4, 4)), I((2, 3, 4, 4), "int32")), "int32-indices"),
    L("MaxUnpool2d", {"kernel_size": 2}, (I((2, 3, 4, 4)), I((2, 3, 4, 3), "int64")), "indices-shape"),
    L("MaxUnpool2d", {"kernel_size": 2}, (I((2, 3, 4, 4), "int64"), I((2, 3, 4, 4), "int64")), "int-values"),
    L("MaxUnpool1d", {"kernel_size": 2}, (I((2, 3, 4, 4)), I((2, 3, 4, 4), "int64")), "rank"),
    L("MaxUnpool3d", {"kernel_size": 2}, (I((4, 4, 4)), I((4, 4, 4), "int64")), "rank"),
    L("MaxUnpool2d", {"kernel_size": 2, "stride": 1, "padding": 2}, (I((2, 3, 2, 2)), I((2, 3, 2, 2), "int64")),
      "negative-output"),
    L("LPPool1d", {"norm_type": 2.0, "kernel_size": 3}, (I((8,)),), "rank"),
    L("LPPool2d", {"norm_type": 2.0, "kernel_size": 3}, (I((2, 3, 2, 6)),), "output-zero"),
    L("LPPool3d", {"norm_type": 2.0, "kernel_size": 3}, (I((3, 2, 4, 4)),), "input-under-kernel"),
    L("FractionalMaxPool2d", {"kernel_size": 3, "output_size": 7}, label="pool-too-large"),
    L("FractionalMaxPool3d", {"kernel_size": 2, "output_size": 3}, (I((2, 4, 4, 4)),), "pool-too-large"),
    L("FractionalMaxPool2d", {"kernel_size": 2, "output_ratio": 0.1}, label="ratio-output-zero"),
    L("FractionalMaxPool2d", {"kernel_size": 2, "output_size": 2}, (I((2, 3, 8, 8), "int64"),), "int"),
    L("FractionalMaxPool2d", {"kernel_size": 2}, label="neither"),
    L("FractionalMaxPool2d", {"kernel_size": 2, "output_size": 2, "output_ratio": 0.5}, label="both"),
    L("FractionalMaxPool3d", {"kernel_size": 2, "output_size": 2}, (I((4, 4, 4)),), "rank"),
    O("max_pool2d", (X, 2), {"padding": 2}, label="padding"),
    O("adaptive_avg_pool1d", (X, 2), inputs={"x": I((5,))}, label="rank"),
    refused=True,
)
