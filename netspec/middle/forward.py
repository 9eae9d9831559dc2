"""Forward steps -> IR statements: the forward language's own front end.

A definition's ``forward:`` steps are text (``h = conv1(x) + x``, ``for p in params: ...``) or
op mappings; text is parsed with :mod:`ast` and translated node by node against a whitelist,
nothing is ever evaluated.  :class:`ForwardParser` reads one definition's steps for the
resolver (:mod:`netspec.middle.resolve`), which owns the names, layers and parameters they
may use, and records every refusal as a diagnostic at the step's line.
"""

from __future__ import annotations

import ast
import io
import keyword
import re
import tokenize
import warnings
from typing import Any, Protocol

from ..errors import Collector, Path, Span, did_you_mean, short_repr
from ..frontend.expr import ExprError
from ..frontend.expr import parse as parse_expr
from ..frontend.schema import Node
from ..frontend.source import Source
from ..ops import DTYPE_NAMES, INT64_MAX, OPS, DTypeName
from ..ops.operators import FORWARD_COMPARISONS, FORWARD_OPERATORS, symbol_of
from ..ops.tensor import SHAPE_INDEX_OP
from ..records import stores_fields
from . import ir
from .names import RESERVED

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
MAX_FORWARD_NODES = 50_000


def _applied_by_init(current: str, func: str, kind: str, args: tuple[ir.Expr, ...],
                     kwargs: tuple[tuple[str, ir.Expr], ...], span: Span, path: Path) -> ir.Assign:
    """``current = func(current, *args, **kwargs)``: a bare step, and an op step written as a mapping."""
    value = ir.Name(current, "value", span)
    return ir.Assign(current, ir.Call(func, kind, (value, *args), kwargs, span), span, path)


def _applied_directly(current: str, func: str, kind: str, args: tuple[ir.Expr, ...],
                      kwargs: tuple[tuple[str, ir.Expr], ...], span: Span, path: Path) -> ir.Assign:
    """What :func:`_applied_by_init` makes, each node's fields stored in its __dict__ directly: a frozen
    dataclass's __init__ sets each through object.__setattr__, twice the cost, and a long forward is mostly
    such steps.  Used only while the three classes have exactly these fields (see _DIRECT_FIELDS)."""
    new = object.__new__
    name = new(ir.Name)
    fields = name.__dict__
    fields["id"], fields["kind"], fields["span"] = current, "value", span
    call = new(ir.Call)
    fields = call.__dict__
    fields["func"], fields["kind"], fields["args"], fields["kwargs"], fields["span"], fields["method"] = (
        func, kind, (name, *args), kwargs, span, False)
    assign = new(ir.Assign)
    fields = assign.__dict__
    fields["target"], fields["value"], fields["span"], fields["path"], fields["in_place"] = (
        current, call, span, path, False)
    return assign


# The fields _applied_directly stores (netspec/records.py); the classes' own __init__ wherever that would differ.
_DIRECT_FIELDS = {ir.Name: ("id", "kind", "span"), ir.Call: ("func", "kind", "args", "kwargs", "span", "method"),
                  ir.Assign: ("target", "value", "span", "path", "in_place")}
_applied = _applied_directly if all(stores_fields(cls, names) for cls, names in _DIRECT_FIELDS.items()) \
    else _applied_by_init


class Definition(Protocol):
    """What the parser reads of the definition whose forward it parses (:class:`resolve.DefView`)."""

    @property
    def inputs(self) -> dict[str, Any]: ...

    @property
    def args(self) -> dict[str, Any]: ...


class Resolving(Protocol):
    """What the parser needs of the resolver of its definition: the names in scope, where to record
    diagnostics and uses, and the spec's text and paths."""

    source: Source
    diag: Collector
    layer_names: set[str]
    param_kinds: dict[str, str]
    buffer_names: set[str]
    scope: set[str]
    used: set[str]
    forward_nodes: int  # syntax nodes read so far, bounded by MAX_FORWARD_NODES

    @property
    def spec(self) -> Definition: ...

    def P(self, *parts: str | int) -> Path: ...

    def raw(self, path: Path) -> Any: ...

    def error(self, code: str, message: str, path: Path, hint: str | None = None, span: Span | None = None,
              key: bool = False) -> None: ...


class ForwardParser:
    """Turns forward steps into IR statements, tracking which values exist."""

    def __init__(self, resolver: Resolving, first: str) -> None:
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
        # "=" first: the pattern needs one, and most steps of a long forward are bare layer names
        self.assigned_later = {m.group(1) for s in steps
                               if isinstance(s, str) and "=" in s and (m := _ASSIGNED.match(s))}
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
        if isinstance(step, Node):
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
        return _applied(self.current, func, kind, args, kwargs, self.span, self.path)

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
            return ir.Assign(self.define(node.target), value, span, self.path, in_place=True)
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and _unpack_target(node.targets[0]):
            value = self.expr(node.value)
            target = node.targets[0]
            assert isinstance(target, (ast.Tuple, ast.List))
            return ir.Unpack(self.unpack_names(target), value, span, self.path)  # type: ignore[return-value]
        if isinstance(node, ast.Assign):
            raise self.refuse(node, "assign one name at a time, or unpack names from a tuple",
                              "write 'h = expression' or 'out, _ = attention(x, x, x)'")
        raise self.refuse(node, f"{_describe(node)} is not part of the forward language",
                          "a step is 'name = expression', 'return expression' or 'for p in params: x = ...'")

    def unpack_names(self, target: ast.Tuple | ast.List) -> tuple[str | tuple[Any, ...], ...]:
        """The names of ``a, (b, c) = ...``, each defined; ``_`` discards its item."""
        return tuple(self.unpack_names(t) if isinstance(t, (ast.Tuple, ast.List)) else
                     "_" if isinstance(t, ast.Name) and t.id == "_" else self.define(t)  # type: ignore[arg-type]
                     for t in target.elts)

    def define(self, target: ast.Name) -> str:
        name = target.id
        if not _NAME.fullmatch(name):
            raise self.refuse(target, f"value name '{name}' must be ASCII letters, digits and '_', starting with a "
                              "letter", "Python mangles names with leading underscores inside a class", code="bad-name")
        if keyword.iskeyword(name) or keyword.issoftkeyword(name) or name in RESERVED:
            raise self.refuse(target, f"'{name}' cannot be a value name", "choose another name")
        # An op's name is free for a value (``cos = emb.cos()``, ``half = d // 2``): a call still means the op.
        if name in self.r.layer_names or name in self.r.param_kinds or name in self.r.buffer_names:
            raise self.refuse(target, f"value '{name}' would hide the layer, parameter or buffer of the same name",
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
                                  "forward language", "use + - * / // % ** @ & | ^, or an op")
            return ir.BinOp(BINOPS[type(node.op)], self.expr(node.left), self.expr(node.right), span)
        if isinstance(node, ast.Compare) and len(node.ops) == 1 and type(node.ops[0]) in FORWARD_COMPARISONS:
            return ir.BinOp(FORWARD_COMPARISONS[type(node.ops[0])], self.expr(node.left),
                            self.expr(node.comparators[0]), span)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Invert):
            return ir.Invert(self.expr(node.operand), span)
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
        if isinstance(node, ast.Attribute) and node.attr in ir.TENSOR_ATTRIBUTES:
            return ir.Attr(self.expr(node.value), node.attr, span)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and node.value.id == "torch" and (
                node.attr in DTYPE_NAMES):  # torch.float32, as PyTorch code writes it
            return ir.Const(DTypeName(node.attr), span)
        if isinstance(node, ast.Attribute):
            raise self.refuse(node, f"attribute '.{node.attr}' is not part of the forward language",
                              "a tensor value gives .shape, .device and .dtype; call ops as x.op(...)")
        raise self.refuse(node, f"{_describe(node)} is not part of the forward language",
                          "use names, numbers, calls of layers and ops, operators (+ - * / // % ** @), "
                          "x.shape/x.device/x.dtype and indexing")

    def name(self, node: ast.Name) -> ir.Name:  # or a dtype's name, a constant
        span = self.at(node.lineno, node.col_offset)
        name = node.id
        if name in self.values:
            return ir.Name(name, "value", span)
        if name in self.r.param_kinds:
            self.r.used.add(name)
            return ir.Name(name, "param", span)
        if name in self.r.buffer_names:
            return ir.Name(name, "buffer", span)
        if name in self.r.scope:
            return ir.Name(name, "build", span)
        if name in self.r.layer_names:
            raise self.refuse(node, f"layer '{name}' must be called, as '{name}(x)'")
        if name in DTYPE_NAMES:  # a dtype, as an op's dtype argument takes it: softmax(x, -1, dtype=float32)
            return ir.Const(DTypeName(name), span)  # type: ignore[return-value]
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
            if func.attr in ir.TENSOR_ATTRIBUTES:
                raise self.refuse(func, f"'.{func.attr}' is an attribute, not a method",
                                  f"write x.{func.attr}" + (" or x.size()" if func.attr == "shape" else ""))
            if op is None or not op.method:
                hint = did_you_mean(func.attr, [n for n, o in OPS.items() if o.method])
                raise self.refuse(func, f"method '.{func.attr}()' is not part of the forward language",
                                  hint or "call an op, e.g. mean(x)")
            rest = tuple(self.expr(a) for a in node.args)
            # Tensor.reshape(*shape) takes sizes one by one: x.reshape(-1, 400) and x.reshape(-1) mean the
            # tuples (-1, 400) and (-1,); a single list or tuple, x.reshape([-1, 400]), is the sizes themselves.
            # What may hold the whole list stays as it is: a build-time name (x.permute(dims)), a tensor's sizes
            # (x.view(y.shape), x.new_zeros(y.shape[:2])).
            if op.varargs and (len(rest) > 1 or (len(rest) == 1 and not _whole_sizes(rest[0]))):
                rest = (ir.Seq(rest, span, is_tuple=True),)
            if op.bare_method is not None and not rest and not kwargs:  # x.flatten(): torch's default differs
                raise self.refuse(func, *op.bare_method)
            return ir.Call(func.attr, "op", (receiver, *rest), kwargs, span, method=True)
        if not isinstance(func, ast.Name):
            raise self.refuse(func, "only layers and ops can be called", "call a layer by name, as conv1(x)")
        args = tuple(self.expr(a) for a in node.args)
        op = OPS.get(func.id)
        if op is not None and op.varargs and not op.tensors and (  # ones(T, T): the sizes one by one
                len(args) > 1 or (len(args) == 1 and not isinstance(args[0], ir.Name) and not _whole_sizes(args[0]))):
            args = (ir.Seq(args, span, is_tuple=True),)
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

    def subscript(self, node: ast.Subscript, span: Span) -> ir.Index | ir.Call | ir.Subscript:
        if isinstance(node.value, ast.Attribute) and node.value.attr == "shape" and not isinstance(
                node.slice, ast.Slice):  # x.shape[0] is x.size(0); x.shape[1:] a tuple of sizes
            return ir.Call(SHAPE_INDEX_OP, "op", (self.expr(node.value.value), self.expr(node.slice)), (), span,
                           method=True)
        if not isinstance(node.value, ast.Name) or self.r.param_kinds.get(node.value.id) not in (
                "ParameterList", "ParameterDict"):
            return self.tensor_subscript(node, span)
        base = self.name(node.value)
        index = self.expr(node.slice)
        if not isinstance(index, (ir.Const, ir.Name)):
            raise self.refuse(node.slice, "an index is a constant or a forward argument", "write params[choice]")
        return ir.Index(base, index, span)

    def tensor_subscript(self, node: ast.Subscript, span: Span) -> ir.Subscript:
        """``x[:, -1]``, ``x[..., :half]``, ``x[..., None]``, ``sizes[0]``: a value indexed (basic indexing only:
        integers, slices, None and one Ellipsis; a tensor index would gather, which the language leaves out)."""
        base = self.expr(node.value)
        parts = node.slice.elts if isinstance(node.slice, ast.Tuple) else [node.slice]
        if not parts:
            raise self.refuse(node, "an empty index is not part of the forward language", "write x[...]")
        items = tuple(self.index_item(part) for part in parts)
        return ir.Subscript(base, items, span)

    def index_item(self, part: ast.expr) -> ir.Expr | ir.Slice:
        span = self.at(part.lineno, part.col_offset)
        if isinstance(part, ast.Slice):
            bounds = [None if b is None else self.expr(b) for b in (part.lower, part.upper, part.step)]
            return ir.Slice(bounds[0], bounds[1], bounds[2], span)
        if isinstance(part, ast.Constant) and part.value is Ellipsis:
            return ir.Const(Ellipsis, span)
        if isinstance(part, (ast.List, ast.Tuple, ast.Starred)):
            raise self.refuse(part, "indexing with a list or tuple (advanced indexing) is not part of the forward "
                              "language", "index with integers, slices, None and ..., or use an op such as select")
        return self.expr(part)

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


def _whole_sizes(arg: ir.Expr) -> bool:
    """An argument that is all of a varargs op's sizes at once: a list or tuple written out, a build-time name,
    ``x.shape``, or a slice of one (``x.shape[:2]``)."""
    return isinstance(arg, ir.Seq) or (isinstance(arg, ir.Name) and arg.kind == "build") or (
        isinstance(arg, ir.Attr) and arg.name == "shape") or (
        isinstance(arg, ir.Subscript) and any(isinstance(item, ir.Slice) for item in arg.items))


def _unpack_target(target: ast.expr, depth: int = 0) -> bool:
    """``a, b`` or ``out, (h, c)``: names and nested tuples of names, each tuple of two or more."""
    if not isinstance(target, (ast.Tuple, ast.List)) or len(target.elts) < 2 or depth > 8:
        return False
    return all(isinstance(t, ast.Name) or _unpack_target(t, depth + 1) for t in target.elts)


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


__all__ = ["BINOPS", "MAX_EXPR_DEPTH", "MAX_EXPR_NODES", "MAX_FORWARD_NODES", "MAX_STEP_CHARS", "Definition",
           "ForwardParser", "Resolving"]
