"""Checked spec -> :class:`ir.Model`: names, layers, parameters and the forward program.

Forward steps written as text are parsed with :mod:`ast` and translated node by
node against a whitelist; nothing is ever evaluated.  Names are checked here
once, so every later stage can trust them as Python identifiers.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
import warnings
from typing import Any

from pydantic import BaseModel

from . import ir
from .errors import Collector, Diagnostic, Path, Span, SpecError, did_you_mean, short_repr
from .ops import OPS
from .ops._core import INT64_MAX
from .schema import INIT_ARGS, SEQUENTIAL, ListItem, ParamDictSpec, ParamItem, ParamListSpec, Spec
from .source import Source

# nn.Module's own attributes: a layer or parameter with one of these names would
# replace a method or break registration.  tests/test_resolve.py keeps this list
# in step with the installed torch.
MODULE_ATTRIBUTES = frozenset("""
T_destination add_module apply bfloat16 buffers call_super_init children compile cpu cuda double dump_patches
eval extra_repr float forward get_buffer get_extra_state get_parameter get_submodule half ipu load_state_dict
modules mtia named_buffers named_children named_modules named_parameters parameters register_backward_hook
register_buffer register_forward_hook register_forward_pre_hook register_full_backward_hook
register_full_backward_pre_hook register_load_state_dict_post_hook register_load_state_dict_pre_hook
register_module register_parameter register_state_dict_post_hook register_state_dict_pre_hook requires_grad_
set_extra_state set_submodule share_memory state_dict to to_empty train training type xpu zero_grad
""".split())  # noqa: SIM905 - one word list reads better than 54 quoted strings
# Methods the containers add to nn.Module: a ParameterDict key or a named Sequential
# child with one of these names makes torch refuse the attribute when it is built.
CONTAINER_ATTRIBUTES = {
    "ParameterDict": frozenset({"clear", "copy", "fromkeys", "get", "items", "keys", "pop", "popitem", "setdefault",
                                "update", "values"}),
    "Sequential": frozenset({"append", "extend", "insert", "pop"}),
}
# Names the generated module itself uses at top level or inside forward.
RESERVED = frozenset({"self", "torch", "nn", "F", "OrderedDict", "corr2d", "device", "dtype", "super"})

BINOPS: dict[type[ast.operator], str] = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.MatMult: "@"}
_OPERATOR_TEXT: dict[type[ast.operator], str] = {ast.Pow: "**", ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<",
                                                 ast.RShift: ">>", ast.BitOr: "|", ast.BitAnd: "&", ast.BitXor: "^"}
MAX_EXPR_NODES = 2_000
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*")


def _non_ascii_outside_strings(text: str) -> str | None:
    """The first non-ASCII character of ``text`` that is not inside a quoted string."""
    quote = None
    for char in text:
        if quote is None and char in "'\"":
            quote = char
        elif char == quote:
            quote = None
        elif quote is None and not char.isascii():
            return char
    return None


_VARARG_METHODS = frozenset({"reshape", "permute"})  # Tensor methods that take sizes as separate arguments
_ASSIGNED = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*=(?!=)")
# Every later stage walks expressions recursively; deeper ones are refused here.
MAX_EXPR_DEPTH = 100
MAX_STEP_CHARS = 10_000
MAX_PARAM_TENSORS = 10_000
MAX_FORWARD_NODES = 50_000


def resolve(spec: Spec, source: Source) -> ir.Model:
    return _Resolver(spec, source).run()


class _Resolver:
    def __init__(self, spec: Spec, source: Source) -> None:
        self.spec = spec
        self.source = source
        self.diag = Collector()
        self.layer_names: set[str] = set()
        self.param_kinds: dict[str, str] = {}
        self.used: set[str] = set()
        self.param_tensors = 0
        self.forward_nodes = 0

    def error(self, code: str, message: str, path: Path, hint: str | None = None, span: Span | None = None,
              key: bool = False) -> None:
        where = span or (self.source.key_span(path) if key else self.source.span(path))
        self.diag.add(Diagnostic(code, message, where, path, hint))

    def warn(self, code: str, message: str, path: Path, hint: str | None = None, key: bool = True) -> None:
        where = self.source.key_span(path) if key else self.source.span(path)
        self.diag.add(Diagnostic(code, message, where, path, hint, "warning"))

    def run(self) -> ir.Model:
        self.check_name(self.spec.name, ("name",), "class name", attribute=False, key=False)
        if self.spec.name in vars(builtins):  # the class is a module global: it would hide e.g. range()
            self.error("bad-name", f"class name '{self.spec.name}' would hide Python's builtin of that name", ("name",),
                       f"rename it, e.g. '{self.spec.name.capitalize()}Net'")
        inputs = self.inputs()
        for name in self.spec.args:
            self.check_name(name, ("args", name), "forward argument", attribute=False)
            written = self.source.data["args"][name]
            if isinstance(written, int) and not isinstance(written, bool) and abs(written) > INT64_MAX:
                # pydantic would quietly take it as a float
                self.error("bad-value", f"expected an integer that fits in 64 bits, found {written}",
                           ("args", name), "torch takes Python ints up to 2**63 - 1")
        for name in self.spec.vars:
            self.check_name(name, ("vars", name), "variable", attribute=False)
        layers = [self.layer(value, name, str(name), ("layers", name)) for name, value in self.spec.layers.items()]
        params = [self.param_group(name, value) for name, value in self.spec.params.items()]
        self.layer_names = set(self.spec.layers)
        self.check_clashes()
        self.diag.raise_if_errors()
        body = self.forward(inputs)
        self.diag.raise_if_errors()
        self.unused()
        warnings = [d for d in self.diag.diagnostics if d.severity == "warning"]
        return ir.Model(self.spec.name, self.spec.description, self.source, inputs, dict(self.spec.args), layers,
                        params, body, warnings)

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
        for name in self.spec.params:
            if name in self.spec.layers:
                self.error("duplicate-name", f"'{name}' names both a layer and a parameter", ("params", name),
                           "give each module attribute its own name", key=True)
        for name in [*self.spec.inputs, *self.spec.args]:
            if name in self.spec.layers or name in self.spec.params:
                section = "inputs" if name in self.spec.inputs else "args"
                self.error("duplicate-name", f"'{name}' names both a forward value and a layer or parameter",
                           (section, name), "rename the input or argument", key=True)
        for name in self.spec.args:
            if name in self.spec.inputs:
                self.error("duplicate-name", f"'{name}' is both an input and an argument", ("args", name), key=True)

    # ------------------------------------------------------------ inputs, layers, params

    def inputs(self) -> list[ir.Input]:
        result = []
        for name, value in self.spec.inputs.items():
            self.check_name(name, ("inputs", name), "input", attribute=False)
            shape, dtype = (value, "float32") if isinstance(value, list) else (value.shape, value.dtype)
            result.append(ir.Input(name, tuple(shape), dtype, self.source.key_span(("inputs", name))))
        return result

    def layer(self, value: Any, key: str | int, attr: str, path: Path) -> ir.Layer:
        if isinstance(key, str):
            self.check_name(key, path, "layer")
        if isinstance(value, str):
            return ir.Layer(key, attr, path, value)
        if isinstance(value, list):
            return self.sequential(value, key, attr, path, path)
        kind = value.type
        if kind == SEQUENTIAL:
            return self.sequential(value.layers, key, attr, path, (*path, "layers"))
        args = value.model_dump(exclude_unset=True, exclude={"type"})
        return ir.Layer(key, attr, path, kind, args)

    def sequential(self, children: Any, key: str | int, attr: str, path: Path, child_base: Path) -> ir.Layer:
        items = list(children.items()) if isinstance(children, dict) else list(enumerate(children))
        if not items:
            self.error("empty-sequential", "a Sequential needs at least one layer", path)
        layer = ir.Layer(key, attr, path, SEQUENTIAL, named=isinstance(children, dict))
        for name, _ in items:
            if isinstance(name, str) and name in CONTAINER_ATTRIBUTES[SEQUENTIAL]:
                self.check_container_key(name, (*child_base, name), SEQUENTIAL)
        layer.children = [self.layer(v, k, f"{attr}.{k}", (*child_base, k)) for k, v in items]
        return layer

    def param_group(self, name: str, value: Any) -> ir.ParamGroup:
        path: Path = ("params", name)
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
        """A parameter shape with its ``vars`` names replaced by their values."""
        out = []
        for i, dim in enumerate(dims):
            if isinstance(dim, str):
                if dim not in self.spec.vars:
                    self.error("undefined-name", f"'{dim}' is not defined in vars", (*path, i),
                               did_you_mean(dim, self.spec.vars) or "define it under 'vars:', e.g. vars: {D: 64}")
                    dim = 1
                else:
                    dim = self.spec.vars[dim]
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
        if init == "uniform" and init_args["a"] > init_args["b"]:
            self.error("bad-value", f"uniform needs a <= b, found a={init_args['a']}, b={init_args['b']}",
                       (*path, "init"))
        if init.startswith(("kaiming", "xavier")) and len(item.shape) < 2:
            self.error("bad-init", f"{init} needs a parameter of at least 2 dims to compute fans, found "
                       f"{len(item.shape)}", (*path, "init"), "use normal or uniform for 1-D parameters")
        shape = self.shape(item.shape, (*path, "shape"))
        return ir.ParamTensor(key, attr, path, shape, init, init_args, item.requires_grad, item.dtype)

    # ------------------------------------------------------------ forward

    def forward(self, inputs: list[ir.Input]) -> list[ir.Stmt]:
        first = inputs[0].name
        if self.spec.forward is None:
            if len(inputs) > 1:
                self.error("needs-forward", f"with {len(inputs)} inputs, forward must say how they are used",
                           ("inputs",), "add a 'forward:' list of steps")
                return []
            body: list[ir.Stmt] = []
            for name in self.spec.layers:
                span = self.source.key_span(("layers", name))
                call = ir.Call(name, "layer", (ir.Name(first, "value", span),), (), span)
                body.append(ir.Assign(first, call, span, ("layers", name)))
                self.used.add(name)
            if not body:
                self.error("empty-forward", "the spec has no layers and no forward", (), "add layers or a forward")
            return body
        return _ForwardParser(self, first).parse(self.spec.forward)

    def unused(self) -> None:
        if self.spec.forward is None:
            return
        for name in self.spec.layers:
            if name not in self.used:
                self.warn("unused-layer", f"layer '{name}' is never used in forward", ("layers", name),
                          "remove it, or call it in forward")
        for name in self.spec.params:
            if name not in self.used:
                self.warn("unused-param", f"parameter '{name}' is never used in forward", ("params", name),
                          "remove it, or use it in forward")


class _ForwardParser:
    """Turns forward steps into IR statements, tracking which values exist."""

    def __init__(self, resolver: _Resolver, first: str) -> None:
        self.r = resolver
        self.current = first
        self.values: set[str] = set(resolver.spec.inputs) | set(resolver.spec.args)
        self.path: Path = ("forward",)
        self.span = Span(resolver.source.file, 1, 1)
        self.text = ""
        self.returned = False
        self.explicit = False
        self.assigned_later: set[str] = set()
        self.symbols = {d for value in resolver.spec.inputs.values()
                        for d in (value if isinstance(value, list) else value.shape) if isinstance(d, str)}

    def parse(self, steps: list[Any]) -> list[ir.Stmt]:
        self.assigned_later = {m.group(1) for s in steps if isinstance(s, str) and (m := _ASSIGNED.match(s))}
        body: list[ir.Stmt] = []
        for i, step in enumerate(steps):
            self.path = ("forward", i)
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
                         ("forward", len(steps) - 1), "end forward with a step like 'return x'")
        return body

    def step(self, step: Any) -> ir.Stmt | None:
        if isinstance(step, BaseModel):
            (op,) = step.model_dump(exclude_unset=True, by_alias=True)
            raw = self.r.source.data["forward"][self.path[1]][op]
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
        return self.assignment(node, span)

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
        if isinstance(node, ast.Assign):
            raise self.refuse(node, "assign one name at a time", "write 'h = expression'")
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
        self.explicit = True
        self.values.add(name)
        self.current = name
        return name

    def loop(self, node: ast.For, span: Span) -> ir.For:
        if not isinstance(node.target, ast.Name):
            raise self.refuse(node.target, "a for loop binds one name", "write 'for p in params: x = mm(x, p)'")
        if not isinstance(node.iter, ast.Name) or self.r.param_kinds.get(node.iter.id) != "ParameterList":
            raise self.refuse(node.iter, "a for loop runs over a ParameterList", "write 'for p in params: ...'")
        if node.orelse:
            raise self.refuse(node, "for ... else is not part of the forward language")
        iterable = self.name(node.iter)
        target = node.target.id
        if not _NAME.fullmatch(target):
            raise self.refuse(node.target, f"loop variable '{target}' must be ASCII letters, digits and '_', starting "
                              "with a letter", code="bad-name")
        if (target in self.r.layer_names or target in self.r.param_kinds or target in RESERVED or target in OPS
                or target in self.values):
            raise self.refuse(node.target, f"loop variable '{target}' would hide another name")
        self.values.add(target)
        body = []
        for child in node.body:
            stmt = self.assignment(child, self.at(child.lineno, child.col_offset))
            body.append(stmt)
        self.values.discard(target)
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
                raise self.refuse(node, f"operator '{_OPERATOR_TEXT.get(type(node.op), '?')}' is not part of the "
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
                raise self.refuse(func, f"method '.{func.attr}()' is not part of the forward language",
                                  hint or "call an op, e.g. mean(x)")
            rest = tuple(self.expr(a) for a in node.args)
            if func.attr in _VARARG_METHODS and len(rest) > 1:  # x.reshape(-1, 400), as Tensor.reshape takes
                rest = (ir.Seq(rest, span, is_tuple=True),)
            if func.attr == "flatten" and not rest and not kwargs:
                raise self.refuse(func, "x.flatten() flattens the batch dim too in PyTorch, but netspec's flatten "
                                  "keeps it", "write x.flatten(1) to keep the batch dim, or x.flatten(0)")
            return ir.Call(func.attr, "op", (receiver, *rest), kwargs, span, method=True)
        if not isinstance(func, ast.Name):
            raise self.refuse(func, "only layers and ops can be called", "call a layer by name, as conv1(x)")
        args = tuple(self.expr(a) for a in node.args)
        if func.id in self.r.layer_names:
            self.r.used.add(func.id)
            return ir.Call(func.id, "layer", args, kwargs, span)
        if func.id in OPS:
            return ir.Call(func.id, "op", args, kwargs, span)
        hint = did_you_mean(func.id, [*self.r.layer_names, *OPS])
        raise self.refuse(func, f"'{func.id}' is neither a layer of this spec nor an op",
                          hint or "see 'netspec layers' for the ops", code="unknown-name")

    def subscript(self, node: ast.Subscript, span: Span) -> ir.Index:
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

        Each line of the text is looked for in the file between the step's start
        and the next step (a block scalar starts a line below its indicator).  A
        text YAML changed on the way in (escapes, folded lines) is not found
        there, and the step's own start is the honest answer.
        """
        base = self.span
        wanted = (self.text.splitlines() or [""])[lineno - 1] if 0 < lineno <= len(self.text.splitlines()) else ""
        body = wanted.lstrip()
        if not body or col_offset < len(wanted) - len(body):
            return base
        lines = self.r.source.lines
        step = self.path[1] if len(self.path) > 1 and isinstance(self.path[1], int) else 0
        end = self.r.source.spans.get(("forward", step + 1), Span(base.file, len(lines) + 1, 1)).line
        searched = 0
        for index in range(base.line - 1, min(end, len(lines))):
            found = lines[index].find(body, base.col - 1 if index == base.line - 1 else 0)
            if found >= 0:
                searched += 1
                if searched == lineno:
                    return Span(base.file, index + 1, found + col_offset - (len(wanted) - len(body)) + 1)
        return base

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
