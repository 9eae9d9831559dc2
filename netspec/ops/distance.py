"""CosineSimilarity and PairwiseDistance: two inputs, broadcast against each other, reduced along one dim."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any

from ._core import (
    REGISTRY,
    AnyInt,
    Arg,
    Bool,
    LayerType,
    Real,
    ShapeError,
    Tensor,
    broadcast,
    fmt_shape,
    normalize_dim,
    promote_types,
    read_attribute,
)
from .annotations import Constraint, StrictFloat
from .examples import Input as I
from .examples import LayerExample as L

NonNegReal = Annotated[StrictFloat, Constraint(ge=0, allow_inf_nan=False)]


def _cosine_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """ATen's cosine_similarity: the inputs' common dtype (torch.result_type) must be floating point, an integer or
    bool input is converted to it; the broadcast shape less ``dim`` (wrapped against the broadcast rank)."""
    x1, x2 = inputs
    dtype = promote_types(x1.dtype, x2.dtype)
    if not Tensor((), dtype).is_float:
        raise ShapeError(f"CosineSimilarity expects a floating-point common dtype, found {x1.dtype} and {x2.dtype} "
                         f"(common dtype {dtype})", code="dtype-mismatch",
                         hint="convert one of the inputs to a float dtype first")
    shape = broadcast(x1.shape, x2.shape)
    dim = normalize_dim(args.get("dim", 1), len(shape))
    return Tensor(shape[:dim] + shape[dim + 1:], dtype), {}


def _pairwise_rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    """ATen's pairwise_distance: norm(x1 - x2 + eps, p) over the last dim of the broadcast shape (keepdim keeps it
    as 1; two 0-D inputs give a 0-D result either way); no bool input (bool subtraction); an integer difference is
    normed in float32."""
    x1, x2 = inputs
    if "bool" in (x1.dtype, x2.dtype):
        raise ShapeError(f"PairwiseDistance subtracts its inputs, and torch has no bool subtraction, found {x1.dtype} "
                         f"and {x2.dtype}", code="dtype-mismatch", hint="convert the bool input to a float dtype")
    dtype = promote_types(x1.dtype, x2.dtype)
    shape = broadcast(x1.shape, x2.shape)
    if not shape:
        return Tensor((), dtype if Tensor((), dtype).is_float else "float32"), {}
    if shape[-1] == 0 and args.get("p", 2.0) < 0:
        raise ShapeError(f"PairwiseDistance cannot take the {args['p']} norm over an empty last dim "
                         f"{fmt_shape(shape)}: a negative p has no value for no elements", "p", "output-too-small")
    out = (*shape[:-1], 1) if args.get("keepdim", False) else shape[:-1]
    return Tensor(out, dtype if Tensor((), dtype).is_float else "float32"), {}


REGISTRY.add_layer(LayerType(
    name="CosineSimilarity", family="distance", rule=_cosine_rule, n_inputs=2,
    summary="cosine similarity of two inputs along dim, called with both: `sim(x1, x2)`; they broadcast",
    args=(
        Arg("dim", AnyInt, 1, doc="Dimension where cosine similarity is computed."),
        Arg("eps", NonNegReal, 1e-8, doc="Small value to avoid division by zero."),
    ),
))
def _pairwise_read_back(module: Any, name: str) -> Any:
    """nn.PairwiseDistance keeps p as ``norm``."""
    return module.norm if name == "p" else read_attribute(module, name)


REGISTRY.add_layer(LayerType(
    name="PairwiseDistance", family="distance", rule=_pairwise_rule, n_inputs=2, read_back=_pairwise_read_back,
    summary="p-norm distance of two inputs over the last dim, called with both: `dist(x1, x2)`; they broadcast",
    args=(
        Arg("p", Real, 2.0, doc="The norm degree; it may be negative."),
        Arg("eps", Real, 1e-6, doc="Small value added to the difference to avoid division by zero."),
        Arg("keepdim", Bool, False, doc="Whether to keep the reduced last dim (as size 1)."),
    ),
))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

REGISTRY.add_examples(
    L("CosineSimilarity", inputs=(I((2, 5)), I((2, 5)))),
    L("CosineSimilarity", {"dim": -1, "eps": 1e-6}, (I((4, 2, 3)), I((2, 3))), "broadcast"),
    L("CosineSimilarity", {"dim": 0}, (I((3,), "int64"), I((3,), "float16")), "int-float16"),
    L("CosineSimilarity", {"dim": 0}, (I(()), I((3,))), "0d"),
    L("CosineSimilarity", {"dim": 1}, (I((2, 4, 3)), I((2, 1, 3), "float64")), "float64"),
    L("PairwiseDistance", inputs=(I((2, 5)), I((2, 5)))),
    L("PairwiseDistance", {"p": 1.0, "keepdim": True}, (I((2, 3, 4)), I((1, 3, 1))), "broadcast-keepdim"),
    L("PairwiseDistance", {"p": -1.0}, (I((4, 3), "int64"), I((3,), "int32")), "int"),
    L("PairwiseDistance", {"keepdim": True}, (I(()), I(())), "0d"),
    L("PairwiseDistance", {"eps": 0.0}, (I((3,), "bfloat16"), I((3,), "float16")), "mixed-half"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("CosineSimilarity", inputs=(I((2, 3)), I((2, 4))), label="broadcast"),
    L("CosineSimilarity", inputs=(I((3,)), I((3,))), label="dim"),
    L("CosineSimilarity", {"dim": 0}, (I((3,), "int64"), I((3,), "int32")), "int"),
    L("CosineSimilarity", {"dim": 0}, (I((3,), "bool"), I((3,), "bool")), "bool"),
    L("PairwiseDistance", inputs=(I((2, 3)), I((2, 4))), label="broadcast"),
    L("PairwiseDistance", inputs=(I((2, 3), "bool"), I((2, 3))), label="bool"),
    refused=True,
)
