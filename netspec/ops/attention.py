"""Attention: nn.MultiheadAttention, called with (query, key, value) and returning (output, weights), and the
functional F.scaled_dot_product_attention that hand-written transformers call."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._core import (
    REGISTRY,
    Arg,
    Bool,
    LayerType,
    Op,
    PosInt,
    Probability,
    ShapeError,
    Tensor,
    broadcast,
    check_float,
    check_inferred,
    count_product,
    dim_add,
    fmt_shape,
    read_attribute,
    same_dims,
)
from .examples import Input, OpExample, Ref


def _check(args: dict[str, Any]) -> None:
    if args["embed_dim"] % args["num_heads"]:
        raise ShapeError(f"embed_dim {args['embed_dim']} is not divisible by num_heads {args['num_heads']}",
                         "num_heads", "bad-groups")


def _rule(args: dict[str, Any], inputs: Sequence[Tensor]) -> tuple[Any, dict[str, Any]]:
    query, key, value = inputs
    for x in inputs:
        check_float(x, "MultiheadAttention")
        if x.rank not in (2, 3):
            raise ShapeError(f"MultiheadAttention expects 2-D or 3-D query, key and value, found {fmt_shape(x.shape)}",
                             code="rank-mismatch")
    if not query.rank == key.rank == value.rank:
        raise ShapeError("MultiheadAttention expects query, key and value of one rank", code="rank-mismatch")
    inferred = check_inferred(args, "embed_dim", query.shape[-1], "query features")
    if (args.get("kdim") is None and not same_dims(key.shape[-1], query.shape[-1])) or (args.get(
            "vdim") is None and not same_dims(value.shape[-1], query.shape[-1])):
        raise ShapeError(f"key {fmt_shape(key.shape)} and value {fmt_shape(value.shape)} must have query's "
                         f"{query.shape[-1]} features (or set kdim and vdim)")
    _check({**args, **inferred})
    batch_first = args.get("batch_first", False) and query.rank == 3
    seq = 1 if batch_first else 0
    if not same_dims(key.shape[seq], value.shape[seq]):
        raise ShapeError(f"key {fmt_shape(key.shape)} and value {fmt_shape(value.shape)} differ in length")
    out = Tensor(query.shape, query.dtype)
    if not args.get("__need_weights__", True):
        return (out, None), inferred
    length, source = query.shape[seq], key.shape[seq]
    extra = int(bool(args.get("add_bias_kv"))) + int(bool(args.get("add_zero_attn")))  # key positions torch adds
    source = dim_add(source, extra)
    heads = () if args.get("__average_attn_weights__", True) else (args["num_heads"],)
    if query.rank == 2:
        weights = Tensor((*heads, length, source), query.dtype)
    else:
        batch = query.shape[0 if batch_first else 1]
        weights = Tensor((batch, *heads, length, source), query.dtype)
    return (out, weights), inferred


def _count(args: dict[str, Any]) -> int:
    embed = args["embed_dim"]
    kdim, vdim = args.get("kdim") or embed, args.get("vdim") or embed
    bias = args.get("bias", True)
    proj = embed * (embed + kdim + vdim) + (3 * embed if bias else 0)
    out = embed * embed + (embed if bias else 0)
    kv = 2 * embed if args.get("add_bias_kv") else 0
    return int(proj + out + kv)


def _macs(args: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Any:
    """The q, k, v projections, the QK^T and AV batched products, and out_proj (F.multi_head_attention_forward's
    linear/bmm calls, or the two products scaled_dot_product_attention counts for).  add_bias_kv and
    add_zero_attn each add one key position."""
    query, key, value = inputs
    embed = args["embed_dim"]
    seq = 1 if args.get("batch_first", False) and query.rank == 3 else 0
    source = dim_add(key.shape[seq], int(bool(args.get("add_bias_kv"))) + int(bool(args.get("add_zero_attn"))))
    rows = query.shape[:-1]  # target length x batch
    terms = [count_product((*query.shape, embed)), count_product((*key.shape, embed)),
             count_product((*value.shape, embed)), count_product((*rows, source, 2 * embed)),
             count_product((*rows, embed * embed))]
    if all(isinstance(t, int) for t in terms):
        return sum(terms)
    return " + ".join(str(t) for t in terms)


def _read_back(module: Any, name: str) -> Any:
    """dump: the constructor's arguments, as the module keeps them (kdim/vdim are embed_dim when not given)."""
    if name == "bias":
        return module.in_proj_bias is not None
    if name == "add_bias_kv":
        return module.bias_k is not None
    if name in ("kdim", "vdim"):
        value = getattr(module, name)
        return None if value == module.embed_dim else value
    return read_attribute(module, name)


REGISTRY.add_layer(LayerType(
    name="MultiheadAttention", family="attention", rule=_rule, count=_count, factory=True, positional=2, n_inputs=3,
    check=_check, macs=_macs, outputs=2, read_back=_read_back,
    summary="attention over (query, key, value); returns (output, weights): unpack it, `x, _ = attn(x, x, x)`",
    call_args=(Arg("need_weights", Bool, True), Arg("average_attn_weights", Bool, True)),
    args=(
        Arg("embed_dim", PosInt, inferred=True),
        Arg("num_heads", PosInt),
        Arg("dropout", Probability, 0.0),
        Arg("bias", Bool, True, doc="If true, adds bias to the input / output projection layers."),
        Arg("add_bias_kv", Bool, False),
        Arg("add_zero_attn", Bool, False),
        Arg("kdim", PosInt | None, None),
        Arg("vdim", PosInt | None, None),
        Arg("batch_first", Bool, False),
    ),
))


# ---------------------------------------------------------------- F.scaled_dot_product_attention


def _sdpa(bound: dict[str, Any]) -> Tensor:
    """torch's rules: q (..., L, E), k (..., S, E), v (..., S, Ev) of one floating dtype, batch dims broadcast
    (with enable_gqa, key/value heads at dim -3 divide the query's), an optional bool mask or one of the
    query's dtype broadcast to (..., L, S), never together with is_causal; the output is (..., L, Ev)."""
    q, k, v = bound["query"], bound["key"], bound["value"]
    if min(q.rank, k.rank, v.rank) < 2:
        raise ShapeError(f"query, key and value need at least 2 dims, found {q.rank}, {k.rank} and {v.rank}",
                         code="rank-mismatch")
    if not q.dtype == k.dtype == v.dtype:
        raise ShapeError(f"query, key and value must have one dtype, found {q.dtype}, {k.dtype} and {v.dtype}",
                         code="dtype-mismatch")
    check_float(q, "scaled_dot_product_attention")
    if not same_dims(q.shape[-1], k.shape[-1]):
        raise ShapeError(f"query and key must share their last dim, found {q.shape[-1]} and {k.shape[-1]}", "key")
    if not same_dims(k.shape[-2], v.shape[-2]):
        raise ShapeError(f"key and value must have one length (dim -2), found {k.shape[-2]} and {v.shape[-2]}",
                         "value")
    kb, vb = _grouped(q, k, "key", bound.get("enable_gqa", False)), _grouped(q, v, "value",
                                                                             bound.get("enable_gqa", False))
    batch = broadcast(broadcast(q.shape[:-2], kb), vb)
    mask = bound.get("attn_mask")
    if mask is not None:
        _check_mask(mask, q, (*batch, q.shape[-2], k.shape[-2]), bool(bound.get("is_causal")))
    scale = bound.get("scale")
    if scale is not None and not (isinstance(scale, (int, float)) and not isinstance(scale, bool)):
        raise ShapeError(f"scale expects a number, found {scale!r}", "scale", "bad-value")
    return Tensor((*batch, q.shape[-2], v.shape[-1]), q.dtype)


def _grouped(q: Tensor, kv: Tensor, name: str, gqa: bool) -> tuple[Any, ...]:
    """key's (or value's) batch dims as they meet the query's: with enable_gqa its heads count as the query's."""
    batch = kv.shape[:-2]
    if gqa and (q.rank < 3 or kv.rank < 3):  # torch reads the heads at dim -3
        raise ShapeError("enable_gqa needs heads at dim -3: query, key and value of at least 3 dims", name,
                         "rank-mismatch")
    if not gqa:
        return batch
    heads, kv_heads = q.shape[-3], kv.shape[-3]
    if isinstance(heads, int) and isinstance(kv_heads, int) and (kv_heads == 0 or heads % kv_heads):
        raise ShapeError(f"with enable_gqa the {name} heads must divide the query heads, found {kv_heads} and "
                         f"{heads}", name)
    return (*batch[:-1], heads)


def _check_mask(mask: Any, q: Tensor, scores: tuple[Any, ...], causal: bool) -> None:
    if not isinstance(mask, Tensor):
        raise ShapeError(f"attn_mask expects a tensor or None, found {mask!r}", "attn_mask", "bad-value")
    if causal:
        raise ShapeError("give attn_mask or is_causal=True, not both (torch refuses the two together)", "attn_mask",
                         "bad-value")
    if mask.dtype != "bool" and mask.dtype != q.dtype:
        raise ShapeError(f"attn_mask must be bool or the query's dtype {q.dtype}, found {mask.dtype}", "attn_mask",
                         "dtype-mismatch")
    if mask.rank > len(scores) or not all(m == 1 or same_dims(m, d) for m, d in zip(
            reversed(mask.shape), reversed(scores), strict=False)):  # a symbol may be the size it meets
        raise ShapeError(f"attn_mask {fmt_shape(mask.shape)} does not broadcast to the scores {fmt_shape(scores)}",
                         "attn_mask")


def _sdpa_macs(bound: dict[str, Any], inputs: Sequence[Tensor], out: Any) -> Any:
    """FlopCounterMode counts the two batched products, QK^T and AV: L * S * (E + Ev) per batch element."""
    q, k = bound["query"], bound["key"]
    return _sum_products(out.shape[:-1], k.shape[-2], q.shape[-1], out.shape[-1])


def _sum_products(rows: tuple[Any, ...], source: Any, e: Any, ev: Any) -> Any:
    first, second = count_product((*rows, source, e)), count_product((*rows, source, ev))
    if isinstance(first, int) and isinstance(second, int):
        return first + second
    return f"{first} + {second}"


REGISTRY.add_op(Op(
    "scaled_dot_product_attention", "attention", "F.scaled_dot_product_attention", ("query", "key", "value"),
    (Arg("attn_mask", Any, None, doc="A bool mask (True: take part) or a float mask added to the scores, "
         "broadcast to (..., L, S)."),
     Arg("dropout_p", Probability, 0.0, doc="Dropout probability on the attention weights, in training mode only "
         "(generated code passes 0.0 in evaluation, as nn.MultiheadAttention does)."),
     Arg("is_causal", Bool, False, doc="A causal mask: position i attends to positions <= i."),
     Arg("scale", Any, None, doc="The scale of the scores (null: 1 / sqrt(E))."),
     Arg("enable_gqa", Bool, False, doc="Grouped-query attention: key/value heads (dim -3) divide the query's.")),
    _sdpa, raw_args=("attn_mask", "scale"), keyword_only=("scale", "enable_gqa"), macs=_sdpa_macs,
    training_only=("dropout_p",),
    summary="softmax(q k^T * scale + mask) v: attention with causal masking and grouped KV heads"))

_Q, _K, _V, _M = Ref("q"), Ref("k"), Ref("v"), Ref("mask")


def _qkv(q: tuple[int, ...], k: tuple[int, ...], v: tuple[int, ...], dtype: str = "float32") -> dict[str, Input]:
    return {"q": Input(q, dtype), "k": Input(k, dtype), "v": Input(v, dtype)}


REGISTRY.add_examples(
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), inputs=_qkv((2, 4, 5, 8), (2, 4, 6, 8), (2, 4, 6, 3))),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), {"is_causal": True}, inputs=_qkv(
        (2, 4, 5, 8), (2, 4, 5, 8), (2, 4, 5, 8)), label="causal"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), inputs=_qkv((5, 8), (6, 8), (6, 3)), label="2d"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), inputs=_qkv((2, 4, 5, 8), (1, 4, 6, 8), (1, 4, 6, 3)),
              label="broadcast"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), {"attn_mask": _M, "scale": 0.5}, inputs={
        **_qkv((2, 4, 5, 8), (2, 4, 6, 8), (2, 4, 6, 3)), "mask": Input((5, 6), "bool")}, label="mask"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), {"attn_mask": _M}, inputs={
        **_qkv((2, 4, 5, 8), (2, 4, 6, 8), (2, 4, 6, 3), "float64"), "mask": Input((2, 1, 5, 6), "float64")},
              label="float-mask"),
)
REGISTRY.add_examples(OpExample("scaled_dot_product_attention", (_Q, _K, _V), {"enable_gqa": True},
                                inputs=_qkv((2, 4, 5, 8), (2, 2, 6, 8), (2, 2, 6, 3)), label="gqa"))  # torch >= 2.5
REGISTRY.add_examples(  # PyTorch refuses each of these; netspec must refuse them too
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), inputs=_qkv((8,), (8,), (8,)), label="1d"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), inputs=_qkv((2, 4, 5, 8), (2, 2, 6, 8), (2, 2, 6, 3)),
              label="heads"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), inputs=_qkv((2, 4, 5, 8), (2, 4, 6, 8), (2, 4, 7, 3)),
              label="lengths"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), inputs=_qkv((2, 5, 8), (2, 6, 7), (2, 6, 3)),
              label="widths"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), {"attn_mask": _M, "is_causal": True}, inputs={
        **_qkv((2, 5, 8), (2, 5, 8), (2, 5, 8)), "mask": Input((5, 5), "bool")}, label="mask-and-causal"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), {"attn_mask": _M}, inputs={
        **_qkv((2, 5, 8), (2, 5, 8), (2, 5, 8)), "mask": Input((5, 5), "int64")}, label="int-mask"),
    OpExample("scaled_dot_product_attention", (_Q, _K, _V), inputs=_qkv((2, 5, 8), (2, 5, 8), (2, 5, 8), "int32"),
              label="int"),
    refused=True,
)
