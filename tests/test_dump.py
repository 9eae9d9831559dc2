"""netspec.dump(module): a spec from a built module, and `netspec dump FILE.py:CLASS`.

The round trip: dump a module, load the spec, and the loaded module has the same
state_dict keys, shapes and order, and -- given the original's weights -- the same
outputs.  Run on every shipped and zoo spec's module and on hand-written
torchvision-style modules; what cannot be dumped must say so at its path.
"""

from __future__ import annotations

import textwrap
from collections import OrderedDict
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.nn import functional as F

import netspec
from netspec.tools.dump import DumpError
from tests.conftest import layout

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted(p.name for p in (ROOT / "specs").glob("*.yaml"))
# The language models use what dump cannot read back yet (integer inputs, tensor indexing, buffers, ties): each is
# refused by name (test_what_cannot_be_dumped_is_named_at_its_path), not round-tripped.
LANGUAGE_MODELS = {"gpt2.yaml", "llama.yaml"}
ZOO = sorted(p.name for p in (ROOT / "specs" / "zoo").glob("*.yaml") if p.name not in LANGUAGE_MODELS)
# zoo models small enough to run twice on the CPU in a test; the others are compared on meta (layout only)
ZOO_RUN = {"alexnet.yaml", "resnet18.yaml", "mobilenet_v2.yaml", "vgg11_bn.yaml"}


def _round_trip(module: nn.Module, inputs: dict[str, list[int | str]], run: bool = True) -> str:
    text = netspec.dump(module, inputs=inputs)
    device = next(iter(module.parameters()), torch.empty(0)).device
    again = netspec.loads(text, device=device)
    assert layout(again) == layout(module)
    assert [p.requires_grad for p in again.parameters()] == [p.requires_grad for p in module.parameters()]
    if run:
        again.load_state_dict(module.state_dict())
        module.eval()
        again.eval()
        gen = torch.Generator().manual_seed(0)
        args = [torch.randn([2 if isinstance(d, str) else d for d in shape], generator=gen)
                for shape in inputs.values()]
        with torch.no_grad():
            torch.testing.assert_close(again(*args), module(*args), rtol=1e-5, atol=1e-5)
    return text


def _inputs(spec: str) -> dict[str, list[int | str]]:
    return {k: list(v) for k, v in netspec.summary(spec).inputs.items()}


@pytest.mark.parametrize("spec", SHIPPED)
def test_shipped_specs_round_trip(spec: str) -> None:
    torch.manual_seed(0)
    _round_trip(netspec.load(spec), _inputs(spec))


@pytest.mark.parametrize("spec", ZOO)
def test_zoo_specs_round_trip(spec: str) -> None:
    path = f"specs/zoo/{spec}"
    torch.manual_seed(0)
    run = spec in ZOO_RUN
    module = netspec.load(path, device=None if run else "meta")
    _round_trip(module, _inputs(path), run=run)


def test_dump_is_deterministic_and_reads_like_a_spec() -> None:
    module = netspec.load("lenet", device="meta")
    text = netspec.dump(module, inputs={"x": ["N", 1, 32, 32]})
    assert text == netspec.dump(module, inputs={"x": ["N", 1, 32, 32]})
    assert "conv1: {type: Conv2d, out_channels: 6, kernel_size: 5}" in text  # in_channels inferred, left out
    assert "fc1: {type: Linear, out_features: 120}" in text
    assert "x: [N, 1, 32, 32]" in text


# ---------------------------------------------------------------- hand-written modules


class LeNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 6, 5)
        self.conv2 = nn.Conv2d(6, 16, 5)
        self.fc1 = nn.Linear(16 * 5 * 5, 120)
        self.fc2 = nn.Linear(120, 84)
        self.fc3 = nn.Linear(84, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = F.max_pool2d(F.relu(self.conv1(x)), (2, 2))
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        x = torch.flatten(x, 1)
        x = F.relu(self.fc1(x))
        x = F.relu(self.fc2(x))
        return self.fc3(x)


class BasicBlock(nn.Module):
    """torchvision's BasicBlock, as torchvision writes it."""

    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, kernel_size=3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride=stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x
        out = self.conv1(x)
        out = self.bn1(out)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.bn2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class TinyResNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.layer1 = nn.Sequential(BasicBlock(8, 8), BasicBlock(8, 8))
        self.layer2 = nn.Sequential(BasicBlock(8, 16, stride=2), BasicBlock(16, 16))
        self.pool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(16, 10)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.layer2(self.layer1(self.stem(x)))
        return self.fc(torch.flatten(self.pool(x), 1))


class Residual(nn.Module):
    """Values used twice, a subtraction, a concatenation and raw parameters."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.scale = nn.Parameter(torch.ones(8))
        self.heads = nn.ParameterList([nn.Parameter(torch.randn(8, 3)), nn.Parameter(torch.randn(8, 3))])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.fc(x)
        h = torch.cat([h, x - h.mean(dim=1, keepdim=True)], dim=1) * self.scale
        return torch.mm(h, self.heads[0]) + torch.mm(h, self.heads[1])


def test_sequential_mlp_with_named_children() -> None:
    mlp = nn.Sequential(OrderedDict(hidden=nn.Linear(784, 256), act=nn.ReLU(), out=nn.Linear(256, 10)))
    text = _round_trip(mlp, {"x": ["N", 784]})
    assert "forward" not in text  # applied in order


def test_nested_sequentials() -> None:
    net = nn.Sequential(OrderedDict(
        features=nn.Sequential(nn.Conv2d(3, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(), nn.MaxPool2d(2)),
        head=nn.Sequential(OrderedDict(flat=nn.Flatten(), fc=nn.Sequential(nn.Linear(64, 2), nn.Tanh()))),
    ))
    _round_trip(net, {"x": ["N", 3, 8, 8]})


def test_lenet_module_traced_with_fx() -> None:
    text = _round_trip(LeNet(), {"x": ["N", 1, 32, 32]})
    assert "max_pool2d" in text and "flatten" in text


def test_basic_block_residual_becomes_blocks() -> None:
    model = TinyResNet()
    with torch.no_grad():  # non-trivial batch-norm statistics, so eval mode uses them
        for m in model.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.running_mean.uniform_(-1, 1)
                m.running_var.uniform_(0.5, 2)
    text = _round_trip(model, {"x": ["N", 3, 16, 16]})
    spec = netspec.compile_spec(text=text)
    assert "BasicBlock:" in text and " + " in text
    # layer1.0 and layer1.1 are one definition, so one use repeated; every variant is one block with arguments
    assert "  - {type: BasicBlock, repeat: 2}\n" in text and text.count("BasicBlock:") == 1, text
    assert spec.name == "TinyResNet"


def test_parameters_and_repeated_values() -> None:
    _round_trip(Residual(), {"x": ["N", 4]})


def test_inputs_as_tensor_or_bare_shape() -> None:
    model = LeNet()
    a = netspec.dump(model, inputs=torch.zeros(2, 1, 32, 32))
    b = netspec.dump(model, inputs=[2, 1, 32, 32])
    assert a == b and "x: [2, 1, 32, 32]" in a


# ---------------------------------------------------------------- what cannot be dumped


class WithBuffer(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)
        self.register_buffer("mask", torch.ones(4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x) * self.mask


class Branchy(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.sum() > 0:
            return self.fc(x)
        return x


class WithLoss(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.rnn = nn.L1Loss(reduction="none")  # losses are not netspec layer types

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.rnn(x, x)


class Outer(nn.Module):
    def __init__(self, inner: nn.Module) -> None:
        super().__init__()
        self.body = nn.Sequential(OrderedDict(inner=inner))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


class Sliced(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(4, 4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc(x)[:, 0]


@pytest.mark.parametrize(("module", "path", "words"), [
    (Outer(WithBuffer()), "body.inner.mask", "buffer"),
    (Outer(Branchy()), "body.inner", "data-dependent"),
    (Outer(WithLoss()), "body.inner.rnn", "not a netspec layer type"),
    (Sliced(), "<root>", "indexing a tensor"),
    (nn.Sequential(nn.Linear(4, 4)), "0", "numbered children"),
    (nn.Linear(4, 4), "<root>", "one layer"),
])
def test_what_cannot_be_dumped_is_named_at_its_path(module: nn.Module, path: str, words: str) -> None:
    with pytest.raises(DumpError) as info:
        netspec.dump(module, inputs={"x": ["N", 4]})
    assert str(info.value).startswith(f"{path}: "), str(info.value)
    assert words in str(info.value)


def test_inputs_are_required() -> None:
    with pytest.raises(DumpError, match="input shape is needed"):
        netspec.dump(LeNet())


# ---------------------------------------------------------------- the command


MODELS = textwrap.dedent('''
    import torch
    from torch import nn
    from torch.nn import functional as F


    class LeNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(1, 6, 5)
            self.fc = nn.Linear(6 * 14 * 14, 10)

        def forward(self, x):
            x = F.max_pool2d(F.relu(self.conv1(x)), 2)
            return self.fc(torch.flatten(x, 1))


    class Stateful(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("step", torch.zeros(1))

        def forward(self, x):
            return x + self.step
''')


def test_cli_dump(tmp_path: Path, cli) -> None:
    models = tmp_path / "models.py"
    models.write_text(MODELS)
    result = cli("dump", f"{models}:LeNet", "--input", "x=N,1,32,32")
    assert result.exit_code == 0, result.output
    assert netspec.compile_spec(text=result.output).name == "LeNet"
    out = tmp_path / "lenet.yaml"
    result = cli("dump", f"{models}:LeNet", "--input", "N,1,32,32", "--name", "Small", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert netspec.compile_spec(out).name == "Small"


def test_cli_dump_errors(tmp_path: Path, cli) -> None:
    models = tmp_path / "models.py"
    models.write_text(MODELS)
    result = cli("dump", f"{models}:Stateful", "--input", "x=N,4")
    assert result.exit_code == 1
    assert "step: a buffer" in result.output
    result = cli("dump", f"{models}:Missing", "--input", "x=N,4")
    assert result.exit_code == 1 and "defines no 'Missing'" in result.output
    result = cli("dump", f"{models}:LeNet", "--input", "x=N,-1")
    assert result.exit_code == 2
    result = cli("dump", f"{models}:LeNet")
    assert result.exit_code == 2
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    result = cli("dump", f"{broken}:X", "--input", "x=N,4")
    assert result.exit_code == 1 and "boom" in result.output
