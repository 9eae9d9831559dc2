"""Generated source -> class -> instance.  The only module that imports torch.

The class is made by executing exactly the text ``netspec compile`` prints,
registered in :mod:`linecache` (and as a module in :data:`sys.modules`) so
tracebacks, ``inspect.getsource`` and pickling by reference work.
"""

from __future__ import annotations

import hashlib
import linecache
import sys
import types
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

_MODULE_PREFIX = "netspec.generated"
# Generated source text -> the class it defines.  The class is a function of the
# text alone, so the text is the key: equal text always reuses the class, and two
# different texts never share one (the module name carries the text's own hash).
_CLASSES: dict[str, type[nn.Module]] = {}


def make_class(source: str, class_name: str) -> type[nn.Module]:
    """The class ``class_name`` defined by ``source``, executed once per distinct text."""
    cached = _CLASSES.get(source)
    if cached is not None:
        return cached
    key = hashlib.sha256(source.encode("utf-8")).hexdigest()[:16]
    module_name = f"{_MODULE_PREFIX}.{class_name}_{key}"
    filename = f"<netspec:{class_name}:{key}>"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    module.__netspec_source__ = source  # type: ignore[attr-defined]
    # lazycache entries have no mtime, so linecache.checkcache keeps them.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)  # the text is our own generated source, not the spec's
    sys.modules[module_name] = module
    cls: type[nn.Module] = getattr(module, class_name)
    _CLASSES[source] = cls
    return cls


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
