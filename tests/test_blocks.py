"""Programs of module definitions: blocks, conditions, repeats, groups, vars, overrides, imports, outputs.

Each behaviour is checked against what torch builds and runs: the state_dict layout, the outputs
of the generated module against a hand-written twin, and the generated classes themselves.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch
from torch import nn

import netspec
from netspec import api
from netspec.errors import SpecError
from tests.conftest import layout

BASIC = """
netspec: 1
name: TinyResNet
inputs: {x: [N, 3, 16, 16]}
outputs: [N, num_classes]
vars: {widths: [8, 16], depth: 2, num_classes: 5}
blocks:
  BasicBlock:
    args: {inplanes: int, planes: int, stride: 1}
    inputs: {x: [N, inplanes, H, W]}
    layers:
      conv1: {type: Conv2d, out_channels: planes, kernel_size: 3, stride: stride, padding: 1, bias: false}
      bn1: BatchNorm2d
      relu: {type: ReLU, inplace: true}
      conv2: {type: Conv2d, out_channels: planes, kernel_size: 3, padding: 1, bias: false}
      bn2: BatchNorm2d
      downsample:
        if: stride != 1 or inplanes != planes
        type: Sequential
        layers:
          - {type: Conv2d, out_channels: planes, kernel_size: 1, stride: stride, bias: false}
          - BatchNorm2d
    forward:
      - out = relu(bn1(conv1(x)))
      - out = bn2(conv2(out))
      - identity = downsample(x) if downsample else x
      - return relu(out + identity)
layers:
  stem: {type: Conv2d, out_channels: "widths[0]", kernel_size: 3, padding: 1}
  stage1: [{type: BasicBlock, planes: "widths[0]", repeat: depth}]
  stage2: [{type: BasicBlock, planes: "widths[1]", stride: "2 if i == 0 else 1", repeat: depth}]
  pool: {type: AdaptiveAvgPool2d, output_size: 1}
  fc: {type: Linear, out_features: num_classes}
forward: [stem, stage1, stage2, pool, flatten, fc]
"""


class TwinBlock(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        identity = self.downsample(x) if self.downsample is not None else x
        return self.relu(out + identity)


class Twin(nn.Module):
    def __init__(self, widths: tuple[int, int] = (8, 16), depth: int = 2, num_classes: int = 5) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, widths[0], 3, padding=1)
        self.stage1 = nn.Sequential(*[TwinBlock(widths[0], widths[0]) for _ in range(depth)])
        self.stage2 = nn.Sequential(*[TwinBlock(widths[0] if i == 0 else widths[1], widths[1], 2 if i == 0 else 1)
                                      for i in range(depth)])
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(widths[1], num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.pool(self.stage2(self.stage1(self.stem(x))))
        return self.fc(torch.flatten(x, 1))


def refusal(text: str, **kwargs: object) -> list[tuple[str, int, str]]:
    with pytest.raises(SpecError) as info:
        netspec.compile_spec(text=textwrap.dedent(text), **kwargs)  # type: ignore[arg-type]
    return [(d.code, d.span.line if d.span else 0, d.message) for d in info.value.errors]


def same_module(ours: nn.Module, theirs: nn.Module, shape: tuple[int, ...]) -> None:
    assert layout(ours) == layout(theirs)
    ours.load_state_dict(theirs.state_dict(), strict=True)
    ours.eval()
    theirs.eval()
    x = torch.randn(*shape)
    torch.testing.assert_close(ours(x), theirs(x))


# ---------------------------------------------------------------- blocks against a hand-written twin


def test_blocks_equal_their_hand_written_twin() -> None:
    torch.manual_seed(0)
    same_module(netspec.load(text=BASIC), Twin(), (2, 3, 16, 16))


def test_overrides_change_the_program() -> None:
    torch.manual_seed(0)
    ours = netspec.load(text=BASIC, widths=[4, 12], depth=3, num_classes=7)
    same_module(ours, Twin((4, 12), 3, 7), (2, 3, 16, 16))
    assert netspec.summary(text=BASIC, overrides={"depth": 3}).vars["depth"] == 3


def test_generated_source_has_one_class_per_block_with_arguments() -> None:
    code = netspec.compile_source(text=BASIC)
    assert code.count("class BasicBlock(nn.Module):") == 1
    assert "def __init__(self, inplanes, planes, stride=1, device=None, dtype=None):" in code
    # the root takes its vars as constructor arguments: its entries are written over them (issue 19)
    assert "def __init__(self, widths=(8, 16), depth=2, num_classes=5, device=None, dtype=None):" in code
    assert "BasicBlock(widths[0] if i == 0 else widths[1], widths[1], stride=2 if i == 0 else 1, device=device, " \
        "dtype=dtype)" in code
    assert "if stride != 1 or inplanes != planes:" in code
    assert "self.downsample = None" in code
    assert "NETSPEC_VARS = {'widths': [8, 16], 'depth': 2, 'num_classes': 5}" in code
    assert code.index("class BasicBlock") < code.index("class TinyResNet")


def test_generated_source_runs_without_netspec(tmp_path: Path) -> None:
    (tmp_path / "model.py").write_text(netspec.compile_source(text=BASIC), encoding="utf-8")
    (tmp_path / "netspec.py").write_text("raise ImportError('netspec must not be needed')\n", encoding="utf-8")
    script = ("import torch, model\nm = model.TinyResNet().eval()\n"
              "print(tuple(m(torch.randn(2, 3, 16, 16)).shape), len(m.state_dict()))")
    out = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[0].startswith("(2, 5)")


def test_compile_and_export_with_a_dynamic_batch() -> None:
    model = netspec.load(text=BASIC).eval()
    x = torch.randn(3, 3, 16, 16)
    compiled = torch.compile(model, fullgraph=True, backend="eager")
    torch.testing.assert_close(compiled(x), model(x))
    batch = torch.export.Dim("batch", min=2)
    exported = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    torch.testing.assert_close(exported.module()(torch.randn(5, 3, 16, 16)).shape, torch.Size([5, 5]))


def test_summary_is_a_hierarchy_with_container_totals() -> None:
    result = netspec.summary(text=BASIC)
    rows = {r.path: r for r in result.rows}
    assert rows["stage2"].params == rows["stage2.0"].params + rows["stage2.1"].params
    assert rows["stage2.0"].type == "BasicBlock" and rows["stage2.0"].depth == 1
    assert rows["stage2.0.conv1"].depth == 2
    assert "stage2.0.downsample" in rows and "stage1.0.downsample" not in rows
    assert sum(r.params for r in result.rows if r.depth == 0) == result.total_params
    folded = result.render(depth=0)
    assert "stage2.0" not in folded and "stage2 " in folded
    assert all("depth" in row for row in result.to_json()["layers"])


# ---------------------------------------------------------------- conditions, repeats, groups


def test_a_false_condition_closes_up_a_list_sequential() -> None:
    text = """
    netspec: 1
    name: M
    inputs: {x: [N, 4]}
    vars: {extra: false}
    layers:
      seq:
        - {type: Linear, out_features: 8, if: extra}
        - {type: Linear, out_features: 6}
        - ReLU
    """
    model = netspec.load(text=textwrap.dedent(text))
    assert list(model.state_dict()) == ["seq.0.weight", "seq.0.bias"]
    model = netspec.load(text=textwrap.dedent(text), extra=True)
    assert list(model.state_dict()) == ["seq.0.weight", "seq.0.bias", "seq.1.weight", "seq.1.bias"]


def test_groups_and_name_patterns_interleave_children() -> None:
    text = """
    netspec: 1
    name: M
    inputs: {x: [N, 4]}
    vars: {n: 3}
    layers:
      body:
        type: Sequential
        layers:
          stages:
            repeat: n
            layers:
              "fc{i + 1}": {type: Linear, out_features: 4}
              "act{i + 1}": {type: ReLU, if: "i < n - 1"}
    """
    model = netspec.load(text=textwrap.dedent(text))
    assert [name for name, _ in model.body.named_children()] == ["fc1", "act1", "fc2", "act2", "fc3"]


def test_forward_loops_over_a_repeated_group_in_a_block() -> None:
    text = """
    netspec: 1
    name: M
    inputs: {x: [N, 2, 8, 8]}
    blocks:
      Dense:
        args: {c: int, k: int, n: int}
        inputs: {x: [N, c, H, W]}
        layers:
          convs:
            repeat: {count: n, name: "layer{i + 1}"}
            type: Conv2d
            in_channels: c + i * k
            out_channels: k
            kernel_size: 3
            padding: 1
        forward:
          - "for layer in convs: x = cat([x, layer(x)], 1)"
          - return x
    layers:
      dense: {type: Dense, k: 3, n: 2}
    """
    model = netspec.load(text=textwrap.dedent(text))
    assert [name for name, _ in model.dense.named_children()] == ["layer1", "layer2"]
    assert tuple(model(torch.randn(1, 2, 8, 8)).shape) == (1, 8, 8, 8)
    assert netspec.summary(text=textwrap.dedent(text)).output_shape == ("N", 8, 8, 8)


def test_a_list_block_is_a_sequential() -> None:
    text = """
    netspec: 1
    name: M
    inputs: {x: [N, 3, 8, 8]}
    blocks:
      ConvNormAct:
        args: {in_channels: int, out_channels: int, kernel_size: 3}
        inputs: {x: [N, in_channels, H, W]}
        layers:
          - {type: Conv2d, out_channels: out_channels, kernel_size: kernel_size, padding: (kernel_size - 1) // 2}
          - BatchNorm2d
          - {type: ReLU6, inplace: true}
    layers:
      features: [{type: ConvNormAct, out_channels: 8}, {type: ConvNormAct, out_channels: 4, kernel_size: 1}]
    """
    code = netspec.compile_source(text=textwrap.dedent(text))
    assert "class ConvNormAct(nn.Sequential):" in code
    model = netspec.load(text=textwrap.dedent(text))
    assert list(model.state_dict())[:2] == ["features.0.0.weight", "features.0.0.bias"]
    assert isinstance(model.features[0], nn.Sequential)


def test_a_conditional_child_named_by_a_pattern_in_a_block_group() -> None:
    text = """
    netspec: 1
    name: M
    inputs: {x: [N, 4, 8, 8]}
    blocks:
      Stage:
        args: {c: int, n: 2}
        inputs: {x: [N, c, H, W]}
        layers:
          body:
            repeat: n
            layers:
              "conv{i}": {type: Conv2d, out_channels: c, kernel_size: 3, padding: 1}
              "act{i}": {type: ReLU, if: "i < n - 1"}
        forward:
          - "for layer in body: x = layer(x)"
          - return x
    layers:
      stage: Stage
    """
    model = netspec.load(text=textwrap.dedent(text))  # the generated class was not Python: self.act{i} = None
    assert [name for name, _ in model.stage.named_children()] == ["conv0", "act0", "conv1"]


UNBUILT = """
netspec: 1
name: Net
inputs: {x: [N, 8, 16, 16]}
vars: {use_se: false}
blocks:
  SE:
    args: {c: int}
    inputs: {x: [N, c, H, W]}
    layers:
      fc1: {type: Conv2d, out_channels: 4, kernel_size: 1}
      fc2: {type: Conv2d, out_channels: c, kernel_size: 1}
    forward:
      - return x * sigmoid(fc2(relu(fc1(adaptive_avg_pool2d(x, 1)))))
  Gate:
    inputs: {x: [N, C, H, W]}
    layers:
      g: {type: Conv2d, out_channels: 1, kernel_size: 1}
    forward:
      - return x * sigmoid(g(x))
  Block:
    args: {inplanes: int, planes: int, stride: 1, se_on: false}
    inputs: {x: [N, inplanes, H, W]}
    layers:
      conv: {type: Conv2d, out_channels: planes, kernel_size: 3, stride: stride, padding: 1, bias: false}
      se: {type: SE, if: se_on}
      downsample:
        if: stride != 1 or inplanes != planes
        type: Sequential
        layers:
          - {type: Conv2d, out_channels: planes, kernel_size: 1, stride: stride, bias: false}
          - BatchNorm2d
    forward:
      - y = conv(x)
      - y = se(y) if se else y
      - return relu(y + (downsample(x) if downsample else x))
  Head:
    args: {c: int, k: int, hidden: 0}
    inputs: {x: [N, c, H, W]}
    layers:
      mid: {type: Linear, out_features: hidden, if: hidden > 0}
      fc: {type: Linear, out_features: k}
    forward:
      - x = flatten(adaptive_avg_pool2d(x, 1), 1)
      - x = relu(mid(x)) if mid else x
      - return fc(x)
layers:
  layer1: [{type: Block, planes: 8, repeat: 2}]
  se: {type: SE, if: use_se}
  gate: {type: Gate, if: use_se}
  head: {type: Head, k: 3}
forward:
  - x = layer1(x)
  - x = se(x) if se else x
  - x = gate(x) if gate else x
  - return head(x)
"""


def test_a_layer_no_instance_builds_is_written_for_the_arguments_that_build_it() -> None:
    """ResNet's downsample when no block changes width, a squeeze-excite switched off by a var and by an
    argument, a head's optional hidden layer: torch runs the spec (issue 15), and each class is right for the
    arguments that do build them."""
    code = netspec.compile_source(text=UNBUILT)
    assert "nn.Conv2d(inplanes, planes, kernel_size=1, stride=stride, bias=False" in code
    assert "nn.BatchNorm2d(planes, " in code
    assert "self.fc1 = nn.Conv2d(c, 4, " in code and "self.fc2 = nn.Conv2d(4, c, " in code
    assert "self.se = SE(planes, " in code
    assert "self.mid = nn.Linear(c, hidden, " in code
    assert "self.fc = nn.Linear(hidden if hidden > 0 else c, k, " in code  # the width follows the hidden layer
    assert "self.g = nn.Conv2d(_not_inferred('blocks.Gate.layers.g', 'in_channels'), 1, " in code  # nothing says
    model = netspec.load(text=UNBUILT)
    assert tuple(model(torch.randn(2, 8, 16, 16)).shape) == (2, 3)
    classes = sys.modules[type(model).__module__]
    wide = classes.Block(8, 16, stride=2, se_on=True)  # builds the downsample and the squeeze-excite
    assert tuple(wide(torch.randn(2, 8, 16, 16)).shape) == (2, 16, 8, 8)
    assert [tuple(p.shape) for p in wide.se.parameters()] == [(4, 16, 1, 1), (4,), (16, 4, 1, 1), (16,)]
    assert tuple(classes.Head(8, 3, hidden=5)(torch.randn(2, 8, 4, 4)).shape) == (2, 3)
    with pytest.raises(ValueError, match="in_channels is not known for these arguments"):
        classes.Gate()


# ---------------------------------------------------------------- mistakes, located


HEAD = "netspec: 1\nname: M\ninputs: {x: [N, 4]}\n"


def test_a_typo_in_an_expression_is_reported_at_its_column() -> None:
    codes = refusal(HEAD + "vars: {width: 8}\nlayers:\n  fc: {type: Linear, out_features: widht * 2}\n")
    assert codes[0][:2] == ("undefined-name", 6)
    assert "widht" in codes[0][2]


def test_block_argument_mistakes() -> None:
    block = ("blocks:\n  B:\n    args: {c: int, k: int}\n    inputs: {x: [N, c]}\n"
             "    layers: {fc: {type: Linear, out_features: k}}\n")
    assert refusal(HEAD + block + "layers:\n  b: {type: B}\n")[0][0] == "missing-key"
    codes = refusal(HEAD + block + "layers:\n  b: {type: B, k: 2, kk: 3}\n")
    assert codes[0][0] == "unknown-key" and codes[0][1] == 10
    codes = refusal(HEAD + block + "layers:\n  b: {type: B, c: 5, k: 2}\n")
    assert codes[0][0] == "shape-mismatch"
    assert refusal(HEAD + block + "layers:\n  b: {type: B, k: 2.5}\n")[0][0] == "bad-type"


def test_a_block_that_uses_itself_is_refused() -> None:
    text = HEAD + ("blocks:\n  A:\n    inputs: {x: [N, 4]}\n    layers: {b: B}\n"
                   "  B:\n    inputs: {x: [N, 4]}\n    layers: {a: A}\nlayers:\n  a: A\n")
    assert "block-cycle" in [code for code, _, _ in refusal(text)]


def test_declared_outputs_are_checked() -> None:
    codes = refusal(HEAD + "outputs: [N, 3]\nlayers:\n  fc: {type: Linear, out_features: 4}\n")
    assert codes[0][:2] == ("output-mismatch", 4)


def test_unknown_override_has_a_hint() -> None:
    with pytest.raises(SpecError) as info:
        netspec.compile_spec(text=HEAD + "vars: {width: 8}\nlayers: {fc: {type: Linear, out_features: width}}\n",
                             overrides={"widht": 3})
    assert info.value.errors[0].code == "unknown-var"
    assert info.value.errors[0].hint == "did you mean 'width'?"


def test_repeat_past_the_budget_is_refused_before_building() -> None:
    assert refusal(HEAD + "layers:\n  s: [{type: ReLU, repeat: 10000000}]\n")[0][0] == "bad-value"
    codes = refusal(HEAD + "vars: {n: 10000000}\nlayers:\n  s: [{type: ReLU, repeat: n}]\n")
    assert codes[0][0] == "too-large"
    nested = "vars: {n: 1000}\nlayers:\n  s: [{layers: [{type: ReLU, repeat: {count: n, index: j}}], repeat: n}]\n"
    assert refusal(HEAD + nested)[0][0] == "too-large"


def test_a_name_pattern_must_give_names() -> None:
    text = HEAD + "layers:\n  s:\n    type: Sequential\n    layers:\n      g:\n        repeat: 2\n" \
        "        layers:\n          \"a{i - 5}\": ReLU\n"
    assert refusal(text)[0][0] == "bad-name"


# ---------------------------------------------------------------- imports and extends


LIB = """
netspec: 1
name: Lib
inputs: {x: [N, 4]}
blocks:
  Mlp:
    args: {c: int, hidden: 16}
    inputs: {x: [N, c]}
    layers:
      fc1: {type: Linear, out_features: hidden}
      act: ReLU
      fc2: {type: Linear, out_features: c}
layers:
  m: Mlp
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip(), encoding="utf-8")
    return path


def test_imports_and_extends(tmp_path: Path) -> None:
    write(tmp_path / "lib.yaml", LIB)
    main = write(tmp_path / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  m: {type: Mlp, hidden: 8}\n")
    assert netspec.summary(main).total_params == 4 * 8 + 8 + 8 * 4 + 4
    child = write(tmp_path / "child.yaml", "netspec: 1\nname: Child\nextends: lib.yaml\ninputs: {x: [N, 6]}\n")
    assert netspec.summary(child).total_params == 6 * 16 + 16 + 16 * 6 + 6


def test_an_edited_import_is_seen_by_the_cache(tmp_path: Path) -> None:
    lib = write(tmp_path / "lib.yaml", LIB)
    main = write(tmp_path / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  m: Mlp\n")
    before = netspec.summary(main).total_params
    write(lib, LIB.replace("hidden: 16", "hidden: 2"))
    assert netspec.summary(main).total_params != before


@pytest.mark.parametrize(("wanted", "code"), [
    ("missing.yaml", "import-missing"),
    ("/etc/passwd.yaml", "import-refused"),
    ("lib.txt", "import-refused"),
    ("../outside/lib.yaml", "import-refused"),
])
def test_imports_are_fenced(tmp_path: Path, wanted: str, code: str) -> None:
    write(tmp_path / "outside" / "lib.yaml", LIB)
    main = write(tmp_path / "spec" / "main.yaml", HEAD + f"imports: ['{wanted}']\nlayers:\n  fc: ReLU\n")
    with pytest.raises(SpecError) as info:
        netspec.validate(main)
    (diagnostic,) = info.value.errors
    assert (diagnostic.code, diagnostic.span.line if diagnostic.span else 0) == (code, 4)
    assert "root:" not in str(info.value)  # a refused file is never read, so never quoted


def test_a_symlink_out_of_the_directory_is_refused(tmp_path: Path) -> None:
    write(tmp_path / "outside" / "lib.yaml", LIB)
    (tmp_path / "spec").mkdir()
    os.symlink(tmp_path / "outside" / "lib.yaml", tmp_path / "spec" / "lib.yaml")
    main = write(tmp_path / "spec" / "main.yaml", HEAD + "imports: [lib.yaml]\nlayers:\n  fc: ReLU\n")
    with pytest.raises(SpecError) as info:
        netspec.validate(main)
    assert info.value.errors[0].code == "import-refused"
    assert netspec.validate(main, search_path=[tmp_path / "outside"]) is not None  # named: allowed


def test_import_cycles_and_fifos(tmp_path: Path) -> None:
    write(tmp_path / "a.yaml", HEAD + "extends: b.yaml\n")
    write(tmp_path / "b.yaml", HEAD + "extends: a.yaml\n")
    with pytest.raises(SpecError) as info:
        netspec.validate(tmp_path / "a.yaml")
    assert info.value.errors[0].code == "import-cycle"
    os.mkfifo(tmp_path / "fifo.yaml")
    main = write(tmp_path / "main.yaml", HEAD + "imports: [fifo.yaml]\nlayers:\n  fc: ReLU\n")
    with pytest.raises(SpecError) as info:
        netspec.validate(main)
    assert info.value.errors[0].code == "import-refused"


def test_cli_set_and_search_path(tmp_path: Path, cli) -> None:
    spec = write(tmp_path / "m.yaml", BASIC)
    result = cli("summary", str(spec), "--set", "num_classes=9", "--set", "depth=1")
    assert result.exit_code == 0, result.output
    assert "Vars: widths=[8, 16], depth=1, num_classes=9" in result.output
    result = cli("validate", str(spec), "--set", "nonsense")
    assert result.exit_code == 1 and "bad-override" in result.output
    result = cli("compile", str(spec), "--set", "num_classs=9")
    assert result.exit_code == 1 and "did you mean 'num_classes'?" in result.output
    api.cache_clear()


def test_attention_and_size_ops_match_torch() -> None:
    text = """
    netspec: 1
    name: Attn
    inputs: {x: [N, 5, 8]}
    params:
      token: {shape: [1, 1, 8], init: zeros}
    layers:
      attn: {type: MultiheadAttention, num_heads: 2, batch_first: true}
    forward:
      - x = cat([token.expand(x.size(0), -1, -1), x], 1)
      - h, _ = attn(x, x, x, need_weights=False)
      - out, weights = attn(h, h, h)
      - return out.select(1, 0) + weights.select(1, 0).sum(-1, True)
    """
    ours = netspec.load(text=textwrap.dedent(text)).eval()
    attn = nn.MultiheadAttention(8, 2, batch_first=True)
    assert layout(ours.attn) == layout(attn)
    attn.load_state_dict(ours.attn.state_dict())
    x = torch.randn(3, 5, 8)
    y = torch.cat([ours.token.expand(3, -1, -1), x], 1)
    h, _ = attn(y, y, y, need_weights=False)
    out, weights = attn(h, h, h)
    torch.testing.assert_close(ours(x), out[:, 0] + weights[:, 0].sum(-1, True))
    assert netspec.summary(text=textwrap.dedent(text)).output_shape == ("N", 8)
    assert netspec.summary(text=textwrap.dedent(text)).total_params == sum(p.numel() for p in attn.parameters()) + 8


def test_unpacking_mistakes_are_located() -> None:
    base = HEAD.replace("[N, 4]", "[N, 5, 8]") + "layers:\n  attn: {type: MultiheadAttention, num_heads: 2}\n"
    codes = refusal(base + "forward:\n  - out, w, z = attn(x, x, x)\n  - return out\n")
    assert codes[0][:2] == ("bad-unpack", 7)
    codes = refusal(base + "forward:\n  - out, w = attn(x, x, x, need_weights=False)\n  - return w\n")
    assert codes[0][0] == "bad-unpack"
    codes = refusal(base + "forward:\n  - out, _ = attn(x, x, x, need_weight=False)\n  - return out\n")
    assert codes[0][0] == "bad-call"


def test_an_inference_two_expressions_explain_is_flagged() -> None:
    # b and c are equal in every instance here, so fc's in_features could be written either way
    text = HEAD + ("blocks:\n  B:\n    args: {b: int, c: int}\n    inputs: {x: [N, b]}\n"
                   "    layers: {fc: {type: Linear, out_features: c}, g: {type: Linear, out_features: c}}\n"
                   "layers:\n  one: {type: B, c: 4}\n")
    warnings = netspec.validate(text=text)
    assert [(w.code, w.path[-1]) for w in warnings] == [("ambiguous-inference", "fc"), ("ambiguous-inference", "g")]
    clear = text.replace("fc: {type: Linear, out_features: c}", "fc: {type: Linear, in_features: b, out_features: c}")
    clear = clear.replace("g: {type: Linear, out_features: c}", "g: {type: Linear, in_features: c, out_features: c}")
    assert netspec.validate(text=clear) == []


# ---------------------------------------------------------------- red-team regressions


@pytest.mark.parametrize("weights", [{"average_attn_weights": False}, {"add_bias_kv": True}, {"add_zero_attn": True}])
def test_attention_weights_shape_follows_torch(weights: dict[str, bool]) -> None:
    call_kw = "average_attn_weights" in weights
    layer = {"type": "MultiheadAttention", "num_heads": 4, "batch_first": True, **({} if call_kw else weights)}
    text = (f"netspec: 1\nname: M\ninputs: {{x: [2, 5, 8]}}\nlayers:\n  attn: {layer}\nforward:\n"
            f"  - a, w = attn(x, x, x{', average_attn_weights=False' if call_kw else ''})\n  - return w\n")
    model = netspec.load(text=text).eval()
    assert tuple(model(torch.randn(2, 5, 8)).shape) == netspec.summary(text=text).output_shape


def test_list_locals_in_generated_blocks_never_collide_or_carry_key_text() -> None:
    text = """
    netspec: 1
    name: Net
    inputs: {x: [N, 4]}
    blocks:
      B:
        inputs: {x: [N, 4]}
        vars: {two: 2}
        layers:
          x_2:
            type: Sequential
            layers:
              a: {type: Linear, out_features: 4, if: two > 1}
              x:
                type: Sequential
                layers:
                  b: {type: Linear, out_features: 4, if: two > 1}
          s:
            type: Sequential
            layers:
              g:
                repeat: 2
                layers:
                  "c{i}": {type: Linear, out_features: 4, if: two > 1}
    layers:
      b: B
    """
    text = textwrap.dedent(text)
    code = netspec.compile_source(text=text)
    import re
    locals_ = re.findall(r"^\s*(\S+) = \[\]$", code, re.M)
    assert locals_ and all(name.isidentifier() for name in locals_) and len(set(locals_)) == len(locals_)
    model = netspec.load(text=text)
    assert sum(p.numel() for p in model.parameters()) == netspec.summary(text=text).total_params
    assert tuple(model(torch.randn(3, 4)).shape) == (3, 4)


def test_building_many_children_is_linear() -> None:
    # 40,000 uniquely named children: the duplicate-name check once scanned every earlier child
    text = HEAD + ("vars: {n: 200}\nlayers:\n  s:\n    type: Sequential\n    layers:\n      g:\n"
                   "        repeat: {count: n, index: a}\n        layers:\n          h:\n"
                   "            repeat: {count: n, index: b}\n            layers:\n"
                   "              \"r{a}_{b}\": Identity\n")
    import time
    start = time.process_time()
    assert netspec.summary(text=text).total_params == 0
    assert time.process_time() - start < 30  # quadratic took minutes; linear takes a few seconds
