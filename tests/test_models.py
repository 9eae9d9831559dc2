"""Models beyond the seed, written as specs and held against hand-written twins:
skip connections, normalisation, embeddings, transposed convolutions, several inputs."""

from __future__ import annotations

import re

import torch
from torch import nn

import netspec
from tests.conftest import layout

RESIDUAL = """
netspec: 1
name: Residual
inputs:
  x: [N, 3, 16, 16]
layers:
  stem: {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  bn0: BatchNorm2d
  conv1: {type: Conv2d, out_channels: 8, kernel_size: 3, padding: same, bias: false}
  bn1: BatchNorm2d
  conv2: {type: Conv2d, out_channels: 8, kernel_size: 3, padding: 1, bias: false}
  bn2: BatchNorm2d
  pool: {type: AdaptiveAvgPool2d, output_size: 1}
  head: {type: Linear, out_features: 5}
forward:
  - x = relu(bn0(stem(x)))
  - h = relu(bn1(conv1(x)))
  - h = bn2(conv2(h))
  - x = relu(h + x)
  - return head(flatten(pool(x)))
"""


class Residual(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn0 = nn.BatchNorm2d(8)
        self.conv1 = nn.Conv2d(8, 8, 3, padding="same", bias=False)
        self.bn1 = nn.BatchNorm2d(8)
        self.conv2 = nn.Conv2d(8, 8, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(8)
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.head = nn.Linear(8, 5)

    def forward(self, x):
        x = torch.relu(self.bn0(self.stem(x)))
        h = torch.relu(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        x = torch.relu(h + x)
        return self.head(torch.flatten(self.pool(x), 1))


TEXT = """
netspec: 1
name: Bag
inputs:
  tokens: {shape: [N, T], dtype: int64}
  mask: [N, T, 1]
layers:
  embed: {type: Embedding, num_embeddings: 100, embedding_dim: 16, padding_idx: 0}
  norm: {type: LayerNorm, eps: 0.001}
  mlp:
    type: Sequential
    layers:
      fc: {type: Linear, out_features: 32}
      act: GELU
      drop: {type: Dropout, p: 0.1}
      out: {type: Linear, out_features: 2}
forward:
  - h = norm(embed(tokens)) * mask
  - pooled = sum(h, dim=1) / sum(mask, dim=1)
  - return log_softmax(mlp(pooled), dim=-1)
"""


class Bag(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed = nn.Embedding(100, 16, padding_idx=0)
        self.norm = nn.LayerNorm(16, eps=0.001)
        self.mlp = nn.Sequential(__import__("collections").OrderedDict([
            ("fc", nn.Linear(16, 32)), ("act", nn.GELU()), ("drop", nn.Dropout(0.1)), ("out", nn.Linear(32, 2))]))

    def forward(self, tokens, mask):
        h = self.norm(self.embed(tokens)) * mask
        pooled = h.sum(1) / mask.sum(1)
        return torch.log_softmax(self.mlp(pooled), -1)


AUTOENCODER = """
netspec: 1
name: AutoEncoder
inputs:
  x: [N, 1, 28, 28]
layers:
  encoder:
    - {type: Conv2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1}
    - {type: GroupNorm, num_groups: 4}
    - SiLU
    - {type: Conv2d, out_channels: 32, kernel_size: 3, stride: 2, padding: 1}
    - LeakyReLU
  decoder:
    - {type: ConvTranspose2d, out_channels: 16, kernel_size: 3, stride: 2, padding: 1, output_padding: 1}
    - ReLU6
    - {type: Upsample, scale_factor: 2, mode: bilinear}
    - {type: Conv2d, out_channels: 1, kernel_size: 3, padding: 1}
    - Sigmoid
"""


class AutoEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.encoder = nn.Sequential(nn.Conv2d(1, 16, 3, 2, 1), nn.GroupNorm(4, 16), nn.SiLU(),
                                     nn.Conv2d(16, 32, 3, 2, 1), nn.LeakyReLU())
        self.decoder = nn.Sequential(nn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=1), nn.ReLU6(),
                                     nn.Upsample(scale_factor=2, mode="bilinear"), nn.Conv2d(16, 1, 3, padding=1),
                                     nn.Sigmoid())

    def forward(self, x):
        return self.decoder(self.encoder(x))


def _same_module(write_spec, text: str, reference: nn.Module, *inputs: torch.Tensor) -> torch.Tensor:
    path = write_spec(text)
    model = netspec.load(path)
    assert re.sub(r"^\w+", "", repr(model)) == re.sub(r"^\w+", "", repr(reference))
    assert layout(model) == layout(reference)
    model.load_state_dict(reference.state_dict(), strict=True)
    model.eval()
    reference.eval()
    with torch.no_grad():
        out = model(*inputs)
        torch.testing.assert_close(out, reference(*inputs))
    summary = netspec.summary(path)
    assert summary.total_params == sum(p.numel() for p in reference.parameters())
    static = [d if isinstance(d, int) else out.shape[i] for i, d in enumerate(summary.output_shape)]
    assert tuple(static) == tuple(out.shape)
    return out


def test_residual_block(write_spec) -> None:
    torch.manual_seed(0)
    _same_module(write_spec, RESIDUAL, Residual(), torch.randn(2, 3, 16, 16))


def test_embedding_bag_with_two_inputs(write_spec) -> None:
    torch.manual_seed(0)
    tokens = torch.randint(0, 100, (3, 7))
    mask = (torch.rand(3, 7, 1) > 0.3).float()
    mask[:, 0] = 1.0
    _same_module(write_spec, TEXT, Bag(), tokens, mask)


def test_autoencoder(write_spec) -> None:
    torch.manual_seed(0)
    out = _same_module(write_spec, AUTOENCODER, AutoEncoder(), torch.rand(2, 1, 28, 28))
    assert out.shape == (2, 1, 28, 28)
