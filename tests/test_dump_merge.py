"""dump merges the variants of one module class into one block with arguments: torchvision's ResNet (BasicBlock and
Bottleneck, written here as torchvision writes them) dumps to one block, and the spec rebuilds the same module
(state_dict keys, shapes, order, and with the same weights the same outputs).  What arguments cannot say stays one
block per variant."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import pytest
import torch
import yaml
from torch import nn

import netspec
from tests.conftest import layout


def conv3x3(inp: int, out: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(inp, out, kernel_size=3, stride=stride, padding=1, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = conv3x3(planes, planes, stride)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * 4, kernel_size=1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        return self.relu(out)


class ResNet(nn.Module):
    def __init__(self, block: type = BasicBlock, layers: tuple[int, ...] = (2, 2, 2, 2), num_classes: int = 1000,
                 width: int = 64) -> None:
        super().__init__()
        self.inplanes = width
        self.conv1 = nn.Conv2d(3, width, kernel_size=7, stride=2, padding=3, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(kernel_size=3, stride=2, padding=1)
        self.layer1 = self._make_layer(block, width, layers[0])
        self.layer2 = self._make_layer(block, width * 2, layers[1], stride=2)
        self.layer3 = self._make_layer(block, width * 4, layers[2], stride=2)
        self.layer4 = self._make_layer(block, width * 8, layers[3], stride=2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(width * 8 * block.expansion, num_classes)

    def _make_layer(self, block: type, planes: int, blocks: int, stride: int = 1) -> nn.Sequential:
        downsample = None
        if stride != 1 or self.inplanes != planes * block.expansion:
            downsample = nn.Sequential(nn.Conv2d(self.inplanes, planes * block.expansion, 1, stride=stride,
                                                 bias=False), nn.BatchNorm2d(planes * block.expansion))
        layers = [block(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * block.expansion
        layers += [block(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------- the tests


def _round_trip(module: nn.Module, shape: list[Any]) -> dict[str, Any]:
    torch.manual_seed(0)
    with torch.no_grad():  # batch-norm statistics that matter in eval mode
        for m in module.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    text = netspec.dump(module, inputs={"x": shape})
    again = netspec.loads(text)
    assert layout(again) == layout(module)
    again.load_state_dict(module.state_dict())
    module.eval()
    again.eval()
    x = torch.randn([2 if isinstance(d, str) else d for d in shape])
    with torch.no_grad():
        torch.testing.assert_close(again(x), module(x), rtol=1e-5, atol=1e-5)
    data: dict[str, Any] = yaml.safe_load(text)
    return data


def test_resnet18_dumps_one_basic_block_with_arguments() -> None:
    data = _round_trip(ResNet(BasicBlock, (2, 2, 2, 2), num_classes=10, width=8), ["N", 3, 32, 32])
    assert list(data["blocks"]) == ["BasicBlock"]
    block = data["blocks"]["BasicBlock"]
    # each default is the value most uses pass (the first stage's, on a tie), so most uses pass little
    assert block["args"] == {"in_channels": 8, "out_channels": 8, "stride": 1, "use_downsample": False}
    assert data["layers"]["layer1"] == [{"type": "BasicBlock", "repeat": 2}]
    assert block["layers"]["downsample"]["if"] == "use_downsample"
    assert block["layers"]["conv1"]["stride"] == "stride"
    assert block["forward"][-1].startswith("if downsample:\n")
    layers = data["layers"]
    assert all(use == "BasicBlock" or use["type"] == "BasicBlock" for stage in ("layer1", "layer2", "layer3", "layer4")
               for use in layers[stage])
    stride_2 = [use for stage in ("layer2", "layer3", "layer4") for use in layers[stage] if isinstance(use, dict) and
                use.get("stride") == 2]
    assert len(stride_2) == 3 and all(use["use_downsample"] is True for use in stride_2)


def test_a_run_of_equal_uses_is_one_repeat() -> None:
    data = _round_trip(ResNet(BasicBlock, (3, 1, 1, 1), num_classes=10, width=8), ["N", 3, 32, 32])
    layer1 = data["layers"]["layer1"]
    assert len(layer1) == 1 and layer1[0]["repeat"] == 3 and layer1[0]["type"] == "BasicBlock"


def test_resnet50_dumps_one_bottleneck() -> None:
    data = _round_trip(ResNet(Bottleneck, (3, 4, 6, 3), num_classes=10, width=4), ["N", 3, 32, 32])
    assert list(data["blocks"]) == ["Bottleneck"]
    assert "use_downsample" in data["blocks"]["Bottleneck"]["args"]
    assert [u.get("repeat", 1) if isinstance(u, dict) else 1 for u in data["layers"]["layer3"]] == [1, 5]


class Act(nn.Module):
    def __init__(self, act: nn.Module) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.act = act

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act(self.fc(x))


class Wrap(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.inner = inner

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.inner(x) + x


def test_variants_that_differ_in_layer_type_stay_apart() -> None:
    data = _round_trip(nn.Sequential(OrderedDict(
        a=Act(nn.ReLU()), b=Act(nn.GELU()))), ["N", 4])
    assert list(data["blocks"]) == ["Act", "Act2"]
    assert not any("args" in block for block in data["blocks"].values())


def test_a_class_that_holds_itself_stays_one_block_per_variant() -> None:
    # Wrap(Wrap(Linear)): one Wrap block would have to hold a Wrap
    data = _round_trip(nn.Sequential(OrderedDict(w=Wrap(Wrap(nn.Linear(4, 4))))), ["N", 4])
    assert sorted(data["blocks"]) == ["Wrap", "Wrap2"]


class Many(nn.Module):
    def __init__(self, k: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(*[nn.Conv2d(4, 4, 1, dilation=k + i, padding=0) for i in range(10)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.convs(x)


def test_more_than_eight_arguments_stay_apart() -> None:
    data = _round_trip(nn.Sequential(OrderedDict(a=Many(1), b=Many(20))), ["N", 4, 8, 8])
    assert sorted(data["blocks"]) == ["Many", "Many2"]


@pytest.mark.parametrize("spec", ["zoo/resnet18", "zoo/resnet50"])
def test_zoo_resnets_dump_one_block(spec: str) -> None:
    module = netspec.load(spec, device="meta")
    text = netspec.dump(module, inputs={"x": ["N", 3, 224, 224]})
    blocks = yaml.safe_load(text)["blocks"]
    assert len(blocks) == 1 and "use_downsample" in next(iter(blocks.values()))["args"]
    assert layout(netspec.loads(text, device="meta")) == layout(module)
