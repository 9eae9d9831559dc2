"""Worked examples for every entry of the layer/op registry, the test matrix of tests/test_registry.py.

A layer example is a layer as a user writes it in a spec (``{type: Conv2d, out_channels: 4, ...}``)
plus the inputs it is applied to; an op example is a call in the forward language
(``cat([x, y], dim=1)``) plus its inputs.  The expected results are not written anywhere: the tests
compute them with real PyTorch.

The examples live in the package, next to the entries they exercise: each family module under
netspec/ops/ declares its own (``REGISTRY.add_examples(...)``; the data classes are
netspec/ops/examples.py), and the registry holds them.  This module only gathers them, so adding a
layer or op is one edit in its family module; one without an example fails
``test_every_layer_has_an_example`` / ``test_every_op_has_an_example``.

``REFUSED_*`` hold examples PyTorch refuses (it raises); netspec must refuse them too, with a SpecError.
"""

from __future__ import annotations

from typing import NamedTuple

from netspec.ops import REGISTRY, Registry
from netspec.ops.examples import Code, Input, LayerExample, OpExample, Ref

__all__ = [
    "LAYER_EXAMPLES",
    "OP_EXAMPLES",
    "REFUSED_LAYER_EXAMPLES",
    "REFUSED_OP_EXAMPLES",
    "Code",
    "Input",
    "LayerExample",
    "Matrix",
    "OpExample",
    "Ref",
    "gather",
]


class Matrix(NamedTuple):
    """A registry's worked examples, by kind."""

    layers: list[LayerExample]
    ops: list[OpExample]
    refused_layers: list[LayerExample]
    refused_ops: list[OpExample]


def gather(registry: Registry) -> Matrix:
    """The worked examples ``registry`` holds: what its family modules (and plugins) declared."""
    return Matrix(
        [e for e in registry.examples if isinstance(e, LayerExample)],
        [e for e in registry.examples if isinstance(e, OpExample)],
        [e for e in registry.refused if isinstance(e, LayerExample)],
        [e for e in registry.refused if isinstance(e, OpExample)],
    )


# The built-in registry's: plugins a test loads never change these.
LAYER_EXAMPLES, OP_EXAMPLES, REFUSED_LAYER_EXAMPLES, REFUSED_OP_EXAMPLES = gather(REGISTRY)
