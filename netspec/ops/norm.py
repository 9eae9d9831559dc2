"""Normalisation layers: BatchNorm{1,2,3}d, LayerNorm, GroupNorm."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._core import (
    REGISTRY,
    Arg,
    Bool,
    LayerType,
    PosInt,
    PosReal,
    Real,
    ShapeError,
    Tensor,
    as_tuple,
    check_float,
    check_inferred,
    check_rank,
    fmt_shape,
    same_dims,
)

_RANKS = {1: (2, 3), 2: (4,), 3: (5,)}


def _batch_norm(n: int) -> LayerType:
    name = f"BatchNorm{n}d"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        check_rank(x, _RANKS[n], name)
        check_float(x, name)
        return x, check_inferred(args, "num_features", x.shape[1], "features (channels)")

    def count(args: dict[str, Any]) -> int:
        return 2 * args["num_features"] if args.get("affine", True) else 0

    return LayerType(
        name=name, family="norm", rule=rule, count=count, factory=True, positional=1,
        summary=f"batch normalisation over dim 1 (nn.{name}); num_features is inferred",
        args=(
            Arg("num_features", PosInt, inferred=True),
            Arg("eps", PosReal, 1e-5),
            Arg("momentum", Real | None, 0.1),
            Arg("affine", Bool, True),
            Arg("track_running_stats", Bool, True),
        ),
    )


def _layer_norm_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    check_float(x, "LayerNorm")
    written = args.get("normalized_shape")
    if x.rank == 0:
        raise ShapeError("LayerNorm normalises trailing dims, and a 0-D input has none", code="rank-mismatch")
    if written is None:
        return x, check_inferred({}, "normalized_shape", x.shape[-1], "features")
    shape = as_tuple(written, 1)
    if not shape:  # torch refuses an empty normalized_shape when the layer runs
        raise ShapeError("normalized_shape needs at least one dim, found []", "normalized_shape", "bad-value")
    tail = x.shape[-len(shape):] if len(shape) <= x.rank else None
    if tail is None or not all(same_dims(a, b) for a, b in zip(tail, shape, strict=True)):
        raise ShapeError(f"normalized_shape {list(shape)} does not match the trailing dims of the input "
                         f"{fmt_shape(x.shape)}", "normalized_shape")
    return x, {"normalized_shape": written}


def _layer_norm_count(args: dict[str, Any]) -> int:
    if not args.get("elementwise_affine", True):
        return 0
    size: int = math.prod(as_tuple(args["normalized_shape"], 1))
    return size * (2 if args.get("bias", True) else 1)


def _group_norm_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    if x.rank < 2:
        raise ShapeError(f"GroupNorm expects an input of at least 2 dims (N, C, ...), found {fmt_shape(x.shape)}",
                         code="rank-mismatch")
    check_float(x, "GroupNorm")
    inferred = check_inferred(args, "num_channels", x.shape[1], "channels")
    if inferred["num_channels"] % args["num_groups"]:
        raise ShapeError(f"num_channels {inferred['num_channels']} is not divisible by num_groups {args['num_groups']}",
                         "num_groups", "bad-groups")
    # F.group_norm refuses (in eval mode too) when each group would normalise a single value
    per_group = [x.shape[0], x.shape[1], *x.shape[2:]]
    if all(isinstance(d, int) for d in per_group) and math.prod(per_group) // args["num_groups"] == 1:
        raise ShapeError(f"GroupNorm of {fmt_shape(x.shape)} in {args['num_groups']} groups normalises one value "
                         "per group", "num_groups", "output-too-small")
    return x, inferred


REGISTRY.add_layer(_batch_norm(1))
REGISTRY.add_layer(_batch_norm(2))
REGISTRY.add_layer(_batch_norm(3))
REGISTRY.add_layer(LayerType(
    name="LayerNorm", family="norm", rule=_layer_norm_rule, count=_layer_norm_count, factory=True, positional=1,
    summary="layer normalisation over the trailing dims; normalized_shape defaults to the last dim",
    args=(
        Arg("normalized_shape", PosInt | list[PosInt], inferred=True),
        Arg("eps", PosReal, 1e-5),
        Arg("elementwise_affine", Bool, True),
        Arg("bias", Bool, True),
    ),
))
REGISTRY.add_layer(LayerType(
    name="GroupNorm", family="norm", rule=_group_norm_rule, factory=True, positional=2,
    count=lambda a: 2 * a["num_channels"] if a.get("affine", True) else 0,
    summary="group normalisation over dim 1; num_channels is inferred",
    args=(
        Arg("num_groups", PosInt),
        Arg("num_channels", PosInt, inferred=True),
        Arg("eps", PosReal, 1e-5),
        Arg("affine", Bool, True),
    ),
))
