"""netspec: declarative model specs compiled to PyTorch ``nn.Module`` classes.

    >>> import netspec
    >>> model = netspec.load("specs/lenet.yaml", device="cpu")   # a file, or the shipped spec
    >>> model = netspec.load("lenet")                            # a shipped spec by name
    >>> model = netspec.loads(yaml_text)                         # YAML text; also load(mapping)
    >>> print(netspec.summary("alexnet"))                        # shapes and counts, no torch

Importing netspec does not import torch; only :func:`load`, :func:`loads` and
:func:`build_class` do, when called.
"""

from ._version import __version__
from .api import (
                  DTYPE_NAMES,
                  Summary,
                  build_class,
                  compile_source,
                  compile_spec,
                  compile_string,
                  list_specs,
                  load,
                  loads,
                  summary,
                  validate,
)
from .errors import Diagnostic, Span, SpecError
from .shapes import DEFAULT_MAX_PARAMS

__all__ = ["DEFAULT_MAX_PARAMS", "DTYPE_NAMES", "Diagnostic", "Span", "SpecError", "Summary", "__version__",
           "build_class", "compile_source", "compile_spec", "compile_string", "list_specs", "load", "loads", "summary",
           "validate"]
