"""The Transformer layers and stacks (netspec/ops/transformer.py) against torch, beyond the registry's matrix:
the module generated code builds computes torch's function (repr shows neither activation, norm_first nor
batch_first), its state_dict is torch's key for key, the MACs are FlopCounterMode's, dump reads each back, and
the causal hints and masks are refused as call arguments."""

from __future__ import annotations

import inspect
import warnings
from collections import OrderedDict
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import netspec
from netspec.errors import SpecError
from netspec.ops import LAYERS
from tests.layer_examples import LAYER_EXAMPLES, LayerExample
from tests.test_registry import STACKS, torch_layer

TYPES = ("TransformerEncoderLayer", "TransformerDecoderLayer", "TransformerEncoder", "TransformerDecoder",
         "Transformer")
EXAMPLES = [e for e in LAYER_EXAMPLES if e.type in TYPES]


def _quiet_load(text: str, device: str = "cpu") -> nn.Module:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.TransformerEncoder's nested-tensor note, init's zero-element note
        return netspec.loads(text, device=device)


def _inputs(example: LayerExample, device: str = "cpu") -> list[torch.Tensor]:
    torch.manual_seed(0)
    return [torch.randn(i.shape, device=device) if device != "meta" else torch.empty(i.shape, device=device)
            for i in example.inputs]


def _flops(module: nn.Module, inputs: list[torch.Tensor]) -> int:
    with warnings.catch_warnings(), FlopCounterMode(display=False, depth=None) as counter:
        warnings.simplefilter("ignore")
        module(*inputs)
    total: int = counter.get_total_flops()
    return total // 2


def test_every_type_has_examples() -> None:
    assert {e.type for e in EXAMPLES} == set(TYPES)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_generated_module_is_torch_s(example: LayerExample) -> None:
    """Same state_dict keys and shapes as the torch module, and, given its weights, the same outputs (in eval mode,
    and in training mode with dropout 0), which activation, norm_first, batch_first and layer_norm_eps change."""
    compiled = netspec.compile_string(example.spec())
    ours = _quiet_load(example.spec())
    theirs = torch_layer(example.type, compiled.inference.layer_args["l"], "cpu", None)
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (f"l.{k}", v.shape) for k, v in theirs.state_dict().items()]
    torch.manual_seed(1)
    for p in ours.parameters():  # distinct values everywhere, so that a swapped norm or bias would show
        p.data.uniform_(-0.5, 0.5)
    theirs.load_state_dict({k.removeprefix("l."): v for k, v in ours.state_dict().items()})
    inputs = _inputs(example)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        expected = theirs.eval()(*inputs)
        assert torch.allclose(ours.eval()(*inputs), expected, atol=1e-5)
        for m in (*ours.modules(), *theirs.modules()):
            if isinstance(m, nn.Dropout):
                m.p = 0.0
            if isinstance(m, nn.MultiheadAttention):
                m.dropout = 0.0
        # training mode takes the unfused path: the same function
        assert torch.allclose(ours.train()(*inputs), theirs.train()(*inputs), atol=1e-5)


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda e: e.id)
def test_macs_are_flop_counter_s(example: LayerExample) -> None:
    """FlopCounterMode sees every product on meta (in either mode) and on CPU in training mode (a fresh module's)
    with dropout: there attention runs torch's math kernel.  Without dropout (or in eval mode) CPU runs the fused
    flash-attention kernel, which hides QK^T and AV from it; in eval without grad and batch_first, the fused
    encoder-layer fast path hides everything (docs/spec.md, "Counts")."""
    macs = netspec.summary(text=example.spec()).total_macs
    assert _flops(_quiet_load(example.spec(), "meta").eval(), _inputs(example, "meta")) == macs
    assert _flops(_quiet_load(example.spec(), "meta").train(), _inputs(example, "meta")) == macs
    cpu = _flops(_quiet_load(example.spec(), "cpu"), _inputs(example, "cpu"))
    assert cpu == macs if example.args.get("dropout", 0.1) > 0 else cpu < macs


def test_symbolic_counts() -> None:
    spec = """
netspec: 1
name: Seq2Seq
inputs:
  src: [N, S, 16]
  tgt: [N, T, 16]
layers:
  t: {type: Transformer, nhead: 4, num_encoder_layers: 2, num_decoder_layers: 3, dim_feedforward: 24, batch_first: true}
forward:
  - return t(src, tgt)
"""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # nn.Transformer's encoder notes that batch_first alone is not enough
        reference = nn.Transformer(16, 4, 2, 3, 24)
    summary = netspec.summary(text=spec, dims={"S": 7, "T": 5})
    model = _quiet_load(spec, "meta")
    for n in (1, 3):
        macs = netspec.summary(text=spec, batch=n, dims={"S": 7, "T": 5}).batch_macs
        assert macs == _flops(model, [torch.empty(n, 7, 16, device="meta"), torch.empty(n, 5, 16, device="meta")])
    assert summary.total_params == sum(p.numel() for p in reference.parameters())
    out = netspec.compile_string(spec).inference.output
    assert out.shape == ("N", "T", 16)


STACK_OWN = {"TransformerEncoder": ("num_layers", "norm", "enable_nested_tensor", "mask_check"),
             "TransformerDecoder": ("num_layers", "norm")}


@pytest.mark.parametrize("name", sorted(STACK_OWN))
def test_stack_arguments_are_torch_s(name: str) -> None:
    """A stack's flat arguments are its layer's (nn.TransformerEncoderLayer's, by the same names) and the stack's
    own (norm: a bool for torch's LayerNorm module); nn.Transformer takes the same layer arguments."""
    layer = getattr(nn, f"{name}Layer")
    layer_params = set(inspect.signature(layer.__init__).parameters) - {"self", "device", "dtype"}
    stack_params = set(inspect.signature(getattr(nn, name).__init__).parameters) - {"self"}
    ours = [a.name for a in LAYERS[name].args]
    assert ours == [a.name for a in LAYERS[f"{name}Layer"].args] + list(STACK_OWN[name])
    assert set(ours) - set(STACK_OWN[name]) == layer_params
    assert set(STACK_OWN[name]) - {"norm"} <= stack_params and "norm" in stack_params
    assert name in STACKS
    transformer = set(inspect.signature(nn.Transformer.__init__).parameters)
    assert layer_params <= transformer


@pytest.mark.parametrize("call", ["l(x, is_causal=True)", "l(x, is_causal=False)", "l(x, src_mask=x)", "l(x, x)"])
def test_masks_and_causal_hints_are_not_call_arguments(call: str) -> None:
    spec = f"""
netspec: 1
name: P
inputs: {{x: [5, 2, 8]}}
layers:
  l: {{type: TransformerEncoderLayer, nhead: 2}}
forward:
  - return {call}
"""
    with pytest.raises(SpecError) as info:
        netspec.compile_string(spec)
    assert "bad-call" in str(info.value)


def test_torch_refuses_a_causal_hint_without_its_mask() -> None:
    """Why is_causal is no call argument: torch refuses True without the mask it describes."""
    layer = nn.TransformerEncoderLayer(8, 2, 16)
    with pytest.raises(RuntimeError, match="Need attn_mask"):
        layer(torch.randn(5, 2, 8), is_causal=True)


def test_dump_reads_each_back(tmp_path: Path) -> None:
    class Model(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.enc = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, 0.2, "gelu", 1e-6, True, True,
                                                                        False), 2, nn.LayerNorm(8, 1e-6, bias=False),
                                             enable_nested_tensor=False)
            self.dec = nn.TransformerDecoder(nn.TransformerDecoderLayer(8, 2, 16, batch_first=True), 1)
            self.one = nn.TransformerEncoderLayer(8, 4, 12, batch_first=True)
            self.two = nn.TransformerDecoderLayer(8, 2, 12, batch_first=True, norm_first=True)
            self.t = nn.Transformer(8, 2, 1, 1, 16, batch_first=True)

        def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            m = self.one(self.enc(x))
            return self.t(self.two(self.dec(y, m), m), y)  # type: ignore[no-any-return]

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model = Model()
        text = netspec.dump(model, inputs={"x": ["N", 5, 8], "y": ["N", 4, 8]})
    assert "{type: TransformerEncoder, nhead: 2, dim_feedforward: 16, dropout: 0.2, activation: gelu, " \
           "layer_norm_eps: 1.0e-06, batch_first: true, norm_first: true, bias: false, num_layers: 2, norm: true, " \
           "enable_nested_tensor: false}" in text, text
    assert "{type: Transformer, nhead: 2, num_encoder_layers: 1, num_decoder_layers: 1, dim_feedforward: 16, " \
           "batch_first: true}" in text, text
    again = _quiet_load(text)
    assert [(k, v.shape) for k, v in again.state_dict().items()] == [
        (k, v.shape) for k, v in model.state_dict().items()]


def test_dump_refuses_what_a_spec_cannot_write() -> None:
    from netspec.tools.dump import DumpError

    def model(**layer: Any) -> nn.Module:
        stack = nn.TransformerEncoder(nn.TransformerEncoderLayer(8, 2, 16, **layer), 1, enable_nested_tensor=False)
        return nn.Sequential(OrderedDict(enc=stack))

    with pytest.raises(DumpError, match="activation"):
        netspec.dump(model(activation=torch.tanh), inputs=["N", 5, 8])
    with pytest.raises(DumpError, match="activation"):
        netspec.dump(model(activation=nn.GELU()), inputs=["N", 5, 8])
    odd = model()
    odd.enc.norm = nn.LayerNorm(8, eps=1e-3)  # type: ignore[method-assign]  # not the norm `norm: true` builds
    with pytest.raises(DumpError, match="norm"):
        netspec.dump(odd, inputs=["N", 5, 8])
    assert "{type: TransformerEncoder, nhead: 2, dim_feedforward: 16, activation: gelu, num_layers: 1, " \
           "enable_nested_tensor: false}" in netspec.dump(model(activation="gelu"), inputs=["N", 5, 8])


def test_every_argument_has_a_description() -> None:
    from netspec.ops import arg_doc

    assert all(arg_doc(arg) for name in TYPES for arg in LAYERS[name].args)


def _written(name: str, args: dict[str, Any]) -> dict[str, str]:
    """The argument text codegen passes for these complete arguments (registry_call's choice), device/dtype last."""
    values = {a.name: repr(args[a.name]) for a in LAYERS[name].args if a.name in args and (
        a.required or a.inferred or args[a.name] != a.default)}
    return {**values, "device": "device", "dtype": "dtype"}


@pytest.mark.parametrize("example", [e for e in EXAMPLES if e.type in STACKS], ids=lambda e: e.id)
def test_construct_stack_spells_torch_s_call(example: LayerExample) -> None:
    """construct_stack: the readable spelling generated code will use once codegen lets an entry write its own call
    (the lambda spellings stand in until then); it builds the module torch's classes build."""
    from netspec.ops.transformer import construct_stack

    args = netspec.compile_string(example.spec()).inference.layer_args["l"]
    text = construct_stack(example.type.removesuffix("Layer"), _written(example.type, args))
    assert text.startswith(f"nn.{example.type}(nn.{example.type}Layer(8, 2, ")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        built = eval(text, {"nn": nn, "device": "meta", "dtype": None})  # registry text over literals only
    theirs = torch_layer(example.type, args, "meta", None)
    assert repr(built) == repr(theirs)
    assert [(k, v.shape) for k, v in built.state_dict().items()] == [
        (k, v.shape) for k, v in theirs.state_dict().items()]
    layer = built.layers[0]
    assert (layer.norm_first, layer.self_attn.batch_first, layer.activation.__name__) == (
        args.get("norm_first", False), args.get("batch_first", False), args.get("activation", "relu"))


def test_construct_stack_with_a_norm_expression() -> None:
    from netspec.ops.transformer import construct_stack

    text = construct_stack("TransformerDecoder", {"d_model": "512", "nhead": "8", "num_layers": "depth",
                                                  "norm": "depth > 1", "device": "device", "dtype": "dtype"})
    assert text == ("nn.TransformerDecoder(nn.TransformerDecoderLayer(512, 8, device=device, dtype=dtype), depth, "
                    "norm=nn.LayerNorm(512, device=device, dtype=dtype) if (depth > 1) else None)")
