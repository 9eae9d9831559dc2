"""Initialisers of raw parameters (``params:`` entries' ``init``): in one place, each one's argument model (the
grammar and the JSON Schema are drawn from these), the checks torch makes when it runs (refused before build) and
its PyTorch spelling in generated code.  Pure Python: no torch here.
"""

from __future__ import annotations

import math
import sys
from typing import Annotated, Any, Literal, get_origin

from ._core import Real
from .annotations import ArgsModel, ArgSpec, Constraint, StrictFloat, StrictStr

# ---------------------------------------------------------------- argument models


# A number, or an expression over vars and block arguments (``value: layer_scale``): resolve evaluates it.
Expression = Annotated[StrictStr, Constraint(min_length=1, max_length=2_000)]
RealOrExpr = Real | Expression

_NORMAL = {"mean": ArgSpec(RealOrExpr, 0.0),
           "std": ArgSpec(Annotated[StrictFloat, Constraint(ge=0, allow_inf_nan=False)] | Expression, 1.0)}
Uniform = ArgsModel("Uniform", {"a": ArgSpec(RealOrExpr, 0.0), "b": ArgSpec(RealOrExpr, 1.0)})
Normal = ArgsModel("Normal", _NORMAL)
TruncNormal = ArgsModel("TruncNormal", {**_NORMAL, "a": ArgSpec(RealOrExpr, -2.0), "b": ArgSpec(RealOrExpr, 2.0)})
Constant = ArgsModel("Constant", {"value": ArgSpec(RealOrExpr)})
Kaiming = ArgsModel("Kaiming", {
    "a": ArgSpec(RealOrExpr, 0.0), "mode": ArgSpec(Literal["fan_in", "fan_out"], "fan_in"),
    "nonlinearity": ArgSpec(Literal["relu", "leaky_relu", "linear", "sigmoid", "tanh"], "leaky_relu")})
Xavier = ArgsModel("Xavier", {"gain": ArgSpec(RealOrExpr, 1.0)})


# Initialisers that take arguments, and those that take none (torch's factory functions).
INIT_ARGS: dict[str, ArgsModel] = {
    "uniform": Uniform, "normal": Normal, "trunc_normal": TruncNormal, "constant": Constant,
    "kaiming_uniform": Kaiming, "kaiming_normal": Kaiming, "xavier_uniform": Xavier, "xavier_normal": Xavier,
}
SIMPLE_INITS = ("randn", "rand", "zeros", "ones")
# The arguments that name a choice (Kaiming's mode and nonlinearity): a word, never an expression.
WORD_ARGS = frozenset(name for model in INIT_ARGS.values() for name, arg in model.fields.items()
                      if get_origin(arg.annotation) is Literal)

# ---------------------------------------------------------------- checks

# The largest finite value of each parameter dtype: torch refuses a fill or a uniform bound past it.
FLOAT_MAX = {"float32": 3.4028234663852886e38, "float64": sys.float_info.max, "float16": 65504.0,
             "bfloat16": 3.3895313892515355e38}
Problem = tuple[str, str, str | None]  # code, message, hint


def init_problem(init: str, args: dict[str, Any], shape: tuple[int, ...], dtype: str) -> Problem | None:
    """What torch would refuse when the initialiser runs at build time (its own argument checks)."""
    if init.startswith(("kaiming", "xavier")) and len(shape) < 2:
        return ("bad-init", f"{init} needs a parameter of at least 2 dims to compute fans, found {len(shape)}",
                "use normal or uniform for 1-D parameters")
    if init == "constant":
        return _within(dtype, "value", args["value"])
    if init == "uniform":
        return _range_problem(dtype, "uniform", args["a"], args["b"])
    if init == "trunc_normal":
        if args["std"] == 0:  # torch divides by std
            return "bad-value", "trunc_normal expects std > 0, found 0.0", "use normal with std 0 for a constant"
        if args["a"] > args["b"]:
            return "bad-value", f"trunc_normal expects a <= b, found a={args['a']}, b={args['b']}", "swap a and b"
    if init.startswith("kaiming") and args["nonlinearity"] == "leaky_relu":
        try:
            args["a"] ** 2  # calculate_gain squares the slope and overflows past ~1.3e154, as here
        except OverflowError:
            return ("bad-value", f"{init} expects a negative slope a whose square is finite, found {args['a']}",
                    "use a small slope such as 0.01")
    if init.startswith("xavier") and all(isinstance(d, int) for d in shape):  # a block's named sizes: per instance
        return _xavier_problem(init, args["gain"], shape, dtype)
    return None


def _xavier_problem(init: str, gain: float, shape: tuple[int, ...], dtype: str) -> Problem | None:
    if gain < 0:
        return "bad-value", f"{init} expects gain >= 0, found {gain}", "use a positive gain such as 1.0"
    if init == "xavier_uniform":
        receptive = math.prod(shape[2:])
        bound = gain * math.sqrt(6.0 / (shape[0] * receptive + shape[1] * receptive))
        if 2 * bound > FLOAT_MAX[dtype]:  # uniform_(-bound, bound) needs the span finite in the dtype
            return ("bad-value", f"xavier_uniform with gain {gain} draws from +-{bound:.3g}, past the {dtype} range "
                    f"(+-{FLOAT_MAX[dtype]:.4g})", "use a gain near 1.0")
    return None


def _range_problem(dtype: str, what: str, a: float, b: float) -> Problem | None:
    """uniform_'s checks: a <= b, both bounds finite in the dtype, and so is their difference."""
    if a > b:
        return "bad-value", f"{what} needs a <= b, found a={a}, b={b}", "swap a and b"
    for name, value in (("a", a), ("b", b)):
        problem = _within(dtype, name, value, what)
        if problem is not None:
            return problem
    if b - a > FLOAT_MAX[dtype]:
        return ("bad-value", f"{what} spans {b - a:.3g} (b - a), past the largest {dtype} ({FLOAT_MAX[dtype]:.4g})",
                "narrow the range")
    return None


def _within(dtype: str, name: str, value: float, what: str = "constant") -> Problem | None:
    if abs(value) <= FLOAT_MAX[dtype]:
        return None
    return ("bad-value", f"{what} {name} {value} is outside the {dtype} range (+-{FLOAT_MAX[dtype]:.4g})",
            f"use a value within +-{FLOAT_MAX[dtype]:.4g}, or give the parameter dtype: float64")


# ---------------------------------------------------------------- torch spelling


def init_source(init: str, args: dict[str, Any], shape: tuple[Any, ...], factory: str) -> str:
    """The expression generated code builds the tensor with: ``dims`` written out, ``factory`` the
    ``device=..., dtype=...`` keywords; every argument enters through ``repr``."""
    dims = ", ".join(str(d) for d in shape) if shape else "()"
    if init in SIMPLE_INITS:
        return f"torch.{init}({dims}, {factory})"
    if init == "constant":
        size = f"({dims},)" if len(shape) == 1 else f"({dims})"
        return f"torch.full({size}, {args['value']!r}, {factory})"
    if init in ("uniform", "normal"):
        first, second = (args["a"], args["b"]) if init == "uniform" else (args["mean"], args["std"])
        return f"torch.empty({dims}, {factory}).{init}_({first!r}, {second!r})"
    kwargs = "".join(f", {k}={v!r}" for k, v in args.items())
    return f"nn.init.{init}_(torch.empty({dims}, {factory}){kwargs})"


# nn.init's in-place spelling of each initialiser: the factory names fill as the factories draw.
_FILL_NAMES = {"randn": "normal", "rand": "uniform"}


def is_default_init_arg(init: str, name: str, value: Any) -> bool:
    """Whether ``value`` is the argument's default, which nn.init's functions share (left out when written)."""
    model = INIT_ARGS.get(init)
    field = model.fields.get(name) if model is not None else None
    if field is None or field.default is ...:
        return False
    return bool(value == field.default and type(value) is type(field.default))


def fill_source(init: str, target: str, args: dict[str, str]) -> str:
    """``nn.init.kaiming_normal_(m.weight, mode='fan_out')``: ``target`` filled in place; ``args`` the
    arguments to write, as source text (constant's value is nn.init's positional ``val``)."""
    if init == "constant":
        return f"nn.init.constant_({target}, {args['value']})"
    written = "".join(f", {k}={v}" for k, v in args.items())
    return f"nn.init.{_FILL_NAMES.get(init, init)}_({target}{written})"


__all__ = ["FLOAT_MAX", "INIT_ARGS", "SIMPLE_INITS", "WORD_ARGS", "Constant", "Kaiming", "Normal", "Problem",
           "TruncNormal", "Uniform", "Xavier", "fill_source", "init_problem", "init_source", "is_default_init_arg"]
