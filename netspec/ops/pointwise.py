"""Pointwise math and dtype conversions in forward: ``cos``, ``rsqrt``, ``pow``, ``x.float()``, ``x.to(dtype)``,
``triu``/``tril``, ``masked_fill``: the pieces of RoPE, RMSNorm and causal masks written by hand.

Each keeps its input's shape; the dtype rules are torch's (``cos`` of an integer tensor is float32,
``x.to(x.dtype)`` names the dtype another tensor has).  Pure Python: no torch.
"""

from __future__ import annotations

from typing import Any

from ._core import (
    DTYPE_NAMES,
    REGISTRY,
    AnyInt,
    Arg,
    DTypeName,
    Op,
    ShapeError,
    Tensor,
    broadcast,
    normalize_dim,
    promote_types,
)
from .examples import Code, Ref
from .examples import Input as I
from .examples import OpExample as O
from .init import FLOAT_MAX

X, M = Ref("x"), Ref("mask")


def dtype_arg(value: Any, name: str = "dtype") -> str:
    """A dtype argument as forward writes it: a dtype's name (``float32``) or a tensor's (``x.dtype``)."""
    if isinstance(value, DTypeName):
        return str(value)
    raise ShapeError(f"'{name}' expects a dtype ({', '.join(sorted(DTYPE_NAMES))} or x.dtype), found {value!r}",
                     name, "bad-value", "write the dtype's name unquoted: float32")


def dtype_or(bound: dict[str, Any], default: str) -> str:
    """The op's ``dtype`` argument when it is given, else ``default``."""
    return default if bound.get("dtype") is None else dtype_arg(bound["dtype"])


def _to_float(op: str, keep_bool: bool = False) -> Any:
    """torch's unary float functions: floating inputs keep their dtype, integers (and bool) become float32."""
    def rule(bound: dict[str, Any]) -> Tensor:
        x: Tensor = bound["input"]
        if x.dtype == "bool" and keep_bool:
            raise ShapeError(f"{op} expects a numeric tensor, found bool", code="dtype-mismatch")
        return x if x.is_float else Tensor(x.shape, "float32")
    return rule


for _name, _summary in (("cos", "cosine"), ("sin", "sine"), ("exp", "e to the x"), ("log", "natural logarithm"),
                        ("sqrt", "square root"), ("rsqrt", "1 / sqrt(x), RMSNorm's scale"),
                        ("reciprocal", "1 / x")):
    REGISTRY.add_op(Op(_name, "math", f"torch.{_name}", ("input",), (), _to_float(_name), method=True,
                       summary=f"{_summary}, elementwise (integers give float32)"))


def _abs(bound: dict[str, Any]) -> Tensor:
    x: Tensor = bound["input"]
    if x.dtype == "bool":
        raise ShapeError("abs expects a numeric tensor, found bool", code="dtype-mismatch")
    return x


def _pow(bound: dict[str, Any]) -> Tensor:
    """torch.pow(x, exponent): a number (bool counts as an integer) or a tensor, broadcast and promoted."""
    x: Tensor = bound["input"]
    exponent = bound["exponent"]
    if isinstance(exponent, Tensor):
        if x.dtype == "bool" and exponent.dtype == "bool":
            raise ShapeError("torch has no power of bool tensors", code="dtype-mismatch")
        return Tensor(broadcast(x.shape, exponent.shape), promote_types(x.dtype, exponent.dtype))
    if not isinstance(exponent, (int, float)):
        raise ShapeError(f"'exponent' expects a number or a tensor, found {exponent!r}", "exponent", "bad-value")
    if x.dtype == "bool" and isinstance(exponent, bool):
        raise ShapeError("pow expects a numeric tensor, found bool", code="dtype-mismatch")
    if x.is_float:
        return x
    if isinstance(exponent, float):
        return Tensor(x.shape, "float32")
    if exponent < 0:
        raise ShapeError(f"integers to negative integer powers are not allowed (found {x.dtype} ** {exponent})",
                         "exponent", "dtype-mismatch", "convert first: x.float().pow(...)")
    return Tensor(x.shape, "int64" if x.dtype == "bool" else x.dtype)


def _convert(dtype: str) -> Any:
    return lambda bound: Tensor(bound["input"].shape, dtype)


def _to(bound: dict[str, Any]) -> Tensor:
    """x.to(float32), x.to(y.dtype), or x.to(y): y's dtype (and device)."""
    target = bound["dtype"]
    dtype = target.dtype if isinstance(target, Tensor) else dtype_arg(target)
    return Tensor(bound["input"].shape, dtype)


def _type_as(bound: dict[str, Any]) -> Tensor:
    return Tensor(bound["input"].shape, bound["other"].dtype)


def _triangle(op: str) -> Any:
    def rule(bound: dict[str, Any]) -> Tensor:
        x: Tensor = bound["input"]
        if x.rank < 2:
            raise ShapeError(f"{op} expects a tensor with at least 2 dims, found {x.rank}", code="rank-mismatch")
        return x
    return rule


def _masked_fill(bound: dict[str, Any]) -> Tensor:
    """torch broadcasts the input and the bool mask together (the out-of-place form may grow the input)."""
    x, mask = bound["input"], bound["mask"]
    if mask.dtype != "bool":
        raise ShapeError(f"masked_fill expects a bool mask, found {mask.dtype}", "mask", "dtype-mismatch",
                         "compare first, or build the mask with dtype=bool")
    value = bound["value"]
    largest = FLOAT_MAX.get(x.dtype) or _INT_MAX.get(x.dtype)
    if largest is not None and abs(value) > largest:  # torch: "cannot be converted ... without overflow"
        raise ShapeError(f"{value} does not fit in {x.dtype} (largest {largest:g})", "value", "bad-value",
                         "for a mask that removes scores, a large negative value the dtype holds (-1e4 in float16)")
    return Tensor(broadcast(x.shape, mask.shape), x.dtype)


_NUMBER = bool | int | float
_INT_MAX = {"int32": 2**31 - 1, "int64": 2**63 - 1}


def _operand(value: Any, name: str) -> Tensor | None:
    if isinstance(value, Tensor):
        return value
    if isinstance(value, (int, float)):
        return None
    raise ShapeError(f"'{name}' expects a tensor or a number, found {value!r}", name, "bad-value")


def _where(bound: dict[str, Any]) -> Tensor:
    """torch.where(condition, input, other): the three broadcast; a number takes the tensor's dtype category."""
    cond = bound["condition"]
    if cond.dtype != "bool":
        raise ShapeError(f"where expects a bool condition, found {cond.dtype}", "condition", "dtype-mismatch",
                         "compare first: where(x > 0, x, 0.0)")
    a, b = _operand(bound["input"], "input"), _operand(bound["other"], "other")
    shape = cond.shape
    for t in (a, b):
        if t is not None:
            shape = broadcast(shape, t.shape)
    if a is not None and b is not None:
        dtype = promote_types(a.dtype, b.dtype)
    elif a is not None or b is not None:
        t = a if a is not None else b
        number = bound["other"] if a is not None else bound["input"]
        assert t is not None
        dtype = t.dtype if t.is_float or not isinstance(number, float) else "float32"
        if t.dtype == "bool" and isinstance(number, int) and not isinstance(number, bool):
            dtype = "int64"
    else:
        dtype = "float32" if any(isinstance(v, float) for v in (bound["input"], bound["other"])) else "int64"
    return Tensor(shape, dtype)


def _cumsum(bound: dict[str, Any]) -> Tensor:
    x: Tensor = bound["input"]
    if x.rank:
        normalize_dim(bound["dim"], x.rank)
    elif bound["dim"] not in (0, -1):
        raise ShapeError(f"dim {bound['dim']} is out of range for a 0-D tensor", "dim")
    return Tensor(x.shape, dtype_or(bound, x.dtype if x.is_float else "int64"))


def _clamp(bound: dict[str, Any]) -> Tensor:
    x: Tensor = bound["input"]
    low, high = bound.get("min"), bound.get("max")
    if low is None and high is None:
        raise ShapeError("clamp needs min or max (or both)", "min", "bad-value")
    if x.dtype == "bool":
        raise ShapeError("clamp expects a numeric tensor, found bool", code="dtype-mismatch")
    floats = any(isinstance(v, float) for v in (low, high))
    return Tensor(x.shape, x.dtype if x.is_float or not floats else "float32")

for _op in (
    Op("abs", "math", "torch.abs", ("input",), (), _abs, method=True, summary="absolute value, elementwise"),
    Op("pow", "math", "torch.pow", ("input",), (Arg("exponent", Any, doc="The exponent: a number or a tensor."),),
       _pow, method=True, raw_args=("exponent",),
       summary="x to a power, elementwise (x.pow(2) in RMSNorm's variance)"),
    Op("float", "math", "torch.Tensor.float", ("input",), (), _convert("float32"), method=True,
       summary="the tensor as float32"),
    Op("double", "math", "torch.Tensor.double", ("input",), (), _convert("float64"), method=True,
       summary="the tensor as float64"),
    Op("half", "math", "torch.Tensor.half", ("input",), (), _convert("float16"), method=True,
       summary="the tensor as float16"),
    Op("bfloat16", "math", "torch.Tensor.bfloat16", ("input",), (), _convert("bfloat16"), method=True,
       summary="the tensor as bfloat16"),
    Op("to", "math", "torch.Tensor.to", ("input",), (Arg("dtype", Any, doc="The dtype to convert to: a dtype's "
                                                          "name (float32) or another tensor's (x.dtype)."),),
       _to, method=True, raw_args=("dtype",), summary="the tensor in another dtype: x.to(float32), x.to(y.dtype)"),
    Op("type_as", "math", "torch.Tensor.type_as", ("input", "other"), (), _type_as, method=True,
       summary="the tensor in other's dtype"),
    Op("contiguous", "tensor", "torch.Tensor.contiguous", ("input",), (), lambda b: b["input"], method=True,
       summary="the same values laid out contiguously (before .view of a transposed tensor)"),
    Op("triu", "math", "torch.triu", ("input",), (Arg("diagonal", AnyInt, 0, doc="The diagonal to consider."),),
       _triangle("triu"), method=True, summary="the upper triangle of the last two dims, the rest zeroed"),
    Op("tril", "math", "torch.tril", ("input",), (Arg("diagonal", AnyInt, 0, doc="The diagonal to consider."),),
       _triangle("tril"), method=True, summary="the lower triangle of the last two dims, the rest zeroed"),
    Op("where", "math", "torch.where", ("condition",),
       (Arg("input", Any, doc="Values where the condition is True: a tensor or a number."),
        Arg("other", Any, doc="Values where it is False: a tensor or a number.")), _where,
       raw_args=("input", "other"), summary="input where the bool condition holds, other elsewhere (broadcast)"),
    Op("cumsum", "math", "torch.cumsum", ("input",),
       (Arg("dim", AnyInt, doc="The dimension to do the operation over."),
        Arg("dtype", Any, None, doc="The dtype of the result (default: the input's; integers give int64).")),
       _cumsum, method=True, raw_args=("dtype",), keyword_only=("dtype",),
       summary="running sums along dim (RoBERTa's position ids: mask.cumsum(1))"),
    Op("clamp", "math", "torch.clamp", ("input",),
       (Arg("min", AnyInt | float | None, None, doc="Lower bound (null: none)."),
        Arg("max", AnyInt | float | None, None, doc="Upper bound (null: none).")), _clamp, method=True,
       summary="values limited to [min, max]"),
    Op("masked_fill", "math", "torch.masked_fill", ("input", "mask"),
       (Arg("value", _NUMBER, doc="The value to fill in where mask is True."),), _masked_fill, method=True,
       summary="value where the bool mask (broadcast to the input) is True"),
):
    REGISTRY.add_op(_op)

_SQUARE = {"x": I((2, 3, 4, 4))}
REGISTRY.add_examples(
    *(O(name, (X,)) for name in ("cos", "sin", "exp", "sqrt", "rsqrt", "reciprocal", "abs")),
    O("log", (X,), inputs={"x": I((2, 3), "int64")}, label="int64"),
    O("cos", (X,), inputs={"x": I((2, 3), "bool")}, label="bool"),
    O("pow", (X, 2)), O("pow", (X, 0.5), inputs={"x": I((2, 3), "int64")}, label="int-float"),
    O("pow", (X, 3), inputs={"x": I((2, 3), "int32")}, label="int"),
    O("pow", (X, Ref("y")), inputs={"x": I((2, 3), "int64"), "y": I((3,), "float64")}, label="tensor"),
    O("pow", (X, True), inputs={"x": I((2, 3), "int64")}, label="bool-exponent"),
    O("float", (X,), inputs={"x": I((2, 3), "int64")}), O("double", (X,)), O("half", (X,)), O("bfloat16", (X,)),
    O("to", (X, Code("float64"))), O("to", (X, Code("int32")), label="int32"),
    O("type_as", (X, Ref("y")), inputs={"x": I((2, 3)), "y": I((4,), "float64")}),
    O("contiguous", (X,)),
    O("triu", (X,), inputs=_SQUARE), O("tril", (X, -1), inputs=_SQUARE, label="diagonal"),
    O("tril", (X, 2), inputs={"x": I((3, 5))}, label="wide"),
    O("masked_fill", (X, M, -1.0), inputs={"x": I((2, 3, 4, 4)), "mask": I((4, 4), "bool")}),
    O("masked_fill", (X, M, 0.5), inputs={"x": I((2, 3), "int64"), "mask": I((3,), "bool")}, label="int"),
    O("masked_fill", (X, M, 1.0), inputs={"x": I((3,)), "mask": I((2, 3), "bool")}, label="mask-grows"),
    O("where", (M, X, 0.0), inputs={"x": I((2, 3)), "mask": I((3,), "bool")}),
    O("where", (M, X, Ref("y")), inputs={"mask": I((2, 1), "bool"), "x": I((3,), "int64"), "y": I((2, 3))},
      label="tensors"),
    O("where", (M, 1, 0), inputs={"mask": I((2, 3), "bool")}, label="numbers"),
    O("cumsum", (X, 1)), O("cumsum", (X, -1), inputs={"x": I((2, 3), "bool")}, label="bool"),
    O("cumsum", (X, 0), {"dtype": Code("float64")}, inputs={"x": I((4,), "int32")}, label="dtype"),
    O("clamp", (X, 0.0)), O("clamp", (X, None, 2), inputs={"x": I((2, 3), "int64")}, label="int"),
    O("clamp", (X, -1, 1.5), inputs={"x": I((2, 3), "int64")}, label="int-float"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    O("abs", (X,), inputs={"x": I((2, 3), "bool")}, label="bool"),
    O("pow", (X, -1), inputs={"x": I((2, 3), "int64")}, label="negative-int"),
    O("triu", (X,), inputs={"x": I((4,))}, label="1d"),
    O("masked_fill", (X, M, 1.0), inputs={"x": I((2, 3)), "mask": I((2, 3), "float32")}, label="float-mask"),
    O("masked_fill", (X, M, 1.0), inputs={"x": I((2, 3)), "mask": I((2, 4), "bool")}, label="mask-shape"),
    O("where", (M, X, 0.0), inputs={"x": I((2, 3)), "mask": I((2, 3), "float32")}, label="float-condition"),
    O("cumsum", (X, 3), inputs={"x": I((2, 3))}, label="dim"),
    O("clamp", (X,), inputs={"x": I((2, 3))}, label="no-bounds"),
    refused=True,
)

__all__ = ["dtype_arg", "dtype_or"]
