"""The one table of binary operators: what each one is in the spec (its symbol), in Python's
:mod:`ast` (the node a parser sees and codegen writes), in torch (its name, as ``torch.add``, and the
functions a traced module calls) and in which language it is allowed.

Two languages read operators: ``forward`` steps (tensors and sizes: ``x + y``, ``q @ k``) and the
build-time expressions of vars and block arguments (numbers: ``c // 2``, ``n % 4``).  An operator
neither allows is still listed, so a refusal can quote it.  Pure Python: no torch here.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BinaryOperator:
    symbol: str  # as a spec writes it: "+"
    node: type[ast.operator]  # its ast node: ast.Add
    name: str  # torch's spelling (torch.add) and the graph's node type: "add"
    function: Callable[[Any, Any], Any]  # what a traced forward calls: operator.add
    in_place: Callable[[Any, Any], Any] | None  # the in-place form a traced forward calls (x += y), if torch has one
    forward: bool  # allowed in forward steps
    build: bool  # allowed in build-time expressions (vars, block arguments)


OPERATORS: tuple[BinaryOperator, ...] = (
    BinaryOperator("+", ast.Add, "add", operator.add, operator.iadd, forward=True, build=True),
    BinaryOperator("-", ast.Sub, "sub", operator.sub, operator.isub, forward=True, build=True),
    BinaryOperator("*", ast.Mult, "mul", operator.mul, operator.imul, forward=True, build=True),
    BinaryOperator("/", ast.Div, "div", operator.truediv, operator.itruediv, forward=True, build=True),
    BinaryOperator("@", ast.MatMult, "matmul", operator.matmul, None, forward=True, build=False),  # no in-place matmul
    BinaryOperator("//", ast.FloorDiv, "floor_divide", operator.floordiv, operator.ifloordiv, forward=True,
                   build=True),
    BinaryOperator("%", ast.Mod, "remainder", operator.mod, operator.imod, forward=True, build=True),
    BinaryOperator("**", ast.Pow, "pow", operator.pow, operator.ipow, forward=True, build=False),
    BinaryOperator("<<", ast.LShift, "bitwise_left_shift", operator.lshift, None, forward=False, build=False),
    BinaryOperator(">>", ast.RShift, "bitwise_right_shift", operator.rshift, None, forward=False, build=False),
    BinaryOperator("|", ast.BitOr, "bitwise_or", operator.or_, operator.ior, forward=True, build=False),
    BinaryOperator("&", ast.BitAnd, "bitwise_and", operator.and_, operator.iand, forward=True, build=False),
    BinaryOperator("^", ast.BitXor, "bitwise_xor", operator.xor, operator.ixor, forward=True, build=False),
)
# Operators on bool and integer tensors only (masks): torch has no float bitwise_and.
BITWISE = frozenset({"|", "&", "^"})


@dataclass(frozen=True)
class Comparison:
    """A comparison forward may write on tensors (``ids != pad``): elementwise, a bool tensor."""

    symbol: str
    node: type[ast.cmpop]
    name: str  # torch's spelling: torch.eq
    function: Callable[[Any, Any], Any]


COMPARISONS: tuple[Comparison, ...] = (
    Comparison("==", ast.Eq, "eq", operator.eq), Comparison("!=", ast.NotEq, "ne", operator.ne),
    Comparison("<", ast.Lt, "lt", operator.lt), Comparison("<=", ast.LtE, "le", operator.le),
    Comparison(">", ast.Gt, "gt", operator.gt), Comparison(">=", ast.GtE, "ge", operator.ge),
)
COMPARE_BY_SYMBOL: dict[str, Comparison] = {c.symbol: c for c in COMPARISONS}
FORWARD_COMPARISONS: dict[type[ast.cmpop], str] = {c.node: c.symbol for c in COMPARISONS}

BY_SYMBOL: dict[str, BinaryOperator] = {op.symbol: op for op in OPERATORS}
BY_NODE: dict[type[ast.operator], BinaryOperator] = {op.node: op for op in OPERATORS}
# The operators of each language, by ast node -> symbol.
FORWARD_OPERATORS: dict[type[ast.operator], str] = {op.node: op.symbol for op in OPERATORS if op.forward}
BUILD_OPERATORS: dict[type[ast.operator], str] = {op.node: op.symbol for op in OPERATORS if op.build}
# What a traced forward calls -> the symbol (dump reads fx graphs back): both forms of each forward operator.
TRACED_OPERATORS: dict[Callable[[Any, Any], Any], str] = {
    **{op.function: op.symbol for op in OPERATORS if op.forward},
    **{op.in_place: op.symbol for op in OPERATORS if op.forward and op.in_place is not None},
}


def operator_name(symbol: str) -> str:
    """torch's name of a forward operator or comparison (the graph's node type): ``add``, ``eq``."""
    return BY_SYMBOL[symbol].name if symbol in BY_SYMBOL else COMPARE_BY_SYMBOL[symbol].name


def operator_function(symbol: str) -> Callable[[Any, Any], Any]:
    return BY_SYMBOL[symbol].function if symbol in BY_SYMBOL else COMPARE_BY_SYMBOL[symbol].function


def symbol_of(node: type[ast.operator]) -> str:
    """The symbol of any Python binary operator (for messages); '?' for one not in the table."""
    op = BY_NODE.get(node)
    return op.symbol if op is not None else "?"


__all__ = ["BITWISE", "BUILD_OPERATORS", "BY_NODE", "BY_SYMBOL", "COMPARE_BY_SYMBOL", "COMPARISONS",
           "FORWARD_COMPARISONS", "FORWARD_OPERATORS", "OPERATORS", "TRACED_OPERATORS", "BinaryOperator", "Comparison",
           "operator_function", "operator_name", "symbol_of"]
