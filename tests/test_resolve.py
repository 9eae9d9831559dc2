"""Names: every name that becomes a Python identifier or attribute is checked once, here."""

from __future__ import annotations

import pytest
import torch

import netspec
from netspec.resolve import MODULE_ATTRIBUTES


def test_module_attribute_list_covers_the_installed_torch() -> None:
    public = {n for n in dir(torch.nn.Module) if not n.startswith("_")} | set(vars(torch.nn.Module()))
    public = {n for n in public if not n.startswith("_")}
    assert public <= MODULE_ATTRIBUTES, sorted(public - MODULE_ATTRIBUTES)


@pytest.mark.parametrize(("name", "code"), [
    ("forward", "bad-name"), ("training", "bad-name"), ("parameters", "bad-name"), ("to", "bad-name"),
    ("class", "bad-name"), ("match", "bad-name"), ("self", "bad-name"), ("torch", "bad-name"),
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
