"""How a spec's ``buffers:`` are filled: tensors a module holds and moves with ``.to()`` but does not train
(RoPE's inverse frequencies, a causal mask, position ids), each made by one whitelisted fill at build time.

Each fill has an argument model (the schema is generated from it), a shape rule (the shape follows from the
arguments, or is the one written), its default dtype, and its spelling in generated code.  Arguments may
be numbers or expressions over vars and block arguments (``dim: hidden_size // num_attention_heads``);
the rules see their values.  Pure Python: no torch.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._core import INT64_MAX, ShapeError
from .annotations import ArgsModel, ArgSpec, StrictBool, StrictFloat, StrictInt, StrictStr
from .init import FLOAT_MAX

Number = StrictInt | StrictFloat | StrictStr  # a string is an expression over vars and block arguments
Value = StrictBool | Number  # a fill value may be a flag: full with true and dtype bool is an all-True mask


def _model(name: str, doc: str, **fields: ArgSpec) -> ArgsModel:
    return ArgsModel(f"Buffer_{name}", fields, title=f"{name} buffer fill", description=doc)


@dataclass(frozen=True)
class BufferFill:
    name: str
    args: ArgsModel
    shape: Callable[[dict[str, Any], tuple[int, ...] | None], tuple[int, ...]]  # (arguments, written shape)
    dtype: str | None  # the default dtype; None: the module's floating dtype
    source: Callable[[dict[str, str], str, str], str]  # (argument texts, shape text, "device=..., dtype=...")
    doc: str
    check: Callable[[dict[str, Any], str], None] = lambda args, dtype: None  # torch's refusals for a dtype


def _no_bool(args: dict[str, Any], dtype: str) -> None:
    if dtype == "bool":
        raise ShapeError("torch has no arange of bool", "dtype", "bad-value", "make it int64 and compare it")


def _fits(args: dict[str, Any], dtype: str) -> None:
    if dtype in FLOAT_MAX and abs(args["value"]) > FLOAT_MAX[dtype]:
        raise ShapeError(f"{args['value']} does not fit in {dtype} (largest {FLOAT_MAX[dtype]:g})", "init", "bad-value")


def _written(fill: str, rank: int = 0) -> Callable[[dict[str, Any], tuple[int, ...] | None], tuple[int, ...]]:
    def rule(args: dict[str, Any], shape: tuple[int, ...] | None) -> tuple[int, ...]:
        if shape is None:
            raise ShapeError(f"the {fill} fill needs a shape", "shape", "missing-key", "add shape: [...]")
        if len(shape) < rank:
            raise ShapeError(f"the {fill} fill needs at least {rank} dims, found {list(shape)}", "shape",
                             "rank-mismatch")
        return shape
    return rule


def _checked(shape: tuple[int, ...], computed: tuple[int, ...], fill: str) -> tuple[int, ...]:
    if shape is not None and tuple(shape) != computed:
        raise ShapeError(f"the {fill} fill gives shape {list(computed)}, but shape says {list(shape)}", "shape",
                         "shape-mismatch", "leave shape out: it follows from the fill")
    return computed


def _int(args: dict[str, Any], name: str, fill: str, low: int = -INT64_MAX) -> int:
    value = args[name]
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= INT64_MAX:
        raise ShapeError(f"the {fill} fill's '{name}' expects an integer >= {low}, found {value!r}", name,
                         "bad-value")
    return value


def _number(args: dict[str, Any], name: str, fill: str) -> float:
    value = args[name]
    if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value):
        raise ShapeError(f"the {fill} fill's '{name}' expects a finite number, found {value!r}", name, "bad-value")
    return value


def _arange_shape(args: dict[str, Any], shape: tuple[int, ...] | None) -> tuple[int, ...]:
    start, end, step = (_int(args, n, "arange") for n in ("start", "end", "step"))
    if step == 0:
        raise ShapeError("the arange fill's 'step' must be nonzero", "step", "bad-value")
    if (end - start) * step < 0:  # torch: "upper bound and larger bound inconsistent with step sign"
        raise ShapeError(f"the arange fill goes from {start} to {end} by {step}: the step points away from the end",
                         "step", "bad-value")
    length = (end - start + step - (1 if step > 0 else -1)) // step
    return _checked(shape, (length,), "arange")  # type: ignore[arg-type]


def _rope_shape(args: dict[str, Any], shape: tuple[int, ...] | None) -> tuple[int, ...]:
    dim = _int(args, "dim", "rope", low=1)
    if _number(args, "theta", "rope") <= 0:
        raise ShapeError(f"the rope fill's 'theta' must be positive, found {args['theta']}", "theta", "bad-value")
    return _checked(shape, ((dim + 1) // 2,), "rope")  # type: ignore[arg-type]


def _full_shape(args: dict[str, Any], shape: tuple[int, ...] | None) -> tuple[int, ...]:
    if not isinstance(args["value"], bool):
        _number(args, "value", "full")
    return _written("full")(args, shape)


def _triangle_shape(fill: str) -> Callable[[dict[str, Any], tuple[int, ...] | None], tuple[int, ...]]:
    def rule(args: dict[str, Any], shape: tuple[int, ...] | None) -> tuple[int, ...]:
        _int(args, "diagonal", fill)
        return _written(fill, 2)(args, shape)
    return rule


_DIAGONAL = ArgSpec(Number, 0, "The diagonal: 0 the main one, > 0 above it, < 0 below.")
FILLS: dict[str, BufferFill] = {fill.name: fill for fill in (
    BufferFill("zeros", _model("zeros", "every element 0"), _written("zeros"), None,
               lambda a, shape, kw: f"torch.zeros({shape}, {kw})", "every element 0 (shape required)"),
    BufferFill("ones", _model("ones", "every element 1"), _written("ones"), None,
               lambda a, shape, kw: f"torch.ones({shape}, {kw})", "every element 1 (shape required)"),
    BufferFill("full", _model("full", "every element one value", value=ArgSpec(Value)), _full_shape, None,
               lambda a, shape, kw: f"torch.full({shape}, float({a['value']}), {kw})", "every element `value`",
               _fits),
    BufferFill("tril", _model("tril", "ones on and below a diagonal, zeros above", diagonal=_DIAGONAL),
               _triangle_shape("tril"), None,
               lambda a, shape, kw: f"torch.ones({shape}, {kw}).tril({a['diagonal']})",
               "ones on and below `diagonal` of the last two dims, zeros above: with dtype bool, a causal mask"),
    BufferFill("triu", _model("triu", "ones on and above a diagonal, zeros below", diagonal=_DIAGONAL),
               _triangle_shape("triu"), None,
               lambda a, shape, kw: f"torch.ones({shape}, {kw}).triu({a['diagonal']})",
               "ones on and above `diagonal` of the last two dims, zeros below"),
    BufferFill("arange", _model("arange", "start, start + step, ... up to end (not included)",
                                start=ArgSpec(Number, 0), end=ArgSpec(Number), step=ArgSpec(Number, 1)),
               _arange_shape, "int64",
               lambda a, shape, kw: f"torch.arange({a['start']}, {a['end']}, {a['step']}, {kw})",
               "`start`, `start + step`, ... below `end` (int64 unless dtype says otherwise): position ids", _no_bool),
    BufferFill("rope", _model("rope", "RoPE's inverse frequencies 1 / theta ** (arange(0, dim, 2) / dim)",
                              dim=ArgSpec(Number), theta=ArgSpec(Number, 10000.0)), _rope_shape, "float32",
               lambda a, shape, kw: (f"(1.0 / {_paren(a['theta'])} ** (torch.arange(0, {a['dim']}, 2, "
                                     f"dtype=torch.int64, device=device).float() / {_paren(a['dim'])}))"
                                     f".to({kw.split('dtype=', 1)[1]})"),
               "rotary embeddings' inverse frequencies `1 / theta ** (arange(0, dim, 2) / dim)`, computed in "
               "float32 as transformers computes `inv_freq` (float32 unless dtype says otherwise)"),
)}


def _paren(text: str) -> str:
    return text if text.replace(".", "").replace("_", "").isalnum() else f"({text})"


__all__ = ["FILLS", "BufferFill"]
