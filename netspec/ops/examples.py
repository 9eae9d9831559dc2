"""Worked examples: what each registry entry is checked against, as plain data (no torch here).

A layer example is a layer as a user writes it in a spec (``{type: Conv2d, out_channels: 4, ...}``)
plus the inputs it is applied to; an op example is a call in the forward language
(``cat([x, y], dim=1)``) plus its inputs.  Each family module declares its examples next to its
entries (:meth:`Registry.add_examples <netspec.ops.Registry.add_examples>`), and the registry holds
them: tests/test_registry.py reads them there and computes the expected results with real PyTorch
(shapes, dtypes, parameter counts, the built module).  An entry without an example fails
``test_every_layer_has_an_example`` / ``test_every_op_has_an_example``.

A *refused* example is one PyTorch refuses (it raises); netspec must refuse it too, with a SpecError.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

Shape = tuple[int, ...]


@dataclass(frozen=True)
class Input:
    shape: Shape
    dtype: str = "float32"

    def spec(self) -> Any:
        return list(self.shape) if self.dtype == "float32" else {"shape": list(self.shape), "dtype": self.dtype}


@dataclass(frozen=True)
class Ref:
    """A tensor argument of an op call: the name of one of the example's inputs."""

    name: str


@dataclass(frozen=True)
class Code:
    """An argument written as forward code rather than a constant: a dtype (``float32``) or an input's attribute
    (``x.device``).  ``torch`` is how a test spells it on the torch side: ``"dtype"`` (``torch.float32``) or
    ``"attr"`` (the named input's attribute)."""

    text: str
    torch: str = "dtype"


def _inputs_yaml(inputs: dict[str, Input]) -> str:
    return "".join(f"  {name}: {json.dumps(inp.spec())}\n" for name, inp in inputs.items())


@dataclass(frozen=True)
class LayerExample:
    type: str
    args: dict[str, Any] = field(default_factory=dict)  # as written in the spec (lists, not tuples)
    inputs: tuple[Input, ...] = (Input((2, 3, 8, 8)),)
    label: str = ""
    # for refused examples only: the inferable arguments torch's constructor needs, which netspec never completes
    torch_extra: dict[str, Any] = field(default_factory=dict)

    @property
    def id(self) -> str:
        return f"{self.type}-{self.label}" if self.label else self.type

    @property
    def input_names(self) -> list[str]:
        return ["x", "y", "z"][: len(self.inputs)]

    def spec(self) -> str:
        """A one-layer spec; forward is written out when the layer takes several inputs."""
        names = self.input_names
        text = "netspec: 1\nname: Probe\ninputs:\n" + _inputs_yaml(dict(zip(names, self.inputs, strict=True)))
        text += f"layers:\n  l: {json.dumps({'type': self.type, **self.args})}\n"
        if len(names) > 1:
            text += f"forward:\n  - return l({', '.join(names)})\n"
        return text


@dataclass(frozen=True)
class OpExample:
    op: str
    args: tuple[Any, ...]  # positional: Ref, lists of Ref, or constants
    kwargs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Input] = field(default_factory=lambda: {"x": Input((2, 3, 8, 8))})
    label: str = ""
    # ops that return a tuple of tensors (chunk, split): how many; the probe unpacks them and returns the last
    unpack: int = 0

    @property
    def id(self) -> str:
        return f"{self.op}-{self.label}" if self.label else self.op

    def call(self) -> str:
        parts = [_source(a) for a in self.args] + [f"{k}={_source(v)}" for k, v in self.kwargs.items()]
        return f"{self.op}({', '.join(parts)})"

    def spec(self) -> str:
        head = f"netspec: 1\nname: Probe\ninputs:\n{_inputs_yaml(self.inputs)}forward:\n"
        if self.unpack:
            names = [f"p{i}" for i in range(self.unpack)]
            return head + f"  - {json.dumps(', '.join(names) + ' = ' + self.call())}\n  - return {names[-1]}\n"
        return head + f"  - {json.dumps('return ' + self.call())}\n"


def _source(value: Any) -> str:
    if isinstance(value, Ref):
        return value.name
    if isinstance(value, Code):
        return value.text
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_source(v) for v in value) + "]"
    return repr(value)


Example = LayerExample | OpExample

# Inputs the families' tables share: a batch of 3-channel signals, images and volumes.
X1D, X2D, X3D = (Input((2, 3, 16)),), (Input((2, 3, 8, 8)),), (Input((2, 3, 6, 6, 6)),)
# An op example's tensor arguments: its inputs x and y.
X, Y = Ref("x"), Ref("y")
