"""The grammar's words and discriminators: plain Python, shared by the models and the validators.

:mod:`netspec.frontend.models` writes the grammar as pydantic models with these names, tags and
functions; :mod:`netspec.frontend.schema` validates with the core schema made from them, in which
the functions below are the only code (named in :data:`FUNCTIONS`, so a cached core schema names
them and never holds code).
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection
from typing import Any

from ..ops import OPS
from .core import ValidationError

SPEC_VERSION = 1
IDENTIFIER_PATTERN = r"^[A-Za-z][A-Za-z0-9_]*$"
DTYPES = ("float32", "float64", "float16", "bfloat16", "int64", "int32", "bool")

SEQUENTIAL = "Sequential"
BARE = "bare"
SEQUENCE = "list"
BLOCK = "block"  # a layer whose type names a block (or a root var naming one): checked by resolve
GROUP = "group"  # a mapping with `layers` and no `type`: children spliced into the parent, repeated or not
EXPR = "expr"  # a forward step written as text

STEP_OPS = tuple(name for name, op in OPS.items() if len(op.tensors) == 1 and not op.tensors[0].startswith("*"))


class Expression(str):
    """A layer argument written as an expression (``planes * 4``): its value is known per instance.

    The grammar keeps it as text; :mod:`netspec.middle.resolve` reads it with :mod:`netspec.frontend.expr` and the
    value is checked against the argument's own type once it is known.
    """

    __slots__ = ()


def looks_like_expression(value: Any) -> bool:
    """A string that reads as an expression naming something (``planes``, ``c * 4``), not a constant."""
    if not isinstance(value, str) or isinstance(value, Expression) or not value.strip() or len(value) > 2_000:
        return False
    try:
        tree = ast.parse(value.strip(), mode="eval").body
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return not isinstance(tree, ast.Constant) and not (isinstance(tree, ast.UnaryOp) and isinstance(
        tree.operand, ast.Constant))


def keep_expression(value: Any, handler: Callable[[Any], Any]) -> Any:
    """The argument's own check first (``padding: same`` stays the literal); failing that, a string that
    reads as an expression is kept for later, and anything else reports the argument's own error."""
    try:
        return handler(value)
    except ValidationError:
        if looks_like_expression(value):
            return Expression(value)
        raise


def layer_tagger(names: Collection[str]) -> Callable[[Any], str | None]:
    """The layer union's discriminator over one grammar's layer type names."""

    def tag(value: Any) -> str | None:
        if isinstance(value, str):
            return BARE
        if isinstance(value, list):
            return SEQUENCE
        if isinstance(value, dict):
            kind = value.get("type")
            if kind is None and "layers" in value:
                return GROUP
            if isinstance(kind, str):
                return kind if kind in names or kind == SEQUENTIAL else BLOCK
            return None
        return None

    return tag


def step_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return EXPR
    if isinstance(value, dict) and len(value) == 1:
        (key,) = value
        return str(key)
    return None


def param_tag(value: Any) -> str | None:
    if isinstance(value, list):
        return "shape"
    if isinstance(value, dict):
        return "ParameterList" if "list" in value else "ParameterDict" if "dict" in value else "Parameter"
    return None


# The code a core schema may name (a grammar's own layer tagger is named LAYER_TAG): a cached schema holds
# these names, and reading it binds them to these functions, never to anything else.
LAYER_TAG = "layer_tag"
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "keep_expression": keep_expression, "step_tag": step_tag, "param_tag": param_tag,
}
FACTORIES: dict[str, Callable[[], Any]] = {"dict": dict, "list": list}
