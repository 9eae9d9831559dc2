"""Shared by the benchmark scripts: interleaved timing, medians, and the ratio table.

Every figure is a ratio against a baseline measured in the same run: the cases
are timed round-robin (A B A B ...), so a noisy neighbour or a CPU frequency
change hits both sides alike, and each side is summarised by its median.
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

if str(ROOT) not in sys.path:  # so `tests.seed_modules` (the hand-written references) imports
    sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], object], clock: Callable[[], float] = time.perf_counter) -> float:
    start = clock()
    fn()
    return clock() - start


def interleaved(cases: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                collect: bool = True, clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Time each case ``rounds`` times, round-robin, after ``warmup`` untimed rounds.

    The order alternates every round (A B, then B A) so neither side always runs
    right after the other.  ``collect`` runs the garbage collector before each
    timing so one case's garbage is not paid for by the next.  ``clock``: wall time by default,
    ``time.process_time`` for this process's CPU time.
    """
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    times: dict[str, list[float]] = {name: [] for name in names}
    gc.collect()
    gc.freeze()  # what lives now is never scanned again: a collection costs 200 ms once torch is imported
    try:
        for i in range(rounds):
            for name in names if i % 2 == 0 else reversed(names):
                if collect:
                    gc.collect()
                times[name].append(timed(cases[name], clock))
    finally:
        gc.unfreeze()
    return times


def child_cpu(argv: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> float:
    """Run ``argv`` as a fresh process; its CPU time (user + system, as the kernel counts it), in seconds.

    CPU time rather than wall time: on a small box shared with other work, a process waiting for a core is
    not charged for the wait.  A failed command stops the benchmark with its stderr."""
    proc = subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    proc.stderr.close()
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} failed ({proc.returncode}): {err.decode(errors='replace')[-2000:]}")
    return usage.ru_utime + usage.ru_stime


def interleaved_cpu(cases: dict[str, list[str]], rounds: int, env: dict[str, str] | None = None,
                    warmup: int = 1) -> dict[str, list[float]]:
    """:func:`child_cpu` of each command line, round-robin (the order reversed every other round)."""
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            child_cpu(cases[name], env)
    times: dict[str, list[float]] = {name: [] for name in names}
    for i in range(rounds):
        for name in names if i % 2 == 0 else reversed(names):
            times[name].append(child_cpu(cases[name], env))
    return times


def cpu_timed(fn: Callable[[], object]) -> float:
    """CPU time of this process (user + system) spent in ``fn()``, in seconds."""
    start = time.process_time()  # user + system, at the clock's full resolution (os.times() ticks at 10 ms)
    fn()
    return time.process_time() - start


def add_common(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark takes: ``--quick`` (a few seconds, to check it still runs: the test suite
    runs each so) and ``--strict``."""
    parser.add_argument("--quick", action="store_true",
                        help="a small, fast run that only checks the script still works (figures are noise)")
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")


def median(values: list[float]) -> float:
    return statistics.median(values)


@dataclass
class Figure:
    """One line of the table: ``value / baseline`` against a target ratio."""

    name: str
    value: float  # seconds (median)
    baseline: float  # seconds (median)
    target: float | None  # the ratio to stay at or under; None: informational
    baseline_name: str = ""

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("inf")

    @property
    def ok(self) -> bool | None:
        return None if self.target is None else self.ratio <= self.target


def fmt_seconds(seconds: float) -> str:
    if seconds >= 1:
        return f"{seconds:.3f} s"
    if seconds >= 1e-3:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds * 1e6:.1f} us"


def print_table(title: str, figures: list[Figure], note: str = "") -> bool:
    """Print the figures; return True when every target is met."""
    print(f"\n{title}  [{machine()}]")
    if note:
        print(note)
    head = f"{'figure':<44} {'netspec':>10} {'baseline':>10} {'ratio':>7} {'target':>7}  ok  baseline is"
    print(head)
    print("-" * len(head))
    for f in figures:
        target = f"<={f.target:.2f}" if f.target is not None else "-"
        ok = {True: "yes", False: "NO", None: "-"}[f.ok]
        print(f"{f.name:<44} {fmt_seconds(f.value):>10} {fmt_seconds(f.baseline):>10} {f.ratio:>7.3f} {target:>7}  "
              f"{ok:<3} {f.baseline_name}")
    return all(f.ok is not False for f in figures)


def machine() -> str:
    """CPU count, Python and torch versions; torch is not imported just to say which it is."""
    cpus = os.cpu_count() or 0
    torch = sys.modules.get("torch")
    if torch is not None:
        torch_version = f"torch {torch.__version__}, {torch.get_num_threads()} threads"
    else:
        try:
            torch_version = f"torch {importlib.metadata.version('torch')}"
        except importlib.metadata.PackageNotFoundError:
            torch_version = "no torch"
    return f"{platform.machine()} {cpus} CPUs, Python {platform.python_version()}, {torch_version}"


def exit_status(ok: bool, strict: bool) -> int:
    """0 unless ``strict`` and a target was missed (benchmarks inform; --strict gates)."""
    return 1 if strict and not ok else 0
