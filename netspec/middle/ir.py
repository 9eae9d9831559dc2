"""The resolved program: module definitions, each a graph of named values over layers and parameters.

``resolve`` builds a :class:`Program` from a checked spec: the root definition and every block
it uses, each a :class:`ModuleDef`.  ``shapes`` runs each *instance* of a definition at its own
argument values and input shapes; ``codegen`` writes one class per definition.  A Sequential
stays nested (a Layer with children); a block use is a Layer whose ``block`` names its definition.
Passes walk it with :class:`NodeVisitor` (``visit_<Node>`` hooks) or :func:`walk`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic, Path, Span
from ..frontend.expr import Expr as BuildExpr
from ..frontend.source import Source

SEQUENTIAL = "Sequential"
BLOCK = "block"  # Layer.type of a block use; Layer.block names the definition
GROUP = "group"  # Layer.type of a group: children spliced into the parent


@dataclass(frozen=True)
class Build:
    """A value known when the module is built: an expression over block arguments, vars and repeat
    indexes, read from the spec at ``path`` (its text starts at ``span``)."""

    expr: BuildExpr
    path: Path
    span: Span

    def __str__(self) -> str:
        return self.expr.text


@dataclass(frozen=True)
class KeyPattern:
    """A repeated child's name: literal text and expressions, ``denselayer{i + 1}``."""

    parts: tuple[str | Build, ...]
    text: str


@dataclass(frozen=True)
class Repeat:
    count: int | Build
    index: str
    name: KeyPattern | None = None


@dataclass
class Layer:
    key: str | int  # the attribute name, or the index inside a list Sequential
    attr: str  # the module path inside its definition: "conv.0"
    path: Path  # where it stands in the spec
    type: str  # a registry name, "Sequential", BLOCK or GROUP
    args: dict[str, Any] = field(default_factory=dict)  # constants or Build values (inferred ones come later)
    children: list[Layer] = field(default_factory=list)
    named: bool = False  # a Sequential (or group) given as a mapping
    cond: Build | bool | None = None  # built only when this holds
    repeat: Repeat | None = None
    block: str | None = None  # the definition a block use instantiates
    pattern: KeyPattern | None = None  # a key with {expressions} (inside a group)

    @property
    def static(self) -> bool:
        """No condition, no repeat, no expression: the same child in every instance, as written."""
        return self.cond is None and self.repeat is None and not any(
            isinstance(v, Build) for v in self.args.values()) and all(c.static for c in self.children)


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
class BufferDef:
    """A buffer: ``register_buffer(name, <fill>, persistent=...)``.  The fill's arguments and the shape's dims are
    constants or Build values (a block's arguments); each instance's shape follows from their values."""

    name: str
    path: Path
    fill: str  # a key of ops.buffers.FILLS
    args: dict[str, Any]
    shape: tuple[Any, ...] | None  # as written (ints, var values, block-argument names), or None
    dtype: str | None
    persistent: bool = True


@dataclass
class Tie:
    """``target`` (a parameter's state_dict key) is the Parameter at ``source``: one tensor under two names."""

    target: str
    source: str
    cond: Build | bool | None
    path: Path


@dataclass
class InitFill:
    """One parameter an init pass fills: ``param`` a dotted path relative to the module, ``init`` a key of
    ops.init's initialisers, ``args`` its arguments (constants, or ``Build`` over block arguments)."""

    param: str
    init: str
    args: dict[str, Any]
    path: Path


@dataclass
class InitRule:
    """The fills of every submodule of type ``target`` (a layer type or a block), or of the module itself
    (``target`` is ``SELF``)."""

    target: str
    fills: list[InitFill]
    path: Path


SELF = "self"


@dataclass
class InitPass:
    """One entry of ``init:``: one loop over ``self.modules()`` after every child is built, each module taking
    the rule of its type (torchvision's re-initialisation), run when ``cond`` holds."""

    rules: list[InitRule]
    cond: Build | bool | None
    path: Path

    @property
    def on_self(self) -> bool:
        return any(rule.target == SELF for rule in self.rules)


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
    kind: str  # "value" | "layer" | "param" | "buffer" | "build" | "op"
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
    op: str  # a forward operator ("+", "@", "&"...) or comparison ("==", "<"...): ops/operators.py
    left: Expr
    right: Expr
    span: Span


@dataclass(frozen=True)
class Neg:
    operand: Expr
    span: Span


@dataclass(frozen=True)
class Invert:
    """``~mask``: logical not of a bool tensor, bitwise not of an integer one."""

    operand: Expr
    span: Span


@dataclass(frozen=True)
class Index:
    base: Name
    index: Expr
    span: Span


@dataclass(frozen=True)
class Cond:
    """``a if test else b`` with a test known at build time (an argument, a var, an optional layer)."""

    test: Build
    body: Expr
    orelse: Expr
    span: Span


@dataclass(frozen=True)
class Attr:
    """``x.shape``, ``x.device``, ``x.dtype``: what a tensor value says about itself (:data:`TENSOR_ATTRIBUTES`)."""

    base: Expr
    name: str
    span: Span


@dataclass(frozen=True)
class Slice:
    """``start:stop:step`` inside a subscript; a part left out is None."""

    lower: Expr | None
    upper: Expr | None
    step: Expr | None
    span: Span


@dataclass(frozen=True)
class Subscript:
    """``x[..., :half]``, ``x[:, -1]``, ``x[..., None]``, ``sizes[0]``: indexing a tensor or a tuple value.
    Each item is an expression (an integer, ``None``, ``...``) or a :class:`Slice`."""

    base: Expr
    items: tuple[Expr | Slice, ...]
    span: Span


Expr = Name | Const | Seq | Call | BinOp | Neg | Invert | Index | Cond | Attr | Subscript

# What ``value.<name>`` may read in forward, with what it gives.
TENSOR_ATTRIBUTES = {"shape": "its sizes, a tuple", "device": "its device", "dtype": "its dtype"}


@dataclass(frozen=True)
class Assign:
    target: str
    value: Expr
    span: Span
    path: Path
    # Written ``x += y``: generated code keeps it in place where shape inference found that safe in every
    # instance (Inference.in_place), and writes ``x = x + y`` elsewhere.
    in_place: bool = False


@dataclass(frozen=True)
class Unpack:
    """``a, _ = expr``: a tuple (a layer's several outputs) taken apart; ``_`` discards its item; a nested
    tuple of names takes a nested tuple apart (``out, (h, c) = lstm(x)``)."""

    targets: tuple[str | tuple[Any, ...], ...]
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
    iterable: Name  # a ParameterList (kind "param") or a group of layers (kind "layer")
    body: tuple[Assign, ...]
    span: Span
    path: Path


@dataclass(frozen=True)
class If:
    """``if test:`` with a test known at build time: only the branch it picks runs in an instance."""

    test: Build
    body: tuple[Stmt, ...]
    orelse: tuple[Stmt, ...]
    span: Span
    path: Path


Stmt = Assign | Return | For | If | Unpack


@dataclass(frozen=True)
class BlockArg:
    """A constructor argument of a block's class."""

    name: str
    kind: str  # "int" | "float" | "bool" | "str"
    default: Any
    required: bool
    span: Span


@dataclass
class Var:
    name: str
    value: Any  # a constant or a Build
    path: Path


@dataclass
class ModuleDef:
    """One module definition: the root spec or a block.  One generated class each."""

    name: str
    description: str | None
    source: Source
    inputs: list[Input]
    args: dict[str, Any]  # forward's non-tensor arguments (the root's `args:`)
    layers: list[Layer]
    params: list[ParamGroup]
    body: list[Stmt]
    warnings: list[Diagnostic] = field(default_factory=list)
    path: Path = ()  # () for the root, ("blocks", name) for a block
    block_args: list[BlockArg] = field(default_factory=list)  # constructor arguments (blocks only)
    vars: list[Var] = field(default_factory=list)
    outputs: list[tuple[tuple[int | str, ...], Span]] | None = None
    sequential: bool = False  # a block whose layers are a list and which has no forward: an nn.Sequential
    buffers: list[BufferDef] = field(default_factory=list)
    ties: list[Tie] = field(default_factory=list)  # the root's only: paths run through the whole module
    init_passes: list[InitPass] = field(default_factory=list)

    @property
    def is_root(self) -> bool:
        return not self.path

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


@dataclass(frozen=True)
class RenameSegment:
    """One dotted segment of a rename pattern: literal text, or ``prefix{name}suffix``."""

    prefix: str
    placeholder: str | None = None
    suffix: str = ""


@dataclass(frozen=True)
class Rename:
    """A checkpoint key pattern and the module key it becomes (``weights: NAME: renames:``)."""

    source: tuple[RenameSegment, ...]
    target: tuple[RenameSegment, ...]
    text: str  # "FROM -> TO", as written


@dataclass(frozen=True)
class NamedWeights:
    """A published checkpoint of the spec's model (``weights: NAME:``): plain data, read at load time."""

    name: str
    url: str
    file: str  # the URL's last segment: its name in torch.hub's cache
    hash: str  # the SHA-256, or its first 8+ hex digits
    vars: dict[str, Any]
    renames: tuple[Rename, ...]
    meta: dict[str, Any]
    categories: tuple[str, ...] | None = field(repr=False)
    path: Path = ()
    span: Span | None = None


@dataclass
class Program:
    """A spec: its root definition and the blocks it can use, by name."""

    root: ModuleDef
    blocks: dict[str, ModuleDef] = field(default_factory=dict)
    var_values: dict[str, Any] = field(default_factory=dict)  # the root's vars, overrides applied
    # the spec's `weights:` by name; an alias (DEFAULT: IMAGENET1K_V2) maps to its target's entry
    weights: dict[str, NamedWeights] = field(default_factory=dict)

    def definitions(self) -> list[ModuleDef]:
        return [*self.blocks.values(), self.root]


# ---------------------------------------------------------------- walking


def iter_child_nodes(node: Any) -> Iterator[Any]:
    """The IR nodes directly inside ``node``, in field order (inside lists, tuples and dict values too):
    a statement's expressions and inner statements, an expression's operands, a layer's children and
    the Build values among its arguments, a definition's layers, parameters and body."""
    found: list[Any] = []
    for name in _FIELDS.get(type(node), ()):
        _nodes_in(getattr(node, name), found)
    return iter(found)


def _nodes_in(value: Any, found: list[Any]) -> None:
    """The IR nodes in ``value`` appended to ``found`` (a list, not a generator: every step of shape inference
    walks its statements, and nested generators cost more than the walk)."""
    kind = type(value)
    if kind in _LEAF_TYPES:
        return
    if kind in NODE_TYPES:
        found.append(value)
    elif isinstance(value, (list, tuple)):
        for item in value:
            _nodes_in(item, found)
    elif isinstance(value, dict):
        for item in value.values():
            _nodes_in(item, found)


def walk(node: Any) -> Iterator[Any]:
    """``node`` and every IR node inside it, parents before children, in field order."""
    yield node
    for child in iter_child_nodes(node):
        yield from walk(child)


class NodeVisitor:
    """Walks the IR as :class:`ast.NodeVisitor` (and jinja2's visitor) do: :meth:`visit` calls
    ``visit_<ClassName>`` (``visit_Call``, ``visit_If``...) where the subclass defines it, else
    :meth:`generic_visit`, which visits every child node in field order."""

    def visit(self, node: Any) -> Any:
        method = getattr(self, "visit_" + type(node).__name__, None)
        if method is None:
            return self.generic_visit(node)
        return method(node)

    def generic_visit(self, node: Any) -> Any:
        for child in iter_child_nodes(node):
            self.visit(child)
        return None


NODE_TYPES: frozenset[type] = frozenset({
    Build, KeyPattern, Repeat, Layer, ParamTensor, ParamGroup, BufferDef, Tie, InitFill, InitRule, InitPass, Input,
    Name, Const, Seq, Call, BinOp, Neg, Invert, Index, Cond, Attr, Slice, Subscript, Assign, Unpack, Return, For, If,
    BlockArg, Var, ModuleDef, Program})
_FIELDS: dict[type, tuple[str, ...]] = {t: tuple(f.name for f in dataclasses.fields(t)) for t in NODE_TYPES}
_LEAF_TYPES: frozenset[type] = frozenset({str, int, float, bool, type(None), Span})  # hold no node
