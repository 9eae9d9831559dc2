"""netspec: declarative model specs compiled to PyTorch ``nn.Module`` classes.

    >>> import netspec
    >>> model = netspec.load("specs/lenet.yaml", device="cpu")   # a file, or the shipped spec
    >>> model = netspec.load("lenet")                            # a shipped spec by name
    >>> model = netspec.loads(yaml_text)                         # YAML text; also load(mapping)
    >>> print(netspec.summary("alexnet"))                        # shapes and counts, no torch

Importing netspec does not import torch; only :func:`load`, :func:`loads`,
:func:`build_class` and :func:`export_onnx` (torch and onnx) do, when called.
"""

import gc as _gc
from typing import TYPE_CHECKING, Any

# Importing builds the grammar's ~150 pydantic models: thousands of small objects and no cycles
# worth collecting, while the cyclic collector's passes over them cost ~10% of `netspec validate`'s
# start-up. It is paused for the import only, and left as the caller had it.
_gc_was_enabled = _gc.isenabled()
_gc.disable()

from ._version import __version__  # noqa: E402
from .api import (  # noqa: E402
    DTYPE_NAMES,
    build_class,
    compile_source,
    compile_spec,
    compile_string,
    explain,
    list_specs,
    load,
    loads,
    summary,
    validate,
)
from .errors import Diagnostic, Span, SpecError  # noqa: E402
from .middle.shapes import DEFAULT_MAX_PARAMS  # noqa: E402
from .plugins import PluginError, layer, load_plugins  # noqa: E402

if _gc_was_enabled:
    _gc.enable()

if TYPE_CHECKING:
    from .backend.summary import Summary
    from .tools.dump import DumpError, dump
    from .tools.export import export_onnx

__all__ = ["DEFAULT_MAX_PARAMS", "DTYPE_NAMES", "Diagnostic", "Span", "SpecError", "Summary", "__version__",
           "build_class", "compile_source", "compile_spec", "compile_string", "explain", "export_onnx", "list_specs",
           "load", "loads", "summary", "validate"]


def __getattr__(name: str) -> Any:
    """``export_onnx``, ``dump``, ``DumpError`` and ``Summary`` on first use: :mod:`netspec.tools.export`,
    :mod:`netspec.tools.dump` and :mod:`netspec.backend.summary` stay unimported (start-up of every command) until
    someone exports, dumps or summarises."""
    if name == "Summary":
        from .backend.summary import Summary

        return Summary
    if name == "export_onnx":
        from .tools.export import export_onnx

        return export_onnx
    if name in ("dump", "DumpError"):
        from .tools import dump as dumping

        return getattr(dumping, name)
    raise AttributeError(f"module 'netspec' has no attribute {name!r}")


__all__ += ["PluginError", "layer", "load_plugins"]  # user layer types (netspec/plugins.py)
__all__ += ["DumpError", "dump"]  # netspec.dump(module): a spec from a built module (netspec/tools/dump.py)
from .api import named_weights_of as named_weights  # noqa: E402

__all__ += ["named_weights"]  # the weights a spec declares in `weights:` (docs/spec.md, "Weights")
