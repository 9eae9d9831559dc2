"""Shared by the benchmark scripts: interleaved timing, medians, and the ratio table.

Every figure is a ratio against a baseline measured in the same run: the cases
are timed round-robin (A B A B ...), so a noisy neighbour or a CPU frequency
change hits both sides alike, and each side is summarised by its median.
"""

from __future__ import annotations

import gc
import importlib.metadata
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

if str(ROOT) not in sys.path:  # so `tests.seed_modules` (the hand-written references) imports
    sys.path.insert(0, str(ROOT))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def interleaved(cases: dict[str, Callable[[], object]], rounds: int, warmup: int = 1,
                collect: bool = True) -> dict[str, list[float]]:
    """Time each case ``rounds`` times, round-robin, after ``warmup`` untimed rounds.

    The order alternates every round (A B, then B A) so neither side always runs
    right after the other.  ``collect`` runs the garbage collector before each
    timing so one case's garbage is not paid for by the next.
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
                times[name].append(timed(cases[name]))
    finally:
        gc.unfreeze()
    return times


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
