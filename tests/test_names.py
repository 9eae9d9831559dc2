"""Generated names come from one namespace object (netspec/middle/names.py) and one reserved list."""

from __future__ import annotations

from netspec.middle import names, resolve
from netspec.middle.names import RESERVED, Namespace


def test_create_name_numbers_taken_and_reserved_names() -> None:
    space = Namespace(taken=["h"], reserved=["self"])
    assert [space.create_name("h"), space.create_name("h"), space.create_name("self")] == ["h_2", "h_3", "self_2"]
    assert "h_2" in space and not space.free("h_3")


def test_same_object_same_name() -> None:
    space = Namespace(separator="")
    first = space.create_name("BasicBlock", "key-a")
    assert space.create_name("BasicBlock", "key-a") == first == "BasicBlock"
    assert space.create_name("BasicBlock", "key-b") == "BasicBlock2"
    assert space.create_name("Block", "key-c", numbered=True) == "Block2"


def test_python_names_refuse_keywords_and_builtins() -> None:
    space = Namespace(python_names=True)
    assert [space.create_name("class"), space.create_name("match"), space.create_name("len")] == [
        "class_2", "match_2", "len_2"]


def test_one_reserved_list() -> None:
    assert resolve.RESERVED is RESERVED
    assert {"x"} == names.DUMP_RESERVED - RESERVED  # dump's documented extension
    assert {"self", "torch", "nn", "F", "corr2d", "make_divisible", "stochastic_depth"} <= RESERVED
