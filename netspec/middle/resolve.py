"""Checked spec -> :class:`ir.Program`: names, layers, parameters and the forward program.

Forward steps are read by :mod:`netspec.middle.forward` (parsed with :mod:`ast` and
translated node by node against a whitelist; nothing is ever evaluated).  Names are
checked here once, so every later stage can trust them as Python identifiers.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from dataclasses import dataclass, field
from typing import Any

from ..errors import Collector, Diagnostic, Path, Span, SpecError, did_you_mean, short_repr
from ..frontend.expr import MAX_WRITTEN, ExprError, evaluate, list_expr, sized, written_size
from ..frontend.expr import parse as parse_expr
from ..frontend.schema import (
    SEQUENTIAL,
    ArgDecl,
    BufferSpec,
    Expression,
    ListItem,
    Node,
    ParamDictSpec,
    ParamItem,
    ParamListSpec,
    RepeatSpec,
    Spec,
    looks_like_expression,
)
from ..frontend.source import Source
from ..frontend.validate import plugin_hint
from ..ops import INT64_MAX, LAYERS, MODULE_DTYPE
from ..ops.buffers import FILLS
from ..ops.init import INIT_ARGS, WORD_ARGS, init_problem
from ..ops.tensor import PLACEHOLDER_LAYER
from . import ir
from .forward import MAX_EXPR_DEPTH, MAX_EXPR_NODES, MAX_FORWARD_NODES, MAX_STEP_CHARS, ForwardParser
from .named_weights import resolve_weights
from .names import ATTRIBUTE_NAMES_OK, CONTAINER_ATTRIBUTES, MODULE_ATTRIBUTES, RESERVED  # naming rules: one place

MAX_PARAM_TENSORS = 10_000


@dataclass
class DefView:
    """One module definition as the spec wrote it: the root's keys or a block's, read alike."""

    name: str
    description: str | None
    base: Path  # () for the root, ("blocks", name) for a block
    inputs: dict[str, Any]
    args: dict[str, Any]  # forward's non-tensor arguments (the root's `args:`)
    vars: dict[str, Any]
    layers: dict[str, Any] | list[Any]
    params: dict[str, Any]
    forward: list[Any] | None
    outputs: Any = None
    block_args: dict[str, Any] = field(default_factory=dict)
    buffers: dict[str, Any] = field(default_factory=dict)
    ties: dict[str, Any] = field(default_factory=dict)
    init: list[Any] = field(default_factory=list)


def resolve(spec: Spec, source: Source) -> ir.Program:
    """The spec's program: its root definition and every block it uses, dependencies first."""
    root_view = DefView(spec.name, spec.description, (), spec.inputs, spec.args, spec.vars, spec.layers, spec.params,
                        spec.forward, spec.outputs, buffers=spec.buffers, ties=spec.ties, init=spec.init)
    diag = Collector()
    kinds = {name: {arg: _arg_kind(decl) for arg, decl in block.args.items()} for name, block in spec.blocks.items()}
    root_resolver = _Resolver(root_view, source, diag, set(spec.blocks))
    root_resolver.block_kinds = kinds
    root_resolver.root_name = spec.name
    var_values = root_resolver.root_vars()
    root_resolver.var_values = var_values
    named_weights = resolve_weights(spec.weights, source, var_values, diag)
    blocks: dict[str, ir.ModuleDef] = {}
    for name, block in spec.blocks.items():
        view = DefView(name, block.description, ("blocks", name), block.inputs, {}, block.vars, block.layers,
                       block.params, block.forward, block.outputs, block.args, block.buffers, init=block.init)
        resolver = _Resolver(view, source, diag, set(spec.blocks))
        resolver.var_values = var_values
        resolver.block_kinds = kinds
        resolver.root_name = spec.name
        if name == spec.name:
            diag.add(Diagnostic("duplicate-name", f"block '{name}' has the root's class name", source.key_span(
                ("blocks", name)), ("blocks", name), "rename the block or the spec's name"))
        if name in LAYERS:  # `type: RMSNorm` would mean the built-in: the block would never be used
            diag.add(Diagnostic("duplicate-name", f"block '{name}' has the name of the built-in layer type {name}, "
                                "which a `type:` naming it means", source.key_span(("blocks", name)),
                                ("blocks", name), f"rename the block, e.g. 'My{name}'"))
        try:
            blocks[name] = resolver.run()
        except _Stop:
            continue
    try:
        root = root_resolver.run()
    except _Stop:
        diag.raise_if_errors()
        raise
    diag.raise_if_errors()
    ordered = _dependency_order(root, blocks, source, diag)
    diag.raise_if_errors()
    root.warnings = [d for d in diag.diagnostics if d.severity == "warning"]
    return ir.Program(root, ordered, var_values, named_weights)


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _holds_build(value: list[Any]) -> bool:
    return any(isinstance(v, ir.Build) or (isinstance(v, list) and _holds_build(v)) for v in value)


def _arg_kind(decl: Any) -> str:
    if isinstance(decl, str):
        return decl
    if isinstance(decl, ArgDecl):
        return str(decl.type)
    return "bool" if isinstance(decl, bool) else "int" if isinstance(decl, int) else "list" if isinstance(
        decl, list) else "float"


def _dependency_order(root: ir.ModuleDef, blocks: dict[str, ir.ModuleDef], source: Source,
                      diag: Collector) -> dict[str, ir.ModuleDef]:
    """The blocks the root uses, each after the blocks it uses; a block that uses itself is an error."""
    ordered: dict[str, ir.ModuleDef] = {}
    state: dict[str, str] = {}

    def visit(definition: ir.ModuleDef, chain: tuple[str, ...]) -> None:
        for layer, name in _block_uses(definition):
            if state.get(name) == "done":
                continue
            if state.get(name) == "open":
                cycle = " -> ".join([*chain[chain.index(name):], name]) if name in chain else name
                diag.add(Diagnostic("block-cycle", f"blocks use each other in a cycle: {cycle}",
                                    source.key_span(layer.path), layer.path,
                                    "a block cannot contain itself, directly or through others"))
                continue
            state[name] = "open"
            visit(blocks[name], (*chain, name))
            state[name] = "done"
            ordered[name] = blocks[name]

    visit(root, ())
    for name, block in blocks.items():
        if name not in ordered and source.key_span(block.path).file == source.file:  # imported ones may go unused
            diag.add(Diagnostic("unused-block", f"block '{name}' is never used", source.key_span(block.path),
                                block.path, "remove it, or use it as a layer type", "warning"))
    return ordered


def _block_uses(definition: ir.ModuleDef) -> list[tuple[ir.Layer, str]]:
    uses = []
    stack = list(reversed(definition.layers))
    while stack:
        layer = stack.pop()
        if layer.block is not None:
            uses.append((layer, layer.block))
        if layer.children:  # most layers have none
            stack.extend(reversed(layer.children))
    return uses


class _Stop(Exception):
    """A definition whose names are wrong: its forward is not read, its errors are already collected."""


class _Resolver:
    def __init__(self, spec: DefView, source: Source, diag: Collector | None = None,
                 blocks: set[str] | None = None) -> None:
        self.spec = spec
        self.source = source
        self.diag = diag or Collector()
        self.blocks = blocks or set()
        self.var_values: dict[str, Any] = {}
        self.root_name = ""  # the root class's name: a block, argument or var must not take it
        self.root_var_defs: list[ir.Var] = []  # the root's vars as declared (codegen: its constructor arguments)
        self.block_kinds: dict[str, dict[str, str]] = {}  # block -> argument -> "int" | "float" | "bool" | "str"
        self.layer_names: set[str] = set()
        self.param_kinds: dict[str, str] = {}
        self.buffer_names: set[str] = set()
        self.used: set[str] = set()
        self.param_tensors = 0
        self.forward_nodes = 0
        self.errors_before = 0

    def P(self, *parts: str | int) -> Path:
        """A path inside this definition: ("layers", "conv") -> ("blocks", "Block", "layers", "conv")."""
        return (*self.spec.base, *parts)

    def raw(self, path: Path) -> Any:
        """The value the YAML holds at ``path`` (before the grammar read it)."""
        node = self.source.data
        for part in path:
            node = node[part]
        return node

    @property
    def is_root(self) -> bool:
        return not self.spec.base

    def error(self, code: str, message: str, path: Path, hint: str | None = None, span: Span | None = None,
              key: bool = False) -> None:
        where = span or (self.source.key_span(path) if key else self.source.span(path))
        self.diag.add(Diagnostic(code, message, where, path, hint))

    def warn(self, code: str, message: str, path: Path, hint: str | None = None, key: bool = True) -> None:
        where = self.source.key_span(path) if key else self.source.span(path)
        self.diag.add(Diagnostic(code, message, where, path, hint, "warning"))

    def errors_since(self, count: int) -> bool:
        return any(d.severity == "error" for d in self.diag.diagnostics[count:])

    def run(self) -> ir.ModuleDef:
        start = len(self.diag.diagnostics)
        if self.is_root:
            self.check_name(self.spec.name, self.P("name"), "class name", attribute=False, key=False)
        else:
            self.check_name(self.spec.name, self.spec.base, "block name", attribute=False, key=True)
        if self.spec.name in vars(builtins):  # the class is a module global: it would hide e.g. range()
            self.error("bad-name", f"class name '{self.spec.name}' would hide Python's builtin of that name",
                       self.P("name") if self.is_root else self.spec.base,
                       f"rename it, e.g. '{self.spec.name.capitalize()}Net'", key=not self.is_root)
        inputs = self.inputs()
        for name in self.spec.args:
            self.check_name(name, self.P("args", name), "forward argument", attribute=False)
            written = self.raw(self.P("args", name))
            if isinstance(written, int) and not isinstance(written, bool) and abs(written) > INT64_MAX:
                # pydantic would quietly take it as a float
                self.error("bad-value", f"expected an integer that fits in 64 bits, found {written}",
                           self.P("args", name), "torch takes Python ints up to 2**63 - 1")
        block_args = self.block_arguments()
        variables = self.root_var_defs if self.is_root else self.variables()  # the root's: read by root_vars
        self.scope = {a.name for a in block_args} | {v.name for v in variables} if not self.is_root else set(
            self.var_values)
        layer_items = self.spec.layers.items() if isinstance(self.spec.layers, dict) else enumerate(self.spec.layers)
        layers = [self.layer(value, name, str(name), self.P("layers", name), self.scope)
                  for name, value in layer_items]
        self.layers = layers
        params = [self.param_group(name, value) for name, value in self.spec.params.items()]
        buffers = [self.buffer(name, value) for name, value in self.spec.buffers.items()]
        ties = [self.tie(target, value) for target, value in self.spec.ties.items()]
        init_passes = [self.init_pass(index, value) for index, value in enumerate(self.spec.init)]
        self.layer_names = {str(layer.key) for layer in layers if isinstance(layer.key, str)}
        self.check_clashes()
        if self.errors_since(start):
            raise _Stop
        sequential = isinstance(self.spec.layers, list)
        if sequential and (self.spec.forward is not None or self.spec.params):
            self.error("bad-block", "a block whose layers are a list is a Sequential: it has no forward and no params",
                       self.P("layers"), "give the layers names to write a forward")
        body = [] if sequential else self.forward(inputs)
        if self.errors_since(start):
            raise _Stop
        self.unused()
        if sequential and buffers:
            self.error("bad-block", "a block whose layers are a list is a Sequential: it has no buffers",
                       self.P("buffers"), "give the layers names to write a forward")
        return ir.ModuleDef(self.spec.name, self.spec.description, self.source, inputs, dict(self.spec.args), layers,
                            params, body, [], self.spec.base, block_args, variables, self.outputs(),
                            sequential and self.spec.forward is None, buffers, ties, init_passes)

    # ------------------------------------------------------------ vars, block arguments, outputs

    def root_vars(self) -> dict[str, Any]:
        """The root's vars, evaluated in order (each may use the ones before it)."""
        values: dict[str, Any] = {}
        written = 0  # characters of the values written out (NETSPEC_VARS, the summary's Vars:)
        self.root_var_defs = self.variables(scope_of=values)
        for var in self.root_var_defs:
            if isinstance(var.value, ir.Build):
                try:
                    values[var.name] = evaluate(var.value.expr, values)
                except ExprError as exc:
                    self.expr_error(exc, var.value.span, var.path)
                    values[var.name] = None
            else:
                values[var.name] = var.value
            written += written_size(values[var.name])
            if written > MAX_WRITTEN:
                self.error("too-large", f"the vars' values written out in full would take more than "
                           f"{MAX_WRITTEN:,} characters (generated code and the summary write each var's value)",
                           var.path, "a var that repeats a big list is written out with every copy: keep the "
                           "big list in one var and index it where it is used")
                values[var.name] = None
                break
        return values

    def variables(self, scope_of: dict[str, Any] | None = None) -> list[ir.Var]:
        known = set() if scope_of is not None else {*self.spec.block_args}
        result = []
        for name, value in self.spec.vars.items():
            path = self.P("vars", name)
            self.check_name(name, path, "variable", attribute=False)
            if not self.is_root:
                self.check_build_name(name, path, "var")
            if name in self.spec.block_args:
                self.error("duplicate-name", f"'{name}' is both a block argument and a var", path, key=True)
            built = self.var_value(self.build(value, path, known, literal_ok=True), path)
            result.append(ir.Var(name, built, path))
            known.add(name)
            if scope_of is not None:
                scope_of[name] = None  # filled by root_vars in order
        if scope_of is not None:
            scope_of.clear()
        return result

    def var_value(self, built: Any, path: Path) -> Any:
        """A var's value as the evaluator keeps it: an expression, or a constant checked and measured once
        (lists become :class:`expr.ListValue`); a list with expressions among its items is one expression
        (``["k", 3]`` reads as ``[k, 3]``)."""
        if isinstance(built, ir.Build):
            return built
        if isinstance(built, list) and _holds_build(built):
            parts = self.list_parts(built, path)
            return ir.Build(list_expr(parts), path, self.value_span(path)) if parts is not None else None
        try:
            return sized(built, f"var '{path[-1]}'")
        except ExprError as exc:
            self.error(exc.code, exc.message, path, exc.hint)
            return None

    def list_parts(self, built: list[Any], path: Path) -> list[Any] | None:
        parts: list[Any] = []
        for i, item in enumerate(built):
            if isinstance(item, ir.Build):
                parts.append(item.expr)
            elif isinstance(item, list) and _holds_build(item):
                inner = self.list_parts(item, (*path, i))
                if inner is None:
                    return None
                parts.append(inner)
            else:
                try:
                    parts.append(sized(item, f"var '{path[-1]}'"))
                except ExprError as exc:
                    self.error(exc.code, exc.message, (*path, i), exc.hint)
                    return None
        return parts

    def check_build_name(self, name: str, path: Path, what: str) -> None:
        """Block arguments and vars become locals of the generated __init__: they must not hide a Python
        builtin it calls (range, min...), a class it builds (another block, the root), or an attribute."""
        if name in vars(builtins):
            self.error("bad-name", f"{what} '{name}' would hide Python's builtin of that name in the generated "
                       "code", path, f"rename it, e.g. '{name}_'", key=True)
        elif name in self.blocks or name == self.root_name:
            self.error("bad-name", f"{what} '{name}' would hide the class of the same name in the generated code",
                       path, f"rename it, e.g. '{name.lower()}_'", key=True)

    def block_arguments(self) -> list[ir.BlockArg]:
        result = []
        for name, decl in self.spec.block_args.items():
            path = self.P("args", name)
            self.check_name(name, path, "block argument", attribute=False)
            self.check_build_name(name, path, "block argument")
            span = self.source.key_span(path)
            if isinstance(decl, str):
                result.append(ir.BlockArg(name, decl, None, True, span))
            elif isinstance(decl, ArgDecl):
                required = "default" not in decl.model_fields_set
                default: Any = decl.default
                if isinstance(default, str) and decl.type != "str":  # `default: 4 * dim`: over the arguments before
                    default = self.build(default, (*path, "default"), {a.name for a in result}, always=True)
                result.append(ir.BlockArg(name, decl.type, default, required, span))
            else:  # a default: its type is the default's
                result.append(ir.BlockArg(name, _arg_kind(decl), decl, False, span))
        return result

    def outputs(self) -> list[tuple[tuple[int | str, ...], Span]] | None:
        declared = self.spec.outputs
        if declared is None:
            return None
        if isinstance(declared, dict):
            return [(tuple(shape), self.source.span(self.P("outputs", name))) for name, shape in declared.items()]
        return [(tuple(declared), self.source.span(self.P("outputs")))]

    def build(self, value: Any, path: Path, scope: set[str], literal_ok: bool = False, always: bool = False) -> Any:
        """A written value: a constant, or an expression (ir.Build) over ``scope``.

        A string reads as an expression when it parses as one and names only what is in scope; any
        other string is a plain string (``padding: same``).  ``always``: the text must be an expression.
        """
        if isinstance(value, list):
            return [self.build(v, (*path, i), scope, literal_ok=True) for i, v in enumerate(value)] \
                if any(isinstance(v, str) and looks_like_expression(v) for v in value) else value
        if isinstance(value, bool) and always:
            return value
        if not isinstance(value, str) or not (always or isinstance(value, Expression) or (
                literal_ok and looks_like_expression(value))):
            return value
        span = self.value_span(path)
        try:
            parsed = parse_expr(value)
        except ExprError as exc:
            self.expr_error(exc, span, path)
            return value
        unknown = sorted(parsed.names - scope)
        if unknown and literal_ok and not always and not isinstance(value, Expression) and isinstance(
                parsed.tree, ast.Name):
            return value  # a plain string that happens to read as a name: `act: relu`
        if unknown:
            col = next((n.col_offset for n in ast.walk(parsed.tree) if isinstance(n, ast.Name) and n.id == unknown[0]),
                       0)
            hint = did_you_mean(unknown[0], scope) or (
                f"names in scope: {', '.join(sorted(scope))}" if scope else "this definition has no vars or arguments")
            self.error("undefined-name", f"unknown name '{unknown[0]}' in expression {short_repr(value)}", path,
                       hint, span=Span(span.file, span.line, span.col + col) if span.line else span)
            return value
        return ir.Build(parsed, path, span)

    def value_span(self, path: Path) -> Span:
        """Where a value's text starts: after the opening quote of a quoted scalar."""
        span = self.source.span(path)
        lines = self.source.lines_of(span.file)
        if 0 < span.line <= len(lines) and lines[span.line - 1][span.col - 1: span.col] in ("'", '"'):
            return Span(span.file, span.line, span.col + 1)
        return span

    def expr_error(self, exc: ExprError, span: Span, path: Path) -> None:
        where = Span(span.file, span.line, span.col + exc.col) if span.line else span
        self.error(exc.code, exc.message, path, exc.hint, span=where)

    # ------------------------------------------------------------ names

    def check_name(self, name: str, path: Path, what: str, attribute: bool = True, key: bool = True) -> None:
        if keyword.iskeyword(name) or keyword.issoftkeyword(name):
            self.error("bad-name", f"{what} '{name}' is a Python keyword", path, "choose another name", key=key)
        elif attribute and name in MODULE_ATTRIBUTES:
            self.error("bad-name", f"{what} '{name}' would replace nn.Module's own attribute '{name}'", path,
                       f"rename it, e.g. '{name}_'", key=key)
        elif name in RESERVED and not (attribute and name in ATTRIBUTE_NAMES_OK):
            self.error("bad-name", f"{what} '{name}' is reserved by the generated code", path,
                       f"rename it, e.g. '{name}_'", key=key)

    def check_container_key(self, name: str, path: Path, container: str) -> None:
        if name in CONTAINER_ATTRIBUTES[container]:
            self.error("bad-name", f"key '{name}' would replace nn.{container}'s own attribute '{name}'", path,
                       f"rename it, e.g. '{name}_'", key=True)
        else:
            self.check_name(name, path, f"{container} key")

    def check_clashes(self) -> None:
        for name in [*self.spec.block_args, *self.spec.vars] if not self.is_root else []:
            if name in (self.spec.layers if isinstance(self.spec.layers, dict) else {}) or name in self.spec.params \
                    or name in self.spec.inputs:
                section = "args" if name in self.spec.block_args else "vars"
                self.error("duplicate-name", f"'{name}' names both a {section[:-1].replace('arg', 'block argument')} "
                           "and a layer, parameter or input", self.P(section, name), "give each its own name",
                           key=True)
        for name in self.spec.params:
            if name in self.spec.layers:
                self.error("duplicate-name", f"'{name}' names both a layer and a parameter", self.P("params", name),
                           "give each module attribute its own name", key=True)
        taken = {*(self.spec.layers if isinstance(self.spec.layers, dict) else {}), *self.spec.params,
                 *self.spec.inputs, *self.spec.args, *self.spec.block_args, *self.spec.vars}
        for name in self.spec.buffers:
            if name in taken:
                self.error("duplicate-name", f"'{name}' names both a buffer and a layer, parameter, input, argument "
                           "or var", self.P("buffers", name), "give each module attribute its own name", key=True)
        for name in [*self.spec.inputs, *self.spec.args]:
            if name in self.spec.layers or name in self.spec.params:
                section = "inputs" if name in self.spec.inputs else "args"
                self.error("duplicate-name", f"'{name}' names both a forward value and a layer or parameter",
                           self.P(section, name), "rename the input or argument", key=True)
        for name in self.spec.args:
            if name in self.spec.inputs:
                self.error("duplicate-name", f"'{name}' is both an input and an argument", self.P("args", name),
                           key=True)

    # ------------------------------------------------------------ inputs, layers, params

    def inputs(self) -> list[ir.Input]:
        result = []
        for name, value in self.spec.inputs.items():
            self.check_name(name, self.P("inputs", name), "input", attribute=False)
            shape, dtype = (value, "float32") if isinstance(value, list) else (value.shape, value.dtype)
            if self.is_root:  # a dim naming one of the root's vars is that var's size (image_size: 224)
                shape = [self.var_values[d] if isinstance(d, str) and _is_size(self.var_values.get(d)) else d
                         for d in shape]
            result.append(ir.Input(name, tuple(shape), dtype, self.source.key_span(self.P("inputs", name))))
        return result

    def layer(self, value: Any, key: str | int, attr: str, path: Path, scope: set[str]) -> ir.Layer:
        if isinstance(key, str) and "{" not in key:
            self.check_name(key, path, "layer")
        if isinstance(value, (str, list)):
            layer = self.bare(value, key, attr, path) if isinstance(value, str) else self.sequential(
                value, key, attr, path, path, scope)
            layer.pattern = self.key_pattern(key, path, scope)
            return layer
        cond = None if value.if_ is None else self.build(value.if_, (*path, "if"), scope, always=True)
        repeat = self.repeat(value.repeat, path, scope) if value.repeat is not None else None
        inner = scope | {repeat.index} if repeat is not None else scope
        kind = getattr(value, "type", None)
        if kind is None:  # a group: its children join the parent's
            layer = self.sequential(value.layers, key, attr, path, (*path, "layers"), inner, ir.GROUP)
        elif kind == SEQUENTIAL:
            layer = self.sequential(value.layers, key, attr, path, (*path, "layers"), inner)
        elif kind in LAYERS:
            args = {name: self.layer_arg(kind, name, getattr(value, name), (*path, name), inner)
                    for name in value.model_fields_set - {"type", "if_", "repeat"}}
            layer = ir.Layer(key, attr, path, kind, args)
        else:
            layer = self.block_use(value, kind, key, attr, path, inner)
        layer.cond, layer.repeat = cond, repeat
        layer.pattern = self.key_pattern(key, path, inner)
        return layer

    def layer_arg(self, kind: str, name: str, value: Any, path: Path, scope: set[str]) -> Any:
        """A layer argument: a constant, or an expression; a bare word that names nothing in scope is the
        argument's own mistake (``padding_mode: mirror``, ``bias: "false"``), reported as its type says."""
        if isinstance(value, Expression) and value.strip().isidentifier() and value.strip() not in scope:
            from .elaborate import literal_problem
            problem = literal_problem(kind, name, value)
            if problem is not None:
                code, message, hint = problem
                self.error(code, message, path, hint)
                return value
        return self.build(value, path, scope)

    def bare(self, value: str, key: str | int, attr: str, path: Path) -> ir.Layer:
        block = self.block_name(value, path)
        if block is not None:
            return ir.Layer(key, attr, path, ir.BLOCK, block=block)
        if value in LAYERS and LAYERS[value].bare_ok:
            return ir.Layer(key, attr, path, value)
        self.unknown_layer(value, path)
        return ir.Layer(key, attr, path, PLACEHOLDER_LAYER)

    def block_use(self, value: Any, kind: str, key: str | int, attr: str, path: Path, scope: set[str]) -> ir.Layer:
        block = self.block_name(kind, (*path, "type"))
        if block is None:
            self.unknown_layer(kind, (*path, "type"))
            return ir.Layer(key, attr, path, PLACEHOLDER_LAYER)
        extra = value.model_extra or {}
        kinds = self.block_kinds.get(block, {})
        # a string for an argument that is not a str reads as an expression, typos reported at their column
        args = {name: self.build(arg, (*path, name), scope, literal_ok=kinds.get(name) == "str",
                                 always=kinds.get(name, "str") != "str" and isinstance(arg, str))
                for name, arg in extra.items()}
        return ir.Layer(key, attr, path, ir.BLOCK, args, block=block)

    def block_name(self, name: str, path: Path) -> str | None:
        """The block ``name`` stands for: a block, or a root var whose value names one (``type: block``)."""
        if name in self.blocks:
            return name
        if name in self.var_values and self.is_root and isinstance(self.var_values[name], str):
            target = self.var_values[name]
            if target in self.blocks:
                return str(target)
            if target not in LAYERS:
                self.error("unknown-layer", f"var '{name}' names {short_repr(target)}, which is neither a block "
                           "nor a layer type", path, did_you_mean(target, [*self.blocks, *LAYERS]))
        return None

    def unknown_layer(self, name: str, path: Path) -> None:
        if name in LAYERS and not LAYERS[name].bare_ok:
            needed = ", ".join(a.name for a in LAYERS[name].args if a.required)
            self.error("missing-key", f"layer type '{name}' needs arguments ({needed}) and cannot be written bare",
                       path, f"write {{type: {name}, {needed.split(', ')[0]}: ...}}")
            return
        hint = did_you_mean(name, [*LAYERS, SEQUENTIAL, *self.blocks])
        self.error("unknown-layer", f"unknown layer type {short_repr(name)}", path,
                   hint or plugin_hint("run 'netspec layers' for the list of layer types, or define a block of "
                                       "that name"))

    def repeat(self, value: Any, path: Path, scope: set[str]) -> ir.Repeat:
        if isinstance(value, RepeatSpec):
            count = self.build(value.count, (*path, "repeat", "count"), scope, always=isinstance(value.count, str))
            index = value.index
            self.check_name(index, (*path, "repeat", "index"), "repeat index", attribute=False)
            self.check_index(index, (*path, "repeat", "index"), scope)
            name = self.pattern_of(value.name, (*path, "repeat", "name"), scope | {index}) if value.name else None
            return ir.Repeat(count, index, name)
        count = self.build(value, (*path, "repeat"), scope, always=isinstance(value, str))
        self.check_index("i", (*path, "repeat"), scope)
        return ir.Repeat(count, "i")

    def check_index(self, index: str, path: Path, scope: set[str]) -> None:
        """A repeat's index is a fresh name: the generated loop would overwrite an argument, var or outer index."""
        if index in scope:
            self.error("duplicate-name", f"repeat index '{index}' is already a name here (an argument, a var or an "
                       "enclosing repeat's index)", path, "name the index: repeat: {count: ..., index: j}")

    def key_pattern(self, key: str | int, path: Path, scope: set[str]) -> ir.KeyPattern | None:
        if not isinstance(key, str) or "{" not in key:
            return None
        return self.pattern_of(key, path, scope, key_span=True)

    def pattern_of(self, text: str, path: Path, scope: set[str], key_span: bool = False) -> ir.KeyPattern:
        parts: list[str | ir.Build] = []
        for literal, inside in re.findall(r"([^{}]*)(?:\{([^{}]*)\})?", text):
            if literal:
                parts.append(literal)
            if inside:
                built = self.build(inside, path, scope, always=True)
                parts.append(built if isinstance(built, ir.Build) else str(built))
        return ir.KeyPattern(tuple(parts), text)

    def sequential(self, children: Any, key: str | int, attr: str, path: Path, child_base: Path, scope: set[str],
                   kind: str = SEQUENTIAL) -> ir.Layer:
        items = list(children.items()) if isinstance(children, dict) else list(enumerate(children))
        layer = ir.Layer(key, attr, path, kind, named=isinstance(children, dict))
        for name, _ in items:
            if isinstance(name, str) and name in CONTAINER_ATTRIBUTES[SEQUENTIAL]:
                self.check_container_key(name, (*child_base, name), SEQUENTIAL)
        layer.children = [self.layer(v, k, f"{attr}.{k}", (*child_base, k), scope) for k, v in items]
        return layer

    def param_group(self, name: str, value: Any) -> ir.ParamGroup:
        path: Path = self.P("params", name)
        self.check_name(name, path, "parameter")
        if isinstance(value, ParamListSpec):
            items: list[ir.ParamTensor] = []
            self.param_tensors += sum(e.repeat if isinstance(e, ListItem) else 1 for e in value.items)
            if self.param_tensors > MAX_PARAM_TENSORS:  # repeat multiplies: check before expanding
                self.error("too-large", f"the spec declares more than {MAX_PARAM_TENSORS:,} parameter tensors",
                           path, "use fewer, larger parameters", key=True)
                return ir.ParamGroup(name, "ParameterList", path, [])
            for i, entry in enumerate(value.items):
                repeat = entry.repeat if isinstance(entry, ListItem) else 1
                for _ in range(repeat):
                    index = len(items)
                    items.append(self.param_tensor(entry, index, f"{name}.{index}", (*path, "list", i)))
            kind = "ParameterList"
        elif isinstance(value, ParamDictSpec):
            for key in value.items:  # nn.ParameterDict sets each key as an attribute of itself
                self.check_container_key(key, (*path, "dict", key), "ParameterDict")
            items = [self.param_tensor(entry, key, f"{name}.{key}", (*path, "dict", key))
                     for key, entry in value.items.items()]
            kind = "ParameterDict"
        else:
            items = [self.param_tensor(value, name, name, path)]
            kind = "Parameter"
        self.param_kinds[name] = kind
        return ir.ParamGroup(name, kind, path, items)

    def shape(self, dims: list[int | str], path: Path) -> tuple[int, ...]:
        """A parameter shape with the names of the root's ``vars`` replaced by their values."""
        out: list[Any] = []
        for i, dim in enumerate(dims):
            if isinstance(dim, str) and not self.is_root and dim in self.scope:
                out.append(dim)  # a block argument or var: each instance has its own size, the class its name
                continue
            if isinstance(dim, str):
                value = self.var_values.get(dim)
                if dim not in self.var_values:
                    self.error("undefined-name", f"'{dim}' is not defined in vars", (*path, i),
                               did_you_mean(dim, self.var_values) or "define it under 'vars:', e.g. vars: {D: 64}")
                    dim = 1
                elif not isinstance(value, int) or isinstance(value, bool) or value < 1:
                    self.error("bad-value", f"var '{dim}' is {short_repr(value)}, not a positive size", (*path, i))
                    dim = 1
                else:
                    dim = value
            out.append(dim)
        return tuple(out)

    def param_tensor(self, entry: Any, key: str | int, attr: str, path: Path) -> ir.ParamTensor:
        if isinstance(entry, list):
            return ir.ParamTensor(key, attr, path, self.shape(entry, path))
        item: ParamItem = entry
        chosen = self.initialiser(item.init, (*path, "init"))
        shape = self.shape(item.shape, (*path, "shape"))
        if chosen is None:
            return ir.ParamTensor(key, attr, path, shape)
        init, raw_args = chosen
        init_args = {k: self.init_arg(v, (*path, "init", init, k)) for k, v in raw_args.items()}
        if any(isinstance(v, ir.Build) for v in init_args.values()) or any(isinstance(d, str) for d in shape):
            return ir.ParamTensor(key, attr, path, shape, init, init_args, item.requires_grad, item.dtype)
        problem = init_problem(init, init_args, shape, item.dtype or MODULE_DTYPE)
        if problem is not None:
            code, message, hint = problem
            self.error(code, message, (*path, "init"), hint)
        return ir.ParamTensor(key, attr, path, shape, init, init_args, item.requires_grad, item.dtype)

    def initialiser(self, value: Any, path: Path) -> tuple[str, dict[str, Any]] | None:
        """An ``init`` as written (a name, or the InitWithArgs model: generated, so untyped) read into its name
        and arguments as written; None, with the error collected, when it names none or several."""
        init: Any = value
        args: dict[str, Any] = {}
        if isinstance(value, Node):
            chosen = value.model_dump(exclude_unset=True)
            if len(chosen) != 1:
                self.error("bad-init", f"expected one initialiser in init, found {len(chosen)}", path,
                           "write e.g. init: {uniform: {a: -0.1, b: 0.1}}")
                return None
            ((init, _),) = chosen.items()
            args = getattr(value, init).model_dump()
        elif init in INIT_ARGS:
            required = INIT_ARGS[init].required
            if required:
                self.error("missing-key", f"init '{init}' needs {', '.join(required)}", path,
                           f"write init: {{{init}: {{{required[0]}: ...}}}}")
                return None
            args = INIT_ARGS[init].defaults()
        return init, args

    def init_pass(self, index: int, value: Any) -> ir.InitPass:
        """One pass of ``init:``: its rules by layer type, block or ``self``, each parameter's initialiser read
        as a raw parameter's is.  Which modules a rule reaches, and whether they have the parameter, shapes
        checks once the modules are built."""
        path: Path = self.P("init", index)
        cond = value.if_
        test = cond if cond is None or isinstance(cond, bool) else self.build(cond, (*path, "if"), self.scope,
                                                                               always=True)
        rules: list[ir.InitRule] = []
        for target, params in (value.__pydantic_extra__ or {}).items():
            rule_path: Path = (*path, target)
            if target != ir.SELF and target not in LAYERS and target not in self.blocks:
                self.error("unknown-layer", f"init names {short_repr(target)}, which is neither a layer type, a "
                           "block nor self", rule_path, did_you_mean(target, [*LAYERS, *self.blocks, ir.SELF]))
                continue
            fills = []
            for param, init in params.items():
                if not all(part.isdigit() or (part.isidentifier() and not keyword.iskeyword(part)
                                              and not part.startswith("__")) for part in param.split(".")):
                    self.error("bad-init", f"init: {short_repr(param)} is not a parameter path", (*rule_path, param),
                               "name a parameter as its state_dict key does, relative to the module: bn2.weight")
                    continue
                chosen = self.initialiser(init, (*rule_path, param))
                if chosen is not None:
                    args = {k: self.init_arg(v, (*rule_path, param, chosen[0], k)) for k, v in chosen[1].items()}
                    fills.append(ir.InitFill(param, chosen[0], args, (*rule_path, param)))
            rules.append(ir.InitRule(target, fills, rule_path))
        if len(rules) > 1 and any(rule.target == ir.SELF for rule in rules):
            self.error("bad-init", "an init pass names self and layer types together: self is filled once, "
                       "types in a loop over the submodules", path, "put self in a pass of its own")
        return ir.InitPass(rules, test, path)

    def buffer(self, name: str, value: BufferSpec) -> ir.BufferDef:
        path: Path = self.P("buffers", name)
        self.check_name(name, path, "buffer")
        init: Any = value.init
        args: dict[str, Any] = {}
        if isinstance(init, Node):
            chosen = init.model_dump(exclude_unset=True)
            if len(chosen) != 1:
                self.error("bad-init", f"expected one fill in init, found {len(chosen)}", (*path, "init"),
                           "write e.g. init: {rope: {dim: 64, theta: 10000.0}}")
                return ir.BufferDef(name, path, "zeros", {}, None, value.dtype, value.persistent)
            ((init, _),) = chosen.items()
            args = getattr(value.init, init).model_dump()
        else:
            args = FILLS[init].args.defaults()
        args = {key: self.build(arg, (*path, "init", init, key), self.scope, always=isinstance(arg, str))
                for key, arg in args.items()}
        shape = None if value.shape is None else self.shape(value.shape, (*path, "shape"))
        self.buffer_names.add(name)
        return ir.BufferDef(name, path, init, args, shape, value.dtype, value.persistent)

    def tie(self, target: str, value: Any) -> ir.Tie:
        path: Path = self.P("ties", target)
        if isinstance(value, str):
            return ir.Tie(target, value, None, path)
        cond = value.if_
        test = cond if cond is None or isinstance(cond, bool) else self.build(cond, (*path, "if"), self.scope,
                                                                               always=True)
        return ir.Tie(target, value.to, test, path)

    def init_arg(self, value: Any, path: Path) -> Any:
        """An initialiser's argument: a constant, or an expression over vars (evaluated now, in the root) or block
        arguments (kept: each instance has its own value, the class its expression)."""
        if not isinstance(value, str) or path[-1] in WORD_ARGS:
            return value
        built = self.build(value, path, self.scope, always=True)
        if not isinstance(built, ir.Build) or not self.is_root:
            return built
        try:
            result = evaluate(built.expr, self.var_values)
        except ExprError as exc:
            self.expr_error(exc, self.value_span(path), path)
            return 0.0
        if isinstance(result, bool) or not isinstance(result, (int, float)):
            self.error("bad-value", f"expected a number, found {short_repr(result)} from {short_repr(value)}", path)
            return 0.0
        return float(result)

    # ------------------------------------------------------------ forward

    def forward(self, inputs: list[ir.Input]) -> list[ir.Stmt]:
        first = inputs[0].name
        if self.spec.forward is None:
            if len(inputs) > 1:
                self.error("needs-forward", f"with {len(inputs)} inputs, forward must say how they are used",
                           self.P("inputs"), "add a 'forward:' list of steps")
                return []
            body: list[ir.Stmt] = []
            conditional = {str(layer.key) for layer in self.layers if layer.cond is not None}
            for name in self.spec.layers:
                span = self.source.key_span(self.P("layers", name))
                call = ir.Call(name, "layer", (ir.Name(first, "value", span),), (), span)
                step: ir.Stmt = ir.Assign(first, call, span, self.P("layers", name))
                if name in conditional:  # a layer built only sometimes is applied only when it is there
                    step = ir.If(ir.Build(parse_expr(name), self.P("layers", name), span), (step,), (), span,
                                 self.P("layers", name))
                body.append(step)
                self.used.add(name)
            if not body:
                self.error("empty-forward", "the spec has no layers and no forward", self.P(),
                           "add layers or a forward")
            return body
        return ForwardParser(self, first).parse(self.spec.forward)

    def unused(self) -> None:
        if self.spec.forward is None:
            return
        for name in self.spec.layers:
            if name not in self.used:
                self.warn("unused-layer", f"layer '{name}' is never used in forward", self.P("layers", name),
                          "remove it, or call it in forward")
        for name in self.spec.params:
            if name not in self.used:
                self.warn("unused-param", f"parameter '{name}' is never used in forward", self.P("params", name),
                          "remove it, or use it in forward")


__all__ = ["MAX_EXPR_DEPTH", "MAX_EXPR_NODES", "MAX_FORWARD_NODES", "MAX_PARAM_TENSORS", "MAX_STEP_CHARS",
           "MODULE_ATTRIBUTES", "RESERVED", "SpecError", "resolve"]
