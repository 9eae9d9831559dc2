"""``init:`` passes: torchvision's re-initialisation declared in a spec (issue 19).

Each zoo model's passes are checked bit for bit against torchvision's own loop, copied below from
torchvision/models/*.py: under one seed, the spec's module must hold exactly the tensors that the same module
built without its passes (``init: []``) holds after torchvision's loop ran on it.  Construction consumes the
random stream in the same order in both (the zoo's modules are torchvision's, child for child), so any
difference in what is filled, in what order, or with which arguments shows.  Then the language itself:
generated code, guards, conditions, block arguments and the refusals.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from torch import nn

import netspec
from tests.conftest import SPECS_DIR

# ---------------------------------------------------------------- torchvision's loops, verbatim


def _resnet_loop(model: nn.Module, zero_init_residual: bool = False) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
    if zero_init_residual:
        for m in model.modules():
            if type(m).__name__ == "Bottleneck" and m.bn3.weight is not None:  # type: ignore[union-attr]
                nn.init.constant_(m.bn3.weight, 0)  # type: ignore[arg-type,union-attr]
            elif type(m).__name__ == "BasicBlock" and m.bn2.weight is not None:  # type: ignore[union-attr]
                nn.init.constant_(m.bn2.weight, 0)  # type: ignore[arg-type,union-attr]


def _vgg_loop(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.constant_(m.bias, 0)


def _mobilenet_v2_loop(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm2d, nn.GroupNorm)):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, 0, 0.01)
            nn.init.zeros_(m.bias)


def _densenet_loop(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)
        elif isinstance(m, nn.Linear):
            nn.init.constant_(m.bias, 0)


def _mlp_block_loop(block: nn.Module) -> None:  # torchvision's MLPBlock.__init__, after its layers
    for m in block.modules():
        if isinstance(m, nn.Linear):
            nn.init.xavier_uniform_(m.weight)
            if m.bias is not None:
                nn.init.normal_(m.bias, std=1e-6)


def _vit_loop(model: Any) -> None:  # the end of VisionTransformer.__init__
    fan_in = model.conv_proj.in_channels * model.conv_proj.kernel_size[0] * model.conv_proj.kernel_size[1]
    nn.init.trunc_normal_(model.conv_proj.weight, std=math.sqrt(1 / fan_in))
    if model.conv_proj.bias is not None:
        nn.init.zeros_(model.conv_proj.bias)
    nn.init.zeros_(model.heads.head.weight)
    nn.init.zeros_(model.heads.head.bias)


LOOPS: dict[str, Callable[[nn.Module], None]] = {
    "resnet18": _resnet_loop, "resnet50": _resnet_loop, "vgg11_bn": _vgg_loop,
    "mobilenet_v2": _mobilenet_v2_loop, "densenet121": _densenet_loop,
}
SEED = 20261206


def _without_passes(tmp_path: Path, model: str, **overrides: Any) -> nn.Module:
    """The zoo model with every pass taken away, the root's and its blocks', torchvision's loop not yet run."""
    data = yaml.safe_load((SPECS_DIR / "zoo" / f"{model}.yaml").read_text(encoding="utf-8"))
    if "extends" in data:  # resnet50, vgg11_bn: the file they change, with their keys laid over it
        base = yaml.safe_load((SPECS_DIR / "zoo" / data.pop("extends")).read_text(encoding="utf-8"))
        data = {**base, **data, "vars": {**base.get("vars", {}), **data.get("vars", {})},
                "blocks": {**base.get("blocks", {}), **data.get("blocks", {})}}
    data.pop("init", None)
    for block in data.get("blocks", {}).values():
        block.pop("init", None)
    spec = tmp_path / "bare.yaml"
    spec.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return netspec.load(spec, **overrides)


def _same(left: nn.Module, right: nn.Module) -> None:
    a, b = left.state_dict(), right.state_dict()
    assert list(a) == list(b)
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, first {different[:3]}"


@pytest.mark.parametrize("model", sorted(LOOPS))
def test_zoo_initialises_as_torchvision(model: str, tmp_path: Path) -> None:
    torch.manual_seed(SEED)
    ours = netspec.load(SPECS_DIR / "zoo" / f"{model}.yaml")
    torch.manual_seed(SEED)
    theirs = _without_passes(tmp_path, model)
    LOOPS[model](theirs)
    _same(ours, theirs)
    torch.manual_seed(SEED)
    default = _without_passes(tmp_path, model)  # the passes change something: this test can fail
    assert any(not torch.equal(x, y) for x, y in zip(ours.state_dict().values(), default.state_dict().values(),
                                                     strict=True))


@pytest.mark.parametrize("model", ["resnet18", "resnet50"])
def test_zero_init_residual_as_torchvision(model: str, tmp_path: Path) -> None:
    torch.manual_seed(SEED)
    ours = netspec.load(SPECS_DIR / "zoo" / f"{model}.yaml", zero_init_residual=True)
    torch.manual_seed(SEED)
    theirs = _without_passes(tmp_path, model, zero_init_residual=True)
    _resnet_loop(theirs, zero_init_residual=True)
    _same(ours, theirs)
    last = "bn3" if model == "resnet50" else "bn2"
    assert float(ours.get_parameter(f"layer1.0.{last}.weight").detach().abs().sum()) == 0.0


@pytest.mark.slow
def test_vgg16_initialises_as_torchvision(tmp_path: Path) -> None:
    torch.manual_seed(SEED)
    ours = netspec.load(SPECS_DIR / "zoo" / "vgg16.yaml")
    torch.manual_seed(SEED)
    theirs = _without_passes(tmp_path, "vgg16")
    _vgg_loop(theirs)
    _same(ours, theirs)


@pytest.mark.slow
def test_vit_initialises_as_torchvision(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """ViT's MLPBlock re-initialises inside its own __init__, before the next layer is built: the bare
    module's MLPBlock class gets torchvision's loop at the end of its __init__, then the root's runs."""
    small = {"num_layers": 2, "hidden_dim": 64, "mlp_dim": 128, "num_heads": 4}
    torch.manual_seed(SEED)
    ours = netspec.load(SPECS_DIR / "zoo" / "vit_b_16.yaml", **small)
    bare = _without_passes(tmp_path, "vit_b_16", **small)
    mlp = type(bare.get_submodule("encoder.layers.encoder_layer_0.mlp"))
    original = mlp.__init__

    def with_loop(self: nn.Module, *args: Any, **kwargs: Any) -> None:
        original(self, *args, **kwargs)
        _mlp_block_loop(self)

    monkeypatch.setattr(mlp, "__init__", with_loop)
    torch.manual_seed(SEED)
    theirs = _without_passes(tmp_path, "vit_b_16", **small)
    assert type(theirs.get_submodule("encoder.layers.encoder_layer_0.mlp")) is mlp
    _vit_loop(theirs)
    _same(ours, theirs)


# ---------------------------------------------------------------- the language

BASE = """\
netspec: 1
name: Net
inputs: {x: [N, 3, 8, 8]}
vars: {zero: false, std: 0.02}
blocks:
  Unit:
    args: {c: int, gain: 1.0}
    inputs: {x: [N, c, H, W]}
    layers:
      conv: {type: Conv2d, out_channels: c, kernel_size: 3, padding: 1}
      bn: BatchNorm2d
    forward: [conv, bn]
    init:
      - Conv2d: {weight: {xavier_uniform: {gain: gain * 2}}}
layers:
  stem: {type: Conv2d, out_channels: 4, kernel_size: 3, bias: false}
  unit: {type: Unit, c: 4}
  head: {type: Conv2d, out_channels: 2, kernel_size: 1}
forward: [stem, unit, head]
"""


def _compile(text: str) -> str:
    return netspec.compile_spec(text=text, filename="net.yaml").source_code


def test_passes_are_written_as_torchvision_writes_them() -> None:
    code = _compile(BASE + """init:
  - Conv2d: {weight: {kaiming_normal: {mode: fan_out, nonlinearity: relu}}, bias: zeros}
    BatchNorm2d: {weight: {constant: {value: 1}}, bias: {normal: {std: std}}}
  - if: zero
    Unit: {bn.weight: zeros}
""")
    assert """        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode='fan_out', nonlinearity='relu')
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1.0)
                nn.init.normal_(m.bias, std=0.02)
""" in code
    # the root takes its vars as constructor arguments (issue 19): a pass under a var's condition is an `if`
    assert """        if zero:
            for m in self.modules():
                if isinstance(m, Unit):
""" in code
    # the block's pass, over its constructor argument
    assert "nn.init.xavier_uniform_(m.weight, gain=gain * 2)" in code


def test_a_pass_under_a_true_condition_runs() -> None:
    model = netspec.loads(BASE + "init:\n  - if: not zero\n    Unit: {bn.weight: zeros}\n")
    assert float(model.unit.bn.weight.detach().abs().sum()) == 0.0


def test_self_fills_this_modules_own_parameters() -> None:
    model = netspec.loads(BASE + "init:\n  - self: {head.weight: ones, unit.bn.bias: {constant: {value: 0.5}}}\n")
    assert torch.equal(model.head.weight, torch.ones_like(model.head.weight))
    assert torch.equal(model.unit.bn.bias, torch.full_like(model.unit.bn.bias, 0.5))


def test_generated_classes_equal_the_in_memory_ones_under_a_seed() -> None:
    text = BASE + "init:\n  - Conv2d: {weight: {kaiming_uniform: {a: 0.1}}}\n"
    torch.manual_seed(1)
    first = netspec.loads(text)
    namespace: dict[str, Any] = {}
    exec(compile(_compile(text), "net.py", "exec"), namespace)  # our own generated source
    torch.manual_seed(1)
    second = namespace["Net"]()
    for (k, a), (_, b) in zip(first.state_dict().items(), second.state_dict().items(), strict=True):
        assert torch.equal(a, b), k


@pytest.mark.parametrize(("init", "code", "message"), [
    ("  - Conv2D: {weight: zeros}", "unknown-layer",
     "init names 'Conv2D', which is neither a layer type, a block nor self"),
    ("  - Conv2d: {wieght: zeros}", "bad-init", "init: no Conv2d here has a parameter 'wieght'"),
    ("  - BatchNorm2d: {weight: kaiming_normal}", "bad-init",
     "unit.bn.weight: kaiming_normal needs a parameter of at least 2 dims to compute fans, found 1"),
    ("  - self: {head.weight: zeros}\n    Conv2d: {weight: zeros}", "bad-init",
     "an init pass names self and layer types together: self is filled once, types in a loop over the submodules"),
    ("  - self: {head.wieght: zeros}", "bad-init", "'head.wieght' is not a parameter of this module"),
    ("  - Conv2d: {weight: {normal: {std: nope}}}", "undefined-name", None),
    ("  - if: missing\n    Conv2d: {weight: zeros}", "undefined-name", None),
    ("  - Conv2d: {weight: {uniform: {a: 1, b: 0}}}", "bad-value", None),
    ("  - Conv2d: {weight: {kaiming_normal: {mode: sideways}}}", "bad-value", None),
])
def test_refusals(init: str, code: str, message: str | None) -> None:
    with pytest.raises(netspec.SpecError) as raised:
        netspec.compile_spec(text=BASE + "init:\n" + init + "\n", filename="net.yaml")
    found = raised.value.diagnostics[0]
    assert found.code == code, found
    if message is not None:
        assert found.message == message
    assert found.span is not None and found.span.line > 20  # at the init entry, not the file's top


def test_a_parameter_the_type_can_lack_is_guarded_not_refused() -> None:
    """stem has no bias (bias: false), head has one: the fill runs where the parameter is, as torchvision's
    ``if m.bias is not None`` does; with no bias anywhere, the fill is written and fills nothing."""
    code = _compile(BASE + "init:\n  - Conv2d: {bias: ones}\n")
    assert "if m.bias is not None:\n                    nn.init.ones_(m.bias)" in code
    model = netspec.loads(BASE + "init:\n  - Conv2d: {bias: ones}\n")
    assert model.stem.bias is None and torch.equal(model.head.bias, torch.ones(2))


def test_sqrt_in_build_expressions_is_math_sqrt() -> None:
    """torchvision's ViT stem std is math.sqrt(1 / fan_in): evaluated and generated as math.sqrt."""
    block = BASE.replace("gain * 2", "sqrt(gain * 723)")
    code = _compile(block)
    assert "import math" in code and "gain=math.sqrt(gain * 723)" in code
    root = _compile(BASE + "init:\n  - Conv2d: {weight: {normal: {std: sqrt(1 / 723)}}}\n")
    assert f"std={math.sqrt(1 / 723)!r}" in root


def test_the_loop_never_shadows_a_name_the_spec_uses() -> None:
    text = BASE.replace("args: {c: int, gain: 1.0}", "args: {c: int, gain: 1.0, m: 0.5}").replace(
        "{xavier_uniform: {gain: gain * 2}}", "{xavier_uniform: {gain: m * 2}}")
    code = _compile(text)
    assert "for _m in self.modules():" in code and "gain=m * 2" in code
    torch.manual_seed(0)
    model = netspec.loads(text)
    assert model.unit.conv.weight.abs().max() <= math.sqrt(6 / (4 * 9 + 4 * 9))  # xavier bound at gain 1.0
