"""Checked spec -> :class:`ir.Model`: names, layers, parameters and the forward program.

Forward steps written as text are parsed with :mod:`ast` and translated node by
node against a whitelist; nothing is ever evaluated.  Names are checked here
once, so every later stage can trust them as Python identifiers.
"""

from __future__ import annotations

import ast
import builtins
import io
import keyword
import re
import tokenize
import warnings
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from ..errors import Collector, Diagnostic, Path, Span, SpecError, did_you_mean, short_repr
from ..frontend.expr import MAX_WRITTEN, ExprError, evaluate, list_expr, sized, written_size
from ..frontend.expr import parse as parse_expr
from ..frontend.schema import (
    SEQUENTIAL,
    ArgDecl,
    Expression,
    ListItem,
    ParamDictSpec,
    ParamItem,
    ParamListSpec,
    RepeatSpec,
    Spec,
    looks_like_expression,
    plugin_hint,
)
from ..frontend.source import Source
from ..ops import INT64_MAX, LAYERS, MODULE_DTYPE, OPS
from ..ops.init import INIT_ARGS, init_problem
from ..ops.operators import FORWARD_OPERATORS, symbol_of
from ..ops.tensor import PLACEHOLDER_LAYER, SHAPE_INDEX_OP
from . import ir
from .names import CONTAINER_ATTRIBUTES, MODULE_ATTRIBUTES, RESERVED  # naming rules: one place

BINOPS = FORWARD_OPERATORS  # forward's operators, from the one table (ops/operators.py)
MAX_EXPR_NODES = 2_000
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _non_ascii_outside_strings(text: str) -> str | None:
    """The first non-ASCII character of ``text`` that is not inside a string literal.

    Python's own tokenizer decides what a string is, so escaped quotes
    (``p['\\''] + hµ``), triple quotes and prefixes are read as the parser will
    read them.  f-strings hold code, so they count as outside.  Comments never
    become names and are skipped.
    """
    if text.isascii():  # nearly every step: no tokenizing
        return None
    if len(text) > MAX_STEP_CHARS:
        return None  # statement() refuses it next; tokenizing it first would be wasted work
    try:
        for token in tokenize.generate_tokens(io.StringIO(text).readline):
            if token.type == tokenize.COMMENT or (token.type == tokenize.STRING and not _is_fstring(token.string)):
                continue
            odd = next((char for char in token.string if not char.isascii()), None)
            if odd is not None:
                return odd
    except (tokenize.TokenError, SyntaxError):
        pass  # unreadable to the tokenizer: ast.parse reports it as a syntax error
    return None


def _is_fstring(literal: str) -> bool:
    prefix = literal[: min((literal.find(q) for q in "'\"" if q in literal), default=0)]
    return "f" in prefix.lower()


_ASSIGNED = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
# Every later stage walks expressions recursively; deeper ones are refused here.
MAX_EXPR_DEPTH = 100
MAX_STEP_CHARS = 10_000
MAX_PARAM_TENSORS = 10_000
MAX_FORWARD_NODES = 50_000


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


def resolve(spec: Spec, source: Source) -> ir.Program:
    """The spec's program: its root definition and every block it uses, dependencies first."""
    root_view = DefView(spec.name, spec.description, (), spec.inputs, spec.args, spec.vars, spec.layers, spec.params,
                        spec.forward, spec.outputs)
    diag = Collector()
    kinds = {name: {arg: _arg_kind(decl) for arg, decl in block.args.items()} for name, block in spec.blocks.items()}
    root_resolver = _Resolver(root_view, source, diag, set(spec.blocks))
    root_resolver.block_kinds = kinds
    root_resolver.root_name = spec.name
    var_values = root_resolver.root_vars()
    root_resolver.var_values = var_values
    blocks: dict[str, ir.ModuleDef] = {}
    for name, block in spec.blocks.items():
        view = DefView(name, block.description, ("blocks", name), block.inputs, {}, block.vars, block.layers,
                       block.params, block.forward, block.outputs, block.args)
        resolver = _Resolver(view, source, diag, set(spec.blocks))
        resolver.var_values = var_values
        resolver.block_kinds = kinds
        resolver.root_name = spec.name
        if name == spec.name:
            diag.add(Diagnostic("duplicate-name", f"block '{name}' has the root's class name", source.key_span(
                ("blocks", name)), ("blocks", name), "rename the block or the spec's name"))
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
    return ir.Program(root, ordered, var_values)


def _is_size(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _holds_build(value: list[Any]) -> bool:
    return any(isinstance(v, ir.Build) or (isinstance(v, list) and _holds_build(v)) for v in value)


def _arg_kind(decl: Any) -> str:
    if isinstance(decl, str):
        return decl
    if isinstance(decl, ArgDecl):
        return str(decl.type)
    return "bool" if isinstance(decl, bool) else "int" if isinstance(decl, int) else "float"


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
        self.block_kinds: dict[str, dict[str, str]] = {}  # block -> argument -> "int" | "float" | "bool" | "str"
        self.layer_names: set[str] = set()
        self.param_kinds: dict[str, str] = {}
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
        variables = [] if self.is_root else self.variables()  # the root's were read by root_vars
        self.scope = {a.name for a in block_args} | {v.name for v in variables} if not self.is_root else set(
            self.var_values)
        layer_items = self.spec.layers.items() if isinstance(self.spec.layers, dict) else enumerate(self.spec.layers)
        layers = [self.layer(value, name, str(name), self.P("layers", name), self.scope)
                  for name, value in layer_items]
        self.layers = layers
        params = [self.param_group(name, value) for name, value in self.spec.params.items()]
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
        return ir.ModuleDef(self.spec.name, self.spec.description, self.source, inputs, dict(self.spec.args), layers,
                            params, body, [], self.spec.base, block_args, variables, self.outputs(),
                            sequential and self.spec.forward is None)

    # ------------------------------------------------------------ vars, block arguments, outputs

    def root_vars(self) -> dict[str, Any]:
        """The root's vars, evaluated in order (each may use the ones before it)."""
        values: dict[str, Any] = {}
        written = 0  # characters of the values written out (NETSPEC_VARS, the summary's Vars:)
        for var in self.variables(scope_of=values):
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
                result.append(ir.BlockArg(name, decl.type, decl.default, required, span))
            else:  # a default: its type is the default's
                kind = "bool" if isinstance(decl, bool) else "int" if isinstance(decl, int) else "float"
                result.append(ir.BlockArg(name, kind, decl, False, span))
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
        elif name in RESERVED:
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
        init: Any = item.init  # a name, or the InitWithArgs model (generated, so untyped)
        init_args: dict[str, Any] = {}
        if isinstance(init, BaseModel):
            chosen = init.model_dump(exclude_unset=True)
            if len(chosen) != 1:
                self.error("bad-init", f"expected one initialiser in init, found {len(chosen)}", (*path, "init"),
                           "write e.g. init: {uniform: {a: -0.1, b: 0.1}}")
                return ir.ParamTensor(key, attr, path, self.shape(item.shape, (*path, "shape")))
            ((init, _),) = chosen.items()
            init_args = getattr(item.init, init).model_dump()
        elif init in INIT_ARGS:
            required = [n for n, f in INIT_ARGS[init].model_fields.items() if f.is_required()]
            if required:
                self.error("missing-key", f"init '{init}' needs {', '.join(required)}", (*path, "init"),
                           f"write init: {{{init}: {{{required[0]}: ...}}}}")
                return ir.ParamTensor(key, attr, path, self.shape(item.shape, (*path, "shape")))
            init_args = INIT_ARGS[init]().model_dump()
        shape = self.shape(item.shape, (*path, "shape"))
        problem = init_problem(init, init_args, shape, item.dtype or MODULE_DTYPE)
        if problem is not None:
            code, message, hint = problem
            self.error(code, message, (*path, "init"), hint)
        return ir.ParamTensor(key, attr, path, shape, init, init_args, item.requires_grad, item.dtype)

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
        return _ForwardParser(self, first).parse(self.spec.forward)

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


class _ForwardParser:
    """Turns forward steps into IR statements, tracking which values exist."""

    def __init__(self, resolver: _Resolver, first: str) -> None:
        self.r = resolver
        self.current = first
        self.values: set[str] = set(resolver.spec.inputs) | set(resolver.spec.args)
        self.path: Path = resolver.P("forward")
        self.span = Span(resolver.source.file, 1, 1)
        self.text = ""
        self.located_key: tuple[Path, str] | None = None  # the step whose text lines located_lines places
        self.located_lines: list[tuple[int, int, int] | None] = []
        self.returned = False
        self.explicit = False
        self.assigned_later: set[str] = set()
        self.layer_vars: set[str] = set()  # loop variables bound to layers of a group
        self.symbols = {d for value in resolver.spec.inputs.values()
                        for d in (value if isinstance(value, list) else value.shape) if isinstance(d, str)}

    def parse(self, steps: list[Any]) -> list[ir.Stmt]:
        self.assigned_later = {m.group(1) for s in steps if isinstance(s, str) and (m := _ASSIGNED.match(s))}
        body: list[ir.Stmt] = []
        for i, step in enumerate(steps):
            self.path = self.r.P("forward", i)
            self.span = self.r.source.span(self.path)
            if self.returned:
                self.r.error("unreachable", "this step comes after 'return' and never runs", self.path,
                             "remove it, or move the return to the end")
                break
            try:
                stmt = self.step(step)
            except _TooLong:
                break
            if stmt is not None:
                body.append(stmt)
        if self.explicit and not self.returned and not self.r.diag.has_errors:
            self.r.error("missing-return", "forward assigns named values but never returns one",
                         self.r.P("forward", len(steps) - 1), "end forward with a step like 'return x'")
        return body

    def step(self, step: Any) -> ir.Stmt | None:
        if isinstance(step, BaseModel):
            (op,) = step.model_dump(exclude_unset=True, by_alias=True)
            raw = self.r.raw((*self.path, op))
            return self.apply(op, "op", *self.op_args(op, raw))
        text: str = step
        if text.isidentifier() and not keyword.iskeyword(text):
            return self.bare(text)
        return self.statement(text)

    def op_args(self, op: str, raw: Any) -> tuple[tuple[ir.Expr, ...], tuple[tuple[str, ir.Expr], ...]]:
        if isinstance(raw, dict):
            return (), tuple((k, self.const(v)) for k, v in raw.items())
        return (self.const(raw),), ()

    def const(self, value: Any) -> ir.Expr:
        if isinstance(value, list):
            return ir.Seq(tuple(self.const(v) for v in value), self.span, is_tuple=True)
        return ir.Const(value, self.span)

    def bare(self, name: str) -> ir.Stmt | None:
        if name in self.r.layer_names:
            self.r.used.add(name)
            return self.apply(name, "layer", (), ())
        if name in OPS:
            return self.apply(name, "op", (), ())
        hint = did_you_mean(name, [*self.r.layer_names, *OPS])
        self.r.error("unknown-name", f"step '{name}' is neither a layer of this spec nor an op", self.path,
                     hint or "define it under 'layers', or see 'netspec layers' for the ops", span=self.span)
        return None

    def apply(self, func: str, kind: str, args: tuple[ir.Expr, ...], kwargs: tuple[tuple[str, ir.Expr], ...]
              ) -> ir.Assign:
        value = ir.Name(self.current, "value", self.span)
        return ir.Assign(self.current, ir.Call(func, kind, (value, *args), kwargs, self.span), self.span, self.path)

    # ------------------------------------------------------------ statements

    def statement(self, text: str) -> ir.Stmt | None:
        self.text = text
        odd = _non_ascii_outside_strings(text)
        if odd is not None:
            # Python NFKC-normalises identifiers: 'hµ' and 'hμ' would silently be one name
            self.r.error("bad-name", f"found {odd!r} (U+{ord(odd):04X}) outside a string: names in forward are ASCII",
                         self.path, "rename the value or layer with ASCII letters", span=self.span)
            return None
        if len(text) > MAX_STEP_CHARS:
            self.r.error("too-large", f"step is longer than {MAX_STEP_CHARS} characters", self.path, span=self.span)
            return None
        try:
            with warnings.catch_warnings():  # SyntaxWarnings would go to stderr, or raise under -W error
                warnings.simplefilter("ignore")
                tree = ast.parse(text, mode="exec")
        except (RecursionError, MemoryError):
            self.r.error("too-deep", "step nests too deeply to read", self.path,
                         "split it into several steps with named values", span=self.span)
            return None
        except SyntaxError as exc:
            span = self.at(exc.lineno or 1, (exc.offset or 1) - 1)
            self.r.error("syntax", f"cannot read step {short_repr(text)}: {exc.msg}", self.path,
                         "a step is a layer or op name, 'name = expression', or 'return expression'", span=span)
            target = _ASSIGNED.match(text)
            if target:  # later steps may use the name: do not report it again as unassigned
                self.values.add(target.group(1))
                self.explicit = True
            return None
        if len(tree.body) != 1:
            self.r.error("syntax", f"expected one statement in a step, found {len(tree.body)}", self.path,
                         "put each statement in its own step", span=self.span)
            return None
        nodes = sum(1 for _ in ast.walk(tree))
        if nodes > MAX_EXPR_NODES:
            self.r.error("too-large", f"step has more than {MAX_EXPR_NODES} syntax nodes", self.path, span=self.span)
            return None
        self.r.forward_nodes += nodes
        if self.r.forward_nodes > MAX_FORWARD_NODES:  # every later stage is linear in these: bound their sum
            self.r.error("too-large", f"forward has more than {MAX_FORWARD_NODES:,} syntax nodes in all", self.path,
                         "use fewer or simpler steps", span=self.span)
            raise _TooLong
        if nodes > MAX_EXPR_DEPTH and _depth(tree) > MAX_EXPR_DEPTH:  # fewer nodes cannot nest deeper
            self.r.error("too-deep", f"step nests deeper than {MAX_EXPR_DEPTH} levels", self.path,
                         "split it into several steps with named values", span=self.span)
            return None
        try:
            return self.stmt(tree.body[0])
        except _Refused:
            self.define_quietly(tree.body[0])
            return None

    def define_quietly(self, node: ast.stmt) -> None:
        """After a refused assignment, treat its name as defined so later steps do not cascade."""
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            self.values.add(node.targets[0].id)
            self.explicit = True

    def stmt(self, node: ast.stmt) -> ir.Stmt:
        span = self.at(node.lineno, node.col_offset)
        if isinstance(node, ast.Return):
            if node.value is None:
                raise self.refuse(node, "'return' needs a value", "write 'return x'")
            self.returned = True
            return ir.Return(self.expr(node.value), span, self.path)
        if isinstance(node, ast.For):
            return self.loop(node, span)
        if isinstance(node, ast.If):
            return self.branch(node, span)
        return self.assignment(node, span)

    def branch(self, node: ast.If, span: Span) -> ir.If:
        """``if test:`` over build-time names: each instance runs the branch its own values pick."""
        test = self.build_test(node.test)
        body = tuple(self.inner(child) for child in node.body)
        orelse = tuple(self.inner(child) for child in node.orelse)
        return ir.If(test, body, orelse, span, self.path)

    def inner(self, node: ast.stmt) -> ir.Stmt:
        span = self.at(node.lineno, node.col_offset)
        if isinstance(node, ast.If):
            return self.branch(node, span)
        if isinstance(node, ast.Return):
            return self.stmt(node)
        return self.assignment(node, span)

    def build_test(self, node: ast.expr) -> ir.Build:
        """A condition known when the module is built: block arguments, vars, and layers that may be absent."""
        text = ast.unparse(node)
        span = self.at(node.lineno, node.col_offset)
        try:
            parsed = parse_expr(text)
        except ExprError as exc:
            raise self.refuse(node, f"cannot use this test: {exc.message}", exc.hint) from None
        known = self.r.scope | self.r.layer_names
        unknown = sorted(parsed.names - known)
        if unknown and unknown[0] in self.values:
            raise self.refuse(node, f"a test reads build-time names only (block arguments, vars, layers), found "
                              f"the forward value '{unknown[0]}'",
                              "tensors cannot steer forward: netspec generates no data-dependent branches")
        if unknown:
            raise self.refuse(node, f"a test reads build-time names only (block arguments, vars, layers), found "
                              f"'{unknown[0]}'", did_you_mean(unknown[0], known) or
                              "declare it under vars, or as a block argument", code="undefined-name")
        self.r.used.update(parsed.names & self.r.layer_names)
        return ir.Build(parsed, self.path, span)

    def assignment(self, node: ast.stmt, span: Span) -> ir.Assign:
        if isinstance(node, ast.Expr):
            value = self.expr(node.value)
            self.values.add(self.current)
            return ir.Assign(self.current, value, span, self.path)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            value = self.expr(node.value)
            return ir.Assign(self.define(node.targets[0]), value, span, self.path)
        if isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and type(node.op) in BINOPS:
            left = self.name(ast.Name(node.target.id, ast.Load(), lineno=node.lineno, col_offset=node.col_offset))
            value = ir.BinOp(BINOPS[type(node.op)], left, self.expr(node.value), span)
            return ir.Assign(self.define(node.target), value, span, self.path)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple) and all(
                isinstance(t, ast.Name) for t in node.targets[0].elts) and len(node.targets[0].elts) > 1:
            value = self.expr(node.value)
            names = tuple(t.id if t.id == "_" else self.define(t) for t in node.targets[0].elts
                          if isinstance(t, ast.Name))
            return ir.Unpack(names, value, span, self.path)  # type: ignore[return-value]
        if isinstance(node, ast.Assign):
            raise self.refuse(node, "assign one name at a time, or unpack names from a tuple",
                              "write 'h = expression' or 'out, _ = attention(x, x, x)'")
        raise self.refuse(node, f"{_describe(node)} is not part of the forward language",
                          "a step is 'name = expression', 'return expression' or 'for p in params: x = ...'")

    def define(self, target: ast.Name) -> str:
        name = target.id
        if not _NAME.fullmatch(name):
            raise self.refuse(target, f"value name '{name}' must be ASCII letters, digits and '_', starting with a "
                              "letter", "Python mangles names with leading underscores inside a class", code="bad-name")
        if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in RESERVED:
            raise self.refuse(target, f"'{name}' cannot be a value name", "choose another name")
        if name in self.r.layer_names or name in self.r.param_kinds or name in OPS:
            raise self.refuse(target, f"value '{name}' would hide the layer, parameter or op of the same name",
                              "choose another name for the value")
        if name in self.r.spec.args:
            raise self.refuse(target, f"'{name}' is a forward argument and cannot be reassigned")
        if name in self.r.scope:
            raise self.refuse(target, f"value '{name}' would hide the var or block argument of the same name",
                              "choose another name for the value")
        self.explicit = True
        self.values.add(name)
        self.current = name
        return name

    def loop(self, node: ast.For, span: Span) -> ir.For:
        if not isinstance(node.target, ast.Name):
            raise self.refuse(node.target, "a for loop binds one name", "write 'for p in params: x = mm(x, p)'")
        over_layers = isinstance(node.iter, ast.Name) and node.iter.id in self.r.layer_names
        if not over_layers and (not isinstance(node.iter, ast.Name)
                                or self.r.param_kinds.get(node.iter.id) != "ParameterList"):
            raise self.refuse(node.iter, "a for loop runs over a ParameterList or a group of layers",
                              "write 'for p in params: ...' or 'for layer in layers: x = layer(x)'")
        if node.orelse:
            raise self.refuse(node, "for ... else is not part of the forward language")
        if over_layers:
            assert isinstance(node.iter, ast.Name)
            self.r.used.add(node.iter.id)
            iterable = ir.Name(node.iter.id, "layer", self.at(node.iter.lineno, node.iter.col_offset))
        else:
            assert isinstance(node.iter, ast.Name)
            iterable = self.name(node.iter)
        target = node.target.id
        if not _NAME.fullmatch(target):
            raise self.refuse(node.target, f"loop variable '{target}' must be ASCII letters, digits and '_', starting "
                              "with a letter", code="bad-name")
        if (target in self.r.layer_names or target in self.r.param_kinds or target in RESERVED or target in OPS
                or target in self.values):
            raise self.refuse(node.target, f"loop variable '{target}' would hide another name")
        bound = self.layer_vars if over_layers else self.values
        bound.add(target)
        body = []
        for child in node.body:
            stmt = self.assignment(child, self.at(child.lineno, child.col_offset))
            body.append(stmt)
        bound.discard(target)
        return ir.For(target, iterable, tuple(body), span, self.path)

    # ------------------------------------------------------------ expressions

    def expr(self, node: ast.expr) -> ir.Expr:
        span = self.at(node.lineno, node.col_offset)
        if isinstance(node, ast.Name):
            return self.name(node)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, int) and abs(node.value) > INT64_MAX:
                raise self.refuse(node, "integer constant does not fit in 64 bits", code="too-large")
            if isinstance(node.value, (bool, int, float, str)) or node.value is None:
                return ir.Const(node.value, span)
            raise self.refuse(node, f"constant {short_repr(node.value)} is not allowed")
        if isinstance(node, (ast.Tuple, ast.List)):
            return ir.Seq(tuple(self.expr(e) for e in node.elts), span, isinstance(node, ast.Tuple))
        if isinstance(node, ast.BinOp):
            if type(node.op) not in BINOPS:
                raise self.refuse(node, f"operator '{symbol_of(type(node.op))}' is not part of the "
                                  "forward language", "use + - * / @, or an op such as pow(...)")
            return ir.BinOp(BINOPS[type(node.op)], self.expr(node.left), self.expr(node.right), span)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            operand = self.expr(node.operand)
            if isinstance(node.op, ast.UAdd):
                return operand
            if isinstance(operand, ir.Const) and isinstance(operand.value, (int, float)) and not isinstance(
                    operand.value, bool):
                return ir.Const(-operand.value, span)
            return ir.Neg(operand, span)
        if isinstance(node, ast.Call):
            return self.call(node, span)
        if isinstance(node, ast.Subscript):
            return self.subscript(node, span)
        if isinstance(node, ast.IfExp):
            return ir.Cond(self.build_test(node.test), self.expr(node.body), self.expr(node.orelse), span)
        raise self.refuse(node, f"{_describe(node)} is not part of the forward language",
                          "use names, numbers, calls of layers and ops, + - * / @, and params[key]")

    def name(self, node: ast.Name) -> ir.Name:
        span = self.at(node.lineno, node.col_offset)
        name = node.id
        if name in self.values:
            return ir.Name(name, "value", span)
        if name in self.r.param_kinds:
            self.r.used.add(name)
            return ir.Name(name, "param", span)
        if name in self.r.scope:
            return ir.Name(name, "build", span)
        if name in self.r.layer_names:
            raise self.refuse(node, f"layer '{name}' must be called, as '{name}(x)'")
        known = [*self.values, *self.r.param_kinds, *self.r.layer_names]
        if name in self.assigned_later:
            raise self.refuse(node, f"'{name}' is used before it is assigned", "assign it in an earlier step",
                              code="undefined-name")
        if name in self.symbols:
            raise self.refuse(node, f"'{name}' is a symbolic size of an input, not a value forward can use",
                              "sizes in forward are numbers; reshape takes -1 for the size to infer",
                              code="undefined-name")
        raise self.refuse(node, f"unknown name '{name}'",
                          did_you_mean(name, known) or "use an input, an argument, a parameter or an assigned value",
                          code="undefined-name")

    def call(self, node: ast.Call, span: Span) -> ir.Call:
        if any(isinstance(a, ast.Starred) for a in node.args) or any(k.arg is None for k in node.keywords):
            raise self.refuse(node, "* and ** arguments are not part of the forward language")
        kwargs = tuple((k.arg or "", self.expr(k.value)) for k in node.keywords)
        func = node.func
        if isinstance(func, ast.Attribute):
            receiver = self.expr(func.value)
            op = OPS.get(func.attr)
            if op is None or not op.method:
                hint = did_you_mean(func.attr, [n for n, o in OPS.items() if o.method])
                if func.attr == "view":  # torch's reshape is a view wherever view would work
                    hint = "write x.reshape(...): it returns a view wherever x.view(...) would"
                raise self.refuse(func, f"method '.{func.attr}()' is not part of the forward language",
                                  hint or "call an op, e.g. mean(x)")
            rest = tuple(self.expr(a) for a in node.args)
            # Tensor.reshape(*shape) takes sizes one by one: x.reshape(-1, 400) and x.reshape(-1) mean the
            # tuples (-1, 400) and (-1,); a single list or tuple, x.reshape([-1, 400]), is the sizes themselves.
            if op.varargs and (len(rest) > 1 or (len(rest) == 1 and not isinstance(rest[0], ir.Seq))):
                rest = (ir.Seq(rest, span, is_tuple=True),)
            if op.bare_method is not None and not rest and not kwargs:  # x.flatten(): torch's default differs
                raise self.refuse(func, *op.bare_method)
            return ir.Call(func.attr, "op", (receiver, *rest), kwargs, span, method=True)
        if not isinstance(func, ast.Name):
            raise self.refuse(func, "only layers and ops can be called", "call a layer by name, as conv1(x)")
        args = tuple(self.expr(a) for a in node.args)
        if func.id in self.layer_vars:
            return ir.Call(func.id, "layervar", args, kwargs, span)
        if func.id in self.r.layer_names:
            self.r.used.add(func.id)
            return ir.Call(func.id, "layer", args, kwargs, span)
        if func.id in OPS:
            return ir.Call(func.id, "op", args, kwargs, span)
        hint = did_you_mean(func.id, [*self.r.layer_names, *OPS])
        raise self.refuse(func, f"'{func.id}' is neither a layer of this spec nor an op",
                          hint or "see 'netspec layers' for the ops", code="unknown-name")

    def subscript(self, node: ast.Subscript, span: Span) -> ir.Index | ir.Call:
        if isinstance(node.value, ast.Attribute) and node.value.attr == "shape":  # x.shape[0] is x.size(0)
            return ir.Call(SHAPE_INDEX_OP, "op", (self.expr(node.value.value), self.expr(node.slice)), (), span,
                           method=True)
        if not isinstance(node.value, ast.Name) or self.r.param_kinds.get(node.value.id) not in (
                "ParameterList", "ParameterDict"):
            raise self.refuse(node, "only a ParameterList or ParameterDict can be indexed",
                              "index a parameter group, as params[0] or params[choice]")
        base = self.name(node.value)
        index = self.expr(node.slice)
        if not isinstance(index, (ir.Const, ir.Name)):
            raise self.refuse(node.slice, "an index is a constant or a forward argument", "write params[choice]")
        return ir.Index(base, index, span)

    # ------------------------------------------------------------ places and refusals

    def at(self, lineno: int, col_offset: int) -> Span:
        """The file position of a column of this step's text.

        The text's lines are found in the file once per step (:meth:`located`);
        a line YAML changed on the way in (escapes, folding) is not found, and
        the step's own start is the honest answer.
        """
        located = self.located()
        place = located[lineno - 1] if 0 < lineno <= len(located) else None
        if place is None:
            return self.span
        line, col, indent = place
        if col_offset < indent:
            return self.span
        return Span(self.span.file, line, col + col_offset - indent)

    def located(self) -> list[tuple[int, int, int] | None]:
        """(file line, column, indent) of each line of this step's text, cached per step.

        Called once per syntax node: a search per call, to the end of the file when
        a line is not found, made a 3.8 MB spec take minutes.  Here one pass over the
        step's own lines (up to the next step or top-level key) places every text line
        in order; after a line that is not found, the rest keep the step's start.
        """
        key = (self.path, self.text)
        if self.located_key != key:
            self.located_key, self.located_lines = key, self.search_lines()
        return self.located_lines

    def search_lines(self) -> list[tuple[int, int, int] | None]:
        lines = self.r.source.lines_of(self.span.file)
        end = min(self.step_end(), len(lines))
        row, start = self.span.line - 1, self.span.col - 1
        result: list[tuple[int, int, int] | None] = []
        for wanted in self.text.splitlines():
            body = wanted.lstrip()
            if not body:
                result.append(None)
                continue
            while row < end and (found := lines[row].find(body, start)) < 0:
                row, start = row + 1, 0
            if row >= end:  # not in the file as written: stop, so no line is searched twice
                break
            result.append((row + 1, found + 1, len(wanted) - len(body)))
            start = found + len(body)
        return result + [None] * (len(self.text.splitlines()) - len(result))

    def step_end(self) -> int:
        """The line after which this step cannot continue: the next step's or top-level key's line."""
        spans = self.r.source
        step = self.path[-1] if isinstance(self.path[-1], int) else 0
        following = [spans.spans[self.r.P("forward", step + 1)].line] if self.r.P("forward", step + 1) in spans.spans \
            else []
        data = spans.data if isinstance(spans.data, dict) else {}
        following += [spans.key_span((k,)).line for k in data if spans.key_span((k,)).line > self.span.line]
        return min(following, default=len(spans.lines))

    def refuse(self, node: ast.AST, message: str, hint: str | None = None, code: str = "unsupported") -> _Refused:
        span = self.at(getattr(node, "lineno", 1), getattr(node, "col_offset", 0))
        self.r.error(code, message, self.path, hint, span=span)
        return _Refused()


def _depth(tree: ast.AST) -> int:
    """The nesting depth of a syntax tree, found without recursion."""
    deepest = 0
    stack = [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


class _TooLong(Exception):
    """Stops reading forward once its total size is over the limit."""


class _Refused(Exception):
    """Unwinds one step after its diagnostic is recorded."""


def _describe(node: ast.AST) -> str:
    names = {ast.Lambda: "lambda", ast.Attribute: "attribute access", ast.Import: "import", ast.ImportFrom: "import",
             ast.If: "if", ast.While: "while", ast.With: "with", ast.FunctionDef: "def", ast.ClassDef: "class",
             ast.ListComp: "a comprehension", ast.DictComp: "a comprehension", ast.GeneratorExp: "a generator",
             ast.Compare: "a comparison", ast.BoolOp: "and/or", ast.IfExp: "a conditional expression",
             ast.Dict: "a dict literal", ast.JoinedStr: "an f-string", ast.Await: "await", ast.Yield: "yield",
             ast.NamedExpr: "':='", ast.Starred: "'*'", ast.Delete: "del", ast.Global: "global",
             ast.Return: "'return' inside a loop", ast.For: "a nested for loop", ast.Pass: "pass",
             ast.Try: "try", ast.Raise: "raise", ast.Assert: "assert", ast.Nonlocal: "nonlocal",
             ast.Set: "a set literal", ast.SetComp: "a comprehension", ast.Slice: "slicing",
             ast.UnaryOp: "this unary operator", ast.Match: "match", ast.AsyncFor: "async for",
             ast.AsyncWith: "async with", ast.AsyncFunctionDef: "async def", ast.AnnAssign: "an annotated assignment"}
    return names.get(type(node), "this construct")


__all__ = ["MODULE_ATTRIBUTES", "RESERVED", "SpecError", "resolve"]
