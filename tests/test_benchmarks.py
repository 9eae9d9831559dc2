"""Every benchmark still runs: each script in benchmarks/ (not the ``_``-prefixed helpers) in its ``--quick`` mode.

A benchmark that no longer runs rots unseen (benchmarks/scale.py crashed on ``Program.layers`` for a while), so
the suite runs every one, including those added later, each as its own process from the repository root as a
person would.  Only that it runs is checked (exit 0, a table printed), never its figures: timing targets are
ratios the scripts print, measured side by side in one run (``--strict`` turns a miss into exit 1 on a quiet
machine), and a test on a shared machine cannot judge them.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

BENCHMARKS = sorted(p for p in (ROOT / "benchmarks").glob("*.py") if not p.name.startswith("_"))
QUICK_SECONDS = 300  # each quick run takes seconds to a minute on two busy cores; this only stops a hang


def test_benchmarks_are_found() -> None:
    names = {p.stem for p in BENCHMARKS}
    assert {"startup", "scale", "construct", "runtime", "huge", "gpu"} <= names


@pytest.mark.parametrize("script", BENCHMARKS, ids=[p.stem for p in BENCHMARKS])
def test_benchmark_runs_in_quick_mode(script: Path) -> None:
    done = subprocess.run([sys.executable, str(script), "--quick"], cwd=ROOT, env=dict(os.environ), capture_output=True,
                          text=True, timeout=QUICK_SECONDS, check=False)
    assert done.returncode == 0, (f"{script.name} --quick failed ({done.returncode}; every benchmark takes --quick, "
                                  f"see this module):\n{done.stderr[-4000:]}")
    assert done.stdout.strip(), f"{script.name} --quick printed nothing"
    assert "Traceback" not in done.stderr, done.stderr[-4000:]
