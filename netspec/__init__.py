"""netspec: declarative model specs compiled to PyTorch ``nn.Module`` classes.

    >>> import netspec
    >>> model = netspec.load("specs/lenet.yaml", device="cpu")

Importing netspec does not import torch; only :func:`load` and
:func:`build_class` do, when called.
"""

from ._version import __version__
from .api import Summary, build_class, compile_source, compile_spec, compile_string, load, summary, validate
from .errors import Diagnostic, Span, SpecError
from .shapes import DEFAULT_MAX_PARAMS

__all__ = ["DEFAULT_MAX_PARAMS", "Diagnostic", "Span", "SpecError", "Summary", "__version__", "build_class",
           "compile_source", "compile_spec", "compile_string", "load", "summary", "validate"]
