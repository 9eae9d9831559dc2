"""pydantic-core's compiled validator, for the stages that validate: ``SchemaValidator``, ``SchemaError``,
``ValidationError`` and the version, from its extension module ``pydantic_core._pydantic_core``.

``import pydantic_core`` runs the package's ``__init__``, which imports ``core_schema`` (hundreds of TypedDicts
for building schemas, and typing_extensions): ~15 ms of `netspec validate`'s ~180, for nothing it runs, since
the grammar's schemas come built from the disk cache (netspec/frontend/schema.py).  So the extension module is
loaded by itself, under its own name, when the package is not imported yet; the package, imported later (by
pydantic, or by netspec when it makes the grammar), finds the extension in ``sys.modules`` and uses the same one:
one ``ValidationError`` class either way.  Where the extension cannot be found or loaded on its own (another
layout, another interpreter), the package is imported as usual.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import sys
from types import ModuleType
from typing import TYPE_CHECKING

_EXTENSION = "pydantic_core._pydantic_core"


def _extension() -> ModuleType:
    """``pydantic_core._pydantic_core``: the one in ``sys.modules``, else loaded alone, else through the package."""
    if _EXTENSION in sys.modules:
        return sys.modules[_EXTENSION]
    try:
        return _load_alone()
    except Exception:  # any surprise in the layout: the package's own import, which is always right
        import pydantic_core._pydantic_core as extension

        return extension


def _load_alone() -> ModuleType:
    package = importlib.util.find_spec("pydantic_core")  # finds the package; does not run its __init__
    if package is None or not package.submodule_search_locations:
        raise ImportError("pydantic_core is not a package here")
    for folder in package.submodule_search_locations:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            path = os.path.join(folder, "_pydantic_core" + suffix)
            if os.path.isfile(path):
                return _load(path)
    raise ImportError("pydantic_core's extension module was not found")


def _load(path: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(_EXTENSION, path)
    if spec is None or spec.loader is None:
        raise ImportError(path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[_EXTENSION] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[_EXTENSION]
        raise
    return module


if TYPE_CHECKING:
    from pydantic_core import SchemaError, SchemaValidator, ValidationError, __version__
else:
    _core = _extension()
    SchemaError = _core.SchemaError
    SchemaValidator = _core.SchemaValidator
    ValidationError = _core.ValidationError
    __version__ = _core.__version__

__all__ = ["SchemaError", "SchemaValidator", "ValidationError", "__version__"]
