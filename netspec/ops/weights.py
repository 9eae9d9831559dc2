"""Facts about a built layer's own tensors: the shapes of its parameters, by name, from its complete arguments
(what a tie, ``lm_head.weight: model.embed_tokens.weight``, checks before anything is built), and which layers'
backward never reads their output.

Only the layer types a tie names in practice are listed (the linear, embedding, convolution and
normalisation layers); a tie to a parameter of any other type is refused, naming these.  Pure Python.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Shapes = dict[str, tuple[int, ...]]


def _linear(a: dict[str, Any]) -> Shapes:
    out: Shapes = {"weight": (a["out_features"], a["in_features"])}
    return {**out, "bias": (a["out_features"],)} if a.get("bias", True) else out


def _bilinear(a: dict[str, Any]) -> Shapes:
    out: Shapes = {"weight": (a["out_features"], a["in1_features"], a["in2_features"])}
    return {**out, "bias": (a["out_features"],)} if a.get("bias", True) else out


def _embedding(a: dict[str, Any]) -> Shapes:
    return {"weight": (a["num_embeddings"], a["embedding_dim"])}


def _conv(transposed: bool, n: int) -> Callable[[dict[str, Any]], Shapes]:
    def rule(a: dict[str, Any]) -> Shapes:
        k = a["kernel_size"]
        kernel = tuple(k) if isinstance(k, (list, tuple)) else (k,) * n
        groups = a.get("groups", 1)
        cin, cout = a["in_channels"], a["out_channels"]
        weight = (cin, cout // groups, *kernel) if transposed else (cout, cin // groups, *kernel)
        return {"weight": weight, **({"bias": (cout,)} if a.get("bias", True) else {})}
    return rule


def _normalized(a: dict[str, Any]) -> Shapes:
    shape = a["normalized_shape"]
    dims = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
    if not a.get("elementwise_affine", True):
        return {}
    return {"weight": dims, **({"bias": dims} if a.get("bias", True) else {})}


def _rms(a: dict[str, Any]) -> Shapes:
    shape = a["normalized_shape"]
    dims = tuple(shape) if isinstance(shape, (list, tuple)) else (shape,)
    return {"weight": dims} if a.get("elementwise_affine", True) else {}


def _channels(count: str, flag: str) -> Callable[[dict[str, Any]], Shapes]:
    def rule(a: dict[str, Any]) -> Shapes:
        return {"weight": (a[count],), "bias": (a[count],)} if a.get(flag, True) else {}
    return rule


PARAM_SHAPES: dict[str, Callable[[dict[str, Any]], Shapes]] = {
    "Linear": _linear, "Bilinear": _bilinear, "Embedding": _embedding,
    **{f"Conv{n}d": _conv(False, n) for n in (1, 2, 3)},
    **{f"ConvTranspose{n}d": _conv(True, n) for n in (1, 2, 3)},
    "LayerNorm": _normalized, "RMSNorm": _rms, "GroupNorm": _channels("num_channels", "affine"),
    **{f"BatchNorm{n}d": _channels("num_features", "affine") for n in (1, 2, 3)},
}

# The arguments that take a parameter away (bias=False, affine=False): set, a layer has every parameter it can.
_OPTIONAL = {"bias": True, "affine": True, "elementwise_affine": True}


def possible_params(layer_type: str, args: dict[str, Any]) -> frozenset[str]:
    """The parameters a layer of this type and size can have, whether or not these arguments keep them."""
    rule = PARAM_SHAPES.get(layer_type)
    return frozenset(rule({**args, **_OPTIONAL})) if rule is not None else frozenset()


# Layers whose backward reads their inputs and saved statistics, never their output: a later ``out += identity``
# may change that output in place (relu's backward reads its output: in place after relu breaks training).
OUTPUT_FREE_BACKWARD = frozenset({
    "Linear", "Bilinear", "Embedding", "LayerNorm", "GroupNorm", "RMSNorm", *(f"BatchNorm{n}d" for n in (1, 2, 3)),
    *(f"Conv{n}d" for n in (1, 2, 3)), *(f"ConvTranspose{n}d" for n in (1, 2, 3))})

__all__ = ["OUTPUT_FREE_BACKWARD", "PARAM_SHAPES", "Shapes", "possible_params"]
