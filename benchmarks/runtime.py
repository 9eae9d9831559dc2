"""Run time: forward and forward+backward of compiled LeNet / AlexNet against the seed's modules.

The compiled module gets the seed module's weights (``load_state_dict``), so
both compute the same function on the same input; their outputs are checked
equal before timing.  Calls alternate compiled / hand-written, in train mode
(dropout on) for forward+backward and eval mode for forward.  Target: at most
1.05x.  One intra-op thread by default: on a small shared box, two threads
fight other processes for the cores and the timings turn to noise (LeNet's
forward went from 6 ms to 77 ms with 2 threads on 2 busy cores).

    python benchmarks/runtime.py [--rounds 15] [--threads 1] [--strict]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

import torch
from _common import SPECS, Figure, exit_status, interleaved, median, print_table

import netspec
from tests.seed_modules import AlexNet, Net

TARGET = 1.05


def pair(spec: str, seed_cls: type[torch.nn.Module]) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    seed = seed_cls()
    compiled = netspec.load(SPECS / spec)
    compiled.load_state_dict(seed.state_dict())
    return compiled, seed


def forward(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> None:
        with torch.no_grad():
            model(x)

    return run


def train_step(model: torch.nn.Module, x: torch.Tensor) -> Callable[[], object]:
    def run() -> None:
        model.zero_grad(set_to_none=True)
        model(x).square().mean().backward()

    return run


def same_function(compiled: torch.nn.Module, seed: torch.nn.Module, x: torch.Tensor) -> None:
    compiled.eval()
    seed.eval()
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), seed(x), rtol=0, atol=0)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    models = {
        "LeNet": (*pair("lenet.yaml", Net), torch.randn(64, 1, 32, 32), 10),
        "AlexNet": (*pair("alexnet.yaml", AlexNet), torch.randn(4, 1, 224, 224), 1),
    }
    figures = []
    for name, (compiled, seed, x, scale) in models.items():
        same_function(compiled, seed, x)
        times = interleaved({"netspec": forward(compiled, x), "seed": forward(seed, x)}, args.rounds * scale, warmup=2)
        figures.append(Figure(f"{name} forward, batch {len(x)}", median(times["netspec"]), median(times["seed"]),
                              TARGET, f"seed {name} (same weights)"))
        compiled.train()
        seed.train()
        times = interleaved({"netspec": train_step(compiled, x), "seed": train_step(seed, x)}, args.rounds * scale,
                            warmup=2)
        figures.append(Figure(f"{name} forward+backward, batch {len(x)}", median(times["netspec"]),
                              median(times["seed"]), TARGET, f"seed {name} (same weights)"))
    ok = print_table(f"run time on CPU: median of interleaved runs ({args.rounds} for AlexNet)", figures)
    return exit_status(ok, args.strict)


if __name__ == "__main__":
    sys.exit(main())
