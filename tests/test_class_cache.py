"""Generated classes do not pile up in a long-running process.

The class cache holds the recent modules strongly and the others only while something made from them
is alive; what a module registers outside itself (linecache lines, a sys.modules entry) goes with it,
and pickling goes through ``__reduce_ex__`` on the class rather than copyreg's table (which would keep
every class for good).  Pickling, deepcopy and torch.save keep working across an eviction.
"""

from __future__ import annotations

import copy
import copyreg
import gc
import inspect
import io
import linecache
import pickle
import sys
import traceback
import uuid
import weakref

import pytest
import torch
from torch import nn

import netspec
from netspec.backend import build

SPEC = ("netspec: 1\nname: Net\ndescription: {tag}\ninputs:\n  x: [N, 4]\n"
        "layers:\n  fc: {{type: Linear, out_features: {n}}}\n")


def _spec(n: int, tag: str) -> str:
    return SPEC.format(n=n, tag=tag)


def _others(count: int) -> None:
    """Loads and drops ``count`` distinct models: everything older leaves the recent modules."""
    tag = uuid.uuid4().hex
    for n in range(1, count + 1):
        netspec.loads(_spec(n, tag))


def test_hundreds_of_distinct_specs_leave_a_bounded_number_of_classes() -> None:
    tag = uuid.uuid4().hex  # sources no other test has built
    classes = []
    for n in range(1, 301):
        model = netspec.loads(_spec(n, tag))
        assert model.fc.out_features == n
        cls = type(model)
        classes.append((weakref.ref(cls), cls.__module__, sys.modules[cls.__module__].__file__))
        del model, cls
    gc.collect()
    alive = [ref() for ref, _, _ in classes if ref() is not None]
    assert len(alive) <= build._RECENT_SIZE
    assert all(cls.__module__ in sys.modules for cls in alive)  # inspect finds a live class's source
    del alive
    # the dead ones left nothing behind: no sys.modules entry, no linecache lines, no copyreg entry
    gone = [(name, file) for ref, name, file in classes if ref() is None]
    assert len(gone) >= 300 - build._RECENT_SIZE
    assert not [name for name, _ in gone if name in sys.modules]
    assert not [file for _, file in gone if file in linecache.cache]
    assert not [t for t in copyreg.dispatch_table if getattr(t, "__module__", "").startswith(build._MODULE_PREFIX)]


def test_one_class_per_source_while_anything_of_it_lives() -> None:
    text = _spec(3, uuid.uuid4().hex)
    model = netspec.loads(text)
    cls = type(model)
    _others(build._RECENT_SIZE + 5)  # out of the recent modules, alive through the instance
    gc.collect()
    assert type(netspec.loads(text)) is cls
    assert netspec.build_class(text=text) is cls
    # what the module registered is still there while it lives
    assert inspect.getsource(cls).startswith("class Net(nn.Module):")
    assert type(pickle.loads(pickle.dumps(model))) is cls
    assert type(copy.deepcopy(model)) is cls
    with pytest.raises(RuntimeError) as info:
        model(torch.ones(2, 5))
    assert "self.fc(" in "".join(traceback.format_tb(info.value.__traceback__))  # the generated line, shown


def test_pickles_load_after_their_class_was_evicted_and_collected() -> None:
    text = _spec(2, uuid.uuid4().hex)
    model = netspec.loads(text).eval()
    x = torch.randn(3, 4)
    want = model(x).detach()
    data = pickle.dumps(model)
    saved = io.BytesIO()
    torch.save(model, saved)
    dead = weakref.ref(type(model))
    module_name = type(model).__module__
    del model
    _others(build._RECENT_SIZE + 5)
    gc.collect()
    assert dead() is None, "nothing keeps a class nobody uses"
    assert module_name not in sys.modules
    again = pickle.loads(data)  # the source travels in the pickle: the class is made anew
    assert type(again).__module__ == module_name and torch.equal(again(x), want)
    assert type(netspec.loads(text)) is type(again), "and is the class this source gives from now on"
    saved.seek(0)
    loaded = torch.load(saved, weights_only=False)
    assert type(loaded) is type(again) and torch.equal(loaded(x), want)
    assert type(copy.deepcopy(loaded)) is type(again)
    assert type(pickle.loads(pickle.dumps(again))) is type(again)


def test_a_user_subclass_still_pickles_by_reference() -> None:
    base = netspec.build_class(text=_spec(2, uuid.uuid4().hex))
    sub = type("Sub", (base,), {"__module__": __name__})
    globals()["Sub"] = sub
    try:
        data = pickle.dumps(sub())
        assert b"Sub" in data and type(pickle.loads(data)) is sub
        assert type(copy.deepcopy(sub())) is sub
    finally:
        del globals()["Sub"]


def test_generated_classes_are_plain_nn_modules() -> None:
    cls = netspec.build_class(text=_spec(2, uuid.uuid4().hex))
    assert cls.__mro__[1] is nn.Module and type(cls) is type
    assert "__reduce_ex__" in vars(cls) and set(vars(cls)) <= {
        "__module__", "__qualname__", "__doc__", "__init__", "forward", "__reduce_ex__", "__firstlineno__",
        "__static_attributes__"}
