"""Names: every name that becomes a Python identifier or attribute is checked once, here."""

from __future__ import annotations

from typing import Any

import pytest
import torch

import netspec
from netspec.middle.resolve import MODULE_ATTRIBUTES


def test_module_attribute_list_covers_the_installed_torch() -> None:
    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")} | set(vars(torch.nn.Module()))
    public = {n for n in public if not n.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)


@pytest.mark.parametrize(("name", "code"), [
    ("forward", "bad-name"), ("training", "bad-name"), ("parameters", "bad-name"), ("to", "bad-name"),
    ("class", "bad-name"), ("match", "bad-name"), ("torch", "bad-name"),
    ("_modules", "bad-name"), ("__init__", "bad-name"), ("a.b", "bad-name"), ("ﬁlter", "bad-name"),
])
def test_layer_names_that_cannot_be_attributes(write_spec, name: str, code: str) -> None:
    path = write_spec(f"""
        netspec: 1
        name: M
        inputs: {{x: [N, 4]}}
        layers:
          "{name}": {{type: Linear, out_features: 2}}
    """)
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(path)
    assert [d.code for d in info.value.diagnostics] == [code]
    assert info.value.diagnostics[0].span.line == 5


def test_a_name_cannot_be_both_layer_and_parameter(write_spec) -> None:
    path = write_spec("""
        netspec: 1
        name: M
        inputs: {x: [N, 4]}
        layers:
          w: {type: Linear, out_features: 2}
        params:
          w: [2, 2]
    """)
    with pytest.raises(netspec.SpecError) as info:
        netspec.validate(path)
    assert [(d.code, d.span.line) for d in info.value.diagnostics] == [("duplicate-name", 7)]


def test_named_sequential_keeps_names_and_order(write_spec) -> None:
    path = write_spec("""
        netspec: 1
        name: M
        inputs: {x: [N, 4]}
        layers:
          body:
            type: Sequential
            layers:
              proj: {type: Linear, out_features: 8}
              act: GELU
              inner: [{type: Linear, out_features: 3}, Tanh]
    """)
    model = netspec.load(path)
    expected = torch.nn.Sequential(__import__("collections").OrderedDict([
        ("proj", torch.nn.Linear(4, 8)), ("act", torch.nn.GELU()),
        ("inner", torch.nn.Sequential(torch.nn.Linear(8, 3), torch.nn.Tanh()))]))
    assert repr(model.body) == repr(expected)
    assert list(model.state_dict()) == ["body.proj.weight", "body.proj.bias", "body.inner.0.weight",
                                        "body.inner.0.bias"]


def _one_error(text: str) -> Any:
    with pytest.raises(netspec.SpecError) as info:
        netspec.compile_string(text)
    (d,) = info.value.diagnostics
    return d


RUN_TIME_SIZE = """netspec: 1
name: M
inputs: {{x: [N, 4, 8]}}
forward:
  - n = x.size(0)
  - return {step}
"""


@pytest.mark.parametrize("step", ["x.reshape((n, -1))", "x.reshape(n, -1)", "reshape(x, [n, 32])", "x.view(n, 32)",
                                  "x.reshape(x.size(0), -1)"])
def test_a_size_read_at_run_time_goes_into_reshape(step: str) -> None:
    compiled = netspec.compile_string(RUN_TIME_SIZE.format(step=step))
    assert compiled.inference.output.shape == ("N", 32)
    model = netspec.loads(RUN_TIME_SIZE.format(step=step))
    for n in (1, 3):
        assert model(torch.randn(n, 4, 8)).shape == (n, 32)


def test_a_size_read_at_run_time_is_named_where_a_number_must_be_known() -> None:
    d = _one_error(RUN_TIME_SIZE.format(step="x.narrow(1, 0, n)"))
    assert d.code == "unsupported" and d.span.line == 6
    assert d.message == ("narrow: argument 'length' expected a number known before forward runs, found 'n', the size "
                         "N read off a tensor at run time")
    assert "reshape" in (d.hint or "") and "view" in (d.hint or "")


def test_a_size_read_inline_is_named_by_its_size() -> None:
    d = _one_error(RUN_TIME_SIZE.format(step="x.narrow(1, 0, x.size(0))"))
    assert d.code == "unsupported"
    assert "found the size N read off a tensor at run time" in d.message


def test_a_size_known_when_checked_still_works_in_reshape() -> None:
    text = RUN_TIME_SIZE.replace("[N, 4, 8]", "[2, 4, 8]").format(step="x.reshape((n, -1))")
    model = netspec.loads(text)
    assert model(torch.randn(2, 4, 8)).shape == (2, 32)
    assert netspec.loads(RUN_TIME_SIZE.format(step="x.reshape((-1, 32))"))(torch.randn(3, 4, 8)).shape == (3, 32)


def test_view_is_an_op_of_its_own() -> None:
    source = netspec.compile_source(text=RUN_TIME_SIZE.format(step="x.view(-1, 32)"))
    assert "x.view((-1, 32))" in source
