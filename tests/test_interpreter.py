"""The IR walker, the shape interpreter's trace, and the passes that read it (no torch)."""

from __future__ import annotations

from typing import Any

import pytest

from netspec import api
from netspec.backend import graph
from netspec.errors import Collector, Span
from netspec.frontend.expr import parse
from netspec.middle import ir, shapes
from netspec.middle.elaborate import Elaborator

SPAN = Span("spec.yaml", 1, 1)


def _compiled(path: str) -> api.Compiled:
    return api.compile_spec(path)


def test_the_visitor_dispatches_by_class_name_and_walks_the_rest() -> None:
    x = ir.Name("x", "value", SPAN)
    call = ir.Call("relu", "op", (ir.BinOp("+", x, ir.Const(1, SPAN), SPAN),), (("dim", ir.Const(0, SPAN)),), SPAN)
    stmt = ir.If(ir.Build(parse('a'), (), SPAN), (ir.Assign("y", call, SPAN, ()),), (ir.Return(x, SPAN, ()),), SPAN, ())

    class Names(ir.NodeVisitor):
        def __init__(self) -> None:
            self.seen: list[str] = []

        def visit_Name(self, node: ir.Name) -> None:
            self.seen.append(node.id)

        def visit_Call(self, node: ir.Call) -> None:
            self.seen.append(node.func)
            self.generic_visit(node)

    names = Names()
    names.visit(stmt)
    assert names.seen == ["relu", "x", "x"]
    assert [type(n).__name__ for n in ir.walk(call)] == ["Call", "BinOp", "Name", "Const", "Const"]


def test_graph_reads_the_trace_without_running_inference_again(monkeypatch: pytest.MonkeyPatch) -> None:
    compiled = _compiled("specs/zoo/resnet18.yaml")
    kinds = {event.kind for event in compiled.inference.trace}
    assert {"input", "layer", "enter", "exit", "arith"} <= kinds

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("graph.build ran shape inference again")

    monkeypatch.setattr(shapes.Interpreter, "run", refuse)
    picture = graph.build(compiled.inference)
    layers = [event for event in compiled.inference.trace if event.kind == "layer"]
    assert len([n for n in picture.nodes if n.kind == "layer"]) == len(layers)
    assert [c.path for c in picture.clusters] == [e.path for e in compiled.inference.trace if e.kind == "enter"]


def test_trace_events_name_their_instance_and_row() -> None:
    trace = _compiled("specs/zoo/resnet18.yaml").inference.trace
    conv = next(e for e in trace if e.kind == "layer" and e.path == "layer2.0.conv1")
    assert conv.instance == "layer2.0" and conv.type == "Conv2d" and isinstance(conv.node, ir.Layer)
    assert conv.row is not None and conv.row.output_shape == conv.output.shape
    assert conv.inputs and conv.span is not None
    depth = 0
    for event in trace:  # enter and exit nest
        depth += (event.kind == "enter") - (event.kind == "exit")
        assert depth >= 0
    assert depth == 0


def test_a_pass_subclasses_the_interpreter_and_sees_every_instance() -> None:
    program = _compiled("specs/zoo/resnet18.yaml").inference.program
    assert program is not None
    seen: list[str] = []

    class Layers(shapes.Interpreter):
        def apply_layer(self, child: Any, inputs: Any, depth: int, options: Any = None) -> Any:
            seen.append(self.instance.qualified(child.attr))
            return super().apply_layer(child, inputs, depth, options)

    elaborator = Elaborator(program)
    root = elaborator.root()
    shared = shapes.Shared(elaborator, {}, [], Collector(), shapes.Steps(shapes.MAX_EXECUTED), {"": root})
    assert Layers(root, {}, shared).run() is not None
    assert "layer2.0.conv1" in seen and "fc" in seen


def test_codegen_returns_its_warnings_and_leaves_the_inference_alone() -> None:
    text = ("netspec: 1\nname: M\ninputs: {x: [N, 4]}\n"
            "blocks:\n  B:\n    args: {b: int, c: int}\n    inputs: {x: [N, b]}\n"
            "    layers: {fc: {type: Linear, out_features: c}, g: {type: Linear, out_features: c}}\n"
            "layers:\n  one: {type: B, c: 4}\n")
    compiled = api.compile_spec(text=text)
    assert [w.code for w in compiled.inference.warnings] == []
    assert [w.code for w in compiled.codegen_warnings] == ["ambiguous-inference"] * 2
    assert compiled.warnings == compiled.inference.warnings + compiled.codegen_warnings
