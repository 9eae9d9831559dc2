"""The layer and op registry: one entry per ``nn`` layer type and per functional op.

Importing this package fills :data:`REGISTRY` from the family modules.  The
registry is the single list the schema, shape inference, code generation,
the docs and the test matrix are drawn from.
"""

import operator
from collections.abc import Iterator, Mapping
from typing import TypeVar

from . import (  # noqa: F401  (each registers its entries)
    activation,
    attention,
    conv,
    creation,
    distance,
    fold,
    linear,
    norm,
    padding,
    pointwise,
    pool,
    recurrent,
    tensor,
    transformer,
)
from ._core import (
    DTYPE_BYTES,
    DTYPE_NAMES,
    INT64_MAX,
    MODULE_DTYPE,
    OMIT,
    REGISTRY,
    REQUIRED,
    AnyInt,
    Arg,
    Bool,
    Device,
    Dim,
    DTypeName,
    LayerType,
    Op,
    PosInt,
    Real,
    Registry,
    RegistryError,
    Shape,
    ShapeError,
    SymSize,
    Tensor,
    UnreadArgMismatch,
    broadcast,
    count_product,
    dim_add,
    fmt_shape,
    paren,
    promote_types,
    publish,
    registry,
    size_arith,
    use_registry,
)
from ._docs import arg_doc
from .tensor import matmul_macs, matmul_shape

_T = TypeVar("_T")


class _Current(Mapping[str, _T]):
    """A read-only view of one table of the current registry (:func:`registry`): what a plugin
    registered is seen here at once, and each call reads one immutable registry, so iterating needs
    no lock.  A pass that must see one registry throughout reads ``registry()`` once instead."""

    __slots__ = ("_read", "_table")

    def __init__(self, table: str) -> None:
        self._table = table
        self._read = operator.attrgetter(table)  # the table off a registry: no method call per lookup

    def _dict(self) -> dict[str, _T]:
        return self._read(registry())  # type: ignore[no-any-return]

    # Looked up once or more per layer by every stage: these read the table directly, not through _dict.
    def __getitem__(self, name: str) -> _T:
        return self._read(registry())[name]  # type: ignore[no-any-return]

    def __contains__(self, name: object) -> bool:
        return name in self._read(registry())

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict())

    def __len__(self) -> int:
        return len(self._dict())

    def __repr__(self) -> str:
        return f"<current registry's {self._table}: {len(self)} entries>"


LAYERS: Mapping[str, LayerType] = _Current("layers")
OPS: Mapping[str, Op] = _Current("ops")

__all__ = [
    "DTYPE_BYTES",
    "DTYPE_NAMES",
    "INT64_MAX",
    "LAYERS",
    "MODULE_DTYPE",
    "OMIT",
    "OPS",
    "REGISTRY",
    "REQUIRED",
    "AnyInt",
    "Arg",
    "Bool",
    "DTypeName",
    "Device",
    "Dim",
    "LayerType",
    "Op",
    "PosInt",
    "Real",
    "Registry",
    "RegistryError",
    "Shape",
    "ShapeError",
    "SymSize",
    "Tensor",
    "UnreadArgMismatch",
    "arg_doc",
    "broadcast",
    "count_product",
    "dim_add",
    "fmt_shape",
    "matmul_macs",
    "matmul_shape",
    "paren",
    "promote_types",
    "publish",
    "registry",
    "size_arith",
    "use_registry",
]
