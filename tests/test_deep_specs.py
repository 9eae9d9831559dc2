"""Deep specs: identical block instances are inferred once, and that changes nothing but the time.

The memo (``shapes.Memo``) repeats an earlier instance's inference for a later one with the same definition,
argument values, input shapes and depth.  Here every result of inference (rows, warnings, the trace of events
with which tensor is which, inferred arguments, instances, counts, memory) is compared with inference that runs
every instance (``Shared.memo`` None) on the shipped specs, the zoo, random programs and deep repeats; and the
default limits are checked to accept 50,000 residual blocks and 100,000 layers written out, while specs that
would make inference do that much real work are refused with a hint that fits them.  Timing figures live in
benchmarks/scale.py.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.errors import SpecError
from netspec.frontend import expand, source, validate
from netspec.middle import ir, resolve, shapes
from netspec.ops import Tensor
from tests import programs
from tests.conftest import SPECS_DIR, load_benchmark

specs = load_benchmark("_specs")


def program_of(text: str, file: str = "spec.yaml", base: Path | None = None) -> ir.Program:
    src = source.load_text(text, file if base is None else str(base / file))
    src = expand.expand(src, expand.reader_for(src.file, []), None)
    return resolve.resolve(validate.validate_data(src), src)


@dataclass
class _NoMemo(shapes.Shared):
    """Shared state whose memo is off: every block instance runs its own forward."""

    def __post_init__(self) -> None:
        self.memo = None


def infer(program: ir.Program, memo: bool) -> shapes.Inference | list[Any]:
    """The inference of ``program``, or the diagnostics it was refused with."""
    try:
        if memo:
            return shapes.infer(program)
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(shapes, "Shared", _NoMemo)
            return shapes.infer(program)
    except SpecError as exc:
        return list(exc.diagnostics)


def snapshot(result: shapes.Inference | list[Any]) -> Any:
    """Everything inference gives, as plain comparable data: tensors by value and by which object they are (the
    n-th distinct tensor of the trace), rows by position."""
    if isinstance(result, list):
        return result
    ids: dict[int, int] = {}
    keep: list[Any] = []  # the tensors numbered, alive while numbering (ids stay unique)

    def tensor(value: Any) -> Any:
        if isinstance(value, tuple):
            return tuple(tensor(v) for v in value)
        if isinstance(value, list):
            return [tensor(v) for v in value]
        if isinstance(value, Tensor):
            keep.append(value)
            return ids.setdefault(id(value), len(ids)), value
        return value

    rows = {id(row): i for i, row in enumerate(result.rows)}
    events = [(e.kind, id(e.node), e.instance, e.path, e.type, tensor(e.inputs), tensor(e.output),
               None if e.row is None else rows[id(e.row)], e.span) for e in result.trace]
    instances = {path: (inst.definition.name, inst.prefix, repr(inst.env), inst.depth,
                        [(c.attr, c.type, repr(c.args), c.instance is not None) for c in inst.walk()])
                 for path, inst in result.instances.items()}
    plain = {f.name: getattr(result, f.name) for f in fields(result)
             if f.name not in ("program", "trace", "instances", "rows")}
    return {"rows": [tuple(getattr(r, f.name) for f in fields(r)) for r in result.rows], "events": events,
            "instances": instances, "instance_order": list(result.instances), **plain}


def assert_memo_changes_nothing(program: ir.Program) -> shapes.Inference | list[Any]:
    with_memo = infer(program, memo=True)
    without = infer(program, memo=False)
    assert snapshot(with_memo) == snapshot(without)
    return with_memo


# ---------------------------------------------------------------- the memo changes no result


ALL_SPECS = sorted([*SPECS_DIR.glob("*.yaml"), *SPECS_DIR.glob("zoo/*.yaml")])


@pytest.mark.parametrize("path", ALL_SPECS, ids=[str(p.relative_to(SPECS_DIR)) for p in ALL_SPECS])
def test_memo_changes_nothing_on_shipped_specs(path: Path) -> None:
    assert_memo_changes_nothing(program_of(path.read_text(encoding="utf-8"), path.name, path.parent))


def test_memo_changes_nothing_on_random_programs() -> None:
    compared = refused = 0
    for _, drawn in programs.draw_programs(2026, 60):
        text = programs.dump(drawn.spec())
        try:
            program = program_of(text)
        except SpecError:
            continue  # refused before inference: nothing for the memo to change
        result = assert_memo_changes_nothing(program)
        compared += 1
        refused += isinstance(result, list)
    assert compared >= 40 and 0 < refused < compared  # valid and invalid programs both compared


@pytest.mark.parametrize("distinct", [False, True], ids=["identical", "distinct"])
def test_memo_changes_nothing_on_repeated_blocks(distinct: bool) -> None:
    result = assert_memo_changes_nothing(program_of(specs.blocks_spec(40, distinct=distinct)))
    assert isinstance(result, shapes.Inference) and result.total_params == specs.blocks_params(40)


def test_memo_changes_nothing_where_instances_differ_in_input_shape_or_depth() -> None:
    text = """netspec: 1
name: M
inputs: {x: [N, 8, 64, 64]}
blocks:
  Inner:
    args: {c: int}
    inputs: {x: [N, c, H, W]}
    layers: {conv: {type: Conv2d, out_channels: c, kernel_size: 3, padding: 1}, act: ReLU}
    forward: ["y = act(conv(x))", "y += x", "return y"]
  Outer:
    args: {c: int, n: 2}
    inputs: {x: [N, c, H, W]}
    layers:
      inner: [{type: Inner, c: c, repeat: n}]
      pool: {type: MaxPool2d, kernel_size: 2}
    forward: [inner, pool]
layers:
  a: [{type: Outer, c: 8, repeat: 3}]
  b: {type: Inner, c: 8}
  c: [{type: Outer, c: 8, n: 1}, {type: Outer, c: 8, n: 2}]
forward: [a, b, c]
"""
    result = assert_memo_changes_nothing(program_of(text))
    assert isinstance(result, shapes.Inference) and result.output.shape == ("N", 8, 2, 2)


def _count_runs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    runs: list[str] = []
    original = shapes.Interpreter.run_instance

    def run_instance(self: shapes.Interpreter, instance: Any, inputs: Any, depth: int, qualified: str) -> Any:
        runs.append(qualified)
        return original(self, instance, inputs, depth, qualified)

    monkeypatch.setattr(shapes.Interpreter, "run_instance", run_instance)
    return runs


def test_identical_instances_run_once(monkeypatch: pytest.MonkeyPatch) -> None:
    runs = _count_runs(monkeypatch)
    inference = netspec.compile_string(specs.blocks_spec(500)).inference
    assert runs == ["body.0"]
    assert [k for k in inference.instances if k] == [f"body.{i}" for i in range(500)]
    runs.clear()
    netspec.compile_string(specs.blocks_spec(50, distinct=True))
    assert runs == [f"body.{i}" for i in range(50)]


# ---------------------------------------------------------------- limits: deep specs in, hostile ones out


@pytest.mark.slow
def test_default_limits_accept_50000_residual_blocks() -> None:
    inference = netspec.compile_string(specs.blocks_spec(50_000)).inference
    assert inference.total_params == specs.blocks_params(50_000)
    assert len(inference.instances) == 50_001


@pytest.mark.slow
def test_default_limits_accept_100000_layers_written_out() -> None:
    text = specs.flat_spec(100_000)
    assert len(text.encode()) < source.MAX_BYTES
    assert netspec.compile_string(text).inference.total_params == specs.flat_params(100_000)


def refusal(text: str) -> Any:
    with pytest.raises(SpecError) as info:
        netspec.compile_string(text)
    (diag,) = info.value.diagnostics
    return diag


def test_distinct_blocks_run_out_of_work_with_a_hint_about_distinct_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "MAX_WORK", 2_000)  # the same budget, smaller: ~19 units of work per block
    diag = refusal(specs.blocks_spec(300, distinct=True))
    assert diag.code == "too-large" and "2,000 expressions and layers" in diag.message
    assert diag.hint == ("block instances with the same arguments and input shapes are inferred once: build fewer "
                         "distinct ones")
    assert isinstance(netspec.compile_string(specs.blocks_spec(300)).inference, shapes.Inference)  # identical: fits


def test_too_many_layers_in_order_are_refused_with_a_hint_about_layers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "MAX_EXECUTED", 1_000)
    lines = "".join(f"  l{i}: ReLU\n" for i in range(1_001))
    diag = refusal("netspec: 1\nname: M\ninputs: {x: [N, 8]}\nlayers:\n" + lines)
    assert diag.code == "too-large" and "1,000 statements" in diag.message
    assert diag.span is not None and diag.span.line == 5 + 1_000
    assert diag.hint == "apply fewer layers, or repeat a block (instances with the same arguments are inferred once)"


def test_loops_keep_their_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(shapes, "MAX_EXECUTED", 1_000)
    text = ("netspec: 1\nname: M\ninputs: {x: [N, 8]}\nparams:\n  ps: {list: [{shape: [8], repeat: 2000}]}\n"
            "forward:\n  - 'for p in ps: x = x * p'\n  - return x\n")
    diag = refusal(text)
    assert diag.code == "too-large"
    assert diag.hint in ("loop over fewer parameters", "loop over fewer parameters, shorten the loop body")


def test_copies_of_identical_blocks_are_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    """Past the copy budget, identical instances are inferred (and charged) again: the statement budget then
    refuses the spec at a block instance, as it would without the memo."""
    monkeypatch.setattr(shapes, "MAX_COPIED", 2_000)
    monkeypatch.setattr(shapes, "MAX_EXECUTED", 1_000)
    runs = _count_runs(monkeypatch)
    diag = refusal(specs.blocks_spec(1_000))
    assert diag.code == "too-large" and "1,000 statements" in diag.message
    assert diag.hint == ("block instances with the same arguments and input shapes are inferred once: build fewer "
                         "distinct ones")
    copied = len(runs)
    assert 1 < copied < 400  # some copied (2,000 items), then ~250 run for real until the statements ran out
    monkeypatch.setattr(shapes, "MAX_COPIED", 10**9)
    runs.clear()
    assert netspec.compile_string(specs.blocks_spec(1_000)).inference.total_params == specs.blocks_params(1_000)
    assert runs == ["body.0"]
