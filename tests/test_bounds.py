"""Every stage stays near-linear in its input, and the work a spec expands to is capped.

Each test feeds one kind of blow-up found by the red team (issue 8, section 2) at a
size that took tens of seconds or minutes when the stage was quadratic, and asserts
on the work done (calls counted, diagnostics capped, the refusal's code and line)
with a wall-clock bound far above the linear cost, so a loaded machine cannot fail it.
"""

from __future__ import annotations

import difflib
import json
import re
import resource
import time
import tracemalloc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import netspec
from netspec import errors
from netspec.errors import SpecError, did_you_mean
from netspec.frontend import expr, source, validate
from netspec.middle import forward, shapes

GENEROUS = 8.0  # seconds: the linear stages take well under one; the quadratic ones took 38 s to minutes
HEAD = "netspec: 1\nname: M\ninputs:\n  x: [N, 8]\n"  # forward or layers start on line 5


@contextmanager
def within(seconds: float = GENEROUS) -> Iterator[None]:
    """The block spends under ``seconds`` of this process's own CPU time (user time, as tests/test_hostile.py
    counts it): other processes on a shared machine, and the kernel's share (CPython 3.11 maps and unmaps
    frame-stack chunks when a deep recursion sits on a chunk's edge), cannot push it over."""
    start = resource.getrusage(resource.RUSAGE_SELF).ru_utime
    yield
    assert resource.getrusage(resource.RUSAGE_SELF).ru_utime - start < seconds


def refusal(text: str) -> list[errors.Diagnostic]:
    with pytest.raises(SpecError) as info:
        netspec.compile_string(text)
    return info.value.diagnostics


def balanced_sum(n: int) -> str:
    """``n`` calls of relu(x) added as a balanced tree: many nodes, shallow nesting."""
    return "relu(x)" if n == 1 else f"({balanced_sum(n // 2)} + {balanced_sum(n - n // 2)})"


# ---------------------------------------------------------------- source: scalar patterns


SCALAR_PATTERNS = {name: value for name, value in vars(source).items() if isinstance(value, re.Pattern)}


@pytest.mark.parametrize("text", [
    "1" + "_" * 200_000 + "x",  # the old _UNDERSCORED took 54 s on 40 KB of this
    "1" + "_" * 100_000 + "." + "_" * 100_000 + "x",
    "1" + ":12" * 70_000 + "x",
    "1" * 200_000 + "x",
    "0b" + "_" * 200_000 + "2",
])
def test_every_scalar_pattern_is_linear(text: str) -> None:
    assert {"_UNDERSCORED", "_SEXAGESIMAL", "_FLOAT"} <= set(SCALAR_PATTERNS)
    with within(2.0):  # linear: milliseconds; quadratic: minutes at this size
        for pattern in SCALAR_PATTERNS.values():
            pattern.fullmatch(text)


def test_long_underscored_scalar_reads_fast() -> None:
    with within():
        data = source.load_text(HEAD + "description: 1" + "_" * 200_000 + "x\n").data
    assert data["description"].startswith("1___")
    with pytest.raises(SpecError, match="yaml-ambiguous"):
        source.load_text(HEAD + "description: 1_" + "0" * 100_000 + "\n")


# ---------------------------------------------------------------- did-you-mean


@pytest.fixture
def ratio_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts difflib's full comparisons, the costly part of a hint."""
    calls = [0]
    original: Callable[[difflib.SequenceMatcher[str]], float] = difflib.SequenceMatcher.ratio

    def counted(self: difflib.SequenceMatcher[str]) -> float:
        calls[0] += 1
        return original(self)

    monkeypatch.setattr(difflib.SequenceMatcher, "ratio", counted)
    return calls


def test_hint_work_is_bounded_and_still_right(ratio_calls: list[int]) -> None:
    names = [f"layer_{i:04d}" for i in range(5_000)]
    assert did_you_mean("lyaer_0500", names) == "did you mean 'layer_0500'?"
    assert did_you_mean("layer_0777x", names) == "did you mean 'layer_0777'?"
    assert ratio_calls[0] <= 2 * 2 * errors.MAX_HINT_COMPARED  # two hints; difflib may score a candidate twice
    assert did_you_mean("q" * 100_000, names) is None
    assert did_you_mean("Layer_0001", ["layer_0001"]) == "did you mean 'layer_0001'?"
    assert did_you_mean("lienar", ["Linear", "Conv2d"]) == "did you mean 'Linear'?"  # small lists: plain difflib


def test_thousand_unknown_steps_against_thousand_layers() -> None:
    n = 1_000  # 42 s before the hint search was bounded
    text = HEAD + "layers:\n" + "".join(f"  layer_{i:04d}: ReLU\n" for i in range(n)) + "forward:\n" + \
        "".join(f"  - lyaer_{i:04d}\n" for i in range(n))
    with within():
        diags = refusal(text)
    first = diags[0]
    assert (first.code, first.span.line if first.span else 0) == ("unknown-name", 7 + n)
    assert first.hint == "did you mean 'layer_0000'?"


# ---------------------------------------------------------------- schema diagnostics


def test_many_wrong_values_are_grouped_in_linear_time_and_capped() -> None:
    n = 20_000  # 38 s when every error was compared with every other
    text = HEAD + "layers:\n" + "".join(f"  l{i}: 5\n" for i in range(n))
    with within():
        diags = refusal(text)
    assert len(diags) == validate.MAX_DIAGNOSTICS + 1
    assert [d.span.line for d in diags[:3] if d.span] == [6, 7, 8]  # file order, the first ones
    note = diags[-1]
    assert note.code == "too-many-errors"
    assert f"{n - validate.MAX_DIAGNOSTICS:,} more errors not shown" in note.message
    assert note.span is not None and note.span.line == 6 + validate.MAX_DIAGNOSTICS  # the first one not shown


def test_few_errors_are_all_reported() -> None:
    diags = refusal(HEAD + "layers:\n" + "".join(f"  l{i}: 5\n" for i in range(validate.MAX_DIAGNOSTICS)))
    assert len(diags) == validate.MAX_DIAGNOSTICS
    assert all(d.code != "too-many-errors" for d in diags)


# ---------------------------------------------------------------- shape inference: work and rank


def test_loop_body_work_is_capped_at_the_loop() -> None:
    # 10,000 iterations of a 250-call body: minutes when only statements were counted
    text = HEAD + "params:\n  ps: {list: [{shape: [8], repeat: 10000}]}\nforward:\n" + \
        f"  - \"for p in ps:\\n  x = {balanced_sum(250)}\"\n  - return x\n"
    with within():
        diags = refusal(text)
    (diag,) = diags
    assert (diag.code, diag.span.line if diag.span else 0) == ("too-large", 8)
    assert f"{shapes.MAX_WORK:,} expressions and layers" in diag.message


def test_sequential_in_a_loop_counts_each_child() -> None:
    children = "".join("      - ReLU\n" for _ in range(1_000))
    text = HEAD + "layers:\n  seq:\n    type: Sequential\n    layers:\n" + children + \
        "params:\n  ps: {list: [{shape: [8], repeat: 10000}]}\nforward:\n  - 'for p in ps: x = seq(x)'\n" + \
        "  - return x\n"
    with within():
        (diag,) = refusal(text)
    assert diag.code == "too-large" and "expressions and layers" in diag.message
    assert diag.span is not None and diag.span.line == 1_012


def test_rank_is_capped_at_the_step_that_passes_it() -> None:
    n = 20_000  # 2 GB and a MemoryError before the cap
    with within():
        (diag,) = refusal(HEAD + "forward:\n" + "  - unsqueeze: 0\n" * n)
    # x has 2 dims; the 63rd unsqueeze (line 6 + 62) makes 65
    assert (diag.code, diag.span.line if diag.span else 0) == ("too-large", 6 + shapes.MAX_RANK - 2)
    assert f"65 dims, more than the {shapes.MAX_RANK}" in diag.message


def test_rank_at_the_cap_is_accepted() -> None:
    inference = netspec.compile_string(HEAD + "forward:\n" + "  - unsqueeze: 0\n" * (shapes.MAX_RANK - 2)).inference
    assert len(inference.output.shape) == shapes.MAX_RANK


# ---------------------------------------------------------------- locating a step's syntax nodes


def test_locating_nodes_reads_the_file_once_per_step(monkeypatch: pytest.MonkeyPatch) -> None:
    # the \u0020 escape makes the text differ from the file; 3.8 MB of blank lines follow the step
    text = HEAD + f"forward:\n  - \"return x\\u0020+ {balanced_sum(250)} + nope\"\n" + "\n" * 3_800_000
    searches = [0]
    original = forward.ForwardParser.search_lines

    def counted(self: forward.ForwardParser) -> list[tuple[int, int, int] | None]:
        searches[0] += 1
        return original(self)

    monkeypatch.setattr(forward.ForwardParser, "search_lines", counted)
    with within():
        diags = refusal(text)
    assert searches[0] == 1  # once for the step, not once per syntax node (~1,000 of them)
    assert [(d.code, d.span.line if d.span else 0) for d in diags] == [("undefined-name", 6)]


def test_multi_line_step_points_at_its_own_line() -> None:
    text = HEAD + "forward:\n  - |\n    h = relu(\n        foo(x))\n  - return h\n"
    (diag,) = refusal(text)
    assert diag.span is not None and (diag.span.line, diag.span.col) == (8, 9)


# ---------------------------------------------------------------- values shared by vars and children (issue 15)


def _shared_list_vars(count: int) -> str:
    """A 1,000-item literal ``a`` and ``count`` vars of nine copies of it: 41 bytes a var, 27 KB written out."""
    items = "[" + ", ".join(["7"] * 1_000) + "]"
    copies = "".join(f"  v{i}: '[a, a, a, a, a, a, a, a, a]'\n" for i in range(count))
    return HEAD + f"vars:\n  a: {items}\n" + copies + "layers:\n  fc: {type: Linear, out_features: 3}\n"


def test_vars_sharing_one_list_are_refused_before_they_are_written_out() -> None:
    """1,000 such vars, a 41 KB spec, wrote 27 MB of NETSPEC_VARS (and the summary's Vars:) in minutes and
    2.9 GB (issue 15, 2.2): the values written out are bounded in all, not only one by one."""
    a = expr.sized([7] * 1_000)
    each = expr.written_size([a] * 9)
    first_over = next(k for k in range(1_000) if expr.written_size(a) + (k + 1) * each > expr.MAX_WRITTEN)
    start = time.process_time()
    (diag,) = refusal(_shared_list_vars(1_000))
    assert time.process_time() - start < GENEROUS  # linear: well under a second
    assert diag.code == "too-large" and "written out" in diag.message
    assert diag.span is not None and diag.span.line == 7 + first_over  # HEAD, vars:, a: then v0 on line 7


def test_vars_under_the_limit_are_written_out_linearly(tmp_path: Path) -> None:
    """Just under the limit the spec compiles, and the code and summary stay within a small multiple of it."""
    path = tmp_path / "vars.yaml"
    path.write_text(_shared_list_vars(30), encoding="utf-8")
    source_code = netspec.compile_source(path)
    assert "NETSPEC_VARS = {" in source_code and len(source_code) < 2 * expr.MAX_WRITTEN
    summary = netspec.summary(path)
    assert len(summary.render()) < 2 * expr.MAX_WRITTEN
    assert len(json.dumps(summary.to_json())) < 2 * expr.MAX_WRITTEN
    assert summary.to_json()["vars"]["v0"] == [[7] * 1_000] * 9


def test_repeated_children_share_the_vars_rather_than_copy_them() -> None:
    """1,000 vars and one entry repeated: each child kept a copy of every var, vars x children (2.7 GB for a
    12 KB spec at the 100,000 children allowed); now each child adds only its repeat index."""
    count = 5_000
    text = HEAD + "vars:\n" + "".join(f"  v{i}: {i}\n" for i in range(1_000)) + (
        f"layers:\n  l: {{type: Identity, repeat: {count}}}\nforward:\n  - 'for m in l: x = m(x)'\n  - return x\n")
    tracemalloc.start()
    try:
        compiled = netspec.compile_string(text)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(compiled.inference.instances[""].children) == count
    assert peak < 40 * 2**20, f"{peak / 2**20:.0f} MiB"  # shared: about 10 MiB; copied: 5,000 x 1,000, 130 MiB
