"""Symbolic dims evaluate to the true sizes.

A symbolic output dim is text (``(H-2)//2+1``) that must be a valid arithmetic
expression: evaluated with ``floor``/``ceil``/``min``/``max`` as functions, ``//``
as floor division and ``/`` as true division, it gives the size PyTorch
computes.  The evaluator (``tests/chains.py: evaluate``) walks the ``ast``;
nothing is ``eval``'d.

For seeded random layer chains (``tests/chains.py``) that torch runs, the
chain is compiled once with symbols for its sizes (``[N, 3, H, W]``), then run
at several other concrete sizes: where torch runs it there, netspec's concrete
inference must agree with torch, and the symbolic shape evaluated at those
sizes must too.  ``NETSPEC_SYMBOLIC_CASES=N`` runs more chains (default 150).
"""

from __future__ import annotations

import itertools
import math
import os
import random
from collections.abc import Iterator, Sequence

import pytest
import torch

import netspec
from netspec.errors import SpecError
from netspec.ops._core import dim_add, dim_broadcast, dim_floordiv, dim_mul, dim_sum, product, window_out
from netspec.ops.conv import transpose_spatial
from netspec.ops.tensor import _scaled
from tests.chains import (
    Chain,
    compile_chain,
    draw_chains,
    env_for,
    evaluate,
    run_torch,
    symbolic_compile,
    symbolic_mismatch,
)

CASES = int(os.environ.get("NETSPEC_SYMBOLIC_CASES", "150"))
SEED = 11
VARIANTS = 4


@pytest.mark.parametrize("text, value", [
    ("1+2*3", 7), ("(H+2)*2.0", 20.0), ("ceil((H-3)/2)+1", 4), ("min(ceil((H-3)/2)+1, ceil(H/2))", 4),
    ("floor((H+2)*1.5)", 15), ("(12*N)//5", 4), ("max(H, H-1)", 8), ("-H+10", 2),
])
def test_the_evaluator_reads_dim_texts(text: str, value: float) -> None:
    assert evaluate(text, {"H": 8, "N": 2}) == value


@pytest.mark.parametrize("text", ["__import__('os')", "H.real", "H**2", "[H][0]", "f(H)", "floor(H, x=1)"])
def test_the_evaluator_refuses_anything_else(text: str) -> None:
    with pytest.raises((ValueError, SyntaxError)):
        evaluate(text, {"H": 8})


def variants(shape: Sequence[int], symbolic: Sequence[int | str], rng: random.Random) -> Iterator[tuple[int, ...]]:
    """Other sizes for the dims written as symbols; the others stay as they are."""
    for _ in range(VARIANTS):
        yield tuple(max(1, d + rng.choice((-3, -2, -1, 1, 2, 3, 5, 9))) if isinstance(s, str) else d
                    for d, s in zip(shape, symbolic, strict=True))


def check_at(chain: Chain, shape: tuple[int, ...], symbolic: Sequence[int | str]) -> str | None:
    """At the sizes ``shape``: netspec's concrete shape and the evaluated symbolic one against torch."""
    theirs = run_torch(chain, shape)
    if isinstance(theirs, Exception):
        return None  # these sizes do not fit the chain: the symbolic shape has nothing to mean
    want = tuple(theirs.shape)
    ours = compile_chain(Chain(shape, chain.steps).yaml())
    if isinstance(ours, SpecError):
        return f"at {shape} torch gives {want}, netspec refuses:\n{ours}"
    if ours.inference.output.shape != want:
        return f"at {shape} torch gives {want}, netspec infers {ours.inference.output.shape}"
    return symbolic_mismatch(symbolic, want, env_for(shape))


def test_symbolic_shapes_evaluate_to_what_torch_computes() -> None:
    rng = random.Random(SEED)
    failures: list[str] = []
    evaluated = 0
    for index, chain in draw_chains(SEED, CASES):
        if isinstance(run_torch(chain), Exception):
            continue
        found = symbolic_compile(chain)
        if found is None:
            continue
        if isinstance(found, str):
            failures.append(f"chain {index}: {found}\n{chain.yaml()}")
            continue
        dims, compiled = found
        for shape in (chain.shape, *variants(chain.shape, dims, rng)):
            problem = check_at(chain, shape, compiled.inference.output.shape)
            evaluated += problem is None
            if problem is not None:
                failures.append(f"chain {index}: {problem}\n--- spec ---\n{chain.yaml(dims)}")
                break
    assert not failures, "\n\n".join(failures[:5])
    assert CASES < 50 or evaluated > CASES // 2, evaluated  # enough chains fit for the test to mean something


# ---------------------------------------------------------------- the faults found, one case each

HEAD = "netspec: 1\nname: M\n"


def symbolic_output(text: str) -> tuple[int | str, ...]:
    return netspec.compile_string(HEAD + text, "m.yaml").inference.output.shape


def assert_evaluates(shape: Sequence[int | str], env: dict[str, int], want: Sequence[int]) -> None:
    assert symbolic_mismatch(shape, want, env) is None, (shape, env, want)


def test_upsample_scales_the_whole_symbolic_dim() -> None:
    # (H+2)*2.0, not H+2*2.0: the dim is parenthesised before scaling
    shape = symbolic_output("inputs:\n  x: [N, 1, H, W]\nlayers:\n"
                            "  pad: {type: Conv2d, out_channels: 1, kernel_size: 1, padding: 1}\n"
                            "  up: {type: Upsample, scale_factor: 2.0}\n")
    x = torch.zeros(2, 1, 5, 7)
    want = torch.nn.Upsample(scale_factor=2.0)(torch.nn.Conv2d(1, 1, 1, padding=1)(x)).shape
    assert_evaluates(shape, {"N": 2, "H": 5, "W": 7}, want)


def test_corr2d_subtracts_the_whole_symbolic_kernel_size() -> None:
    # the kernel's width is (B-2)//2+1 here; W minus it needs the parentheses
    shape = symbolic_output("inputs:\n  x: [H, W]\n  k: [A, B]\nforward:\n"
                            "  - return corr2d(x, max_pool1d(k, 2))\n")
    k = torch.nn.functional.max_pool1d(torch.zeros(2, 6), 2)
    want = torch.nn.functional.conv2d(torch.zeros(1, 1, 5, 9), k[None, None])[0, 0].shape
    assert_evaluates(shape, {"H": 5, "W": 9, "A": 2, "B": 6}, want)


def test_broadcasting_two_different_symbolic_dims_gives_the_larger() -> None:
    # x + conv(x) where conv shrinks W by one: at W = 2 the conv's width is 1 and broadcasts to 2
    shape = symbolic_output("inputs:\n  x: [N, 1, W]\nlayers:\n"
                            "  conv: {type: Conv1d, out_channels: 1, kernel_size: 2}\nforward:\n"
                            "  - return x + conv(x)\n")
    x = torch.zeros(3, 1, 2)
    assert_evaluates(shape, {"N": 3, "W": 2}, (x + torch.nn.Conv1d(1, 1, 2)(x)).shape)


# ---------------------------------------------------------------- every dim helper, exhaustively on small sizes


def test_window_arithmetic_text_evaluates_to_the_concrete_size() -> None:
    """Pooling/convolution output size: the symbolic text at H equals the integer rule at H (ceil_mode too)."""
    for kernel, stride, dilation, ceil_mode in itertools.product(range(1, 6), range(1, 5), range(1, 4), (False, True)):
        for pad in range(kernel // 2 + 1):
            text = window_out("H", kernel, stride, 2 * pad, dilation, ceil_mode, pad)
            for size in range(1, 30):
                want = window_out(size, kernel, stride, 2 * pad, dilation, ceil_mode, pad)
                if want >= 1:
                    got = text if isinstance(text, int) else evaluate(text, {"H": size})
                    assert got == want, (text, size, kernel, stride, pad, dilation, ceil_mode)


@pytest.mark.parametrize("inner", ["H", "H+2", "(H-3)//2+1", "ceil((H-1)/2)+1", "2*H"])
def test_dim_helpers_keep_precedence(inner: str) -> None:
    """Each helper applied to a compound dim text means the helper applied to its value."""
    for h in range(3, 12):
        value = evaluate(inner, {"H": h})
        assert evaluate(str(dim_add(inner, -3)), {"H": h}) == value - 3
        assert evaluate(str(dim_sum(inner, inner)), {"H": h}) == 2 * value
        assert evaluate(str(dim_sum(5, inner)), {"H": h}) == 5 + value
        assert evaluate(str(dim_mul(inner, 3)), {"H": h}) == 3 * value
        assert evaluate(str(dim_mul(inner, inner)), {"H": h}) == value * value
        assert evaluate(str(dim_floordiv(inner, 2)), {"H": h}) == value // 2
        assert evaluate(str(product([2, inner, inner])), {"H": h}) == 2 * value * value
        assert evaluate(str(dim_broadcast(inner, "K")), {"H": h, "K": 1}) == value  # K is the 1 that broadcasts
        assert evaluate(str(_scaled(inner, 1.5)), {"H": h}) == math.floor(value * 1.5)
        (transposed,) = transpose_spatial([inner], (3,), (2,), (1,), (1,), (1,))
        assert evaluate(str(transposed), {"H": h}) == (value - 1) * 2 - 2 + 2 + 1 + 1
