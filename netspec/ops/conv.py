"""Convolutions, as nn.Conv{1,2,3}d and nn.ConvTranspose{1,2,3}d compute their shapes."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any, Literal

from ._core import (
    REGISTRY,
    Arg,
    Bool,
    Dim,
    LayerType,
    NonNegInt,
    PaddingMode,
    PosInt,
    ShapeError,
    Tensor,
    as_tuple,
    check_float,
    check_inferred,
    check_rank,
    check_weight_dtype,
    count_product,
    dim_add,
    dim_mul,
    size_n,
    window_out,
)
from .examples import X1D, X2D, X3D
from .examples import Input as I
from .examples import LayerExample as L


def conv_pads(padding: Any, kernel: tuple[int, ...], dilation: tuple[int, ...]) -> list[tuple[int, int]]:
    """(left, right) padding per spatial dim.  ``'same'`` pads dilation*(kernel-1) in all, the extra one on
    the right for an even span, as nn.ConvNd's ``_reversed_padding_repeated_twice`` does."""
    n = len(kernel)
    if padding == "same":
        totals = [d * (k - 1) for k, d in zip(kernel, dilation, strict=True)]
        return [(t // 2, t - t // 2) for t in totals]
    pads = (0,) * n if padding == "valid" else as_tuple(padding, n)
    return [(p, p) for p in pads]


def conv_spatial(name: str, sizes: Sequence[Dim], kernel: tuple[int, ...], stride: tuple[int, ...],
                 padding: Any, dilation: tuple[int, ...], padding_mode: str = "zeros") -> tuple[Dim, ...]:
    out: list[Dim] = []
    for i, (size, (left, right)) in enumerate(zip(sizes, conv_pads(padding, kernel, dilation), strict=True)):
        span = dilation[i] * (kernel[i] - 1) + 1
        if isinstance(size, int):
            if size + left + right < span:
                raise ShapeError(
                    f"{name} input size {size} in spatial dim {i} (padded to {size + left + right}) is smaller "
                    f"than the kernel span {span}: the output would have size < 1", "kernel_size", "output-too-small")
            # 'same' pads too, so these checks hold for it as well (a reflect pad of 1 needs an input of 2)
            if padding_mode == "reflect" and max(left, right) >= size:
                raise ShapeError(f"reflect padding {max(left, right)} must be smaller than the input size {size} "
                                 f"in spatial dim {i}", "padding")
            if padding_mode == "circular" and max(left, right) > size:
                raise ShapeError(f"circular padding {max(left, right)} must be at most the input size {size} "
                                 f"in spatial dim {i}", "padding")
        out.append(size if padding == "same" else window_out(size, kernel[i], stride[i], left + right, dilation[i]))
    return tuple(out)


def _groups_divide(in_ch: int, out_ch: int, groups: int) -> None:
    if in_ch % groups:
        raise ShapeError(f"in_channels {in_ch} is not divisible by groups {groups}", "groups", "bad-groups")
    if out_ch % groups:
        raise ShapeError(f"out_channels {out_ch} is not divisible by groups {groups}", "groups", "bad-groups")


def _conv_check(n: int) -> Callable[[dict[str, Any]], None]:
    """nn.ConvNd's constructor checks: they fire when the module is built, used in forward or not."""

    def check(args: dict[str, Any]) -> None:
        _groups_divide(args["in_channels"], args["out_channels"], args.get("groups", 1))
        if args.get("padding", 0) == "same" and any(s != 1 for s in as_tuple(args.get("stride", 1), n)):
            raise ShapeError("padding='same' is not supported for strided convolutions", "padding",
                             hint="use stride 1, or give padding as numbers")

    return check


def _conv_transpose_check(n: int) -> Callable[[dict[str, Any]], None]:
    def check(args: dict[str, Any]) -> None:
        _groups_divide(args["in_channels"], args["out_channels"], args.get("groups", 1))
        stride, dilation = as_tuple(args.get("stride", 1), n), as_tuple(args.get("dilation", 1), n)
        for pad, s, d in zip(as_tuple(args.get("output_padding", 0), n), stride, dilation, strict=True):
            if pad >= max(s, d):
                raise ShapeError(f"output_padding {pad} must be smaller than stride {s} or dilation {d}",
                                 "output_padding")

    return check


def _conv_count(n: int, transposed: bool) -> Callable[[dict[str, Any]], int]:
    """Weight (out x in/groups x kernel, in x out/groups x kernel when transposed) plus bias."""

    def count(args: dict[str, Any]) -> int:
        kernel: int = math.prod(as_tuple(args["kernel_size"], n))
        out: int = args["out_channels"]
        in_channels: int = args["in_channels"]
        groups: int = args.get("groups", 1)
        weight = in_channels * (out // groups) if transposed else out * (in_channels // groups)
        return weight * kernel + (out if args.get("bias", True) else 0)

    return count


def _conv_macs(n: int, transposed: bool) -> Callable[[dict[str, Any], Sequence[Tensor], Any], Any]:
    """FlopCounterMode's conv count, halved: every output position (every input position when transposed) times
    the kernel volume times out_channels times in_channels / groups (bias adds are not counted)."""

    def macs(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Any:
        kernel = math.prod(as_tuple(args["kernel_size"], n))
        groups = args.get("groups", 1)
        if transposed:  # input positions x kernel x in_channels x out_channels / groups
            return count_product((*inputs[0].shape, kernel * (args["out_channels"] // groups)))
        return count_product((*out.shape, kernel * (args["in_channels"] // groups)))

    return macs


def _conv(n: int) -> LayerType:
    name = f"Conv{n}d"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        check_rank(x, (n + 1, n + 2), name)
        check_float(x, name)
        check_weight_dtype(x, name)
        inferred = check_inferred(args, "in_channels", x.shape[-n - 1], "input channels")
        check({**args, **inferred})
        padding = args.get("padding", 0)
        padding_mode = args.get("padding_mode", "zeros")
        spatial = conv_spatial(name, x.shape[-n:], as_tuple(args["kernel_size"], n), as_tuple(args.get("stride", 1), n),
                               padding, as_tuple(args.get("dilation", 1), n), padding_mode)
        return Tensor((*x.shape[: -n - 1], args["out_channels"], *spatial), x.dtype), inferred

    check = _conv_check(n)
    return LayerType(
        name=name, family="conv", rule=rule, count=_conv_count(n, transposed=False), factory=True, positional=2,
        macs=_conv_macs(n, transposed=False),
        check=check,
        summary=f"{n}-D convolution (nn.{name}); in_channels is inferred from the input",
        args=(
            Arg("in_channels", PosInt, inferred=True),
            Arg("out_channels", PosInt),
            Arg("kernel_size", size_n(n)),
            Arg("stride", size_n(n), 1),
            Arg("padding", Literal["same", "valid"] | size_n(n, NonNegInt), 0),
            Arg("dilation", size_n(n), 1),
            Arg("groups", PosInt, 1),
            Arg("bias", Bool, True),
            Arg("padding_mode", PaddingMode, "zeros"),
        ),
    )


def transpose_spatial(sizes: Sequence[Dim], kernel: tuple[int, ...], stride: tuple[int, ...], padding: tuple[int, ...],
                      output_padding: tuple[int, ...], dilation: tuple[int, ...]) -> tuple[Dim, ...]:
    out: list[Dim] = []
    for i, size in enumerate(sizes):
        extra = -2 * padding[i] + dilation[i] * (kernel[i] - 1) + output_padding[i] + 1
        if isinstance(size, int):
            value = (size - 1) * stride[i] + extra
            if value < 0:
                raise ShapeError(f"transposed convolution output size {value} in spatial dim {i} is < 0",
                                 "padding", "output-too-small")
            if value == 0:  # torch gives an empty tensor on some kernels and refuses on others
                raise ShapeError(f"transposed convolution output size 0 in spatial dim {i}: netspec refuses this "
                                 "deliberately, as an empty output is a mistake in the spec", "padding",
                                 "output-too-small", "lower padding, or raise kernel_size, stride or output_padding")
            out.append(value)
        else:
            out.append(dim_add(dim_mul(size, stride[i]), extra - stride[i]))
    return tuple(out)


def _conv_transpose(n: int) -> LayerType:
    name = f"ConvTranspose{n}d"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        check_rank(x, (n + 1, n + 2), name)
        check_float(x, name)
        check_weight_dtype(x, name)
        inferred = check_inferred(args, "in_channels", x.shape[-n - 1], "input channels")
        check({**args, **inferred})
        spatial = transpose_spatial(
            x.shape[-n:], as_tuple(args["kernel_size"], n), as_tuple(args.get("stride", 1), n),
            as_tuple(args.get("padding", 0), n), as_tuple(args.get("output_padding", 0), n),
            as_tuple(args.get("dilation", 1), n))
        return Tensor((*x.shape[: -n - 1], args["out_channels"], *spatial), x.dtype), inferred

    check = _conv_transpose_check(n)
    return LayerType(
        name=name, family="conv", rule=rule, count=_conv_count(n, transposed=True), factory=True, positional=2,
        macs=_conv_macs(n, transposed=True),
        check=check,
        summary=f"{n}-D transposed convolution (nn.{name}); in_channels is inferred",
        args=(
            Arg("in_channels", PosInt, inferred=True),
            Arg("out_channels", PosInt),
            Arg("kernel_size", size_n(n)),
            Arg("stride", size_n(n), 1),
            Arg("padding", size_n(n, NonNegInt), 0, doc="dilation * (kernel_size - 1) - padding zero-padding is "
                "added to both sides of each dimension in the input."),
            Arg("output_padding", size_n(n, NonNegInt), 0),
            Arg("groups", PosInt, 1),
            Arg("bias", Bool, True),
            Arg("dilation", size_n(n), 1),
            Arg("padding_mode", Literal["zeros"], "zeros", doc="How the input is padded: only 'zeros' is supported."),
        ),
    )


for _n in (1, 2, 3):
    REGISTRY.add_layer(_conv(_n))
    REGISTRY.add_layer(_conv_transpose(_n))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

REGISTRY.add_examples(
    # the seed's comp_conv2d examples first
    L("Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 1}, (I((1, 1, 8, 8)),), "seed-k3-p1"),
    L("Conv2d", {"out_channels": 1, "kernel_size": [5, 3], "padding": [2, 1]}, (I((1, 1, 8, 8)),), "seed-k53-p21"),
    L("Conv2d", {"out_channels": 1, "kernel_size": [3, 5], "padding": [0, 1], "stride": [3, 4]}, (I((1, 1, 8, 8)),),
      "seed-stride34"),
    L("Conv2d", {"out_channels": 6, "kernel_size": 5}, (I((2, 1, 32, 32)),), "lenet-conv1"),
    L("Conv2d", {"out_channels": 96, "kernel_size": 11, "stride": 4}, (I((1, 1, 224, 224)),), "alexnet-conv1"),
    L("Conv2d", {"out_channels": 4, "kernel_size": 4, "padding": "same", "dilation": 2}, label="same-even-dilated"),
    L("Conv2d", {"out_channels": 4, "kernel_size": [2, 3], "padding": "same", "padding_mode": "reflect"},
      label="same-reflect"),
    L("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": "valid", "bias": False}, label="valid-nobias"),
    L("Conv2d", {"out_channels": 6, "kernel_size": 3, "padding": 2, "padding_mode": "circular", "groups": 3},
      label="circular-groups"),
    L("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "replicate", "in_channels": 3},
      (I((3, 5, 5)),), "unbatched-written-in"),
    L("Conv1d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}, X1D),
    L("Conv1d", {"out_channels": 4, "kernel_size": 2, "padding": "same", "dilation": 3}, X1D, "same-even"),
    L("Conv3d", {"out_channels": 2, "kernel_size": [3, 1, 2], "stride": [1, 2, 1], "dilation": [1, 1, 2]}, X3D),
    L("ConvTranspose1d", {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 1}, X1D),
    L("ConvTranspose2d", {"out_channels": 6, "kernel_size": [3, 4], "stride": 2, "padding": 1, "groups": 3}, X2D),
    L("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "stride": 1, "output_padding": 1, "dilation": 2}, X2D,
      "output-padding-by-dilation"),
    L("ConvTranspose3d", {"out_channels": 2, "kernel_size": 2, "stride": [2, 1, 1], "bias": False}, X3D),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": "same", "stride": 2}, label="same-strided",
      torch_extra={"in_channels": 3}),
    L("Conv2d", {"out_channels": 4, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"},
      (I((1, 3, 1, 8)),), "same-reflect-too-wide", {"in_channels": 3}),
    L("Conv1d", {"out_channels": 2, "kernel_size": 1, "padding": 3, "padding_mode": "circular"}, (I((1, 3, 2)),),
      "circular-wraps-twice", {"in_channels": 3}),
    L("Conv2d", {"out_channels": 4, "kernel_size": 9}, label="kernel-too-big", torch_extra={"in_channels": 3}),
    L("Conv2d", {"out_channels": 4, "kernel_size": 3, "groups": 2}, label="groups", torch_extra={"in_channels": 3}),
    L("Conv2d", {"out_channels": 4, "kernel_size": 3, "in_channels": 4}, label="in-channels-written-wrong"),
    L("ConvTranspose1d", {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 2}, X1D,
      "output-padding", {"in_channels": 3}),
    L("ConvTranspose2d", {"out_channels": 2, "kernel_size": 1, "padding": 3}, (I((1, 3, 4, 4)),), "output-negative",
      {"in_channels": 3}),
    refused=True,
)
