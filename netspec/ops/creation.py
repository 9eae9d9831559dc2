"""Tensors made in forward: ``arange(T, device=x.device)``, ``ones(T, T, dtype=bool, device=x.device)``,
``x.new_zeros(B, T)``: positions, masks and padding whose size is known only at run time.

A tensor made from nothing must be made on the device the module runs on, so the free functions require
``device=`` (a device read off a tensor, ``x.device``): a spec that forgets it would work on the CPU and fail
on the GPU, and netspec says so before it runs.  The ``new_*`` methods take their device (and by default
their dtype) from the tensor they are called on.  Sizes may be numbers or sizes read at run time.
Pure Python: no torch.
"""

from __future__ import annotations

import math
from typing import Any

from ._core import (
    REGISTRY,
    Arg,
    Device,
    Dim,
    Op,
    ShapeError,
    SymSize,
    Tensor,
    symbol,
)
from .examples import Code, Ref
from .examples import OpExample as O
from .pointwise import dtype_or

X = Ref("x")
_DEVICE_DOC = "The device to make the tensor on: a device read off a tensor (x.device)."
_DTYPE_DOC = "The dtype of the tensor (default: from the values, as torch's)."


def _device(bound: dict[str, Any]) -> None:
    value = bound.get("device")
    if isinstance(value, Device):
        return
    if value is None:
        raise ShapeError("without device= the tensor is made on the CPU, wherever the module runs", "device",
                         "missing-device",
                         "pass the device of a tensor it works with: device=x.device")
    raise ShapeError(f"'device' expects a tensor's device (x.device), found {value!r}", "device", "bad-value",
                     "a spec runs on whatever device its module is moved to: write device=x.device")


def _number(value: Any, name: str) -> Any:
    if isinstance(value, SymSize) or (isinstance(value, (int, float)) and not isinstance(value, bool)):
        if isinstance(value, float) and not math.isfinite(value):
            raise ShapeError(f"'{name}' must be finite, found {value}", name, "bad-value")
        return value
    raise ShapeError(f"'{name}' expects a number or a size, found {value!r}", name, "bad-value")


def _size(value: Any) -> tuple[Dim, ...]:
    """A size argument: one size or a list of them, each >= 0, numbers or sizes read at run time."""
    items = list(value) if isinstance(value, (list, tuple)) else [value]
    out: list[Dim] = []
    for item in items:
        if isinstance(item, SymSize):
            out.append(str(item))
        elif isinstance(item, int) and not isinstance(item, bool) and item >= 0:
            out.append(item)
        else:
            raise ShapeError(f"sizes are integers >= 0 or sizes read at run time, found {item!r}", "size",
                             "bad-value")
    return tuple(out)


def _arange(bound: dict[str, Any]) -> Tensor:
    _device(bound)
    start, end, step = bound["start"], bound.get("end"), bound.get("step", 1)
    if end is None:
        start, end = 0, start
    start, end, step = (_number(v, n) for v, n in ((start, "start"), (end, "end"), (step, "step")))
    if isinstance(step, SymSize) or step == 0:
        raise ShapeError("'step' must be a nonzero number", "step", "bad-value")
    floats = any(isinstance(v, float) for v in (start, end, step))
    dtype = dtype_or(bound, "float32" if floats else "int64")
    if dtype == "bool":
        raise ShapeError("torch has no arange of bool", "dtype", "bad-value", "make it int64 and compare it")
    return Tensor((_arange_length(start, end, step),), dtype)


def _arange_length(start: Any, end: Any, step: Any) -> Dim:
    if not isinstance(start, SymSize) and not isinstance(end, SymSize):
        length = math.ceil((end - start) / step)
        if length < 0:
            raise ShapeError(f"upper bound and step disagree: start={start}, end={end}, step={step}",
                             "step", "bad-value")
        return int(length)
    if step < 0 or isinstance(step, float) or isinstance(start, float) or isinstance(end, float):
        raise ShapeError("with a size read at run time, arange counts up in whole steps", "step", "bad-value")
    span = str(end) if start == 0 else f"{end}-{start}" if isinstance(start, int) else f"{end}-({start})"
    return span if step == 1 else symbol(f"({span}+{step - 1})//{step}")


def _value_dtype(value: Any) -> str:
    """torch.full's dtype for a fill value: bool, int64 or float32."""
    if isinstance(value, bool):
        return "bool"
    return "int64" if isinstance(value, int) else "float32"


def _factory(op: str, fill: float | None) -> Any:
    """zeros/ones (``fill`` the value, float32 by default) and full (the value given, its dtype by default)."""
    def rule(bound: dict[str, Any]) -> Tensor:
        _device(bound)
        default = "float32" if fill is not None else _value_dtype(bound["fill_value"])
        return Tensor(_size(bound["size"]), dtype_or(bound, default))
    return rule


def _new(bound: dict[str, Any]) -> Tensor:
    """x.new_zeros(...) and x.new_ones(...): x's dtype unless dtype is given."""
    x: Tensor = bound["input"]
    return Tensor(_size(bound["size"]), dtype_or(bound, x.dtype))


_SIZE = Arg("size", Any, doc="The sizes: integers, or sizes read off a tensor (T = x.size(1)).")
_DTYPE = Arg("dtype", Any, None, doc=_DTYPE_DOC)
_DEV = Arg("device", Any, None, doc=_DEVICE_DOC)
_VALUE = Arg("fill_value", bool | int | float, doc="The value every element has.")
_KW = ("dtype", "device")

for _op in (
    Op("arange", "creation", "torch.arange", (),
       (Arg("start", Any, doc="The first value (the end, when end is left out)."),
        Arg("end", Any, None, doc="The end, not included."), Arg("step", Any, 1, doc="The gap between values."),
        _DTYPE, _DEV), _arange, keyword_only=_KW, raw_args=("start", "end", "step", "dtype", "device"),
       summary="0, 1, ..., end - 1 (positions): arange(T, device=x.device)"),
    Op("zeros", "creation", "torch.zeros", (), (_SIZE, _DTYPE, _DEV), _factory("zeros", 0.0), keyword_only=_KW,
       raw_args=("size", "dtype", "device"), varargs=True, summary="a tensor of zeros"),
    Op("ones", "creation", "torch.ones", (), (_SIZE, _DTYPE, _DEV), _factory("ones", 1.0), keyword_only=_KW,
       raw_args=("size", "dtype", "device"), varargs=True,
       summary="a tensor of ones: ones(T, T, dtype=bool, device=x.device).tril() is a causal mask"),
    Op("full", "creation", "torch.full", (), (_SIZE, _VALUE, _DTYPE, _DEV), _factory("full", None),
       keyword_only=_KW, raw_args=("size", "dtype", "device"), summary="a tensor filled with one value"),
    Op("new_zeros", "creation", "torch.Tensor.new_zeros", ("input",), (_SIZE, _DTYPE), _new,
       method=True, varargs=True, keyword_only=("dtype",), raw_args=("size", "dtype"),
       summary="zeros on x's device, in x's dtype unless given"),
    Op("new_ones", "creation", "torch.Tensor.new_ones", ("input",), (_SIZE, _DTYPE), _new,
       method=True, varargs=True, keyword_only=("dtype",), raw_args=("size", "dtype"),
       summary="ones on x's device, in x's dtype unless given"),
):
    REGISTRY.add_op(_op)

_DEVICE = Code("x.device", "attr")
REGISTRY.add_examples(
    O("arange", (5,), {"device": _DEVICE}), O("arange", (2, 9, 3), {"device": _DEVICE}, label="step"),
    O("arange", (0.0, 1.0, 0.3), {"device": _DEVICE}, label="float"),
    O("arange", (0, 8, 2), {"dtype": Code("float32"), "device": _DEVICE}, label="dtype"),
    O("zeros", ([2, 3],), {"device": _DEVICE}), O("ones", ([4, 4],), {"dtype": Code("bool"), "device": _DEVICE}),
    O("full", ([2, 2], 7), {"device": _DEVICE}), O("full", ([3], True), {"device": _DEVICE}, label="bool"),
    O("new_zeros", (X, [2, 5])), O("new_ones", (X, [3]), {"dtype": Code("int64")}, label="dtype"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    O("arange", (0, 5, -1), {"device": _DEVICE}, label="wrong-way"),
    O("arange", (0, 5, 0), {"device": _DEVICE}, label="zero-step"),
    O("zeros", ([2, -1],), {"device": _DEVICE}, label="negative"),
    refused=True,
)

__all__: list[str] = []
