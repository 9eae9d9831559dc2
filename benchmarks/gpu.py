"""GPU figures: building on the device and training throughput, compiled spec vs hand-written module.

1. Construction: ``netspec.load("specs/alexnet.yaml", device="cuda")`` against the
   seed's ``AlexNet()`` built under ``with torch.device("cuda")`` (target: at most
   2x); building on the CPU and then calling ``.to("cuda")`` is shown for scale.
2. Train step (forward, backward, SGD step) of LeNet and AlexNet, the compiled
   spec holding the seed module's weights: eager, then ``torch.compile`` (default
   backend) on both.  Ratio of median step times; target at most 1.05x.

Every figure is a median of interleaved rounds, netspec and hand-written
alternating, with ``torch.cuda.synchronize()`` closing each timing.  Without
CUDA it says so and exits 0; a section that fails is reported and the others
still run.  About 2-4 minutes, most of it torch.compile's compilation.

    python benchmarks/gpu.py [--rounds 15] [--steps 10] [--batch 128] [--no-compile] [--strict]
"""

from __future__ import annotations

import argparse
import sys
import time
import traceback
from collections.abc import Callable

import torch
import torch.nn.functional as F
from _common import SPECS, Figure, add_common, exit_status, interleaved, median, print_table

import netspec
from tests.seed_modules import AlexNet, Net

LOAD_TARGET = 2.0
STEP_TARGET = 1.05
ALEXNET = str(SPECS / "alexnet.yaml")
LENET = str(SPECS / "lenet.yaml")


def synced(fn: Callable[[], object]) -> Callable[[], None]:
    def run() -> None:
        fn()
        torch.cuda.synchronize()

    return run


def on_device(cls: type[torch.nn.Module]) -> torch.nn.Module:
    with torch.device("cuda"):
        return cls()


def construction(args: argparse.Namespace) -> list[Figure]:
    netspec.load(ALEXNET, device="cuda")  # the first load parses and compiles: cached from here on
    cases = {
        "load": synced(lambda: netspec.load(ALEXNET, device="cuda")),
        "seed": synced(lambda: on_device(AlexNet)),
        "cpu_then_copy": synced(lambda: AlexNet().to("cuda")),
    }
    times = interleaved(cases, args.rounds, warmup=2)
    seed = median(times["seed"])
    return [
        Figure("load alexnet.yaml, device='cuda'", median(times["load"]), seed, LOAD_TARGET,
               "AlexNet() under torch.device('cuda')"),
        Figure("(AlexNet() on CPU, then .to('cuda'))", median(times["cpu_then_copy"]), seed, None,
               "AlexNet() under torch.device('cuda')"),
    ]


def pair(spec: str, seed_cls: type[torch.nn.Module]) -> tuple[torch.nn.Module, torch.nn.Module]:
    torch.manual_seed(0)
    seed = on_device(seed_cls)
    compiled = netspec.load(spec, device="cuda")
    compiled.load_state_dict(seed.state_dict())
    return compiled, seed


def stepper(model: Callable[[torch.Tensor], torch.Tensor], params: list[torch.nn.Parameter], x: torch.Tensor,
            y: torch.Tensor, steps: int) -> Callable[[], None]:
    optimizer = torch.optim.SGD(params, lr=1e-3)

    def run() -> None:
        for _ in range(steps):
            optimizer.zero_grad(set_to_none=True)
            F.cross_entropy(model(x), y).backward()
            optimizer.step()
        torch.cuda.synchronize()

    return run


def train_steps(args: argparse.Namespace, compile_: bool) -> list[Figure]:
    figures = []
    for name, spec, seed_cls, batch, shape in (
        ("LeNet", LENET, Net, args.batch * 8, (1, 32, 32)),
        ("AlexNet", ALEXNET, AlexNet, args.batch, (1, 224, 224)),
    ):
        compiled, seed = pair(spec, seed_cls)
        x = torch.randn(batch, *shape, device="cuda")
        y = torch.randint(0, 10, (batch,), device="cuda")
        runs = {}
        for label, model in (("netspec", compiled), ("seed", seed)):
            fn = torch.compile(model) if compile_ else model
            start = time.perf_counter()
            stepper(fn, list(model.parameters()), x, y, 3)()  # warm-up (and compilation)
            if compile_:
                print(f"  torch.compile + 3 steps, {name} {label}: {time.perf_counter() - start:.1f} s", flush=True)
            runs[label] = stepper(fn, list(model.parameters()), x, y, args.steps)
        times = interleaved(runs, args.rounds, warmup=1)
        mode = "torch.compile" if compile_ else "eager"
        ours, theirs = median(times["netspec"]) / args.steps, median(times["seed"]) / args.steps
        figures.append(Figure(f"{name} train step, batch {batch}, {mode}", ours, theirs, STEP_TARGET,
                              f"seed {name}, same weights, {mode}"))
        print(f"  {name} {mode}: {batch / ours:,.0f} vs {batch / theirs:,.0f} images/s", flush=True)
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--steps", type=int, default=10, help="train steps per timing")
    parser.add_argument("--batch", type=int, default=128, help="AlexNet batch (LeNet uses 8x)")
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile figures")
    add_common(parser)
    args = parser.parse_args()
    if args.quick:
        args.rounds, args.steps, args.batch, args.no_compile = 1, 1, 8, True
    if not torch.cuda.is_available():
        print("CUDA is not available: skipping the GPU benchmarks.")
        return 0
    torch.backends.cudnn.benchmark = True
    print(f"{torch.cuda.get_device_name()}, torch {torch.__version__}, CUDA {torch.version.cuda}", flush=True)
    sections: list[tuple[str, Callable[[], list[Figure]]]] = [
        ("construction", lambda: construction(args)),
        ("eager train step", lambda: train_steps(args, compile_=False)),
    ]
    if not args.no_compile:
        sections.append(("compiled train step", lambda: train_steps(args, compile_=True)))
    figures: list[Figure] = []
    failed = []
    for title, section in sections:
        print(f"{title}...", flush=True)
        try:
            figures += section()
        except Exception:  # report the section and carry on with the others
            failed.append(title)
            print(f"{title} failed:\n{traceback.format_exc()}", flush=True)
        torch.cuda.empty_cache()
    ok = print_table(f"GPU: median of {args.rounds} interleaved rounds", figures,
                     note=f"device: {torch.cuda.get_device_name()}")
    if failed:
        print(f"failed sections: {', '.join(failed)}")
    return exit_status(ok and not failed, args.strict)


if __name__ == "__main__":
    sys.exit(main())
