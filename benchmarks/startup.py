"""Editor speed: `netspec validate` / `netspec summary` against `python -c "import torch"`, in CPU time.

Each command runs as a fresh process, round-robin with the baseline, and each
figure is the ratio of median CPU times (user + system, as the kernel counts the
child: a process waiting for a busy core is not charged for the wait).  Targets
(issue 20): validate AlexNet at most 0.10x and zoo/resnet50 at most 0.12x the
import of torch.  The first, untimed round lets Python write netspec's bytecode
(``__pycache__``, ignored by git), as ``pip install`` would: torch's own bytecode
is already in site-packages.  It also checks that neither command imports torch.

    python benchmarks/startup.py [--rounds 9] [--spec specs/alexnet.yaml] [--quick] [--strict]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from _common import ROOT, SPECS, Figure, add_common, exit_status, interleaved_cpu, median, print_table

ALEXNET_TARGET = 0.10
ZOO_TARGET = 0.12
ZOO = SPECS / "zoo"


def netspec_command() -> list[str]:
    """The installed console script, as an editor or a hook would run it."""
    script = Path(sys.executable).with_name("netspec")
    return [str(script)] if script.exists() else [sys.executable, "-m", "netspec"]


def torch_free(spec: str, env: dict[str, str]) -> bool:
    """Run validate and summary in one process and report whether torch got imported."""
    code = (
        "import sys\n"
        "from netspec.tools import cli\n"
        "for cmd in ('validate', 'summary'):\n"
        "    try:\n"
        f"        cli.main([cmd, {spec!r}], standalone_mode=False)\n"
        "    except SystemExit:\n"
        "        pass\n"
        "sys.exit(1 if 'torch' in sys.modules else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, check=False)
    return done.returncode == 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--spec", default=str(SPECS / "alexnet.yaml"))
    parser.add_argument("--before", metavar="DIR", default=None,
                        help="also time validate with netspec imported from DIR (e.g. an unpacked older commit: "
                             "`git archive HEAD | tar -x -C DIR`), in the same interleaved rounds")
    add_common(parser)
    args = parser.parse_args()

    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # let the warm-up round cache netspec's bytecode
    cli = netspec_command()
    name = Path(args.spec).name
    cases = {"torch": [sys.executable, "-c", "import torch"], "validate": [*cli, "validate", args.spec]}
    if not args.quick:
        cases |= {
            "resnet50": [*cli, "validate", str(ZOO / "resnet50.yaml")],
            "vit": [*cli, "validate", str(ZOO / "vit_b_16.yaml")],
            "densenet": [*cli, "validate", str(ZOO / "densenet121.yaml")],
            "summary": [*cli, "summary", args.spec],
            "python": [sys.executable, "-c", "pass"],
            "deps": [sys.executable, "-c", "import yaml, click, pydantic.main"],
            "click": [sys.executable, "-c", "import click"],
        }
    if args.before:  # the older tree's own copies of the specs, where it has them (the language moves on)
        before = Path(args.before).resolve()

        def theirs(spec: Path) -> str:
            spec = spec.resolve()
            mine = before / spec.relative_to(ROOT) if spec.is_relative_to(ROOT) else spec
            return str(mine if mine.exists() else spec)

        # `python -m netspec`: this tree's script imports what an older tree may not have (netspec.tools.launch)
        run = ["env", f"PYTHONPATH={before}", sys.executable, "-m", "netspec", "validate"]
        cases |= {"validate-before": [*run, theirs(Path(args.spec))],
                  "resnet50-before": [*run, theirs(ZOO / "resnet50.yaml")]}
    rounds = 1 if args.quick else args.rounds
    times = interleaved_cpu(cases, rounds, env, warmup=1)
    med = {key: median(values) for key, values in times.items()}
    base = "python -c 'import torch'"
    figures = [Figure(f"netspec validate {name}", med["validate"], med["torch"], ALEXNET_TARGET, base)]
    if not args.quick:
        figures += [
            Figure("netspec validate zoo/resnet50.yaml", med["resnet50"], med["torch"], ZOO_TARGET, base),
            Figure("(netspec validate zoo/vit_b_16.yaml)", med["vit"], med["torch"], None, base),
            Figure("(netspec validate zoo/densenet121.yaml)", med["densenet"], med["torch"], None, base),
            Figure(f"(netspec summary {name})", med["summary"], med["torch"], None, base),
            Figure("(python -c pass)", med["python"], med["torch"], None, base),
            Figure("(import yaml, click, pydantic.main)", med["deps"], med["torch"], None, base),
            Figure("(import click)", med["click"], med["torch"], None, base),
        ]
    if args.before:
        figures += [Figure(f"(validate {name}, from --before)", med["validate-before"], med["torch"], None, base),
                    Figure("(validate zoo/resnet50.yaml, from --before)", med["resnet50-before"], med["torch"], None,
                           base)]
    ok = print_table(f"start-up, CPU time (user+sys): median of {rounds} interleaved runs", figures)
    free = torch_free(args.spec, env)
    print(f"validate and summary leave torch unimported: {'yes' if free else 'NO'}")
    return exit_status(ok and free, args.strict)


if __name__ == "__main__":
    sys.exit(main())
