"""The summary of any ``nn.Module``: the same rows, counts, MACs and memory figures as a spec's.

:func:`netspec.summary` of a module and ``netspec summary FILE.py:CLASS`` come here.  The module runs once
with a forward hook on every submodule, under ``torch.utils.flop_counter.FlopCounterMode``, so each call's
MACs are FlopCounterMode's flops over its span halved, and the total is FlopCounterMode's total exactly.

How it runs (docs/spec.md, "Summary of a Python module"):

- first on the meta device: every parameter and buffer swapped for a meta tensor of its shape and dtype
  (``torch.func.functional_call``, so nothing is copied and the module is left as it was), the inputs
  meta tensors, factory calls in forward made on meta; nothing is allocated.  A forward whose Python
  branches read only shapes (which torch.fx cannot trace) runs there;
- a forward that reads values (``if x.sum() > 0``), or calls an op without a meta kernel, cannot run on
  meta: then it runs for real, once, on the device its parameters are on, with random inputs of the shapes
  given, and the summary carries a ``module-ran-for-real`` warning saying why.  (FakeTensorMode refuses
  data-dependent branches the same way, so it would not spare this run.)

Either way the module runs in eval mode (its own modes restored after) under ``torch.no_grad()``: its
buffers (BatchNorm's running statistics) are never updated.  The rows are handed to
:class:`netspec.backend.summary.Summary`, which renders them as it renders a spec's.
"""

from __future__ import annotations

import dataclasses
import math
import os
import traceback
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode
from torch.utils.flop_counter import FlopCounterMode

from ..errors import Diagnostic, Span, SpecError
from ..middle import shapes
from ..ops import Dim
from .graph import Cluster, Edge, Graph, Node
from .placement import DTYPE_NAMES, torch_dtype
from .summary import MemoryFigures, Summary

BATCH = "N"  # the symbolic dim a shape names the batch with, as specs do
MODULE_FILE = "<module>"  # diagnostics about a module passed in memory
# An input's dtype: the floating spellings load(dtype=...) takes, and the integer ones token ids come in.
INPUT_DTYPES: dict[str, torch.dtype] = {
    **{name: getattr(torch, target) for name, target in DTYPE_NAMES.items()},
    "int64": torch.int64, "long": torch.int64, "int32": torch.int32, "int": torch.int32,
    "int16": torch.int16, "int8": torch.int8, "uint8": torch.uint8, "bool": torch.bool,
}

@dataclass(frozen=True)
class _Input:
    name: str  # the forward parameter it is passed as; "" for one positional input
    shape: tuple[Dim, ...]  # as given: ints and names
    dtype: torch.dtype | None  # None: the module's floating dtype


@dataclass
class _Call:
    """One module call (recorded by the hooks) or torch function a container's forward called (recorded by
    the function mode), in forward order: a container before its children."""

    module: nn.Module | None  # None: a torch function a container's forward called
    path: str
    depth: int
    flops_before: int
    calls_before: int  # its own index in the run's calls
    input_shapes: tuple[tuple[int, ...], ...]
    output_shape: tuple[int, ...] = ()
    macs: int = 0
    outputs: tuple[tuple[int, torch.dtype], ...] = ()  # each output tensor's elements and dtype
    container: bool = False
    op: str | None = None  # a torch function's name (cat, add, relu...)
    owner: int = -1  # a torch function's: the index of the module call whose forward called it (-1: the root)
    in_ids: tuple[int, ...] = ()  # the tensors it took and made, by id (the data flow graph_module draws)
    out_ids: tuple[int, ...] = ()


@dataclass
class _Run:
    calls: list[_Call] = field(default_factory=list)
    total_flops: int = 0
    output_shape: tuple[int, ...] = ()
    # the data flow, for graph_module: tensors by id (each kept alive by the recorder while it runs)
    input_ids: tuple[int, ...] = ()
    output_ids: tuple[int, ...] = ()
    params: dict[int, tuple[str, tuple[int, ...], int]] = field(default_factory=dict)  # id -> name, shape, numel


def _error(code: str, message: str, hint: str | None = None, span: Span | None = None) -> SpecError:
    return SpecError([Diagnostic(code, message, span or Span(MODULE_FILE, 0, 0), hint=hint)])


def _detail(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:300]}"


def _user_span(exc: BaseException, fallback: Span) -> Span:
    """The line of the user's own code the exception went through last (not torch's, not netspec's)."""
    skip = (os.path.dirname(torch.__file__), os.path.dirname(os.path.dirname(__file__)))
    found = fallback
    for frame, line in traceback.walk_tb(exc.__traceback__):
        name = frame.f_code.co_filename
        if not name.startswith(skip) and not name.startswith("<") and os.path.isfile(name):
            found = _span_at(name, line)
    return found


def _span_at(file: str, line: int) -> Span:
    """The first non-blank column of ``file``'s line ``line``."""
    import linecache

    text = linecache.getline(file, line)
    return Span(file, line, len(text) - len(text.lstrip()) + 1)


def _class_span(cls: type, fallback: Span) -> Span:
    """Where ``cls`` is defined, when Python can tell."""
    import inspect

    try:
        file = inspect.getsourcefile(cls)
        _, line = inspect.getsourcelines(cls)
    except (OSError, TypeError):
        return fallback
    return fallback if file is None else _span_at(file, line)


def parse_inputs(inputs: Any) -> list[_Input]:
    """``inputs=`` as a list of inputs: a mapping by forward parameter name (``""``: passed positionally), or
    one shape or tensor."""
    if isinstance(inputs, Mapping):
        if not inputs:
            raise _error("bad-module-input", "inputs= names no input; expected at least one",
                         "pass inputs={'x': [1, 3, 224, 224]}, one entry per forward parameter")
        return [_one_input(str(k), v) for k, v in inputs.items()]
    return [_one_input("", inputs)]


def _one_input(name: str, value: Any) -> _Input:
    label = f"input {name!r}" if name else "the input"
    if isinstance(value, torch.Tensor):
        return _Input(name, tuple(value.shape), value.dtype)
    if isinstance(value, Mapping):  # {"shape": [...], "dtype": "int64"}
        extra = sorted(set(value) - {"shape", "dtype"})
        if "shape" not in value or extra:
            raise _error("bad-module-input", f"{label} should map 'shape' (and 'dtype'), found keys "
                         f"{', '.join(map(repr, extra or sorted(value)))}",
                         "write {'shape': [1, 16], 'dtype': 'int64'}, or the shape alone")
        dtype = value.get("dtype", None)
        if dtype is not None and not isinstance(dtype, torch.dtype):
            if not isinstance(dtype, str) or dtype not in INPUT_DTYPES:
                raise _error("bad-module-input", f"{label} has dtype {dtype!r}; expected one of "
                             f"{', '.join(INPUT_DTYPES)}", "int64 for token ids, float32 (the default) for images")
            dtype = INPUT_DTYPES[dtype]
        if isinstance(value["shape"], (Mapping, torch.Tensor)):
            raise _error("bad-module-input", f"{label} has a 'shape' that is not a list of sizes",
                         "write {'shape': [1, 16], 'dtype': 'int64'}")
        return _Input(name, _one_input(name, value["shape"]).shape, dtype)
    if isinstance(value, (str, bytes)) or not isinstance(value, Sequence):
        raise _error("bad-module-input", f"{label} should be a shape (a list of sizes) or a tensor, "
                     f"found {type(value).__name__}", "write a shape such as [1, 3, 224, 224] or ['N', 3, 224, 224]")
    shape: list[Dim] = []
    for dim in value:
        if isinstance(dim, bool) or not ((isinstance(dim, int) and dim > 0) or
                                         (isinstance(dim, str) and dim.isidentifier())):
            raise _error("bad-module-input", f"{label} has size {dim!r}; expected a positive int or a name",
                         "use positive ints, or N for the batch and names bound by dims=")
        shape.append(dim)
    return _Input(name, tuple(shape), None)


def _bind(item: _Input, env: Mapping[str, int]) -> tuple[int, ...]:
    out = []
    for dim in item.shape:
        if isinstance(dim, str):
            if dim not in env:
                label = f"input {item.name!r}" if item.name else "the input"
                raise _error("bad-module-input", f"{label} names the size {dim!r}, which nothing binds",
                             f"bind it with dims={{'{dim}': ...}} (N is the batch, bound by batch=)")
            out.append(env[dim])
        else:
            out.append(dim)
    return tuple(out)


def build(cls: Any, target: str, file: str) -> tuple[nn.Module, Callable[[], nn.Module]]:
    """``cls()`` built on the meta device (no memory for parameters), else on the CPU when its constructor
    needs real tensors; with a function that builds it on the CPU, for a forward that must run for real."""
    if not (isinstance(cls, type) and issubclass(cls, nn.Module)):
        raise _error("module-unloadable", f"{target} is not an nn.Module class; found {type(cls).__name__} "
                     f"{getattr(cls, '__name__', '')}".rstrip(), "name a class that subclasses torch.nn.Module",
                     Span(file, 0, 0))

    def on_cpu() -> nn.Module:
        try:
            with torch.device("cpu"):
                return cls()
        except Exception as exc:  # the user's constructor: a diagnostic
            raise _constructor_failed(cls, exc, file) from None

    try:
        with torch.device("meta"):
            return cls(), on_cpu
    except Exception:  # a constructor that reads values (x.item()): build it for real
        return on_cpu(), on_cpu


def _constructor_failed(cls: type, exc: Exception, file: str) -> SpecError:
    import inspect

    try:
        required = [p.name for p in inspect.signature(cls).parameters.values()
                    if p.default is p.empty and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]
    except (TypeError, ValueError):
        required = []
    if required:
        return _error("module-constructor-failed",
                      f"{cls.__name__}() needs constructor arguments: {', '.join(required)}",
                      f"give them defaults, or from Python: netspec.summary({cls.__name__}(...), inputs=...)",
                      _class_span(cls, Span(file, 0, 0)))
    return _error("module-constructor-failed", f"{cls.__name__}() raised {_detail(exc)}",
                  "netspec summary builds CLASS() with no arguments, as `python -c` would",
                  _user_span(exc, Span(file, 0, 0)))


def unloadable(message: str, file: str) -> SpecError:
    """The CLI's failure to import ``FILE.py:CLASS``, as a diagnostic."""
    return _error("module-unloadable", message, "write FILE.py:CLASS, the file's path and a class it defines",
                  Span(file, 0, 0))


def summarise_module(module: nn.Module, inputs: Any, *, batch: int = 1, dims: Mapping[str, int] | None = None,
                     rebuild: Callable[[], nn.Module] | None = None, file: str = MODULE_FILE,
                     dtype: str | None = None) -> Summary:
    """The summary of ``module`` called with ``inputs`` (see the module's docstring for how it runs).

    ``inputs`` maps forward's parameter names to shapes (``{"x": ["N", 3, 224, 224]}``) or tensors (for the
    dtype: ``torch.zeros(1, 16, dtype=torch.long)``; values never read), or is one shape passed
    positionally.  ``N`` is the batch: MACs and rows are per sample (N=1), memory figures and ``batch_macs``
    at ``batch``; other names are bound by ``dims``.  Concrete shapes are taken as given.
    ``rebuild`` makes the module on the CPU, for a module built on meta whose forward must run for real.
    ``dtype`` (a spelling of :data:`netspec.backend.placement.DTYPE_NAMES`: ``"bf16"``...) gives the memory
    figures of the module in that dtype: every floating parameter, buffer, input and output in it.
    """
    return _summarise(module, inputs, batch, dims, rebuild, file, dtype)[0]


def graph_module(module: nn.Module, inputs: Any, *, dims: Mapping[str, int] | None = None,
                 rebuild: Callable[[], nn.Module] | None = None, file: str = MODULE_FILE) -> tuple[Graph, Summary]:
    """The data-flow picture of ``module`` called with ``inputs`` (as :func:`summarise_module` runs it), in
    :mod:`netspec.backend.graph`'s own form, so every writer and ``--only``/``--depth`` work on it: a node per
    input, layer call and torch function of a container's forward, a cluster per container call, an edge per
    tensor handed on.  With the summary, whose warnings say how it ran."""
    summary, run = _summarise(module, inputs, 1, dims, rebuild, file, None)
    return _graph(summary, run), summary


def _summarise(module: nn.Module, inputs: Any, batch: int, dims: Mapping[str, int] | None,
               rebuild: Callable[[], nn.Module] | None, file: str,
               dtype: str | None) -> tuple[Summary, _Run]:
    if not isinstance(module, nn.Module):
        raise TypeError(f"expected an nn.Module, got {type(module).__name__}")
    cast = torch_dtype(dtype)
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} is not a positive int")
    items = parse_inputs(inputs)
    symbolic = any(d == BATCH for item in items for d in item.shape)
    if batch != 1 and not symbolic:
        raise _error("bad-module-input", f"batch={batch} was given but no input shape names the batch dim N",
                     "write the batch dim as N: inputs={'x': ['N', 3, 224, 224]} (--input x=N,3,224,224)",
                     Span(file, 0, 0))
    env = {**(dims or {}), BATCH: 1}
    warnings: list[Diagnostic] = []
    sample, ran, _ = _run_either(module, items, env, rebuild, file, warnings)
    # A second run at the batch (or at 2, only to tell which dims are N) marks the batch dim in rows.
    probe = batch if batch != 1 else 2 if symbolic else None
    try:
        at_probe = None if probe is None else _run_either(ran, items, {**env, BATCH: probe}, None, file, [])[0]
    except SpecError:
        if batch != 1:  # the figures at the batch were asked for
            raise
        probe = at_probe = None  # only the N in the shapes is lost
    at_batch = at_probe if batch != 1 and at_probe is not None else sample
    return _summary(module, items, sample, at_batch, at_probe if probe else None, probe or 1, batch,
                    {**env, BATCH: batch}, warnings, cast), sample


def _run_either(module: nn.Module, items: list[_Input], env: Mapping[str, int],
                rebuild: Callable[[], nn.Module] | None, file: str,
                warnings: list[Diagnostic]) -> tuple[_Run, nn.Module, bool]:
    """The run on meta; else the run for real (a warning saying why).  Returns the run, the module that ran
    for real or the module itself (for the next run), and whether it ran on meta."""
    bound = [_bind(item, env) for item in items]
    try:
        return _run(module, items, bound, meta=True), module, True
    except Exception as exc:  # any refusal on meta: try for real
        meta_failure = exc
    real = module
    if _device(module).type == "meta":
        if rebuild is None:
            raise _error("module-forward-failed",
                         f"forward cannot run on the meta device ({_detail(meta_failure)}) and the module's "
                         "parameters are on meta, so it cannot run for real either",
                         "build the module on the CPU: a forward that reads values needs real tensors",
                         _user_span(meta_failure, Span(file, 0, 0)))
        real = rebuild()
    try:
        run = _run(real, items, bound, meta=False)
    except Exception as exc:  # the user's forward raised: a diagnostic
        raise _error("module-forward-failed", f"{type(module).__name__}.forward raised {_detail(exc)}",
                     f"check the inputs given (--input / inputs=) against what forward{_signature(real)} expects",
                     _user_span(exc, Span(file, 0, 0))) from None
    device = _device(real)
    warnings.append(Diagnostic(
        "module-ran-for-real",
        f"forward could not run on the meta device ({_detail(meta_failure)}); it ran for real on "
        f"{device.type} with random inputs",
        _user_span(meta_failure, Span(file, 0, 0)),
        hint="a forward that reads values (if x.sum() > 0) needs real tensors; the figures are exact for the "
             "branches these inputs took",
        severity="warning"))
    return run, real, False


def _device(module: nn.Module) -> torch.device:
    for tensor in _tensors(module):
        return tensor.device
    return torch.device("cpu")


def _tensors(module: nn.Module) -> Iterator[torch.Tensor]:
    yield from module.parameters()
    yield from module.buffers()


def _floating_dtype(module: nn.Module) -> torch.dtype:
    for tensor in _tensors(module):
        if tensor.is_floating_point():
            return tensor.dtype
    return torch.get_default_dtype()


@contextmanager
def _eval_mode(module: nn.Module) -> Iterator[None]:
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        yield
    finally:
        for m, training in modes:
            m.training = training


class _Recorder(TorchFunctionMode):
    """Records, in forward order, every module call (forward hooks) and every torch function a container's own
    forward calls (``torch.cat``, ``x + y``, ``F.relu``...), with FlopCounterMode's flops over each."""

    def __init__(self, module: nn.Module, counter: FlopCounterMode) -> None:
        super().__init__()
        self.root = module
        self.counter = counter
        self.names = {id(m): name for name, m in module.named_modules()}
        self.run = _Run()
        self.stack: list[_Call] = []
        self.in_root = False
        self.keep: list[torch.Tensor] = []  # every tensor seen, alive until the run ends: ids stay unique

    def ids(self, tensors: list[torch.Tensor]) -> tuple[int, ...]:
        self.keep.extend(tensors)
        return tuple(id(t) for t in tensors)

    def pre(self, mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if mod is self.root:
            self.in_root = True
            return
        inputs = _leaves((args, kwargs))
        call = _Call(mod, self.names.get(id(mod), type(mod).__name__), len(self.stack),
                     self.counter.get_total_flops(), len(self.run.calls),
                     tuple(tuple(t.shape) for t in inputs), in_ids=self.ids(inputs))
        self.run.calls.append(call)
        self.stack.append(call)

    def post(self, mod: nn.Module, args: tuple[Any, ...], kwargs: dict[str, Any], out: Any) -> None:
        if mod is self.root:
            self.in_root = False
            return
        if not self.stack or self.stack[-1].module is not mod:
            return
        call = self.stack.pop()
        call.macs = (self.counter.get_total_flops() - call.flops_before) // 2
        inner = self.run.calls[call.calls_before + 1:]
        call.container = any(c.op is None for c in inner)
        if not call.container:  # a layer: what it calls inside is its own business, counted in its row
            del self.run.calls[call.calls_before + 1:]
        leaves = _leaves(out)
        call.output_shape = tuple(leaves[0].shape) if leaves else ()
        call.outputs = tuple((t.numel(), t.dtype) for t in leaves)
        call.out_ids = self.ids(leaves)

    def __torch_function__(self, func: Any, types: Any, args: Sequence[Any] = (),
                           kwargs: Mapping[str, Any] | None = None) -> Any:
        if not self.in_root:
            return func(*args, **(kwargs or {}))
        before = self.counter.get_total_flops()
        out = func(*args, **(kwargs or {}))
        name = getattr(func, "__name__", "")
        leaves = _leaves(out)
        if leaves and name and name != "__get__":  # a tensor made (a property read, .T or .data, is not a call)
            owner = self.stack[-1].calls_before if self.stack else -1
            inputs = _leaves((list(args), dict(kwargs or {})))
            self.run.calls.append(_Call(
                None, "", len(self.stack), before, len(self.run.calls), tuple(tuple(t.shape) for t in inputs),
                tuple(leaves[0].shape), (self.counter.get_total_flops() - before) // 2,
                tuple((t.numel(), t.dtype) for t in leaves), op=name.strip("_") or name, owner=owner,
                in_ids=self.ids(inputs), out_ids=self.ids(leaves)))
        return out


def _run(module: nn.Module, items: list[_Input], bound: list[tuple[int, ...]], meta: bool) -> _Run:
    device = torch.device("meta") if meta else _device(module)
    dtype = _floating_dtype(module)
    generator = torch.Generator().manual_seed(0)
    values = []
    for item, shape in zip(items, bound, strict=True):
        kind = item.dtype or dtype
        if meta:
            values.append(torch.empty(shape, dtype=kind, device=device))
        elif kind.is_floating_point:
            values.append(torch.randn(shape, generator=generator, dtype=kind).to(device))
        else:
            values.append(torch.zeros(shape, dtype=kind, device=device))
    args = [v for item, v in zip(items, values, strict=True) if not item.name]
    kwargs = {item.name: v for item, v in zip(items, values, strict=True) if item.name}
    counter = FlopCounterMode(display=False)
    recorder = _Recorder(module, counter)
    handles = []
    try:
        for mod in module.modules():
            handles.append(mod.register_forward_pre_hook(recorder.pre, with_kwargs=True))
            handles.append(mod.register_forward_hook(recorder.post, with_kwargs=True))
        state = _meta_state(module) if meta else dict([*module.named_parameters(remove_duplicate=False),
                                                         *module.named_buffers(remove_duplicate=False)])
        recorder.run.params = {id(t): (name, tuple(t.shape), t.numel()) for name, t in reversed(state.items())}
        recorder.run.input_ids = recorder.ids(values)
        with _eval_mode(module), torch.no_grad(), counter:
            if meta:
                with torch.device("meta"), recorder:
                    out = torch.func.functional_call(module, state, tuple(args), kwargs)
            else:
                with recorder:
                    out = module(*args, **kwargs)
    finally:
        for handle in handles:
            handle.remove()
    run = recorder.run
    run.total_flops = counter.get_total_flops()
    leaves = _leaves(out)
    run.output_shape = tuple(leaves[0].shape) if leaves else ()
    run.output_ids = recorder.ids(leaves)
    recorder.keep.clear()
    return run


def _meta_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """Every parameter and buffer by every name it has, as a meta tensor; a tensor tied under two names gets
    one meta tensor, so the tie holds."""
    made: dict[int, torch.Tensor] = {}
    state: dict[str, torch.Tensor] = {}
    for name, tensor in [*module.named_parameters(remove_duplicate=False),
                         *module.named_buffers(remove_duplicate=False)]:
        if id(tensor) not in made:
            empty = torch.empty_like(tensor, device="meta")
            made[id(tensor)] = nn.Parameter(empty, tensor.requires_grad) if isinstance(tensor, nn.Parameter) \
                else empty
        state[name] = made[id(tensor)]
    return state


def _leaves(value: Any, depth: int = 0) -> list[torch.Tensor]:
    """The tensors in an input or output, in order: inside tuples, lists, dicts (Hugging Face's ModelOutput is
    one) and dataclasses, a few levels deep."""
    if isinstance(value, torch.Tensor):
        return [value]
    if depth > 8:
        return []
    if isinstance(value, Mapping):
        items: Any = value.values()
    elif isinstance(value, (tuple, list)):
        items = value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        items = [getattr(value, f.name) for f in dataclasses.fields(value)]
    else:
        return []
    return [t for item in items for t in _leaves(item, depth + 1)]


def _cast(dtype: torch.dtype, cast: torch.dtype | None) -> torch.dtype:
    """The dtype a tensor would have in a module built in ``cast``: floating ones cast, others as they are."""
    return cast if cast is not None and dtype.is_floating_point else dtype


def _bytes(outputs: Sequence[tuple[int, torch.dtype]], cast: torch.dtype | None) -> int:
    return sum(numel * _cast(dtype, cast).itemsize for numel, dtype in outputs)


def _dtype_name(dtype: torch.dtype) -> str:
    return str(dtype).removeprefix("torch.")


def _same_calls(one: _Run, other: _Run) -> bool:
    """Whether two runs made the same calls in the same order (so their figures pair up row by row)."""
    return len(one.calls) == len(other.calls) and all(
        (a.path, a.op) == (b.path, b.op) for a, b in zip(one.calls, other.calls, strict=True))


def _symbolic(shape: tuple[int, ...], probe: tuple[int, ...] | None, size: int) -> tuple[Dim, ...]:
    """``shape`` (at N=1) with N where the run at N=``size`` has ``size`` in its place."""
    if probe is None or size == 1 or len(probe) != len(shape):
        return shape
    return tuple(BATCH if a == 1 and b == size else a for a, b in zip(shape, probe, strict=True))


def _summary(module: nn.Module, items: list[_Input], sample: _Run, at_batch: _Run, at_probe: _Run | None,
             probe: int, batch: int, env: Mapping[str, int], warnings: list[Diagnostic],
             cast: torch.dtype | None) -> Summary:
    params = list(module.parameters())
    names = {id(m): name for name, m in module.named_modules()}
    rows: list[shapes.Row] = []
    trainable: dict[str, bool] = {}
    row_batch_macs: dict[str, Dim] = {}
    seen: dict[str, int] = {}
    aligned = _same_calls(at_batch, sample)
    shaped = at_probe is not None and _same_calls(at_probe, sample)
    row_paths: list[str] = []
    ops_in: dict[int, int] = {}  # owner's index -> its torch functions so far
    for index, call in enumerate(sample.calls):
        if call.module is None:  # a torch function of a container's own forward: forward.1, forward.2...
            ops_in[call.owner] = ops_in.get(call.owner, 0) + 1
            owner = row_paths[call.owner] + "." if call.owner >= 0 else ""
            path, kind, count = f"{owner}forward.{ops_in[call.owner]}", call.op or "op", 0
        else:
            own = list(call.module.parameters())
            count = sum(p.numel() for p in own)
            kind = type(call.module).__name__
            path = call.path
            if path in seen:  # called again: its parameters are counted once, as a spec's shared layer is
                seen[path] += 1
                path, kind, count = f"{path}#{seen[call.path]}", f"{kind} (shared)", 0
            else:
                seen[path] = 1
                if own:
                    trainable[path] = all(p.requires_grad for p in own)
        row_paths.append(path)
        output_bytes = _bytes((at_batch.calls[index] if aligned else call).outputs, cast)
        if aligned and batch != 1:
            row_batch_macs[path] = at_batch.calls[index].macs
        other = at_probe.calls[index] if shaped and at_probe is not None else None
        output_shape = _symbolic(call.output_shape, None if other is None else other.output_shape, probe)
        input_shapes = tuple(_symbolic(s, other.input_shapes[i] if other and i < len(other.input_shapes) else None,
                                       probe) for i, s in enumerate(call.input_shapes))
        rows.append(shapes.Row(path, kind, output_shape, count, call.depth, call.macs,
                               0 if call.container else output_bytes, call.container, input_shapes,
                               _kernel_size(call.module)))
    first = {call.path: call for call in reversed(sample.calls) if call.module is not None}
    for mod in module.modules():  # a parameter held by a module beside its children, as a spec's Parameter row
        prefix = names.get(id(mod), "")
        if prefix and (prefix not in first or not first[prefix].container):
            continue  # a layer's parameters are its row's; one never called is in the totals only
        for name, p in mod.named_parameters(recurse=False):
            path = f"{prefix}.{name}" if prefix else name
            depth = first[prefix].depth + 1 if prefix else 0
            rows.append(shapes.Row(path, "Parameter", tuple(p.shape), p.numel(), depth))
            trainable[path] = p.requires_grad
    total = sum(p.numel() for p in params)
    train = sum(p.numel() for p in params if p.requires_grad)
    param_bytes: dict[str, int] = {}
    for p in params:
        held = _cast(p.dtype, cast)
        param_bytes[_dtype_name(held)] = param_bytes.get(_dtype_name(held), 0) + p.numel() * held.itemsize
    buffer_bytes: dict[str, int] = {}
    for b in module.buffers():
        held = _cast(b.dtype, cast)
        buffer_bytes[_dtype_name(held)] = buffer_bytes.get(_dtype_name(held), 0) + b.numel() * held.itemsize
    dtype = _floating_dtype(module)
    input_bytes = sum(math.prod(_bind(item, env)) * _cast(item.dtype or dtype, cast).itemsize for item in items)
    activation = sum(_bytes(call.outputs, cast) for call in at_batch.calls if not call.container)
    memory = MemoryFigures(param_bytes, buffer_bytes,
                           sum(p.numel() * _cast(p.dtype, cast).itemsize for p in params if p.requires_grad),
                           input_bytes, activation)
    return Summary(
        name=type(module).__name__,
        inputs={item.name or _first_parameter(module): item.shape for item in items},
        output_shape=_symbolic(sample.output_shape, None if at_probe is None else at_probe.output_shape, probe),
        total_params=total,
        trainable_params=train,
        rows=rows,
        warnings=warnings,
        total_macs=sample.total_flops // 2,
        batch=batch,
        batch_macs=at_batch.total_flops // 2,
        memory=memory,
        trainable=trainable,
        row_batch_macs=row_batch_macs,
        dtype=None if cast is None else _dtype_name(cast),
    )


def _graph(summary: Summary, run: _Run) -> Graph:
    """The picture of one run: its calls pair up with the summary's first rows (paths, symbolic shapes)."""
    graph = Graph(summary.name)
    producers: dict[int, str] = {}

    def node(kind: str, name: str, path: str, type_: str, shape: tuple[Dim, ...], cluster: str | None,
             params: int | None = None, macs: Dim | None = None,
             inputs: Sequence[tuple[Dim, ...]] = ()) -> Node:
        made = Node(f"n{len(graph.nodes)}", kind, name, path, type_, shape, cluster, params, macs or None,
                    list(inputs))
        graph.nodes.append(made)
        return made

    def edges(ids: Sequence[int], shapes_in: Sequence[tuple[Dim, ...]], dst: Node, cluster: str | None) -> None:
        for index, tensor in enumerate(ids):
            shape = shapes_in[index] if index < len(shapes_in) else ()
            src = producers.get(tensor)
            if src is None and tensor in run.params:  # a parameter a container's forward reads itself
                name, param_shape, numel = run.params[tensor]
                src = producers[tensor] = node("param", name, name, "Parameter", param_shape, cluster, numel).id
            if src is not None:
                graph.edges.append(Edge(f"e{len(graph.edges)}", src, dst.id, shape))

    for (name, shape), tensor in zip(summary.inputs.items(), run.input_ids, strict=False):
        producers[tensor] = node("input", name, name, "input", shape, None).id
    open_: list[tuple[int, str, str]] = []  # (depth, cluster id, its module path) of the containers running
    for call, row in zip(run.calls, summary.rows, strict=False):
        while open_ and open_[-1][0] >= call.depth:
            open_.pop()
        cluster, prefix = (open_[-1][1], open_[-1][2]) if open_ else (None, "")
        if call.container:
            made = Cluster(f"c{len(graph.clusters)}", row.path, type(call.module).__name__, cluster, row.params or None,
                           row.macs or None)
            graph.clusters.append(made)
            open_.append((call.depth, made.id, call.path))
            continue
        local = row.path[len(prefix) + 1:] if prefix and row.path.startswith(prefix + ".") else row.path
        if call.module is None:
            local = call.op or local
        kind = type(call.module).__name__ if call.module is not None else row.type  # "ReLU", not "ReLU (shared)"
        made_node = node("layer" if call.module is not None else "op", local, row.path, kind, row.output_shape,
                         cluster, row.params if call.module is not None else None, row.macs, row.input_shapes)
        edges(call.in_ids, row.input_shapes, made_node, cluster)
        for tensor in call.out_ids:
            producers[tensor] = made_node.id
    out = node("output", "output", "output", "output", summary.output_shape, None)
    edges(run.output_ids, [summary.output_shape], out, None)
    return graph


def _signature(module: nn.Module) -> str:
    """forward's parameters as written, ``(x, mask=None)``, or nothing when Python cannot tell."""
    import inspect

    try:
        return str(inspect.signature(module.forward))[:200]
    except (TypeError, ValueError):
        return ""


def _first_parameter(module: nn.Module) -> str:
    """The name of forward's first parameter, for an input passed positionally."""
    import inspect

    try:
        return next(iter(inspect.signature(module.forward).parameters), "input")
    except (TypeError, ValueError):
        return "input"


def _kernel_size(module: nn.Module | None) -> Any:
    size = getattr(module, "kernel_size", None)
    if isinstance(size, tuple) and size and all(s == size[0] for s in size):
        return size[0]
    return size


__all__ = ["INPUT_DTYPES", "build", "graph_module", "parse_inputs", "summarise_module", "unloadable"]
