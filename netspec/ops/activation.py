"""Element-wise activations and (log-)softmax, as layers and as functional ops."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from ._core import REGISTRY, AnyInt, Arg, Bool, LayerType, Op, Real, Tensor, check_float, normalize_dim


def _elementwise(layer: str, args: tuple[Arg, ...], op: str, spelling: str, summary: str,
                 dtypes: str = "float") -> None:
    """``dtypes``: "float" (floating inputs only), "int" (integers too, not bool, kept as they are: relu) or
    "to_float" (any input; integers and bool come out float32: sigmoid, tanh)."""

    def check(x: Tensor, values: dict[str, Any]) -> Tensor:
        if values.get("dim") is not None:
            normalize_dim(values["dim"], x.rank)
        if x.is_float or (dtypes == "int" and x.dtype != "bool"):
            return x
        if dtypes == "to_float":
            return Tensor(x.shape, "float32")
        check_float(x, layer)
        return x

    def rule(values: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        return check(inputs[0], values), {}

    REGISTRY.add_layer(LayerType(name=layer, family="activation", args=args, rule=rule, summary=summary))
    REGISTRY.add_op(Op(name=op, family="activation", spelling=spelling, tensors=("input",), args=args,
                       rule=lambda bound: check(bound["input"], bound), method=not spelling.startswith("F."),
                       summary=f"functional {summary}"))


_INPLACE = Arg("inplace", Bool, False)
_elementwise("ReLU", (_INPLACE,), "relu", "F.relu", "max(x, 0)", dtypes="int")
_elementwise("ReLU6", (_INPLACE,), "relu6", "F.relu6", "min(max(x, 0), 6)", dtypes="int")
_elementwise("LeakyReLU", (Arg("negative_slope", Real, 0.01), _INPLACE), "leaky_relu", "F.leaky_relu",
             "x if x > 0 else negative_slope * x")
_elementwise("GELU", (Arg("approximate", Literal["none", "tanh"], "none"),), "gelu", "F.gelu",
             "Gaussian error linear unit")
_elementwise("SiLU", (_INPLACE,), "silu", "F.silu", "x * sigmoid(x)")
_elementwise("Sigmoid", (), "sigmoid", "torch.sigmoid", "logistic sigmoid", dtypes="to_float")
_elementwise("Tanh", (), "tanh", "torch.tanh", "hyperbolic tangent", dtypes="to_float")
# dim is required: PyTorch's implicit choice is deprecated and normalises over the batch of a 3-D input.
_elementwise("Softmax", (Arg("dim", AnyInt),), "softmax", "F.softmax", "softmax along dim")
_elementwise("LogSoftmax", (Arg("dim", AnyInt),), "log_softmax", "F.log_softmax", "log of softmax along dim")
