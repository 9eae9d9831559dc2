"""Convolutions, as nn.Conv{1,2,3}d and nn.ConvTranspose{1,2,3}d compute their shapes."""

from __future__ import annotations

import math
from collections.abc import Sequence
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
    dim_add,
    dim_mul,
    size_n,
    window_out,
)


def conv_spatial(name: str, sizes: Sequence[Dim], kernel: tuple[int, ...], stride: tuple[int, ...],
                 padding: Any, dilation: tuple[int, ...], padding_mode: str = "zeros") -> tuple[Dim, ...]:
    n = len(kernel)
    if padding == "same":
        if any(s != 1 for s in stride):
            raise ShapeError("padding='same' is not supported for strided convolutions", "padding",
                             hint="use stride 1, or give padding as numbers")
        return tuple(sizes)
    pads = (0,) * n if padding == "valid" else as_tuple(padding, n)
    out: list[Dim] = []
    for i, size in enumerate(sizes):
        span = dilation[i] * (kernel[i] - 1) + 1
        if isinstance(size, int):
            if size + 2 * pads[i] < span:
                raise ShapeError(
                    f"{name} input size {size} in spatial dim {i} (padded to {size + 2 * pads[i]}) is smaller "
                    f"than the kernel span {span}: the output would have size < 1", "kernel_size", "output-too-small")
            if padding_mode == "reflect" and pads[i] >= size:
                raise ShapeError(f"reflect padding {pads[i]} must be smaller than the input size {size}", "padding")
            if padding_mode == "circular" and pads[i] > size:
                raise ShapeError(f"circular padding {pads[i]} must be at most the input size {size}", "padding")
        out.append(window_out(size, kernel[i], stride[i], 2 * pads[i], dilation[i]))
    return tuple(out)


def _groups_divide(in_ch: int, out_ch: int, groups: int) -> None:
    if in_ch % groups:
        raise ShapeError(f"in_channels {in_ch} is not divisible by groups {groups}", "groups", "bad-groups")
    if out_ch % groups:
        raise ShapeError(f"out_channels {out_ch} is not divisible by groups {groups}", "groups", "bad-groups")


def _conv(n: int) -> LayerType:
    name = f"Conv{n}d"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        check_rank(x, (n + 1, n + 2), name)
        check_float(x, name)
        inferred = check_inferred(args, "in_channels", x.shape[-n - 1], "input channels")
        groups = args.get("groups", 1)
        _groups_divide(inferred["in_channels"], args["out_channels"], groups)
        padding = args.get("padding", 0)
        padding_mode = args.get("padding_mode", "zeros")
        spatial = conv_spatial(name, x.shape[-n:], as_tuple(args["kernel_size"], n), as_tuple(args.get("stride", 1), n),
                               padding, as_tuple(args.get("dilation", 1), n), padding_mode)
        return Tensor((*x.shape[: -n - 1], args["out_channels"], *spatial), x.dtype), inferred

    def count(args: dict[str, Any]) -> int:
        k = math.prod(as_tuple(args["kernel_size"], n))
        out = args["out_channels"]
        return out * (args["in_channels"] // args.get("groups", 1)) * k + (out if args.get("bias", True) else 0)

    return LayerType(
        name=name, family="conv", rule=rule, count=count, factory=True, positional=2,
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
        if output_padding[i] >= max(stride[i], dilation[i]):
            raise ShapeError(f"output_padding {output_padding[i]} must be smaller than stride {stride[i]} "
                             f"or dilation {dilation[i]}", "output_padding")
        extra = -2 * padding[i] + dilation[i] * (kernel[i] - 1) + output_padding[i] + 1
        if isinstance(size, int):
            value = (size - 1) * stride[i] + extra
            if value < 1:
                raise ShapeError(f"transposed convolution output size {value} in spatial dim {i} is < 1",
                                 "padding", "output-too-small")
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
        inferred = check_inferred(args, "in_channels", x.shape[-n - 1], "input channels")
        _groups_divide(inferred["in_channels"], args["out_channels"], args.get("groups", 1))
        spatial = transpose_spatial(
            x.shape[-n:], as_tuple(args["kernel_size"], n), as_tuple(args.get("stride", 1), n),
            as_tuple(args.get("padding", 0), n), as_tuple(args.get("output_padding", 0), n),
            as_tuple(args.get("dilation", 1), n))
        return Tensor((*x.shape[: -n - 1], args["out_channels"], *spatial), x.dtype), inferred

    def count(args: dict[str, Any]) -> int:
        k = math.prod(as_tuple(args["kernel_size"], n))
        out = args["out_channels"]
        return args["in_channels"] * (out // args.get("groups", 1)) * k + (out if args.get("bias", True) else 0)

    return LayerType(
        name=name, family="conv", rule=rule, count=count, factory=True, positional=2,
        summary=f"{n}-D transposed convolution (nn.{name}); in_channels is inferred",
        args=(
            Arg("in_channels", PosInt, inferred=True),
            Arg("out_channels", PosInt),
            Arg("kernel_size", size_n(n)),
            Arg("stride", size_n(n), 1),
            Arg("padding", size_n(n, NonNegInt), 0),
            Arg("output_padding", size_n(n, NonNegInt), 0),
            Arg("groups", PosInt, 1),
            Arg("bias", Bool, True),
            Arg("dilation", size_n(n), 1),
            Arg("padding_mode", Literal["zeros"], "zeros"),
        ),
    )


for _n in (1, 2, 3):
    REGISTRY.add_layer(_conv(_n))
    REGISTRY.add_layer(_conv_transpose(_n))
