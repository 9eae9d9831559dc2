"""RNN, LSTM, GRU and their cells, as nn.RNNBase and nn.RNNCellBase compute their shapes.

A layer runs over a sequence, (L, N, H_in), (N, L, H_in) with ``batch_first``, or (L, H_in) unbatched, and
returns ``(output, h_n)``; LSTM returns ``(output, (h_n, c_n))``, a tuple inside a tuple.  A cell takes one
step, (N, H_in) or (H_in), and returns ``h'``, or ``(h', c')`` for LSTMCell.  ``input_size`` is inferred from
the input's last dim.  Only the one-input call is supported: the initial state (``h_0``, or ``(h_0, c_0)``)
defaults to zeros, as torch's does when it is left out.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from ._core import (
    REGISTRY,
    Arg,
    Bool,
    LayerType,
    NonNegInt,
    PosInt,
    Probability,
    ShapeError,
    Tensor,
    check_float,
    check_inferred,
    check_weight_dtype,
    count_product,
    fmt_shape,
    read_attribute,
)
from .examples import Input as I
from .examples import LayerExample as L

# The gate blocks each weight matrix stacks: W_ih is (gates * hidden_size, input_size).
_GATES = {"RNN": 1, "GRU": 3, "LSTM": 4, "RNNCell": 1, "GRUCell": 3, "LSTMCell": 4}
Nonlinearity = Literal["tanh", "relu"]


def _out_size(args: dict[str, Any]) -> int:
    """The size of h (and of each direction's output): proj_size when an LSTM projects, else hidden_size."""
    return int(args.get("proj_size", 0) or args["hidden_size"])


def _layer_inputs(args: dict[str, Any]) -> list[int]:
    """The input size of each stacked layer: input_size, then every direction's h side by side."""
    directions = 2 if args.get("bidirectional", False) else 1
    return [args["input_size"]] + [directions * _out_size(args)] * (args.get("num_layers", 1) - 1)


def _check(name: str) -> Callable[[dict[str, Any]], None]:
    """nn.RNNBase's constructor checks (those the grammar leaves: input_size when inferred, proj_size)."""

    def check(args: dict[str, Any]) -> None:
        if args.get("input_size") == 0:
            raise ShapeError(f"{name} expects input_size greater than zero, found 0 input features", "input_size",
                             hint="give the input at least one feature in its last dim")
        proj = args.get("proj_size", 0)
        if proj and proj >= args["hidden_size"]:
            raise ShapeError(f"proj_size {proj} must be smaller than hidden_size {args['hidden_size']}", "proj_size",
                             hint="use a proj_size below hidden_size, or 0 for no projection")

    return check


def _caution(name: str) -> Callable[[dict[str, Any], Sequence[Tensor]], ShapeError | None]:
    def caution(args: dict[str, Any], inputs: Sequence[Tensor]) -> ShapeError | None:
        if args.get("dropout", 0.0) > 0 and args.get("num_layers", 1) == 1:
            return ShapeError(f"{name} drops out between stacked layers only, so dropout {args['dropout']} does "
                              "nothing with num_layers 1 (torch warns when it builds the module)", "dropout",
                              "bad-value", "stack layers (num_layers: 2 or more) or leave dropout out")
        return None

    return caution


def _sequence_rule(name: str) -> Callable[[dict[str, Any], Sequence[Tensor]], tuple[Any, dict[str, Any]]]:
    check = _check(name)

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Any, dict[str, Any]]:
        (x,) = inputs
        if x.rank not in (2, 3):
            raise ShapeError(f"{name} expects a 2-D (L, H_in) or 3-D (L, N, H_in) input, found a {x.rank}-D input "
                             f"{fmt_shape(x.shape)}", code="rank-mismatch",
                             hint=f"for one step of a (N, H_in) input use {name}Cell" if x.rank < 2 else
                             "flatten the extra leading dims into one batch dim first")
        check_float(x, name)
        check_weight_dtype(x, name)
        inferred = check_inferred(args, "input_size", x.shape[-1], "input features")
        complete = {**args, **inferred}
        check(complete)
        batched = x.rank == 3
        length = x.shape[1 if batched and args.get("batch_first", False) else 0]
        if length == 0:
            raise ShapeError(f"{name} expects a sequence of length at least 1, found length 0 in "
                             f"{fmt_shape(x.shape)}", code="output-too-small")
        directions = 2 if args.get("bidirectional", False) else 1
        size = _out_size(complete)
        batch = (x.shape[0 if args.get("batch_first", False) else 1],) if batched else ()
        layers = directions * complete.get("num_layers", 1)
        output = Tensor((*x.shape[:-1], directions * size), x.dtype)
        h_n = Tensor((layers, *batch, size), x.dtype)
        if name == "LSTM":
            return (output, (h_n, Tensor((layers, *batch, complete["hidden_size"]), x.dtype))), inferred
        return (output, h_n), inferred

    return rule


def _sequence_count(name: str) -> Callable[[dict[str, Any]], int]:
    """Per layer and direction: W_ih, W_hh (gates * hidden rows each), two biases, and LSTM's W_hr."""

    def count(args: dict[str, Any]) -> int:
        gates, hidden, size, proj = _GATES[name], args["hidden_size"], _out_size(args), args.get("proj_size", 0)
        directions = 2 if args.get("bidirectional", False) else 1
        total = 0
        for features in _layer_inputs(args):
            total += gates * hidden * (features + size) + (2 * gates * hidden if args.get("bias", True) else 0)
            total += proj * hidden
        return directions * total

    return count


def _sequence_macs(name: str) -> Callable[[dict[str, Any], Sequence[Tensor], Any], Any]:
    """FlopCounterMode's count, halved: at every step of every sequence, each layer and direction multiplies
    its input by W_ih and h by W_hh (gates * hidden_size rows each), and an LSTM with proj_size projects h by
    W_hr.  (On the meta device, as tests/test_macs.py counts; on CPU, float32 nn.LSTM runs a oneDNN kernel
    FlopCounterMode sees nothing of, while RNN and GRU are counted there too.)"""

    def macs(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Any:
        gates, hidden, size, proj = _GATES[name], args["hidden_size"], _out_size(args), args.get("proj_size", 0)
        directions = 2 if args.get("bidirectional", False) else 1
        per_step = directions * sum(gates * hidden * (features + size) + proj * hidden
                                    for features in _layer_inputs(args))
        return count_product((*inputs[0].shape[:-1], per_step))

    return macs


def _cell_rule(name: str) -> Callable[[dict[str, Any], Sequence[Tensor]], tuple[Any, dict[str, Any]]]:
    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Any, dict[str, Any]]:
        (x,) = inputs
        if x.rank not in (1, 2):
            raise ShapeError(f"{name} expects a 1-D (H_in) or 2-D (N, H_in) input, found a {x.rank}-D input "
                             f"{fmt_shape(x.shape)}", code="rank-mismatch",
                             hint=f"a cell takes one step: loop over the sequence, or use {name[:-4]}"
                             if x.rank == 3 else None)
        check_float(x, name)
        check_weight_dtype(x, name)
        inferred = check_inferred(args, "input_size", x.shape[-1], "input features")
        h = Tensor((*x.shape[:-1], args["hidden_size"]), x.dtype)
        return ((h, Tensor(h.shape, x.dtype)) if name == "LSTMCell" else h), inferred

    return rule


def _cell_count(name: str) -> Callable[[dict[str, Any]], int]:
    def count(args: dict[str, Any]) -> int:
        rows: int = _GATES[name] * args["hidden_size"]
        return int(rows * (args["input_size"] + args["hidden_size"]) + (2 * rows if args.get("bias", True) else 0))

    return count


def _cell_macs(name: str) -> Callable[[dict[str, Any], Sequence[Tensor], Any], Any]:
    """FlopCounterMode's count, halved: the input by W_ih and h by W_hh, gates * hidden_size rows each."""

    def macs(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Any:
        rows = _GATES[name] * args["hidden_size"]
        return count_product((*inputs[0].shape[:-1], rows * (args["input_size"] + args["hidden_size"])))

    return macs


def _read_back(module: Any, name: str) -> Any:
    """dump: ``bias`` is kept as the bool it was given (the biases are bias_ih_l0... or bias_ih)."""
    if name == "bias":
        return bool(module.bias)
    return read_attribute(module, name)


_INPUT_SIZE = Arg("input_size", PosInt, inferred=True)
_BIAS = Arg("bias", Bool, True, doc="If false, the layer does not use the bias weights b_ih and b_hh.")
_NUM_LAYERS = Arg("num_layers", PosInt, 1, doc="Number of recurrent layers stacked, each taking the outputs of "
                  "the one before.")
_DROPOUT = Arg("dropout", Probability, 0.0, doc="If non-zero, a Dropout layer on the outputs of each recurrent "
               "layer except the last, with this dropout probability.")
_NONLINEARITY = Arg("nonlinearity", Nonlinearity, "tanh", doc="The non-linearity to use: 'tanh' or 'relu'.")


def _sequence(name: str, summary: str) -> LayerType:
    args = [_INPUT_SIZE, Arg("hidden_size", PosInt), _NUM_LAYERS]
    if name == "RNN":
        args.append(_NONLINEARITY)
    args += [_BIAS, Arg("batch_first", Bool, False), _DROPOUT, Arg("bidirectional", Bool, False)]
    if name == "LSTM":
        args.append(Arg("proj_size", NonNegInt, 0))
    return LayerType(
        name=name, family="recurrent", rule=_sequence_rule(name), count=_sequence_count(name), factory=True,
        positional=2, check=_check(name), caution=_caution(name), macs=_sequence_macs(name), outputs=2,
        read_back=_read_back, summary=summary, args=tuple(args))


def _cell(name: str, summary: str) -> LayerType:
    args = [_INPUT_SIZE, Arg("hidden_size", PosInt), _BIAS]
    if name == "RNNCell":
        args.append(_NONLINEARITY)
    return LayerType(
        name=name, family="recurrent", rule=_cell_rule(name), count=_cell_count(name), factory=True, positional=2,
        macs=_cell_macs(name), outputs=2 if name == "LSTMCell" else 1, read_back=_read_back, summary=summary,
        args=tuple(args))


REGISTRY.add_layer(_sequence("RNN", "Elman RNN (tanh or relu) over a sequence; returns (output, h_n): unpack it, "
                                    "`out, h = rnn(x)`; input_size is inferred"))
REGISTRY.add_layer(_sequence("LSTM", "LSTM over a sequence; returns (output, (h_n, c_n)): unpack it, "
                                     "`out, hc = lstm(x)`; input_size is inferred"))
REGISTRY.add_layer(_sequence("GRU", "GRU over a sequence; returns (output, h_n): unpack it, `out, h = gru(x)`; "
                                    "input_size is inferred"))
REGISTRY.add_layer(_cell("RNNCell", "one step of an Elman RNN: (N, H_in) -> h' (N, hidden_size); input_size "
                                    "is inferred"))
REGISTRY.add_layer(_cell("LSTMCell", "one LSTM step; returns (h', c'): unpack it, `h, c = cell(x)`; input_size "
                                     "is inferred"))
REGISTRY.add_layer(_cell("GRUCell", "one GRU step: (N, H_in) -> h' (N, hidden_size); input_size is inferred"))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch, every
# item of a tuple result (output, h_n, c_n) included.  Float64 inputs (refused: the weights are float32), empty
# sequences and an empty batch, which a spec's inputs cannot declare, are in tests/test_recurrent.py.

_SEQ = (I((5, 2, 8)),)  # (L, N, H_in)

REGISTRY.add_examples(
    L("RNN", {"hidden_size": 16}, _SEQ),
    L("RNN", {"hidden_size": 6, "num_layers": 3, "nonlinearity": "relu", "bias": False, "dropout": 0.25}, _SEQ,
      "relu-3-layers-nobias"),
    L("RNN", {"hidden_size": 4, "bidirectional": True, "batch_first": True}, (I((2, 7, 3)),),
      "bidirectional-batch-first"),
    L("RNN", {"hidden_size": 4, "input_size": 8}, (I((5, 8)),), "unbatched"),
    L("LSTM", {"hidden_size": 16}, _SEQ),
    L("LSTM", {"hidden_size": 6, "num_layers": 2, "bidirectional": True}, _SEQ, "bidirectional-2-layers"),
    L("LSTM", {"hidden_size": 8, "proj_size": 3, "num_layers": 2, "bidirectional": True, "batch_first": True},
      (I((2, 7, 5)),), "proj-bidirectional-batch-first"),
    L("LSTM", {"hidden_size": 8, "proj_size": 2}, (I((4, 3)),), "proj-unbatched"),
    L("LSTM", {"hidden_size": 4, "bias": False, "batch_first": True}, (I((1, 1, 2)),), "one-step-nobias"),
    L("GRU", {"hidden_size": 16}, _SEQ),
    L("GRU", {"hidden_size": 5, "num_layers": 3, "bidirectional": True, "dropout": 0.5}, _SEQ,
      "bidirectional-3-layers"),
    L("GRU", {"hidden_size": 4, "batch_first": True}, (I((6, 8)),), "unbatched-batch-first"),
    L("RNNCell", {"hidden_size": 16}, (I((3, 8)),)),
    L("RNNCell", {"hidden_size": 4, "nonlinearity": "relu", "bias": False}, (I((8,)),), "relu-unbatched"),
    L("LSTMCell", {"hidden_size": 16}, (I((3, 8)),)),
    L("LSTMCell", {"hidden_size": 4, "bias": False}, (I((5,)),), "unbatched-nobias"),
    L("GRUCell", {"hidden_size": 16}, (I((3, 8)),)),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("RNN", {"hidden_size": 4}, (I((2, 5, 3, 8)),), "4d", {"input_size": 8}),
    L("RNN", {"hidden_size": 4}, (I((8,)),), "1d", {"input_size": 8}),
    L("RNN", {"hidden_size": 4, "input_size": 6}, _SEQ, "input-size-written-wrong"),
    L("GRU", {"hidden_size": 4}, (I((5, 2, 8), "int64"),), "int64", {"input_size": 8}),
    L("LSTM", {"hidden_size": 4, "proj_size": 4}, _SEQ, "proj-not-smaller", {"input_size": 8}),
    L("RNNCell", {"hidden_size": 4}, (I((2, 5, 8)),), "3d", {"input_size": 8}),
    L("LSTMCell", {"hidden_size": 4, "input_size": 6}, (I((3, 8)),), "input-size-written-wrong"),
    L("GRUCell", {"hidden_size": 4}, (I((3, 8), "int32"),), "int32", {"input_size": 8}),
    L("RNNCell", {"hidden_size": 4}, (I((), "float32"),), "scalar", {"input_size": 1}),
    refused=True,
)
