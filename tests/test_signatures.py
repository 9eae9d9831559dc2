"""Generated source passes every spelling through the torch callable's real signature.

codegen writes an op call as ``spelling(tensors..., args...)``: the arguments a
spec gives positionally stay positional, in the order of ``Op.params``, unless
the op lists them as ``keyword_only``; keyword arguments keep their names; the
op's ``extra`` keywords are always added.  A layer's first ``positional``
constructor arguments are positional, the rest keywords, and a factory layer
gets ``device=`` and ``dtype=``.  Each use is checked here against
``inspect.signature`` of the torch callable, or, for builtins that have none,
against the ATen schemas of the operator (``torch._C._jit_get_schemas_for_operator``).
"""

from __future__ import annotations

import inspect
import typing
from dataclasses import dataclass
from typing import Any

import pytest
import torch
from torch import nn
from torch.nn import functional as F

from netspec.ops import LAYERS, OPS, LayerType, Op

# Spellings that are not torch callables, each with the reason.
SKIPPED = {"corr2d": "a helper netspec writes into the generated module itself (tests/test_params.py runs it)",
           "stochastic_depth": "torchvision.ops.stochastic_depth, written into the generated module as a helper "
                               "(tests/test_vocabulary.py runs it)"}


@dataclass(frozen=True)
class Param:
    name: str
    position: int | None  # None: keyword only
    keyword: bool = True  # False: positional only


Signature = list[Param]


def _from_inspect(func: Any) -> list[Signature] | None:
    try:
        sig = inspect.signature(func)
    except (TypeError, ValueError):
        return None
    kinds = [p.kind for p in sig.parameters.values()]
    if inspect.Parameter.VAR_POSITIONAL in kinds:  # a boolean_dispatch wrapper: (*args, **kwargs)
        return None
    params: Signature = []
    for i, p in enumerate(sig.parameters.values()):
        if p.kind is inspect.Parameter.KEYWORD_ONLY:
            params.append(Param(p.name, None))
        elif p.kind is not inspect.Parameter.VAR_KEYWORD:
            params.append(Param(p.name, i, p.kind is not inspect.Parameter.POSITIONAL_ONLY))
    return [params]


def _from_schemas(spelling: str) -> list[Signature]:
    """Every overload of ``aten::NAME``; the Python binding calls ``self`` ``input``."""
    name = spelling.rsplit(".", 1)[-1]
    signatures = []
    for schema in torch._C._jit_get_schemas_for_operator(f"aten::{name}"):
        params = [Param("input" if a.name == "self" else a.name, None if a.kwarg_only else i)
                  for i, a in enumerate(schema.arguments)]
        signatures.append(params)
    return signatures


def signatures(spelling: str) -> list[Signature]:
    func = eval(spelling, {"torch": torch, "F": F})  # a registry constant, never spec text
    return _from_inspect(func) or _from_schemas(spelling)


def _fits(param: str, position: int | None, sig: Signature) -> bool:
    """``param`` passed at ``position`` (None: by keyword) is accepted by ``sig``."""
    for p in sig:
        if p.name == param:
            return p.keyword if position is None else p.position == position
    return False


def op_uses(op: Op) -> list[tuple[str, int | None]]:
    """Each (argument, position or None for keyword) that generated code can write for ``op``."""
    uses: list[tuple[str, int | None]] = []
    for i, name in enumerate(op.params):
        uses.append((name, i if name not in op.keyword_only else None))
        if i >= len(op.tensors):
            uses.append((name, None))  # a one-key step or a keyword in an expression
    uses += [(name, None) for name, _ in op.extra]
    return uses


CHECKED_OPS = [op for name, op in OPS.items() if name not in SKIPPED]


def test_skips_are_few_and_exist() -> None:
    assert set(SKIPPED) <= set(OPS)
    assert len(SKIPPED) <= 2


@pytest.mark.parametrize("op", CHECKED_OPS, ids=[op.name for op in CHECKED_OPS])
def test_op_call_fits_torch(op: Op) -> None:
    sigs = signatures(op.spelling)
    if not sigs and all(pos == 0 for _, pos in op_uses(op)) and op.spelling.startswith("torch.Tensor."):  # x.float()
        assert callable(getattr(torch.Tensor, op.spelling.rsplit(".", 1)[1]))
        return
    assert sigs, f"{op.spelling}: no signature and no ATen schema to check against"
    for name, position in op_uses(op):
        how = "by keyword" if position is None else f"at position {position}"
        assert any(_fits(name, position, sig) for sig in sigs), f"{op.spelling} does not take '{name}' {how}"


def test_keyword_only_catches_gelu() -> None:
    """The check above fails for F.gelu(x, 'tanh'), the spelling codegen used to emit."""
    gelu = OPS["gelu"]
    assert not any(_fits("approximate", 1, sig) for sig in signatures(gelu.spelling))
    assert gelu.keyword_only == ("approximate",)


@pytest.mark.parametrize("layer", list(LAYERS.values()), ids=list(LAYERS))
def test_layer_constructor_fits_torch(layer: LayerType) -> None:
    if layer.construct is not None:
        return  # spelled through its layer: tests/test_transformer.py::test_stack_arguments_are_torch_s
    cls = getattr(nn, layer.name)
    found = _from_inspect(cls.__init__)
    if found is None:  # nn.RNN, nn.LSTM, nn.GRU: __init__(*args, **kwargs), the real signatures in @overloads
        found = next(filter(None, map(_from_inspect, typing.get_overloads(cls.__init__))), None)
    if found is None:  # Module.__init__(self, *args, **kwargs): the layer takes no arguments of its own
        assert not layer.args and not layer.factory, layer.name
        assert isinstance(cls(), nn.Module)
        return
    sig = [Param(p.name, None if p.position is None else p.position - 1, p.keyword) for p in found[0][1:]]  # no self
    for i, arg in enumerate(layer.args):
        position = i if i < layer.positional else None
        how = "by keyword" if position is None else f"at position {position}"
        assert _fits(arg.name, position, sig), f"nn.{layer.name} does not take '{arg.name}' {how}"
    if layer.factory:
        assert _fits("device", None, sig) and _fits("dtype", None, sig), layer.name
