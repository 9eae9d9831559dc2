"""Counts over symbolic dims: multiply-accumulates and bytes, as an int or as the text of a sum of products.

A count that involves a symbolic dim is text (``N*200704``, ``H*(W-1)*2``): the ops' ``macs`` rules build
products with :func:`netspec.ops._core.count_product`; this module adds them up (like terms merged) and binds
symbols to numbers (``--batch 32`` binds ``N``), reading the text as a :class:`netspec.dims.Sym` and
evaluating it exactly, never with ``eval``.  Pure Python: no torch.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from functools import lru_cache

from ..dims import Sym
from ..ops import DTYPE_BYTES, Dim, count_product, paren

BATCH = "N"  # the symbol --batch binds, and that per-sample counts set to 1

_Term = tuple[int, tuple[str, ...]]
_INT_ONLY = frozenset({int})  # the types of counts that are all plain ints (no bool, no text)


def tensor_bytes(shape: Sequence[Dim], dtype: str) -> Dim:
    """Bytes a tensor of ``shape`` and ``dtype`` holds."""
    return count_product((*shape, DTYPE_BYTES.get(dtype, 4)))


def total(counts: Iterable[Dim], env: Mapping[str, int] | None = None) -> Dim:
    """The sum of ``counts``, with the symbols in ``env`` bound: an int once no symbol is left, else text."""
    counts = counts if isinstance(counts, (list, tuple)) else list(counts)
    if set(map(type, counts)) <= _INT_ONLY:  # static shapes: most sums, on every layer's row (every count an int)
        return sum(counts)
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


def _terms(count: Dim, env: Mapping[str, int]) -> Sequence[_Term]:
    if isinstance(count, int):
        return [(count, ())]
    if not env:
        return _unbound_terms(count)
    return _parsed_terms(count, env)


@lru_cache(maxsize=1024)
def _unbound_terms(count: str) -> tuple[_Term, ...]:
    """The terms of a count with no symbol bound: a summary adds up the same few counts thousands of times (a
    Sequential of 10,000 blocks), each read once."""
    return tuple(_parsed_terms(count, {}))


def _parsed_terms(count: str, env: Mapping[str, int]) -> list[_Term]:
    try:
        expression = Sym.parse(count)
    except ValueError:
        return [(1, (count,))]
    out: list[_Term] = []
    for term in expression.terms():
        coefficient = 1
        factors: list[str] = []
        for factor in term.factors():
            value = factor.exact(env)
            if value is None or value.denominator != 1:  # an unbound symbol or a fraction stays as text
                factors.append(paren(factor.text))
            else:
                coefficient *= int(value)
        out.append((coefficient, tuple(sorted(factors))))
    return out


__all__ = ["BATCH", "bind", "per_sample", "tensor_bytes", "total"]
