"""netspec/records.py: the instances made by storing their fields are the very objects the classes' own
``__init__`` makes, and a class where that would differ is refused."""

from __future__ import annotations

import copy
import pickle
from dataclasses import dataclass, field
from typing import Any

import pytest

from netspec.backend import codegen
from netspec.errors import Span
from netspec.frontend import source
from netspec.middle import forward, ir
from netspec.records import stores_fields

SPAN = Span("net.yaml", 3, 7)


def _same(made: Any, built: Any) -> None:
    assert type(made) is type(built) and made == built and hash(made) == hash(built) and repr(made) == repr(built)
    assert vars(made) == vars(built) and list(vars(made)) == list(vars(built))
    assert pickle.loads(pickle.dumps(made)) == built and copy.deepcopy(made) == built
    with pytest.raises(AttributeError):  # still frozen
        made.span = SPAN


def test_every_place_stores_fields() -> None:
    assert source._span is not Span and forward._applied is forward._applied_directly
    assert codegen._origin is not codegen.Origin


def test_a_span_is_a_span() -> None:
    _same(source._span("net.yaml", 3, 7), SPAN)


def test_a_bare_step_is_the_same_ir() -> None:
    args = (ir.Const(2, SPAN),)
    kwargs = (("dim", ir.Const(1, SPAN)),)
    made = forward._applied_directly("x", "softmax", "op", args, kwargs, SPAN, ("forward", 3))
    built = forward._applied_by_init("x", "softmax", "op", args, kwargs, SPAN, ("forward", 3))
    _same(made, built)
    _same(made.value, built.value)  # the call, and the name it is applied to
    _same(made.value.args[0], built.value.args[0])


def test_an_origin_is_an_origin() -> None:
    _same(codegen._new_origin(SPAN, ("layers", "fc"), "layer", "fc"),
          codegen.Origin(SPAN, ("layers", "fc"), "layer", "fc"))


@dataclass(frozen=True)
class _Plain:
    a: int
    b: str


@dataclass(frozen=True)
class _After:
    a: int
    b: str

    def __post_init__(self) -> None:
        object.__setattr__(self, "b", self.b.upper())


@dataclass(frozen=True, slots=True)
class _Slotted:
    a: int
    b: str


@dataclass(frozen=True)
class _Computed:
    a: int
    b: str = field(init=False, default="b")


def test_a_class_that_would_differ_is_refused() -> None:
    assert stores_fields(_Plain, ("a", "b"))
    assert not stores_fields(_Plain, ("b", "a")) and not stores_fields(_Plain, ("a",))
    assert not stores_fields(_After, ("a", "b")) and not stores_fields(_Slotted, ("a", "b"))
    assert not stores_fields(_Computed, ("a", "b"))
