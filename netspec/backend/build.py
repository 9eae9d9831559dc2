"""Generated source -> class -> instance.  The only module that imports torch.

The class is made by executing exactly the text ``netspec compile`` prints,
registered in :mod:`linecache` (and as a module in :data:`sys.modules`) so
tracebacks and ``inspect.getsource`` work, for as long as the module lives:
classes are cached by source, the recent ones strongly, the others while
something made from them is alive, so a long-running process does not keep
every class it ever built.

Instances pickle by value of the class: each generated class reduces to
``(_rebuild, (generated source, class name), state)``, so ``torch.save``,
``pickle``, ``copy.deepcopy`` and ``mp.spawn`` work in a process that has
never seen the spec; it only needs netspec importable.  The generated source
itself still imports nothing but torch.
"""

from __future__ import annotations

import hashlib
import linecache
import pickle
import sys
import threading
import types
import weakref
from collections import OrderedDict
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

_MODULE_PREFIX = "netspec.generated"
# Generated source text -> the module it defines.  The classes are a function of the
# text alone, so the text is the key: equal text always reuses the module, and two
# different texts never share one (the module name carries the text's own hash).
# Codegen keeps the file name and comments out of the text, so neither changes a class.
#
# Bounded: the last _RECENT_SIZE modules used are held here; any other module lives exactly
# as long as something of it does (a class, an instance: every method of a class holds the
# module's globals, and the globals hold the module), and is found again through _LIVE.  So
# one source is one class while anything made from it is alive, and a long-running process
# that loads thousands of distinct specs keeps the recent ones, not all of them.
_RECENT_SIZE = 64
_RECENT: OrderedDict[str, types.ModuleType] = OrderedDict()
_LIVE: weakref.WeakValueDictionary[str, types.ModuleType] = weakref.WeakValueDictionary()
# Modules with a class that holds none of the module's globals (never what codegen writes:
# every class has an __init__): nothing would keep such a module alive with its class, so it
# is kept for the process's life rather than risk a second class for one source.
_PINNED: list[types.ModuleType] = []
# Each generated class -> (its module's source, its name): what its instances reduce to.
# Weak: an entry goes with its class, and never keeps one alive.
_ORIGINS: weakref.WeakKeyDictionary[type[nn.Module], tuple[str, str]] = weakref.WeakKeyDictionary()
# Check-and-create must be one step: two threads that both miss the cache would each
# define a class, and models of one spec would then be of different types.  Reentrant:
# a module's finaliser (run by the garbage collector, anywhere) may find it held by its own thread.
_LOCK = threading.RLock()
# (module name, stand-in, file name, lines) of modules gone, whose entries are not dropped yet
_GONE: list[tuple[str, types.ModuleType, str, tuple[Any, ...]]] = []


def make_class(source: str, class_name: str) -> type[nn.Module]:
    """The class ``class_name`` defined by ``source``, executed once per distinct text (while it lives)."""
    cls: type[nn.Module] = getattr(_module_for(source, class_name), class_name)
    return cls


def _module_for(source: str, label: str) -> types.ModuleType:
    with _LOCK:
        if _GONE:
            _drop_gone()
        module = _RECENT.get(source)
        if module is not None:
            _RECENT.move_to_end(source)
            return module
        module = _LIVE.get(source)
        if module is None:
            module = _execute(source, label)
            _LIVE[source] = module
        _RECENT[source] = module
        while len(_RECENT) > _RECENT_SIZE:
            _RECENT.popitem(last=False)
    return module


def _execute(source: str, label: str) -> types.ModuleType:
    """Run ``source`` as a fresh module and make every class it defines picklable by value.

    What it registers outside itself (its lines in :mod:`linecache`, a stand-in in
    :data:`sys.modules`) goes when the module goes, so nothing here keeps a class alive.
    """
    key = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    module_name = f"{_MODULE_PREFIX}.{label}_{key}"
    filename = f"<netspec:{label}:{key}>"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    module.__netspec_source__ = source  # type: ignore[attr-defined]
    module.__netspec_module__ = module  # type: ignore[attr-defined]  # the globals hold the module (see _RECENT)
    # lazycache entries have no mtime, so linecache.checkcache keeps them.
    lines = (len(source), None, source.splitlines(keepends=True), filename)
    linecache.cache[filename] = lines
    stand_in = _stand_in(module)
    weakref.finalize(module, _forget, module_name, stand_in, filename, lines).atexit = False
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)  # the text is our own generated source, not the spec's
    sys.modules[module_name] = stand_in
    for name, value in list(vars(module).items()):
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module_name:
            _ORIGINS[value] = (source, name)
            # On this class, not in copyreg: copyreg's table would keep the class for good.
            # It reduces this exact type only, so a user's subclass still pickles the usual way.
            value.__reduce_ex__ = _reduce_ex  # type: ignore[assignment,method-assign]
            if not any(isinstance(f, types.FunctionType) and f.__globals__ is module.__dict__
                       for f in vars(value).values()):
                _PINNED.append(module)
    return module


def _stand_in(module: types.ModuleType) -> types.ModuleType:
    """What :data:`sys.modules` holds for a generated module: its name and file, through which
    ``inspect.getsource`` finds a class's source, and its attributes while it lives, by a weak
    reference (sys.modules holding the module itself would keep every class ever built)."""
    stand_in = types.ModuleType(module.__name__)
    stand_in.__file__ = module.__file__
    name = module.__name__
    real = weakref.ref(module)

    def __getattr__(attr: str) -> Any:
        target = real()
        if target is None or attr not in target.__dict__:
            raise AttributeError(f"module {name!r} has no attribute {attr!r}")
        return target.__dict__[attr]

    stand_in.__getattr__ = __getattr__  # type: ignore[method-assign]
    return stand_in


def _forget(module_name: str, stand_in: types.ModuleType, filename: str, lines: tuple[Any, ...]) -> None:
    """A generated module is gone: drop its stand-in and its lines, now if the lock is free, else
    at the next :func:`_module_for` (a finaliser never waits: it runs wherever the collector does)."""
    _GONE.append((module_name, stand_in, filename, lines))
    if _LOCK.acquire(blocking=False):
        try:
            _drop_gone()
        finally:
            _LOCK.release()


def _drop_gone() -> None:
    """Under _LOCK (every generated entry is written under it): each gone module's entries, unless
    a newer module of the same source, with the same names, has replaced them meanwhile."""
    while _GONE:
        module_name, stand_in, filename, lines = _GONE.pop()
        if sys.modules.get(module_name) is stand_in:
            del sys.modules[module_name]
        if linecache.cache.get(filename) is lines:
            del linecache.cache[filename]


def _reduce_ex(self: nn.Module, protocol: Any) -> Any:
    """``__reduce_ex__`` of every generated class: the class by value (see :func:`_reduce`)."""
    if type(self) not in _ORIGINS:  # a subclass of a generated class, not one itself
        return object.__reduce_ex__(self, protocol)
    return _reduce(self)


def _reduce(obj: nn.Module) -> tuple[Any, tuple[str, str], Any]:
    """What pickle stores for an instance of a generated class: how to remake the class, and the state."""
    state = obj.__getstate__()  # type: ignore[no-untyped-call]  # what default pickling would store
    return _rebuild, _ORIGINS[type(obj)], state


def _rebuild(source: str, class_name: str) -> nn.Module:
    """An empty instance of ``class_name`` from ``source``; pickle then restores its state.

    Unpickling already runs whatever the pickle says, so executing the generated
    source it carries adds no new power; ``torch.load(weights_only=True)`` refuses it.
    """
    cls = getattr(_module_for(source, class_name), class_name, None)
    if not (isinstance(cls, type) and issubclass(cls, nn.Module) and cls in _ORIGINS):
        raise pickle.UnpicklingError(f"the generated source defines no module class {class_name!r}")
    return cls.__new__(cls)


def instantiate(cls: type[nn.Module], device: Any = None, dtype: Any = None) -> nn.Module:
    """Build directly on ``device``: parameters are created there, never on CPU then copied.

    On ``meta`` the initialisers are skipped: a meta tensor has no values to fill,
    and running them loads PyTorch's Python meta kernels (``normal_``, used by
    ``nn.Embedding``, pulls in ~800 modules and ~75 MiB).  Give the parameters
    storage and values later with ``to_empty()`` and ``reset_parameters()``.
    """
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    if is_meta(device):
        with SkipInitOnMeta():
            return cls(device=device, dtype=dtype)
    return cls(device=device, dtype=dtype)


class SkipInitOnMeta(TorchFunctionMode):
    """Turns value-filling calls on meta tensors (``nn.init.*_``, ``Tensor.normal_``...) into no-ops."""

    def __torch_function__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        kwargs = kwargs or {}
        if _fills_values(func):
            target = args[0] if args else kwargs.get("tensor", kwargs.get("self"))
            if isinstance(target, torch.Tensor) and target.is_meta:
                return target
        return func(*args, **kwargs)


_FILL_METHODS = frozenset({"normal_", "uniform_", "fill_", "zero_", "random_", "exponential_", "log_normal_",
                           "cauchy_", "geometric_", "bernoulli_", "erfinv_"})


def _fills_values(func: Any) -> bool:
    name = getattr(func, "__name__", "")
    if getattr(func, "__module__", None) == "torch.nn.init":
        return name.endswith("_")  # every in-place initialiser; helpers like calculate_gain are not in-place
    return name in _FILL_METHODS


def is_meta(device: Any) -> bool:
    return device is not None and torch.device(device).type == "meta"


def device_problem(device: Any) -> str | None:
    """Why torch cannot put tensors on ``device`` here, in torch's own words; None when it can.

    Asked before the first layer is built, so that ``device="cuda"`` on a machine without
    CUDA reads as what it is, not as a layer torch refused.  An allocation of nothing asks
    torch itself (its lazy CUDA/XPU initialisation gives the reason: "Torch not compiled
    with CUDA enabled", "Found no NVIDIA driver..."); an index past the devices torch sees
    is checked by count, as the allocation's own error for it is asynchronous on CUDA.
    """
    if device is None:
        return None
    device = torch.device(device)
    if device.type in ("cpu", "meta"):
        return None
    try:
        torch.empty(0, device=device.type)
    except Exception as exc:  # torch raises AssertionError, RuntimeError, NotImplementedError... for this
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if isinstance(exc, (NotImplementedError, ImportError)):  # "Could not run 'aten::empty...' with ... 'MPS'
            reason = f"this PyTorch {torch.__version__} has no '{device.type}' backend"  # backend", "No module..."
        return reason[:300]
    backend = getattr(torch, device.type, None)
    count = getattr(backend, "device_count", None)
    if device.index is not None and callable(count):
        n = count()
        if device.index >= n:
            numbered = f" (numbered from 0 to {n - 1})" if n else ""
            return f"torch sees {n} {device.type} device{'s' * (n != 1)}{numbered}, so there is no index {device.index}"
    return None
