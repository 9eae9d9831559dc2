"""Differential test: netspec's static shapes against PyTorch run on real tensors.

Seeded random chains of layers and ops (convolutions 1-3-D and transposed,
max/avg pooling with ceil_mode, adaptive pooling, BatchNorm/LayerNorm/GroupNorm,
Upsample, Flatten/Unflatten, Linear, one-key op steps, residual adds, cat,
Tensor methods), drawn in ``tests/chains.py``, are written as a netspec spec and
built directly in torch.  For each chain:

- netspec accepts it iff torch runs it (eval mode), with the same output shape
  and dtype; a netspec refusal that says "netspec refuses this deliberately"
  (docs/spec.md, "Deliberate checks") is allowed where torch runs;
- the module netspec generates runs and gives that shape too;
- written with symbols for its sizes (``[N, 3, H, W]``), the chain is accepted
  and each symbolic output dim evaluates to the concrete size.

Every disagreement fails with the chain shrunk to a minimal YAML repro (steps
dropped while the same kind of disagreement remains).

The CI run is fixed-seed and small.  For a longer run:

    NETSPEC_DIFF_CASES=3000 NETSPEC_DIFF_SEED=7 python -m pytest -q tests/test_differential.py

(``NETSPEC_DIFF_CASES`` chains, default 300; ``NETSPEC_DIFF_SEED``, default 0.)
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Sequence

import torch

from netspec.api import Compiled
from netspec.backend.build import make_class
from netspec.errors import SpecError
from tests.chains import (
    Chain,
    compile_chain,
    draw_chains,
    env_for,
    run_torch,
    symbolic_compile,
    symbolic_mismatch,
)

CASES = int(os.environ.get("NETSPEC_DIFF_CASES", "300"))
SEED = int(os.environ.get("NETSPEC_DIFF_SEED", "0"))
DELIBERATE = "netspec refuses this deliberately"


def disagreement(chain: Chain) -> str | None:
    """What netspec and torch disagree on for this chain, or None."""
    text = chain.yaml()
    ours = compile_chain(text)
    theirs = run_torch(chain)
    if isinstance(ours, SpecError):
        if isinstance(theirs, Exception) or DELIBERATE in str(ours):
            return None
        return f"false reject: torch gives {tuple(theirs.shape)}, netspec says\n{ours}"
    if isinstance(theirs, Exception):
        return f"false accept: netspec infers {ours.inference.output.shape}, torch says {type(theirs).__name__}: " \
               f"{str(theirs).splitlines()[0] if str(theirs) else ''}"
    want = (tuple(theirs.shape), str(theirs.dtype).removeprefix("torch."))
    got = (ours.inference.output.shape, ours.inference.output.dtype)
    if got != want:
        return f"different shape: netspec {got}, torch {want}"
    return generated_disagreement(chain, ours, want[0]) or symbolic_disagreement(chain, want[0])


def generated_disagreement(chain: Chain, ours: Compiled, want: tuple[int, ...]) -> str | None:
    """The module netspec generates must run on the input and give the inferred shape."""
    module = make_class(ours.source_code, ours.name)().eval()
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            out = module(torch.randn(chain.shape))
        except Exception as err:
            return f"generated module fails: {type(err).__name__}: {err}"
    return None if tuple(out.shape) == want else f"generated module gives {tuple(out.shape)}, torch {want}"


def symbolic_disagreement(chain: Chain, want: Sequence[int]) -> str | None:
    found = symbolic_compile(chain)
    if found is None or isinstance(found, str):
        return found
    _, ours = found
    return symbolic_mismatch(ours.inference.output.shape, want, env_for(chain.shape))


def shrink(chain: Chain, problem: str) -> tuple[Chain, str]:
    """Drop steps while the same kind of disagreement remains."""
    kind = problem.split(":")[0]
    changed = True
    while changed:
        changed = False
        for i in range(len(chain.steps)):
            smaller = chain.without(i)
            found = disagreement(smaller) if smaller.steps else None
            if found is not None and found.split(":")[0] == kind:
                chain, problem, changed = smaller, found, True
                break
    return chain, problem


def test_netspec_agrees_with_torch_on_random_chains() -> None:
    failures: list[str] = []
    accepted = 0
    for index, chain in draw_chains(SEED, CASES):
        problem = disagreement(chain)
        if problem is None:
            accepted += not isinstance(run_torch(chain), Exception)
            continue
        small, problem = shrink(chain, problem)
        failures.append(f"chain {index} (seed {SEED}): {problem}\n--- minimal repro ---\n{small.yaml()}")
        if len(failures) >= 5:
            break
    assert not failures, "\n\n".join(failures)
    # the draw must keep producing both kinds of case, or the test proves little
    assert CASES < 50 or 0.2 * CASES < accepted < 0.9 * CASES, accepted
