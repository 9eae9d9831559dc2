"""Symbolic dims as expressions: the text inference prints (``(H-2)//2+1``), read once into a checked tree.

A symbolic dim travels through the pipeline as its text (:data:`netspec.ops._core.Dim` is ``int | str``), the
form summaries, JSON and diagnostics show.  :class:`Sym` is that text read back, for whoever needs its
meaning: its free symbols, its value at concrete sizes, its terms and factors (``counts`` adds up
multiply-accumulates with it).  ``str(Sym.parse(text)) == text`` always: reading never reformats.

The grammar is what inference writes and nothing else: integer (and float) constants, symbols, ``+ - * / // %``,
unary minus, and ``floor``/``ceil``/``min``/``max`` calls; anything else is refused with ``ValueError`` when
read.  Nothing is ``eval``'d.  Pure Python: no torch.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

FUNCTIONS = ("floor", "ceil", "min", "max")
_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.FloorDiv: lambda a, b: a // b, ast.Div: lambda a, b: a / b, ast.Mod: lambda a, b: a % b,
}
_CALLS: dict[str, Callable[..., Any]] = {"floor": math.floor, "ceil": math.ceil, "min": min, "max": max}


class Unbound(KeyError):
    """A symbol the sizes given do not bind (its name is ``args[0]``)."""


class Sym:
    """A symbolic dim's expression: ``str()`` is the text it was read from, unchanged."""

    __slots__ = ("_node", "_source", "_whole")

    def __init__(self, source: str, node: ast.expr, whole: bool = False) -> None:
        self._source = source  # the whole text the node was read from (its positions count in it)
        self._node = node
        self._whole = whole  # the node is all of the text (outer parentheses included)

    @classmethod
    def parse(cls, text: str) -> Sym:
        """``text`` read as a dim expression; ValueError for anything outside the grammar."""
        try:
            node = ast.parse(text, mode="eval").body
        except SyntaxError as exc:
            raise ValueError(f"not a dim expression: {text!r}") from exc
        _check(node)
        return cls(text, node, whole=True)

    @property
    def text(self) -> str:
        """The text read (a part of a larger text: its own span, without the parentheses around it)."""
        if self._whole:
            return self._source
        return ast.get_source_segment(self._source, self._node) or ast.unparse(self._node)

    def __str__(self) -> str:
        return self.text

    def __repr__(self) -> str:
        return f"Sym({self.text!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sym) and self.text == other.text

    def __hash__(self) -> int:
        return hash(self.text)

    @property
    def free_symbols(self) -> frozenset[str]:
        return frozenset(n.id for n in ast.walk(self._node) if isinstance(n, ast.Name) and n.id not in FUNCTIONS)

    def terms(self) -> list[Sym]:
        """The addends of a sum (``a + b + c``: three), the expression itself otherwise."""
        return [Sym(self._source, n) for n in _flatten(self._node, ast.Add)]

    def factors(self) -> list[Sym]:
        """The factors of a product (``N*64*(H-2)``: three), the expression itself otherwise."""
        return [Sym(self._source, n) for n in _flatten(self._node, ast.Mult)]

    def value(self, sizes: Mapping[str, Any]) -> Any:
        """The value at ``sizes`` as Python computes it (``/`` true division, ``//`` and ``floor`` floor, a float
        constant a float); :class:`Unbound` for a symbol ``sizes`` leaves out."""
        return _value(self._node, sizes)

    def exact(self, sizes: Mapping[str, int]) -> Fraction | None:
        """The exact rational value over integers, or None: while a symbol is unbound, for a float constant, a
        ``floor`` call or a division by zero (what counting multiply-accumulates can rely on)."""
        return _exact(self._node, sizes)


def _check(node: ast.expr) -> None:
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return
    if isinstance(node, ast.Name):
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
        _check(node.left)
        _check(node.right)
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        _check(node.operand)
        return
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
            and not node.keywords and node.args):
        for arg in node.args:
            _check(arg)
        return
    raise ValueError(f"not a dim expression: {ast.unparse(node)!r}")


def _flatten(node: ast.expr, kind: type[ast.operator]) -> list[ast.expr]:
    if isinstance(node, ast.BinOp) and isinstance(node.op, kind):
        return _flatten(node.left, kind) + _flatten(node.right, kind)
    return [node]


def _value(node: ast.expr, sizes: Mapping[str, Any]) -> Any:
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        if node.id not in sizes:
            raise Unbound(node.id)
        return sizes[node.id]
    if isinstance(node, ast.BinOp):
        return _BINOPS[type(node.op)](_value(node.left, sizes), _value(node.right, sizes))
    if isinstance(node, ast.UnaryOp):
        value = _value(node.operand, sizes)
        return -value if isinstance(node.op, ast.USub) else value
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    return _CALLS[node.func.id](*(_value(a, sizes) for a in node.args))


def _exact(node: ast.expr, sizes: Mapping[str, int]) -> Fraction | None:
    if isinstance(node, ast.Constant):
        return Fraction(node.value) if type(node.value) is int else None
    if isinstance(node, ast.Name):
        return Fraction(sizes[node.id]) if node.id in sizes else None
    if isinstance(node, ast.UnaryOp):
        inner = _exact(node.operand, sizes)
        return None if inner is None or not isinstance(node.op, ast.USub) else -inner
    if isinstance(node, ast.BinOp):
        left, right = _exact(node.left, sizes), _exact(node.right, sizes)
        if left is None or right is None:
            return None
        if isinstance(node.op, ast.Add):
            return left + right
        if isinstance(node.op, ast.Sub):
            return left - right
        if isinstance(node.op, ast.Mult):
            return left * right
        if right == 0:
            return None
        if isinstance(node.op, ast.Mod):
            return left - right * math.floor(left / right)
        return left / right if isinstance(node.op, ast.Div) else Fraction(math.floor(left / right))
    assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
    values = [_exact(a, sizes) for a in node.args]
    known = [v for v in values if v is not None]
    if len(known) < len(values) or node.func.id == "floor" or (node.func.id == "ceil" and len(known) != 1):
        return None
    if node.func.id == "ceil":
        return Fraction(math.ceil(known[0]))
    return min(known) if node.func.id == "min" else max(known)


__all__ = ["FUNCTIONS", "Sym", "Unbound"]
