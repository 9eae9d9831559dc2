"""Counts over symbolic dims: multiply-accumulates and bytes, as an int or as the text of a sum of products.

A count that involves a symbolic dim is text (``N*200704``, ``H*(W-1)*2``): the ops' ``macs`` rules build
products with :func:`netspec.ops._core.count_product`; this module adds them up (like terms merged) and binds
symbols to numbers (``--batch 32`` binds ``N``), reading the text with :mod:`ast` against a whitelist and
evaluating it exactly, never with ``eval``.  Pure Python: no torch.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Iterable, Mapping, Sequence
from fractions import Fraction

from .ops._core import DTYPE_BYTES, Dim, count_product, paren

BATCH = "N"  # the symbol --batch binds, and that per-sample counts set to 1

_Term = tuple[int, tuple[str, ...]]


def tensor_bytes(shape: Sequence[Dim], dtype: str) -> Dim:
    """Bytes a tensor of ``shape`` and ``dtype`` holds."""
    return count_product((*shape, DTYPE_BYTES.get(dtype, 4)))


def total(counts: Iterable[Dim], env: Mapping[str, int] | None = None) -> Dim:
    """The sum of ``counts``, with the symbols in ``env`` bound: an int once no symbol is left, else text."""
    merged: dict[tuple[str, ...], int] = {}
    for count in counts:
        for coefficient, factors in _terms(count, env or {}):
            merged[factors] = merged.get(factors, 0) + coefficient
    constant = merged.pop((), 0)
    terms = ["*".join(factors) + (f"*{c}" if c != 1 else "") for factors, c in merged.items() if c]
    if not terms:
        return constant
    return " + ".join(terms + ([str(constant)] if constant else []))


def bind(count: Dim, env: Mapping[str, int]) -> Dim:
    """``count`` with the symbols in ``env`` replaced by their values (``N*150`` with N=32 is 4800)."""
    return total([count], env)


def per_sample(count: Dim) -> Dim:
    """``count`` for one sample: the batch symbol bound to 1."""
    return bind(count, {BATCH: 1})


def _terms(count: Dim, env: Mapping[str, int]) -> list[_Term]:
    if isinstance(count, int):
        return [(count, ())]
    try:
        tree = ast.parse(count, mode="eval").body
    except SyntaxError:
        return [(1, (count,))]
    out: list[_Term] = []
    for term in _flatten(tree, ast.Add):
        coefficient = 1
        factors: list[str] = []
        for node in _flatten(term, ast.Mult):
            value = _value(node, env)
            if value is None:
                factors.append(paren(ast.get_source_segment(count, node) or ast.unparse(node)))
            else:
                coefficient *= value
        out.append((coefficient, tuple(sorted(factors))))
    return out


def _flatten(node: ast.expr, kind: type[ast.operator]) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, kind):
        return _flatten(node.left, kind) + _flatten(node.right, kind)
    return [node]


def _value(node: ast.expr, env: Mapping[str, int]) -> int | None:
    """An integer factor's value, or None while it holds an unbound symbol."""
    value = _eval(node, env)
    if value is None or value.denominator != 1:
        return None
    return int(value)


def _eval(node: ast.expr, env: Mapping[str, int]) -> Fraction | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int) and not isinstance(node.value, bool):
        return Fraction(node.value)
    if isinstance(node, ast.Name):
        return Fraction(env[node.id]) if node.id in env else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _eval(node.operand, env)
        return None if inner is None else -inner
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left, env), _eval(node.right, env)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if isinstance(node.op, (ast.Div, ast.FloorDiv)) and right != 0:
            return left / right if isinstance(node.op, ast.Div) else Fraction(math.floor(left / right))
        return None
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        values = [_eval(a, env) for a in node.args]
        if any(v is None for v in values) or not values:
            return None
        known = [v for v in values if v is not None]
        if node.func.id == "ceil" and len(known) == 1:
            return Fraction(math.ceil(known[0]))
        if node.func.id == "min":
            return min(known)
        if node.func.id == "max":
            return max(known)
    return None


__all__ = ["BATCH", "bind", "per_sample", "tensor_bytes", "total"]
