"""Affine layers: Linear, Bilinear, Embedding, EmbeddingBag."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ._core import (
    MODULE_DTYPE,
    REGISTRY,
    AnyInt,
    Arg,
    Bool,
    LayerType,
    PosInt,
    PosReal,
    ShapeError,
    Tensor,
    check_float,
    check_inferred,
    check_weight_dtype,
    count_product,
    fmt_shape,
    same_dims,
)
from .examples import Input as I
from .examples import LayerExample as L


def _linear_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    if x.rank < 1:
        raise ShapeError("Linear expects an input with at least 1 dim, found a scalar", code="rank-mismatch")
    check_float(x, "Linear")
    check_weight_dtype(x, "Linear")
    inferred = check_inferred(args, "in_features", x.shape[-1], "input features")
    return Tensor((*x.shape[:-1], args["out_features"]), x.dtype), inferred


def _bilinear_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    x1, x2 = inputs
    for x in inputs:
        check_float(x, "Bilinear")
        check_weight_dtype(x, "Bilinear")
        if x.rank < 1:
            raise ShapeError("Bilinear expects inputs with at least 1 dim", code="rank-mismatch")
    if x1.rank != x2.rank or not all(same_dims(a, b) for a, b in zip(x1.shape[:-1], x2.shape[:-1], strict=True)):
        raise ShapeError(f"Bilinear inputs must agree on all but the last dim, found {fmt_shape(x1.shape)} "
                         f"and {fmt_shape(x2.shape)}")
    inferred = check_inferred(args, "in1_features", x1.shape[-1], "features in input 1")
    inferred |= check_inferred(args, "in2_features", x2.shape[-1], "features in input 2")
    return Tensor((*x1.shape[:-1], args["out_features"]), x1.dtype), inferred


def _embedding_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    if x.dtype not in ("int64", "int32"):
        raise ShapeError(f"Embedding expects int64 or int32 indices, found a {x.dtype} input", code="dtype-mismatch",
                         hint="declare the input as {shape: [...], dtype: int64}")
    _embedding_check(args)
    return Tensor((*x.shape, args["embedding_dim"]), MODULE_DTYPE), {}


def _embedding_check(args: dict[str, Any]) -> None:
    """nn.Embedding asserts this in its constructor, so it holds for an Embedding forward never calls too."""
    padding_idx = args.get("padding_idx")
    n = args["num_embeddings"]
    if padding_idx is not None and not -n <= padding_idx < n:
        raise ShapeError(f"padding_idx {padding_idx} is outside -{n}..{n - 1}", "padding_idx",
                         hint=f"use an index below num_embeddings ({n})")


def _embedding_bag_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """F.embedding_bag called with one tensor: a 2-D (B, N) int64 or int32 input, B bags of N indices each ->
    (B, embedding_dim) in the weights' dtype.  (The 1-D input + offsets form takes a second tensor.)"""
    (x,) = inputs
    if x.dtype not in ("int64", "int32"):
        raise ShapeError(f"EmbeddingBag expects int64 or int32 indices, found a {x.dtype} input", code="dtype-mismatch",
                         hint="declare the input as {shape: [...], dtype: int64}")
    if x.rank != 2:
        hint = "a 1-D input needs offsets (a second tensor), which netspec cannot pass yet" if x.rank == 1 else None
        raise ShapeError(f"EmbeddingBag expects a 2-D input (bags, indices per bag), found {fmt_shape(x.shape)}",
                         code="rank-mismatch", hint=hint)
    if x.shape[1] == 0:  # the offsets torch makes step by the bag size, and a step of 0 is refused
        raise ShapeError(f"EmbeddingBag's input {fmt_shape(x.shape)} has empty bags (dim 1 is 0)",
                         code="output-too-small")
    _embedding_bag_check(args)
    return Tensor((x.shape[0], args["embedding_dim"]), MODULE_DTYPE), {}


def _embedding_bag_check(args: dict[str, Any]) -> None:
    """nn.EmbeddingBag's padding_idx assertion, and F.embedding_bag's refusals for mode 'max' (on every call)."""
    _embedding_check(args)
    if args.get("mode", "mean") == "max":
        for name, what in (("scale_grad_by_freq", "scaling the gradient by the frequency"),
                           ("sparse", "sparse weights")):
            if args.get(name, False):
                raise ShapeError(f"EmbeddingBag's mode 'max' does not support {what} ({name}: true)", name,
                                 "bad-value", "use mode 'sum' or 'mean', or leave it false")


def _linear_macs(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Any:
    """addmm/mm over the flattened leading dims: every output element is in_features multiply-adds."""
    return count_product((*out.shape, args["in_features"]))


REGISTRY.add_layer(LayerType(
    name="Linear", family="linear", rule=_linear_rule, factory=True, positional=2, macs=_linear_macs,
    count=lambda a: a["in_features"] * a["out_features"] + (a["out_features"] if a.get("bias", True) else 0),
    summary="y = x W^T + b over the last dim; in_features is inferred",
    args=(Arg("in_features", PosInt, inferred=True), Arg("out_features", PosInt), Arg("bias", Bool, True)),
))
REGISTRY.add_layer(LayerType(
    name="Bilinear", family="linear", rule=_bilinear_rule, factory=True, positional=3, n_inputs=2,
    count=lambda a: a["in1_features"] * a["in2_features"] * a["out_features"]
    + (a["out_features"] if a.get("bias", True) else 0),
    summary="y = x1^T A x2 + b, called with two inputs; in1/in2_features are inferred",
    args=(Arg("in1_features", PosInt, inferred=True), Arg("in2_features", PosInt, inferred=True),
          Arg("out_features", PosInt), Arg("bias", Bool, True)),
))
REGISTRY.add_layer(LayerType(
    name="Embedding", family="linear", rule=_embedding_rule, check=_embedding_check, factory=True, positional=2,
    count=lambda a: a["num_embeddings"] * a["embedding_dim"],
    summary="a lookup table; the input holds integer indices",
    args=(
        Arg("num_embeddings", PosInt),
        Arg("embedding_dim", PosInt),
        Arg("padding_idx", AnyInt | None, None),
        Arg("max_norm", PosReal | None, None),
        Arg("norm_type", PosReal, 2.0),
        Arg("scale_grad_by_freq", Bool, False),
        Arg("sparse", Bool, False),
    ),
))
REGISTRY.add_layer(LayerType(
    name="EmbeddingBag", family="linear", rule=_embedding_bag_rule, check=_embedding_bag_check, factory=True,
    positional=2, count=lambda a: a["num_embeddings"] * a["embedding_dim"],
    summary="sums, averages or takes the max of each bag of embeddings; a 2-D index input (B, N) gives (B, "
            "embedding_dim)",
    args=(
        Arg("num_embeddings", PosInt),
        Arg("embedding_dim", PosInt),
        Arg("max_norm", PosReal | None, None),
        Arg("norm_type", PosReal, 2.0),
        Arg("scale_grad_by_freq", Bool, False),
        Arg("mode", Literal["sum", "mean", "max"], "mean", doc="How each bag is reduced: 'sum', 'mean' or 'max'."),
        Arg("sparse", Bool, False),
        Arg("include_last_offset", Bool, False, doc="If true, offsets has one more element, the end of the last "
            "bag (torch ignores it for a 2-D input)."),
        Arg("padding_idx", AnyInt | None, None, doc="If given, the entries at padding_idx do not contribute to the "
            "gradient or to the bag's reduction."),
    ),
))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

REGISTRY.add_examples(
    L("Linear", {"out_features": 10}, (I((2, 784)),)),
    L("Linear", {"in_features": 8, "out_features": 4, "bias": False}, (I((2, 3, 8)),), "3d-written"),
    # a float64 input into a Linear is refused: its weights are float32 (tests/hostile/value-dtype-linear-float64)
    L("Bilinear", {"out_features": 5}, (I((2, 3)), I((2, 4)))),
    L("Embedding", {"num_embeddings": 10, "embedding_dim": 3, "padding_idx": -1}, (I((2, 7), "int64"),)),
    L("Embedding", {"num_embeddings": 10, "embedding_dim": 3}, (I((7,), "int32"),), "int32"),
    L("EmbeddingBag", {"num_embeddings": 10, "embedding_dim": 3}, (I((2, 7), "int64"),)),
    L("EmbeddingBag", {"num_embeddings": 10, "embedding_dim": 4, "mode": "max", "padding_idx": -1},
      (I((5, 2), "int32"),), "max-int32"),
    L("EmbeddingBag", {"num_embeddings": 6, "embedding_dim": 2, "mode": "sum", "max_norm": 1.0, "norm_type": 1.0,
                       "scale_grad_by_freq": True, "sparse": True, "include_last_offset": True},
      (I((3, 4), "int64"),), "sum-options"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("Linear", {"in_features": 5, "out_features": 2}, (I((2, 4)),), "in-features-written-wrong"),
    L("Linear", {"out_features": 2}, (I((), "float32"),), "scalar", {"in_features": 1}),
    L("Embedding", {"num_embeddings": 4, "embedding_dim": 2}, (I((3,), "bool"),), "bool-indices"),
    L("Embedding", {"num_embeddings": 4, "embedding_dim": 2, "padding_idx": 4}, (I((3,), "int64"),), "padding-idx"),
    L("EmbeddingBag", {"num_embeddings": 4, "embedding_dim": 2}, (I((3,), "int64"),), "1d-without-offsets"),
    L("EmbeddingBag", {"num_embeddings": 4, "embedding_dim": 2}, (I((1, 2, 3), "int64"),), "3d"),
    L("EmbeddingBag", {"num_embeddings": 4, "embedding_dim": 2}, (I((2, 3), "float32"),), "float-indices"),
    L("EmbeddingBag", {"num_embeddings": 4, "embedding_dim": 2}, (I((2, 3), "bool"),), "bool-indices"),
    L("EmbeddingBag", {"num_embeddings": 4, "embedding_dim": 2, "padding_idx": -5}, (I((2, 3), "int64"),),
      "padding-idx"),
    L("EmbeddingBag", {"num_embeddings": 4, "embedding_dim": 2, "mode": "max", "sparse": True},
      (I((2, 3), "int64"),), "max-sparse"),
    L("EmbeddingBag", {"num_embeddings": 4, "embedding_dim": 2, "mode": "max", "scale_grad_by_freq": True},
      (I((2, 3), "int64"),), "max-scale-grad"),
    refused=True,
)
