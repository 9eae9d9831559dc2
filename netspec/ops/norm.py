"""Normalisation layers: BatchNorm{1,2,3}d, SyncBatchNorm, InstanceNorm{1,2,3}d, LayerNorm, GroupNorm,
LocalResponseNorm, CrossMapLRN2d, RMSNorm."""

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
    """BatchNorm{n}d, or for n = 0 SyncBatchNorm: BatchNorm of any input of at least 2 dims, with BatchNorm's
    parameters and buffers (the same state_dict).  Unless torch.distributed is initialised and the module trains,
    its forward is F.batch_norm, as BatchNorm's (so on the CPU, in eval mode, and without a process group)."""
    name = f"BatchNorm{n}d" if n else "SyncBatchNorm"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        if n:
            check_rank(x, _RANKS[n], name)
        elif x.rank < 2:
            raise ShapeError(f"SyncBatchNorm expects an input of at least 2 dims (N, C, ...), found a {x.rank}-D input "
                             f"{fmt_shape(x.shape)}", code="rank-mismatch")
        elif x.shape[1] == 0:
            raise ShapeError(f"SyncBatchNorm expects input channels (dim 1), found none in {fmt_shape(x.shape)}",
                             code="output-too-small")
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
        return (1 + bool(args.get("bias", True))) * args["num_features"] if args.get("affine", True) else 0

    def buffers(args: dict[str, Any]) -> dict[str, int]:
        """running_mean and running_var (float32), num_batches_tracked (an int64 scalar)."""
        if not args.get("track_running_stats", True):
            return {}
        return {"float32": 2 * args["num_features"], "int64": 1}

    args = (
        Arg("num_features", PosInt, inferred=True),
        Arg("eps", PosReal, 1e-5),
        Arg("momentum", Real | None, 0.1),
        Arg("affine", Bool, True),
        Arg("track_running_stats", Bool, True),
    )
    if not n:
        return LayerType(
            name=name, family="norm", rule=rule, count=count, factory=True, positional=1, caution=caution,
            buffers=buffers, read_back=_sync_batch_norm_read_back,
            summary="batch normalisation over dim 1 whose training statistics are synchronised across the processes "
                    "of a torch.distributed group (CUDA inputs then); otherwise, and in eval mode, BatchNorm; "
                    "num_features is inferred",
            args=(*args, Arg("bias", Bool, True, doc="If true (and affine), the module has a learnable bias.")),
        )
    return LayerType(
        name=name, family="norm", rule=rule, count=count, factory=True, positional=1, caution=caution,
        buffers=buffers,
        summary=f"batch normalisation over dim 1 (nn.{name}); num_features is inferred",
        args=args,
    )


def _sync_batch_norm_read_back(module: Any, name: str) -> Any:
    if name == "bias" and not module.affine:
        return OMIT  # no weights, no bias to show
    return read_attribute(module, name)


def _cross_map_lrn2d_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """torch's _cross_map_lrn2d: a 4-D input with at least one channel, floating point (it writes a float power
    into a tensor of the input's dtype); shape and dtype unchanged."""
    (x,) = inputs
    check_rank(x, (4,), "CrossMapLRN2d")
    check_float(x, "CrossMapLRN2d")
    if x.shape[1] == 0:
        raise ShapeError(f"CrossMapLRN2d expects input channels (dim 1), found none in {fmt_shape(x.shape)}",
                         code="output-too-small")
    return x, {}


def _instance_norm(n: int) -> LayerType:
    name = f"InstanceNorm{n}d"

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        check_rank(x, (n + 1, n + 2), name)  # (C, *spatial) unbatched or (N, C, *spatial)
        check_float(x, name)
        affine, tracking = args.get("affine", False), args.get("track_running_stats", False)
        if affine:  # float32 weights take float16/bfloat16 inputs, not float64; running statistics take any float
            check_weight_dtype(x, name, mixed_ok=True)
        inferred = _check_count(args, "num_features", x.shape[x.rank - n - 1], "features (channels)",
                                None if affine or tracking else "without affine weights or running statistics")
        if not tracking and _one_spatial_value(x, n):  # instance statistics are used in eval mode too
            raise ShapeError(f"{name} without running statistics normalises {fmt_shape(x.shape)} over one spatial "
                             "value per channel, which torch refuses in eval mode too", "track_running_stats",
                             "output-too-small", "give the input more than one spatial element")
        return x, inferred

    def caution(args: dict[str, Any], inputs: Sequence[Tensor]) -> ShapeError | None:
        if not _one_spatial_value(inputs[0], n):
            return None
        return ShapeError(f"{name} in training mode (a built module's mode) refuses {fmt_shape(inputs[0].shape)}: "
                          "one spatial value per channel", code="train-mode",
                          hint="call model.eval() before running it, or give the input more than one spatial element")

    def buffers(args: dict[str, Any]) -> dict[str, int]:
        """running_mean and running_var (float32), num_batches_tracked (an int64 scalar)."""
        if not args.get("track_running_stats", False):
            return {}
        return {"float32": 2 * args["num_features"], "int64": 1}

    return LayerType(
        name=name, family="norm", rule=rule, factory=True, positional=1, caution=caution, buffers=buffers,
        count=lambda a: 2 * a["num_features"] if a.get("affine", False) else 0,
        summary=f"instance normalisation of each sample's channels (nn.{name}); num_features is inferred",
        args=(
            Arg("num_features", PosInt, inferred=True),
            Arg("eps", PosReal, 1e-5),
            Arg("momentum", Real | None, 0.1),
            Arg("affine", Bool, False),
            Arg("track_running_stats", Bool, False),
        ),
    )


def _one_spatial_value(x: Tensor, n: int) -> bool:
    """F.instance_norm's check when it uses instance statistics: the spatial size is 1 (concrete sizes only)."""
    spatial = x.shape[-n:]
    return all(isinstance(d, int) for d in spatial) and math.prod(spatial) == 1


def _local_response_norm_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """F.local_response_norm: at least 3 dims; an integer input is divided into float32."""
    (x,) = inputs
    if x.rank < 3:
        raise ShapeError(f"LocalResponseNorm expects an input of at least 3 dims (N, C, *), found {fmt_shape(x.shape)}",
                         code="rank-mismatch")
    if x.dtype == "bool":
        raise ShapeError("LocalResponseNorm does not take a bool input", code="dtype-mismatch")
    return Tensor(x.shape, x.dtype if x.is_float else "float32"), {}


def _rms_norm_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """F.rms_norm: float inputs (float32 weights take every float dtype), normalized_shape the trailing dims."""
    (x,) = inputs
    check_float(x, "RMSNorm")
    if x.rank == 0:
        raise ShapeError("RMSNorm normalises trailing dims, and a 0-D input has none", code="rank-mismatch")
    return x, _trailing_shape(x, args)


def _trailing_shape(x: Tensor, args: dict[str, Any]) -> dict[str, Any]:
    """LayerNorm and RMSNorm's normalized_shape: the last dim if not written, else checked against the input."""
    written = args.get("normalized_shape")
    if written is None:
        return check_inferred({}, "normalized_shape", x.shape[-1], "features")
    _layer_norm_check(args)
    shape = as_tuple(written, 1)
    tail = x.shape[-len(shape):] if len(shape) <= x.rank else None
    if tail is None or not all(same_dims(a, b) for a, b in zip(tail, shape, strict=True)):
        raise ShapeError(f"normalized_shape {list(shape)} does not match the trailing dims of the input "
                         f"{fmt_shape(x.shape)}", "normalized_shape")
    return {"normalized_shape": written}


def _one_value_per_channel(x: Tensor) -> bool:
    """F.batch_norm's check in training mode: batch size times spatial size is 1 (known only for concrete sizes)."""
    values = [x.shape[0], *x.shape[2:]]
    return all(isinstance(d, int) for d in values) and math.prod(values) == 1


def _layer_norm_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    check_float(x, "LayerNorm")
    if args.get("elementwise_affine", True):
        check_weight_dtype(x, "LayerNorm", mixed_ok=True)
    if x.rank == 0:
        raise ShapeError("LayerNorm normalises trailing dims, and a 0-D input has none", code="rank-mismatch")
    return x, _trailing_shape(x, args)


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
REGISTRY.add_layer(_batch_norm(0))
REGISTRY.add_layer(_instance_norm(1))
REGISTRY.add_layer(_instance_norm(2))
REGISTRY.add_layer(_instance_norm(3))
_LRN_ARGS = (  # nn.LocalResponseNorm's and nn.CrossMapLRN2d's
    Arg("size", PosInt, doc="Amount of neighbouring channels used for normalization."),
    Arg("alpha", Real, 1e-4, doc="Multiplicative factor."),
    Arg("beta", Real, 0.75, doc="Exponent."),
    Arg("k", Real, 1.0, doc="Additive factor."),
)
REGISTRY.add_layer(LayerType(
    name="LocalResponseNorm", family="norm", rule=_local_response_norm_rule, positional=1,
    summary="normalises each value over size neighbouring channels (nn.LocalResponseNorm)",
    args=_LRN_ARGS,
))
REGISTRY.add_layer(LayerType(
    name="CrossMapLRN2d", family="norm", rule=_cross_map_lrn2d_rule, positional=1,
    summary="local response normalisation across channels of a 4-D input (nn.CrossMapLRN2d, Lua Torch's form)",
    args=_LRN_ARGS,
))
REGISTRY.add_layer(LayerType(
    name="RMSNorm", family="norm", rule=_rms_norm_rule, factory=True, positional=1, check=_layer_norm_check,
    read_back=_layer_norm_read_back,
    count=lambda a: math.prod(as_tuple(a["normalized_shape"], 1)) if a.get("elementwise_affine", True) else 0,
    summary="root-mean-square normalisation over the trailing dims; normalized_shape defaults to the last dim",
    args=(
        Arg("normalized_shape", PosInt | list[PosInt], inferred=True),
        Arg("eps", PosReal | None, None, doc="A value added to the denominator for numerical stability; null for "
            "the input dtype's machine epsilon."),
        Arg("elementwise_affine", Bool, True, doc="If true, the module has a learnable per-element weight."),
    ),
))
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
    L("InstanceNorm1d", inputs=(I((2, 3, 5)),)), L("InstanceNorm1d", {"affine": True}, (I((3, 5), "float16"),),
                                                   "unbatched-affine"),
    L("InstanceNorm2d", {"track_running_stats": True}, (I((2, 3, 4, 4), "float64"),), "tracking-float64"),
    L("InstanceNorm2d", {"num_features": 3, "affine": True, "momentum": None}, (I((3, 4, 5)),), "affine"),
    L("InstanceNorm3d", {"affine": True, "eps": 1e-3}, X3D),
    L("LocalResponseNorm", {"size": 2}), L("LocalResponseNorm", {"size": 3, "alpha": 0.001, "beta": 0.5, "k": 2.0},
                                           X3D, "5d"),
    L("LocalResponseNorm", {"size": 2}, (I((2, 6, 3, 3), "int64"),), "int"),
    L("LocalResponseNorm", {"size": 5}, (I((2, 3, 7), "float64"),), "3d"),
    L("RMSNorm", inputs=(I((2, 5, 7)),)), L("RMSNorm", {"normalized_shape": [5, 7], "eps": 1e-6},
                                            (I((2, 5, 7), "bfloat16"),), "list"),
    L("RMSNorm", {"elementwise_affine": False}, (I((4, 6), "float64"),), "noaffine"),
    L("SyncBatchNorm", inputs=(I((4, 3)),)), L("SyncBatchNorm", {"momentum": None}, label="4d"),
    L("SyncBatchNorm", {"affine": False, "eps": 1e-3}, (I((2, 3, 4, 4, 4, 2)),), "6d-noaffine"),
    L("SyncBatchNorm", {"bias": False}, (I((2, 5, 7), "bfloat16"),), "nobias-bfloat16"),
    L("SyncBatchNorm", {"track_running_stats": False, "affine": False}, (I((2, 4, 3), "float64"),), "stateless"),
    L("CrossMapLRN2d", {"size": 3}), L("CrossMapLRN2d", {"size": 5, "alpha": 0.01, "beta": 0.5, "k": 2.0},
                                       (I((1, 2, 3, 3), "float64"),), "float64"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("BatchNorm2d", inputs=(I((2, 3, 4)),), label="rank", torch_extra={"num_features": 3}),
    L("LayerNorm", {"normalized_shape": [4]}, (I((2, 5)),), "trailing"),
    L("GroupNorm", {"num_groups": 4}, (I((2, 6, 3)),), "groups", {"num_channels": 6}),
    L("GroupNorm", {"num_groups": 2}, (I((1, 2)),), "one-value-per-group", {"num_channels": 2}),
    L("InstanceNorm1d", inputs=(I((2, 3, 4, 5)),), label="rank", torch_extra={"num_features": 3}),
    L("InstanceNorm1d", {"num_features": 4, "affine": True}, (I((2, 3, 5)),), "features"),
    L("InstanceNorm1d", {"num_features": 4, "track_running_stats": True}, (I((2, 3, 5)),), "features-tracking"),
    L("InstanceNorm2d", inputs=(I((3, 1, 1)),), label="one-value", torch_extra={"num_features": 3}),
    L("InstanceNorm3d", inputs=(I((2, 3, 4, 4, 4), "int64"),), label="int", torch_extra={"num_features": 3}),
    L("LocalResponseNorm", {"size": 2}, (I((2, 6)),), "rank"),
    L("LocalResponseNorm", {"size": 2}, (I((2, 3, 4), "bool"),), "bool"),
    L("RMSNorm", {"normalized_shape": [4]}, (I((2, 5)),), "trailing"),
    L("RMSNorm", {"normalized_shape": []}, (I((2, 5)),), "empty"),
    L("RMSNorm", inputs=(I((2, 5), "int64"),), label="int", torch_extra={"normalized_shape": 5}),
    L("SyncBatchNorm", inputs=(I((3,)),), label="rank", torch_extra={"num_features": 3}),
    L("SyncBatchNorm", {"num_features": 4}, (I((2, 3)),), "features"),
    L("SyncBatchNorm", inputs=(I((2, 3, 4), "int64"),), label="int", torch_extra={"num_features": 3}),
    L("SyncBatchNorm", {"track_running_stats": False}, (I((1, 3, 1)),), "one-value"),
    L("CrossMapLRN2d", {"size": 3}, (I((3, 4, 4)),), "rank-3"), L("CrossMapLRN2d", {"size": 3}, X3D, "rank-5"),
    L("CrossMapLRN2d", {"size": 3}, (I((2, 3, 4, 4), "int64"),), "int"),
    refused=True,
)
