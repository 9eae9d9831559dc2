"""RNN, LSTM, GRU and their cells (netspec/ops/recurrent.py) against torch: the tuples they return, values,
state_dict layouts, MACs, and what the registry matrix (tests/test_registry.py) cannot declare: float64 inputs,
empty sequences and empty batches (a spec's inputs have sizes >= 1; narrow makes them)."""

from __future__ import annotations

import inspect
import typing
import warnings
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import netspec
from netspec.errors import SpecError
from netspec.ops import LAYERS

HEAD = "netspec: 1\nname: M\n"


def spec(inputs: str, layers: dict[str, str], forward: list[str]) -> str:
    text = HEAD + f"inputs: {{x: {inputs}}}\nlayers:\n"
    text += "".join(f"  {name}: {layer}\n" for name, layer in layers.items())
    return text + "forward:\n" + "".join(f"  - {step}\n" for step in forward)


def codes(text: str) -> list[str]:
    with pytest.raises(SpecError) as exc:
        netspec.compile_string(text)
    return [d.code for d in exc.value.diagnostics]


def layer_output(text: str, name: str = "l") -> Any:
    """What shape inference says the layer ``name`` gave: a Tensor, or a (nested) tuple of them."""
    compiled = netspec.compile_string(text)
    (event,) = [e for e in compiled.inference.trace if e.kind == "layer" and e.path == name]
    return event.output


def tree(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(tree(v) for v in value)
    if isinstance(value, torch.Tensor):
        return tuple(value.shape), str(value.dtype).removeprefix("torch.")
    return value.shape, value.dtype


def quietly(fn: Any) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "LSTM with projections is not supported with oneDNN"
        return fn()


# ---------------------------------------------------------------- values and layouts


LSTM = "{type: LSTM, hidden_size: 6, num_layers: 2, bidirectional: true, batch_first: true, proj_size: 3}"


def test_lstm_nested_result_values_and_layout() -> None:
    """``out, hc = lstm(x)``: hc is (h_n, c_n), taken apart in a second step; the module is torch's, key for key."""
    text = spec("[N, 5, 4]", {"l": LSTM, "fc": "{type: Linear, out_features: 2}"},
                ["out, hc = l(x)", "h, c = hc",
                 "return fc(out).sum(1) + h.sum(0).sum(-1, True) + c.mean(0).sum(-1, True)"])
    assert tree(layer_output(text)) == ((("N", 5, 6), "float32"), (((4, "N", 3), "float32"), ((4, "N", 6), "float32")))
    ours = netspec.load(text=text).eval()
    theirs = nn.LSTM(4, 6, num_layers=2, bidirectional=True, batch_first=True, proj_size=3)
    assert [(k, tuple(v.shape)) for k, v in ours.l.state_dict().items()] == \
        [(k, tuple(v.shape)) for k, v in theirs.state_dict().items()]
    assert "weight_hr_l1_reverse" in ours.l.state_dict()
    theirs.load_state_dict(ours.l.state_dict())
    x = torch.randn(3, 5, 4)
    out, (h, c) = quietly(lambda: theirs(x))
    expected = ours.fc(out).sum(1) + h.sum(0).sum(-1, True) + c.mean(0).sum(-1, True)
    torch.testing.assert_close(quietly(lambda: ours(x)), expected)
    summary = netspec.summary(text=text)
    assert summary.total_params == sum(p.numel() for p in ours.parameters())
    assert summary.output_shape == ("N", 2)


@pytest.mark.parametrize("layer, torch_layer", [
    ("{type: GRU, hidden_size: 5, num_layers: 3}", lambda: nn.GRU(4, 5, num_layers=3)),
    ("{type: RNN, hidden_size: 5, nonlinearity: relu, bidirectional: true, bias: false}",
     lambda: nn.RNN(4, 5, nonlinearity="relu", bidirectional=True, bias=False)),
])
def test_gru_and_rnn_return_output_and_h_n(layer: str, torch_layer: Any) -> None:
    text = spec("[7, 2, 4]", {"l": layer}, ["out, h = l(x)", "return h"])
    ours, theirs = netspec.load(text=text).eval(), torch_layer()
    assert repr(ours.l) == repr(theirs)
    theirs.load_state_dict(ours.l.state_dict())
    x = torch.randn(7, 2, 4)
    torch.testing.assert_close(ours(x), theirs(x)[1])
    assert tree(layer_output(text)) == tree(theirs(x))
    h_n = theirs(x)[1]
    assert netspec.summary(text=text.replace("[7, 2, 4]", "[L, N, 4]")).output_shape == (h_n.shape[0], "N", 5)


def test_cells_values() -> None:
    text = spec("[N, 4]", {"a": "{type: RNNCell, hidden_size: 5, nonlinearity: relu}",
                           "b": "{type: LSTMCell, hidden_size: 3}",
                           "c": "{type: GRUCell, hidden_size: 2, bias: false}"},
                ["h, s = b(a(x))", "return c(h + s)"])
    ours = netspec.load(text=text).eval()
    a, b, c = nn.RNNCell(4, 5, nonlinearity="relu"), nn.LSTMCell(5, 3), nn.GRUCell(3, 2, bias=False)
    for mine, theirs in ((ours.a, a), (ours.b, b), (ours.c, c)):
        assert repr(mine) == repr(theirs)
        theirs.load_state_dict(mine.state_dict())
    x = torch.randn(6, 4)
    h, cell = b(a(x))
    torch.testing.assert_close(ours(x), c(h + cell))
    assert netspec.summary(text=text).total_params == sum(p.numel() for p in ours.parameters())


def test_unbatched_sequence_and_step() -> None:
    text = spec("[9, 4]", {"l": "{type: LSTM, hidden_size: 6, proj_size: 2, batch_first: true}",
                           "cell": "{type: LSTMCell, hidden_size: 3}"},
                ["out, hc = l(x)", "h, c = cell(out.select(0, -1))", "return h"])
    assert tree(layer_output(text)) == (((9, 2), "float32"), (((1, 2), "float32"), ((1, 6), "float32")))
    assert tree(layer_output(text, "cell")) == (((3,), "float32"), ((3,), "float32"))
    ours = netspec.load(text=text).eval()
    assert tuple(quietly(lambda: ours(torch.randn(9, 4))).shape) == (3,)


# ---------------------------------------------------------------- shapes torch's inputs can have, specs' cannot


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
@pytest.mark.parametrize("batch_first", [False, True])
def test_empty_sequence_refused_as_torch_refuses(kind: str, batch_first: bool) -> None:
    dim = 1 if batch_first else 0
    text = spec("[5, 3, 8]", {"l": f"{{type: {kind}, hidden_size: 4, batch_first: {str(batch_first).lower()}}}"},
                [f"out, h = l(x.narrow({dim}, 0, 0))", "return out"])
    assert codes(text) == ["output-too-small"]
    module = getattr(nn, kind)(8, 4, batch_first=batch_first)
    with pytest.raises(RuntimeError, match="sequence length"):
        module(torch.randn(5, 3, 8).narrow(dim, 0, 0))


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU"])
def test_empty_batch_as_torch(kind: str) -> None:
    text = spec("[5, 3, 8]", {"l": f"{{type: {kind}, hidden_size: 4, bidirectional: true}}"},
                ["out, h = l(x.narrow(1, 0, 0))", "return out"])
    theirs = getattr(nn, kind)(8, 4, bidirectional=True)(torch.randn(5, 0, 8))
    assert tree(layer_output(text)) == tree(theirs)


@pytest.mark.parametrize("kind", ["RNNCell", "LSTMCell", "GRUCell"])
def test_cell_empty_batch_as_torch(kind: str) -> None:
    text = spec("[3, 8]", {"l": f"{{type: {kind}, hidden_size: 4}}"}, ["y = l(x.narrow(0, 0, 0))", "return x"])
    theirs = getattr(nn, kind)(8, 4)(torch.randn(0, 8))
    assert tree(layer_output(text)) == tree(theirs)


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
@pytest.mark.parametrize("dtype", ["float64", "float16", "int64"])
def test_only_float32_inputs_into_float32_weights(kind: str, dtype: str) -> None:
    """torch refuses any input dtype other than the weights' (RNNBase.check_input; the cells' addmm on CPU)."""
    cell = kind.endswith("Cell")
    shape = [3, 8] if cell else [5, 3, 8]
    text = HEAD + f"inputs: {{x: {{shape: {shape}, dtype: {dtype}}}}}\nlayers:\n  l: {{type: {kind}, hidden_size: 4}}\n"
    single = kind in ("RNNCell", "GRUCell")
    text += "forward:\n  - return l(x)\n" if single else "forward:\n  - a, b = l(x)\n  - return a\n"
    assert codes(text) == ["dtype-mismatch"]
    with pytest.raises((RuntimeError, ValueError)):
        getattr(nn, kind)(8, 4)(torch.ones(shape, dtype=getattr(torch, dtype)))


# ---------------------------------------------------------------- arguments and refusals


@pytest.mark.parametrize("kind", ["RNN", "LSTM", "GRU", "RNNCell", "LSTMCell", "GRUCell"])
def test_constructor_fits_torch(kind: str) -> None:
    """Generated code passes input_size and hidden_size by position and the rest by keyword, with device and dtype.
    nn.RNN, LSTM and GRU declare ``__init__(*args, **kwargs)``: their arguments are in the @overload before it
    (tests/test_signatures.py reads ``inspect.signature`` only, so it cannot see them)."""
    cls = getattr(nn, kind)
    candidates = [inspect.signature(f) for f in (*typing.get_overloads(cls.__init__), cls.__init__)]
    (sig,) = [s for s in candidates if all(p.kind is not p.VAR_POSITIONAL for p in s.parameters.values())]
    params = list(sig.parameters.values())[1:]  # no self
    layer = LAYERS[kind]
    assert [p.name for p in params[: layer.positional]] == ["input_size", "hidden_size"]
    names = [p.name for p in params]
    assert [a.name for a in layer.args] == [n for n in names if n not in ("device", "dtype")]  # torch's order
    defaults = {p.name: p.default for p in params}
    assert all(a.default == defaults[a.name] for a in layer.args if not a.required and not a.inferred)
    assert layer.factory and {"device", "dtype"} <= set(names)



def test_arguments_torch_refuses() -> None:
    one = "out, h = l(x)", "return out"
    assert codes(spec("[5, 3, 8]", {"l": "{type: LSTM, hidden_size: 4, proj_size: 4}"}, list(one))) == [
        "shape-mismatch"]
    assert codes(spec("[5, 3, 8]", {"l": "{type: GRU, hidden_size: 4, proj_size: 2}"}, list(one))) == ["unknown-key"]
    assert codes(spec("[5, 3, 8]", {"l": "{type: RNN, hidden_size: 4, nonlinearity: sigmoid}"}, list(one))) == [
        "bad-value"]
    assert codes(spec("[5, 3, 8]", {"l": "{type: RNN, hidden_size: 0}"}, list(one))) == ["bad-value"]
    assert codes(spec("[5, 3, 8]", {"l": "{type: RNN, hidden_size: 4, num_layers: 0}"}, list(one))) == ["bad-value"]
    assert codes(spec("[5, 3, 8]", {"l": "{type: RNN, hidden_size: 4, dropout: 1.5}"}, list(one))) == ["bad-value"]
    assert codes(spec("[5, 3, N]", {"l": "{type: GRU, hidden_size: 4}"}, list(one))) == ["symbolic-dim"]
    assert codes(spec("[5, 3, 8]", {"l": "{type: GRU, hidden_size: 4, input_size: 7}"}, list(one))) == [
        "shape-mismatch"]
    # an input narrowed to no features: torch's constructor refuses input_size 0
    assert codes(spec("[5, 3, 8]", {"l": "{type: GRU, hidden_size: 4}"}, ["out, h = l(x.narrow(2, 0, 0))",
                                                                         "return out"])) == ["shape-mismatch"]
    for kind in ("RNN", "LSTM", "GRU"):
        with pytest.raises(ValueError):
            getattr(nn, kind)(0, 4)


def test_a_layer_forward_never_reaches_is_still_checked() -> None:
    text = HEAD + ("inputs: {x: [2, 3]}\nlayers:\n  l: {type: LSTM, input_size: 3, hidden_size: 4, proj_size: 5}\n"
                   "  fc: {type: Linear, out_features: 2}\nforward:\n  - return fc(x)\n")
    assert "shape-mismatch" in codes(text)


def test_the_result_is_a_tuple() -> None:
    base = {"l": "{type: GRU, hidden_size: 4}"}
    assert codes(spec("[5, 3, 8]", base, ["return l(x)"])) == ["bad-return"]
    assert codes(spec("[5, 3, 8]", base, ["a, b, c = l(x)", "return a"])) == ["bad-unpack"]
    # the initial state is not an input netspec passes: one tensor only
    assert codes(spec("[5, 3, 8]", base, ["a, b = l(x, x)", "return a"])) == ["bad-call"]
    lstm = {"l": "{type: LSTM, hidden_size: 4}"}
    assert codes(spec("[5, 3, 8]", lstm, ["out, hc = l(x)", "return hc"])) == ["bad-return"]
    assert codes(spec("[3, 8]", {"l": "{type: GRUCell, hidden_size: 4}"}, ["a, b = l(x)", "return a"])) == [
        "bad-unpack"]


def test_dropout_on_one_layer_warns_as_torch_does() -> None:
    text = spec("[5, 3, 8]", {"l": "{type: GRU, hidden_size: 4, dropout: 0.5}"}, ["out, h = l(x)", "return out"])
    assert [(w.code, w.severity) for w in netspec.validate(text=text)] == [("bad-value", "warning")]
    with pytest.warns(UserWarning, match="num_layers greater than 1"):
        nn.GRU(8, 4, dropout=0.5)
    stacked = text.replace("dropout: 0.5", "dropout: 0.5, num_layers: 2")
    assert netspec.validate(text=stacked) == []


# ---------------------------------------------------------------- counts


def _flop_counter_macs(module: nn.Module, x: torch.Tensor) -> int:
    with FlopCounterMode(display=False, depth=None) as counter, torch.no_grad():
        quietly(lambda: module(x))
    total: int = counter.get_total_flops()
    return total // 2


@pytest.mark.parametrize("kind, layer, shape", [
    ("RNN", {"hidden_size": 16, "num_layers": 2, "bidirectional": True, "nonlinearity": "relu"}, (5, 3, 8)),
    ("LSTM", {"hidden_size": 16, "num_layers": 2, "bidirectional": True, "proj_size": 4}, (5, 3, 8)),
    ("LSTM", {"hidden_size": 7, "batch_first": True, "bias": False}, (3, 5, 8)),
    ("GRU", {"hidden_size": 6, "num_layers": 3}, (5, 8)),
    ("RNNCell", {"hidden_size": 16}, (3, 8)),
    ("LSTMCell", {"hidden_size": 16, "bias": False}, (8,)),
    ("GRUCell", {"hidden_size": 5}, (3, 8)),
])
def test_macs_match_flop_counter_on_meta(kind: str, layer: dict[str, Any], shape: tuple[int, ...]) -> None:
    args = ", ".join(f"{k}: {str(v).lower() if isinstance(v, bool) else v}" for k, v in layer.items())
    step = ["return l(x)"] if kind in ("RNNCell", "GRUCell") else ["a, b = l(x)", "return a"]
    text = spec(str(list(shape)), {"l": f"{{type: {kind}, {args}}}"}, step)
    compiled = netspec.compile_string(text)
    module = getattr(nn, kind)(compiled.inference.layer_args["l"]["input_size"], **layer, device="meta")
    expected = _flop_counter_macs(module, torch.empty(shape, device="meta"))
    assert netspec.summary(text=text).total_macs == expected > 0


def test_macs_on_cpu() -> None:
    """On CPU, RNN, GRU and the cells run matrix products FlopCounterMode counts, the same as on meta; float32
    nn.LSTM runs one oneDNN kernel it counts nothing of (float64 takes the products again)."""
    x = torch.randn(5, 3, 8)
    assert _flop_counter_macs(nn.GRU(8, 4), x) == 5 * 3 * 3 * 4 * (8 + 4)
    assert _flop_counter_macs(nn.LSTM(8, 4), x) == 0
    assert _flop_counter_macs(nn.LSTM(8, 4).double(), x.double()) == 5 * 3 * 4 * 4 * (8 + 4)
    text = spec("[5, N, 8]", {"l": "{type: LSTM, hidden_size: 4}"}, ["a, b = l(x)", "return a"])
    assert netspec.summary(text=text).total_macs == 5 * 4 * 4 * (8 + 4)  # per sample
    assert netspec.summary(text=text.replace("[5, N, 8]", "[L, N, 8]")).total_macs == "L*192"
