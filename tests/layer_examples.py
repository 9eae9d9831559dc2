"""Worked examples for every entry of the layer/op registry, the test matrix of tests/test_registry.py.

A layer example is a layer as a user writes it in a spec (``{type: Conv2d, out_channels: 4, ...}``)
plus the inputs it is applied to; an op example is a call in the forward language
(``cat([x, y], dim=1)``) plus its inputs.  The expected results are not written here:
the tests compute them with real PyTorch.  Adding a layer or op to the registry without
adding an example here fails ``test_every_layer_has_an_example`` / ``test_every_op_has_an_example``.

``REFUSED_*`` hold examples PyTorch refuses (it raises); netspec must refuse them too, with a SpecError.
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


def _inputs_yaml(inputs: dict[str, Input]) -> str:
    return "".join(f"  {name}: {json.dumps(inp.spec())}\n" for name, inp in inputs.items())


@dataclass(frozen=True)
class LayerExample:
    type: str
    args: dict[str, Any] = field(default_factory=dict)  # as written in the spec (lists, not tuples)
    inputs: tuple[Input, ...] = (Input((2, 3, 8, 8)),)
    label: str = ""
    # for REFUSED examples only: the inferable arguments torch's constructor needs, which netspec never completes
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
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_source(v) for v in value) + "]"
    return repr(value)


L = LayerExample
I = Input  # noqa: E741 - short, for a table

X1D, X2D, X3D = (I((2, 3, 16)),), (I((2, 3, 8, 8)),), (I((2, 3, 6, 6, 6)),)

LAYER_EXAMPLES: list[LayerExample] = [
    # ---- activations
    L("ReLU"), L("ReLU", {"inplace": True}, label="inplace"),
    L("ReLU", inputs=(I((2, 5), "int64"),), label="int64"),
    L("ReLU6"), L("LeakyReLU", {"negative_slope": 0.2}), L("GELU", {"approximate": "tanh"}), L("SiLU"),
    L("Sigmoid"), L("Sigmoid", inputs=(I((4,), "int32"),), label="int-to-float"), L("Tanh"),
    L("Softmax", {"dim": 1}), L("LogSoftmax", {"dim": -1}, inputs=(I((2, 10)),)),
    # ---- convolutions: the seed's comp_conv2d examples first
    L("Conv2d", {"out_channels": 1, "kernel_size": 3, "padding": 1}, (I((1, 1, 8, 8)),), "seed-k3-p1"),
    L("Conv2d", {"out_channels": 1, "kernel_size": [5, 3], "padding": [2, 1]}, (I((1, 1, 8, 8)),), "seed-k53-p21"),
    L("Conv2d", {"out_channels": 1, "kernel_size": [3, 5], "padding": [0, 1], "stride": [3, 4]}, (I((1, 1, 8, 8)),),
      "seed-stride34"),
    L("Conv2d", {"out_channels": 6, "kernel_size": 5}, (I((2, 1, 32, 32)),), "lenet-conv1"),
    L("Conv2d", {"out_channels": 96, "kernel_size": 11, "stride": 4}, (I((1, 1, 224, 224)),), "alexnet-conv1"),
    L("Conv2d", {"out_channels": 4, "kernel_size": 4, "padding": "same", "dilation": 2}, label="same-even-dilated"),
    L("Conv2d", {"out_channels": 4, "kernel_size": [2, 3], "padding": "same", "padding_mode": "reflect"},
      label="same-reflect"),
    L("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": "valid", "bias": False}, label="valid-nobias"),
    L("Conv2d", {"out_channels": 6, "kernel_size": 3, "padding": 2, "padding_mode": "circular", "groups": 3},
      label="circular-groups"),
    L("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": 1, "padding_mode": "replicate", "in_channels": 3},
      (I((3, 5, 5)),), "unbatched-written-in"),
    L("Conv1d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1}, X1D),
    L("Conv1d", {"out_channels": 4, "kernel_size": 2, "padding": "same", "dilation": 3}, X1D, "same-even"),
    L("Conv3d", {"out_channels": 2, "kernel_size": [3, 1, 2], "stride": [1, 2, 1], "dilation": [1, 1, 2]}, X3D),
    L("ConvTranspose1d", {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 1}, X1D),
    L("ConvTranspose2d", {"out_channels": 6, "kernel_size": [3, 4], "stride": 2, "padding": 1, "groups": 3}, X2D),
    L("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "stride": 1, "output_padding": 1, "dilation": 2}, X2D,
      "output-padding-by-dilation"),
    L("ConvTranspose3d", {"out_channels": 2, "kernel_size": 2, "stride": [2, 1, 1], "bias": False}, X3D),
    # ---- affine
    L("Linear", {"out_features": 10}, (I((2, 784)),)),
    L("Linear", {"in_features": 8, "out_features": 4, "bias": False}, (I((2, 3, 8)),), "3d-written"),
    # a float64 input into a Linear is refused: its weights are float32 (tests/hostile/value-dtype-linear-float64)
    L("Bilinear", {"out_features": 5}, (I((2, 3)), I((2, 4)))),
    L("Embedding", {"num_embeddings": 10, "embedding_dim": 3, "padding_idx": -1}, (I((2, 7), "int64"),)),
    L("Embedding", {"num_embeddings": 10, "embedding_dim": 3}, (I((7,), "int32"),), "int32"),
    # ---- normalisation
    L("BatchNorm1d", inputs=(I((4, 3)),)), L("BatchNorm1d", {"affine": False}, (I((4, 3, 5)),), "3d-noaffine"),
    L("BatchNorm2d", {"momentum": None}), L("BatchNorm3d", inputs=X3D),
    L("LayerNorm", inputs=(I((2, 5, 7)),)), L("LayerNorm", {"normalized_shape": [5, 7], "bias": False},
                                              (I((2, 5, 7)),), "list"),
    L("GroupNorm", {"num_groups": 3}, (I((2, 6, 4, 4)),)),
    # ---- pooling
    L("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, X1D),
    # ceil_mode: 5 + 2*1 padded by 2-windows gives 4 windows, but the 4th would start in the right padding
    L("MaxPool2d", {"kernel_size": 2}), L("MaxPool2d", {"kernel_size": 2, "padding": 1, "ceil_mode": True},
                                          (I((1, 1, 5, 5)),), "ceil-last-window"),
    L("MaxPool2d", {"kernel_size": [2, 3], "dilation": 2, "padding": [1, 1]}, label="dilated"),
    L("MaxPool3d", {"kernel_size": 2, "stride": 1}, X3D),
    L("AvgPool1d", {"kernel_size": 4, "ceil_mode": True, "count_include_pad": False, "padding": 2}, X1D),
    L("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "divisor_override": 2}),
    L("AvgPool3d", {"kernel_size": [2, 3, 3], "ceil_mode": True}, X3D),
    L("AdaptiveAvgPool1d", {"output_size": 5}, X1D),
    L("AdaptiveAvgPool2d", {"output_size": [None, 3]}), L("AdaptiveAvgPool2d", {"output_size": 1}, label="global"),
    L("AdaptiveAvgPool3d", {"output_size": [2, None, 1]}, X3D),
    # ---- shape-moving
    L("Identity"), L("Flatten"), L("Flatten", {"start_dim": 0, "end_dim": -2}, label="start0"),
    L("Unflatten", {"dim": 1, "unflattened_size": [2, -1]}, (I((2, 12)),)),
    L("Dropout", {"p": 0.25}),
    L("Upsample", {"scale_factor": 2.0}), L("Upsample", {"scale_factor": 1.5, "mode": "bilinear"}, label="1.5"),
    L("Upsample", {"scale_factor": 0.3}, X1D, "0.3"),
    L("Upsample", {"size": [4, 5, 7], "mode": "trilinear", "align_corners": True}, X3D, "size"),
    # ---- torchvision's classification models: activations, adaptive max pooling, more dropout
    L("Hardswish"), L("Hardsigmoid", {"inplace": True}), L("ELU", {"alpha": 0.5, "inplace": True}),
    L("SELU"), L("CELU", {"alpha": 2.0}), L("Mish"), L("Softplus", {"beta": 2.0, "threshold": 10.0}),
    L("Softplus", inputs=(I((2, 3), "float64"),), label="float64"),
    L("PReLU", {"num_parameters": 3}), L("PReLU", {"init": 0.1}, (I((4,)),), label="shared-1d"),
    L("Hardtanh", {"min_val": -2.0, "max_val": 2.0}), L("Hardtanh", inputs=(I((2, 5), "int64"),), label="int64"),
    L("AdaptiveMaxPool1d", {"output_size": 5}, X1D), L("AdaptiveMaxPool1d", {"output_size": [7]}, (I((3, 16)),),
                                                       "unbatched-list"),
    L("AdaptiveMaxPool2d", {"output_size": [None, 3]}), L("AdaptiveMaxPool2d", {"output_size": 1}, label="global"),
    L("AdaptiveMaxPool3d", {"output_size": [2, None, 1]}, X3D),
    L("Dropout2d", {"p": 0.2}), L("AlphaDropout", {"p": 0.1}, (I((2, 7)),)),
]

O = OpExample  # noqa: E741 - short, for a table
x, y = Ref("x"), Ref("y")
MAT = {"x": I((2, 3)), "y": I((3, 4))}

OP_EXAMPLES: list[OpExample] = [
    O("relu", (x,)), O("relu6", (x,)), O("leaky_relu", (x, 0.1)), O("gelu", (x,), {"approximate": "tanh"}),
    O("silu", (x,)), O("sigmoid", (x,)), O("tanh", (x,)), O("softmax", (x,), {"dim": 1}),
    O("log_softmax", (x, -1)),
    O("max_pool1d", (x, 2), inputs={"x": I((2, 3, 9))}), O("max_pool2d", (x, [2, 2])),
    O("max_pool2d", (x, 3), {"stride": 2, "ceil_mode": True}, {"x": I((1, 1, 6, 6))}, label="ceil"),
    O("max_pool3d", (x, 2), {"dilation": 2}, inputs={"x": I((1, 2, 6, 6, 6))}),
    O("avg_pool1d", (x, 3), {"padding": 1}, inputs={"x": I((2, 3, 9))}),
    O("avg_pool2d", (x, 2), {"count_include_pad": False}),
    O("avg_pool3d", (x, [1, 2, 2]), inputs={"x": I((1, 2, 4, 6, 6))}),
    O("adaptive_avg_pool1d", (x, 4), inputs={"x": I((2, 3, 9))}), O("adaptive_avg_pool2d", (x, [None, 2])),
    O("adaptive_avg_pool3d", (x, 1), inputs={"x": I((1, 2, 4, 6, 6))}),
    O("flatten", (x,)), O("flatten", (x, 0, 2), label="0-2"), O("reshape", (x, [2, -1])),
    O("transpose", (x, 1, -1)), O("permute", (x, [0, 2, 3, 1])), O("unsqueeze", (x, -1)),
    O("squeeze", (x,), inputs={"x": I((2, 1, 3, 1))}), O("squeeze", (x, 1), inputs={"x": I((2, 1, 3, 1))},
                                                           label="dim"),
    O("mean", (x,)), O("mean", (x,), {"dim": [2, 3], "keepdim": True}, label="dims"),
    O("sum", (x, -1)), O("sum", (x,), inputs={"x": I((2, 3), "int32")}, label="int-to-int64"),
    O("cat", ([x, y],), {"dim": 1}, {"x": I((2, 3, 4)), "y": I((2, 5, 4))}),
    O("cat", ([x, y],), inputs={"x": I((2, 3), "int64"), "y": I((1, 3))}, label="promote"),
    O("stack", ([x, y, x], -1), inputs={"x": I((2, 3)), "y": I((2, 3))}),
    O("mm", (x, y), inputs=MAT), O("matmul", (x, y), inputs=MAT),
    O("matmul", (x, y), inputs={"x": I((4,)), "y": I((2, 4, 3))}, label="1d-batched"),
    O("matmul", (x, y), inputs={"x": I((5, 1, 2, 3)), "y": I((4, 3, 2))}, label="broadcast"),
    O("matmul", (x, y), inputs={"x": I((3,)), "y": I((3,))}, label="dot"),
    O("dropout", (x,), {"p": 0.1}),
    O("corr2d", (x, y), inputs={"x": I((6, 8)), "y": I((1, 2))}),
    # ---- torchvision's classification models
    O("hardswish", (x,)), O("hardsigmoid", (x,), {"inplace": True}), O("elu", (x, 0.5)), O("selu", (x,)),
    O("celu", (x,), {"alpha": 2.0}), O("mish", (x,)), O("softplus", (x, 2.0, 10.0)),
    O("hardtanh", (x, -0.5, 0.5)), O("hardtanh", (x,), inputs={"x": I((2, 3), "int32")}, label="int32"),
    O("adaptive_max_pool1d", (x, 4), inputs={"x": I((2, 3, 9))}), O("adaptive_max_pool2d", (x, [None, 2])),
    O("adaptive_max_pool3d", (x, 1), inputs={"x": I((1, 2, 4, 6, 6))}),
    O("dropout2d", (x,), {"p": 0.1}), O("alpha_dropout", (x, 0.2), inputs={"x": I((2, 7))}),
    O("chunk", (x, 2, 1), unpack=2), O("chunk", (x, 4), {"dim": -1}, inputs={"x": I((2, 5))}, unpack=3,
                                        label="fewer-than-chunks"),
    O("split", (x, 3, 1), inputs={"x": I((2, 8, 4))}, unpack=3),
    O("split", (x, [1, 2]), {"dim": 1}, label="sections", unpack=2),
    O("narrow", (x, 1, 1, 2)), O("narrow", (x, -1, -3, 3), label="negative-start"),
    O("stochastic_depth", (x, 0.2, "row")),
    O("select", (x, 1, 0)), O("select", (x, -1, -2), label="negative"),
    O("expand", (x, [2, -1, 5]), inputs={"x": I((1, 3, 1))}),
    O("expand", (x, [4, 2, 3, 8]), inputs={"x": I((2, 3, 1))}, label="new-leading-dim"),
]

# PyTorch refuses each of these; netspec must refuse them too.
REFUSED_LAYER_EXAMPLES: list[LayerExample] = [
    L("Conv2d", {"out_channels": 4, "kernel_size": 3, "padding": "same", "stride": 2}, label="same-strided",
      torch_extra={"in_channels": 3}),
    L("Conv2d", {"out_channels": 4, "kernel_size": 4, "padding": "same", "padding_mode": "reflect"},
      (I((1, 3, 1, 8)),), "same-reflect-too-wide", {"in_channels": 3}),
    L("Conv1d", {"out_channels": 2, "kernel_size": 1, "padding": 3, "padding_mode": "circular"}, (I((1, 3, 2)),),
      "circular-wraps-twice", {"in_channels": 3}),
    L("Conv2d", {"out_channels": 4, "kernel_size": 9}, label="kernel-too-big", torch_extra={"in_channels": 3}),
    L("Conv2d", {"out_channels": 4, "kernel_size": 3, "groups": 2}, label="groups", torch_extra={"in_channels": 3}),
    L("Conv2d", {"out_channels": 4, "kernel_size": 3, "in_channels": 4}, label="in-channels-written-wrong"),
    L("ConvTranspose1d", {"out_channels": 2, "kernel_size": 3, "stride": 2, "output_padding": 2}, X1D,
      "output-padding", {"in_channels": 3}),
    L("ConvTranspose2d", {"out_channels": 2, "kernel_size": 1, "padding": 3}, (I((1, 3, 4, 4)),), "output-negative",
      {"in_channels": 3}),
    L("MaxPool2d", {"kernel_size": 3, "padding": 2}, label="padding-over-half-kernel"),
    L("MaxPool1d", {"kernel_size": 2, "dilation": 3}, (I((1, 1, 3)),), "output-zero"),
    L("AvgPool3d", {"kernel_size": 3, "padding": 1}, (I((1, 1, 2, 2, 2)),), "input-under-kernel"),
    L("AdaptiveAvgPool2d", {"output_size": 3}, (I((3, 4)),), "rank"),
    L("Upsample", {"scale_factor": 0.3}, (I((1, 1, 3)),), "output-zero"),
    L("Upsample", {"size": 4, "recompute_scale_factor": True}, X1D, "recompute-with-size"),
    L("Upsample", {"scale_factor": 2.0, "mode": "bilinear"}, X1D, "mode-rank"),
    L("Upsample", {"scale_factor": 2.0, "align_corners": True}, X1D, "align-corners-nearest"),
    L("Linear", {"in_features": 5, "out_features": 2}, (I((2, 4)),), "in-features-written-wrong"),
    L("Linear", {"out_features": 2}, (I((), "float32"),), "scalar", {"in_features": 1}),
    L("Embedding", {"num_embeddings": 4, "embedding_dim": 2}, (I((3,), "bool"),), "bool-indices"),
    L("Embedding", {"num_embeddings": 4, "embedding_dim": 2, "padding_idx": 4}, (I((3,), "int64"),), "padding-idx"),
    L("BatchNorm2d", inputs=(I((2, 3, 4)),), label="rank", torch_extra={"num_features": 3}),
    L("LayerNorm", {"normalized_shape": [4]}, (I((2, 5)),), "trailing"),
    L("GroupNorm", {"num_groups": 4}, (I((2, 6, 3)),), "groups", {"num_channels": 6}),
    L("GroupNorm", {"num_groups": 2}, (I((1, 2)),), "one-value-per-group", {"num_channels": 2}),
    L("Flatten", {"start_dim": 2, "end_dim": 1}, label="start-after-end"),
    L("Unflatten", {"dim": 1, "unflattened_size": [5, -1]}, (I((2, 12)),), "indivisible"),
    L("Softmax", {"dim": 4}, label="dim"),
    L("GELU", inputs=(I((2, 3), "int64"),), label="int"),
    L("Dropout", inputs=(I((2, 3), "int64"),), label="int"),
    L("Hardtanh", {"min_val": 1.0, "max_val": 1.0}, label="empty-range"),
    L("CELU", {"alpha": 0.0}, label="alpha-zero"),
    L("Hardswish", inputs=(I((2, 3), "int64"),), label="int"),
    L("PReLU", {"num_parameters": 4}, label="channels"),
    L("PReLU", {"num_parameters": 3}, (I(()),), "scalar"),
    L("AdaptiveMaxPool2d", {"output_size": 2}, (I((2, 3, 4), "int64"),), "int"),
    L("AdaptiveMaxPool2d", {"output_size": 2}, (I((4, 4)),), "rank"),
    L("AdaptiveMaxPool1d", {"output_size": 2}, (I((2, 0, 4)),), "empty-channels"),
]

REFUSED_OP_EXAMPLES: list[OpExample] = [
    O("cat", ([x, y],), inputs={"x": I(()), "y": I(())}, label="scalars"),
    O("cat", ([x, y],), {"dim": 1}, {"x": I((2, 3)), "y": I((3, 3))}, label="sizes"),
    O("stack", ([x, y],), inputs={"x": I((2, 3)), "y": I((2, 4))}, label="sizes"),
    O("mean", (x,), inputs={"x": I((2, 3), "int64")}, label="int"),
    O("mean", (x, [1, -3]), label="duplicate-dims"),
    O("matmul", (x, y), inputs={"x": I((2, 3)), "y": I((3, 2), "float64")}, label="dtypes"),
    O("matmul", (x, y), inputs={"x": I((2, 3)), "y": I((4, 2))}, label="inner"),
    O("mm", (x, y), inputs={"x": I((3,)), "y": I((3, 2))}, label="rank"),
    O("reshape", (x, [5, -1]), label="indivisible"),
    O("transpose", (x, 0, 4), label="dim"),
    O("permute", (x, [0, 1, 1, 2]), label="repeat"),
    O("flatten", (x, 1), inputs={"x": I(())}, label="scalar-dim"),
    O("max_pool2d", (x, 2), {"padding": 2}, label="padding"),
    O("adaptive_avg_pool1d", (x, 2), inputs={"x": I((5,))}, label="rank"),
    O("corr2d", (x, y), inputs={"x": I((2, 2)), "y": I((3, 1))}, label="kernel-too-big"),
    O("hardtanh", (x, 1.0, -1.0), label="min-over-max"),
    O("elu", (x,), inputs={"x": I((2, 3), "int64")}, label="int"),
    O("chunk", (x, 2), inputs={"x": I(())}, label="scalar"),
    O("split", (x, [2, 2], 1), label="sections-sum"),
    O("split", (x, 0, 1), label="size-zero"),
    O("narrow", (x, 2, 6, 3), label="past-the-end"),
    O("narrow", (x, 2, -9, 1), label="start-out-of-range"),
]
