"""Normalisation layers: BatchNorm{1,2,3}d, LayerNorm, GroupNorm."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ._core import (
    OMIT,
    REGISTRY,
    Arg,
    Bool,
    Dim,
    LayerType,
    PosInt,
    PosReal,
    Real,
    ShapeError,
    Tensor,
    UnreadArgMismatch,
    as_tuple,
    check_float,
    check_inferred,
    check_rank,
    check_weight_dtype,
    fmt_shape,
    read_attribute,
    same_dims,
)
from .examples import X3D
from .examples import Input as I
from .examples import LayerExample as L

_RANKS = {1: (2, 3), 2: (4,), 3: (5,)}


def _check_count(args: dict[str, Any], name: str, found: Dim, what: str, unused: str | None) -> dict[str, Any]:
    """``check_inferred``, where ``unused`` says when torch ignores the written count.

    torch never reads ``num_channels`` of a non-affine GroupNorm or ``num_features`` of a
    BatchNorm with neither weights nor running statistics.  netspec still refuses a count
    that disagrees with the input: the spec then states a wrong channel count, and turning
    ``affine`` on later would crash.  The message says the refusal is deliberate.
    """
    try:
        return check_inferred(args, name, found, what)
    except ShapeError as err:
        if unused is None or err.code != "shape-mismatch":
            raise
        raise UnreadArgMismatch(f"{err.message}; netspec refuses this deliberately: torch ignores {name} {unused}, "
                                "but a count that disagrees with the input is a mistake in the spec", name, err.code,
                                err.hint) from None


def _batch_norm(n: int) -> LayerType:
    name = f"BatchNorm{n}d"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        check_rank(x, _RANKS[n], name)
        check_float(x, name)
        stateful = args.get("affine", True) or args.get("track_running_stats", True)
        if stateful:  # weights and running statistics are float32: they take float16/bfloat16, not float64
            check_weight_dtype(x, name, mixed_ok=True)
        inferred = _check_count(args, "num_features", x.shape[1], "features (channels)",
                                None if stateful else "without affine weights or running statistics")
        if not args.get("track_running_stats", True) and _one_value_per_channel(x):
            # without running statistics batch statistics are used in eval mode too, and need two values
            raise ShapeError(f"{name} without running statistics normalises {fmt_shape(x.shape)} over one value "
                             "per channel, which torch refuses in eval mode too", "track_running_stats",
                             "output-too-small", "use a batch of at least 2, or track_running_stats: true")
        return x, inferred

    def caution(args: dict[str, Any], inputs: Sequence[Tensor]) -> ShapeError | None:
        if not _one_value_per_channel(inputs[0]):
            return None
        return ShapeError(f"{name} in training mode (a built module's mode) refuses {fmt_shape(inputs[0].shape)}: "
                          "one value per channel", code="train-mode",
                          hint="call model.eval() before running it, or use a batch of at least 2")

    def count(args: dict[str, Any]) -> int:
        return 2 * args["num_features"] if args.get("affine", True) else 0

    def buffers(args: dict[str, Any]) -> dict[str, int]:
        """running_mean and running_var (float32), num_batches_tracked (an int64 scalar)."""
        if not args.get("track_running_stats", True):
            return {}
        return {"float32": 2 * args["num_features"], "int64": 1}

    return LayerType(
        name=name, family="norm", rule=rule, count=count, factory=True, positional=1, caution=caution,
        buffers=buffers,
        summary=f"batch normalisation over dim 1 (nn.{name}); num_features is inferred",
        args=(
            Arg("num_features", PosInt, inferred=True),
            Arg("eps", PosReal, 1e-5),
            Arg("momentum", Real | None, 0.1),
            Arg("affine", Bool, True),
            Arg("track_running_stats", Bool, True),
        ),
    )


def _one_value_per_channel(x: Tensor) -> bool:
    """F.batch_norm's check in training mode: batch size times spatial size is 1 (known only for concrete sizes)."""
    values = [x.shape[0], *x.shape[2:]]
    return all(isinstance(d, int) for d in values) and math.prod(values) == 1


def _layer_norm_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    check_float(x, "LayerNorm")
    if args.get("elementwise_affine", True):
        check_weight_dtype(x, "LayerNorm", mixed_ok=True)
    written = args.get("normalized_shape")
    if x.rank == 0:
        raise ShapeError("LayerNorm normalises trailing dims, and a 0-D input has none", code="rank-mismatch")
    if written is None:
        return x, check_inferred({}, "normalized_shape", x.shape[-1], "features")
    _layer_norm_check(args)
    shape = as_tuple(written, 1)
    tail = x.shape[-len(shape):] if len(shape) <= x.rank else None
    if tail is None or not all(same_dims(a, b) for a, b in zip(tail, shape, strict=True)):
        raise ShapeError(f"normalized_shape {list(shape)} does not match the trailing dims of the input "
                         f"{fmt_shape(x.shape)}", "normalized_shape")
    return x, {"normalized_shape": written}


def _layer_norm_check(args: dict[str, Any]) -> None:
    if not as_tuple(args["normalized_shape"], 1):  # torch refuses an empty normalized_shape when the layer runs
        raise ShapeError("normalized_shape needs at least one dim, found []", "normalized_shape", "bad-value")


def _group_norm_check(args: dict[str, Any]) -> None:
    """nn.GroupNorm's constructor check: it fires when the module is built, used in forward or not."""
    if args["num_channels"] % args["num_groups"]:
        raise ShapeError(f"num_channels {args['num_channels']} is not divisible by num_groups {args['num_groups']}",
                         "num_groups", "bad-groups")


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
    if args.get("affine", True):
        check_weight_dtype(x, "GroupNorm", mixed_ok=True)
    inferred = _check_count(args, "num_channels", x.shape[1], "channels",
                            None if args.get("affine", True) else "without affine weights")
    _group_norm_check({**args, **inferred})
    # F.group_norm refuses (in eval mode too) when each group would normalise a single value
    per_group = [x.shape[0], x.shape[1], *x.shape[2:]]
    if all(isinstance(d, int) for d in per_group) and math.prod(per_group) // args["num_groups"] == 1:
        raise ShapeError(f"GroupNorm of {fmt_shape(x.shape)} in {args['num_groups']} groups normalises one value "
                         "per group", "num_groups", "output-too-small")
    return x, inferred


def _layer_norm_read_back(module: Any, name: str) -> Any:
    if name == "bias" and not module.elementwise_affine:
        return OMIT  # no weights, no bias to show
    value = read_attribute(module, name)
    if name == "normalized_shape":
        value = list(value)
        return value[0] if len(value) == 1 else value
    return value


REGISTRY.add_layer(_batch_norm(1))
REGISTRY.add_layer(_batch_norm(2))
REGISTRY.add_layer(_batch_norm(3))
REGISTRY.add_layer(LayerType(
    name="LayerNorm", family="norm", rule=_layer_norm_rule, count=_layer_norm_count, factory=True, positional=1,
    check=_layer_norm_check, read_back=_layer_norm_read_back,
    summary="layer normalisation over the trailing dims; normalized_shape defaults to the last dim",
    args=(
        Arg("normalized_shape", PosInt | list[PosInt], inferred=True),
        Arg("eps", PosReal, 1e-5),
        Arg("elementwise_affine", Bool, True),
        Arg("bias", Bool, True, doc="If true (with elementwise_affine), learns an additive bias."),
    ),
))
REGISTRY.add_layer(LayerType(
    name="GroupNorm", family="norm", rule=_group_norm_rule, check=_group_norm_check, factory=True, positional=2,
    count=lambda a: 2 * a["num_channels"] if a.get("affine", True) else 0,
    summary="group normalisation over dim 1; num_channels is inferred",
    args=(
        Arg("num_groups", PosInt),
        Arg("num_channels", PosInt, inferred=True),
        Arg("eps", PosReal, 1e-5),
        Arg("affine", Bool, True),
    ),
))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

REGISTRY.add_examples(
    L("BatchNorm1d", inputs=(I((4, 3)),)), L("BatchNorm1d", {"affine": False}, (I((4, 3, 5)),), "3d-noaffine"),
    L("BatchNorm2d", {"momentum": None}), L("BatchNorm3d", inputs=X3D),
    L("LayerNorm", inputs=(I((2, 5, 7)),)), L("LayerNorm", {"normalized_shape": [5, 7], "bias": False},
                                              (I((2, 5, 7)),), "list"),
    L("GroupNorm", {"num_groups": 3}, (I((2, 6, 4, 4)),)),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("BatchNorm2d", inputs=(I((2, 3, 4)),), label="rank", torch_extra={"num_features": 3}),
    L("LayerNorm", {"normalized_shape": [4]}, (I((2, 5)),), "trailing"),
    L("GroupNorm", {"num_groups": 4}, (I((2, 6, 3)),), "groups", {"num_channels": 6}),
    L("GroupNorm", {"num_groups": 2}, (I((1, 2)),), "one-value-per-group", {"num_channels": 2}),
    refused=True,
)
