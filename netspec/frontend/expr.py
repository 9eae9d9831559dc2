"""Build-time expressions: the arithmetic of ``vars``, block arguments, conditions and repeats.

``stride: "2 if i == 0 else 1"``, ``hidden: make_divisible(c * width, 8)``, ``if: stride != 1 or
inplanes != planes``: a small language read with :mod:`ast` against a whitelist and evaluated by
walking the tree, never by ``eval``.  Every value stays a bounded int, a finite float, a bool, a
short string, None or a short list of those, so no expression can run away with time or memory.
The same tree is written back as Python source for the generated ``__init__``.
"""

from __future__ import annotations

import ast
import functools
import inspect
import math
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..ops.operators import BUILD_OPERATORS, BY_SYMBOL, OPERATORS

INT64_MAX = 2**63 - 1
MAX_EXPR_CHARS = 2_000
MAX_EXPR_NODES = 500
MAX_LIST = 1_024
MAX_ITEMS = 10_000  # items of one value, nested lists included
MAX_LIST_DEPTH = 8
MAX_STR = 256

# characters of all the root's var values written out: generated code writes them (NETSPEC_VARS) and the
# summary prints them, so values that share a big list many times must not multiply into the output
MAX_WRITTEN = 1_000_000
MAX_COMPARED = 1_024  # items in all of a list that is compared (==, <, min, max): a comparison is one step

Value = Any  # int | float | bool | str | None | list[Value]


class ListValue(list):  # type: ignore[type-arg]
    """A list value with its size measured once, when it was made: ``items`` (its items in all, nested
    lists included, counted as often as they are used), ``depth`` (1 for a flat list) and ``chars`` (about
    how long it is written out).  Lists share their items (``[b, b, b]``), so walking a list again for
    every list built from it would make the work of a spec quadratic or worse; with the sizes kept, a new
    list is measured in the time of its own length.  A plain ``list`` in every other respect (it compares,
    prints, pickles and serialises as one); values are never changed in place.
    """

    __slots__ = ("chars", "depth", "items")

    items: int
    depth: int
    chars: int


def _measure(value: Value) -> tuple[int, int, int]:
    """(items, depth, chars) of a value that is either a scalar or a :class:`ListValue`."""
    if isinstance(value, ListValue):
        return value.items, value.depth, value.chars
    if isinstance(value, str):
        return 0, 0, len(value) + 2
    if value is None or isinstance(value, bool):
        return 0, 0, 5
    return 0, 0, len(repr(value))


def written_size(value: Value) -> int:
    """About how many characters ``value`` takes written out in full, in the time of one step for a measured
    value (a scalar or a :class:`ListValue`), of a walk for a plain list."""
    return _measure(sized(value))[2]


def _list_value(items: list[Value]) -> ListValue:
    """``items`` (scalars and ListValues) as a measured ListValue: work linear in ``len(items)``."""
    out = ListValue(items)
    total, depth, chars = len(items), 0, 2 * len(items) + 2
    for item in items:
        n, d, c = _measure(item)
        total += n
        depth = max(depth, d)
        chars += c
    out.items, out.depth, out.chars = total, depth + 1, chars
    return out


def sized(value: Value, what: str = "value") -> Value:
    """A value read from the spec (a var, a block argument, an override) as the evaluator keeps it: lists
    become measured :class:`ListValue` s (shared sublists measured once), numbers are checked finite and
    within 64 bits; anything else raises ExprError.  Literal lists are not held to the limits on the size
    of computed values: a literal is as long as the spec that writes it."""
    return _sized(value, what, {}, 0)


def _sized(value: Value, what: str, memo: dict[int, ListValue], depth: int) -> Value:
    if isinstance(value, ListValue):
        return value
    if isinstance(value, (list, tuple)):
        done = memo.get(id(value))
        if done is not None:
            return done
        if depth >= MAX_LIST_DEPTH:
            raise ExprError(f"{what} nests lists more than {MAX_LIST_DEPTH} deep", 0, code="too-deep")
        out = _list_value([_sized(v, what, memo, depth + 1) for v in value])
        memo[id(value)] = out  # the argument holds `value` alive, so its id is not reused meanwhile
        return out
    if value is None or isinstance(value, (bool, str)):
        return value
    if isinstance(value, int):
        if abs(value) > INT64_MAX:
            raise ExprError(f"{what} holds an integer outside the 64-bit range", 0, code="too-large")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExprError(f"{what} holds {value!r}, a number that is not finite", 0, code="bad-value",
                            hint="build-time values are finite numbers")
        return value
    raise ExprError(f"{what} holds {_kind(value)}, which an expression cannot use", 0, code="bad-value",
                    hint="vars and block arguments hold numbers, booleans, strings, null and lists of them")


class ExprError(Exception):
    """An expression that cannot be read or evaluated; ``col`` is 0-based within its text."""

    def __init__(self, message: str, col: int = 0, hint: str | None = None, code: str = "bad-expression"):
        super().__init__(message)
        self.message = message
        self.col = col
        self.hint = hint
        self.code = code


def make_divisible(value, divisor, min_value=None):  # type: ignore[no-untyped-def]  # written into generated code
    """Round value to a multiple of divisor, losing at most 10% (torchvision's _make_divisible)."""
    if min_value is None:
        min_value = divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


# name -> (callable, min args, max args); each is total on bounded inputs
FUNCTIONS: dict[str, tuple[Callable[..., Any], int, int]] = {
    "min": (min, 1, 8), "max": (max, 1, 8), "abs": (abs, 1, 1), "round": (round, 1, 1),
    "int": (int, 1, 1), "float": (float, 1, 1), "len": (len, 1, 1), "make_divisible": (make_divisible, 2, 3),
    "sum": (sum, 1, 2), "range": (range, 1, 3), "sqrt": (math.sqrt, 1, 1),
}
# Functions generated code reaches through a module it imports (``sqrt`` is ``math.sqrt`` there too).
MODULE_FUNCTIONS: dict[str, str] = {"sqrt": "math"}
MAX_RANGE = MAX_LIST  # items a range() may make: as many as a list written out may hold
# Generated code defines these at module level, as the very functions evaluated here: everything else
# above is a Python builtin.
HELPERS: dict[str, Callable[..., Any]] = {"make_divisible": make_divisible}


@functools.cache
def helper_source(name: str) -> str:
    """A helper's source for generated code: the function itself, read when codegen first needs it."""
    return inspect.getsource(HELPERS[name]).replace("  # type: ignore[no-untyped-def]  # written into generated code",
                                                    "")

_BINOPS = BUILD_OPERATORS  # the build-time language's operators, from the one table (ops/operators.py)
_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: lambda a, b: a == b, ast.NotEq: lambda a, b: a != b, ast.Lt: lambda a, b: a < b,
    ast.LtE: lambda a, b: a <= b, ast.Gt: lambda a, b: a > b, ast.GtE: lambda a, b: a >= b,
}


@dataclass(frozen=True)
class Expr:
    """A checked expression: its text, its tree and the names it reads."""

    text: str
    tree: ast.expr
    names: frozenset[str]

    def __str__(self) -> str:
        return self.text


@functools.lru_cache(maxsize=4096)  # the same few names and expressions are read again and again
def parse(text: str) -> Expr:
    """Read ``text`` as one expression of the build-time language, or raise ExprError.

    The result is shared (cached): its tree is never changed in place (:func:`to_python` copies it).
    """
    if len(text) > MAX_EXPR_CHARS:
        raise ExprError(f"expression is longer than {MAX_EXPR_CHARS} characters", 0, code="too-large")
    if not text.isascii():
        col = next(i for i, c in enumerate(text) if not c.isascii())
        raise ExprError(f"found {text[col]!r} in an expression: names and operators are ASCII", col)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tree = ast.parse(text.strip(), mode="eval").body
    except SyntaxError as exc:
        raise ExprError(f"cannot read expression {text!r}: {exc.msg}", max((exc.offset or 1) - 1, 0)) from None
    except (RecursionError, MemoryError):
        raise ExprError("expression nests too deeply", 0, code="too-deep") from None
    offset = len(text) - len(text.lstrip())
    names: set[str] = set()
    functions: set[int] = set()  # the Name nodes that name a function, not a value
    for count, node in enumerate(ast.walk(tree), 1):
        if count > MAX_EXPR_NODES:
            raise ExprError(f"expression has more than {MAX_EXPR_NODES} syntax nodes", 0, code="too-large")
        _check_node(node, offset)
        if isinstance(node, ast.Call):
            functions.add(id(node.func))
        elif isinstance(node, ast.Name) and id(node) not in functions:
            names.add(node.id)
    return Expr(text, tree, frozenset(names))


_NODE_NAMES: dict[type[ast.AST], str] = {
    ast.Attribute: "attribute access", ast.Lambda: "lambda", ast.Dict: "a dict",
    ast.Set: "a set", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension", ast.DictComp: "a comprehension",
    ast.GeneratorExp: "a generator", ast.JoinedStr: "an f-string", ast.Starred: "'*'", ast.NamedExpr: "':='",
    ast.Await: "await", ast.Yield: "yield", ast.YieldFrom: "yield", ast.Slice: "slicing", ast.Invert: "'~'",
    ast.Is: "'is'", ast.IsNot: "'is not'", ast.In: "'in'", ast.NotIn: "'not in'",
    **{op.node: f"'{op.symbol}'" for op in OPERATORS if not op.build},  # '**', '@', '<<'...: by the one table
}


def _check_node(node: ast.AST, offset: int) -> None:
    col = getattr(node, "col_offset", 0) + offset
    allowed = (ast.Constant, ast.Name, ast.BinOp, ast.UnaryOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
               ast.List, ast.Tuple, ast.Subscript, ast.Slice, ast.Load, ast.And, ast.Or, ast.Not, ast.USub, ast.UAdd,
               *_BINOPS, *_CMPOPS)
    if not isinstance(node, allowed):
        what = _NODE_NAMES.get(type(node), f"'{type(node).__name__}'")
        raise ExprError(f"{what} is not part of the expression language", col,
                        "use numbers, names, + - * / // %, comparisons, and/or/not, 'a if c else b', "
                        f"and {', '.join(FUNCTIONS)}")
    if isinstance(node, ast.Constant) and not (node.value is None or isinstance(node.value, (bool, int, float, str))):
        raise ExprError(f"constant {node.value!r} is not allowed", col)
    if isinstance(node, ast.Name) and (not node.id.isidentifier() or node.id.startswith("_")):
        raise ExprError(f"name '{node.id}' must start with a letter", col)
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name):
            raise ExprError("only the functions of the expression language can be called", col,
                            f"the functions are {', '.join(FUNCTIONS)}")
        if node.func.id not in FUNCTIONS:
            func = node.func.id
            from ..errors import did_you_mean
            raise ExprError(f"'{func}' is not a function of the expression language", col,
                            did_you_mean(func, FUNCTIONS) or f"the functions are {', '.join(FUNCTIONS)}")
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExprError(f"{node.func.id}() takes positional arguments only", col)
        low, high = FUNCTIONS[node.func.id][1:]
        if not low <= len(node.args) <= high:
            raise ExprError(f"{node.func.id}() takes {low}..{high} arguments, found {len(node.args)}", col)
    if isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Slice) and node.slice.step is not None:
        raise ExprError("slices with a step are not part of the expression language", col,
                        "slice a list as values[a:b]")


def list_expr(items: list[Any]) -> Expr:
    """One expression for a list written in YAML whose items are expressions (``["k", 3]`` reads as
    ``[k, 3]``): ``items`` are :class:`Expr` s, checked constants and such lists, nested."""
    def node(item: Any) -> ast.expr:
        if isinstance(item, Expr):
            return item.tree  # shared, never changed in place
        if isinstance(item, list):
            return ast.List([node(v) for v in item], ast.Load())
        return ast.Constant(item)

    def names(item: Any) -> frozenset[str]:
        if isinstance(item, Expr):
            return item.names
        if isinstance(item, list):
            return frozenset().union(*(names(v) for v in item))
        return frozenset()

    tree = node(items)
    return Expr(ast.unparse(tree), tree, names(items))


# ---------------------------------------------------------------- evaluation


def evaluate(expr: Expr, env: Mapping[str, Value]) -> Value:
    """The value of ``expr`` with names taken from ``env``; raises ExprError on any fault."""
    missing = sorted(expr.names - env.keys())
    if missing:
        from ..errors import did_you_mean
        raise ExprError(f"unknown name '{missing[0]}'", _col_of_name(expr, missing[0]),
                        did_you_mean(missing[0], env) or "use a block argument, a var or the repeat index",
                        code="undefined-name")
    return _ExprEvaluator(env).eval(expr.tree)


def _col_of_name(expr: Expr, name: str) -> int:
    offset = len(expr.text) - len(expr.text.lstrip())
    for node in ast.walk(expr.tree):
        if isinstance(node, ast.Name) and node.id == name:
            return node.col_offset + offset
    return 0


class _ExprEvaluator:
    def __init__(self, env: Mapping[str, Value]) -> None:
        self.env = env

    def eval(self, node: ast.expr) -> Value:
        if isinstance(node, ast.Constant):
            return _checked(node.value, node)
        if isinstance(node, ast.Name):
            return _admit(self.env[node.id], node)
        if isinstance(node, (ast.List, ast.Tuple)):
            return _checked([self.eval(e) for e in node.elts], node)
        if isinstance(node, ast.UnaryOp):
            value = self.eval(node.operand)
            if isinstance(node.op, ast.Not):
                return not _truth(value, node)
            _number(value, node, "unary minus")
            return _checked(-value if isinstance(node.op, ast.USub) else +value, node)
        if isinstance(node, ast.BoolOp):
            is_and = isinstance(node.op, ast.And)
            for item in node.values:
                truth = _truth(self.eval(item), item)
                if truth != is_and:
                    return truth
            return is_and
        if isinstance(node, ast.Compare):
            left = self.eval(node.left)
            for op, item in zip(node.ops, node.comparators, strict=True):
                right = self.eval(item)
                _comparable(node, left, right)
                try:
                    if not _CMPOPS[type(op)](left, right):
                        return False
                except TypeError:
                    raise ExprError(f"cannot compare {_kind(left)} with {_kind(right)}", node.col_offset) from None
                left = right
            return True
        if isinstance(node, ast.IfExp):
            return self.eval(node.body) if _truth(self.eval(node.test), node.test) else self.eval(node.orelse)
        if isinstance(node, ast.BinOp):
            return self.binop(node)
        if isinstance(node, ast.Subscript):
            return self.subscript(node)
        assert isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
        return self.call(node, node.func.id)

    def binop(self, node: ast.BinOp) -> Value:
        left, right = self.eval(node.left), self.eval(node.right)
        op = _BINOPS[type(node.op)]
        _number(left, node, f"'{op}'")
        _number(right, node, f"'{op}'")
        if op in ("/", "//", "%") and right == 0:
            raise ExprError(f"division by zero in '{op}'", node.col_offset)
        if op == "*" and _too_big(left) + _too_big(right) > 130:  # both past 2**65: the product cannot fit
            raise ExprError("arithmetic leaves the 64-bit range", node.col_offset, code="too-large")
        result = BY_SYMBOL[op].function(left, right)
        return _checked(result, node)

    def subscript(self, node: ast.Subscript) -> Value:
        if isinstance(node.slice, ast.Slice):  # values[a:b]: a list's items a..b-1, as Python slices
            base = self.eval(node.value)
            bounds = [None if b is None else self.eval(b) for b in (node.slice.lower, node.slice.upper)]
            if not isinstance(base, list):
                raise ExprError(f"only a list can be sliced, found {_kind(base)}", node.col_offset)
            for bound in bounds:
                if bound is not None and (not isinstance(bound, int) or isinstance(bound, bool)):
                    raise ExprError(f"slice bounds are integers, found {_kind(bound)}", node.col_offset)
            return _list_value(base[bounds[0]:bounds[1]])
        base, index = self.eval(node.value), self.eval(node.slice)
        if not isinstance(base, list):
            raise ExprError(f"only a list can be indexed, found {_kind(base)}", node.col_offset)
        if not isinstance(index, int) or isinstance(index, bool):
            raise ExprError(f"a list index is an integer, found {_kind(index)}", node.col_offset)
        if not -len(base) <= index < len(base):
            raise ExprError(f"index {index} is out of range for a list of {len(base)}", node.col_offset)
        return base[index]

    def call(self, node: ast.Call, name: str) -> Value:
        func = FUNCTIONS[name][0]
        args = [self.eval(a) for a in node.args]
        if name == "range":
            return _range(node, args)
        if name == "sum":
            return _sum(node, args)
        if name == "len":
            if not isinstance(args[0], (list, str)):
                raise ExprError(f"len() takes a list, found {_kind(args[0])}", node.col_offset)
        elif name in ("min", "max") and len(args) == 1:
            if not isinstance(args[0], list) or not args[0]:
                raise ExprError(f"{name}() of one argument takes a non-empty list", node.col_offset)
            _comparable(node, args[0])  # its items are compared with each other
        else:
            for i, arg in enumerate(args):
                if not (name == "make_divisible" and i == 2 and arg is None):  # min_value None: the divisor
                    _number(arg, node, f"{name}()")
            if name == "make_divisible" and args[1] <= 0:
                raise ExprError(f"make_divisible needs a positive divisor, found {args[1]}", node.col_offset)
        try:
            return _checked(func(*args), node)
        except (TypeError, ValueError, OverflowError) as exc:
            raise ExprError(f"{name}() failed: {exc}", node.col_offset) from None


def _range(node: ast.Call, args: list[Value]) -> Value:
    """``range(stop)``, ``range(start, stop[, step])`` as a list, at most MAX_RANGE items."""
    for arg in args:
        if not isinstance(arg, int) or isinstance(arg, bool):
            raise ExprError(f"range() takes integers, found {_kind(arg)}", node.col_offset)
    if len(args) == 3 and args[2] == 0:
        raise ExprError("range() step must not be zero", node.col_offset)
    span = range(*args)
    start, stop, step = span.start, span.stop, span.step
    length = max(0, (stop - start + step - (1 if step > 0 else -1)) // step)  # len() overflows past 2**63
    if length > MAX_RANGE:
        raise ExprError(f"range() would make {length:,} items, more than {MAX_RANGE:,}", node.col_offset,
                        code="too-large")
    return _list_value(list(span))


def _sum(node: ast.Call, args: list[Value]) -> Value:
    """``sum(list[, start])`` of numbers (a flat list)."""
    items, start = args[0], args[1] if len(args) == 2 else 0
    if not isinstance(items, list) or any(isinstance(v, (list, bool)) or not isinstance(v, (int, float))
                                          for v in items):
        raise ExprError("sum() takes a list of numbers", node.col_offset)
    _number(start, node, "sum()")
    return _checked(sum(items, start), node)


def _too_big(value: Value) -> int:
    if isinstance(value, int):
        return abs(value).bit_length()
    return int(math.log2(abs(value))) + 1 if value and math.isfinite(value) else (0 if not value else 1_024)


def _admit(value: Value, node: ast.Name) -> Value:
    """A name's value as the evaluator may use it: a finite number, a 64-bit integer, a boolean, a string,
    None, or a (measured) list of those; anything else is the expression's error at the name."""
    if value is None or isinstance(value, (bool, str, ListValue)):
        return value
    if isinstance(value, int) and abs(value) <= INT64_MAX:
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    try:
        return sized(value, f"'{node.id}'")  # a plain list (measured once here), or a value refused
    except ExprError as exc:
        raise ExprError(exc.message, node.col_offset, exc.hint, exc.code) from None


def _comparable(node: ast.AST, *values: Value) -> None:
    """Lists may be compared, but not big ones: a comparison must stay one small step of work."""
    for value in values:
        if isinstance(value, list) and _measure(_as_list_value(value))[0] > MAX_COMPARED:
            raise ExprError(f"cannot compare a list of more than {MAX_COMPARED:,} items in all",
                            getattr(node, "col_offset", 0), code="too-large")


def _as_list_value(value: list[Value]) -> ListValue:
    return value if isinstance(value, ListValue) else sized(value)


def _truth(value: Value, node: ast.AST) -> bool:
    if isinstance(value, list):
        raise ExprError("a list is not a condition", getattr(node, "col_offset", 0))
    return bool(value)


def _number(value: Value, node: ast.AST, what: str) -> None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        raise ExprError(f"{what} needs numbers, found {_kind(value)}", getattr(node, "col_offset", 0))


def _checked(value: Value, node: ast.AST) -> Value:
    col = getattr(node, "col_offset", 0)
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        if abs(value) > INT64_MAX:
            raise ExprError("integer leaves the 64-bit range", col, code="too-large")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ExprError("arithmetic gives a number that is not finite", col, code="too-large")
        return value
    if isinstance(value, str):
        if len(value) > MAX_STR:
            raise ExprError(f"string is longer than {MAX_STR} characters", col, code="too-large")
        return value
    if isinstance(value, list):
        if len(value) > MAX_LIST:
            raise ExprError(f"list is longer than {MAX_LIST} items", col, code="too-large")
        # Lists can share sublists (`[b, b, b]`), so a value's printed size could otherwise grow
        # exponentially in the expression: its items in all and its depth are bounded.  Its items are
        # measured values already, so this takes the time of its own length, never a walk of what it shares.
        try:
            out = value if isinstance(value, ListValue) else _list_value([
                item if isinstance(item, ListValue) or not isinstance(item, (list, tuple)) else sized(item)
                for item in value])
        except ExprError as exc:
            raise ExprError(exc.message, col, exc.hint, exc.code) from None
        if out.depth > MAX_LIST_DEPTH:
            raise ExprError(f"lists nest more than {MAX_LIST_DEPTH} deep", col, code="too-deep")
        if out.items > MAX_ITEMS:
            raise ExprError(f"a value holds more than {MAX_ITEMS:,} items in all", col, code="too-large")
        return out
    raise ExprError(f"unexpected value: {_kind(value)}", col)


def _kind(value: Value) -> str:
    if value is None:
        return "None"
    if isinstance(value, bool):
        return f"a boolean ({value})"
    if isinstance(value, (int, float)):
        return f"a number ({value})"
    if isinstance(value, str):
        return f"a string ({value!r})"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def check_value(value: Any, where: str = "value") -> Value:
    """A plain YAML value used where an expression could stand: the same bounds apply."""
    if isinstance(value, list):
        return _checked([check_value(v, where) for v in value], ast.Constant(None))
    return _checked(value, ast.Constant(None))


# ---------------------------------------------------------------- code


def to_python(expr: Expr, rename: Callable[[str], ast.expr] | None = None) -> str:
    """The expression as Python source; ``rename`` maps each name to the node generated code uses, and a
    function of MODULE_FUNCTIONS is written through its module (``math.sqrt``)."""
    if not rename and not modules_used(expr):
        return ast.unparse(expr.tree)
    tree = _copy(expr.tree)
    tree = _Renamer(rename).visit(tree) if rename else tree  # first: the module's name is not a variable
    return ast.unparse(_Qualifier().visit(tree))


def modules_used(expr: Expr) -> set[str]:
    """The modules generated code imports for this expression's functions (``math`` for ``sqrt``)."""
    return {MODULE_FUNCTIONS[node.func.id] for node in ast.walk(expr.tree) if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name) and node.func.id in MODULE_FUNCTIONS}


class _Qualifier(ast.NodeTransformer):
    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        if isinstance(node.func, ast.Name) and node.func.id in MODULE_FUNCTIONS:
            node.func = ast.Attribute(ast.Name(MODULE_FUNCTIONS[node.func.id], ast.Load()), node.func.id, ast.Load())
        return node


def _copy(tree: ast.expr) -> ast.expr:
    return ast.parse(ast.unparse(tree), mode="eval").body


class _Renamer(ast.NodeTransformer):
    def __init__(self, rename: Callable[[str], ast.expr]) -> None:
        self.rename = rename

    def visit_Name(self, node: ast.Name) -> ast.expr:
        return self.rename(node.id)

    def visit_Call(self, node: ast.Call) -> ast.expr:
        node.args = [self.visit(a) for a in node.args]  # the function name is not a variable
        return node


def helpers_used(expr: Expr) -> set[str]:
    return {node.func.id for node in ast.walk(expr.tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in HELPERS}


__all__ = [
    "FUNCTIONS",
    "HELPERS",
    "MAX_WRITTEN",
    "MODULE_FUNCTIONS",
    "Expr",
    "ExprError",
    "ListValue",
    "check_value",
    "evaluate",
    "helper_source",
    "helpers_used",
    "list_expr",
    "make_divisible",
    "modules_used",
    "parse",
    "sized",
    "to_python",
    "written_size",
]
