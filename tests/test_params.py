"""Raw parameters: shapes (ints or vars), every init, requires_grad, dtype, order."""

from __future__ import annotations

import pytest
import torch

import netspec
from tests.conftest import layout

SPEC = """
netspec: 1
name: P
vars: {D: 6}
inputs: {x: [N, 6]}
params:
  a: {shape: [D, 3], init: zeros}
  b: {shape: [3], init: ones, requires_grad: false}
  c: {shape: [D, D], init: {constant: {value: 0.25}}}
  d: {shape: [64, 64], init: {uniform: {a: -0.5, b: 0.5}}}
  e: {shape: [64, 64], init: {normal: {mean: 3.0, std: 0.01}}, dtype: float64}
  f: {shape: [32, 16], init: {kaiming_uniform: {a: 0.0, nonlinearity: relu}}}
  g: {shape: [32, 16], init: xavier_normal}
  h: {shape: [100], init: {trunc_normal: {std: 1.0, a: -0.5, b: 0.5}}}
  r: {shape: [4, 4], init: rand}
forward:
  - return x @ c @ a + b
"""


def test_inits_and_flags(write_spec) -> None:
    model = netspec.load(write_spec(SPEC))
    assert torch.equal(model.a, torch.zeros(6, 3))
    assert torch.equal(model.b, torch.ones(3)) and not model.b.requires_grad
    assert torch.equal(model.c, torch.full((6, 6), 0.25))
    assert model.d.min() >= -0.5 and model.d.max() <= 0.5 and model.d.std() > 0.2
    assert model.e.dtype == torch.float64 and abs(model.e.mean().item() - 3.0) < 0.01
    bound = (6 / 16) ** 0.5  # kaiming_uniform with relu gain: sqrt(2) * sqrt(3 / fan_in)
    assert model.f.abs().max() <= bound and model.f.abs().max() > 0.8 * bound
    assert abs(model.g.std().item() - (2 / (32 + 16)) ** 0.5) < 0.05
    assert model.h.abs().max() <= 0.5
    assert model.r.min() >= 0 and model.r.max() < 1
    summary = netspec.summary(write_spec(SPEC))
    assert summary.total_params == 18 + 3 + 36 + 4096 + 4096 + 512 + 512 + 100 + 16
    assert summary.trainable_params == summary.total_params - 3


def test_parameter_list_and_dict_order(write_spec) -> None:
    model = netspec.load(write_spec("""
        netspec: 1
        name: Q
        inputs: {x: [N, 2]}
        params:
          w: [2, 2]
          ws: {list: [{shape: [2, 2], repeat: 2}, [2, 3], [3, 1]]}
          wd: {dict: {zeta: [1], alpha: {shape: [2], init: zeros}}}
        forward:
          - "for p in ws: x = x @ p"
          - return x + wd['zeta'] + w.sum()
    """))
    assert layout(model) == [
        ("w", (2, 2)), ("ws.0", (2, 2)), ("ws.1", (2, 2)), ("ws.2", (2, 3)), ("ws.3", (3, 1)),
        ("wd.zeta", (1,)), ("wd.alpha", (2,))]


@pytest.mark.parametrize(("params", "code", "line"), [
    ("w: {shape: [K, 2]}", "undefined-name", 5),
    ("w: {shape: [4], init: kaiming_uniform}", "bad-init", 5),
    ("w: {shape: [4], init: {uniform: {a: 1.0, b: 0.0}}}", "bad-value", 5),
    ("w: {shape: [4], init: {uniform: {a: 0.0}, normal: {}}}", "bad-init", 5),
    ("w: {shape: [4], init: gaussian}", "bad-value", 5),
    ("w: {shape: [0, 4]}", "bad-value", 5),
    ("w: {list: []}", "bad-value", 5),
])
def test_bad_parameters(write_spec, params: str, code: str, line: int) -> None:
    path = write_spec(f"netspec: 1\nname: B\ninputs: {{x: [N, 4]}}\nparams:\n  {params}\nforward: [return x]\n")
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(path)
    assert [(d.code, d.span.line) for d in info.value.errors][:1] == [(code, line)]
