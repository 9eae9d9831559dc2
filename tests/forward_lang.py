"""Helpers for the differential tests of the forward language (tests/test_indexing.py, test_sizes.py,
test_forward_ops.py, test_buffers_ties.py): write a small spec, infer it, evaluate its symbolic output at
concrete sizes, and run torch on the same expression."""

from __future__ import annotations

import json
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import netspec
from netspec.dims import Sym
from netspec.errors import SpecError

REFUSED = "refused"
TORCH_ERRORS = (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError, AssertionError)


def spec(inputs: Mapping[str, Any], forward: Sequence[str], extra: str = "", name: str = "M") -> str:
    """A spec text; ``inputs`` maps a name to a shape list or to ``{shape:, dtype:}``; each forward step is
    written as a JSON string (valid YAML, so a ': ' or a '#' in a step stays in the step)."""
    lines = ["netspec: 1", f"name: {name}", "inputs:"]
    lines += [f"  {k}: {json.dumps(v)}" for k, v in inputs.items()]
    if extra:
        lines.append(extra.rstrip("\n"))
    lines.append("forward:")
    lines += [f"  - {json.dumps(step)}" for step in forward]
    return "\n".join(lines) + "\n"


def infer(text: str) -> tuple[Any, str]:
    """(shape, dtype) of the output, or (REFUSED, 'code message'); anything but SpecError propagates."""
    try:
        out = netspec.compile_string(text).inference.output
    except SpecError as exc:
        diag = exc.diagnostics[0] if getattr(exc, "diagnostics", None) else None
        return REFUSED, (f"{diag.code} {diag.message}" if diag is not None else str(exc))
    return tuple(out.shape), out.dtype


def refusal_code(text: str) -> str | None:
    try:
        netspec.compile_string(text)
    except SpecError as exc:
        return exc.diagnostics[0].code
    return None


def evaluate(shape: Sequence[int | str], sizes: Mapping[str, int]) -> tuple[int, ...]:
    return tuple(d if isinstance(d, int) else Sym.parse(d).value(sizes) for d in shape)


def torch_outcome(fn: Callable[[], Any]) -> tuple[Any, str]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            out = fn()
        except TORCH_ERRORS as exc:
            return REFUSED, f"{type(exc).__name__}: {str(exc).strip()[:200]}"
    return tuple(out.shape), str(out.dtype).removeprefix("torch.")
