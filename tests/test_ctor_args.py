"""The compiled root class takes the spec's vars as constructor arguments (issue 19, item 2).

``ResNet(num_classes=10)`` from ``netspec compile zoo/resnet18`` must be exactly what
``netspec.load("zoo/resnet18", num_classes=10)`` builds, or refuse the value with a ValueError that
names the var and ``--set``: never a different model.  Every var of every shipped spec with vars is
tried at another value.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import torch

import netspec
from netspec import api
from netspec.backend import build, codegen
from netspec.errors import SpecError

# (spec, overrides the source is generated with): the transformer models at a small size, so each var's
# other value builds quickly
SPECS: list[tuple[str, dict[str, Any]]] = [
    ("zoo/resnet18", {}),
    ("zoo/resnet50", {}),
    ("zoo/alexnet", {}),
    ("zoo/vgg16", {}),
    ("zoo/vgg11_bn", {}),
    ("zoo/mobilenet_v2", {}),
    ("zoo/densenet121", {}),
    ("zoo/vit_b_16", {"image_size": 32, "patch_size": 8, "num_layers": 2, "num_heads": 2, "hidden_dim": 16,
                      "mlp_dim": 32}),
    ("zoo/gpt2", {"vocab_size": 64, "n_positions": 16, "n_embd": 16, "n_layer": 2, "n_head": 2}),
    ("zoo/llama", {"vocab_size": 64, "hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2,
                   "num_attention_heads": 2, "num_key_value_heads": 1, "head_dim": 8,
                   "max_position_embeddings": 16}),
]

# the vars that must work at any value (not be refused) in these specs, with a value each is tried at
MUST_WORK: dict[str, dict[str, Any]] = {
    "zoo/resnet18": {"num_classes": 10, "layers": [3, 4, 6, 3], "zero_init_residual": True},
    "zoo/resnet50": {"num_classes": 10, "layers": [2, 2, 2, 2], "zero_init_residual": True},
    "zoo/alexnet": {"num_classes": 10, "dropout": 0.1},
    "zoo/vgg16": {"num_classes": 10, "dropout": 0.1},
    "zoo/mobilenet_v2": {"num_classes": 10, "dropout": 0.1},
    "zoo/densenet121": {"num_classes": 10, "bn_size": 2},
    "zoo/vit_b_16": {"num_classes": 10, "num_layers": 3},
    "zoo/gpt2": {"n_layer": 3, "vocab_size": 80},
    "zoo/llama": {"num_hidden_layers": 3, "vocab_size": 80},
}

# what the generated class refuses, named in its message
REFUSAL = re.compile(r"this class was generated for .*`netspec compile SPEC --set ")


def _source(spec: str, base: dict[str, Any]) -> api.Compiled:
    return api.compile_spec(spec, overrides=base or None)


def _build(cls: type[torch.nn.Module], kwargs: dict[str, Any], device: str) -> torch.nn.Module:
    if device == "meta":
        with build.SkipInitOnMeta():
            return cls(**kwargs, device="meta")
    return cls(**kwargs)


def _same_structure(got: torch.nn.Module, want: torch.nn.Module) -> None:
    assert repr(got) == repr(want)
    assert [(k, tuple(v.shape), v.dtype) for k, v in got.state_dict().items()] == [
        (k, tuple(v.shape), v.dtype) for k, v in want.state_dict().items()]
    assert [(k, tuple(v.shape)) for k, v in got.named_buffers()] == [
        (k, tuple(v.shape)) for k, v in want.named_buffers()]


def _try_var(spec: str, base: dict[str, Any], name: str, value: Any, device: str = "meta"
             ) -> tuple[str, torch.nn.Module | None, torch.nn.Module | None]:
    """("built", got, want) when the compiled class takes ``name=value`` and builds what load builds;
    ("refused", None, None) when it refuses it with the message that names the var."""
    compiled = _source(spec, base)
    cls = build.make_class(compiled.source_code, compiled.name)
    try:
        got = _build(cls, {name: value}, device)
    except ValueError as exc:
        message = str(exc)
        assert message.startswith(f"{name}="), message
        assert REFUSAL.search(message), message
        return "refused", None, None
    want = netspec.load(spec, device=device, overrides={**base, name: value})
    assert type(got).__name__ == type(want).__name__
    _same_structure(got, want)
    return "built", got, want


def _vars(spec: str, base: dict[str, Any]) -> dict[str, Any]:
    return dict(_source(spec, base).inference.program.var_values)


def _cases() -> list[Any]:
    cases = []
    for spec, base in SPECS:
        for name, value in _vars(spec, base).items():
            other = codegen._other_value(value)
            if other is not codegen._NOTHING:
                cases.append(pytest.param(spec, base, name, other, id=f"{spec.split('/')[-1]}-{name}"))
    return cases


@pytest.mark.parametrize(("spec", "base", "name", "value"), _cases())
def test_every_var_builds_what_load_builds_or_is_refused(spec: str, base: dict[str, Any], name: str,
                                                         value: Any) -> None:
    try:
        netspec.load(spec, device="meta", overrides={**base, name: value})
    except SpecError:
        pytest.skip(f"{name}={value!r} is no valid value of this spec")
    _try_var(spec, base, name, value)


@pytest.mark.parametrize("spec", sorted(MUST_WORK))
def test_the_vars_people_change_are_constructor_arguments(spec: str) -> None:
    base = dict(SPECS)[spec]
    for name, value in MUST_WORK[spec].items():
        outcome, _, _ = _try_var(spec, base, name, value)
        assert outcome == "built", (spec, name)


def test_resnet_takes_num_classes_and_layers_as_torchvision_does() -> None:
    source = netspec.compile_source("zoo/resnet18")
    assert re.search(r"def __init__\(\n\s+self,\n\s+block='BasicBlock',\n\s+layers=\(2, 2, 2, 2\),\n"
                     r"\s+num_classes=1000,", source)
    assert "for i in range(layers[1]):" in source
    assert "nn.Linear(512, num_classes, device=device, dtype=dtype)" in source
    ResNet = netspec.build_class("zoo/resnet18")
    for kwargs in ({"num_classes": 10}, {"layers": [3, 4, 6, 3]}, {"layers": (1, 1, 1, 1), "num_classes": 3}):
        got = _build(ResNet, kwargs, "meta")
        want = netspec.load("zoo/resnet18", device="meta", **kwargs)
        _same_structure(got, want)
    # resnet18 with layers [3, 4, 6, 3] is resnet34: torchvision's count
    assert sum(p.numel() for p in _build(ResNet, {"layers": [3, 4, 6, 3]}, "meta").parameters()) == 21_797_672


def test_a_var_the_class_cannot_follow_is_refused_by_name() -> None:
    ResNet = netspec.build_class("zoo/resnet18")
    with pytest.raises(ValueError, match=r"^block='Bottleneck': this class was generated for block='BasicBlock'"):
        ResNet(block="Bottleneck", device="meta")
    # the value it was generated for is accepted, as a list or a tuple
    VGG = netspec.build_class("zoo/vgg11_bn")
    cfg = netspec.compile_spec("zoo/vgg11_bn").inference.program.var_values["cfg"]
    _build(VGG, {"cfg": list(cfg)}, "meta")
    _build(VGG, {"cfg": tuple(cfg)}, "meta")
    with pytest.raises(ValueError, match=r"^cfg=.*--set cfg="):
        _build(VGG, {"cfg": [64, "M"]}, "meta")


@pytest.mark.parametrize(("spec", "name", "value"), [
    ("zoo/resnet18", "num_classes", 10),
    ("zoo/resnet18", "layers", [1, 2, 1, 1]),
    ("zoo/resnet50", "layers", [1, 1, 2, 1]),
    ("zoo/mobilenet_v2", "num_classes", 7),
    ("zoo/densenet121", "bn_size", 2),
    ("zoo/gpt2", "n_layer", 3),
    ("zoo/llama", "num_hidden_layers", 3),
    ("zoo/vit_b_16", "num_layers", 3),
])
def test_same_outputs_under_the_same_weights(spec: str, name: str, value: Any) -> None:
    base = dict(SPECS)[spec]
    torch.manual_seed(0)
    outcome, got, want = _try_var(spec, base, name, value, device="cpu")
    assert outcome == "built" and got is not None and want is not None
    got.load_state_dict(want.state_dict())
    got.eval()
    want.eval()
    compiled = _source(spec, {**base, name: value})
    inputs = []
    for inp in compiled.inference.model.inputs:
        shape = [1 if isinstance(d, str) else d for d in inp.shape]
        if "input_ids" in inp.name:
            shape = [1, 5]
            inputs.append(torch.randint(0, 64, shape))
        else:
            shape = [1, 3, 64, 64] if spec != "zoo/vit_b_16" else shape
            inputs.append(torch.randn(shape))
    with torch.no_grad():
        assert torch.equal(got(*inputs), want(*inputs))


def test_an_expression_var_is_computed_from_the_arguments_unless_given() -> None:
    source = netspec.compile_source("zoo/gpt2")
    assert "n_inner=None," in source
    assert "if n_inner is None:\n            n_inner = 4 * n_embd" in source
    base = dict(SPECS)["zoo/gpt2"]
    GPT2 = build.make_class(*(lambda c: (c.source_code, c.name))(_source("zoo/gpt2", base)))
    _same_structure(_build(GPT2, {"n_embd": 32}, "meta"),
                    netspec.load("zoo/gpt2", device="meta", overrides={**base, "n_embd": 32}))
    _same_structure(_build(GPT2, {"n_inner": 24}, "meta"),
                    netspec.load("zoo/gpt2", device="meta", overrides={**base, "n_inner": 24}))


def test_the_class_compiled_and_the_class_loaded_are_one_text() -> None:
    compiled = api.compile_spec("zoo/resnet18", overrides={"num_classes": 10})
    assert netspec.compile_source("zoo/resnet18", overrides={"num_classes": 10}) == compiled.source_code
    assert "num_classes=10," in compiled.source_code
    # generated twice, byte-identical
    api.cache_clear()
    assert api.compile_spec("zoo/resnet18", overrides={"num_classes": 10}).source_code == compiled.source_code


def test_a_spec_without_vars_is_written_as_before(write_spec) -> None:
    source = netspec.compile_source("lenet")
    assert "def __init__(self, device=None, dtype=None):" in source
    assert "_generated_for" not in source


def test_hostile_var_values_stay_literals(write_spec) -> None:
    path = write_spec('''
        netspec: 1
        name: Net
        inputs: {x: [N, 4]}
        vars: {note: "'); import os; ('", width: 8, tag: "a\\nb\\"c"}
        layers:
          fc: {type: Linear, out_features: width}
        ''')
    source = netspec.compile_source(path)
    assert "import os" not in source.replace(repr("'); import os; ('"), "")
    Net = netspec.build_class(path)
    got = _build(Net, {"width": 16}, "meta")
    _same_structure(got, netspec.load(path, device="meta", width=16))
    # read by nothing: free, and the model is the same whatever its value
    _same_structure(_build(Net, {"note": "other", "tag": "x"}, "meta"), netspec.load(path, device="meta"))


def test_a_var_named_as_a_class_is_no_constructor_argument(write_spec) -> None:
    """``vars: {Blk: 3}`` beside ``blocks: {Blk: ...}``: as an argument it would hide the class in __init__."""
    path = write_spec('''
        netspec: 1
        name: Net
        inputs: {x: [N, 4]}
        vars: {Blk: 3, w: 5}
        blocks:
          Blk:
            args: {n: int}
            inputs: {x: [N, n]}
            layers:
              lin: {type: Linear, out_features: n}
        layers:
          fc: {type: Linear, out_features: w}
          blk: [{type: Blk, n: w, repeat: Blk}]
        ''')
    source = netspec.compile_source(path)
    assert "def __init__(self, w=5, device=None, dtype=None):" in source
    Net = netspec.build_class(path)
    _same_structure(_build(Net, {}, "meta"), netspec.load(path, device="meta"))
    with pytest.raises(ValueError, match=r"^w=6: "):
        Net(w=6)


def _third_value(value: Any) -> Any:
    """A value other than the spec's and than those codegen probes with (numbers moved by 5, not doubled or by 3)."""
    if isinstance(value, bool):
        return codegen._NOTHING
    if isinstance(value, int):
        return value + 5
    if isinstance(value, float):
        return value * 0.7
    if isinstance(value, list):
        items = [_third_value(v) if isinstance(v, (int, float, list)) and not isinstance(v, bool) else v
                 for v in value]
        return codegen._NOTHING if any(v is codegen._NOTHING for v in items) or items == value else items
    return codegen._NOTHING


def _free_cases() -> list[Any]:
    cases = []
    for spec, base in SPECS:
        source = _source(spec, base).source_code
        for name, value in _vars(spec, base).items():
            other = _third_value(value)
            if f"_generated_for({name!r}" not in source and other is not codegen._NOTHING:
                cases.append(pytest.param(spec, base, name, other, id=f"{spec.split('/')[-1]}-{name}"))
    return cases


@pytest.mark.parametrize(("spec", "base", "name", "value"), _free_cases())
def test_a_free_var_serves_values_it_was_not_probed_with(spec: str, base: dict[str, Any], name: str,
                                                         value: Any) -> None:
    """The probe tries one other value; a free var must serve others too (here: each number moved by 5)."""
    try:
        netspec.load(spec, device="meta", overrides={**base, name: value})
    except SpecError:
        pytest.skip(f"{name}={value!r} is no valid value of this spec")
    outcome, _, _ = _try_var(spec, base, name, value)
    assert outcome == "built"
