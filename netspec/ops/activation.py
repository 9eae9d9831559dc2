"""Element-wise activations and (log-)softmax, as layers and as functional ops."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from ._core import (
    REGISTRY,
    AnyInt,
    Arg,
    Bool,
    LayerType,
    Op,
    PosInt,
    Real,
    ShapeError,
    Tensor,
    check_float,
    check_weight_dtype,
    dim_floordiv,
    fmt_shape,
    normalize_dim,
    read_attribute,
)
from .examples import Input as I
from .examples import LayerExample as L
from .examples import OpExample as O
from .examples import X


def _elementwise(layer: str, args: tuple[Arg, ...], op: str, spelling: str, summary: str,
                 dtypes: str = "float", keyword_only: tuple[str, ...] = ()) -> None:
    """``dtypes``: "float" (floating inputs only), "int" (integers too, not bool, kept as they are: relu),
    "to_float" (any input; integers and bool come out float32: sigmoid, tanh) or "int_to_float" (integers come
    out float32, bool is refused: softsign, tanhshrink).  ``keyword_only``: arguments
    the functional form takes by keyword only."""

    def check(x: Tensor, values: dict[str, Any]) -> Tensor:
        if values.get("dim") is not None:
            normalize_dim(values["dim"], x.rank)
        if x.is_float or (dtypes == "int" and x.dtype != "bool"):
            return x
        if dtypes == "to_float" or (dtypes == "int_to_float" and x.dtype != "bool"):
            return Tensor(x.shape, "float32")
        check_float(x, layer)
        return x

    def rule(values: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        return check(inputs[0], values), {}

    REGISTRY.add_layer(LayerType(name=layer, family="activation", args=args, rule=rule, summary=summary))
    REGISTRY.add_op(Op(name=op, family="activation", spelling=spelling, tensors=("input",), args=args,
                       rule=lambda bound: check(bound["input"], bound), method=not spelling.startswith("F."),
                       summary=f"functional {summary}", keyword_only=keyword_only))


_INPLACE = Arg("inplace", Bool, False)
_elementwise("ReLU", (_INPLACE,), "relu", "F.relu", "max(x, 0)", dtypes="int")
_elementwise("ReLU6", (_INPLACE,), "relu6", "F.relu6", "min(max(x, 0), 6)", dtypes="int")
_elementwise("LeakyReLU", (Arg("negative_slope", Real, 0.01), _INPLACE), "leaky_relu", "F.leaky_relu",
             "x if x > 0 else negative_slope * x")
_elementwise("GELU", (Arg("approximate", Literal["none", "tanh"], "none"),), "gelu", "F.gelu",
             "Gaussian error linear unit", keyword_only=("approximate",))  # F.gelu(input, *, approximate)
_elementwise("SiLU", (_INPLACE,), "silu", "F.silu", "x * sigmoid(x)")
_elementwise("Sigmoid", (), "sigmoid", "torch.sigmoid", "logistic sigmoid", dtypes="to_float")
_elementwise("Tanh", (), "tanh", "torch.tanh", "hyperbolic tangent", dtypes="to_float")
# dim is required: PyTorch's implicit choice is deprecated and normalises over the batch of a 3-D input.
_SOFTMAX_DIM = "A dimension along which Softmax is computed (every slice along dim sums to 1)."
_elementwise("Softmax", (Arg("dim", AnyInt, doc=_SOFTMAX_DIM),), "softmax", "F.softmax", "softmax along dim")
_elementwise("LogSoftmax", (Arg("dim", AnyInt, doc="A dimension along which LogSoftmax is computed."),),
             "log_softmax", "F.log_softmax", "log of softmax along dim")


# ---------------------------------------------------------------- torchvision's classification activations


def _checked(layer: str, args: tuple[Arg, ...], op: str, summary: str, dtypes: str,
             check: Callable[[dict[str, Any]], None], op_check: Callable[[dict[str, Any]], None]) -> None:
    """As ``_elementwise``, for an activation whose arguments torch checks: ``check`` holds the nn constructor's
    constraint (run for every layer, reached or not), ``op_check`` the functional form's (run at the call)."""

    def dtype(x: Tensor) -> Tensor:
        if not (x.is_float or (dtypes == "int" and x.dtype != "bool")):
            check_float(x, layer)
        return x

    def rule(values: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        return dtype(inputs[0]), {}

    def op_rule(bound: dict[str, Any]) -> Tensor:
        op_check(bound)
        return dtype(bound["input"])

    REGISTRY.add_layer(LayerType(name=layer, family="activation", args=args, rule=rule, summary=summary,
                                 check=check))
    REGISTRY.add_op(Op(name=op, family="activation", spelling=f"F.{op}", tensors=("input",), args=args,
                       rule=op_rule, summary=f"functional {summary}"))


def _hardtanh_layer(values: dict[str, Any]) -> None:
    low, high = values.get("min_val", -1.0), values.get("max_val", 1.0)
    if not high > low:  # nn.Hardtanh asserts max_val > min_val
        raise ShapeError(f"Hardtanh needs max_val > min_val, found min_val {low} and max_val {high}", "max_val")


def _hardtanh_op(bound: dict[str, Any]) -> None:
    low, high = bound.get("min_val", -1.0), bound.get("max_val", 1.0)
    if low > high:  # F.hardtanh takes min_val == max_val, refuses min_val > max_val
        raise ShapeError(f"hardtanh needs min_val <= max_val, found min_val {low} and max_val {high}", "max_val")


def _celu_alpha(values: dict[str, Any]) -> None:
    if values.get("alpha", 1.0) == 0:
        raise ShapeError("CELU's alpha cannot be 0 (it divides by alpha)", "alpha")


_elementwise("Hardswish", (_INPLACE,), "hardswish", "F.hardswish", "x * relu6(x + 3) / 6")
_elementwise("Hardsigmoid", (_INPLACE,), "hardsigmoid", "F.hardsigmoid", "relu6(x + 3) / 6")
_elementwise("ELU", (Arg("alpha", Real, 1.0), _INPLACE), "elu", "F.elu",
             "x if x > 0 else alpha * (exp(x) - 1)")
_elementwise("SELU", (_INPLACE,), "selu", "F.selu", "scaled ELU with fixed alpha and scale (self-normalising)")
_checked("CELU", (Arg("alpha", Real, 1.0), _INPLACE), "celu", "max(0, x) + min(0, alpha * (exp(x / alpha) - 1))",
         "float", _celu_alpha, _celu_alpha)
_elementwise("Mish", (_INPLACE,), "mish", "F.mish", "x * tanh(softplus(x))")
# F.softplus is a builtin whose ATen schema names beta and threshold positionally
_elementwise("Softplus", (Arg("beta", Real, 1.0), Arg("threshold", Real, 20.0)), "softplus", "F.softplus",
             "log(1 + exp(beta * x)) / beta, linear above threshold")
_checked("Hardtanh", (Arg("min_val", Real, -1.0), Arg("max_val", Real, 1.0), _INPLACE), "hardtanh",
         "x clamped to [min_val, max_val]", "int", _hardtanh_layer, _hardtanh_op)


def _prelu_rule(values: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    check_float(x, "PReLU")
    check_weight_dtype(x, "PReLU")
    n = values.get("num_parameters", 1)
    if n != 1:
        if x.rank == 0:
            raise ShapeError(f"PReLU with num_parameters {n} expects an input with a channel dim, found a 0-D input",
                             "num_parameters", "rank-mismatch")
        channels = x.shape[1] if x.rank >= 2 else 1  # ATen: dim 1 holds the channels, 1 below 2-D
        if isinstance(channels, int) and channels != n:
            raise ShapeError(f"PReLU has {n} parameters, but the input {fmt_shape(x.shape)} has {channels} "
                             "channel(s) (dim 1)", "num_parameters",
                             hint=f"set num_parameters: {channels} or 1 (one slope shared by every channel)")
    return x, {}


def _prelu_read_back(module: Any, name: str) -> Any:
    if name == "init":
        return 0.25  # a value of the weight, not of the architecture: the state_dict carries it
    return read_attribute(module, name)


REGISTRY.add_layer(LayerType(
    name="PReLU", family="activation", rule=_prelu_rule, factory=True, read_back=_prelu_read_back,
    args=(Arg("num_parameters", PosInt, 1), Arg("init", Real, 0.25)),
    count=lambda values: int(values.get("num_parameters", 1)),
    summary="x if x > 0 else a * x, a learnt slope per channel (num_parameters: 1 or the channels, dim 1)"))


# ---------------------------------------------------------------- more of torch.nn's activations


def _softshrink_lambd(values: dict[str, Any]) -> None:
    if values.get("lambd", 0.5) < 0:  # ATen's softshrink_check: lambd in [0, max of the dtype]
        raise ShapeError(f"Softshrink needs lambd >= 0, found {values.get('lambd')}", "lambd")


def _rrelu_bounds(values: dict[str, Any]) -> None:
    lower, upper = values.get("lower", 0.125), values.get("upper", 1.0 / 3.0)
    if lower > upper:  # ATen, training or not: "Lower bound should be less than or equal to the upper bound"
        raise ShapeError(f"RReLU needs lower <= upper, found lower {lower} and upper {upper}", "upper")


def _float_rule(layer: str) -> Callable[[dict[str, Any], Sequence[Tensor]], tuple[Tensor, dict[str, Any]]]:
    def rule(values: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        check_float(inputs[0], layer)
        return inputs[0], {}

    return rule


def _glu(x: Tensor, dim: int, name: str) -> Tensor:
    check_float(x, name)
    if x.rank == 0:
        raise ShapeError(f"{name} halves a dim, and a 0-D input has none", "dim", "rank-mismatch")
    d = normalize_dim(dim, x.rank)
    size = x.shape[d]
    if isinstance(size, int) and size % 2:
        raise ShapeError(f"{name} halves dim {d}, which must be even, but it has size {size}", "dim",
                         hint="GLU splits dim into two halves, a * sigmoid(b)")
    return Tensor((*x.shape[:d], dim_floordiv(size, 2), *x.shape[d + 1:]), x.dtype)


def _softmax2d_rule(values: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
    (x,) = inputs
    if x.rank not in (3, 4):
        raise ShapeError(f"Softmax2d expects a 3-D or 4-D input ((N,) C, H, W), found {fmt_shape(x.shape)}",
                         code="rank-mismatch")
    check_float(x, "Softmax2d")
    return x, {}


_LAMBD = "The lambda value for the shrinkage formulation."
_elementwise("Softsign", (), "softsign", "F.softsign", "x / (1 + |x|)", dtypes="int_to_float")
_elementwise("Softmin", (Arg("dim", AnyInt, doc="A dimension along which Softmin is computed (every slice along dim "
                             "sums to 1)."),), "softmin", "F.softmin", "softmax of -x along dim")
_elementwise("Tanhshrink", (), "tanhshrink", "F.tanhshrink", "x - tanh(x)", dtypes="int_to_float")
_checked("Softshrink", (Arg("lambd", Real, 0.5, doc=_LAMBD + " Must be >= 0."),), "softshrink",
         "x - lambd if x > lambd, x + lambd if x < -lambd, else 0", "float", _softshrink_lambd, _softshrink_lambd)
_elementwise("Hardshrink", (Arg("lambd", Real, 0.5, doc=_LAMBD),), "hardshrink", "F.hardshrink",
             "x if |x| > lambd else 0")
_elementwise("Threshold", (Arg("threshold", Real, doc="The value to threshold at."),
                           Arg("value", Real, doc="The value to replace with."), _INPLACE),
             "threshold", "F.threshold", "x if x > threshold else value", dtypes="int")
# no functional twin: F.logsigmoid is a builtin with neither a signature nor an ATen schema of that name
REGISTRY.add_layer(LayerType(name="LogSigmoid", family="activation", args=(), rule=_float_rule("LogSigmoid"),
                             summary="log(sigmoid(x))"))
REGISTRY.add_layer(LayerType(
    name="GLU", family="activation", summary="a * sigmoid(b), a and b the two halves of dim",
    args=(Arg("dim", AnyInt, -1, doc="The dimension on which to split the input (halved in the output)."),),
    rule=lambda values, inputs: (_glu(inputs[0], values.get("dim", -1), "GLU"), {})))
REGISTRY.add_op(Op(name="glu", family="activation", spelling="F.glu", tensors=("input",),
                   args=(Arg("dim", AnyInt, -1, doc="The dimension on which to split the input (halved in the "
                             "output)."),),
                   rule=lambda bound: _glu(bound["input"], bound.get("dim", -1), "glu"),
                   summary="functional a * sigmoid(b), a and b the two halves of dim"))
REGISTRY.add_layer(LayerType(
    name="RReLU", family="activation", rule=_float_rule("RReLU"), check=_rrelu_bounds,
    summary="x if x >= 0 else a * x, a drawn from U(lower, upper) while training, (lower + upper) / 2 in eval",
    args=(Arg("lower", Real, 0.125), Arg("upper", Real, 1.0 / 3.0), _INPLACE)))
REGISTRY.add_layer(LayerType(name="Softmax2d", family="activation", args=(), rule=_softmax2d_rule,
                             summary="softmax over the channels (dim -3) at every location of a (N,) C, H, W input"))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch.

REGISTRY.add_examples(
    L("ReLU"), L("ReLU", {"inplace": True}, label="inplace"),
    L("ReLU", inputs=(I((2, 5), "int64"),), label="int64"),
    L("ReLU6"), L("LeakyReLU", {"negative_slope": 0.2}), L("GELU", {"approximate": "tanh"}), L("SiLU"),
    L("Sigmoid"), L("Sigmoid", inputs=(I((4,), "int32"),), label="int-to-float"), L("Tanh"),
    L("Softmax", {"dim": 1}), L("LogSoftmax", {"dim": -1}, inputs=(I((2, 10)),)),
    # torchvision's classification models
    L("Hardswish"), L("Hardsigmoid", {"inplace": True}), L("ELU", {"alpha": 0.5, "inplace": True}),
    L("SELU"), L("CELU", {"alpha": 2.0}), L("Mish"), L("Softplus", {"beta": 2.0, "threshold": 10.0}),
    L("Softplus", inputs=(I((2, 3), "float64"),), label="float64"),
    L("PReLU", {"num_parameters": 3}), L("PReLU", {"init": 0.1}, (I((4,)),), label="shared-1d"),
    L("Hardtanh", {"min_val": -2.0, "max_val": 2.0}), L("Hardtanh", inputs=(I((2, 5), "int64"),), label="int64"),
    O("relu", (X,)), O("relu6", (X,)), O("leaky_relu", (X, 0.1)), O("gelu", (X,), {"approximate": "tanh"}),
    O("silu", (X,)), O("sigmoid", (X,)), O("tanh", (X,)), O("softmax", (X,), {"dim": 1}),
    O("log_softmax", (X, -1)),
    O("hardswish", (X,)), O("hardsigmoid", (X,), {"inplace": True}), O("elu", (X, 0.5)), O("selu", (X,)),
    O("celu", (X,), {"alpha": 2.0}), O("mish", (X,)), O("softplus", (X, 2.0, 10.0)),
    O("hardtanh", (X, -0.5, 0.5)), O("hardtanh", (X,), inputs={"x": I((2, 3), "int32")}, label="int32"),
    # more of torch.nn
    L("LogSigmoid"), L("LogSigmoid", inputs=(I(()),), label="scalar"),
    L("Softsign"), L("Softsign", inputs=(I((2, 5), "int64"),), label="int-to-float"),
    L("Softmin", {"dim": 1}), L("Softmin", {"dim": -1}, (I((2, 10), "float64"),), "float64"),
    L("Tanhshrink"), L("Tanhshrink", inputs=(I((4,), "int32"),), label="int-to-float"),
    L("Softshrink"), L("Softshrink", {"lambd": 0.0}, label="zero"), L("Hardshrink", {"lambd": 0.25}),
    L("Hardshrink", {"lambd": -1.0}, label="negative-lambd"),
    L("Threshold", {"threshold": 0.1, "value": 20.0}),
    L("Threshold", {"threshold": 0.5, "value": 1.0, "inplace": True}, (I((2, 5), "int64"),), "int64"),
    L("GLU"), L("GLU", {"dim": 1}, (I((2, 6, 5)),), "dim"), L("GLU", {"dim": 0}, (I((4,)),), "1d"),
    L("RReLU"), L("RReLU", {"lower": 0.1, "upper": 0.1, "inplace": True}, label="equal-bounds"),
    L("Softmax2d"), L("Softmax2d", inputs=(I((3, 4, 5)),), label="3d"),
    O("softsign", (X,)), O("softsign", (X,), inputs={"x": I((2, 3), "int64")}, label="int-to-float"),
    O("softmin", (X, 1)), O("softmin", (X,), {"dim": -1}, label="kw"), O("tanhshrink", (X,)),
    O("softshrink", (X, 0.25)), O("hardshrink", (X,), {"lambd": 1.0}),
    O("threshold", (X, 0.5, 2.0)), O("threshold", (X, 1.0, 0.0), inputs={"x": I((2, 3), "int32")}, label="int32"),
    O("glu", (X,)), O("glu", (X, 1), inputs={"x": I((2, 4, 3))}, label="dim"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("Softmax", {"dim": 4}, label="dim"),
    L("GELU", inputs=(I((2, 3), "int64"),), label="int"),
    L("Hardtanh", {"min_val": 1.0, "max_val": 1.0}, label="empty-range"),
    L("CELU", {"alpha": 0.0}, label="alpha-zero"),
    L("Hardswish", inputs=(I((2, 3), "int64"),), label="int"),
    L("PReLU", {"num_parameters": 4}, label="channels"),
    L("PReLU", {"num_parameters": 3}, (I(()),), "scalar"),
    O("hardtanh", (X, 1.0, -1.0), label="min-over-max"),
    O("elu", (X,), inputs={"x": I((2, 3), "int64")}, label="int"),
    # more of torch.nn
    L("LogSigmoid", inputs=(I((2, 3), "int64"),), label="int"),
    L("Softsign", inputs=(I((2, 3), "bool"),), label="bool"),
    L("Tanhshrink", inputs=(I((2, 3), "bool"),), label="bool"),
    L("Softmin", {"dim": 4}, label="dim"), L("Softmin", {"dim": 1}, (I((2, 3), "int64"),), "int"),
    L("Softshrink", {"lambd": -0.5}, label="negative-lambd"),
    L("Hardshrink", inputs=(I((2, 3), "int64"),), label="int"),
    L("Threshold", {"threshold": 0.0, "value": 1.0}, (I((2, 3), "bool"),), "bool"),
    L("GLU", {"dim": 1}, label="odd"), L("GLU", {"dim": 0}, (I(()),), "scalar"),
    L("GLU", inputs=(I((2, 4), "int64"),), label="int"),
    L("RReLU", {"lower": 0.5, "upper": 0.1}, label="lower-over-upper"),
    L("RReLU", inputs=(I((2, 3), "int64"),), label="int"),
    L("Softmax2d", inputs=(I((3, 4)),), label="2d"), L("Softmax2d", inputs=(I((1, 2, 3, 4, 5)),), label="5d"),
    L("Softmax2d", inputs=(I((2, 3, 4), "int64"),), label="int"),
    O("softmin", (X, 4), label="dim"), O("softshrink", (X, -1.0), label="negative-lambd"),
    O("threshold", (X, 0.0, 1.0), inputs={"x": I((2, 3), "bool")}, label="bool"),
    O("glu", (X, 1), label="odd"), O("tanhshrink", (X,), inputs={"x": I((2, 3), "bool")}, label="bool"),
    refused=True,
)
