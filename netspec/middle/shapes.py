"""Static shape inference: run the forward program on shapes, not tensors.

Pure integer arithmetic (the rules live in :mod:`netspec.ops`), no torch.  It
fills in the arguments that follow from the input (``in_features``...), counts
parameters, and records a row per layer and op for the summary.  When a forward
argument picks a ParameterDict entry, each choice is inferred on its own and
every resulting output shape is reported.
"""

from __future__ import annotations

import bisect
import copy
import itertools
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

from ..errors import Collector, Diagnostic, Path, Span, SpecError, did_you_mean, format_path, short_repr
from ..frontend import schema
from ..frontend.core import ValidationError
from ..frontend.expr import ExprError, evaluate
from ..frontend.schema import OP_ARG_MODELS, SEQUENTIAL
from ..frontend.validate import describe_value, expected_text
from ..ops import (
    DTYPE_BYTES,
    INT64_MAX,
    LAYERS,
    MODULE_DTYPE,
    OPS,
    Bool,
    Device,
    Dim,
    DTypeName,
    ShapeError,
    SymSize,
    Tensor,
    UnreadArgMismatch,
    broadcast,
    fmt_shape,
    matmul_macs,
    matmul_shape,
    promote_types,
    registry,
    size_arith,
)
from ..ops.buffers import FILLS
from ..ops.indexing import index_shape
from ..ops.operators import BITWISE, BY_SYMBOL, COMPARE_BY_SYMBOL, operator_function
from ..ops.weights import OUTPUT_FREE_BACKWARD, PARAM_SHAPES
from . import counts, ir
from .elaborate import MAX_CHILDREN, MAX_INSTANCES, Budget, Child, Elaborator, Instance, Refusal, default_of
from .init_passes import check_init_passes, condition_holds

DEFAULT_MAX_PARAMS = 10_000_000_000  # ~40 GB of float32 (a 7B model fits): past this, load() refuses unless told so
MAX_WORLDS = 256
# Statements inference may execute, over all loops and forward-argument worlds together:
# loops over ParameterLists and worlds multiply the work a short spec asks for.  100,000 layers applied
# in order fit (one statement each).  A block instance identical to an earlier one is not executed again
# (its inference is repeated: see ``Memo``) and takes from MAX_COPIED instead.
MAX_EXECUTED = 120_000
# Expressions evaluated and layers applied, over all loops and worlds together: one statement can
# expand to hundreds of calls (a 390-call loop body over 10,000 parameters ran for minutes).  100,000
# layers in order take ~300,000.
MAX_WORK = 320_000
# Rows, trace events and entries that repeating identical block instances' inference copies: 50,000
# residual blocks take ~1,500,000 (a block's inference repeated costs ~1 us per item).
MAX_COPIED = 4_000_000
# Dims of any tensor: torch's TensorIterator refuses more than 64 ("only tensors with up to 64 dims
# are supported"), and 20,000 unsqueeze steps would otherwise hold shapes of 20,000 dims per row.
MAX_RANK = 64
MAX_ACTIVATION = 2**32  # elements of one output (symbolic dims counted as 1): past this, a warning


@dataclass
class Row:
    path: str
    type: str
    output_shape: tuple[Dim, ...]
    params: int
    depth: int = 0
    # Multiply-accumulates of this call (a container's: everything inside it), at the spec's own dims (N kept):
    # counts.per_sample gives the figure per sample.
    macs: Dim = 0
    # Bytes of the tensors this call outputs (0 for a container: its children's outputs are counted).
    activation_bytes: Dim = 0
    container: bool = False  # a Sequential's or a block's row
    input_shapes: tuple[tuple[Dim, ...], ...] = ()
    kernel_size: Any = None  # a conv's or pool's, as written or defaulted


@dataclass
class Inference:
    program: ir.Program  # the root definition and the blocks it can use
    layer_args: dict[str, dict[str, Any]]  # complete arguments of every layer, by module path
    rows: list[Row]
    output: Tensor
    variants: dict[str, Tensor]
    total_params: int
    trainable_params: int
    sizes: dict[str, int]  # params per leaf layer or parameter group, for budget reports
    warnings: list[Diagnostic] = field(default_factory=list)
    instances: dict[str, Instance] = field(default_factory=dict)  # by module path; the root at ""
    memory: Memory | None = None  # parameter and buffer bytes
    # Block entries no instance builds, as made-up instances build them (codegen writes their classes from these)
    hypothetical: Hypothetical | None = None
    trace: list[Event] = field(default_factory=list)  # the forward at the default arguments, event by event
    in_place: frozenset[int] = frozenset()  # the `x += y` statements (by id) generated code keeps in place
    init_guards: frozenset[int] = frozenset()  # init fills (by id) some reached module lacks: `is not None` first

    @property
    def model(self) -> ir.ModuleDef:
        """The root definition."""
        return self.program.root

    def largest(self, n: int = 3) -> list[tuple[str, int]]:
        return sorted(self.sizes.items(), key=lambda kv: -kv[1])[:n]


@dataclass(eq=False)
class Event:
    """One thing the recording evaluation did (the forward at the default forward arguments), in order.

    ``kind`` is "input" (a root input: ``node`` the :class:`ir.Input`), "param" (a parameter tensor read:
    the :class:`ir.ParamTensor`), "layer" (a leaf layer applied: its :class:`ir.Layer`), "op" (a functional
    op: its :class:`ir.Call`), "arith" (``+ - * / @`` on tensors: the :class:`ir.BinOp`; ``type`` the
    symbol), "neg" (unary minus on a tensor), "index" (``x[...]``), "enter"/"exit" around a Sequential's or a block
    instance's forward (the :class:`ir.Layer` of its entry; ``type`` "Sequential" or the definition's name), or
    "step" (a forward statement done: the :class:`ir.Assign`, :class:`ir.Unpack` or :class:`ir.Return`, and in
    ``output`` the value it assigned or returned, a tensor or not).
    ``instance`` is the module path of the instance that ran it ("" for the root), ``path`` the module path
    or row path, ``inputs`` the tensors it consumed and ``output`` what it gave (the same objects the next
    events consume: a value's producer is the event whose ``output`` holds it), ``row`` its summary row,
    ``span`` where it happened: the call or the expression in forward (a layer, block or Sequential called there,
    an op, arithmetic), else where the layer is written (a layer inside a Sequential, an input, a parameter).
    """

    kind: str
    node: Any
    instance: str
    path: str
    type: str
    inputs: tuple[Any, ...]
    output: Any
    row: Row | None
    span: Span | None

@dataclass
class Hypothetical:
    """Instances of blocks at argument values no use in the spec passes, made up so that a block entry no
    instance builds (a ``downsample`` whose ``if`` is false everywhere) is still inferred somewhere: codegen
    writes such an entry's inferred arguments from what these inferred, as it does from real instances."""

    instances: list[Instance]
    layer_args: dict[str, dict[str, Any]]


@dataclass(frozen=True)
class Memory:
    """Bytes the module's state holds, each tensor counted once, by dtype."""

    param_bytes: dict[str, int]
    buffer_bytes: dict[str, int]
    trainable_bytes: int  # parameters that require grad: these get gradients

    @property
    def total_param_bytes(self) -> int:
        return sum(self.param_bytes.values())

    @property
    def total_buffer_bytes(self) -> int:
        return sum(self.buffer_bytes.values())


@dataclass
class _Group:
    """A ParameterList or ParameterDict as a forward value."""

    group: ir.ParamGroup


@dataclass
class Steps:
    """Statements and work units left, shared by every world's evaluator; and the items repeated instances may
    still copy."""

    left: int
    work: int = MAX_WORK
    copies: int = MAX_COPIED


class _Fail(Exception):
    """Stops one world's evaluation after its diagnostic is recorded."""


def infer(program: ir.Program, keep: list[Shared] | None = None) -> Inference:
    """Every instance of the program inferred at its own arguments and input shapes.

    ``keep`` (the language server's) receives the shared state as soon as it exists, so what was inferred
    before an error (rows, trace, instances) can still be read when this raises."""
    model = program.root
    diag = Collector()
    elaborator = Elaborator(program)
    try:
        root = elaborator.root()
    except Refusal as exc:
        raise SpecError([exc.diagnostic]) from None
    worlds = list(_worlds(model, diag))
    diag.raise_if_errors()
    shared = Shared(elaborator, {}, [], diag, Steps(MAX_EXECUTED, MAX_WORK, MAX_COPIED), {"": root}, trace=[],
                    memo={})
    if keep is not None:
        keep.append(shared)
    variants: dict[str, Tensor] = {}
    output: Tensor | None = None
    for i, world in enumerate(worlds):
        evaluator = Interpreter(root, world, shared, record=i == 0)
        result = evaluator.run()
        if result is None:
            break
        if i == 0:
            output = result
        if len(worlds) > 1:
            variants[", ".join(f"{k}={v!r}" for k, v in world.items())] = result
    diag.raise_if_errors()
    assert output is not None
    _complete_unused(shared)
    diag.raise_if_errors()
    hypothetical = _probe_unbuilt(shared)
    layer_args = shared.layer_args
    sizes = _sizes(shared)
    shapes, dtypes, layers = _parameter_shapes(shared) if _checks_parameters(root, shared) else ({}, {}, {})
    tied = _check_ties(root, shapes, dtypes, layers, diag)
    init_guards = check_init_passes(shared.instances, shapes, dtypes, layer_args, diag)
    diag.raise_if_errors()
    total = sum(sizes.values()) - tied
    frozen = sum(math.prod(param_shape(t, inst)) for inst in shared.instances.values()
                 for g in inst.definition.params for t in g.items if not t.requires_grad)
    _check_total(model, total, diag)
    diag.raise_if_errors()
    _container_totals(shared.rows, sizes)
    if len({v.shape for v in variants.values()}) <= 1:
        variants = {}
    return Inference(program, layer_args, shared.rows, output, variants, total, total - frozen, sizes,
                     model.warnings + diag.diagnostics, shared.instances, _memory(shared, sizes, tied),
                     hypothetical, shared.trace or [],
                     frozenset(key for key, safe in shared.in_place.items() if safe), init_guards)


@dataclass
class Shared:
    """What every instance's evaluation adds to: one budget, one set of rows and diagnostics."""

    elaborator: Elaborator
    layer_args: dict[str, dict[str, Any]]
    rows: list[Row]
    diag: Collector
    steps: Steps
    instances: dict[str, Instance]
    recorded: set[str] = field(default_factory=set)
    warned: set[Path] = field(default_factory=set)
    step_rows: dict[str, int] = field(default_factory=dict)  # rows one step has recorded: linear numbering
    inputs: dict[str, list[Tensor]] = field(default_factory=dict)  # each block instance's first inputs
    trace: list[Event] | None = None  # what the recording evaluation did, step by step (None: not kept)
    # Identical block instances inferred once: by what decides an instance's inference (None: each one runs)
    memo: dict[Any, Memo] | None = None
    capturing: int = 0  # instances being inferred for the memo, one inside another
    writes: list[tuple[int, str, Any]] = field(default_factory=list)  # what those add to the dicts, in order
    in_place: dict[int, bool] = field(default_factory=dict)  # each `x += y` (by id): safe in place everywhere

    def note(self, kind: int, key: str, value: Any) -> None:
        """One entry added to ``layer_args`` (0), ``step_rows`` (1), ``instances`` (2) or ``inputs`` (3), kept
        while an instance is inferred for the memo (another instance then adds the same under its own path)."""
        if self.capturing:
            self.writes.append((kind, key, value))


# ---------------------------------------------------------------- forward arguments


def _worlds(model: ir.ModuleDef, diag: Collector) -> Iterator[dict[str, Any]]:
    """Each assignment of the forward arguments that pick a parameter: a ParameterDict
    key, or a ParameterList position (each choice can give its own output shape)."""
    choices: dict[str, list[Any]] = {}
    reported: set[str] = set()
    # Only an index that names a forward argument picks a world: without arguments, skip the walk of every step.
    for index in _indexes(model.body) if model.args else ():
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


class _Indexes(ir.NodeVisitor):
    """Every ``group[index]`` of a forward, each after the ones inside it (post-order)."""

    def __init__(self) -> None:
        self.found: list[ir.Index] = []

    def visit_Index(self, node: ir.Index) -> None:
        self.generic_visit(node)
        self.found.append(node)


def _indexes(body: Sequence[ir.Stmt]) -> Iterator[ir.Index]:
    """Every ``group[index]`` of a forward, from the last statement back (the order worlds are numbered in)."""
    finder = _Indexes()
    for stmt in body:
        finder.visit(stmt)
    return reversed(finder.found)


# ---------------------------------------------------------------- evaluation


class Interpreter(ir.NodeVisitor):
    """Runs one instance's forward on shapes; block children run their own instance's forward.

    One hook per kind of IR node, as torch.fx's ``Interpreter``: :meth:`execute` and :meth:`eval` count the
    step against the shared budget, then dispatch to ``visit_<Node>`` (``visit_Assign``, ``visit_Call``...),
    which a pass may override.  Layers, ops, arithmetic, parameters and the root's inputs go through
    :meth:`apply_layer`, :meth:`apply_op`, :meth:`arith`, :meth:`param_tensor` and :meth:`run`; when the
    evaluation records (the first forward-argument world), each appends an :class:`Event` to the trace.
    """

    def __init__(self, instance: Instance, world: dict[str, Any], shared: Shared, record: bool = True,
                 depth: int = 0) -> None:
        self.instance = instance
        self.model = instance.definition
        self.shared = shared
        self.steps = shared.steps
        self.world = world
        self.layer_args = shared.layer_args
        self.rows = shared.rows if record else None
        self.trace = shared.trace if record else None
        self.diag = shared.diag
        self.depth = depth
        self.env: dict[str, Any] = {}
        self.buffers: dict[str, Tensor] = {}
        self.fresh: dict[int, Tensor] = {}  # tensors a later `x += y` may change in place (held: ids stay unique)
        self.looping = 0  # forward loops running (a refusal's hint says to loop over fewer parameters)
        self.reads: dict[int, int] = {}  # how often each fresh tensor was read since it was made
        self.groups = {group.name: group for group in self.model.params}
        self.stmt_path: Path = (*self.model.path, "forward")
        self.stmt_span: Span | None = None  # the top-level step running: the work cap reports there
        self.recorded = shared.recorded
        self.warned_sizes = shared.warned
        self.where = ""
        if world and any(world[k] != self.model.args[k] for k in world):
            self.where = " (with " + ", ".join(f"{k}={v!r}" for k, v in world.items()) + ")"
        if instance.prefix:
            self.where += f" (in {instance.prefix})"

    def run(self, inputs: Sequence[Tensor] | None = None) -> Tensor | None:
        if inputs is None:
            inputs = [Tensor(inp.shape, inp.dtype) for inp in self.model.inputs]
            for inp, tensor in zip(self.model.inputs, inputs, strict=True):
                self.emit("input", inp, inp.name, "input", (), tensor, None, inp.span)
        for inp, tensor in zip(self.model.inputs, inputs, strict=True):
            self.env[inp.name] = tensor
        for name, default in self.model.args.items():
            self.env[name] = self.world.get(name, default)
        try:
            self.buffers = {buf.name: self.buffer(buf) for buf in self.model.buffers}
            if self.model.sequential:
                return self.check_outputs(self.apply_children(self.instance.children, list(inputs), self.depth))
            result = self.body(self.model.body)
            return self.check_outputs(result)
        except _Fail:
            return None

    def body(self, body: Sequence[ir.Stmt]) -> Tensor:
        last: str = self.model.inputs[0].name
        for stmt in body:
            self.stmt_path, self.stmt_span = stmt.path, stmt.span
            if isinstance(stmt, ir.Return):
                return self.tensor_result(self.stepped(stmt, self.eval(stmt.value)), stmt)
            returned = self.execute(stmt)
            if returned is not None:
                return returned
            last = stmt.target if isinstance(stmt, ir.Assign) else last
        return self.tensor_result(self.env[last], body[-1])

    def check_outputs(self, out: Tensor) -> Tensor:
        """The output against the shape the definition declares: a mismatch is an error at the declaration."""
        declared = self.model.outputs
        if not declared:
            return out
        want, span = declared[0]
        path = (*self.model.path, "outputs")
        symbols = self.input_symbols()
        problem = len(want) != out.rank
        for expected, got in zip(want, out.shape, strict=False):
            if problem:
                break
            if isinstance(expected, int):
                problem = isinstance(got, int) and got != expected
            elif expected in self.instance.env:
                problem = isinstance(got, int) and got != self.instance.env[expected]
            elif expected in symbols:
                problem = got != symbols[expected]
        if problem:
            raise self.fail("output-mismatch", f"forward gives {fmt_shape(out.shape)}, but outputs declares "
                            f"{fmt_shape(want)}", path, span,
                            "check the layers before the output (a missing flatten, a wrong width)")
        return out

    def input_symbols(self) -> dict[str, Any]:
        symbols: dict[str, Any] = {}
        for inp in self.model.inputs:
            tensor = self.env.get(inp.name)
            if isinstance(tensor, Tensor) and tensor.rank == len(inp.shape):
                for want, got in zip(inp.shape, tensor.shape, strict=True):
                    if isinstance(want, str):
                        symbols.setdefault(want, got)
        return symbols

    def tensor_result(self, value: Any, stmt: ir.Stmt) -> Tensor:
        if not isinstance(value, Tensor):
            raise self.fail("bad-return", f"forward returns {_describe(value)}, expected a tensor", stmt.path,
                            stmt.span)
        return value

    def execute(self, stmt: ir.Stmt) -> Tensor | None:
        """Runs one statement; a ``return`` inside an ``if`` hands back the result."""
        self.steps.left -= 1
        if self.steps.left < 0:
            raise self.fail("too-large", f"shape inference would execute more than {MAX_EXECUTED:,} statements",
                            stmt.path, stmt.span, self.budget_hint("loop over fewer parameters"))
        result: Tensor | None = self.visit(stmt)
        return result

    # ------------------------------------------------------------ statements: each returns what a return gave

    def visit_Assign(self, stmt: ir.Assign) -> None:
        before = self.env.get(stmt.target) if stmt.in_place else None
        unread = before is not None and self.reads.get(id(before), 0) == 0
        value = self.eval(stmt.value)
        if stmt.in_place:  # read once since it was made: by this statement's own left operand, nothing else
            safe = unread and self.reads.get(id(before), 0) == 1 and self.in_place_ok(before, value)
            self.shared.in_place[id(stmt)] = self.shared.in_place.get(id(stmt), True) and safe
        self.env[stmt.target] = value
        if isinstance(value, Tensor) and self.fresh_result(stmt.value):
            self.fresh[id(value)] = value
        self.stepped(stmt, value)

    def stepped(self, stmt: ir.Stmt, value: Any) -> Any:
        """``value``, what statement ``stmt`` assigned or returned, recorded as a "step" event where there is a trace:
        the language server reads each forward step's value off these, whatever the step ended with."""
        if self.trace is not None:
            self.emit("step", stmt, "", "", (), value, None, stmt.span)
        return value

    def fresh_result(self, expr: ir.Expr) -> bool:
        """The value was made by a layer or operator whose backward does not read it (see OUTPUT_FREE_BACKWARD)."""
        if isinstance(expr, ir.BinOp):
            return expr.op in _FRESH_OPERATORS
        return isinstance(expr, ir.Call) and expr.kind in ("layer", "layervar") and self.produced_by_safe_layer(expr)

    def in_place_ok(self, before: Any, after: Any) -> bool:
        """``x += y`` may run in place: x is a tensor this forward computed with a layer or operator whose backward
        does not read its output, nothing read it since (no op kept it for backward, no view of it exists: the
        caller counts the reads), no other name holds it, and the result keeps its shape and dtype (torch refuses
        an in-place op that would broadcast x or change its dtype)."""
        if not isinstance(before, Tensor) or not isinstance(after, Tensor) or self.fresh.get(id(before)) is not before:
            return False
        if sum(1 for v in self.env.values() if v is before) != 1:
            return False
        return tuple(after.shape) == tuple(before.shape) and after.dtype == before.dtype

    def produced_by_safe_layer(self, call: ir.Call) -> bool:
        child = self.instance.names.get(call.func) if call.kind == "layer" else self.env.get(call.func)
        return isinstance(child, Child) and child.type in OUTPUT_FREE_BACKWARD

    def visit_Return(self, stmt: ir.Return) -> Tensor:
        return self.tensor_result(self.stepped(stmt, self.eval(stmt.value)), stmt)

    def visit_If(self, stmt: ir.If) -> Tensor | None:
        for inner in stmt.body if self.test(stmt.test) else stmt.orelse:
            returned = self.execute(inner)
            if returned is not None:
                return returned
        return None

    def visit_For(self, stmt: ir.For) -> None:
        self.looping += 1
        try:
            self.loop(stmt)
        finally:
            self.looping -= 1

    def loop(self, stmt: ir.For) -> None:
        if stmt.iterable.kind == "layer":
            for child in self.layer_group(stmt.iterable.id, stmt):
                self.env[stmt.target] = child
                for inner in stmt.body:
                    self.execute(inner)
        else:
            group = self.groups[stmt.iterable.id]
            for item in group.items:
                self.env[stmt.target] = self.param_tensor(item)
                for inner in stmt.body:
                    self.execute(inner)
        self.env.pop(stmt.target, None)

    def generic_visit(self, node: Any) -> Any:
        raise TypeError(f"shape inference has no rule for {type(node).__name__}")

    def param_tensor(self, item: ir.ParamTensor) -> Tensor:
        tensor = Tensor(param_shape(item, self.instance), item.dtype or "float32", leaf=item.requires_grad)
        if self.trace is not None:
            self.emit("param", item, self.instance.qualified(item.attr), "Parameter", (), tensor, None,
                      self.model.source.key_span(item.path))
        return tensor

    def buffer(self, buf: ir.BufferDef) -> Tensor:
        """A buffer as this instance fills it: its shape from the fill's arguments at this instance's values."""
        try:
            return buffer_tensor(buf, self.instance)
        except ExprError as exc:
            raise self.fail(exc.code, exc.message, buf.path, self.model.source.key_span(buf.path), exc.hint) from None
        except ShapeError as exc:
            where = (*buf.path, "shape") if exc.arg == "shape" else (*buf.path, "init")
            raise self.fail(exc.code, f"buffer '{buf.name}': {exc.message}", where, self.model.source.span(where),
                            exc.hint) from None

    def buffer_value(self, name: str) -> Tensor:
        tensor = self.buffers[name]
        if self.trace is not None:
            self.emit("buffer", name, self.instance.qualified(name), "Buffer", (), tensor, None,
                      self.model.source.key_span(next(b.path for b in self.model.buffers if b.name == name)))
        return tensor

    def visit_Unpack(self, stmt: ir.Unpack) -> None:
        value = self.eval(stmt.value)
        self.unpack(stmt.targets, value, stmt)
        self.stepped(stmt, value)

    def unpack(self, targets: tuple[str | tuple[Any, ...], ...], value: Any, stmt: ir.Unpack) -> None:
        if not isinstance(value, tuple) or len(value) != len(targets):
            raise self.fail("bad-unpack", f"cannot unpack {_describe(value)} into {len(targets)} names",
                            stmt.path, stmt.span, "a layer with several outputs (MultiheadAttention, LSTM) gives a "
                            "tuple; x.shape gives one size per dim")
        for name, item in zip(targets, value, strict=True):
            if isinstance(name, tuple):
                self.unpack(name, item, stmt)
            elif name != "_":
                if item is None:
                    raise self.fail("bad-unpack", f"'{name}' would be None here (need_weights=False gives no "
                                    "weights)", stmt.path, stmt.span, "unpack it into _")
                self.env[name] = item

    def layer_group(self, name: str, stmt: ir.Stmt) -> list[Child]:
        found = self.instance.names.get(name)
        if isinstance(found, list):
            return found
        if isinstance(found, Child) and found.type == SEQUENTIAL:
            return found.children
        if found is None:
            return []  # an absent group: its `if` is false here
        raise self.fail("bad-call", f"'{name}' is one layer, not a group to loop over", stmt.path, stmt.span,
                        "loop over a Sequential or a repeated entry")

    def test(self, test: ir.Build) -> bool:
        env = {**self.instance.env, **{n: self.instance.names.get(n) is not None for n in test.expr.names
                                       if n in self.instance.names}}
        try:
            value = evaluate(test.expr, env)
        except ExprError as exc:
            raise self.fail(exc.code, exc.message, test.path, test.span, exc.hint) from None
        return bool(value)

    def spend(self) -> None:
        """One unit of work (an expression evaluated, a layer applied) from the shared budget."""
        self.steps.work -= 1
        if self.steps.work < 0:
            raise self.fail("too-large", f"shape inference would evaluate more than {MAX_WORK:,} expressions and "
                            "layers", self.stmt_path, self.stmt_span,
                            self.budget_hint("loop over fewer parameters, shorten the loop body"))

    def budget_hint(self, in_loop: str) -> str:
        """What to change when the statements or work run out, by where they ran out: in a loop, in a block
        instance (distinct instances are each inferred), or in the root's own steps."""
        if self.looping:
            return f"{in_loop}, or use fewer forward arguments" if self.world else in_loop
        if self.world:
            return "use fewer forward arguments: forward is inferred once for each combination of their values"
        if self.instance.prefix:
            return ("block instances with the same arguments and input shapes are inferred once: build fewer "
                    "distinct ones")
        return "apply fewer layers, or repeat a block (instances with the same arguments are inferred once)"

    def check_rank(self, rank: int, path: Path, span: Span | None) -> None:
        if rank > MAX_RANK:
            raise self.fail("too-large", f"tensor would have {rank} dims, more than the {MAX_RANK} torch supports",
                            path, span, "check for a step repeated by mistake (unsqueeze, unflatten)")

    def fail(self, code: str, message: str, path: Path, span: Span | None, hint: str | None = None) -> _Fail:
        self.diag.add(Diagnostic(code, message + self.where, span, path, hint))
        return _Fail()

    # ------------------------------------------------------------ expressions

    def eval(self, expr: ir.Expr) -> Any:
        self.spend()
        return self.visit(expr)

    def visit_Const(self, expr: ir.Const) -> Any:
        return expr.value

    def visit_Name(self, expr: ir.Name) -> Any:
        if expr.kind == "param":
            group = self.groups[expr.id]
            if group.kind == "Parameter":
                return self.param_tensor(group.items[0])
            return _Group(group)
        if expr.kind == "build":
            return self.instance.env[expr.id]
        if expr.kind == "buffer":
            return self.buffer_value(expr.id)
        if expr.id not in self.env:  # assigned only in branches of an `if` this instance does not take
            raise self.fail("undefined-name", f"value '{expr.id}' is not assigned here: the `if` steps before this "
                            "assign it only in branches this instance does not take", self.path_of(expr), expr.span,
                            "assign it in every branch, or check the build-time values the tests read"
                            + (f" ({', '.join(f'{k}={v!r}' for k, v in sorted(self.instance.env.items())[:6])})"
                               if self.instance.env else ""))
        value = self.env[expr.id]
        if self.fresh.get(id(value)) is value:  # read: an op may keep it for backward, a view may share it
            self.reads[id(value)] = self.reads.get(id(value), 0) + 1
        return value

    def visit_Cond(self, expr: ir.Cond) -> Any:
        return self.eval(expr.body if self.test(expr.test) else expr.orelse)

    def visit_Seq(self, expr: ir.Seq) -> Any:
        return [self.eval(e) for e in expr.items] if not expr.is_tuple else tuple(self.eval(e) for e in expr.items)

    def visit_Neg(self, expr: ir.Neg) -> Any:
        value = self.eval(expr.operand)
        if isinstance(value, Tensor):
            if value.dtype == "bool":
                raise self.fail("dtype-mismatch", "unary '-' expects a numeric tensor, found a bool tensor",
                                self.path_of(expr), expr.span, _NUMERIC_HINT)
            out = Tensor(value.shape, value.dtype)  # a new tensor: no longer the Parameter itself
            self.emit("neg", expr, "", "neg", (value,), out, None, expr.span)
            return out
        return self.arith("-", 0, value, expr)

    def visit_BinOp(self, expr: ir.BinOp) -> Any:
        left, right = self.eval(expr.left), self.eval(expr.right)
        before = len(self.rows) if self.rows is not None else 0
        out = self.arith(expr.op, left, right, expr)
        if self.trace is not None and isinstance(out, Tensor):
            assert self.rows is not None
            row = self.rows[-1] if len(self.rows) > before else None  # a matmul's row
            self.emit("arith", expr, row.path if row is not None else "", expr.op, tuple(_flat_tensors([left, right])),
                      out, row, expr.span)
        return out

    def visit_Index(self, expr: ir.Index) -> Tensor:
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
            return self.param_tensor(group.items[key])
        keys = [str(t.key) for t in group.items]
        if key not in keys:
            raise self.fail("unknown-key", f"{short_repr(key)} is not a key of '{group.name}'", path, expr.span,
                            did_you_mean(str(key), keys) or f"keys are {', '.join(keys)}")
        return self.param_tensor(group.items[keys.index(key)])

    def visit_Attr(self, expr: ir.Attr) -> Any:
        value = self.eval(expr.base)
        if not isinstance(value, Tensor):
            raise self.fail("bad-operand", f"'.{expr.name}' reads a tensor, found {_describe(value)}",
                            self.path_of(expr), expr.span)
        if expr.name == "shape":
            return tuple(d if isinstance(d, int) else SymSize(d) for d in value.shape)
        if expr.name == "dtype":
            return DTypeName(value.dtype)
        return Device("device")

    def visit_Subscript(self, expr: ir.Subscript) -> Any:
        base = self.eval(expr.base)
        items = [self.index_item(item) for item in expr.items]
        path = self.path_of(expr)
        if isinstance(base, tuple):  # sizes: x.shape[1:], or the items of a layer's several outputs
            return self.tuple_item(base, items, expr)
        if not isinstance(base, Tensor):
            raise self.fail("bad-operand", f"cannot index {_describe(base)}", path, expr.span,
                            "index a tensor (x[:, 0]) or a tuple of sizes (x.shape[-1])")
        try:
            out = index_shape(base, items)
        except ShapeError as exc:
            raise self.fail(exc.code, f"indexing: {exc.message}", path, expr.span, exc.hint) from None
        self.check_size(out, path, expr.span)
        if self.trace is not None:
            self.emit("index", expr, "", "getitem", (base,), out, None, expr.span)
        return out

    def index_item(self, item: ir.Expr | ir.Slice) -> Any:
        if isinstance(item, ir.Slice):
            return slice(*(None if b is None else self.eval(b) for b in (item.lower, item.upper, item.step)))
        return self.eval(item)

    def tuple_item(self, base: tuple[Any, ...], items: list[Any], expr: ir.Subscript) -> Any:
        path = self.path_of(expr)
        (item,) = items if len(items) == 1 else (None,)
        if isinstance(item, slice) and all(b is None or (isinstance(b, int) and not isinstance(b, bool))
                                           for b in (item.start, item.stop, item.step)) and item.step != 0:
            return base[item]
        if not isinstance(item, int) or isinstance(item, bool):
            raise self.fail("bad-index", f"a tuple of {len(base)} takes one integer index or a slice of integers, "
                            f"found {', '.join(_describe(i) for i in items)}", path, expr.span)
        if not -len(base) <= item < len(base):
            raise self.fail("bad-index", f"index {item} is out of range for a tuple of {len(base)}", path, expr.span)
        return base[item]

    def visit_Invert(self, expr: ir.Invert) -> Any:
        value = self.eval(expr.operand)
        path = self.path_of(expr)
        if isinstance(value, Tensor):
            if value.is_float:
                raise self.fail("dtype-mismatch", f"'~' expects a bool or integer tensor, found {value.dtype}", path,
                                expr.span, "a mask is a comparison (x > 0) or a bool tensor")
            out = Tensor(value.shape, value.dtype)
            self.emit("neg", expr, "", "bitwise_not", (value,), out, None, expr.span)
            return out
        if isinstance(value, int) and not isinstance(value, (bool, SymSize)):
            return ~value
        raise self.fail("bad-operand", f"'~' needs a bool or integer tensor, or an integer, found {_describe(value)}",
                        path, expr.span)

    def arith(self, op: str, left: Any, right: Any, expr: ir.Expr) -> Any:
        path = self.path_of(expr)
        if op in COMPARE_BY_SYMBOL or op in BITWISE:
            return self.logic(op, left, right, expr)
        if isinstance(left, SymSize) or isinstance(right, SymSize):
            return self.size_arith(op, left, right, expr)
        if op == "-" and any(isinstance(v, Tensor) and v.dtype == "bool" for v in (left, right)):
            raise self.fail("dtype-mismatch", "'-' expects numeric tensors, found a bool tensor (torch has no "
                            "subtraction for bool)", path, expr.span, _NUMERIC_HINT)
        if isinstance(left, Tensor) and isinstance(right, Tensor):
            try:
                if op == "@":
                    out = matmul_shape(left, right)
                    self.check_size(out, path, expr.span)
                    self.record(self.instance.qualified(format_path(path[len(self.model.path):])), BY_SYMBOL[op].name,
                                out.shape, 0, self.depth, step=True, macs=matmul_macs(left, right, out),
                                outputs=(out,), inputs=(left, right))
                    return out
                dtype = _true_divide(op, promote_types(left.dtype, right.dtype))
                if op == "**" and dtype == "bool":
                    raise ShapeError("torch has no power of bool tensors", code="dtype-mismatch")
                return Tensor(broadcast(left.shape, right.shape), dtype)
            except ShapeError as exc:
                raise self.fail(exc.code, f"'{op}': {exc.message}", path, expr.span, exc.hint) from None
        tensor = left if isinstance(left, Tensor) else right if isinstance(right, Tensor) else None
        others = [v for v in (left, right) if not isinstance(v, Tensor)]
        for other in others:  # a Python bool counts as an integer next to a tensor (x ** True), as in torch
            if not (_is_number(other) or (tensor is not None and isinstance(other, bool))):
                raise self.fail("bad-operand", f"'{op}' needs tensors or numbers, found {_describe(other)}", path,
                                expr.span)
        if tensor is not None:
            if op == "@":
                raise self.fail("bad-operand", "'@' needs two tensors", path, expr.span)
            if op == "**" and right is not tensor and not tensor.is_float and isinstance(right, int) and right < 0:
                raise self.fail("dtype-mismatch", "integers to negative integer powers are not allowed "
                                f"({tensor.dtype} ** {right})", path, expr.span, "convert first: x.float() ** ...")
            return Tensor(tensor.shape, _true_divide(op, _scalar_promote(tensor, others[0])))
        return self.number_arith(op, left, right, expr)

    def logic(self, op: str, left: Any, right: Any, expr: ir.Expr) -> Any:
        """Comparisons (a bool tensor, elementwise) and ``& | ^`` (bool and integer tensors: masks)."""
        path = self.path_of(expr)
        tensors = [v for v in (left, right) if isinstance(v, Tensor)]
        others = [v for v in (left, right) if not isinstance(v, Tensor)]
        if not tensors:
            if any(isinstance(v, SymSize) for v in others):
                raise self.fail("bad-operand", f"'{op}' on a size read at run time has no value before forward runs",
                                path, expr.span, "a test that steers forward reads build-time names only")
            if op in BITWISE and not all(isinstance(v, int) for v in others):
                raise self.fail("bad-operand", f"'{op}' needs integers or bools, found "
                                f"{', '.join(_describe(v) for v in others)}", path, expr.span)
            return self.number_arith(op, left, right, expr)
        for other in others:
            if not (_is_number(other) or isinstance(other, (bool, SymSize))):
                raise self.fail("bad-operand", f"'{op}' needs tensors or numbers, found {_describe(other)}", path,
                                expr.span)
        if op in BITWISE and (any(t.is_float for t in tensors) or any(isinstance(v, float) for v in others)):
            raise self.fail("dtype-mismatch", f"'{op}' works on bool and integer tensors, found "
                            f"{', '.join(t.dtype for t in tensors)}", path, expr.span,
                            "combine masks (bool tensors): (x > 0) & (y < 1)")
        try:
            shape = broadcast(tensors[0].shape, tensors[1].shape) if len(tensors) == 2 else tensors[0].shape
        except ShapeError as exc:
            raise self.fail(exc.code, f"'{op}': {exc.message}", path, expr.span, exc.hint) from None
        if op in COMPARE_BY_SYMBOL:
            return Tensor(shape, "bool")
        dtype = promote_types(tensors[0].dtype, tensors[1].dtype) if len(tensors) == 2 else (
            tensors[0].dtype if isinstance(others[0], bool) or tensors[0].dtype != "bool" else "int64")
        return Tensor(shape, dtype)

    def number_arith(self, op: str, left: Any, right: Any, expr: ir.Expr) -> Any:
        """Arithmetic on two numbers known before forward runs, bounded to what a 64-bit size can hold."""
        path = self.path_of(expr)
        if op == "@" or (op in ("/", "//", "%") and right == 0):
            raise self.fail("bad-operand", f"cannot compute {left!r} {op} {right!r}", path, expr.span)
        if op == "**" and isinstance(left, int) and isinstance(right, int) and right > 0 and (
                abs(left).bit_length() - 1) * right > 64:  # 2**10**9 would run for minutes
            raise self.fail("too-large", "constant arithmetic leaves the 64-bit range", path, expr.span)
        try:
            result = operator_function(op)(left, right)
        except OverflowError:  # int/float mixes past the float range
            result = INT64_MAX + 1
        except ZeroDivisionError:  # 0 ** -1
            raise self.fail("bad-operand", f"cannot compute {left!r} {op} {right!r}", path, expr.span) from None
        if isinstance(result, complex):
            raise self.fail("bad-operand", f"{left!r} {op} {right!r} is a complex number", path, expr.span)
        if isinstance(result, int) and abs(result) > INT64_MAX:
            raise self.fail("too-large", "constant arithmetic leaves the 64-bit range", path, expr.span)
        return result

    def size_arith(self, op: str, left: Any, right: Any, expr: ir.Expr) -> Any:
        """Sizes read at run time (``T = x.size(1)``) in arithmetic: with numbers, a new size (``C // n_head``);
        with a tensor, a number that scales it."""
        path = self.path_of(expr)
        tensor = next((v for v in (left, right) if isinstance(v, Tensor)), None)
        other = right if tensor is left else left
        if tensor is not None and (isinstance(other, SymSize) or _is_number(other)):
            if op == "@":
                raise self.fail("bad-operand", "'@' needs two tensors", path, expr.span)
            return Tensor(tensor.shape, _true_divide(op, _scalar_promote(tensor, 1)))
        for value in (left, right):
            if not isinstance(value, SymSize) and not (isinstance(value, int) and not isinstance(value, bool)):
                raise self.fail("bad-operand", f"'{op}' on a size read at run time needs integers or sizes, found "
                                f"{_describe(value)}", path, expr.span)
        try:
            return size_arith(op, left, right)
        except ShapeError as exc:
            raise self.fail("bad-operand", exc.message, path, expr.span, exc.hint) from None

    def visit_Call(self, call: ir.Call) -> Any:
        # one argument, most calls (a layer on x): evaluated without a comprehension's frame
        args = [self.eval(call.args[0])] if len(call.args) == 1 else [self.eval(a) for a in call.args]
        kwargs = {k: self.eval(v) for k, v in call.kwargs} if call.kwargs else {}
        if call.kind in ("layer", "layervar"):
            child = self.instance.names.get(call.func) if call.kind == "layer" else self.env.get(call.func)
            if child is None or isinstance(child, list):
                what = "absent here: its `if` is false" if child is None else "a group: loop over it"
                raise self.fail("bad-call", f"layer '{call.func}' is {what}", self.path_of(call), call.span,
                                f"test it first: '{call.func}(x) if {call.func} else x'" if child is None else
                                f"write 'for layer in {call.func}: x = layer(x)'")
            options = self.call_options(call, child, kwargs)
            tensors = [a for a in args if isinstance(a, Tensor)]
            n = self.n_inputs(child)
            if len(tensors) != len(args) or len(args) != n:
                raise self.fail("bad-call", f"layer '{call.func}' takes {n} tensor input{'s' * (n > 1)}, found "
                                f"{', '.join(_describe(a) for a in args) or 'none'}", self.path_of(call), call.span)
            start = len(self.trace) if self.trace is not None else 0
            out = self.apply_layer(child, tensors, self.depth, options)
            if self.trace is not None and len(self.trace) > start:
                self.called_at(start, call.span)
            return out
        return self.apply_op(call, args, kwargs)

    def called_at(self, start: int, site: Span) -> None:
        """The events of the layer, block or Sequential just called in forward (from ``start`` in the trace) say
        where it was called: its own event (a layer's, a container's exit) and a container's enter. The layers
        inside a Sequential keep where they are written."""
        assert self.trace is not None
        last = self.trace[-1]
        last.span = site
        first = self.trace[start]
        if first.kind == "enter" and first.node is last.node:
            first.span = site

    def call_options(self, call: ir.Call, child: Child, kwargs: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of a layer call (MultiheadAttention's need_weights), checked against its type."""
        if not kwargs:
            return {}
        allowed = {a.name: a for a in LAYERS[child.type].call_args} if child.type in LAYERS else {}
        for key, value in kwargs.items():
            arg = allowed.get(key)
            if arg is None:
                hint = f"its call takes {', '.join(allowed)}" if allowed else None
                raise self.fail("bad-call", f"layer '{call.func}' takes tensors only, no keyword argument '{key}'"
                                if not allowed else f"layer '{call.func}' has no call argument '{key}'",
                                self.path_of(call), call.span, hint)
            kwargs[key] = self.call_option(call, child.type, arg, value)
        return {f"__{key}__": value for key, value in kwargs.items()}

    def call_option(self, call: ir.Call, layer_type: str, arg: Any, value: Any) -> Any:
        """One call keyword checked against its declared type: a flag (need_weights) or a value (MaxUnpool's
        output_size)."""
        if arg.annotation is Bool or arg.annotation is bool:
            if not isinstance(value, bool):
                raise self.fail("bad-value", f"layer '{call.func}': '{arg.name}' expects true or false, found "
                                f"{_describe(value)}", self.path_of(call), call.span)
            return value
        try:
            return schema.arg_validator(layer_type, arg.name, call=True).validate_python(value)
        except ValidationError as exc:
            raise self.fail("bad-value", f"layer '{call.func}': '{arg.name}' expected "
                            f"{expected_text(exc.errors()[0])}, found {_describe(value)}", self.path_of(call),
                            call.span) from None

    def n_inputs(self, child: Child) -> int:
        kind = registry().layers.get(child.type)  # one lookup: every layer call asks
        if kind is not None:
            return kind.n_inputs
        if child.type == ir.BLOCK and child.block is not None:
            return len(self.shared.elaborator.program.blocks[child.block].inputs)
        return 1

    # ------------------------------------------------------------ layers

    def span_of(self, child: Child) -> Span:
        """Where ``child`` is written (kept on it: a layer in a loop is applied thousands of times)."""
        if child.span is None:
            child.span = self.model.source.key_span(child.entry.path)
        return child.span

    def apply_children(self, children: Sequence[Child], inputs: list[Tensor], depth: int) -> Tensor:
        x = inputs
        for child in children:
            n = self.n_inputs(child)
            if n != 1:
                raise self.fail("bad-call", f"{child.block or child.type} takes {n} tensor inputs, but a Sequential "
                                "passes one", child.entry.path, self.span_of(child),
                                "define it as its own layer and call it in forward with its inputs")
            if not isinstance(x[0], Tensor):  # a layer of several outputs (LSTM) before it
                raise self.fail("bad-call", f"{child.block or child.type} takes one tensor, but the layer before it "
                                f"in the Sequential gives {_describe(x[0])}", child.entry.path, self.span_of(child),
                                "call the layers in forward and unpack the tuple: `out, h = rnn(x)`")
            x = [self.apply_layer(child, x, depth)]
        if not isinstance(x[0], Tensor):
            raise self.fail("bad-call", f"a Sequential's last layer gives {_describe(x[0])}, not one tensor",
                            children[-1].entry.path, self.span_of(children[-1]),
                            "call the layer in forward and unpack the tuple: `out, h = rnn(x)`")
        return x[0]

    def apply_layer(self, child: Child, inputs: list[Tensor], depth: int, options: dict[str, Any] | None = None
                    ) -> Any:
        self.spend()  # a Sequential called in a loop applies every child each time
        qualified = self.instance.qualified(child.attr)
        if child.type == SEQUENTIAL:
            if self.trace is not None:
                self.emit("enter", child.entry, qualified, SEQUENTIAL, tuple(inputs), None, None, self.span_of(child))
            row = self.record(qualified, SEQUENTIAL, (), 0, depth, inputs=inputs)
            start = len(self.rows) if self.rows is not None else 0
            out = self.apply_children(child.children, inputs, depth + 1)
            if row is not None:
                self.close_container(row, start, out)
            if self.trace is not None:
                self.emit("exit", child.entry, qualified, SEQUENTIAL, tuple(inputs), out, row, self.span_of(child))
            return out
        if child.type == ir.BLOCK:
            return self.apply_block(child, inputs, depth, qualified)
        layer = child.entry
        kind = LAYERS[child.type]
        args = self.layer_args.get(qualified, child.args)
        try:
            if args.get("inplace"):  # what _check_in_place checks first: most layers have no inplace argument
                _check_in_place(args, inputs, child.type)
            try:
                out, inferred = kind.rule({**args, **(options or {})}, inputs)
            except ShapeError as exc:
                out, inferred = self.rule_refused(child, args, options, inputs, exc, qualified in self.layer_args)
            completed = {**child.args, **inferred}
            kind.check(completed)  # the rules check it too; this keeps one that forgets from reaching torch
        except ShapeError as exc:
            raise self.layer_failure(child, exc, inputs) from None
        warning = kind.caution(completed, inputs)
        if warning is not None:
            self.caution(layer, warning)
        # nn.Identity hands back its input itself; any other layer's output is a new tensor
        if not isinstance(out, tuple):
            outputs: tuple[Any, ...] = (_computed(out) if isinstance(out, Tensor) and not kind.passthrough else out,)
        elif kind.passthrough:
            outputs = out
        else:  # MultiheadAttention: (output, weights)
            outputs = tuple([_computed(o) if isinstance(o, Tensor) else o for o in out])
        self.layer_args[qualified] = completed
        self.shared.note(_ARGS, qualified, completed)
        for item in _tensors_in(outputs):  # LSTM's (output, (h_n, c_n)) too
            self.check_size(item, layer.path, self.span_of(child))
        macs = kind.macs({**completed, **(options or {})}, inputs, out)
        shown = f"{child.type} ({kind.shape_source})" if kind.shape_source else child.type  # a plugin's meta run
        row = self.record(qualified, shown, outputs[0].shape, kind.count(completed), depth, macs=macs,
                          outputs=outputs, inputs=inputs, kernel_size=completed.get("kernel_size"))
        result = outputs if isinstance(out, tuple) else outputs[0]
        if self.trace is not None:
            assert row is not None
            result = _fresh(result, inputs)
            self.emit("layer", layer, row.path, child.type, tuple(inputs), result, row, self.span_of(child))
        return result

    def rule_refused(self, child: Child, args: dict[str, Any], options: dict[str, Any] | None, inputs: list[Tensor],
                     exc: ShapeError, again: bool) -> tuple[Any, dict[str, Any]]:
        """A layer's shape rule refused a call: raise what to say, or give the call's result after all.

        A layer called ``again`` sees what an earlier call inferred as if it were written.  A
        count torch never reads (a non-affine GroupNorm's ``num_channels``) may then differ, as
        torch runs it: the class keeps the earlier value.  Any other difference is refused as
        what it is, one module given two inputs; its hint never asks to change a value the
        earlier call needs.
        """
        kind = LAYERS[child.type]
        name = exc.arg
        inferable = any(a.inferred and a.name == name for a in kind.args)
        if name is None or not (again and inferable and exc.code == "shape-mismatch") or args.get(name) is None:
            raise exc
        if child.args.get(name) is not None:  # written, and right for an earlier call
            if isinstance(exc, UnreadArgMismatch):
                raise UnreadArgMismatch(exc.message, name, exc.code, f"leave {name} out to have it inferred: "
                                        "torch ignores it here, so the calls may differ") from None
            raise ShapeError(exc.message, name, exc.code, f"one layer is one module with one {name}: call a "
                             "layer of its own on this input") from None
        if isinstance(exc, UnreadArgMismatch):
            out, inferred = kind.rule({**args, name: None, **(options or {})}, inputs)
            return out, {**inferred, name: args[name]}
        raise ShapeError(f"{exc.message}: {name} {args[name]} was inferred from an earlier call of this layer",
                         name, exc.code, f"one layer is one module with one {name}: call a layer of its own on "
                         "this input") from None

    def apply_block(self, child: Child, inputs: list[Tensor], depth: int, qualified: str) -> Tensor:
        memo = self.shared.memo
        if memo is not None and child.instance is None and type(self) is Interpreter:  # a pass sees every instance
            return self.memo_block(memo, child, inputs, depth, qualified)
        try:
            instance = self.shared.elaborator.block_instance(child, inputs, self.instance)
        except Refusal as exc:
            self.diag.add(exc.diagnostic)
            raise _Fail() from None
        return self.enter_block(child, instance, inputs, depth, qualified, self.run_instance)

    def memo_block(self, memo: dict[Any, Memo], child: Child, inputs: list[Tensor], depth: int, qualified: str
                   ) -> Tensor:
        """A block child's first call: the instance inferred, or, when an earlier instance had the same definition,
        argument values, inputs and depth, that one's inference repeated under this instance's path."""
        shared = self.shared
        elaborator = shared.elaborator
        try:
            definition, env = elaborator.bind(child, inputs, self.instance)
        except Refusal as exc:
            self.diag.add(exc.diagnostic)
            raise _Fail() from None
        key = _memo_key(definition, env, inputs, self.instance.depth, depth, self.rows is not None)
        found = memo.get(key)
        paths = found.paths(shared, qualified) if found is not None else None
        if found is not None and paths is not None:
            instances = found.reuse(shared, child, qualified)
            return self.enter_block(child, instances[id(found.instance)], inputs, depth, qualified,
                                    lambda _i, ins, _d, _q: found.replay(shared, instances, paths, ins, qualified),
                                    None if found.row is None else found.row.macs)
        memo_entry = Memo(qualified, list(inputs), shared)
        shared.capturing += 1
        try:
            try:
                child.instance = elaborator.instance(definition, env, qualified, self.instance.depth + 1)
            except Refusal as exc:
                self.diag.add(exc.diagnostic)
                raise _Fail() from None

            def run(instance: Instance, ins: list[Tensor], inner: int, path: str) -> Tensor | None:
                memo_entry.start(shared, instance, self.rows[-1] if self.rows is not None else None)
                out = self.run_instance(instance, ins, inner, path)
                memo_entry.end(shared, out)
                return out

            out = self.enter_block(child, child.instance, inputs, depth, qualified, run)
        finally:
            shared.capturing -= 1
            memo_entry.close(shared)
        if memo_entry.output is not None:
            memo.setdefault(key, memo_entry)
        return out

    def enter_block(self, child: Child, instance: Instance, inputs: list[Tensor], depth: int, qualified: str,
                    run: Callable[[Instance, list[Tensor], int, str], Tensor | None], macs: Dim | None = None
                    ) -> Tensor:
        """A block child's row and enter/exit events around its instance's forward (``run``; ``macs``, its
        rows' sum, where that is known)."""
        self.shared.instances[qualified] = instance
        self.shared.note(_INSTANCES, qualified, instance)
        if qualified not in self.shared.inputs:
            self.shared.inputs[qualified] = list(inputs)
            self.shared.note(_INPUTS, qualified, self.shared.inputs[qualified])
        row = self.record(qualified, instance.definition.name, (), 0, depth, inputs=inputs)
        start = len(self.rows) if self.rows is not None else 0
        if self.trace is not None:
            self.emit("enter", child.entry, qualified, instance.definition.name, tuple(inputs), None, row,
                      self.span_of(child))
        out = run(instance, inputs, depth + 1, qualified)
        if out is None:
            raise _Fail()
        if row is not None:
            self.close_container(row, start, out, macs)
        if self.trace is not None:
            self.emit("exit", child.entry, qualified, instance.definition.name, tuple(inputs), out, row,
                      self.span_of(child))
        return out

    def run_instance(self, instance: Instance, inputs: list[Tensor], depth: int, qualified: str) -> Tensor | None:
        """A block instance's own forward, run by an interpreter of the same class (a pass that subclasses
        the interpreter sees every instance)."""
        del qualified  # the module path, for a pass that overrides this
        return type(self)(instance, {}, self.shared, record=self.rows is not None, depth=depth).run(inputs)

    def emit(self, kind: str, node: Any, path: str, type_: str, inputs: tuple[Any, ...], output: Any,
             row: Row | None, span: Span | None) -> None:
        """One event of the trace, when this evaluation records one."""
        if self.trace is not None:
            self.trace.append(Event(kind, node, self.instance.prefix, path, type_, inputs, output, row, span))

    def close_container(self, row: Row, start: int, out: Tensor, macs: Dim | None = None) -> None:
        """A Sequential's or block's row, once its children ran: their output shape, the sum of their MACs
        (``macs`` when that sum is known: a repeated instance's)."""
        assert self.rows is not None
        row.output_shape = out.shape
        row.container = True
        row.macs = counts.total([r.macs for r in self.rows[start:] if not r.container]) if macs is None else macs

    def caution(self, layer: ir.Layer, exc: ShapeError | None) -> None:
        """A warning for what fails only in training mode, the mode a module is built in: once per layer."""
        if exc is None or layer.path in self.warned_sizes:
            return
        self.warned_sizes.add(layer.path)
        self.diag.add(Diagnostic(exc.code, f"{exc.message}{self.where}", self.model.source.key_span(layer.path),
                                 layer.path, exc.hint, "warning"))

    def layer_failure(self, child: Child, exc: ShapeError, inputs: list[Tensor]) -> _Fail:
        layer = child.entry
        source = self.model.source
        arg_path = (*layer.path, exc.arg) if exc.arg and exc.arg in layer.args else None
        span = source.key_span(arg_path) if arg_path else source.key_span(layer.path)
        detail = ", ".join(fmt_shape(x.shape) for x in inputs)
        message = exc.message if exc.code not in ("shape-mismatch", "symbolic-dim") else \
            f"{exc.message} (input shape {detail})"
        return self.fail(exc.code, message, layer.path, span, exc.hint)

    def record(self, path: str, kind: str, shape: tuple[Dim, ...], params: int, depth: int,
               step: bool = False, macs: Dim = 0, outputs: Sequence[Any] = (), inputs: Sequence[Any] = (),
               kernel_size: Any = None) -> Row | None:
        if self.rows is None:
            return None
        if len(outputs) == 1 and type(outputs[0]) is Tensor:  # most calls: one tensor out
            activation = _activation_bytes(((outputs[0].shape, outputs[0].dtype),))
        else:
            activation = _activation_bytes(tuple([(t.shape, t.dtype) for t in _tensors_in(outputs)]))
        if path in self.recorded and not step:
            kind, params = f"{kind} (shared)", 0  # a layer called again: its parameters are counted once
            path = self.unique_call_path(path)
        elif path in self.recorded:
            path = self.unique_step_path(path)
        self.recorded.add(path)
        row = Row(path, kind, shape, params, depth, macs, activation,
                  input_shapes=tuple([t.shape for t in inputs if isinstance(t, Tensor)]), kernel_size=kernel_size)
        self.rows.append(row)
        return row

    def unique_call_path(self, path: str) -> str:
        """``relu#2``, ``relu#3``... for the second, third... call of one layer (ResNet calls relu twice)."""
        counts = self.shared.step_rows
        n = counts.get(path + "#", 1) + 1
        counts[path + "#"] = n
        self.shared.note(_STEP_ROWS, path + "#", n)
        return f"{path}#{n}"

    def unique_step_path(self, path: str) -> str:
        """``forward.0.1``, ``forward.0.2``... for the second, third... op row of one step.

        One step (``pool(relu(conv(x)))``, a loop over a ParameterList) records
        several rows; tools key rows by path, so each gets its own, numbered in
        forward order: stable for the same spec.
        """
        counts = self.shared.step_rows
        n = counts.get(path, 0) + 1
        while f"{path}.{n}" in self.recorded:  # only when a layer's own path looks like a step's: rare, bounded
            n += 1
        counts[path] = n
        self.shared.note(_STEP_ROWS, path, n)
        return f"{path}.{n}"

    def check_size(self, out: Tensor, path: Path, span: Span) -> None:
        self.check_rank(len(out.shape), path, span)  # every layer and op output passes here
        elements, static = 1, False  # the product of the static dims (0 where there is none: nothing to check)
        for d in out.shape:
            if isinstance(d, int):
                elements, static = elements * d, True
        elements = elements if static else 0
        if elements > INT64_MAX:
            raise self.fail("too-large", f"output {fmt_shape(out.shape)} holds more elements than a tensor can",
                            path, span)
        if elements > MAX_ACTIVATION and path not in self.warned_sizes:
            self.warned_sizes.add(path)  # once per step, not once per forward-argument world
            self.diag.add(Diagnostic(
                "activation-size", f"output {fmt_shape(out.shape)} holds {elements:,} elements "
                f"(over {MAX_ACTIVATION:,}): running forward would need that much memory per call", span, path,
                "check the input size and the layer widths", "warning"))

    # ------------------------------------------------------------ ops

    def apply_op(self, call: ir.Call, args: list[Any], kwargs: dict[str, Any]) -> Tensor:
        op = OPS[call.func]
        path = self.path_of(call)
        bound = self.bind(call, args, kwargs)
        try:
            _check_in_place(bound, [bound["input"]] if "input" in op.params else [], call.func)
            if op.gives_size:
                return op.rule(bound)  # type: ignore[no-any-return]  # a size value, not a tensor
            result = op.rule(bound)
        except ShapeError as exc:
            raise self.fail(exc.code, f"{call.func}: {exc.message}", path, call.span, exc.hint) from None
        if isinstance(result, tuple):  # chunk, split: several tensors, unpacked by the step
            for item in result:
                self.check_size(item, path, call.span)
            row = self.record(self.instance.qualified(format_path(path[len(self.model.path):])), call.func,
                              result[0].shape if result else (), 0, self.depth, step=True,
                              macs=op.macs(bound, _tensors(bound, op.tensors), result), outputs=result,
                              inputs=_tensors(bound, op.tensors))
            items = tuple(_computed(item) for item in result)
            return self.op_event(call, args, kwargs, items, row)  # type: ignore[no-any-return]
        out = _computed(result)
        self.check_size(out, path, call.span)
        tensors = _tensors(bound, op.tensors)
        row = self.record(self.instance.qualified(format_path(path[len(self.model.path):])), call.func, out.shape, 0,
                          self.depth, step=True, macs=op.macs(bound, tensors, out), outputs=(out,), inputs=tensors,
                          kernel_size=bound.get("kernel_size"))
        return self.op_event(call, args, kwargs, out, row)  # type: ignore[no-any-return]

    def op_event(self, call: ir.Call, args: list[Any], kwargs: dict[str, Any], result: Any, row: Row | None) -> Any:
        """The op's event, when this evaluation records: a result that is one of its inputs is handed on as a
        copy, so that each value in the trace has one producer."""
        if self.trace is None:
            return result
        assert row is not None
        inputs = tuple(_tensors_in(args)) if not kwargs else tuple(_flat_tensors([args, kwargs]))
        result = _fresh(result, inputs)
        self.emit("op", call, row.path, call.func, inputs, result, row, call.span)
        return result

    def bind(self, call: ir.Call, args: list[Any], kwargs: dict[str, Any]) -> dict[str, Any]:
        op = OPS[call.func]
        path = self.path_of(call)
        params = op.params
        if len(args) > len(params):
            raise self.fail("bad-call", f"{call.func} takes at most {len(params)} arguments "
                            f"({', '.join(params)}), found {len(args)}", path, call.span)
        bound = dict(zip(params, args, strict=False))
        sizes = op.args[0].name if op.varargs and op.args else None
        if sizes in params[:len(args)] and not isinstance(bound[sizes], (list, tuple)):  # x.view(n): n alone
            bound[sizes] = [bound[sizes]]
        for key, value in kwargs.items():
            if key not in params:
                raise self.fail("bad-call", f"{call.func} has no argument '{key}'", path, call.span,
                                did_you_mean(key, params) or f"its arguments are {', '.join(params)}")
            if key in bound:
                raise self.fail("bad-call", f"{call.func} got '{key}' twice", path, call.span)
            bound[key] = value
        for name in op.tensors:
            self.check_tensor_arg(call, name, bound, path)
        constants = {a.name: bound[a.name] for a in op.args if a.name in bound and a.name not in op.raw_args}
        raw = {name: bound[name] for name in op.raw_args if name in bound}
        constants.update({name: None for name in raw})  # present for the model; the rule checks them
        sized = {name: constants[name] for name in op.run_time_sizes if _holds_size(constants.get(name))}
        constants.update({name: _stand_in(value) for name, value in sized.items()})
        try:
            checked = _checked_constants(call.func, constants)
            checked.update({name: list(v) if isinstance(v, (list, tuple)) else v for name, v in sized.items()})
        except ValidationError as exc:
            first = exc.errors()[0]
            where = str(first["loc"][0]) if first["loc"] else "?"
            if first["type"] == "missing":
                raise self.fail("bad-call", f"{call.func} is missing its argument '{where}'", path, call.span,
                                f"its arguments are {', '.join(params)}") from None
            self.refuse_run_time_size(call, where, constants.get(where), path)
            raise self.fail("bad-value", f"{call.func}: argument '{where}' expected {expected_text(first)}, found "
                            f"{describe_value(constants.get(where))}", path, call.span) from None
        return {**{t.lstrip('*'): bound[t.lstrip('*')] for t in op.tensors}, **checked, **raw}

    def refuse_run_time_size(self, call: ir.Call, where: str, value: Any, path: Path) -> None:
        """A size read in forward (``n = x.size(0)`` on an ``(N, ...)`` input) where an op needs a number
        known before forward runs (a dim, a chunk count): the argument's type check would say "expected an
        integer, found 'N'"; the real reason is ``n``: name it."""
        items = value if isinstance(value, (list, tuple)) else [value]
        size = next((v for v in items if isinstance(v, SymSize)), None)
        if size is None:
            return
        exprs: dict[str, Any] = {**dict(zip(OPS[call.func].params, call.args, strict=False)), **dict(call.kwargs)}
        names = _names_holding(exprs.get(where), self.env)
        what = f"'{names[0]}', the size {size} read" if names else f"the size {size} read"
        takers = ", ".join(sorted(name for name, op in OPS.items() if op.run_time_sizes))
        raise self.fail("unsupported", f"{call.func}: argument '{where}' expected a number known before forward "
                        f"runs, found {what} off a tensor at run time", path, call.span,
                        OPS[call.func].static_sizes_hint or f"sizes read at run time go into {takers}, "
                        "expand, the new_* methods and the ops that make tensors (arange, ones...)")

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


# ---------------------------------------------------------------- identical instances, inferred once

_ARGS, _STEP_ROWS, _INSTANCES, _INPUTS = range(4)
_C = TypeVar("_C")  # the dicts of :class:`Shared` an instance's inference adds to


def _memo_key(definition: ir.ModuleDef, env: dict[str, Any], inputs: Sequence[Tensor], instance_depth: int,
              depth: int, recording: bool) -> tuple[Any, ...]:
    """Everything a block instance's inference depends on besides its path: the definition, the argument values
    as bound (their type and repr: ``1``, ``1.0`` and ``True`` differ, as do ``0.0`` and ``-0.0``), the input
    tensors (every field, and which of them are one object), its nesting depth and its rows' depth."""
    args = tuple([(name, type(value), repr(value)) for name, value in env.items()])
    first: dict[int, int] = {}  # each input object's first position
    for i, u in enumerate(inputs):
        first.setdefault(id(u), i)
    tensors = tuple([(repr(t), first[id(t)]) for t in inputs])
    return id(definition), args, tensors, instance_depth, depth, recording


class Memo:
    """A block instance's inference, kept to repeat for each later instance with the same :func:`_memo_key`.

    An instance's inference reads nothing of the shared state outside its own module path (its rows, inferred
    arguments and instances are all named under it) but the budgets; so another instance with the same key
    would do the same, under its own path.  Repeating it makes the same rows and trace events (renamed, with
    fresh tensors), the same entries in ``layer_args``, ``instances``, ``inputs`` and ``step_rows``, clones of
    the instances (the elaborator's work), and takes the same elaboration budget; instead of the statements and
    work it does not execute, it takes what it copies from ``MAX_COPIED`` (so 50,000 identical blocks fit where
    50,000 distinct ones would not).  Where the budgets left would not cover it, the instance is inferred after
    all, charged as any inference, to fail where it would.  (A pass that subclasses the interpreter infers
    every instance, charged for each.)  Its
    diagnostics need not be repeated: only an instance without errors is kept, and each of its warnings is said
    once per spec entry, which the first instance did.
    """

    def __init__(self, prefix: str, inputs: list[Tensor], shared: Shared) -> None:
        self.prefix = prefix
        self.inputs = inputs
        self.instance: Instance | None = None
        self.row: Row | None = None
        self.output: Tensor | None = None  # set once the instance ran without errors: the memo keeps it
        self.plan: _Plan | None = None  # how to repeat it, worked out at the first repeat
        # each row's path and its part after the instance's own (None: not under it), at the first repeat
        self.row_tails: list[tuple[str, str | None]] | None = None
        elaborator = shared.elaborator
        self.children0, self.instances0 = elaborator.budget.children, elaborator.budget.instances
        self.left0, self.work0 = shared.steps.left, shared.steps.work
        self.outer_tightest, elaborator.tightest = elaborator.tightest, elaborator.budget.children
        self.diag0 = len(shared.diag.diagnostics)
        self.rows = self.trace = self.writes = (0, 0)
        self.children = self.instances = self.need = self.tight = self.left = self.work = self.cost = 0

    def start(self, shared: Shared, instance: Instance, row: Row | None) -> None:
        """The instance's forward starts (after its block row ``row``, when rows are recorded)."""
        self.instance = instance
        self.row = row
        self.rows = (len(shared.rows), 0)
        self.trace = (len(shared.trace) if shared.trace is not None else 0, 0)
        self.writes = (len(shared.writes), 0)

    def end(self, shared: Shared, out: Tensor | None) -> None:
        if out is None or any(d.severity == "error" for d in shared.diag.diagnostics[self.diag0:]):
            return
        elaborator = shared.elaborator
        self.rows = (self.rows[0], len(shared.rows))
        self.trace = (self.trace[0], len(shared.trace) if shared.trace is not None else 0)
        self.writes = (self.writes[0], len(shared.writes))
        self.children = self.children0 - elaborator.budget.children
        self.instances = self.instances0 - elaborator.budget.instances
        self.tight = self.children0 - elaborator.tightest  # a repeat's check, from the budget at the start
        self.need = max(self.children, self.tight)
        self.left, self.work = self.left0 - shared.steps.left, self.work0 - shared.steps.work
        # what a repeat copies: rows, events, dict entries, and the instances and children it clones
        self.cost = (self.rows[1] - self.rows[0]) + (self.trace[1] - self.trace[0]) + \
            (self.writes[1] - self.writes[0]) + self.children + self.instances
        self.output = out

    def close(self, shared: Shared) -> None:
        elaborator = shared.elaborator
        elaborator.tightest = min(self.outer_tightest, elaborator.tightest)

    def paths(self, shared: Shared, prefix: str) -> list[str] | None:
        """The rows' paths under ``prefix``, or None where the inference cannot be repeated there: a budget
        left would not cover it (the instance then runs and fails where it would), or a path is taken."""
        budget, steps = shared.elaborator.budget, shared.steps
        if budget.instances < self.instances or budget.children < self.need or steps.copies < self.cost:
            return None
        if self.row_tails is None:  # the first instance's rows keep their paths: each split once
            self.row_tails = [(row.path, self.tail(row.path)) for row in shared.rows[self.rows[0]:self.rows[1]]]
        paths = [path if tail is None else prefix + tail for path, tail in self.row_tails]
        if not shared.recorded.isdisjoint(paths):
            return None
        return paths

    def reuse(self, shared: Shared, child: Child, prefix: str) -> dict[int, Instance]:
        """The instance (and those inside it) cloned under ``prefix`` and linked from ``child``, the budgets
        taken as its elaboration and inference took them: each clone by the id of what it copies."""
        assert self.instance is not None
        elaborator, steps = shared.elaborator, shared.steps
        elaborator.tightest = min(elaborator.tightest, elaborator.budget.children - self.tight)
        elaborator.budget.children -= self.children
        elaborator.budget.instances -= self.instances
        steps.copies -= self.cost
        clones: dict[int, Instance] = {}
        child.instance = _clone_instance(self.instance, len(self.prefix), prefix, clones)
        return clones

    def make_plan(self, shared: Shared) -> _Plan:
        """The tensors a repeat makes (slots: the n-th new input, or a copy of one made inside; the same
        slot wherever the first instance had the same object) and each event, entry and the output in slots."""
        slots: dict[int, int] = {}
        sources: list[Any] = []  # per slot: the input's position (an int), or the tensor made inside to copy
        for position, tensor in enumerate(self.inputs):
            if id(tensor) not in slots:
                slots[id(tensor)] = len(sources)
                sources.append(position)

        def encode(value: Any) -> Any:
            slot = slots.get(id(value))
            if slot is not None:
                return slot
            if type(value) is tuple:
                items = tuple(encode(v) for v in value)
                return (_SLOTS, items) if all(type(i) is int for i in items) else (_TUPLE, items)
            if not isinstance(value, Tensor):
                return (_VALUE, value)
            slots[id(value)] = len(sources)
            sources.append(value)
            return len(sources) - 1

        rows = {id(row): i for i, row in enumerate(shared.rows[self.rows[0]:self.rows[1]])}
        tail = self.tail
        events = [(e, tail(e.instance), tail(e.path), encode(e.inputs), encode(e.output),
                   None if e.row is None else rows[id(e.row)])
                  for e in (shared.trace[self.trace[0]:self.trace[1]] if shared.trace is not None else ())]
        writes = [(kind, key, tail(key), [encode(t) for t in value] if kind == _INPUTS else value)
                  for kind, key, value in shared.writes[self.writes[0]:self.writes[1]]]
        self.plan = _Plan(sources, events, writes, encode(self.output))
        return self.plan

    def tail(self, path: str) -> str | None:
        """``path``'s part after this instance's own (None: not under it)."""
        old = self.prefix
        inside = path.startswith(old) and (len(path) == len(old) or path[len(old)] == ".")
        return path[len(old):] if inside else None

    def replay(self, shared: Shared, clones: dict[int, Instance], paths: list[str], inputs: list[Tensor],
               prefix: str) -> Tensor:
        """What the instance's forward added, added again under ``prefix``; gives its output."""
        plan = self.plan if self.plan is not None else self.make_plan(shared)
        made = [inputs[s] if type(s) is int else _copied(s) for s in plan.sources]

        def value(code: Any) -> Any:  # the same tensor for the same one, a fresh one for each made inside
            if type(code) is int:
                return made[code]
            if code[0] is _SLOTS:
                return tuple([made[i] for i in code[1]])
            if code[0] is _TUPLE:
                return tuple([value(c) for c in code[1]])
            return code[1]

        new_rows = _renamed_rows(shared.rows[self.rows[0]:self.rows[1]], paths)
        shared.recorded.update(paths)
        shared.rows.extend(new_rows)
        if shared.trace is not None:
            shared.trace.extend([
                Event(e.kind, e.node, e.instance if where is None else prefix + where,
                      e.path if path is None else prefix + path, e.type,
                      value(ins), made[out] if type(out) is int else value(out),  # most outputs: one tensor
                      None if row is None else new_rows[row], e.span)
                for e, where, path, ins, out, row in plan.events])
        for kind, key, tail, written in plan.writes:
            if tail is not None:
                key = prefix + tail
            if kind == _ARGS:
                written = shared.layer_args[key] = dict(written)
            elif kind == _STEP_ROWS:
                shared.step_rows[key] = written
            elif kind == _INSTANCES:
                written = shared.instances[key] = clones[id(written)]
            elif key not in shared.inputs:
                written = shared.inputs[key] = [value(c) for c in written]
            else:
                continue
            if shared.capturing:  # (what note checks first: most repeats are not inside an instance being kept)
                shared.note(kind, key, written)
        result: Tensor = value(plan.output)
        return result


_SLOTS, _TUPLE, _VALUE = "slots", "tuple", "value"  # how a plan writes a tuple of tensors, any tuple, a value


@dataclass
class _Plan:
    """How :meth:`Memo.replay` repeats an instance's inference (:meth:`Memo.make_plan`)."""

    sources: list[Any]
    events: list[tuple[Event, str | None, str | None, Any, Any, int | None]]
    writes: list[tuple[int, str, str | None, Any]]
    output: Any


def _copied(value: _C) -> _C:
    """A shallow copy of a dataclass instance (frozen or not), as ``copy.copy`` makes it, in a third of the time."""
    state = getattr(value, "__dict__", None)
    if state is None:  # a class with slots
        return copy.copy(value)
    new = object.__new__(type(value))
    new.__dict__.update(state)
    return new


def _renamed_rows(rows: list[Row], paths: list[str]) -> list[Row]:
    """Shallow copies of ``rows``, each under its path in ``paths``: a repeated instance's rows (a new ``__dict__``
    with the path changed, set on a bare object, takes half the time of a copy and a set attribute)."""
    new_object = object.__new__
    out: list[Row] = []
    for row, path in zip(rows, paths, strict=True):
        state = row.__dict__.copy()
        state["path"] = path
        new_row = new_object(type(row))
        new_row.__dict__ = state
        out.append(new_row)
    return out


def _clone_instance(instance: Instance, cut: int, prefix: str, clones: dict[int, Instance]) -> Instance:
    """``instance`` and the instances inside it, under ``prefix`` (the first ``cut`` characters of each path
    replaced), with children of their own: the instances an elaboration at the same arguments would build."""
    children: dict[int, Child] = {}

    def clone(child: Child) -> Child:
        inner = None if child.instance is None else _clone_instance(child.instance, cut, prefix, clones)
        new = Child(child.entry, child.key, child.attr, child.type, dict(child.args),
                    [clone(c) for c in child.children], child.named, child.block, inner, child.env, child.span)
        children[id(child)] = new
        return new

    made = [clone(c) for c in instance.children]
    names = {label: children[id(v)] if isinstance(v, Child) else [children[id(c)] for c in v]
             if isinstance(v, list) else v for label, v in instance.names.items()}
    new = Instance(instance.definition, prefix + instance.prefix[cut:], instance.env, made, names, instance.depth)
    clones[id(instance)] = new
    return new


# What may be changed in place after it is made (``out = bn2(out); out += identity``, as torchvision writes): layers
# (ops/weights.py) and operators whose backward reads their inputs, never their output (relu's reads its output).
_FRESH_OPERATORS = frozenset({"+", "-", "*", "@"})


def buffer_tensor(buf: ir.BufferDef, instance: Instance) -> Tensor:
    """A buffer in one instance: the fill's arguments and the shape's names take that instance's values
    (ExprError, ShapeError when they do not fit the fill)."""
    fill = FILLS[buf.fill]
    args = {k: evaluate(v.expr, instance.env) if isinstance(v, ir.Build) else v for k, v in buf.args.items()}
    shape = None if buf.shape is None else tuple(d if isinstance(d, int) else instance.env[d] for d in buf.shape)
    for d in shape or ():
        if not isinstance(d, int) or isinstance(d, bool) or d < 0:
            raise ShapeError(f"buffer '{buf.name}': sizes are integers >= 0, found {d!r}", "shape", "bad-value")
    dtype = buf.dtype or fill.dtype or MODULE_DTYPE
    made = fill.shape(args, shape)
    if math.prod(made) > DEFAULT_MAX_PARAMS:  # as the parameter budget: a size written by mistake
        raise ShapeError(f"the buffer would hold {math.prod(made):,} elements, more than {DEFAULT_MAX_PARAMS:,}",
                         "shape", "too-large", "check the sizes of its shape or fill")
    fill.check(args, dtype)
    return Tensor(made, dtype)


def param_shape(item: ir.ParamTensor, instance: Instance) -> tuple[int, ...]:
    """A parameter's shape in one instance: a block's named sizes take that instance's values."""
    return tuple(d if isinstance(d, int) else int(instance.env[d]) for d in item.shape)


def _names_holding(expr: Any, env: dict[str, Any]) -> list[str]:
    """The forward values in ``expr`` (a tuple of sizes, say) that hold a size read at run time."""
    found: list[str] = []
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, ir.Name) and isinstance(env.get(node.id), SymSize) and node.id not in found:
            found.append(node.id)
        elif isinstance(node, ir.Seq):
            stack.extend(reversed(node.items))
        elif isinstance(node, ir.Neg):
            stack.append(node.operand)
        elif isinstance(node, ir.BinOp):
            stack.extend((node.right, node.left))
    return found


def _holds_size(value: Any) -> bool:
    """A size read at run time, alone or among a list of sizes."""
    return isinstance(value, SymSize) or (isinstance(value, (list, tuple)) and any(
        isinstance(v, SymSize) for v in value))


def _stand_in(value: Any) -> Any:
    """``value`` with each size read at run time as 1, for the argument's type check (sizes are >= 0)."""
    if isinstance(value, (list, tuple)):
        return type(value)(1 if isinstance(v, SymSize) else v for v in value)
    return 1 if isinstance(value, SymSize) else value


_SCALARS = (int, float, str, bool, type(None))
_CHECKED: dict[tuple[Any, ...], dict[str, Any]] = {}  # by op and its scalar arguments (with their types)
_CHECKED_LIMIT = 4_096


def _checked_constants(func: str, constants: dict[str, Any]) -> dict[str, Any]:
    """An op's constant arguments checked by its argument model, defaults filled in (raises its ValidationError).
    Scalar arguments are checked once per value: a loop calls the same op on the same arguments thousands of
    times."""
    if not all(type(v) in _SCALARS for v in constants.values()):
        return OP_ARG_MODELS[func].model_validate(constants).model_dump()
    key = (func, *((k, type(v), repr(v) if type(v) is float else v) for k, v in constants.items()))  # -0.0, nan
    found = _CHECKED.get(key)
    if found is None:
        found = OP_ARG_MODELS[func].model_validate(constants).model_dump()
        if len(_CHECKED) < _CHECKED_LIMIT and all(type(v) in _SCALARS for v in found.values()):
            _CHECKED[key] = found
    return dict(found)


def _tensors(bound: dict[str, Any], names: Sequence[str]) -> list[Tensor]:
    """An op's tensor arguments in order, a list argument (cat's) spread."""
    out: list[Tensor] = []
    for name in names:
        value = bound[name.lstrip("*")]
        out.extend(value if name.startswith("*") else [value])
    return out


@lru_cache(maxsize=4096)
def _activation_bytes(outputs: tuple[tuple[tuple[Dim, ...], str], ...]) -> Dim:
    """Bytes of tensors of these (shape, dtype): a row's activation figure, the same few shapes on thousands of
    rows (a loop over a Sequential, a deep stack of one width)."""
    return counts.total(counts.tensor_bytes(shape, dtype) for shape, dtype in outputs)


def _flat_tensors(values: Any) -> Iterator[Tensor]:
    """The tensors in a value, in order: inside lists, tuples and dict values too."""
    if isinstance(values, Tensor):
        yield values
    elif isinstance(values, (list, tuple)):
        for value in values:
            yield from _flat_tensors(value)
    elif isinstance(values, dict):
        for value in values.values():
            yield from _flat_tensors(value)


def _fresh(value: Any, inputs: Sequence[Any]) -> Any:
    """``value`` (each item of a tuple) with any tensor that is one of ``inputs`` itself (nn.Identity's output)
    replaced by a copy: in a trace each value has one producer."""
    if isinstance(value, tuple):
        return tuple([_fresh(item, inputs) for item in value])
    if isinstance(value, Tensor):
        for x in inputs:
            if value is x:
                return Tensor(value.shape, value.dtype, value.leaf)
    return value


def _tensors_in(values: Sequence[Any]) -> Sequence[Tensor]:
    """The tensors in ``values`` in order, as :func:`_flat_tensors` finds them (most often ``values`` itself)."""
    for value in values:
        if type(value) is not Tensor:
            return list(_flat_tensors(values))
    return values


def _computed(out: Tensor) -> Tensor:
    """An op's result is a new tensor, even where a rule hands back its input's description."""
    return Tensor(out.shape, out.dtype) if out.leaf else out


def _check_in_place(args: dict[str, Any], inputs: Sequence[Any], name: str) -> None:
    """torch refuses an in-place op on a Parameter that requires grad (a leaf of the autograd graph)."""
    if args.get("inplace") and any(isinstance(x, Tensor) and x.leaf for x in inputs):
        raise ShapeError(f"{name} with inplace=True expects a computed tensor, found a Parameter that requires "
                         "grad (torch refuses to change it in place)", "inplace", "bad-inplace",
                         "drop inplace: true here")


_NUMERIC_HINT = "declare the tensor with a numeric dtype (int64, float32...)"


def _scalar_promote(tensor: Tensor, number: float) -> str:
    """A Python number joins a tensor's dtype category: floats make int tensors float32, ints make bools int64."""
    if tensor.is_float:
        return tensor.dtype
    if isinstance(number, float):
        return "float32"
    if isinstance(number, bool):
        return tensor.dtype
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
    if isinstance(value, SymSize):
        return f"the size {value} read at run time"
    if isinstance(value, DTypeName):
        return f"the dtype {value}"
    if isinstance(value, Device):
        return "a device"
    return short_repr(value)


# ---------------------------------------------------------------- after the forward


def _complete_unused(shared: Shared) -> None:
    """Layers forward never reaches still need complete arguments to be built, and their constructors still
    check those arguments: the layer's own argument checks run here instead.  A block child forward never
    reaches is built from the arguments written at its use."""
    pending = list(shared.instances.values())
    seen: set[int] = set()
    while pending:
        instance = pending.pop()
        if id(instance) in seen:
            continue
        seen.add(id(instance))
        for child, qualified in instance.walk_qualified():
            if child.type == ir.BLOCK:
                inner = child.instance or _unreached_block(shared, instance, child, qualified)
                if inner is not None:
                    shared.instances.setdefault(qualified, inner)
                    pending.append(inner)
                continue
            if child.type == SEQUENTIAL or qualified in shared.layer_args:
                continue
            _complete_layer(shared, instance, child, qualified)


def _unreached_block(shared: Shared, parent: Instance, child: Child, qualified: str) -> Instance | None:
    assert child.block is not None
    definition = shared.elaborator.program.blocks[child.block]
    missing = [a.name for a in definition.block_args if a.required and a.name not in child.args]
    if missing:
        shared.diag.add(Diagnostic("cannot-infer", f"cannot infer {', '.join(missing)}: forward never passes a "
                                   f"tensor through this block (in {qualified})",
                                   parent.definition.source.key_span(child.entry.path), child.entry.path,
                                   f"write {missing[0]} explicitly, or use the block in forward"))
        return None
    env = dict(child.args)
    try:
        for arg in definition.block_args:
            env.setdefault(arg.name, default_of(arg, env))
        child.instance = shared.elaborator.instance(definition, env, qualified, parent.depth + 1)
    except Refusal as exc:
        shared.diag.add(exc.diagnostic)
        return None
    return child.instance


def _complete_layer(shared: Shared, instance: Instance, child: Child, qualified: str) -> None:
    kind = LAYERS[child.type]
    layer = child.entry
    source = instance.definition.source
    missing = [a.name for a in kind.args if a.inferred and child.args.get(a.name) is None]
    if missing:
        where = f" (in {instance.prefix})" if instance.prefix else ""
        shared.diag.add(Diagnostic("cannot-infer", f"cannot infer {', '.join(missing)}: forward never passes a "
                                   f"tensor through this layer{where}", source.key_span(layer.path), layer.path,
                                   f"write {missing[0]} explicitly, or use the layer in forward"))
    else:
        try:
            kind.check(child.args)
        except ShapeError as exc:
            arg_path = (*layer.path, exc.arg) if exc.arg and exc.arg in layer.args else layer.path
            shared.diag.add(Diagnostic(exc.code, exc.message, source.key_span(arg_path), layer.path, exc.hint))
    shared.layer_args[qualified] = dict(child.args)


# ---------------------------------------------------------------- entries no instance builds

MAX_PROBES = 64  # made-up instances one spec may run, over all blocks
_PROBES_PER_BLOCK = 16
_ENOUGH = 3  # made-up builds of an entry that tell the block's expressions apart


def _probe_unbuilt(shared: Shared) -> Hypothetical | None:
    """Block entries with an inferred argument that no instance builds (an ``if`` false in every instance, a
    repeat of 0, a block used only where it is switched off) are inferred in made-up instances: the same block
    at nearby argument values (integers moved, bools flipped) that build them.  Nothing is reported from
    here: a made-up instance that fails only leaves the entry without a value (codegen then writes a class
    that refuses to build it with those arguments)."""
    program = shared.elaborator.program
    if not program.blocks:  # only a block's entries are wanted: no need to walk what was built
        return None
    built = {id(child.entry) for instance in shared.instances.values() for child in instance.walk()}
    wanted = {id(layer) for definition in program.blocks.values() for layer in definition.walk_layers()
              if id(layer) not in built and _needs_inference(program, layer)}
    if not wanted:
        return None
    elaborator = Elaborator(program)
    elaborator.budget = Budget(MAX_CHILDREN // 10, MAX_INSTANCES // 10)
    probe = Shared(elaborator, {}, [], Collector(), Steps(MAX_EXECUTED // 10, MAX_WORK // 10), {})
    seen: dict[int, int] = {}  # made-up builds of each wanted entry
    runs = 0
    for definition in reversed(list(program.blocks.values())):  # users before the blocks they use
        targets = [id(layer) for layer in definition.walk_layers() if id(layer) in wanted]
        bases = _probe_bases(definition, shared, probe)
        tried: list[dict[str, Any]] = []
        for args, inputs, depth, made_up in bases:
            for env in _nearby(definition, args, made_up):
                if all(seen.get(t, 0) >= _ENOUGH for t in targets) or len(tried) >= _PROBES_PER_BLOCK or \
                        runs >= MAX_PROBES:
                    break
                if env in tried:
                    continue
                tried.append(env)
                runs += 1
                _probe(probe, definition, env, _moved_inputs(definition, inputs, env), depth, f"_probe{runs}",
                       wanted, seen)
    return Hypothetical(list(probe.instances.values()), probe.layer_args)


def _probe(probe: Shared, definition: ir.ModuleDef, env: dict[str, Any], inputs: list[Tensor], depth: int,
           prefix: str, wanted: set[int], seen: dict[int, int]) -> None:
    """One made-up instance run; counts the runs that inferred each wanted entry."""
    before = set(probe.instances)
    probe.elaborator.taken = {}
    try:
        instance = probe.elaborator.instance(definition, env, prefix, depth)
    except Refusal:
        return
    probe.instances[prefix] = instance
    Interpreter(instance, {}, probe, record=False).run(inputs)
    inferred = {id(child.entry) for key in set(probe.instances) - before
                for inner in (probe.instances[key],) for child in inner.walk()
                if id(child.entry) in wanted and (child.instance is not None if child.type == ir.BLOCK else
                                                  inner.qualified(child.attr) in probe.layer_args)}
    for entry in inferred:
        seen[entry] = seen.get(entry, 0) + 1


def _probe_bases(definition: ir.ModuleDef, shared: Shared, probe: Shared
                 ) -> list[tuple[dict[str, Any], list[Tensor] | None, int, bool]]:
    """(arguments, inputs, depth, made up) of the instances of ``definition``, real ones first, then those of
    made-up instances (a block used only inside an entry no instance builds); made-up arguments when there
    are none (a block used only where it is switched off)."""
    bases: list[tuple[dict[str, Any], list[Tensor] | None, int, bool]] = []
    keys: list[Any] = []
    for instances, inputs in ((shared.instances, shared.inputs), (probe.instances, probe.inputs)):
        for prefix, instance in list(instances.items()):
            if instance.definition is not definition:
                continue
            args = {a.name: instance.env[a.name] for a in definition.block_args}
            found = inputs.get(prefix)
            key = (repr(args), None if found is None else [t.shape for t in found])
            if key not in keys and len(keys) < 4:
                keys.append(key)
                bases.append((args, found, instance.depth, False))
    if bases:
        return bases
    if any(a.required and a.kind not in _MADE_UP for a in definition.block_args):
        return []  # a string argument no use passes: nothing sensible to make up
    made_up: dict[str, Any] = {}
    for a in definition.block_args:
        try:
            made_up[a.name] = _MADE_UP[a.kind] if a.required else default_of(a, made_up)
        except Refusal:
            return []
    return [(made_up, None, 1, True)]


_MADE_UP: dict[str, Any] = {"int": 8, "float": 0.5, "bool": False}


def _nearby(definition: ir.ModuleDef, args: dict[str, Any], made_up: bool) -> Iterator[dict[str, Any]]:
    """Argument values near ``args`` that may build what ``args`` does not, cheapest first: ``args`` itself when
    it is made up (no instance ran it), bools flipped, integers moved (those read off the input, then all of
    them, each its own way so that equal ones part: a little, then further), then both."""
    bound = {d for inp in definition.inputs for d in inp.shape if isinstance(d, str)}
    ints = [a.name for a in definition.block_args if type(args.get(a.name)) is int]
    moves: list[dict[str, Any]] = []
    for scale, shift in ((1, 1), (2, 1), (3, 2)):
        for names in ([n for n in ints if n in bound], ints):
            move = {n: args[n] * scale + shift + k * 7 for k, n in enumerate(names)}
            if move and move not in moves:
                moves.append(move)
    bools = [a.name for a in definition.block_args if type(args.get(a.name)) is bool]
    flips: list[dict[str, Any]] = [{b: not args[b]} for b in bools]
    if len(bools) > 1:
        flips.append({b: not args[b] for b in bools})
    if made_up:
        yield dict(args)
    for change in [*flips, *moves, *({**flip, **move} for flip in flips for move in moves[:2])]:
        yield {**args, **change}


def _moved_inputs(definition: ir.ModuleDef, inputs: list[Tensor] | None, env: dict[str, Any]) -> list[Tensor]:
    """The inputs an instance at ``env`` is called with: the dims its arguments bind take their values, the
    others stay (a declared symbol, ``H``, where there is no instance to take them from)."""
    out = []
    for k, decl in enumerate(definition.inputs):
        base = inputs[k].shape if inputs is not None else decl.shape
        shape = tuple(env[want] if isinstance(want, str) and type(env.get(want)) is int else got
                      for want, got in zip(decl.shape, base, strict=True))
        out.append(Tensor(shape, inputs[k].dtype if inputs is not None else decl.dtype))
    return out


def _needs_inference(program: ir.Program, layer: ir.Layer) -> bool:
    """Whether the class must write an argument of ``layer`` that its instances would infer."""
    if layer.type == ir.BLOCK:
        assert layer.block is not None
        return any(a.required and a.name not in layer.args for a in program.blocks[layer.block].block_args)
    kind = LAYERS.get(layer.type)
    return kind is not None and any(a.inferred and layer.args.get(a.name) is None for a in kind.args)


def _sizes(shared: Shared) -> dict[str, int]:
    sizes: dict[str, int] = {}
    layer_types = registry().layers  # one registry for the whole pass, read once (a plain dict: 100,000s of lookups)
    for instance in shared.instances.values():
        for child, qualified in instance.walk_qualified():
            kind = layer_types.get(child.type)
            if kind is not None:
                sizes[qualified] = kind.count(shared.layer_args[qualified])
        for group in instance.definition.params:
            for item in group.items:
                sizes[instance.qualified(item.attr)] = math.prod(param_shape(item, instance))
    return sizes


def _memory(shared: Shared, sizes: dict[str, int], tied: int = 0) -> Memory:
    """Parameter and buffer bytes by dtype; each module and parameter once, however often forward calls it
    (a tied parameter, one tensor under two names, once)."""
    params: dict[str, int] = {MODULE_DTYPE: -tied * DTYPE_BYTES[MODULE_DTYPE]} if tied else {}
    buffers: dict[str, int] = {}
    trainable = 0
    layer_types = registry().layers
    for instance in shared.instances.values():
        layer_elements: int | None = None  # the instance's layers' parameters, added up before they are counted
        for child, qualified in instance.walk_qualified():
            kind = layer_types.get(child.type)
            if kind is None:
                continue
            layer_elements = (layer_elements or 0) + sizes[qualified]
            for dtype, count in kind.buffers(shared.layer_args[qualified]).items():
                buffers[dtype] = buffers.get(dtype, 0) + count * DTYPE_BYTES[dtype]
        if layer_elements is not None:  # (the dtype's key is made here, where its first layer made it: same order)
            n = layer_elements * DTYPE_BYTES[MODULE_DTYPE]
            params[MODULE_DTYPE] = params.get(MODULE_DTYPE, 0) + n
            trainable += n
        for group in instance.definition.params:
            for item in group.items:
                dtype = item.dtype or "float32"
                n = math.prod(param_shape(item, instance)) * DTYPE_BYTES[dtype]
                params[dtype] = params.get(dtype, 0) + n
                trainable += n if item.requires_grad else 0
        for buf in instance.definition.buffers:
            try:
                tensor = buffer_tensor(buf, instance)
            except (ExprError, ShapeError, KeyError):  # reported where the instance ran
                continue
            size = math.prod(d for d in tensor.shape if isinstance(d, int)) * DTYPE_BYTES[tensor.dtype]
            buffers[tensor.dtype] = buffers.get(tensor.dtype, 0) + size
    return Memory(params, buffers, trainable - tied * DTYPE_BYTES[MODULE_DTYPE])


def _check_ties(root: Instance, shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str], layers: dict[str, str],
                diag: Collector) -> int:
    """The root's ties checked against what was built: both ends parameters of one shape and dtype, no
    parameter tied twice.  Returns the elements the ties share (counted once in the totals)."""
    tied = 0
    targets: set[str] = set()
    sources: set[str] = set()
    for tie in root.definition.ties:
        if not condition_holds(tie.cond, root, diag):
            continue
        span = root.definition.source.key_span(tie.path)
        problem = _tie_problem(tie, shapes, dtypes, layers, targets, sources)
        if problem is not None:
            message, hint = problem
            diag.add(Diagnostic("bad-tie", message, span, tie.path, hint))
            continue
        targets.add(tie.target)
        sources.add(tie.source)
        tied += math.prod(shapes[tie.target])
    return tied


def _tie_problem(tie: ir.Tie, shapes: dict[str, tuple[int, ...]], dtypes: dict[str, str], layers: dict[str, str],
                 targets: set[str], sources: set[str]) -> tuple[str, str] | None:
    for key in (tie.target, tie.source):
        if key not in shapes:
            module = key.rpartition(".")[0]
            if module in layers:
                return (f"'{key}' is not a parameter netspec can tie: '{module}' is a {layers[module]}",
                        "ties name parameters of Linear, Embedding, Bilinear, convolutions, norms, or raw params")
            return f"'{key}' is not a parameter of this module", did_you_mean(key, shapes) or (
                "name it as its state_dict key: model.embed_tokens.weight")
    if tie.target == tie.source:
        return f"'{tie.target}' is tied to itself", "name two different parameters"
    if tie.target in targets or tie.source in targets or tie.target in sources:  # no chains: a -> b -> c
        return (f"'{tie.target}' or '{tie.source}' is already in another tie",
                "tie each parameter once, each straight to the one it is: a chain a -> b -> c is a -> c and b -> c")
    if shapes[tie.target] != shapes[tie.source] or dtypes[tie.target] != dtypes[tie.source]:
        return (f"'{tie.target}' is {fmt_shape(shapes[tie.target])} {dtypes[tie.target]} but '{tie.source}' is "
                f"{fmt_shape(shapes[tie.source])} {dtypes[tie.source]}: one Parameter cannot be both",
                "tie parameters of one shape (an output projection and an embedding of the same vocabulary)")
    return None


def _checks_parameters(root: Instance, shared: Shared) -> bool:
    """Whether anything reads :func:`_parameter_shapes`: the root's ties and the ``init:`` passes.  Most specs have
    neither, and typing every parameter of 10,000 blocks is a tenth of their inference."""
    return bool(root.definition.ties) or any(
        instance.definition.init_passes for instance in shared.instances.values())


def _parameter_shapes(shared: Shared) -> tuple[dict[str, tuple[int, ...]], dict[str, str], dict[str, str]]:
    """Every parameter netspec knows the shape of, by state_dict key; and every registry layer, by module path."""
    shapes: dict[str, tuple[int, ...]] = {}
    dtypes: dict[str, str] = {}
    layers: dict[str, str] = {}
    layer_types = registry().layers
    for instance in shared.instances.values():
        for child, qualified in instance.walk_qualified():
            if child.type not in layer_types:
                continue
            layers[qualified] = child.type
            rule, args = PARAM_SHAPES.get(child.type), shared.layer_args.get(qualified)
            for name, shape in (rule(args) if rule is not None and args is not None else {}).items():
                key = f"{qualified}.{name}"
                shapes[key] = tuple(shape)
                dtypes[key] = MODULE_DTYPE
        for group in instance.definition.params:
            for item in group.items:
                shapes[instance.qualified(item.attr)] = param_shape(item, instance)
                dtypes[instance.qualified(item.attr)] = item.dtype or MODULE_DTYPE
    return shapes, dtypes, layers


def _container_totals(rows: list[Row], sizes: dict[str, int]) -> None:
    """A Sequential's or a block's row shows the parameters of everything inside it."""
    ordered = sorted(sizes)
    current = registry()  # its tables read once, as plain dicts: a row each, 100,000s of rows
    layer_types, op_types = current.layers, current.ops
    for row in rows:
        if row.params or row.type in layer_types or "(shared)" in row.type or row.type in op_types:
            continue
        prefix = row.path + "."
        start = bisect.bisect_left(ordered, prefix)
        total = 0
        for index in range(start, len(ordered)):  # not ordered[start:]: a copy per row made 10,000 blocks quadratic
            key = ordered[index]
            if not key.startswith(prefix):
                break
            total += sizes[key]
        row.params = total


def _check_total(model: ir.ModuleDef, total: int, diag: Collector) -> None:
    if total > INT64_MAX:
        diag.add(Diagnostic("too-large", f"the model would hold {total} parameters, more than 64-bit sizes allow",
                            model.source.span(()), (), "check the layer sizes for a typo"))


def buffer_elements(inference: Inference) -> int:
    """The elements the module's buffers hold (its own and its layers', BatchNorm's statistics included)."""
    memory = inference.memory
    return 0 if memory is None else sum(b // DTYPE_BYTES[d] for d, b in memory.buffer_bytes.items())


def check_budget(inference: Inference, max_params: int | None) -> None:
    """Refuse, before anything is allocated, a model past the budget: parameters and buffer elements together."""
    limit = DEFAULT_MAX_PARAMS if max_params is None else max_params
    buffers = buffer_elements(inference)
    if inference.total_params + buffers <= limit:
        return
    largest = ", ".join(f"{name} ({count:,})" for name, count in inference.largest())
    held = f"{inference.total_params:,} parameters" + (f" and {buffers:,} buffer elements" if buffers else "")
    raise SpecError([Diagnostic(
        "param-budget", f"the model has {held}, over the budget of {limit:,}" + (f"; largest: {largest}" if largest
                                                                                  else ""),
        inference.model.source.span(()), (),
        "raise it with max_params= (--max-params), or build on device='meta' to allocate nothing")])


def budget_warning(inference: Inference) -> list[Diagnostic]:
    buffers = buffer_elements(inference)
    if inference.total_params + buffers <= DEFAULT_MAX_PARAMS:
        return []
    largest = ", ".join(f"{name} ({count:,})" for name, count in inference.largest())
    held = f"{inference.total_params:,} parameters" + (f" and {buffers:,} buffer elements" if buffers else "")
    return [Diagnostic("param-budget", f"the model has {held}, over the default load budget of "
                       f"{DEFAULT_MAX_PARAMS:,}" + (f"; largest: {largest}" if largest else ""),
                       inference.model.source.span(()), (), "load it with max_params= or on device='meta'",
                       "warning")]
