"""Generated source -> class -> instance.  The only module that imports torch.

The class is made by executing exactly the text ``netspec compile`` prints,
registered in :mod:`linecache` (and as a module in :data:`sys.modules`) so
tracebacks and ``inspect.getsource`` work.

Instances pickle by value of the class: each generated class reduces to
``(_rebuild, (generated source, class name), state)``, so ``torch.save``,
``pickle``, ``copy.deepcopy`` and ``mp.spawn`` work in a process that has
never seen the spec; it only needs netspec importable.  The generated source
itself still imports nothing but torch.
"""

from __future__ import annotations

import copyreg
import hashlib
import linecache
import pickle
import sys
import threading
import types
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

_MODULE_PREFIX = "netspec.generated"
# Generated source text -> the module it defines.  The classes are a function of the
# text alone, so the text is the key: equal text always reuses the module, and two
# different texts never share one (the module name carries the text's own hash).
# Codegen keeps the file name and comments out of the text, so neither changes a class.
_MODULES: dict[str, types.ModuleType] = {}
# Each generated class -> (its module's source, its name): what its instances reduce to.
_ORIGINS: dict[type[nn.Module], tuple[str, str]] = {}
# Check-and-create must be one step: two threads that both miss the cache would each
# define a class, and models of one spec would then be of different types.
_LOCK = threading.Lock()


def make_class(source: str, class_name: str) -> type[nn.Module]:
    """The class ``class_name`` defined by ``source``, executed once per distinct text."""
    cls: type[nn.Module] = getattr(_module_for(source, class_name), class_name)
    return cls


def _module_for(source: str, label: str) -> types.ModuleType:
    module = _MODULES.get(source)  # a dict read is atomic: the common path takes no lock
    if module is None:
        with _LOCK:
            module = _MODULES.get(source)
            if module is None:
                module = _execute(source, label)
                _MODULES[source] = module
    return module


def _execute(source: str, label: str) -> types.ModuleType:
    """Run ``source`` as a fresh module and make every class it defines picklable by value."""
    key = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    module_name = f"{_MODULE_PREFIX}.{label}_{key}"
    filename = f"<netspec:{label}:{key}>"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    module.__netspec_source__ = source  # type: ignore[attr-defined]
    # lazycache entries have no mtime, so linecache.checkcache keeps them.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)  # the text is our own generated source, not the spec's
    sys.modules[module_name] = module
    for name, value in vars(module).items():
        if isinstance(value, type) and issubclass(value, nn.Module) and value.__module__ == module_name:
            _ORIGINS[value] = (source, name)
            # copyreg, not __reduce_ex__ on the class: it applies to this exact type only,
            # so a user's subclass of a generated class still pickles the usual way.
            copyreg.pickle(value, _reduce)
    return module


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
        with _SkipInitOnMeta():
            return cls(device=device, dtype=dtype)
    return cls(device=device, dtype=dtype)


class _SkipInitOnMeta(TorchFunctionMode):
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
