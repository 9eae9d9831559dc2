"""The resolved model: a graph of named values over layers and parameters.

``resolve`` builds it from a checked spec; ``shapes`` annotates it; ``codegen``
writes it out.  Blocks stay nested (a Sequential is a Layer with children), so
each can become a class of its own as the grammar grows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .errors import Diagnostic, Path, Span
from .source import Source


@dataclass
class Layer:
    key: str | int  # the attribute name, or the index inside a list Sequential
    attr: str  # the module path inside the model: "conv.0"
    path: Path  # where it stands in the spec
    type: str  # a registry name or "Sequential"
    args: dict[str, Any] = field(default_factory=dict)  # as written (inferred ones are added by shapes)
    children: list[Layer] = field(default_factory=list)
    named: bool = False  # a Sequential given as a mapping


@dataclass
class ParamTensor:
    key: str | int
    attr: str  # "params.0", "params.linear1", "weight"
    path: Path
    shape: tuple[int, ...]
    init: str = "randn"
    init_args: dict[str, Any] = field(default_factory=dict)
    requires_grad: bool = True
    dtype: str | None = None


@dataclass
class ParamGroup:
    name: str
    kind: str  # "Parameter" | "ParameterList" | "ParameterDict"
    path: Path
    items: list[ParamTensor]


@dataclass
class Input:
    name: str
    shape: tuple[int | str, ...]
    dtype: str
    span: Span


# ---------------------------------------------------------------- forward


@dataclass(frozen=True)
class Name:
    id: str
    kind: str  # "value" | "layer" | "param" | "op"
    span: Span


@dataclass(frozen=True)
class Const:
    value: Any
    span: Span


@dataclass(frozen=True)
class Seq:
    items: tuple[Expr, ...]
    span: Span
    is_tuple: bool = False


@dataclass(frozen=True)
class Call:
    func: str
    kind: str  # "layer" | "op"
    args: tuple[Expr, ...]
    kwargs: tuple[tuple[str, Expr], ...]
    span: Span
    method: bool = False  # written x.op(...)


@dataclass(frozen=True)
class BinOp:
    op: str  # "+", "-", "*", "/", "@"
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Index:
    base: Name
    index: Expr
    span: Span


Expr = Name | Const | Seq | Call | BinOp | Neg | Index


@dataclass(frozen=True)
class Assign:
    target: str
    value: Expr
    span: Span
    path: Path


@dataclass(frozen=True)
class Return:
    value: Expr
    span: Span
    path: Path


@dataclass(frozen=True)
class For:
    target: str
    iterable: Name
    body: tuple[Assign, ...]
    span: Span
    path: Path


Stmt = Assign | Return | For


@dataclass
class Model:
    name: str
    description: str | None
    source: Source
    inputs: list[Input]
    args: dict[str, Any]
    layers: list[Layer]
    params: list[ParamGroup]
    body: list[Stmt]
    warnings: list[Diagnostic] = field(default_factory=list)

    def layer(self, name: str) -> Layer:
        return next(layer for layer in self.layers if layer.key == name)

    def param_group(self, name: str) -> ParamGroup:
        return next(group for group in self.params if group.name == name)

    def walk_layers(self) -> list[Layer]:
        """Every layer, parents before children, in registration order."""
        out: list[Layer] = []
        stack = list(reversed(self.layers))
        while stack:
            layer = stack.pop()
            out.append(layer)
            stack.extend(reversed(layer.children))
        return out
