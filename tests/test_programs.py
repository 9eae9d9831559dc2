"""Differential test of whole programs: netspec against a PyTorch module built by hand.

Seeded random programs (``tests/programs.py``: blocks with typed arguments and arguments read off
the input, vars, ``if:`` on layers and on block uses, ``repeat``, groups with name patterns, forward
loops over groups, chunk/cat and residual adds, ``extends``, overrides) are compiled by netspec and built by
an independent reference in torch (lazy layers where the spec leaves a size out, blocks binding
their input sizes on the first call, forward run as Python).  For each program:

- netspec accepts it iff torch runs it; a refusal that says "netspec refuses this deliberately"
  (docs/spec.md, "Deliberate checks") is allowed where torch runs;
- the inferred output shape and parameter count are torch's;
- the generated module has the reference's ``state_dict`` keys (in order) and shapes, loads its
  weights strictly and gives the same output;
- each generated block class, built with *other* arguments (integers moved, bools flipped) where the
  reference builds them, has the reference's ``state_dict`` and output there too, or (for an entry no
  instance of the spec builds and nothing determines) refuses with netspec's ``_not_inferred`` message.
  A class that netspec warned about (``ambiguous-inference``) is not held to other arguments.

Every disagreement fails with the program shrunk (pieces dropped while the same kind of
disagreement remains) and printed as YAML.  The CI run is fixed-seed and small; for a longer one:

    NETSPEC_PROGRAM_CASES=3000 NETSPEC_PROGRAM_SEED=7 python -m pytest -q tests/test_programs.py

(``NETSPEC_PROGRAM_CASES`` programs, default 300; ``NETSPEC_PROGRAM_SEED``, default 0.)
"""

from __future__ import annotations

import itertools
import os
import warnings
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import netspec
from netspec.api import Compiled
from netspec.errors import SpecError
from tests.conftest import layout
from tests.programs import (
    BATCH,
    Definition,
    Program,
    Ref,
    block_instances,
    draw_programs,
    reference,
    undetermined,
)

CASES = int(os.environ.get("NETSPEC_PROGRAM_CASES", "300"))
SEED = int(os.environ.get("NETSPEC_PROGRAM_SEED", "0"))
DELIBERATE = "netspec refuses this deliberately"
NOT_INFERRED = "is not known for these arguments"
_RUNS = itertools.count()


class Checker:
    """Compiles and compares programs; counts what it saw."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.seen: Counter[str] = Counter()

    def compile(self, program: Program) -> Compiled | SpecError:
        files = program.files()
        try:
            if len(files) == 1:
                return netspec.compile_spec(text=files["main.yaml"], filename="main.yaml",
                                            overrides=program.overrides)
            where = self.directory / f"p{next(_RUNS)}"  # a fresh directory: nothing cached is stale
            where.mkdir()
            for name, text in files.items():
                (where / name).write_text(text, encoding="utf-8")
            return netspec.compile_spec(where / "main.yaml", overrides=program.overrides)
        except SpecError as err:
            return err

    def disagreement(self, program: Program, count: bool = False) -> str | None:
        """What netspec and torch disagree on for this program, or None."""
        shape = [BATCH, *program.root.inputs["x"][1:]]
        torch.manual_seed(1)
        x = torch.randn(shape)
        ours = self.compile(program)
        theirs = reference(program, x)
        tally = self.seen.update if count else (lambda _: None)
        if not isinstance(theirs, Exception) and undetermined(theirs[0]):
            tally(["undetermined"])
            if isinstance(ours, SpecError) and all(d.code == "cannot-infer" for d in ours.errors):
                return None
            return f"undetermined: torch never learns a size, netspec says {ours}"
        if isinstance(ours, SpecError):
            if isinstance(theirs, Exception):
                tally(["both refuse"])
                return None
            if DELIBERATE in str(ours):
                tally(["deliberate"])
                return None
            return f"false reject: torch gives {tuple(theirs[1].shape)}, netspec says\n{ours}"
        if isinstance(theirs, Exception):
            return f"false accept: netspec infers {ours.inference.output.shape}, torch says " \
                   f"{type(theirs).__name__}: {str(theirs).splitlines()[0] if str(theirs) else ''}"
        tally(["both run"])
        if ours.inference.hypothetical is not None:
            tally(["an entry no instance builds"])
        if "_not_inferred(" in ours.source_code:
            tally(["a class that asks"])
        ref, out = theirs
        got = tuple(BATCH if d == "N" else d for d in ours.inference.output.shape)
        if got != tuple(out.shape):
            return f"different shape: netspec {got}, torch {tuple(out.shape)}"
        params = sum(p.numel() for p in ref.parameters())
        if ours.inference.total_params != params:
            return f"different parameter count: netspec {ours.inference.total_params:,}, torch {params:,}"
        try:
            scope = generated(ours)
            mine = scope[ours.name]().eval()
        except Exception as err:
            return f"generated module fails to build: {type(err).__name__}: {err}"
        problem = same_module(mine, ref, [x])
        if problem is not None:
            return f"generated module: {problem}"
        return self.other_arguments(program, ours, scope, ref, tally)

    def other_arguments(self, program: Program, ours: Compiled, scope: dict[str, Any], ref: Ref,
                        tally: Any) -> str | None:
        """Each block class built with arguments no instance had, against the reference built with them."""
        ambiguous = {d.path[1] for d in ours.warnings
                     if d.code == "ambiguous-inference" and len(d.path) > 1}
        done: set[str] = set()
        for name, args, shapes in block_instances(ref):
            if name in done or uses(program, name) & ambiguous:
                continue
            done.add(name)
            definition = program.blocks[name]
            for variant in nearby(definition, args):
                inputs = [torch.randn(moved(definition, key, shape, variant))
                          for key, shape in zip(definition.inputs, shapes, strict=True)]
                theirs = built(Ref(program, definition, variant), inputs)
                if theirs is None:
                    continue
                try:
                    with torch.no_grad():
                        mine = scope[name](**variant).eval()
                except ValueError as err:
                    if NOT_INFERRED in str(err):
                        tally(["class asks"])
                        continue
                    return f"class {name}{variant} fails to build: {err}"
                except Exception as err:
                    return f"class {name}{variant} fails to build: {type(err).__name__}: {err}"
                tally(["other arguments"])
                problem = same_module(mine, theirs, inputs)
                if problem is not None:
                    return f"class {name} with {variant}: {problem}"
        return None


def generated(compiled: Compiled) -> dict[str, Any]:
    """The generated source's names (its classes), executed on its own."""
    scope: dict[str, Any] = {"__name__": "netspec_program"}
    exec(compile(compiled.source_code, "<generated>", "exec"), scope)  # netspec's own generated source
    return scope


def built(module: Ref, inputs: list[torch.Tensor]) -> Ref | None:
    """The reference block after its first call, or None where torch refuses these arguments."""
    torch.manual_seed(0)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            module.eval()(*inputs)
        except Exception:  # torch refuses this combination: nothing to hold the class to
            return None
    return None if undetermined(module) else module


def same_module(mine: nn.Module, theirs: nn.Module, inputs: list[torch.Tensor]) -> str | None:
    """The same state_dict keys, order and shapes; with the reference's weights, the same output."""
    want = layout(theirs)
    got = layout(mine)
    if got != want:
        extra = [kv for kv in got if kv not in want][:3]
        missing = [kv for kv in want if kv not in got][:3]
        return f"different state_dict: netspec has {extra}, torch has {missing}" if extra or missing else \
            "state_dict in another order"
    mine.load_state_dict(theirs.state_dict(), strict=True)
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        try:
            ours = mine(*inputs)
        except Exception as err:
            return f"fails to run: {type(err).__name__}: {err}"
        reference_out = theirs(*inputs)
    if ours.shape != reference_out.shape or not torch.allclose(ours, reference_out, rtol=1e-4, atol=1e-5):
        return f"different output: netspec {tuple(ours.shape)}, torch {tuple(reference_out.shape)}"
    return None


def uses(program: Program, name: str) -> set[str]:
    """The block and every block it uses."""
    inner = Program(program.blocks[name], program.blocks)
    return {name, *inner.used_blocks()}


def nearby(definition: Definition, args: dict[str, Any]) -> list[dict[str, Any]]:
    """Other arguments for a block: integers moved (all, or those its inputs bind), bools flipped."""
    bound = {d for shape in definition.inputs.values() for d in shape if d in definition.args}
    ints = {k: v for k, v in args.items() if type(v) is int}
    flipped = {k: not v for k, v in args.items() if type(v) is bool}
    moves = [{k: v * 2 + 3 for k, v in ints.items()}, {k: v + 5 for k, v in ints.items() if k in bound}]
    variants = [{**args, **move} for move in moves if move]
    if flipped:
        variants += [{**args, **flipped}] + [{**v, **flipped} for v in variants[:1]]
    return variants


def moved(definition: Definition, key: str, shape: torch.Size, args: dict[str, Any]) -> list[int]:
    """An input's shape for other arguments: the dims the arguments bind take their new values."""
    return [args.get(d, size) for d, size in zip(definition.inputs[key], shape, strict=True)]


def shrink(checker: Checker, program: Program, problem: str) -> tuple[Program, str]:
    """Drop pieces while the same kind of disagreement remains."""
    kind = problem.split(":")[0]
    changed = True
    while changed:
        changed = False
        for smaller in program.smaller():
            found = checker.disagreement(smaller)
            if found is not None and found.split(":")[0] == kind:
                program, problem, changed = smaller, found, True
                break
    return program, problem


@pytest.fixture(autouse=True, scope="module")
def small_and_quick() -> Any:
    """Tiny tensors: one thread and torch's plain kernels are far quicker than oneDNN's set-up per shape."""
    threads, mkldnn = torch.get_num_threads(), torch.backends.mkldnn.enabled
    torch.set_num_threads(1)
    torch.backends.mkldnn.enabled = False  # type: ignore[assignment]  # a settable module property
    yield
    torch.set_num_threads(threads)
    torch.backends.mkldnn.enabled = mkldnn


@pytest.fixture(scope="module")
def checker(tmp_path_factory: pytest.TempPathFactory) -> Checker:
    return Checker(tmp_path_factory.mktemp("programs"))


def test_netspec_agrees_with_torch_on_random_programs(checker: Checker) -> None:
    failures: list[str] = []
    for index, program in draw_programs(SEED, CASES):
        problem = checker.disagreement(program, count=True)
        if problem is None:
            continue
        small, problem = shrink(checker, program, problem)
        failures.append(f"program {index} (seed {SEED}): {problem}\n--- minimal repro ---\n{small.yaml()}")
        if len(failures) >= 5:
            break
    print(f"{CASES} programs: {dict(checker.seen)}")
    assert not failures, "\n\n".join(failures)
    # the draw must keep producing every kind of case, or the test proves little
    seen = checker.seen
    assert CASES < 50 or 0.4 * CASES < seen["both run"] < 0.95 * CASES, dict(seen)
    assert CASES < 50 or (seen["both refuse"] > 0.02 * CASES and seen["other arguments"] > CASES), dict(seen)

