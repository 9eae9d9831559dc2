"""The deterministic weight fill and input probe that tests/data/zoo_reference.json was made with.

Copied verbatim (docstrings shortened) from /work/shared/reference/fill.py, the file that produced
the stored torchvision outputs: torchvision's own module, ``module.double().eval(); fill(module)``,
then ``module(probe(2))``, on CPU in float64.  Any module with torchvision's exact state_dict layout
gets the same weights from fill(), so its outputs can be compared without shipping checkpoints.

This file imports nothing but torch and math: tests/test_zoo.py also runs it in a subprocess where
netspec cannot be imported.
"""

import math

import torch


def fill(module: torch.nn.Module) -> None:
    """Overwrite every floating tensor of module.state_dict(), in order, with a scaled sine pattern;
    integer buffers (num_batches_tracked) are left alone."""
    with torch.no_grad():
        for index, (name, tensor) in enumerate(module.state_dict().items()):
            if not tensor.is_floating_point():
                continue
            wave = torch.sin(torch.arange(tensor.numel(), dtype=torch.float64) * 0.7 + index)
            if name.endswith("running_var"):
                values = 1.0 + 0.5 * wave
            elif name.endswith("running_mean"):
                values = 0.1 * wave
            elif tensor.dim() >= 2:
                values = wave / math.sqrt(tensor.numel() // tensor.shape[0])
            elif name.endswith("weight"):
                values = 1.0 + 0.1 * wave
            else:
                values = 0.1 * wave
            tensor.copy_(values.reshape(tensor.shape).to(tensor.dtype))


def probe(batch: int, shape: tuple[int, ...] = (3, 224, 224)) -> torch.Tensor:
    """The matching input: a sine ramp of shape (batch, *shape) in float64."""
    numel = batch * math.prod(shape)
    return torch.sin(torch.arange(numel, dtype=torch.float64) * 0.01).reshape(batch, *shape)


def probe_ids(batch: int, seq: int, vocab: int) -> torch.Tensor:
    """Token ids for a language model: a fixed, well-spread pattern in [0, vocab)."""
    return ((torch.arange(batch * seq) * 7919 + 13) % vocab).reshape(batch, seq)
