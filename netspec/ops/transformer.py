"""The Transformer encoder/decoder layers and stacks: nn.TransformerEncoderLayer, nn.TransformerDecoderLayer,
nn.TransformerEncoder, nn.TransformerDecoder and nn.Transformer.

A layer runs over a sequence of ``d_model`` features, (S, N, E), (N, S, E) with ``batch_first``, or (S, E)
unbatched, and returns a tensor of its (first) input's shape.  ``d_model`` is inferred from that input's last
dim, as Linear's ``in_features`` is (written, it is checked).  A decoder layer and a decoder are called with
``(tgt, memory)``, a Transformer with ``(src, tgt)``: two tensors of one rank and one batch, each of
``d_model`` features; the sequences may differ in length.

**The stacks are written flat.**  nn.TransformerEncoder takes a *layer* (``nn.TransformerEncoder(encoder_layer,
num_layers, norm=None)``), which it deep-copies ``num_layers`` times; in a spec the layer's arguments are
written on the stack itself::

    enc: {type: TransformerEncoder, num_layers: 6, nhead: 8, dim_feedforward: 2048, batch_first: true, norm: true}

and generated code builds ``nn.TransformerEncoder(nn.TransformerEncoderLayer(...), 6, norm=nn.LayerNorm(...))``,
so the module, its ``repr`` and its state_dict keys (``layers.0.self_attn.in_proj_weight``, ...,
``norm.weight``) are torch's.  Flat rather than a nested ``encoder_layer: {...}`` mapping because

- every layer of the stack is a copy of the one template, so the template's arguments *are* the stack's: the
  flat form says the same with one level less;
- it is how torch's own nn.Transformer is configured (``d_model``, ``nhead``, ``dim_feedforward``, ... on the
  Transformer, which builds its layers and their norms from them), and what this module takes for it;
- ``d_model`` is inferred from the input exactly as for TransformerEncoderLayer, and one ``d_model`` also
  sizes ``norm``; every argument stays a plain value with one description and one default (the grammar, the
  JSON Schema, ``--set layers.enc.nhead=4``, ``netspec dump``).

``norm: true`` is the final LayerNorm nn.Transformer gives its stacks, ``nn.LayerNorm(d_model,
eps=layer_norm_eps, bias=bias)``; any other module as ``norm`` cannot be written.  ``activation`` is
``"relu"`` or ``"gelu"`` (torch's strings; a callable cannot be written).

Only the tensor inputs are taken in forward.  torch's masks (``src_mask``, ``*_key_padding_mask``) are tensors,
which a layer's keyword arguments cannot be; and the causal hints (``is_causal``, ``tgt_is_causal``,
``memory_is_causal``, ``src_is_causal``) are left out on purpose: torch refuses ``True`` without the mask it
describes ("Need attn_mask if specifying the is_causal hint") except on the eval fast path, where it ignores the
hint and attends to every position, so ``True`` is never sound without a mask and ``False`` is the default.

MACs are those FlopCounterMode counts on the meta device and, on CPU, in training mode (a freshly built module
trains): each attention's q, k, v and output projections and its QK^T and AV products (MultiheadAttention's
count), and the two feed-forward Linears.  On CPU in eval mode the fused kernels hide the attention products
from it (docs/spec.md, "Counts").
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from ._core import (
    REGISTRY,
    Arg,
    Bool,
    Dim,
    LayerType,
    NonNegInt,
    PosInt,
    PosReal,
    Probability,
    ShapeError,
    Tensor,
    check_float,
    check_inferred,
    check_weight_dtype,
    count_product,
    fmt_shape,
    same_dims,
)
from .examples import Input as I
from .examples import LayerExample as L

Activation = Literal["relu", "gelu"]

# What a TransformerEncoderLayer and a TransformerDecoderLayer take, in torch's order (the stacks and
# nn.Transformer take the same, the stacks with their own arguments after them).
_D_MODEL = Arg("d_model", PosInt, inferred=True)
_NHEAD = Arg("nhead", PosInt)
_LAYER_REST = (
    Arg("dim_feedforward", NonNegInt, 2048),
    Arg("dropout", Probability, 0.1, doc="The dropout probability of the attention weights, of the feed-forward "
        "network and of each residual branch."),
    Arg("activation", Activation, "relu", doc="The activation of the feed-forward network's hidden layer: 'relu' or "
        "'gelu'."),
    Arg("layer_norm_eps", PosReal, 1e-5),
    Arg("batch_first", Bool, False),
    Arg("norm_first", Bool, False),
    Arg("bias", Bool, True, doc="If false, the Linear and LayerNorm layers (attention projections included) learn "
        "no additive bias."),
)
_NUM_LAYERS = Arg("num_layers", PosInt, doc="The number of layers in the stack, each a copy of the one the other "
                  "arguments describe.")
_NORM = Arg("norm", Bool, False, doc="If true, a final LayerNorm(d_model, eps=layer_norm_eps, bias=bias) after the "
            "last layer, as nn.Transformer gives its stacks.")


# ---------------------------------------------------------------- shapes


def _check(args: dict[str, Any]) -> None:
    """nn.MultiheadAttention's constructor checks, which the layers' constructors reach."""
    d_model, nhead = args.get("d_model"), args.get("nhead", 8)
    if d_model is None:
        return
    if d_model <= 0:
        raise ShapeError(f"d_model must be greater than 0, found {d_model} features", "d_model",
                         hint="give the input at least one feature in its last dim")
    if d_model % nhead:
        raise ShapeError(f"d_model {d_model} is not divisible by nhead {nhead}", "nhead", "bad-groups",
                         hint=f"use an nhead that divides {d_model}")


def _sequence(x: Tensor, name: str, what: str) -> None:
    check_float(x, name)
    check_weight_dtype(x, name)
    if x.rank not in (2, 3):
        raise ShapeError(f"{name} expects {what} of 2 dims (S, E) or 3 dims ((S, N, E), or (N, S, E) with "
                         f"batch_first), found a {x.rank}-D input {fmt_shape(x.shape)}", code="rank-mismatch")


def _features(args: dict[str, Any], x: Tensor, name: str) -> dict[str, Any]:
    inferred = check_inferred(args, "d_model", x.shape[-1], "input features")
    _check({**args, **inferred})
    return inferred


def _one(name: str) -> Callable[[dict[str, Any], Sequence[Tensor]], tuple[Tensor, dict[str, Any]]]:
    """An encoder layer or stack: src (S, N, E), (N, S, E) or (S, E) in, the same shape out."""

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        (src,) = inputs
        _sequence(src, name, "a sequence")
        inferred = _features(args, src, name)
        return Tensor(src.shape, src.dtype), inferred

    return rule


def _two(name: str, first: str, second: str, out: int = 0) -> Callable[[dict[str, Any], Sequence[Tensor]],
                                                                        tuple[Tensor, dict[str, Any]]]:
    """A decoder layer or stack (tgt, memory), or a Transformer (src, tgt): two sequences of one rank, one batch
    and d_model features each; out comes the shape of input ``out``, the decoder's input (tgt)."""

    def rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Tensor, dict[str, Any]]:
        a, b = inputs
        _sequence(a, name, first)
        _sequence(b, name, second)
        if a.rank != b.rank:
            raise ShapeError(f"{name} expects {first} and {second} of one rank, found {fmt_shape(a.shape)} and "
                             f"{fmt_shape(b.shape)}", code="rank-mismatch",
                             hint="batch both, or neither (unbatched: (S, E))")
        inferred = _features(args, a, name)
        if not same_dims(b.shape[-1], inferred["d_model"]):
            raise ShapeError(f"{name} expects {second} of d_model={inferred['d_model']} features, like {first}, found "
                             f"{fmt_shape(b.shape)}")
        if a.rank == 3:
            batch = 0 if args.get("batch_first", False) else 1
            if not same_dims(a.shape[batch], b.shape[batch]):
                where = "dim 0, as batch_first" if batch == 0 else "dim 1; dim 0 with batch_first"
                raise ShapeError(f"{name} expects {first} and {second} of one batch size ({where}), found "
                                 f"{fmt_shape(a.shape)} and {fmt_shape(b.shape)}")
        return Tensor(inputs[out].shape, a.dtype), inferred

    return rule


# ---------------------------------------------------------------- counts


def _norms(args: dict[str, Any], n: int) -> int:
    d: int = args["d_model"]
    return n * d * (2 if args.get("bias", True) else 1)


def _attention(args: dict[str, Any]) -> int:
    d: int = args["d_model"]
    return 4 * d * d + (4 * d if args.get("bias", True) else 0)


def _feed_forward(args: dict[str, Any]) -> int:
    d: int = args["d_model"]
    f: int = args.get("dim_feedforward", 2048)
    return 2 * d * f + (f + d if args.get("bias", True) else 0)


def _encoder_layer_count(args: dict[str, Any]) -> int:
    return _attention(args) + _feed_forward(args) + _norms(args, 2)


def _decoder_layer_count(args: dict[str, Any]) -> int:
    return 2 * _attention(args) + _feed_forward(args) + _norms(args, 3)


def _stack_count(layer: Callable[[dict[str, Any]], int]) -> Callable[[dict[str, Any]], int]:
    """num_layers copies of the layer, and the final LayerNorm."""
    return lambda args: args["num_layers"] * layer(args) + (_norms(args, 1) if args.get("norm", False) else 0)


def _transformer_count(args: dict[str, Any]) -> int:
    encoders: int = args.get("num_encoder_layers", 6)
    decoders: int = args.get("num_decoder_layers", 6)
    return encoders * _encoder_layer_count(args) + decoders * _decoder_layer_count(args) + _norms(args, 2)


def _total(terms: Sequence[tuple[tuple[Dim, ...], int]]) -> Dim:
    """The sum of ``count_product(dims + (coefficient,))`` over ``terms``, like products merged: an int, or the
    text of a sum of products."""
    merged: dict[tuple[Dim, ...], int] = {}
    for dims, coefficient in terms:
        merged[dims] = merged.get(dims, 0) + coefficient
    counts = [count_product((*dims, c)) for dims, c in merged.items() if c]
    if all(isinstance(c, int) for c in counts):
        return sum(int(c) for c in counts)
    return " + ".join(str(c) for c in counts if c != 0)


def _seq_dim(args: dict[str, Any], x: Tensor) -> int:
    return 1 if args.get("batch_first", False) and x.rank == 3 else 0


def _attention_macs(args: dict[str, Any], query: Tensor, memory: Tensor) -> list[tuple[tuple[Dim, ...], int]]:
    """MultiheadAttention's count for (query, memory, memory): q and out_proj over the query's rows, k and v over
    the memory's, and QK^T and AV (query rows x memory length x d_model each)."""
    d = args["d_model"]
    rows, keys = query.shape[:-1], memory.shape[:-1]
    length = memory.shape[_seq_dim(args, memory)]
    return [(rows, 2 * d * d), (keys, 2 * d * d), ((*rows, length), 2 * d)]


def _feed_forward_macs(args: dict[str, Any], x: Tensor) -> list[tuple[tuple[Dim, ...], int]]:
    return [(x.shape[:-1], 2 * args["d_model"] * args.get("dim_feedforward", 2048))]


def _encoder_terms(args: dict[str, Any], src: Tensor, n: int = 1) -> list[tuple[tuple[Dim, ...], int]]:
    return [(dims, n * c) for dims, c in _attention_macs(args, src, src) + _feed_forward_macs(args, src)]


def _decoder_terms(args: dict[str, Any], tgt: Tensor, memory: Tensor, n: int = 1
                   ) -> list[tuple[tuple[Dim, ...], int]]:
    terms = _attention_macs(args, tgt, tgt) + _attention_macs(args, tgt, memory) + _feed_forward_macs(args, tgt)
    return [(dims, n * c) for dims, c in terms]


def _encoder_macs(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Dim:
    return _total(_encoder_terms(args, inputs[0], args.get("num_layers", 1)))


def _decoder_macs(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Dim:
    return _total(_decoder_terms(args, inputs[0], inputs[1], args.get("num_layers", 1)))


def _transformer_macs(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Dim:
    src, tgt = inputs  # the memory the encoder gives has src's shape
    return _total(_encoder_terms(args, src, args.get("num_encoder_layers", 6))
                  + _decoder_terms(args, tgt, src, args.get("num_decoder_layers", 6)))


# ---------------------------------------------------------------- dump


def _layer_read_back(layer: Any, name: str) -> Any:
    """An encoder or decoder layer's constructor argument, read off the module (AttributeError: unwritable)."""
    if name == "d_model":
        return layer.self_attn.embed_dim
    if name == "nhead":
        return layer.self_attn.num_heads
    if name == "dim_feedforward":
        return layer.linear1.out_features
    if name == "dropout":
        return layer.dropout.p
    if name == "activation":
        # F.relu or F.gelu (a builtin of torch._C._nn), as torch's strings give
        function = getattr(layer.activation, "__name__", None), getattr(layer.activation, "__module__", None)
        if function in (("relu", "torch.nn.functional"), ("gelu", "torch._C._nn"), ("gelu", "torch.nn.functional")):
            return function[0]
        raise AttributeError(name)  # a callable or a module: no spec spelling
    if name == "layer_norm_eps":
        return layer.norm1.eps
    if name == "batch_first":
        return layer.self_attn.batch_first
    if name == "norm_first":
        return layer.norm_first
    if name == "bias":
        return layer.linear1.bias is not None
    raise AttributeError(name)


def _final_norm(norm: Any, layer: Any) -> bool:
    """``norm: true`` where ``norm`` is the LayerNorm it builds; AttributeError for a norm a spec cannot write."""
    if norm is None:
        return False
    d_model, bias = layer.self_attn.embed_dim, layer.linear1.bias is not None
    if type(norm).__name__ == "LayerNorm" and tuple(norm.normalized_shape) == (d_model,) and \
            norm.eps == layer.norm1.eps and norm.elementwise_affine and (norm.bias is not None) == bias:
        return True
    raise AttributeError("norm")


def _stack_read_back(stack: Any, name: str) -> Any:
    if name == "num_layers":
        return stack.num_layers
    if name == "norm":
        return _final_norm(stack.norm, stack.layers[0])
    if name in ("enable_nested_tensor", "mask_check"):
        return getattr(stack, name)
    return _layer_read_back(stack.layers[0], name)


def _transformer_read_back(model: Any, name: str) -> Any:
    encoder, decoder = model.encoder, model.decoder
    if name == "num_encoder_layers":
        return encoder.num_layers
    if name == "num_decoder_layers":
        return decoder.num_layers
    if not _final_norm(encoder.norm, encoder.layers[0]) or not _final_norm(decoder.norm, decoder.layers[0]):
        raise AttributeError(name)
    return _layer_read_back(encoder.layers[0], name) if name != "d_model" else model.d_model


# ---------------------------------------------------------------- spelling

# nn.TransformerEncoder and nn.TransformerDecoder take a layer module: their LayerType writes its own constructor
# call (``construct``), the one a person writes.
def construct_stack(stack: str, values: dict[str, str]) -> str:
    """The call a person writes for a stack, ``nn.TransformerEncoder(nn.TransformerEncoderLayer(512, 8,
    batch_first=True, device=device, dtype=dtype), 6, norm=nn.LayerNorm(512, device=device, dtype=dtype))``, from
    the source text of the arguments generated code passes (name -> text, in the entry's order: the inferred and
    required ones and those that differ from their default; ``device``/``dtype`` last).

    """
    own = ("num_layers", "norm", "enable_nested_tensor", "mask_check", "device", "dtype")
    factory = "".join(f", {k}={values[k]}" for k in ("device", "dtype") if k in values)
    layer = [text if name in ("d_model", "nhead") else f"{name}={text}"
             for name, text in values.items() if name not in own]
    parts = [f"nn.{stack}Layer({', '.join(layer)}{factory})", values["num_layers"]]
    norm = values.get("norm", "False")
    if norm != "False":
        options = "".join(f", {key}={values[name]}" for name, key in (("layer_norm_eps", "eps"), ("bias", "bias"))
                          if name in values)
        final = f"nn.LayerNorm({values['d_model']}{options}{factory})"
        test = norm if norm.isidentifier() else f"({norm})"  # a block argument, or an expression of them
        parts.append(f"norm={final}" if norm == "True" else f"norm={final} if {test} else None")
    parts += [f"{name}={values[name]}" for name in ("enable_nested_tensor", "mask_check") if name in values]
    return f"nn.{stack}({', '.join(parts)})"


# ---------------------------------------------------------------- entries

REGISTRY.add_layer(LayerType(
    name="TransformerEncoderLayer", family="transformer", rule=_one("TransformerEncoderLayer"),
    count=_encoder_layer_count, factory=True, positional=2, check=_check, macs=_encoder_macs,
    read_back=_layer_read_back,
    summary="self-attention and a feed-forward network over (S, N, E), (N, S, E) or (S, E); d_model is inferred",
    args=(_D_MODEL, _NHEAD, *_LAYER_REST),
))
REGISTRY.add_layer(LayerType(
    name="TransformerDecoderLayer", family="transformer", rule=_two("TransformerDecoderLayer", "tgt", "memory"),
    count=_decoder_layer_count, factory=True, positional=2, n_inputs=2, check=_check, macs=_decoder_macs,
    read_back=_layer_read_back,
    summary="self-attention, attention over memory and a feed-forward network, called with (tgt, memory); "
            "d_model is inferred",
    args=(_D_MODEL, _NHEAD, *_LAYER_REST),
))
REGISTRY.add_layer(LayerType(
    name="TransformerEncoder", family="transformer", rule=_one("TransformerEncoder"),
    count=_stack_count(_encoder_layer_count), factory=True, check=_check, macs=_encoder_macs,
    read_back=_stack_read_back, construct=lambda v: construct_stack("TransformerEncoder", v),
    summary="num_layers copies of a TransformerEncoderLayer, whose arguments are written here, then a LayerNorm if "
            "norm: nn.TransformerEncoder(nn.TransformerEncoderLayer(...), num_layers, norm=...); d_model is inferred",
    args=(_D_MODEL, _NHEAD, *_LAYER_REST, _NUM_LAYERS, _NORM, Arg("enable_nested_tensor", Bool, True),
          Arg("mask_check", Bool, True)),
))
REGISTRY.add_layer(LayerType(
    name="TransformerDecoder", family="transformer", rule=_two("TransformerDecoder", "tgt", "memory"),
    count=_stack_count(_decoder_layer_count), factory=True, n_inputs=2, check=_check, macs=_decoder_macs,
    read_back=_stack_read_back, construct=lambda v: construct_stack("TransformerDecoder", v),
    summary="num_layers copies of a TransformerDecoderLayer, whose arguments are written here, then a LayerNorm if "
            "norm, called with (tgt, memory): nn.TransformerDecoder(nn.TransformerDecoderLayer(...), num_layers, "
            "norm=...); d_model is inferred",
    args=(_D_MODEL, _NHEAD, *_LAYER_REST, _NUM_LAYERS, _NORM),
))
REGISTRY.add_layer(LayerType(
    name="Transformer", family="transformer", rule=_two("Transformer", "src", "tgt", out=1), count=_transformer_count,
    factory=True, n_inputs=2, check=_check, macs=_transformer_macs, read_back=_transformer_read_back,
    summary="an encoder and a decoder stack, each with a final LayerNorm, called with (src, tgt); out comes "
            "tgt's shape; d_model is inferred",
    args=(_D_MODEL, Arg("nhead", PosInt, 8), Arg("num_encoder_layers", PosInt, 6),
          Arg("num_decoder_layers", PosInt, 6), *_LAYER_REST),
))


# ---------------------------------------------------------------- worked examples
# The test matrix (netspec/ops/examples.py): tests/test_registry.py holds each one against real PyTorch (the
# stacks built as nn.TransformerEncoder(nn.TransformerEncoderLayer(...), num_layers, norm=...)).  Sequences of
# 8 features and 2 heads; (S, N, E) unless batch_first, (S, E) unbatched.

_SMALL = {"nhead": 2, "dim_feedforward": 16}
_PRE = {"batch_first": True, "norm_first": True, "activation": "gelu"}
_BARE = {"bias": False, "layer_norm_eps": 1e-6}
# nn.TransformerEncoder warns at construction when its nested-tensor fast path cannot be used (not batch_first,
# norm_first, ...) unless enable_nested_tensor is false; the examples that would warn say so.
_QUIET = {"enable_nested_tensor": False}

REGISTRY.add_examples(
    L("TransformerEncoderLayer", _SMALL, (I((5, 3, 8)),)),
    L("TransformerEncoderLayer", {**_SMALL, **_PRE}, (I((3, 5, 8)),), "batch-first-norm-first"),
    L("TransformerEncoderLayer", {"d_model": 8, **_SMALL, **_BARE}, (I((5, 8)),), "unbatched"),
    L("TransformerEncoderLayer", {"nhead": 1, "dim_feedforward": 0, "dropout": 0.0}, (I((1, 1, 4)),), "ffn-0"),
    L("TransformerDecoderLayer", _SMALL, (I((4, 3, 8)), I((5, 3, 8)))),
    L("TransformerDecoderLayer", {**_SMALL, **_PRE}, (I((3, 4, 8)), I((3, 6, 8))), "batch-first-norm-first"),
    L("TransformerDecoderLayer", {**_SMALL, **_BARE, "batch_first": True}, (I((4, 8)), I((6, 8))), "unbatched"),
    L("TransformerEncoder", {**_SMALL, "num_layers": 2, **_QUIET}, (I((5, 3, 8)),)),
    L("TransformerEncoder", {**_SMALL, "num_layers": 2, "batch_first": True, "norm": True}, (I((3, 5, 8)),),
      "batch-first-norm"),
    L("TransformerEncoder", {**_SMALL, **_PRE, **_BARE, "num_layers": 1, "norm": True, **_QUIET}, (I((5, 8)),),
      "unbatched-norm-first"),
    L("TransformerDecoder", {**_SMALL, "num_layers": 2}, (I((4, 3, 8)), I((5, 3, 8)))),
    L("TransformerDecoder", {**_SMALL, **_PRE, "num_layers": 2, "norm": True}, (I((3, 4, 8)), I((3, 6, 8))),
      "batch-first-norm-first"),
    L("TransformerDecoder", {**_SMALL, **_BARE, "num_layers": 1, "norm": True}, (I((4, 8)), I((6, 8))),
      "unbatched"),
    L("Transformer", {**_SMALL, "num_encoder_layers": 1, "num_decoder_layers": 2}, (I((5, 3, 8)), I((4, 3, 8)))),
    L("Transformer", {**_SMALL, **_PRE, "num_encoder_layers": 2, "num_decoder_layers": 1},
      (I((3, 5, 8)), I((3, 4, 8))), "batch-first-norm-first"),
    L("Transformer", {**_SMALL, **_BARE, "num_encoder_layers": 1, "num_decoder_layers": 1}, (I((5, 8)), I((4, 8))),
      "unbatched"),
    L("Transformer", {"num_encoder_layers": 1, "num_decoder_layers": 1, "dim_feedforward": 8},
      (I((2, 1, 16)), I((3, 1, 16))), "default-nhead"),
)
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    L("TransformerEncoderLayer", {"nhead": 3}, (I((5, 3, 8)),), "nhead", {"d_model": 8}),
    L("TransformerEncoderLayer", {"d_model": 6, "nhead": 2}, (I((5, 3, 8)),), "d-model-written-wrong"),
    L("TransformerEncoderLayer", _SMALL, (I((2, 5, 3, 8)),), "rank", {"d_model": 8}),
    L("TransformerEncoderLayer", _SMALL, (I((8,)),), "rank-1", {"d_model": 8}),
    L("TransformerEncoderLayer", _SMALL, (I((5, 3, 8), "int64"),), "int", {"d_model": 8}),
    L("TransformerDecoderLayer", _SMALL, (I((4, 3, 8)), I((5, 2, 8))), "batch", {"d_model": 8}),
    L("TransformerDecoderLayer", {**_SMALL, "batch_first": True}, (I((3, 4, 8)), I((2, 4, 8))), "batch-first-batch",
      {"d_model": 8}),
    L("TransformerDecoderLayer", _SMALL, (I((4, 3, 8)), I((5, 8))), "ranks", {"d_model": 8}),
    L("TransformerDecoderLayer", _SMALL, (I((4, 3, 8)), I((5, 3, 6))), "memory-features", {"d_model": 8}),
    L("TransformerEncoder", {"nhead": 4, "num_layers": 1, **_QUIET}, (I((5, 3, 6)),), "nhead", {"d_model": 6}),
    L("TransformerDecoder", {**_SMALL, "num_layers": 1}, (I((4, 8)), I((5, 3, 8))), "ranks", {"d_model": 8}),
    L("TransformerDecoder", {**_SMALL, "num_layers": 1}, (I((4, 3, 8)), I((5, 3, 4))), "memory-features",
      {"d_model": 8}),
    L("Transformer", {**_SMALL, "num_encoder_layers": 1, "num_decoder_layers": 1}, (I((5, 3, 8)), I((4, 2, 8))),
      "batch", {"d_model": 8}),
    L("Transformer", {**_SMALL, "num_encoder_layers": 1, "num_decoder_layers": 1}, (I((5, 3, 8)), I((4, 3, 6))),
      "tgt-features", {"d_model": 8}),
    L("Transformer", {"num_encoder_layers": 1, "num_decoder_layers": 1}, (I((5, 3, 12)), I((4, 3, 12))),
      "default-nhead", {"d_model": 12}),
    L("Transformer", {**_SMALL, "num_encoder_layers": 1, "num_decoder_layers": 1},
      (I((2, 5, 3, 8)), I((2, 4, 3, 8))), "rank", {"d_model": 8}),
    L("Transformer", {**_SMALL, "activation": "tanh"}, (I((5, 3, 8)), I((4, 3, 8))), "activation", {"d_model": 8}),
    L("TransformerEncoder", {**_SMALL, "num_layers": 1, "dropout": 1.5}, (I((5, 3, 8)),), "dropout", {"d_model": 8}),
    L("TransformerDecoder", {**_SMALL, "num_layers": 0}, (I((4, 3, 8)), I((5, 3, 8))), "no-layers", {"d_model": 8}),
    refused=True,
)
