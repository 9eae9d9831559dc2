"""Spec size: layers written out one by one, and residual blocks repeated, at 1k / 10k / 100k and 1k / 10k / 50k.

Two families of generated specs (benchmarks/_specs.py) go through every pure stage, in CPU time of this process
(median of a few runs, the caches cleared each time, the collector paused as the command line runs it):

- **layers**: a flat stack of Linear and ReLU, forward omitted: parse, grammar, resolve, shapes, codegen each
  timed.  Targets: 10,000 layers checked (parse to shapes) in under 1 s; time per layer at the largest size
  within 1.5x of that at the smallest.
- **blocks**: torchvision's BasicBlock repeated (one entry, ``repeat: depth``), where identical instances are
  inferred once: ``compile_spec`` end to end (what ``netspec validate`` runs), each size in a fresh process, and
  the whole ``netspec validate`` command (start-up and reading included).  Targets (issue 20): 10,000 blocks
  validated by the command in under 2 s; time per block at the largest size within 1.5x of that at 1,000.

It also says whether netspec's default limits accept 100,000 layers and 50,000 blocks (docs/spec.md#limits).
Sizes past the limits are measured with the limits raised for this process only, marked "*".

    python benchmarks/scale.py [--sizes 1000 10000 100000] [--blocks 1000 10000 50000] [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from _common import add_common, child_cpu, cpu_timed, exit_status, fmt_seconds, machine
from _specs import blocks_spec, flat_params, flat_spec
from startup import netspec_command

from netspec import api
from netspec.backend import codegen
from netspec.errors import SpecError
from netspec.frontend import source, validate
from netspec.middle import elaborate, resolve, shapes

TEN_K_TARGET_S = 1.0
BLOCKS_TARGET_S = 2.0
LINEAR_TARGET = 1.5
STAGES = ("parse", "grammar", "resolve", "shapes", "codegen")
ACCEPTED_LAYERS = 100_000
ACCEPTED_BLOCKS = 50_000


@contextmanager
def raised_limits(on: bool) -> Iterator[None]:
    """Lift the spec-size limits (module constants read at call time) while measuring."""
    raised = [(source, "MAX_NODES", 100_000_000), (source, "MAX_BYTES", 256 << 20),
              (shapes, "MAX_EXECUTED", 100_000_000), (shapes, "MAX_WORK", 100_000_000),
              (shapes, "MAX_COPIED", 1_000_000_000)]
    raised = [(module, name, value) for module, name, value in raised if hasattr(module, name)]  # older trees
    saved = [getattr(module, name) for module, name, _ in raised]
    init = elaborate.Budget.__init__
    budget = init.__defaults__  # the dataclass's defaults: children, instances
    if on:
        for module, name, value in raised:
            setattr(module, name, value)
        init.__defaults__ = (100_000_000, 10_000_000)
    try:
        yield
    finally:
        for (module, name, _), value in zip(raised, saved, strict=True):
            setattr(module, name, value)
        init.__defaults__ = budget


def accepted(path: Path) -> bool:
    """Whether the default limits accept the spec."""
    api.cache_clear()
    try:
        api.compile_spec(path)
    except SpecError:
        return False
    return True


def stage_times(path: Path, layers: int) -> dict[str, float]:
    """The stages of ``api.compile_spec``, timed one by one (with the collector paused, as there)."""
    times: dict[str, float] = {}
    result: dict[str, object] = {}

    def step(name: str, fn: object, *args: object) -> object:
        times[name] = cpu_timed(lambda: result.__setitem__(name, fn(*args)))  # type: ignore[operator]
        return result[name]

    with api.gc_paused():
        src = step("parse", source.load_file, path)
        spec = step("grammar", validate.validate_data, src)
        program = step("resolve", resolve.resolve, spec, src)
        inference = step("shapes", shapes.infer, program)
        step("codegen", codegen.generate_code, inference)
    assert isinstance(inference, shapes.Inference) and inference.total_params == flat_params(layers)
    return times


def compile_time(path: Path) -> float:
    api.cache_clear()
    with api.gc_paused():  # as `netspec validate` runs it: the collector off for the command's life
        return cpu_timed(lambda: api.compile_spec(path))


def flat_rows(directory: Path, sizes: list[int], rounds: int) -> tuple[dict[int, float], bool]:
    print(f"\nlayers written out: per-stage medians, CPU time  [{machine()}]")
    head = (f"{'layers':>8} {'parse':>9} {'grammar':>9} {'resolve':>9} {'shapes':>9} {'checked':>9} "
            f"{'codegen':>9} {'compile_spec':>12} {'us/layer':>9}")
    print(head)
    print("-" * len(head))
    per_layer: dict[int, float] = {}
    ok = True
    for n in sizes:
        path = directory / f"flat{n}.yaml"
        path.write_text(flat_spec(n), encoding="utf-8")
        raised = not accepted(path)
        with raised_limits(raised):
            runs = [stage_times(path, n) for _ in range(rounds)]
            total = statistics.median(compile_time(path) for _ in range(rounds))
        stages = {name: statistics.median(run[name] for run in runs) for name in STAGES}
        checked = sum(stages[s] for s in ("parse", "grammar", "resolve", "shapes"))
        per_layer[n] = checked / n
        cells = " ".join(f"{fmt_seconds(stages[s]):>9}" for s in STAGES[:4])
        print(f"{n:>7}{'*' if raised else ' '} {cells} {fmt_seconds(checked):>9} {fmt_seconds(stages['codegen']):>9} "
              f"{fmt_seconds(total):>12} {per_layer[n] * 1e6:>9.1f}")
        if n == 10_000:
            met = checked < TEN_K_TARGET_S
            ok &= met
            print(f"  10,000 layers checked in {fmt_seconds(checked)} (target < {TEN_K_TARGET_S:.0f} s): "
                  f"{'yes' if met else 'NO'}")
    return per_layer, ok


def block_rows(directory: Path, sizes: list[int], rounds: int) -> tuple[dict[int, float], bool]:
    print(f"\nresidual blocks repeated: CPU time, each size in fresh processes  [{machine()}]")
    head = f"{'blocks':>8} {'compile_spec':>12} {'us/block':>9} {'netspec validate':>16}"
    print(head)
    print("-" * len(head))
    per_block: dict[int, float] = {}
    ok = True
    for n in sizes:
        path = directory / f"blocks{n}.yaml"
        path.write_text(blocks_spec(n), encoding="utf-8")
        raised = not accepted(path)
        total = fresh_compile_time(path, n, raised, rounds if n <= 10_000 else 1)
        command = None if raised or n > 10_000 else whole_command_time(path, rounds)
        per_block[n] = total / n
        shown = fmt_seconds(command) if command is not None else "-"
        print(f"{n:>7}{'*' if raised else ' '} {fmt_seconds(total):>12} {per_block[n] * 1e6:>9.1f} {shown:>16}")
        if n == 10_000 and command is not None:
            met = command < BLOCKS_TARGET_S
            ok &= met
            print(f"  10,000 blocks validated by `netspec validate` in {fmt_seconds(command)}, start-up included "
                  f"(target < {BLOCKS_TARGET_S:.0f} s): {'yes' if met else 'NO'}")
    return per_block, ok


def whole_command_time(path: Path, rounds: int) -> float:
    """The median CPU time of ``netspec validate -q PATH``, after one untimed run that caches the bytecode."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    argv = [*netspec_command(), "validate", "-q", str(path)]
    child_cpu(argv, env)
    return statistics.median(child_cpu(argv, env) for _ in range(rounds))


def fresh_compile_time(path: Path, blocks: int, raised: bool, rounds: int) -> float:
    """The median of ``rounds`` :func:`compile_time` runs in a fresh process: a process that has just compiled
    100,000 layers spends up to 40% more on the same work (its heap is large and scattered), and a user's
    ``netspec validate`` starts fresh."""
    code = ("import statistics, sys\nsys.path.insert(0, sys.argv[1])\nimport _specs, scale\n"
            "with scale.raised_limits(sys.argv[3] == '1'):\n"
            "    times = [scale.compile_time(scale.Path(sys.argv[2])) for _ in range(int(sys.argv[4]))]\n"
            "    params = scale.api.compile_spec(sys.argv[2]).inference.total_params\n"
            "assert params == _specs.blocks_params(int(sys.argv[5])), params\n"
            "print(statistics.median(times))\n")
    done = subprocess.run([sys.executable, "-c", code, str(Path(__file__).parent), str(path), str(int(raised)),
                           str(rounds), str(blocks)], capture_output=True, text=True, check=True)
    return float(done.stdout)


def linear(name: str, per_item: dict[int, float]) -> bool:
    small, large = min(per_item), max(per_item)
    if large <= small or per_item[small] <= 0:
        return True
    growth = per_item[large] / per_item[small]
    met = growth <= LINEAR_TARGET
    print(f"time per {name} at {large:,} / at {small:,}: {growth:.2f} (linear: <= {LINEAR_TARGET}): "
          f"{'yes' if met else 'NO'}")
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10_000, 100_000], help="layers")
    parser.add_argument("--blocks", type=int, nargs="+", default=[1000, 10_000, 50_000], help="residual blocks")
    add_common(parser)
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.blocks = [100, 1000], [100, 1000]

    validate.validate_data(source.load_file(Path(__file__).parent.parent / "specs" / "lenet.yaml"))  # warm up
    with tempfile.TemporaryDirectory() as tmp:
        per_layer, ok = flat_rows(Path(tmp), args.sizes, 1 if args.quick else 3)
        ok &= linear("layer", per_layer)
        per_block, blocks_ok = block_rows(Path(tmp), args.blocks, 1 if args.quick else 3)
        ok &= blocks_ok and linear("block", per_block)
        if not args.quick:
            for what, text in ((f"{ACCEPTED_LAYERS:,} layers written out", flat_spec(ACCEPTED_LAYERS)),
                               (f"{ACCEPTED_BLOCKS:,} residual blocks", blocks_spec(ACCEPTED_BLOCKS))):
                path = Path(tmp) / "limits.yaml"
                path.write_text(text, encoding="utf-8")
                met = accepted(path)
                ok &= met
                print(f"{what} accepted by the default limits: {'yes' if met else 'NO'}")
    return exit_status(ok, args.strict)


if __name__ == "__main__":
    sys.exit(main())
