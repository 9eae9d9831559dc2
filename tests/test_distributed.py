"""A compiled spec under torch.distributed: two steps of DistributedDataParallel
training on 2 CPU processes (gloo) give the gradients of one process that sees
the whole batch; and the FSDP2 example of docs/distributed.md (build on meta,
``fully_shard``, ``to_empty`` + init) runs on 2 CPU processes and computes what
an unsharded copy of its weights computes.

The workers are started the way ``torchrun`` starts them: fresh interpreters
with MASTER_ADDR / MASTER_PORT / RANK / WORLD_SIZE / LOCAL_RANK in the
environment and ``init_process_group(init_method="env://")``.  This file is
also the worker: ``python tests/test_distributed.py OUT_DIR``.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

import netspec

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "lenet.yaml"
WORLD = 2
TINY_LLAMA = {"vocab_size": 1000, "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2,
              "num_attention_heads": 4, "num_key_value_heads": 2, "max_position_embeddings": 256,
              "tie_word_embeddings": True}  # as docs/examples/fsdp_llama.py --tiny
BATCH = 8  # global batch: each rank takes BATCH // WORLD rows
STEPS = 2
LR = 0.1


def batches() -> list[tuple[torch.Tensor, torch.Tensor]]:
    """The global batches of every step, the same in every process."""
    generator = torch.Generator().manual_seed(1234)
    return [(torch.randn(BATCH, 1, 32, 32, generator=generator), torch.randint(0, 10, (BATCH,), generator=generator))
            for _ in range(STEPS)]


def build_model() -> torch.nn.Module:
    import netspec

    torch.manual_seed(0)  # same initial weights everywhere (DDP would also broadcast rank 0's)
    return netspec.load(SPEC)


def train(model: torch.nn.Module, data: list[tuple[torch.Tensor, torch.Tensor]]) -> list[dict[str, torch.Tensor]]:
    """SGD steps; returns the gradients of each step, by parameter name (DDP's 'module.' prefix dropped)."""
    optimizer = torch.optim.SGD(model.parameters(), lr=LR)
    grads = []
    for x, y in data:
        optimizer.zero_grad(set_to_none=True)
        F.cross_entropy(model(x), y).backward()
        grads.append({name.removeprefix("module."): p.grad.detach().clone() for name, p in model.named_parameters()})
        optimizer.step()
    return grads


def worker(out_dir: Path) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    dist.init_process_group("gloo", init_method="env://")
    rank, world = dist.get_rank(), dist.get_world_size()
    assert world == WORLD and int(os.environ["LOCAL_RANK"]) == rank
    model = DistributedDataParallel(build_model())
    shard = BATCH // world
    data = [(x[rank * shard:(rank + 1) * shard], y[rank * shard:(rank + 1) * shard]) for x, y in batches()]
    grads = train(model, data)
    torch.save({"grads": grads, "params": dict(model.module.state_dict())}, out_dir / f"rank{rank}.pt")
    dist.barrier()
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def launch(*argv: str) -> list[str]:
    """Start WORLD workers of ``python ARGV`` as torchrun would, wait for them, return their output."""
    port = str(free_port())
    procs = []
    for rank in range(WORLD):
        env = {**os.environ, "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": port, "RANK": str(rank),
               "WORLD_SIZE": str(WORLD), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(WORLD),
               "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
        procs.append(subprocess.Popen([sys.executable, *argv], env=env, cwd=ROOT,
                                      stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True))
    outputs = []
    try:
        for proc in procs:
            out, _ = proc.communicate(timeout=120)
            outputs.append(out)
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
    for rank, (proc, out) in enumerate(zip(procs, outputs, strict=True)):
        assert proc.returncode == 0, f"rank {rank} failed:\n{out[-3000:]}"
    return outputs


@pytest.mark.slow
def test_ddp_gradients_equal_a_single_process_run(tmp_path: Path) -> None:
    launch(__file__, str(tmp_path))
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in range(WORLD)]
    expected = train(build_model(), batches())  # one process, the whole batch
    assert len(expected) == STEPS
    for step in range(STEPS):
        for name, grad in expected[step].items():
            for rank, result in enumerate(ranks):
                torch.testing.assert_close(result["grads"][step][name], grad, rtol=1e-5, atol=1e-6,
                                           msg=lambda m, n=name, s=step, r=rank: f"rank {r} step {s} {n}: {m}")
    reference = build_model()
    train(reference, batches())
    for name, value in reference.state_dict().items():  # and so the weights after the steps agree too
        for result in ranks:
            torch.testing.assert_close(result["params"][name], value, rtol=1e-5, atol=1e-6)
    assert any(g.abs().sum() > 0 for g in expected[0].values())  # the comparison is not vacuous


@pytest.mark.slow
def test_fsdp2_example_shards_a_meta_build_on_cpu() -> None:
    outputs = launch(str(ROOT / "docs" / "examples" / "fsdp_meta.py"), "--spec", str(SPEC), "--check", "--steps", "1")
    held = [int(line.split("holds ")[1].split(" of ")[0].replace(",", "")) for out in outputs
            for line in out.splitlines() if " holds " in line]
    assert len(held) == WORLD and sum(held) >= 61_706 and max(held) < 61_706  # each rank holds a shard only
    assert "matches an unsharded model" in outputs[0]


@pytest.mark.slow
def test_fsdp2_llama_from_meta_trains_one_step_as_one_process() -> None:
    """The zoo's Llama (tiny config, tied embeddings) built on meta, each decoder layer an FSDP2 unit: the loss
    before and after one SGD step equals one process's on the whole batch."""
    outputs = launch(str(ROOT / "docs" / "examples" / "fsdp_llama.py"), "--tiny", "--check")
    held = [int(line.split("holds ")[1].split(" of ")[0].replace(",", "")) for out in outputs
            for line in out.splitlines() if " holds " in line]
    total = netspec.summary("zoo/llama", overrides=TINY_LLAMA).total_params
    assert len(held) == WORLD and sum(held) == total and max(held) < total  # each rank a shard; the tie once
    assert "tied embeddings: True" in outputs[0]
    assert "sharded losses match one process on the whole batch" in outputs[0]


if __name__ == "__main__":
    torch.set_num_threads(1)
    worker(Path(sys.argv[1]))
