"""Editor speed: `netspec validate` / `netspec summary` against `python -c "import torch"`.

Each command runs as a fresh process, round-robin with the baseline, and the
figure is the ratio of median wall times (target: at most 0.25).  The first,
untimed round lets Python write netspec's bytecode (``__pycache__``, ignored by
git), as ``pip install`` would: torch's own bytecode is already in
site-packages, so timing netspec without it would compare unlike with unlike.
It also checks that neither command imports torch.

    python benchmarks/startup.py [--rounds 15] [--spec specs/alexnet.yaml] [--strict]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from _common import ROOT, SPECS, Figure, exit_status, interleaved, median, print_table

TARGET = 0.25
ZOO_SPEC = SPECS / "zoo" / "resnet50.yaml"  # blocks, repeats and extends: the composition issue's figure


def netspec_command() -> list[str]:
    """The installed console script, as an editor or a hook would run it."""
    script = Path(sys.executable).with_name("netspec")
    return [str(script)] if script.exists() else [sys.executable, "-m", "netspec.tools.cli"]


def runner(argv: list[str], env: dict[str, str]) -> object:
    def run() -> None:
        done = subprocess.run(argv, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
        if done.returncode != 0:
            raise SystemExit(f"{' '.join(argv)} failed ({done.returncode}): {done.stderr.decode()[-2000:]}")

    return run


def torch_free(spec: str, env: dict[str, str]) -> bool:
    """Run validate and summary in one process and report whether torch got imported."""
    code = (
        "import sys\n"
        "from netspec.tools import cli\n"
        f"for cmd in ('validate', 'summary'):\n"
        f"    try:\n"
        f"        cli.main([cmd, {spec!r}], standalone_mode=False)\n"
        f"    except SystemExit:\n"
        f"        pass\n"
        "sys.exit(1 if 'torch' in sys.modules else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=False)
    return done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--spec", default=str(SPECS / "alexnet.yaml"))
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # let the warm-up round cache netspec's bytecode
    cli = netspec_command()
    cases = {
        "torch": runner([sys.executable, "-c", "import torch"], env),
        "validate": runner([*cli, "validate", args.spec], env),
        "summary": runner([*cli, "summary", args.spec], env),
        "zoo": runner([*cli, "validate", str(ZOO_SPEC)], env),
        "python": runner([sys.executable, "-c", "pass"], env),
        "deps": runner([sys.executable, "-c", "import yaml, click, pydantic.main"], env),
    }
    times = interleaved(cases, args.rounds, warmup=1, collect=False)
    med = {name: median(values) for name, values in times.items()}
    base = "python -c 'import torch'"
    name = Path(args.spec).name
    figures = [
        Figure(f"netspec validate {name}", med["validate"], med["torch"], TARGET, base),
        Figure(f"netspec summary {name}", med["summary"], med["torch"], TARGET, base),
        Figure(f"netspec validate zoo/{ZOO_SPEC.name}", med["zoo"], med["torch"], TARGET, base),
        Figure("(python -c pass)", med["python"], med["torch"], None, base),
        Figure("(import yaml, click, pydantic.main)", med["deps"], med["torch"], None, base),
    ]
    ok = print_table(f"start-up: median of {args.rounds} interleaved runs", figures)
    free = torch_free(args.spec, env)
    print(f"validate and summary leave torch unimported: {'yes' if free else 'NO'}")
    return exit_status(ok and free, args.strict)


if __name__ == "__main__":
    sys.exit(main())
