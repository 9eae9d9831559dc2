"""The layer and op registry: one entry per ``nn`` layer type and per functional op.

Importing this package fills :data:`REGISTRY` from the family modules.  The
registry is the single list the schema, shape inference, code generation,
the docs and the test matrix are drawn from.
"""

from . import activation, attention, conv, linear, norm, pool, tensor  # noqa: F401  (each registers its entries)
from ._core import (
    REGISTRY,
    REQUIRED,
    Arg,
    Dim,
    LayerType,
    Op,
    Shape,
    ShapeError,
    Tensor,
    broadcast,
    fmt_shape,
)
from .tensor import matmul_macs, matmul_shape

LAYERS = REGISTRY.layers
OPS = REGISTRY.ops

__all__ = ["LAYERS", "OPS", "REGISTRY", "REQUIRED", "Arg", "Dim", "LayerType", "Op", "Shape", "ShapeError",
           "Tensor", "broadcast", "fmt_shape", "matmul_macs", "matmul_shape"]
