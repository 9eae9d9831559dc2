"""The forward language: what it accepts, what it refuses, and where it says so."""

from __future__ import annotations

import pytest
import torch

import netspec

HEAD = """
netspec: 1
name: M
inputs:
  x: [N, 4]
args:
  choice: linear1
params:
  w: [3, 4]
  params:
    dict: {linear1: [4, 4], linear2: [4, 1]}
layers:
  fc: {type: Linear, in_features: 4, out_features: 3}
forward:
"""


def diagnose(write_spec, steps: str) -> list[str]:
    path = write_spec(HEAD + steps)
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(path)
    return [f"{d.span.line}:{d.span.col} {d.code} {d.dotted_path}: {d.message}" for d in info.value.diagnostics]


def test_mm_by_a_parameter_of_the_wrong_shape(write_spec) -> None:
    assert diagnose(write_spec, "  - return mm(x, w)\n") == [
        "14:12 shape-mismatch forward.0: mm: cannot multiply (N, 4) by (3, 4): inner sizes 4 and 3 differ"]


def test_unknown_choice_default(write_spec) -> None:
    spec = (HEAD + "  - return mm(x, params[choice])\n").replace("choice: linear1", "choice: linear9")
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(write_spec(spec))
    (d,) = info.value.diagnostics
    assert (d.code, d.dotted_path, d.span.line) == ("unknown-key", "args.choice", 6)
    assert d.message == "default 'linear9' of 'choice' is not a key of 'params'"
    assert d.hint is not None and d.hint.startswith("did you mean 'linear")


def test_unknown_constant_key(write_spec) -> None:
    assert diagnose(write_spec, "  - return mm(x, params['linear3'])\n") == [
        "14:18 unknown-key forward.0: 'linear3' is not a key of 'params'"]


def test_value_used_before_it_is_assigned(write_spec) -> None:
    assert diagnose(write_spec, "  - y = h + 1\n  - h = x\n  - return y\n") == [
        "14:9 undefined-name forward.0: 'h' is used before it is assigned"]
    assert diagnose(write_spec, "  - return hh + 1\n") == ["14:12 undefined-name forward.0: unknown name 'hh'"]
    assert diagnose(write_spec, "  - return reshape(x, [N, 2, 2])\n") == [
        "14:24 undefined-name forward.0: 'N' is a symbolic size of an input, not a value forward can use"]


def test_missing_return(write_spec) -> None:
    assert diagnose(write_spec, "  - y = fc(x)\n") == [
        "14:5 missing-return forward.0: forward assigns named values but never returns one"]


def test_step_after_return(write_spec) -> None:
    assert diagnose(write_spec, "  - return fc(x)\n  - relu\n") == [
        "15:5 unreachable forward.1: this step comes after 'return' and never runs"]


def test_unused_layer_is_a_warning(write_spec) -> None:
    warnings = netspec.validate(write_spec(HEAD + "  - return mm(x, params[choice])\n"))
    assert [(w.code, w.dotted_path, w.severity) for w in warnings] == [
        ("unused-layer", "layers.fc", "warning"), ("unused-param", "params.w", "warning")]


@pytest.mark.parametrize(("step", "code"), [
    ("x = __import__('os')", "unknown-name"),
    ("return x.__class__", "unsupported"),
    ("return (lambda t: t)(x)", "unsupported"),
    ("return [t for t in x]", "unsupported"),
    ("return x[[0]]", "unsupported"),
    ("return fc(x) if x else x", "unsupported"),
    ("import os", "unsupported"),
    ("return eval('1')", "unknown-name"),
    ("return fc(*x)", "unsupported"),
    ("x = y = fc(x)", "unsupported"),
    ("return getattr(x, 'shape')", "unknown-name"),
    ("return f'{x}'", "unsupported"),
    ("return x.nonexistent()", "unsupported"),
    ("return fc", "unsupported"),
    ("return x +", "syntax"),
])
def test_refused_syntax(write_spec, step: str, code: str) -> None:
    (line,) = diagnose(write_spec, f"  - {step!r}\n")
    assert line.split()[1] == code


def test_expressions_compile_and_run(write_spec) -> None:
    path = write_spec(HEAD.replace("inputs:\n  x: [N, 4]", "inputs:\n  x: [N, 4]\n  y: [N, 4]") + """\
  - h = fc(x) * 2 - 1
  - s = x @ params['linear1'] + y / 2
  - k = cat([s, y], dim=1)
  - return -relu(h).sum(1, keepdim=True) + mean(k) + mm(x, params[choice])
""")
    model = netspec.load(path)
    source = netspec.compile_source(path)
    assert "def forward(self, x, y, choice='linear1'):" in source
    x, y = torch.randn(2, 4), torch.randn(2, 4)
    h = model.fc(x) * 2 - 1
    s = x @ model.params["linear1"] + y / 2
    expected = -torch.relu(h).sum(1, keepdim=True) + torch.cat([s, y], 1).mean() + x @ model.params["linear1"]
    torch.testing.assert_close(model(x, y), expected)
    assert netspec.summary(path).output_shape == ("N", 4)


def test_choice_output_shape_varies(write_spec) -> None:
    summary = netspec.summary(write_spec(HEAD + "  - return mm(x, params[choice])\n"))
    assert summary.variants == {"choice='linear1'": ("N", 4), "choice='linear2'": ("N", 1)}


def test_shape_error_in_one_choice_names_it(write_spec) -> None:
    lines = diagnose(write_spec, "  - y = mm(x, params[choice])\n  - return fc(y)\n")
    assert lines == ["12:22 shape-mismatch layers.fc: expects 4 input features, gets 1 (input shape (N, 1)) "
                     "(with choice='linear2')"]


def test_for_loop_over_a_parameter_list(write_spec) -> None:
    path = write_spec("""
        netspec: 1
        name: Chain
        inputs: {x: [N, 3]}
        params:
          ws: {list: [[3, 5], [5, 2], {shape: [2, 2], repeat: 2, init: zeros}]}
        forward:
          - "for w in ws: x = relu(x @ w)"
          - return x
    """)
    assert netspec.summary(path).output_shape == ("N", 2)
    model = netspec.load(path)
    assert [tuple(p.shape) for p in model.ws] == [(3, 5), (5, 2), (2, 2), (2, 2)]
    assert torch.count_nonzero(model(torch.randn(4, 3))) == 0


def test_tensor_method_spellings(write_spec) -> None:
    path = write_spec(HEAD.replace("x: [N, 4]", "x: [N, 16, 5, 5]") + "  - return x.reshape(-1, 400).permute(1, 0)\n")
    assert netspec.summary(path).output_shape == (400, "N")
    model = netspec.load(path)
    assert model(torch.randn(2, 16, 5, 5)).shape == (400, 2)
    (line,) = diagnose(write_spec, "  - return x.flatten()\n")
    assert line.startswith("14:12 unsupported forward.0: x.flatten() flattens the batch dim too")


def test_a_shared_layer_counts_its_parameters_once(write_spec) -> None:
    summary = netspec.summary(write_spec(HEAD + "  - return mm(fc(x), w) + mm(fc(x), w)\n"))
    rows = [(r.path, r.type, r.params) for r in summary.rows if r.path.startswith("fc")]
    assert rows == [("fc", "Linear", 15), ("fc#2", "Linear (shared)", 0)]  # row paths stay unique
    assert summary.total_params == 15 + 12 + 16 + 4


def test_two_input_layer_inside_a_sequential(write_spec) -> None:
    path = write_spec("""
        netspec: 1
        name: M
        inputs: {x: [N, 4]}
        layers:
          seq: [{type: Linear, out_features: 4}, {type: Bilinear, out_features: 2}]
    """)
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(path)
    assert [(d.code, d.dotted_path) for d in info.value.diagnostics] == [("bad-call", "layers.seq.1")]


def test_softmax_layer_needs_dim(write_spec) -> None:
    path = write_spec("netspec: 1\nname: M\ninputs: {x: [N, 4, 5]}\nlayers:\n  sm: Softmax\n")
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(path)
    assert info.value.diagnostics[0].message.startswith("layer type 'Softmax' needs arguments (dim)")


def test_spec_error_pickles_and_hashes() -> None:
    import pickle

    with pytest.raises(netspec.SpecError) as info:
        netspec.compile_string("netspec: 1\nname: M\ninputs: {x: [N, 4]}\nlayers:\n  fc: Linear\n", "m.yaml")
    copy = pickle.loads(pickle.dumps(info.value))
    assert copy.diagnostics == info.value.diagnostics and str(copy) == str(info.value)
    # exceptions hash and compare by identity (a dataclass eq would make SpecError unhashable)
    by_error = {info.value: 1}
    assert by_error[info.value] == 1
    assert copy not in by_error


def test_int_argument_picking_a_list_entry_reports_each_shape(write_spec) -> None:
    summary = netspec.summary(write_spec("""
        netspec: 1
        name: M
        inputs: {x: [N, 4]}
        args: {i: 1}
        params:
          ps: {list: [[4, 4], [4, 2]]}
        forward:
          - return mm(x, ps[i])
    """))
    assert summary.output_shape == ("N", 2)
    assert summary.variants == {"i=1": ("N", 2), "i=0": ("N", 4)}
