"""Static shape inference: run the forward program on shapes, not tensors.

Pure integer arithmetic (the rules live in :mod:`netspec.ops`), no torch.  It
fills in the arguments that follow from the input (``in_features``...), counts
parameters, and records a row per layer and op for the summary.  When a forward
argument picks a ParameterDict entry, each choice is inferred on its own and
every resulting output shape is reported.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from . import ir
from .errors import Collector, Diagnostic, Path, Span, SpecError, did_you_mean, format_path, short_repr
from .ops import LAYERS, OPS, ShapeError, Tensor, broadcast, fmt_shape, matmul_shape
from .ops._core import INT64_MAX, Dim, promote_types
from .schema import OP_ARG_MODELS, SEQUENTIAL, describe_value, expected_text

DEFAULT_MAX_PARAMS = 1_000_000_000  # ~4 GB of float32: past this, load() refuses unless told otherwise
MAX_WORLDS = 256
# Statements inference may execute, over all loops and forward-argument worlds together:
# loops over ParameterLists and worlds multiply the work a short spec asks for.
MAX_EXECUTED = 50_000
MAX_ACTIVATION = 2**32  # elements of one output (symbolic dims counted as 1): past this, a warning


@dataclass
class Row:
    path: str
    type: str
    output_shape: tuple[Dim, ...]
    params: int
    depth: int = 0


@dataclass
class Inference:
    model: ir.Model
    layer_args: dict[str, dict[str, Any]]
    rows: list[Row]
    output: Tensor
    variants: dict[str, Tensor]
    total_params: int
    trainable_params: int
    sizes: dict[str, int]  # params per leaf layer or parameter group, for budget reports
    warnings: list[Diagnostic] = field(default_factory=list)

    def largest(self, n: int = 3) -> list[tuple[str, int]]:
        return sorted(self.sizes.items(), key=lambda kv: -kv[1])[:n]


@dataclass
class _Group:
    """A ParameterList or ParameterDict as a forward value."""

    group: ir.ParamGroup


@dataclass
class _Steps:
    """Statements left to execute, shared by every world's evaluator."""

    left: int


class _Fail(Exception):
    """Stops one world's evaluation after its diagnostic is recorded."""


def infer(model: ir.Model) -> Inference:
    diag = Collector()
    worlds = list(_worlds(model, diag))
    diag.raise_if_errors()
    layer_args: dict[str, dict[str, Any]] = {}
    rows: list[Row] = []
    variants: dict[str, Tensor] = {}
    output: Tensor | None = None
    steps = _Steps(MAX_EXECUTED)
    for i, world in enumerate(worlds):
        evaluator = _Evaluator(model, world, layer_args, rows if i == 0 else None, diag, steps)
        result = evaluator.run()
        if result is None:
            break
        if i == 0:
            output = result
        if len(worlds) > 1:
            variants[", ".join(f"{k}={v!r}" for k, v in world.items())] = result
    diag.raise_if_errors()
    assert output is not None
    _complete_unused(model, layer_args, diag)
    diag.raise_if_errors()
    sizes = _sizes(model, layer_args)
    total = sum(sizes.values())
    frozen = sum(math.prod(t.shape) for g in model.params for t in g.items if not t.requires_grad)
    _check_total(model, total, diag)
    diag.raise_if_errors()
    if len({v.shape for v in variants.values()}) <= 1:
        variants = {}
    return Inference(model, layer_args, rows, output, variants, total, total - frozen, sizes,
                     model.warnings + diag.diagnostics)


# ---------------------------------------------------------------- forward arguments


def _worlds(model: ir.Model, diag: Collector) -> Iterator[dict[str, Any]]:
    """Each assignment of the forward arguments that pick a parameter: a ParameterDict
    key, or a ParameterList position (each choice can give its own output shape)."""
    choices: dict[str, list[Any]] = {}
    reported: set[str] = set()
    for index in _indexes(model.body):
        arg = index.index
        if not (isinstance(arg, ir.Name) and arg.id in model.args):
            continue
        group = model.param_group(index.base.id)
        default = model.args[arg.id]
        if group.kind == "ParameterList":
            if not isinstance(default, int) or isinstance(default, bool):
                continue  # the index check reports the wrong type
            keys: list[Any] = list(range(len(group.items)))
            default = default % len(keys) if -len(keys) <= default < len(keys) else default
        else:
            keys = [str(t.key) for t in group.items]
        choices[arg.id] = [k for k in choices.get(arg.id, keys) if k in keys]
        if group.kind == "ParameterList":
            continue  # an out-of-range default is reported where it is used
        if default not in keys and arg.id not in reported:
            reported.add(arg.id)
            hint = did_you_mean(str(default), keys) or f"keys are {', '.join(map(str, keys))}"
            diag.add(Diagnostic("unknown-key", f"default {short_repr(default)} of '{arg.id}' is not a key of "
                                f"'{group.name}'", model.source.span(("args", arg.id)), ("args", arg.id), hint))
    names = list(choices)
    ordered = [[model.args[n], *[k for k in choices[n] if k != model.args[n]]] for n in names]
    for count, combo in enumerate(itertools.product(*ordered)):
        if count >= MAX_WORLDS:
            return
        yield dict(zip(names, combo, strict=True))


def _indexes(body: Sequence[ir.Stmt]) -> Iterator[ir.Index]:
    stack: list[Any] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Index):
            yield node
        if isinstance(node, (ir.Assign, ir.Return)):
            stack.append(node.value)
        elif isinstance(node, ir.For):
            stack.extend(node.body)
        elif isinstance(node, ir.Call):
            stack.extend(node.args)
            stack.extend(v for _, v in node.kwargs)
        elif isinstance(node, ir.BinOp):
            stack.extend((node.left, node.right))
        elif isinstance(node, ir.Neg):
            stack.append(node.operand)
        elif isinstance(node, ir.Seq):
            stack.extend(node.items)
        elif isinstance(node, ir.Index):
            stack.append(node.index)


# ---------------------------------------------------------------- evaluation


class _Evaluator:
    def __init__(self, model: ir.Model, world: dict[str, Any], layer_args: dict[str, dict[str, Any]],
                 rows: list[Row] | None, diag: Collector, steps: _Steps | None = None) -> None:
        self.model = model
        self.steps = steps or _Steps(MAX_EXECUTED)
        self.world = world
        self.layer_args = layer_args
        self.rows = rows
        self.diag = diag
        self.env: dict[str, Any] = {}
        self.layers = {layer.key: layer for layer in model.layers}
        self.groups = {group.name: group for group in model.params}
        self.stmt_path: Path = ("forward",)
        self.recorded: set[str] = set()
        self.warned_sizes: set[Path] = set()
        self.where = ""
        if world and any(world[k] != model.args[k] for k in world):
            self.where = " (with " + ", ".join(f"{k}={v!r}" for k, v in world.items()) + ")"

    def run(self) -> Tensor | None:
        for inp in self.model.inputs:
            self.env[inp.name] = Tensor(inp.shape, inp.dtype)
        for name, default in self.model.args.items():
            self.env[name] = self.world.get(name, default)
        last: str = self.model.inputs[0].name
        try:
            for stmt in self.model.body:
                self.stmt_path = stmt.path
                if isinstance(stmt, ir.Return):
                    return self.tensor_result(self.eval(stmt.value), stmt)
                self.execute(stmt)
                last = stmt.target if isinstance(stmt, ir.Assign) else last
            return self.tensor_result(self.env[last], self.model.body[-1])
        except _Fail:
            return None

    def tensor_result(self, value: Any, stmt: ir.Stmt) -> Tensor:
        if not isinstance(value, Tensor):
            raise self.fail("bad-return", f"forward returns {_describe(value)}, expected a tensor", stmt.path,
                            stmt.span)
        return value

    def execute(self, stmt: ir.Stmt) -> None:
        self.steps.left -= 1
        if self.steps.left < 0:
            raise self.fail("too-large", f"shape inference would execute more than {MAX_EXECUTED:,} statements",
                            stmt.path, stmt.span, "loop over fewer parameters, or use fewer forward arguments")
        if isinstance(stmt, ir.Assign):
            self.env[stmt.target] = self.eval(stmt.value)
        elif isinstance(stmt, ir.For):
            group = self.groups[stmt.iterable.id]
            for item in group.items:
                self.env[stmt.target] = Tensor(item.shape, item.dtype or "float32")
                for inner in stmt.body:
                    self.execute(inner)
            self.env.pop(stmt.target, None)

    def fail(self, code: str, message: str, path: Path, span: Span | None, hint: str | None = None) -> _Fail:
        self.diag.add(Diagnostic(code, message + self.where, span, path, hint))
        return _Fail()

    # ------------------------------------------------------------ expressions

    def eval(self, expr: ir.Expr) -> Any:
        if isinstance(expr, ir.Const):
            return expr.value
        if isinstance(expr, ir.Name):
            if expr.kind == "param":
                group = self.groups[expr.id]
                if group.kind == "Parameter":
                    return _param_tensor(group.items[0])
                return _Group(group)
            return self.env[expr.id]
        if isinstance(expr, ir.Seq):
            return [self.eval(e) for e in expr.items] if not expr.is_tuple else tuple(self.eval(e) for e in expr.items)
        if isinstance(expr, ir.Index):
            return self.index(expr)
        if isinstance(expr, ir.Neg):
            value = self.eval(expr.operand)
            if isinstance(value, Tensor):
                return value
            return self.arith("-", 0, value, expr)
        if isinstance(expr, ir.BinOp):
            return self.arith(expr.op, self.eval(expr.left), self.eval(expr.right), expr)
        return self.call(expr)

    def index(self, expr: ir.Index) -> Tensor:
        group = self.groups[expr.base.id]
        key = self.eval(expr.index)
        path = self.path_of(expr)
        if group.kind == "ParameterList":
            if not isinstance(key, int) or isinstance(key, bool):
                raise self.fail("bad-index", f"'{group.name}' is a ParameterList and takes an integer index, found "
                                f"{short_repr(key)}", path, expr.span)
            if not -len(group.items) <= key < len(group.items):
                raise self.fail("bad-index", f"index {key} is out of range for '{group.name}' of "
                                f"{len(group.items)} parameters", path, expr.span)
            return _param_tensor(group.items[key])
        keys = [str(t.key) for t in group.items]
        if key not in keys:
            raise self.fail("unknown-key", f"{short_repr(key)} is not a key of '{group.name}'", path, expr.span,
                            did_you_mean(str(key), keys) or f"keys are {', '.join(keys)}")
        return _param_tensor(group.items[keys.index(key)])

    def arith(self, op: str, left: Any, right: Any, expr: ir.Expr) -> Any:
        path = self.path_of(expr)
        if isinstance(left, Tensor) and isinstance(right, Tensor):
            try:
                if op == "@":
                    return matmul_shape(left, right)
                dtype = _true_divide(op, promote_types(left.dtype, right.dtype))
                return Tensor(broadcast(left.shape, right.shape), dtype)
            except ShapeError as exc:
                raise self.fail(exc.code, f"'{op}': {exc.message}", path, expr.span, exc.hint) from None
        tensor = left if isinstance(left, Tensor) else right if isinstance(right, Tensor) else None
        others = [v for v in (left, right) if not isinstance(v, Tensor)]
        for other in others:
            if not _is_number(other):
                raise self.fail("bad-operand", f"'{op}' needs tensors or numbers, found {_describe(other)}", path,
                                expr.span)
        if tensor is not None:
            if op == "@":
                raise self.fail("bad-operand", "'@' needs two tensors", path, expr.span)
            return Tensor(tensor.shape, _true_divide(op, _scalar_promote(tensor, others[0])))
        if op == "@" or (op == "/" and right == 0):
            raise self.fail("bad-operand", f"cannot compute {left!r} {op} {right!r}", path, expr.span)
        try:
            result = {"+": left + right, "-": left - right}.get(op) if op in "+-" else (
                left * right if op == "*" else left / right)
        except OverflowError:  # int/float mixes past the float range
            result = INT64_MAX + 1
        if isinstance(result, int) and abs(result) > INT64_MAX:
            raise self.fail("too-large", "constant arithmetic leaves the 64-bit range", path, expr.span)
        return result

    def call(self, call: ir.Call) -> Any:
        args = [self.eval(a) for a in call.args]
        kwargs = {k: self.eval(v) for k, v in call.kwargs}
        if call.kind == "layer":
            layer = self.layers[call.func]
            if kwargs:
                raise self.fail("bad-call", f"layer '{call.func}' takes tensors only, no keyword arguments",
                                self.path_of(call), call.span)
            tensors = [a for a in args if isinstance(a, Tensor)]
            n = LAYERS[layer.type].n_inputs if layer.type in LAYERS else 1
            if len(tensors) != len(args) or len(args) != n:
                raise self.fail("bad-call", f"layer '{call.func}' takes {n} tensor input{'s' * (n > 1)}, found "
                                f"{', '.join(_describe(a) for a in args) or 'none'}", self.path_of(call), call.span)
            return self.apply_layer(layer, tensors, 0)
        return self.apply_op(call, args, kwargs)

    # ------------------------------------------------------------ layers

    def apply_layer(self, layer: ir.Layer, inputs: list[Tensor], depth: int) -> Tensor:
        if layer.type == SEQUENTIAL:
            row = self.record(layer.attr, SEQUENTIAL, (), 0, depth)
            x = inputs
            for child in layer.children:
                n = LAYERS[child.type].n_inputs if child.type in LAYERS else 1
                if n != 1:
                    raise self.fail("bad-call", f"{child.type} takes {n} tensor inputs, but a Sequential passes one",
                                    child.path, self.model.source.key_span(child.path),
                                    "define it as its own layer and call it in forward with its inputs")
                x = [self.apply_layer(child, x, depth + 1)]
            if row is not None:
                row.output_shape = x[0].shape
            return x[0]
        kind = LAYERS[layer.type]
        args = self.layer_args.get(layer.attr, layer.args)
        try:
            out, inferred = kind.rule(args, inputs)
        except ShapeError as exc:
            raise self.layer_failure(layer, exc, inputs) from None
        completed = {**layer.args, **inferred}
        self.layer_args[layer.attr] = completed
        self.check_size(out, layer.path, self.model.source.key_span(layer.path))
        self.record(layer.attr, layer.type, out.shape, kind.count(completed), depth)
        return out

    def layer_failure(self, layer: ir.Layer, exc: ShapeError, inputs: list[Tensor]) -> _Fail:
        source = self.model.source
        arg_path = (*layer.path, exc.arg) if exc.arg and exc.arg in layer.args else None
        span = source.key_span(arg_path) if arg_path else source.key_span(layer.path)
        detail = ", ".join(fmt_shape(x.shape) for x in inputs)
        message = exc.message if exc.code not in ("shape-mismatch", "symbolic-dim") else \
            f"{exc.message} (input shape {detail})"
        return self.fail(exc.code, message, layer.path, span, exc.hint)

    def record(self, path: str, kind: str, shape: tuple[Dim, ...], params: int, depth: int) -> Row | None:
        if self.rows is None:
            return None
        if path in self.recorded and not path.startswith("forward"):
            kind, params = f"{kind} (shared)", 0  # a layer called again: its parameters are counted once
        self.recorded.add(path)
        row = Row(path, kind, shape, params, depth)
        self.rows.append(row)
        return row

    def check_size(self, out: Tensor, path: Path, span: Span) -> None:
        static = [d for d in out.shape if isinstance(d, int)]
        if static and math.prod(static) > INT64_MAX:
            raise self.fail("too-large", f"output {fmt_shape(out.shape)} holds more elements than a tensor can",
                            path, span)
        if static and math.prod(static) > MAX_ACTIVATION and path not in self.warned_sizes:
            self.warned_sizes.add(path)  # once per step, not once per forward-argument world
            self.diag.add(Diagnostic(
                "activation-size", f"output {fmt_shape(out.shape)} holds {math.prod(static):,} elements "
                f"(over {MAX_ACTIVATION:,}): running forward would need that much memory per call", span, path,
                "check the input size and the layer widths", "warning"))

    # ------------------------------------------------------------ ops

    def apply_op(self, call: ir.Call, args: list[Any], kwargs: dict[str, Any]) -> Tensor:
        op = OPS[call.func]
        path = self.path_of(call)
        bound = self.bind(call, args, kwargs)
        try:
            out = op.rule(bound)
        except ShapeError as exc:
            raise self.fail(exc.code, f"{call.func}: {exc.message}", path, call.span, exc.hint) from None
        self.check_size(out, path, call.span)
        self.record(format_path(path), call.func, out.shape, 0, 0)
        return out  # type: ignore[no-any-return]

    def bind(self, call: ir.Call, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        op = OPS[call.func]
        path = self.path_of(call)
        params = op.params
        if len(args) > len(params):
            raise self.fail("bad-call", f"{call.func} takes at most {len(params)} arguments "
                            f"({', '.join(params)}), found {len(args)}", path, call.span)
        bound = dict(zip(params, args, strict=False))
        for key, value in kwargs.items():
            if key not in params:
                raise self.fail("bad-call", f"{call.func} has no argument '{key}'", path, call.span,
                                did_you_mean(key, params) or f"its arguments are {', '.join(params)}")
            if key in bound:
                raise self.fail("bad-call", f"{call.func} got '{key}' twice", path, call.span)
            bound[key] = value
        for name in op.tensors:
            self.check_tensor_arg(call, name, bound, path)
        constants = {a.name: bound[a.name] for a in op.args if a.name in bound}
        try:
            checked = OP_ARG_MODELS[call.func].model_validate(constants).model_dump()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = str(first["loc"][0]) if first["loc"] else "?"
            if first["type"] == "missing":
                raise self.fail("bad-call", f"{call.func} is missing its argument '{where}'", path, call.span,
                                f"its arguments are {', '.join(params)}") from None
            raise self.fail("bad-value", f"{call.func}: argument '{where}' expected {expected_text(first)}, found "
                            f"{describe_value(constants.get(where))}", path, call.span) from None
        return {**{t.lstrip('*'): bound[t.lstrip('*')] for t in op.tensors}, **checked}

    def check_tensor_arg(self, call: ir.Call, name: str, bound: dict[str, Any], path: Path) -> None:
        key = name.lstrip("*")
        if key not in bound:
            raise self.fail("bad-call", f"{call.func} is missing its tensor argument '{key}'", path, call.span)
        value = bound[key]
        if name.startswith("*"):
            ok = isinstance(value, (list, tuple)) and all(isinstance(v, Tensor) for v in value)
            want = "a list of tensors"
        else:
            ok = isinstance(value, Tensor)
            want = "a tensor"
        if not ok:
            raise self.fail("bad-call", f"{call.func}: '{key}' expects {want}, found {_describe(value)}", path,
                            call.span)

    def path_of(self, expr: Any) -> Path:
        del expr  # every expression reports at the step that holds it
        return self.stmt_path


def _param_tensor(item: ir.ParamTensor) -> Tensor:
    return Tensor(item.shape, item.dtype or "float32")


def _scalar_promote(tensor: Tensor, number: float) -> str:
    """A Python number joins a tensor's dtype category: floats make int tensors float32, ints make bools int64."""
    if tensor.is_float:
        return tensor.dtype
    if isinstance(number, float):
        return "float32"
    return "int64" if tensor.dtype == "bool" else tensor.dtype


def _true_divide(op: str, dtype: str) -> str:
    """'/' is true division: integer operands give the default float dtype."""
    return "float32" if op == "/" and not dtype.startswith(("float", "bfloat")) else dtype


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _describe(value: Any) -> str:
    if isinstance(value, Tensor):
        return f"a tensor {fmt_shape(value.shape)}"
    if isinstance(value, _Group):
        return f"the {value.group.kind} '{value.group.name}'"
    if isinstance(value, (list, tuple)):
        return f"a list of {len(value)}"
    return short_repr(value)


# ---------------------------------------------------------------- after the forward


def _complete_unused(model: ir.Model, layer_args: dict[str, dict[str, Any]], diag: Collector) -> None:
    """Layers forward never reaches still need complete arguments to be built."""
    for layer in model.walk_layers():
        if layer.type == SEQUENTIAL or layer.attr in layer_args:
            continue
        missing = [a.name for a in LAYERS[layer.type].args if a.inferred and a.name not in layer.args]
        if missing:
            diag.add(Diagnostic("cannot-infer", f"cannot infer {', '.join(missing)}: forward never passes a tensor "
                                f"through this layer", model.source.key_span(layer.path), layer.path,
                                f"write {missing[0]} explicitly, or use the layer in forward"))
        layer_args[layer.attr] = dict(layer.args)


def _sizes(model: ir.Model, layer_args: dict[str, dict[str, Any]]) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for layer in model.walk_layers():
        if layer.type != SEQUENTIAL:
            sizes[layer.attr] = LAYERS[layer.type].count(layer_args[layer.attr])
    for group in model.params:
        for item in group.items:
            sizes[item.attr] = math.prod(item.shape)
    return sizes


def _check_total(model: ir.Model, total: int, diag: Collector) -> None:
    if total > INT64_MAX:
        diag.add(Diagnostic("too-large", f"the model would hold {total} parameters, more than 64-bit sizes allow",
                            model.source.span(()), (), "check the layer sizes for a typo"))


def check_budget(inference: Inference, max_params: int | None) -> None:
    """Refuse, before anything is allocated, a model past the parameter budget."""
    limit = DEFAULT_MAX_PARAMS if max_params is None else max_params
    if inference.total_params <= limit:
        return
    largest = ", ".join(f"{name} ({count:,})" for name, count in inference.largest())
    raise SpecError([Diagnostic(
        "param-budget", f"the model has {inference.total_params:,} parameters, over the budget of {limit:,}; "
        f"largest: {largest}", inference.model.source.span(()), (),
        "raise it with max_params= (--max-params), or build on device='meta' to allocate nothing")])


def budget_warning(inference: Inference) -> list[Diagnostic]:
    if inference.total_params <= DEFAULT_MAX_PARAMS:
        return []
    largest = ", ".join(f"{name} ({count:,})" for name, count in inference.largest())
    return [Diagnostic("param-budget", f"the model has {inference.total_params:,} parameters, over the default "
                       f"load budget of {DEFAULT_MAX_PARAMS:,}; largest: {largest}",
                       inference.model.source.span(()), (), "load it with max_params= or on device='meta'",
                       "warning")]
