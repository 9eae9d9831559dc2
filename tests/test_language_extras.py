"""Blocks and vars for transformer-era specs (issue 17 §1): list block arguments, sum/range and list slices in
expressions, expressions in initialiser arguments, extends of a shipped spec by name, `x += y` kept in place
where it is safe, and the hint for an expression a YAML flow mapping split at its comma."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

import netspec
from netspec.errors import SpecError


def _error(text: str, tmp_path: Path | None = None) -> netspec.Diagnostic:
    with pytest.raises(SpecError) as info:
        if tmp_path is None:
            netspec.compile_string(text)
        else:
            path = tmp_path / "spec.yaml"
            path.write_text(text, encoding="utf-8")
            netspec.validate(path)
    return info.value.errors[0]


PERMUTE = """
netspec: 1
name: M
inputs: {x: [N, 3, 8, 5]}
blocks:
  Permute:
    args: {dims: list}
    inputs: {x: [N, C, H, W]}
    forward:
      - return x.permute(dims)
layers:
  p: {type: Permute, dims: [0, 2, 3, 1]}
  q: {type: Permute, dims: [0, 3, 1, 2]}
forward:
  - return q(p(x))
"""


def test_a_list_block_argument_is_permute_s_dims() -> None:
    compiled = netspec.compile_string(PERMUTE)
    assert compiled.inference.output.shape == ("N", 3, 8, 5)
    assert "torch.permute(x, self.dims)" in compiled.source_code
    x = torch.randn(2, 3, 8, 5)
    assert torch.equal(netspec.loads(PERMUTE)(x), x.permute(0, 2, 3, 1).permute(0, 3, 1, 2))


def test_a_list_block_argument_refuses_a_number() -> None:
    d = _error(PERMUTE.replace("dims: [0, 2, 3, 1]", "dims: 3"))
    assert d.code == "bad-type" and "expects a list" in d.message


STAGES = """
netspec: 1
name: M
inputs: {x: [N, 8]}
vars:
  depths: [3, 3, 9, 3]
  total: sum(depths)
  before_third: "sum(depths[:2])"
  rows: "range(1, 8, 3)"
  scale: 1.0e-6
params:
  g: {shape: [8], init: {constant: {value: scale * 2}}}
  w: {shape: [8], init: {normal: {mean: total, std: scale}}}
forward:
  - return x * g + w
"""


def test_sum_range_and_slices_in_vars_and_expressions_in_init_arguments() -> None:
    compiled = netspec.compile_string(STAGES)
    values = compiled.inference.program.var_values
    assert values["total"] == 18 and values["before_third"] == 6 and values["rows"] == [1, 4, 7]
    assert "torch.full((8,), 2e-06" in compiled.source_code
    model = netspec.loads(STAGES)
    assert torch.allclose(model.g, torch.full((8,), 2e-6))


@pytest.mark.parametrize(("text", "code"), [
    ("range(1000000)", "too-large"), ("range(0, 5, 0)", "bad-expression"), ("sum([1, [2]])", "bad-expression"),
    ("range(1.5)", "bad-expression"), ("depths[::2]", "bad-expression"),
])
def test_sum_range_and_slices_refuse_what_python_refuses_or_is_too_big(text: str, code: str) -> None:
    spec = STAGES.replace('rows: "range(1, 8, 3)"', f'rows: "{text}"')
    assert _error(spec).code == code


def test_an_init_argument_expression_inside_a_block_takes_each_instance_s_value() -> None:
    text = """
netspec: 1
name: M
inputs: {x: [N, 8]}
blocks:
  Scale:
    args: {dim: int, layer_scale: float}
    inputs: {x: [N, dim]}
    params:
      gamma: {shape: [dim], init: {constant: {value: layer_scale}}}
    forward:
      - return x * gamma
layers:
  a: {type: Scale, dim: 8, layer_scale: 1.0e-6}
  b: {type: Scale, dim: 8, layer_scale: 0.5}
forward:
  - return b(a(x))
"""
    model = netspec.loads(text)
    assert torch.equal(model.a.gamma.detach(), torch.full((8,), 1e-6))
    assert torch.equal(model.b.gamma.detach(), torch.full((8,), 0.5))


def test_extends_names_a_shipped_spec(tmp_path: Path) -> None:
    path = tmp_path / "resnet34.yaml"
    path.write_text("netspec: 1\nextends: zoo/resnet18\nname: ResNet34\nvars: {layers: [3, 4, 6, 3]}\n",
                    encoding="utf-8")
    assert netspec.summary(path).total_params == 21_797_672  # torchvision's resnet34
    bad = tmp_path / "bad.yaml"
    bad.write_text("netspec: 1\nextends: zoo/resnet19\nname: R\n", encoding="utf-8")
    with pytest.raises(SpecError) as info:
        netspec.validate(bad)
    d = info.value.errors[0]
    assert d.code == "import-refused" and d.hint == "did you mean 'zoo/resnet18'?"


@pytest.mark.parametrize(("line", "split"), [
    ("  fc: {type: Linear, out_features: max(1, c // 4)}", "max(1, c // 4)"),
    ("  fc: {type: Linear, out_features: min(c, 2)}", "min(c, 2)"),
])
def test_a_comma_inside_a_flow_mapping_is_named_with_the_quoted_fix(line: str, split: str) -> None:
    text = f"netspec: 1\nname: M\ninputs: {{x: [N, 8]}}\nvars: {{c: 8}}\nlayers:\n{line}\nforward:\n  - return fc(x)\n"
    with pytest.raises(SpecError) as info:
        netspec.compile_string(text)
    hints = {d.hint for d in info.value.errors}
    assert hints == {f"YAML split {split!r} at its comma (in a {{...}} mapping a comma ends a value): quote the "
                     f"expression, \"{split}\""}


BASIC = """
netspec: 1
name: M
inputs: {x: [N, 4, 8, 8]}
layers:
  conv: {type: Conv2d, out_channels: 4, kernel_size: 3, padding: 1}
  bn: BatchNorm2d
  relu: ReLU
forward:
  - identity = x
  - out = bn(conv(x))
  - out += identity
  - r = relu(out)
  - r += identity
  - alias = out
  - s = bn(r)
  - t = s
  - s += x
  - return s + t + alias
"""


def test_plus_equals_stays_in_place_only_where_it_is_safe() -> None:
    source = netspec.compile_source(text=BASIC)
    assert "out += identity" in source  # a BatchNorm output: torchvision's `out += identity`
    assert "r = r + identity" in source  # relu's backward reads its output
    assert "s = s + x" in source  # `t` holds the same tensor
    model = netspec.loads(BASIC)
    x = torch.randn(2, 4, 8, 8, requires_grad=True)
    model(x).sum().backward()  # in place where it is, training still works
    assert x.grad is not None


def test_a_block_argument_default_may_be_an_expression_of_the_arguments_before_it() -> None:
    text = """
netspec: 1
name: M
inputs: {x: [N, 8]}
blocks:
  MLP:
    args:
      dim: int
      hidden: {type: int, default: 4 * dim}
    inputs: {x: [N, dim]}
    layers:
      fc1: {type: Linear, in_features: dim, out_features: hidden}
      fc2: {type: Linear, in_features: hidden, out_features: dim}
    forward:
      - return fc2(relu(fc1(x)))
layers:
  a: {type: MLP, dim: 8}
  b: {type: MLP, dim: 8, hidden: 3}
forward:
  - return b(a(x))
"""
    source = netspec.compile_source(text=text)
    assert "def __init__(self, dim, hidden=None, device=None, dtype=None):" in source
    assert "hidden = 4 * dim" in source
    model = netspec.loads(text)
    assert (model.a.fc1.out_features, model.b.fc1.out_features) == (32, 3)
    assert netspec.compile_string(text).inference.total_params == 611


def test_a_submodule_may_be_named_self_as_bert_names_its_attention() -> None:
    text = """
netspec: 1
name: M
inputs: {x: [N, 8]}
blocks:
  BertAttention:
    inputs: {x: [N, C]}
    layers:
      self: {type: Linear, out_features: 8}
      output: {type: Linear, out_features: 8}
    forward:
      - return output(self(x))
layers:
  attention: BertAttention
forward:
  - return attention(x)
"""
    assert "self.output(self.self(x))" in netspec.compile_source(text=text)
    model = netspec.loads(text)
    assert list(model.state_dict())[:2] == ["attention.self.weight", "attention.self.bias"]
    value = text.replace("      - return output(self(x))", "      - self = output(x)\n      - return self")
    with pytest.raises(SpecError):  # a value named self would be the method's own self: still refused
        netspec.compile_string(value)


MASKS = """
netspec: 1
name: M
inputs: {ids: {shape: [N, T], dtype: int64}, x: [N, T, 8]}
forward:
  - pad = ids != 0
  - keep = (x > 0) & pad[..., None] | (x < -1)
  - y = where(~keep, x * 2, 0.0)
  - position_ids = pad.cumsum(1) * pad
  - return y.clamp(-1.0, 1.0) + position_ids[..., None]
"""


def test_masks_comparisons_and_where_match_torch() -> None:
    text = MASKS
    compiled = netspec.compile_string(text)
    assert (compiled.inference.output.shape, compiled.inference.output.dtype) == (("N", "T", 8), "float32")
    ids = torch.tensor([[0, 5, 7, 0], [3, 0, 2, 9]])
    x = torch.randn(2, 4, 8)
    pad = ids != 0
    keep = (x > 0) & pad[..., None] | (x < -1)
    y = torch.where(~keep, x * 2, 0.0)
    want = y.clamp(-1.0, 1.0) + (pad.cumsum(1) * pad)[..., None]
    got = netspec.loads(text)(ids, x)
    assert got.dtype == want.dtype and torch.equal(got, want)


def test_plus_equals_is_out_of_place_once_anything_read_the_value() -> None:
    """An op that kept it for backward (h * h), a view of it (h[:, :4]), or its own right-hand side reading it
    (u += u.T): in place would break backward, change the view, or overlap in memory."""
    text = """
netspec: 1
name: M
inputs: {x: [8, 8]}
layers:
  fc: {type: Linear, in_features: 8, out_features: 8}
forward:
  - h = fc(x)
  - z = h * h
  - h += x
  - v = fc(x)
  - w = v[:, 0:4]
  - v += x
  - u = fc(x)
  - u += u.transpose(0, 1)
  - t = fc(x)
  - t += x
  - return z + h + v[:, :4].sum() + w.sum() + u + t
"""
    source = netspec.compile_source(text=text)
    assert "h = h + x" in source and "v = v + x" in source and "t += x" in source
    assert "u = u + torch.transpose(u, 0, 1)" in source
    model = netspec.loads(text)
    x = torch.randn(8, 8, requires_grad=True)
    model(x).sum().backward()


def test_buffers_count_in_the_load_budget() -> None:
    text = "netspec: 1\nname: M\ninputs: {x: [N, 8]}\nbuffers:\n  m: {shape: [4000, 4000], init: tril}\n" \
           "forward:\n  - return x\n"
    with pytest.raises(SpecError) as info:
        netspec.loads(text, max_params=1_000)
    assert info.value.errors[0].message == ("the model has 0 parameters and 16,000,000 buffer elements, over the "
                                            "budget of 1,000")
