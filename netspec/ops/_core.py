"""What a layer or functional op is to netspec: its arguments, its shape rule,
its parameter count and its PyTorch spelling.  Pure Python: no torch here.

Dims are ``int`` or ``str``; a string is a symbolic size (``N``) or an
arithmetic expression over symbols (``H-4``), kept readable for summaries.
"""

from __future__ import annotations

import hashlib
import math
import re
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from .annotations import Constraint, StrictBool, StrictFloat, StrictInt
from .examples import Example

Dim = int | str
Shape = tuple[Dim, ...]

INT64_MAX = 2**63 - 1

# Annotations shared by the argument models (the schema is generated from these).
PosInt = Annotated[StrictInt, Constraint(ge=1, le=INT64_MAX)]
NonNegInt = Annotated[StrictInt, Constraint(ge=0, le=INT64_MAX)]
AnyInt = Annotated[StrictInt, Constraint(ge=-INT64_MAX, le=INT64_MAX)]
Real = Annotated[StrictFloat, Constraint(allow_inf_nan=False)]
PosReal = Annotated[StrictFloat, Constraint(gt=0, allow_inf_nan=False)]
Probability = Annotated[StrictFloat, Constraint(ge=0, le=1, allow_inf_nan=False)]
Bool = StrictBool


def size_n(n: int, item: Any = PosInt) -> Any:
    """An int, or a list of exactly ``n`` ints, as PyTorch's ``_size_Nd_t``."""
    return item | Annotated[tuple[(item,) * n], Constraint()]  # type: ignore[misc]


REQUIRED: Any = object()


class SymSize(str):
    """A symbolic size read off a tensor in forward (``n = x.size(0)`` on an ``(N, ...)`` input)."""

    __slots__ = ()


class DTypeName(str):
    """A dtype as a forward value: named (``float32``, ``torch.float32``) or read off a tensor (``x.dtype``, which
    knows the tensor's dtype).  Generated code spells it ``torch.float32``, or ``x.dtype`` as written."""

    __slots__ = ()


class Device(str):
    """A tensor's device read in forward (``x.device``): shape inference knows no devices, only that one was given."""

    __slots__ = ()


class ShapeError(Exception):
    """A shape rule's refusal; the caller turns it into a located Diagnostic."""

    def __init__(self, message: str, arg: str | None = None, code: str = "shape-mismatch", hint: str | None = None):
        super().__init__(message)
        self.message = message
        self.arg = arg
        self.code = code
        self.hint = hint


class UnreadArgMismatch(ShapeError):
    """An inferable argument torch never reads here (a non-affine GroupNorm's ``num_channels``)
    disagrees with the input.  Refused when written (a deliberate check); when a layer called
    again only inferred it from an earlier call, shape inference lets the call through."""


@dataclass(frozen=True)
class Arg:
    """One constructor or op argument, in PyTorch's order."""

    name: str
    annotation: Any
    default: Any = REQUIRED
    inferred: bool = False  # follows from the input shape; checked when written
    doc: str = ""

    @property
    def required(self) -> bool:
        return self.default is REQUIRED and not self.inferred


@dataclass(frozen=True)
class Tensor:
    """A tensor as shape inference sees it."""

    shape: Shape
    dtype: str = "float32"
    # A Parameter that requires grad, as forward sees it before any op: torch refuses in-place ops on it.
    leaf: bool = False

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def is_float(self) -> bool:
        return self.dtype.startswith(("float", "bfloat"))


LayerRule = Callable[[dict[str, Any], Sequence[Tensor]], tuple[Tensor, dict[str, Any]]]
ParamRule = Callable[[dict[str, Any]], int]
# Multiply-accumulates of one call: (arguments, input tensors, output) -> a count, an int or, over symbolic dims,
# the text of a product (``N*150*784``).  The count is the one torch.utils.flop_counter.FlopCounterMode reports,
# halved: matrix products and convolutions only (docs/spec.md, "Counts").
MacsRule = Callable[[dict[str, Any], Sequence[Tensor], Any], Dim]
# Buffer elements by dtype, from the complete arguments (BatchNorm's running statistics).
BufferRule = Callable[[dict[str, Any]], dict[str, int]]
ArgCheck = Callable[[dict[str, Any]], None]
InputWarning = Callable[[dict[str, Any], Sequence[Tensor]], ShapeError | None]
# How ``netspec dump`` reads a constructor argument back off a built module: (module, argument name) -> the value
# the constructor was called with, :data:`OMIT` for one the module cannot show, or AttributeError.
ReadBack = Callable[[Any, str], Any]
OMIT: Any = object()


def read_attribute(module: Any, name: str) -> Any:
    """Most arguments are kept as an attribute of the same name; ``bias`` becomes a tensor or ``None``."""
    if name == "bias":
        return getattr(module, "bias", None) is not None
    if not hasattr(module, name):
        raise AttributeError(name)
    return getattr(module, name)


@dataclass(frozen=True)
class LayerType:
    """An ``nn`` module netspec can build.

    ``rule`` gets the written arguments and the input tensors, and returns the
    output tensor plus the arguments it inferred; ``count`` gets the complete
    arguments and returns the parameter count.

    ``check`` holds the constraints on the arguments alone (torch's constructor
    checks): it raises :class:`ShapeError` and runs for every layer, forward
    reaching it or not, with the complete arguments.  ``caution`` returns a
    problem that only bites in training mode (a freshly built module trains),
    reported as a warning.
    """

    name: str
    family: str
    args: tuple[Arg, ...]
    rule: LayerRule
    count: ParamRule = lambda args: 0
    factory: bool = False  # takes device= and dtype=
    positional: int = 0  # how many leading args the generated call passes positionally
    n_inputs: int = 1
    summary: str = ""
    check: ArgCheck = lambda args: None
    caution: InputWarning = lambda args, inputs: None
    # Keyword arguments forward may pass when it calls the layer (MultiheadAttention's need_weights);
    # the rule sees each as "__name__" among the arguments.
    call_args: tuple[Arg, ...] = ()
    macs: MacsRule = lambda args, inputs, out: 0
    buffers: BufferRule = lambda args: {}
    # A plugin layer (netspec/plugins.py): the name generated code calls it by, the import of its class
    # (``from mod import Class``; codegen adds ``as <name>``), and how its shapes are known ("meta": by
    # running the module on the meta device).
    spelling: str = ""
    import_line: str = ""
    shape_source: str = ""
    passthrough: bool = False  # hands back its input tensor itself (nn.Identity), not a new one
    outputs: int = 1  # how many values a call returns (MultiheadAttention: output and weights)
    read_back: ReadBack = read_attribute
    # Writes the constructor call itself, from the arguments' source text (name -> text; device/dtype last): for a
    # class that takes a module, nn.TransformerEncoder(nn.TransformerEncoderLayer(...), num_layers).
    construct: Callable[[dict[str, str]], str] | None = None

    @property
    def call_name(self) -> str:
        """The constructor as generated code spells it: ``nn.Conv2d``, or a plugin's imported name."""
        return self.spelling or f"nn.{self.name}"

    @property
    def bare_ok(self) -> bool:
        return not any(a.required for a in self.args)



OpRule = Callable[[dict[str, Any]], Any]


@dataclass(frozen=True)
class Op:
    """A functional op usable in ``forward``.

    ``tensors`` names the leading parameters that take tensors (``"*"`` as a
    name's prefix marks a list of tensors, as ``cat`` takes); ``args`` are the
    constant parameters after them.  ``spelling`` is the callable's name in
    generated code; ``extra`` are keyword arguments always passed (dropout's
    ``training=self.training``).
    """

    name: str
    family: str
    spelling: str
    tensors: tuple[str, ...]
    args: tuple[Arg, ...]
    rule: OpRule
    method: bool = False  # also callable as ``x.name(...)``
    extra: tuple[tuple[str, str], ...] = ()
    summary: str = ""
    helper: str | None = None  # a module-level function the generated code must define
    keyword_only: tuple[str, ...] = ()  # args torch takes by keyword only: generated calls always name them
    returns: str = "tensor"  # "tensor", or "size": a size read off a tensor (an int, or a symbol such as N)
    # Arguments whose default in torch's function differs from netspec's, with torch's default: generated calls
    # always write them, and dump fills torch's in where a traced call leaves them out (flatten's start_dim).
    torch_defaults: tuple[tuple[str, Any], ...] = ()
    # A method call with no arguments at all is refused with this (message, hint): it means something else in torch.
    bare_method: tuple[str, str] | None = None
    varargs: bool = False  # as a Tensor method, also takes its sizes one by one: x.reshape(-1, 400)
    aliases: tuple[str, ...] = ()  # torch's other method names for it, which dump reads as it (view for reshape)
    outputs_arg: str = ""  # the argument that says how many tensors a call returns (chunk's chunks)
    # dump: whether a function a traced forward calls is this op, for an op no torch namespace spells (a helper)
    traced: Callable[[Any], bool] | None = None
    # The hint when an argument is given sizes read off a tensor at run time, which the op cannot take yet.
    static_sizes_hint: str = ""
    # The arguments that take sizes read off a tensor at run time (``x.view(B, T, n_head, -1)``): they are
    # checked with each such size standing in as 1, and the rule sees the sizes themselves (SymSize).
    run_time_sizes: tuple[str, ...] = ()
    # Arguments forward computes and the rule checks itself, never the argument model: a dtype (``float32``,
    # ``x.dtype``), a device (``x.device``), an optional tensor (scaled_dot_product_attention's attn_mask).
    raw_args: tuple[str, ...] = ()
    # Arguments that act in training mode only (scaled_dot_product_attention's dropout_p): generated code passes
    # ``p if self.training else 0.0``, as nn.MultiheadAttention does.
    training_only: tuple[str, ...] = ()
    macs: MacsRule = lambda args, inputs, out: 0  # the bound arguments (tensors included), the tensors, the result

    @property
    def params(self) -> tuple[str, ...]:
        return tuple(t.lstrip("*") for t in self.tensors) + tuple(a.name for a in self.args)

    @property
    def gives_size(self) -> bool:
        """A size read off a tensor (x.size(0)), not a tensor."""
        return self.returns == "size"


# ---------------------------------------------------------------- dims

_SIMPLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|[0-9]+")
# Past this length a symbolic expression becomes an opaque symbol: a spec that
# doubles a dim at every step (x = cat([x, x], 1)) would otherwise grow the
# text exponentially and exhaust memory.
MAX_DIM_TEXT = 256


def symbol(text: str) -> str:
    """``text`` itself, or a short symbol standing for it when it is too long to read."""
    if len(text) <= MAX_DIM_TEXT:
        return text
    return "s_" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:10]


def paren(d: Dim) -> str:
    text = str(d)
    return text if _SIMPLE.fullmatch(text) else f"({text})"


def dim_add(d: Dim, c: int) -> Dim:
    if isinstance(d, int):
        return d + c
    if c == 0:
        return d
    return symbol(f"{d}{c:+d}")


def dim_sum(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a + b
    return symbol(f"{a}+{b}")


def dim_mul(a: Dim, b: Dim) -> Dim:
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    if a == 1:
        return b
    if b == 1:
        return a
    return symbol(f"{paren(a)}*{paren(b)}")


def dim_floordiv(d: Dim, s: int) -> Dim:
    if isinstance(d, int):
        return d // s
    return d if s == 1 else symbol(f"{paren(d)}//{s}")


def size_arith(op: str, a: Dim, b: Dim) -> Dim:
    """``a op b`` (``+ - * // %``) for sizes, one of them or both known only at run time (``T``, ``C // n_head``):
    an int when both are, else the text of the expression (a :class:`SymSize`, so that forward can compute
    with it again).  ``/`` is refused: it gives a float, which no size is."""
    if isinstance(a, int) and isinstance(b, int):
        if op in ("//", "%") and b == 0:
            raise ShapeError(f"size arithmetic divides by zero: {a} {op} 0")
        return {"+": a + b, "-": a - b, "*": a * b, "//": a // b if b else 0, "%": a % b if b else 0}[op]
    if op == "+":
        text = dim_add(a, b) if isinstance(b, int) else dim_add(b, a) if isinstance(a, int) else dim_sum(a, b)
    elif op == "-":
        text = dim_add(a, -b) if isinstance(b, int) else symbol(f"{a}-{paren(b)}")
    elif op == "*":
        text = dim_mul(a, b)
    elif op in ("//", "%"):
        if b == 0:
            raise ShapeError(f"size arithmetic divides by zero: {a} {op} 0")
        text = dim_floordiv(a, b) if op == "//" and isinstance(b, int) and b > 0 else symbol(
            f"{paren(a)}{op}{paren(b)}")
    else:
        raise ShapeError(f"sizes combine with + - * // %, found '{op}' (it would give a float, and no size is one)",
                         hint="write // for a whole number of elements")
    return text if isinstance(text, int) else SymSize(text)


def dim_broadcast(a: Dim, b: Dim) -> Dim:
    """The size two broadcast dims give, at least one symbolic: each is 1 or equal to the other.

    A number other than 1 is the answer (the symbol must be 1 or that number); for two symbols
    it is the larger, ``max(H, H-1)``: ``H-1`` alone would be wrong when it is the 1 (sizes >= 1).
    """
    if isinstance(a, int):
        return a if a != 1 else b
    if isinstance(b, int):
        return b if b != 1 else a
    return a if a == b else symbol(f"max({a}, {b})")


def product(dims: Sequence[Dim]) -> Dim:
    static = math.prod(d for d in dims if isinstance(d, int))
    result: Dim = static
    for d in dims:
        if isinstance(d, str):
            result = dim_mul(result, d)
    return result


def count_product(dims: Sequence[Dim]) -> Dim:
    """The product of ``dims`` as a count: an int, or ``N*150`` style text (ints folded into one coefficient,
    last).  Unlike :func:`product` the text is never shortened into an opaque symbol, so a bound count
    (``--batch``) can still be evaluated; it stays short, as each factor is a dim (itself capped)."""
    static = 1  # math.prod's start: the ints multiplied in order, in one pass with the symbols (every layer's MACs)
    factors: list[str] = []
    for d in dims:
        if isinstance(d, int):
            static *= d
        elif isinstance(d, str):
            # an ASCII name (N) is what paren writes it as, without the pattern
            factors.append(d if type(d) is str and d.isidentifier() and d.isascii() else paren(d))
    if not factors or static == 0:
        return static
    return "*".join(factors + ([str(static)] if static != 1 else []))


# Bytes per element of each dtype a tensor in a spec can have.
DTYPE_BYTES = {"bool": 1, "int32": 4, "int64": 8, "float16": 2, "bfloat16": 2, "float32": 4, "float64": 8}
DTYPE_NAMES = frozenset(DTYPE_BYTES)  # the dtypes forward may name: softmax(x, -1, dtype=float32)


def fmt_shape(shape: Sequence[Dim]) -> str:
    return "(" + ", ".join(str(d) for d in shape) + ")"


def normalize_dim(dim: int, rank: int, what: str = "dim") -> int:
    """PyTorch's wrap of a negative dim, with its range check."""
    low, high = (-rank, rank - 1) if rank > 0 else (-1, 0)
    if not low <= dim <= high:
        raise ShapeError(f"{what} {dim} is out of range for a tensor of rank {rank} (expected {low}..{high})", what)
    return dim % rank if rank > 0 else 0


def as_tuple(value: Any, n: int) -> tuple[Any, ...]:
    if isinstance(value, (tuple, list)):
        return tuple(value)
    return (value,) * n


def check_rank(x: Tensor, ranks: Sequence[int], layer: str) -> None:
    if x.rank not in ranks:
        want = " or ".join(f"{r}-D" for r in ranks)
        raise ShapeError(f"{layer} expects a {want} input, found a {x.rank}-D input {fmt_shape(x.shape)}",
                         code="rank-mismatch")


def check_float(x: Tensor, layer: str) -> None:
    if not x.is_float:
        raise ShapeError(f"{layer} expects a floating-point input, found {x.dtype}", code="dtype-mismatch")


# The dtype of every layer's weights unless the module is built otherwise (load(dtype=...)).
MODULE_DTYPE = "float32"


def check_weight_dtype(x: Tensor, layer: str, mixed_ok: bool = False) -> None:
    """Layers do not promote their input to their weights' dtype.  ``mixed_ok``: norms also take float16 and
    bfloat16 inputs with float32 weights (computing in float32), but never float64."""
    if x.dtype == MODULE_DTYPE or (mixed_ok and x.dtype in ("float16", "bfloat16")):
        return
    raise ShapeError(f"{layer} has {MODULE_DTYPE} weights and expects a {MODULE_DTYPE} input, found {x.dtype}",
                     code="dtype-mismatch",
                     hint=f"declare the input as {MODULE_DTYPE} and convert the tensor before the call")


def check_inferred(args: dict[str, Any], name: str, found: Dim, what: str) -> dict[str, Any]:
    """Compare a written inferable argument with what the input says; fill it in when absent."""
    written = args.get(name)
    if written is None:
        if isinstance(found, str):
            raise ShapeError(f"{name} cannot be inferred from symbolic dim '{found}'", name, "symbolic-dim",
                             f"write {name} explicitly or give the input a concrete size")
        return {name: found}
    if isinstance(found, int) and written != found:
        raise ShapeError(f"expects {written} {what}, gets {found}", name,
                         hint=f"set {name}: {found} or remove it to have it inferred")
    return {name: written}


def window_out(size: Dim, kernel: int, stride: int, pad_total: int, dilation: int, ceil_mode: bool = False,
               pad_left: int = 0) -> Dim:
    """ATen's pooling_output_shape / conv output arithmetic for one spatial dim."""
    span = dilation * (kernel - 1) + 1
    if isinstance(size, str):
        offset = pad_total - span
        if ceil_mode and stride > 1:
            text = f"ceil({paren(dim_add(size, offset))}/{stride})+1"
            # The last-window rule below caps the count at ceil((size + pad_left) / stride); the cap can only
            # bind when a stride reaches past the span less the padding (pool padding is at most half a kernel).
            if stride > span - pad_left:
                text = f"min({text}, ceil({paren(dim_add(size, pad_left))}/{stride}))"
            return symbol(text)
        return dim_add(dim_floordiv(dim_add(size, offset), stride), 1) if stride > 1 else dim_add(size, offset + 1)
    numerator = size + pad_total - span + (stride - 1 if ceil_mode else 0)
    out = numerator // stride + 1  # Python's // rounds toward -inf, as div_rtn does
    if ceil_mode and (out - 1) * stride >= size + pad_left:
        out -= 1  # the last window must start inside the input or its left padding
    return out


def broadcast(a: Shape, b: Shape) -> Shape:
    """NumPy/PyTorch broadcasting of two shapes."""
    out: list[Dim] = []
    for i in range(1, max(len(a), len(b)) + 1):
        x = a[-i] if i <= len(a) else 1
        y = b[-i] if i <= len(b) else 1
        if x == y or y == 1:
            out.append(x)
        elif x == 1:
            out.append(y)
        elif isinstance(x, str) or isinstance(y, str):
            out.append(dim_broadcast(x, y))
        else:
            raise ShapeError(f"shapes {fmt_shape(a)} and {fmt_shape(b)} do not broadcast (size {x} vs {y} at dim {-i})")
    return tuple(reversed(out))


# torch.result_type for two tensors: bool < integers < floats, the wider within a kind; float16 with
# bfloat16 meets at float32.
_DTYPE_ORDER = ("bool", "int32", "int64", "float16", "bfloat16", "float32", "float64")


def promote_types(a: str, b: str) -> str:
    if a == b:
        return a
    if {a, b} == {"float16", "bfloat16"}:
        return "float32"
    return max(a, b, key=_DTYPE_ORDER.index)


def same_dims(a: Dim, b: Dim) -> bool:
    return a == b or isinstance(a, str) or isinstance(b, str)


PaddingMode = Literal["zeros", "reflect", "replicate", "circular"]


class RegistryError(RuntimeError):
    """A layer type or op registered twice, or after the grammar was built from the registry."""


@dataclass(eq=False)
class Registry:
    """Every layer type and op, and where each one was registered.

    The built-in registry (:data:`REGISTRY`) is filled when :mod:`netspec.ops` is imported and
    frozen when :mod:`netspec.frontend.schema` builds the grammar from it; after that no registry is ever
    changed.  A plugin makes a *new* registry (:meth:`with_layers`: copy-on-write) and
    :func:`publish` makes it the one later compiles read (:func:`registry`), so a compile that
    already holds a registry, and the grammar built from it, sees one consistent set of types.
    """

    layers: dict[str, LayerType] = field(default_factory=dict)
    ops: dict[str, Op] = field(default_factory=dict)
    # ("op", "relu") -> where it was registered: "module:line", and that module's globals
    origins: dict[tuple[str, str], tuple[str, dict[str, Any]]] = field(default_factory=dict)
    frozen_by: str | None = None
    # The plugins loaded into this registry: what the user named (a file's real path) -> what it loaded.
    plugins: dict[str, str] = field(default_factory=dict)
    # The worked examples (netspec.ops.examples), each declared by its family module next to its entries:
    # the test matrix tests/test_registry.py holds against real PyTorch.  ``refused``: ones PyTorch refuses,
    # which netspec must refuse too.
    examples: tuple[Example, ...] = ()
    refused: tuple[Example, ...] = ()

    def add_layer(self, layer: LayerType, where: str | None = None) -> LayerType:
        self._claim("layer type", layer.name, where)
        self.layers[layer.name] = layer
        return layer

    def with_layers(self, layers: Sequence[tuple[LayerType, str]], examples: Sequence[Example] = (),
                    refused: Sequence[Example] = ()) -> Registry:
        """A new registry: this one plus plugin layers (each with where it was registered), all or none,
        and their worked examples (``refused``: ones PyTorch refuses).

        This registry is left as it is (a name taken, by a built-in type or another plugin, raises
        RegistryError naming both places).
        """
        seen: dict[str, str] = {}
        for layer, where in layers:
            previous = self.origins.get(("layer type", layer.name))
            first = previous[0] if previous is not None else seen.get(layer.name)
            if first is not None:
                raise RegistryError(f"layer type '{layer.name}' is registered twice: at {first} and at {where}")
            seen[layer.name] = where
        origins = {**self.origins, **{("layer type", layer.name): (where, {}) for layer, where in layers}}
        return Registry(layers={**self.layers, **{layer.name: layer for layer, _ in layers}}, ops=self.ops,
                        origins=origins, frozen_by=self.frozen_by, plugins=self.plugins,
                        examples=(*self.examples, *examples), refused=(*self.refused, *refused))

    def with_plugin(self, key: str, name: str) -> Registry:
        """A new registry that records ``name`` (``key``: its real path, for a file) as loaded."""
        return Registry(layers=self.layers, ops=self.ops, origins=self.origins, frozen_by=self.frozen_by,
                        plugins={**self.plugins, key: name}, examples=self.examples, refused=self.refused)

    def add_op(self, op: Op) -> Op:
        self._claim("op", op.name)
        self.ops[op.name] = op
        return op

    def add_examples(self, *examples: Example, refused: bool = False) -> None:
        """Declare worked examples of this registry's entries (``refused``: examples PyTorch refuses).

        A family module calls this next to its entries, while the built-in registry is filled; a plugin's
        examples go into the new registry :meth:`with_layers` makes.
        """
        if self.frozen_by is not None:
            raise RegistryError(f"cannot add examples: {self.frozen_by} already built the grammar from the "
                                "registry (make a new one with with_layers)")
        if refused:
            self.refused = (*self.refused, *examples)
        else:
            self.examples = (*self.examples, *examples)

    def freeze(self, by: str) -> None:
        self.frozen_by = by

    def _claim(self, kind: str, name: str, at: str | None = None) -> None:
        # Real errors, not asserts: `python -O` strips asserts, and a second ReLU
        # would then silently replace the first.
        where, module = _registering_caller()
        where = at or where
        previous = self.origins.get((kind, name))
        # The same line of a new copy of the same module is that module imported again after
        # its first import failed part-way: not a conflict (an error here would hide the first one).
        rerun = previous is not None and previous[0] == where and previous[1] is not module
        if previous is not None and not rerun:
            raise RegistryError(f"{kind} '{name}' is registered twice: at {previous[0]} and at {where}")
        if self.frozen_by is not None:
            raise RegistryError(f"cannot register {kind} '{name}' at {where}: {self.frozen_by} already built "
                                "the grammar from the registry, so specs could not use it")
        self.origins[(kind, name)] = (where, module)


def _registering_caller() -> tuple[str, dict[str, Any]]:
    """``module:line`` of the registration, and that module's globals.

    The line is the outermost call in the first file outside this one: entries are
    often made by a helper, and activation.py's ``_elementwise("ReLU", ...)`` says
    more than the ``add_layer`` line inside ``_elementwise``.
    """
    frame = sys._getframe(1)
    while frame.f_code.co_filename == __file__ and frame.f_back is not None:
        frame = frame.f_back
    while frame.f_back is not None and frame.f_back.f_code.co_filename == frame.f_code.co_filename:
        frame = frame.f_back
    return f"{frame.f_globals.get('__name__', '?')}:{frame.f_lineno}", frame.f_globals


REGISTRY = Registry()


class _Published:
    """The registry later compiles read: one reference to an immutable registry, replaced whole
    (under a lock, so two plugins registering at once both land), never patched."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.lock = threading.RLock()


_PUBLISHED = _Published(REGISTRY)


def registry() -> Registry:
    """The current registry: the built-in one plus every plugin loaded so far (see :func:`publish`)."""
    return _PUBLISHED.registry


def publish(change: Callable[[Registry], Registry]) -> Registry:
    """Replace the current registry by ``change(current)`` (a new registry), atomically; return it."""
    with _PUBLISHED.lock:
        _PUBLISHED.registry = change(_PUBLISHED.registry)
        return _PUBLISHED.registry


@contextmanager
def use_registry(base: Registry | None = None) -> Iterator[Registry]:
    """Read ``base`` (the built-in registry by default) as the current registry inside the block, then
    the registry of before: plugins registered inside affect only the registries made inside."""
    with _PUBLISHED.lock:
        before = _PUBLISHED.registry
        _PUBLISHED.registry = REGISTRY if base is None else base
    try:
        yield _PUBLISHED.registry
    finally:
        with _PUBLISHED.lock:
            _PUBLISHED.registry = before
