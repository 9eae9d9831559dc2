"""Generated specs of any size, shared by benchmarks/scale.py and tests/test_deep_specs.py (plain text, no imports).

- :func:`flat_spec`: ``n`` layers written out one by one (Linear and ReLU alternating), applied in order.
- :func:`blocks_spec`: ``n`` residual blocks as torchvision's ``BasicBlock`` (conv-bn-relu-conv-bn, ``out +=
  x``, relu) at one width, written as one entry with ``repeat``; ``distinct=True`` gives every instance its own
  argument value (``tag: i``), so no two are identical and each is inferred on its own.
"""

from __future__ import annotations


def flat_spec(layers: int, width: int = 64) -> str:
    """``layers`` layers: Linear(width) and ReLU alternating, applied in order (~4 YAML nodes, ~30 bytes each)."""
    lines = ["netspec: 1", f"name: Flat{layers}", "inputs:", f"  x: [N, {width}]", "layers:"]
    for i in range(layers):
        lines.append(f"  l{i}: {{type: Linear, out_features: {width}}}" if i % 2 == 0 else f"  l{i}: ReLU")
    return "\n".join(lines) + "\n"


def flat_params(layers: int, width: int = 64) -> int:
    return (layers + 1) // 2 * (width * width + width)


def blocks_spec(blocks: int, planes: int = 16, distinct: bool = False) -> str:
    """``blocks`` BasicBlocks of ``planes`` channels on an (N, planes, 8, 8) input, repeated in one entry."""
    tag = ", tag: i" if distinct else ""
    return f"""netspec: 1
name: Deep{blocks}
inputs: {{x: [N, {planes}, 8, 8]}}
vars: {{depth: {blocks}}}
blocks:
  BasicBlock:
    args: {{planes: int, tag: 0}}
    inputs: {{x: [N, planes, H, W]}}
    layers:
      conv1: {{type: Conv2d, out_channels: planes, kernel_size: 3, padding: 1, bias: false}}
      bn1: BatchNorm2d
      relu: {{type: ReLU, inplace: true}}
      conv2: {{type: Conv2d, out_channels: planes, kernel_size: 3, padding: 1, bias: false}}
      bn2: BatchNorm2d
    forward:
      - out = relu(bn1(conv1(x)))
      - out = bn2(conv2(out))
      - out += x
      - return relu(out)
layers:
  body: [{{type: BasicBlock, planes: {planes}{tag}, repeat: depth}}]
forward: [body]
"""


def blocks_params(blocks: int, planes: int = 16) -> int:
    return blocks * (2 * planes * planes * 9 + 4 * planes)
