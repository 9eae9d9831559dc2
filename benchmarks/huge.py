"""The ~100-billion-parameter spec: validate, summary and a meta build, each in a fresh process.

Each step reports its wall time and its peak resident memory (VmHWM, Linux);
the meta build must stay under 300 MiB (``import torch`` alone is measured
beside it) and allocate nothing (every parameter on meta).  The parameter count
netspec infers is checked against plain arithmetic and against the sum of
``numel()`` over the built module.

    python benchmarks/huge.py [--blocks 186] [--width 8192] [--vocab 32000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

from _common import ROOT, add_common, exit_status, fmt_seconds, machine
from make_huge_spec import DEFAULTS, expected_params, huge_spec

RSS_TARGET_MIB = 300

PROBE = """
import json, sys, time
start = time.perf_counter()
{body}
wall = time.perf_counter() - start
peak = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0]) // 1024
print(json.dumps({{"wall": wall, "peak_mib": peak, **result}}))
"""

STEPS = {
    "import torch": "import torch\nresult = {}",
    "netspec validate": (
        "from netspec.tools import cli\n"
        "try:\n    cli.main(['validate', '-q', sys.argv[1]])\nexcept SystemExit as exc:\n    assert not exc.code, exc\n"
        "result = {'torch': 'torch' in sys.modules}"
    ),
    "netspec summary": (
        "import netspec\nsummary = netspec.summary(sys.argv[1])\n"
        "result = {'count': summary.total_params, 'torch': 'torch' in sys.modules}"
    ),
    "load(device='meta')": (
        "import torch, netspec\nmodel = netspec.load(sys.argv[1], device='meta')\n"
        "tensors = [*model.parameters(), *model.buffers()]\n"
        "result = {'count': sum(p.numel() for p in model.parameters()), 'meta': all(t.is_meta for t in tensors)}"
    ),
}


def probe(body: str, spec: Path) -> dict[str, object]:
    done = subprocess.run([sys.executable, "-c", PROBE.format(body=body), str(spec)], cwd=ROOT, capture_output=True,
                          text=True, check=False)
    if done.returncode != 0:
        raise SystemExit(f"probe failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for name, value in DEFAULTS.items():
        parser.add_argument(f"--{name}", type=int, default=value)
    add_common(parser)
    args = parser.parse_args()
    sizes = {name: getattr(args, name) for name in DEFAULTS}
    if args.quick:  # a small model through the same steps: counts still exact, still nothing allocated
        sizes = {**sizes, "blocks": 2, "width": 256, "vocab": 1000}
    expected = expected_params(**sizes)
    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "huge.yaml"
        spec.write_text(huge_spec(**sizes), encoding="utf-8")
        results = {name: probe(body, spec) for name, body in STEPS.items()}
    print(f"\nhuge spec: {expected:,} parameters by arithmetic  [{machine()}]")
    print(f"{'step':<22} {'wall':>10} {'peak RSS':>10}  notes")
    ok = True
    for name, result in results.items():
        notes = []
        if "count" in result:
            exact = result["count"] == expected
            ok &= exact
            notes.append(f"count {result['count']:,} {'exact' if exact else 'WRONG'}")
        if "torch" in result:
            ok &= not result["torch"]
            notes.append("torch imported" if result["torch"] else "no torch")
        if "meta" in result:
            under = int(result["peak_mib"]) < RSS_TARGET_MIB  # type: ignore[call-overload]
            ok &= bool(result["meta"]) and under
            notes.append(f"all on meta: {'yes' if result['meta'] else 'NO'}; "
                         f"under {RSS_TARGET_MIB} MiB: {'yes' if under else 'NO'}")
        print(f"{name:<22} {fmt_seconds(float(result['wall'])):>10} {result['peak_mib']:>6} MiB  "  # type: ignore[arg-type]
              f"{'; '.join(notes)}")
    return exit_status(ok, args.strict)


if __name__ == "__main__":
    sys.exit(main())
