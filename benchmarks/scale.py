"""Spec size: validate + shape inference at 1k / 10k / 100k layers, and the cost per layer.

A generated deep stack (Linear and ReLU, alternating, forward omitted) goes
through every pure stage as ``netspec.compile_spec`` runs them, each stage
timed on its own (median of a few runs, the cache cleared each time).  Cost is
linear when the time per layer stays flat as the spec grows 100-fold.

Targets: the 10,000-layer spec validated and shape-inferred (parse, grammar,
resolve, shapes) in under 1 s; time per layer at 100k within 1.5x of 1k.

netspec's default limits (100,000 YAML nodes, 4 MiB, 50,000 forward statements
executed: docs/spec.md#limits) refuse a 100,000-layer spec written out layer by
layer, so rows past them are measured with the limits raised for this process
only, and marked "*": they show the stages' own growth.

    python benchmarks/scale.py [--sizes 1000 10000 100000] [--strict]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import exit_status, fmt_seconds, machine

from netspec import api
from netspec.backend import codegen
from netspec.frontend import source, validate
from netspec.middle import resolve, shapes

TEN_K_TARGET_S = 1.0
LINEAR_TARGET = 1.5
STAGES = ("parse", "grammar", "resolve", "shapes", "codegen")


def deep_spec(layers: int, width: int = 64) -> str:
    """``layers`` layers: Linear(width) and ReLU alternating, applied in order."""
    lines = ["netspec: 1", f"name: Deep{layers}", "inputs:", f"  x: [N, {width}]", "layers:"]
    for i in range(layers):
        lines.append(f"  l{i}: {{type: Linear, out_features: {width}}}" if i % 2 == 0 else f"  l{i}: ReLU")
    return "\n".join(lines) + "\n"


@contextmanager
def raised_limits(on: bool) -> Iterator[None]:
    """Lift the spec-size limits (module constants read at call time) while measuring."""
    raised = [(source, "MAX_NODES", 100_000_000), (source, "MAX_BYTES", 256 << 20),
              (shapes, "MAX_EXECUTED", 10_000_000)]
    saved = [getattr(module, name) for module, name, _ in raised]
    if on:
        for module, name, value in raised:
            setattr(module, name, value)
    try:
        yield
    finally:
        for (module, name, _), value in zip(raised, saved, strict=True):
            setattr(module, name, value)


def within_limits(text: str, layers: int) -> bool:
    nodes = 5 + 2 * layers + 4 * ((layers + 1) // 2)  # a rough upper bound of the YAML nodes written
    return nodes < source.MAX_NODES and len(text.encode()) < source.MAX_BYTES and layers < shapes.MAX_EXECUTED


def stage_times(path: Path) -> dict[str, float]:
    """The stages of ``api.compile_spec``, timed one by one (with the collector paused, as there)."""
    times: dict[str, float] = {}
    with api._gc_paused():
        start = time.perf_counter()
        src = source.load_file(path)
        times["parse"] = time.perf_counter() - start
        start = time.perf_counter()
        spec = validate.validate_data(src)
        times["grammar"] = time.perf_counter() - start
        start = time.perf_counter()
        model = resolve.resolve(spec, src)
        times["resolve"] = time.perf_counter() - start
        start = time.perf_counter()
        inference = shapes.infer(model)
        times["shapes"] = time.perf_counter() - start
        start = time.perf_counter()
        codegen.generate(inference)
        times["codegen"] = time.perf_counter() - start
    assert inference.total_params == (len(model.layers) + 1) // 2 * (64 * 64 + 64)
    return times


def measure(path: Path, rounds: int) -> tuple[dict[str, float], float]:
    runs = [stage_times(path) for _ in range(rounds)]
    stages = {name: statistics.median(run[name] for run in runs) for name in STAGES}
    totals = []
    for _ in range(rounds):  # the public entry point end to end, cache cleared
        api.cache_clear()
        start = time.perf_counter()
        api.compile_spec(path)
        totals.append(time.perf_counter() - start)
    return stages, statistics.median(totals)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000])
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    validate.validate_data(source.load_file(Path(__file__).parent.parent / "specs" / "lenet.yaml"))  # warm up
    print(f"\nspec size: per-stage medians  [{machine()}]")
    head = (f"{'layers':>8} {'parse':>9} {'grammar':>9} {'resolve':>9} {'shapes':>9} {'checked':>9} "
            f"{'codegen':>9} {'compile_spec':>12} {'us/layer':>9}")
    print(head)
    print("-" * len(head))
    per_layer: dict[int, float] = {}
    checked_at: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            path = Path(tmp) / f"deep{n}.yaml"
            text = deep_spec(n)
            path.write_text(text, encoding="utf-8")
            rounds = 5 if n <= 10_000 else 3
            raised = not within_limits(text, n)
            with raised_limits(raised):
                stages, total = measure(path, rounds)
            checked = sum(stages[s] for s in ("parse", "grammar", "resolve", "shapes"))
            checked_at[n] = checked
            per_layer[n] = checked / n
            cells = " ".join(f"{fmt_seconds(stages[s]):>9}" for s in STAGES[:4])
            mark = "*" if raised else " "
            print(f"{n:>7}{mark} {cells} {fmt_seconds(checked):>9} {fmt_seconds(stages['codegen']):>9} "
                  f"{fmt_seconds(total):>12} {per_layer[n] * 1e6:>9.1f}")
    ok = True
    if 10_000 in checked_at:
        met = checked_at[10_000] < TEN_K_TARGET_S
        ok &= met
        print(f"10,000 layers validated and shape-inferred in {fmt_seconds(checked_at[10_000])} "
              f"(target < {TEN_K_TARGET_S:.0f} s): {'yes' if met else 'NO'}")
    small, large = min(per_layer), max(per_layer)
    if large > small:
        growth = per_layer[large] / per_layer[small]
        met = growth <= LINEAR_TARGET
        ok &= met
        print(f"time per layer at {large:,} / at {small:,} layers: {growth:.2f} (linear: <= {LINEAR_TARGET}): "
              f"{'yes' if met else 'NO'}")
    return exit_status(ok, args.strict)


if __name__ == "__main__":
    sys.exit(main())
