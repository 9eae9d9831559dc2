"""Attention: nn.MultiheadAttention, called with (query, key, value) and returning (output, weights)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ._core import (
    REGISTRY,
    Arg,
    Bool,
    LayerType,
    PosInt,
    Probability,
    ShapeError,
    Tensor,
    check_float,
    check_inferred,
    count_product,
    dim_add,
    fmt_shape,
    read_attribute,
    same_dims,
)


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
