"""Run time: forward and forward+backward of netspec's modules against the hand-written ones, on CPU.

- The zoo (specs/zoo/) against torchvision's own modules: torchvision's when it imports, else the copy of its
  code in benchmarks/_torchvision.py (torchvision 0.28's modules, unchanged; its wheels are built for one torch
  release).  Batch 4 by default (``--batch``), one intra-op thread.
- LeNet and AlexNet (specs/) against the seed's modules (tests/seed_modules.py).

The compiled module gets the reference's weights (``load_state_dict``: the zoo keeps torchvision's state_dict
layout), so both compute the same function on the same input; their outputs are checked to agree before timing.
Calls alternate compiled / hand-written (interleaved rounds), forward in eval mode under no_grad, forward+backward
in train mode; each side is summarised by the median of its CPU times (this process: one thread).  Targets:
zoo/resnet50's forward at most 1.005x torchvision's (issue 20); every other figure at most 1.05x.

    python benchmarks/runtime.py [--rounds 7] [--batch 4] [--threads 1] [--models resnet18 ...] [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import Any

import torch
from _common import SPECS, Figure, add_common, exit_status, interleaved, median, print_table

import netspec
from tests.seed_modules import AlexNet, Net

TARGET = 1.05
RESNET50_TARGET = 1.005


def _torchvision() -> tuple[Any, str]:
    """torchvision.models when it imports with this torch, else the copy kept beside this script."""
    try:
        import torchvision.models as models  # type: ignore[import-not-found,unused-ignore]

        return models, "torchvision " + str(sys.modules["torchvision"].__version__)
    except Exception:  # not installed, or built for another torch release (its C++ ops fail to register)
        import _torchvision

        return _torchvision, "torchvision 0.28's code (benchmarks/_torchvision.py)"


def zoo_references(tv: Any) -> dict[str, Callable[[], torch.nn.Module]]:
    """Each torchvision model of the zoo, built as torchvision's constructor builds it."""
    if hasattr(tv, "resnet18"):  # the real torchvision
        return {"resnet18": tv.resnet18, "resnet50": tv.resnet50, "alexnet": tv.alexnet, "vgg11_bn": tv.vgg11_bn,
                "vgg16": tv.vgg16, "mobilenet_v2": tv.mobilenet_v2, "densenet121": tv.densenet121,
                "vit_b_16": tv.vit_b_16}
    return {
        "resnet18": lambda: tv.ResNet(tv.BasicBlock, [2, 2, 2, 2]),
        "resnet50": lambda: tv.ResNet(tv.Bottleneck, [3, 4, 6, 3]),
        "alexnet": lambda: tv.AlexNet(),
        "vgg11_bn": lambda: tv.VGG(tv.make_layers(tv.cfgs["A"], batch_norm=True)),
        "vgg16": lambda: tv.VGG(tv.make_layers(tv.cfgs["D"])),
        "mobilenet_v2": lambda: tv.MobileNetV2(),
        "densenet121": lambda: tv.DenseNet(32, (6, 12, 24, 16), 64),
        "vit_b_16": lambda: tv.VisionTransformer(224, 16, 12, 12, 768, 3072),
    }


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


def same_function(compiled: torch.nn.Module, reference: torch.nn.Module, x: torch.Tensor, exact: bool) -> None:
    compiled.eval()
    reference.eval()
    with torch.no_grad():
        if exact:
            torch.testing.assert_close(compiled(x), reference(x), rtol=0, atol=0)
        else:  # the same operations, possibly grouped otherwise (attention): float rounding apart
            torch.testing.assert_close(compiled(x), reference(x), rtol=1e-4, atol=1e-5)


def compare(name: str, compiled: torch.nn.Module, reference: torch.nn.Module, x: torch.Tensor, rounds: int,
            baseline: str, target: float, train: bool = True) -> list[Figure]:
    figures = []
    cpu = time.process_time
    times = interleaved({"netspec": forward(compiled, x), "ref": forward(reference, x)}, rounds, warmup=1, clock=cpu)
    figures.append(Figure(f"{name} forward, batch {len(x)}", median(times["netspec"]), median(times["ref"]), target,
                          baseline))
    if rounds >= 5:  # the fastest run of each side: what interference from other processes cannot lengthen
        figures.append(Figure(f"({name} forward, fastest run)", min(times["netspec"]), min(times["ref"]), None,
                              baseline))
    if train:
        compiled.train()
        reference.train()
        torch.manual_seed(0)
        times = interleaved({"netspec": train_step(compiled, x), "ref": train_step(reference, x)}, rounds,
                            warmup=1, clock=cpu)
        figures.append(Figure(f"{name} forward+backward, batch {len(x)}", median(times["netspec"]),
                              median(times["ref"]), TARGET, baseline))
        compiled.eval()
        reference.eval()
    return figures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch", type=int, default=4, help="zoo batch size")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument("--models", nargs="+", default=None, help="zoo models (default: all of torchvision's)")
    parser.add_argument("--no-backward", action="store_true", help="forward only")
    add_common(parser)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    tv, tv_name = _torchvision()
    references = zoo_references(tv)
    chosen = args.models or list(references)
    rounds, batch = args.rounds, args.batch
    if args.quick:
        chosen, rounds, batch = ["resnet18"], 1, 1

    figures: list[Figure] = []
    if not args.quick:
        for name, spec, cls, x in (("LeNet", "lenet.yaml", Net, torch.randn(64, 1, 32, 32)),
                                   ("AlexNet (specs/)", "alexnet.yaml", AlexNet, torch.randn(4, 1, 224, 224))):
            torch.manual_seed(0)
            seed = cls()
            compiled = netspec.load(SPECS / spec)
            compiled.load_state_dict(seed.state_dict())
            same_function(compiled, seed, x, exact=True)
            figures += compare(name, compiled, seed, x, rounds * (5 if name == "LeNet" else 1), "seed module", TARGET,
                               not args.no_backward)
    for name in chosen:
        torch.manual_seed(0)
        reference = references[name]()
        compiled = netspec.load(SPECS / "zoo" / f"{name}.yaml")
        compiled.load_state_dict(reference.state_dict())
        x = torch.randn(batch, 3, 224, 224)
        same_function(compiled, reference, x, exact=name not in ("vit_b_16",))
        target = RESNET50_TARGET if name == "resnet50" else TARGET
        figures += compare(f"zoo/{name}", compiled, reference, x, rounds, "torchvision's module, same weights",
                           target, not args.no_backward)
        del compiled, reference
    ok = print_table(f"run time on CPU, CPU time: median of {rounds} interleaved runs, {args.threads} thread(s); "
                     f"baseline: {tv_name}", figures)
    return exit_status(ok, args.strict)


if __name__ == "__main__":
    sys.exit(main())
