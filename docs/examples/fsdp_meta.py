"""The large-model path: build a compiled spec on meta, shard it with FSDP2, then materialise and train.

    torchrun --nproc-per-node 2 docs/examples/fsdp_meta.py [--spec specs/alexnet.yaml] [--steps 2] [--check]

On CUDA each rank uses its own GPU and NCCL; without CUDA it runs on CPU with
gloo.  Nothing is ever allocated whole: the model is built on ``meta`` (no
storage), ``fully_shard`` turns each parameter into a DTensor sharded over the
ranks, and ``to_empty`` gives each rank storage for its shard only, which
``reset_parameters`` then fills.  ``--check`` gathers the full weights and
compares the sharded model's output with an unsharded copy's.
"""

from __future__ import annotations

import argparse
import os
from pathlib import Path

import torch
import torch.distributed as dist
from torch.distributed.device_mesh import init_device_mesh
from torch.distributed.fsdp import fully_shard

import netspec

ROOT = Path(__file__).resolve().parents[2]


def shard(model: torch.nn.Module, mesh: object) -> None:
    """FSDP2, bottom-up: each child with parameters is its own unit, then the root."""
    for module in model.modules():
        if module is not model and any(True for _ in module.parameters(recurse=False)):
            fully_shard(module, mesh=mesh)
    fully_shard(model, mesh=mesh)


@torch.no_grad()
def init_weights(model: torch.nn.Module) -> None:
    """PyTorch's default init, now that the (sharded) parameters have storage."""
    for module in model.modules():
        if hasattr(module, "reset_parameters"):
            module.reset_parameters()


def check_against_unsharded(model: torch.nn.Module, spec: str, shape: list[int], device: torch.device,
                            rank: int) -> None:
    """The sharded model computes what a plain copy with the gathered weights computes."""
    full = {name: tensor.full_tensor() for name, tensor in model.state_dict().items()}  # a collective: all ranks
    plain = netspec.load(spec, device=device)
    plain.load_state_dict(full)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(0)).to(device)
    model.eval()
    plain.eval()
    with torch.no_grad():
        torch.testing.assert_close(model(x), plain(x), rtol=1e-5, atol=1e-6)
    model.train()
    if rank == 0:
        print("sharded output matches an unsharded model with the gathered weights")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", default=str(ROOT / "specs" / "alexnet.yaml"))
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--check", action="store_true", help="compare with an unsharded copy of the weights")
    args = parser.parse_args()

    cuda = torch.cuda.is_available()
    dist.init_process_group("nccl" if cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    if cuda:
        torch.cuda.set_device(int(os.environ["LOCAL_RANK"]))
    device = torch.device("cuda", torch.cuda.current_device()) if cuda else torch.device("cpu")
    mesh = init_device_mesh(device.type, (world,))

    model = netspec.load(args.spec, device="meta")  # no storage: any size fits
    shard(model, mesh)
    model.to_empty(device=device)  # storage for this rank's shards only
    torch.manual_seed(rank)  # DTensor random ops keep shards consistent; the seed just fixes the run
    init_weights(model)

    summary = netspec.summary(args.spec)
    local = sum(p.to_local().numel() for p in model.parameters())
    print(f"rank {rank}/{world} on {device}: holds {local:,} of {summary.total_params:,} parameters")

    shape = [args.batch if isinstance(d, str) else d for d in summary.inputs[next(iter(summary.inputs))]]
    if args.check:
        check_against_unsharded(model, args.spec, shape, device, rank)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    for step in range(args.steps):
        x = torch.randn(shape, device=device)
        loss = model(x).square().mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad()
        if rank == 0:
            print(f"step {step}: loss {loss.item():.4f}")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
