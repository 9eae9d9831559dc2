"""Generated source -> class -> instance.  The only module that imports torch.

The class is made by executing exactly the text ``netspec compile`` prints,
registered in :mod:`linecache` (and as a module in :data:`sys.modules`) so
tracebacks, ``inspect.getsource`` and pickling by reference work.
"""

from __future__ import annotations

import linecache
import sys
import types
from typing import Any

import torch
from torch import nn

_MODULE_PREFIX = "netspec.generated"


def make_class(source: str, class_name: str, digest: str) -> type[nn.Module]:
    module_name = f"{_MODULE_PREFIX}.{class_name}_{digest[:16]}"
    cached = sys.modules.get(module_name)
    if cached is not None and getattr(cached, "__netspec_source__", None) == source:
        return getattr(cached, class_name)  # type: ignore[no-any-return]
    filename = f"<netspec:{class_name}:{digest[:16]}>"
    module = types.ModuleType(module_name)
    module.__file__ = filename
    module.__netspec_source__ = source  # type: ignore[attr-defined]
    # lazycache entries have no mtime, so linecache.checkcache keeps them.
    linecache.cache[filename] = (len(source), None, source.splitlines(keepends=True), filename)
    code = compile(source, filename, "exec")
    exec(code, module.__dict__)  # noqa: S102 - the text is our own generated source, not the spec's
    sys.modules[module_name] = module
    cls: type[nn.Module] = getattr(module, class_name)
    return cls


def instantiate(cls: type[nn.Module], device: Any = None, dtype: Any = None) -> nn.Module:
    """Build directly on ``device``: parameters are created there, never on CPU then copied."""
    if isinstance(dtype, str):
        dtype = getattr(torch, dtype)
    return cls(device=device, dtype=dtype)


def is_meta(device: Any) -> bool:
    return device is not None and torch.device(device).type == "meta"
