"""FSDP2 on the zoo's Llama: build on meta, shard each decoder layer, train one step, compare with one process.

    torchrun --nproc-per-node 2 docs/examples/fsdp_llama.py [--tiny] [--check]

The model is ``specs/zoo/llama.yaml`` (``--tiny``: transformers' tiny test config, 2 layers of width 64).
Each rank builds it on ``meta`` (nothing allocated), makes every decoder layer an FSDP2 unit and the root
the last one (the root holds the embedding and the LM head, which may be one tied Parameter: a tied pair
must live in one unit), then ``to_empty`` gives each rank storage for its shards only.  The weights come
from a seeded full state dict, each rank keeping its own shards of it (``distribute_tensor``), and the
RoPE buffer, which ``to_empty`` leaves unfilled, is computed again.  Each rank trains on its half of the
batch; ``--check`` compares the loss before and after one SGD step with one process that sees the whole
batch (the mean of the ranks' losses is the whole batch's loss; FSDP averages the gradients).
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard
from torch.distributed.tensor import distribute_tensor

import netspec

ROOT = Path(__file__).resolve().parents[2]
SPEC = str(ROOT / "specs" / "zoo" / "llama.yaml")
TINY = {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
        "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
        "tie_word_embeddings": True}


def shard(model: torch.nn.Module, mesh: object) -> None:
    """One FSDP2 unit per decoder layer, then the root (embeddings, final norm and the tied LM head)."""
    for layer in model.model.layers:
        fully_shard(layer, mesh=mesh)
    fully_shard(model, mesh=mesh)


@torch.no_grad()
def load_full(model: torch.nn.Module, full: dict[str, torch.Tensor], reference: torch.nn.Module) -> None:
    """Each rank keeps its shards of the full weights; buffers (RoPE's inv_freq) are copied whole."""
    for name, param in model.named_parameters():
        param.copy_(distribute_tensor(full[name].to(param.device), param.device_mesh, param.placements))
    reference_buffers = dict(reference.named_buffers())
    for name, buffer in model.named_buffers():
        buffer.copy_(reference_buffers[name])


def batch(vocab: int, size: int = 4, length: int = 16) -> torch.Tensor:
    return torch.randint(0, vocab, (size, length), generator=torch.Generator().manual_seed(0))


def lm_loss(model: torch.nn.Module, ids: torch.Tensor) -> torch.Tensor:
    """Next-token cross-entropy."""
    logits = model(ids[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, 1:].reshape(-1))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--tiny", action="store_true", help="transformers' tiny Llama test config")
    parser.add_argument("--check", action="store_true", help="compare with one process on the whole batch")
    parser.add_argument("--lr", type=float, default=0.1)
    args = parser.parse_args()
    config = TINY if args.tiny else {}

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    mesh = init_device_mesh(device.type, (world,))

    torch.manual_seed(0)  # the same full weights on every rank: what a checkpoint would hold
    reference = netspec.load(SPEC, device=device, **config)
    full = reference.state_dict()

    model = netspec.load(SPEC, device="meta", **config)  # no storage: any size fits
    tied = model.lm_head.weight is model.model.embed_tokens.weight
    shard(model, mesh)
    model.to_empty(device=device)  # storage for this rank's shards only
    load_full(model, full, reference)
    held = sum(p.to_local().numel() for p in model.parameters())
    total = netspec.summary(SPEC, overrides=config).total_params
    print(f"rank {rank}/{world} on {device}: holds {held:,} of {total:,} parameters (tied embeddings: {tied})")

    ids = batch(config.get("vocab_size", 128256)).to(device)
    mine = ids.chunk(world)[rank]
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr)
    losses = []
    for _ in range(2):  # the loss before the step and after it
        loss = lm_loss(model, mine)
        average = loss.detach().clone()
        dist.all_reduce(average)
        losses.append((average / world).item())
        if len(losses) == 1:
            loss.backward()
            optimizer.step()
            optimizer.zero_grad()
    if rank == 0:
        print(f"sharded: loss {losses[0]:.6f} before the step, {losses[1]:.6f} after")
    if args.check:
        plain = torch.optim.SGD(reference.parameters(), lr=args.lr)
        before = lm_loss(reference, ids)
        before.backward()
        plain.step()
        with torch.no_grad():
            after = lm_loss(reference, ids)
        if rank == 0:
            print(f"one process: loss {before.item():.6f} before the step, {after.item():.6f} after")
        torch.testing.assert_close(torch.tensor(losses), torch.tensor([before.item(), after.item()]),
                                   rtol=1e-5, atol=1e-6)
        if rank == 0:
            print("sharded losses match one process on the whole batch")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
