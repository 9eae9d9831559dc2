"""Fuzzing: whatever the input, netspec answers with a result or a SpecError.

Two generators feed the whole pipeline (parse, schema, resolve, shapes,
codegen, and for accepted specs the build on the meta device):

- structure-aware: a shipped spec's data, mutated: values swapped for values of
  other types and extremes, keys deleted, renamed or duplicated, junk forward
  steps, random layers of random registry types with random arguments;
- byte-level: a shipped spec's or a hostile case's bytes, with bytes and YAML
  tokens inserted, deleted, replaced and spliced.

Any exception other than SpecError fails, and so does an example that runs
longer than ``HANG_SECONDS`` (a SIGALRM interrupts it, so a real hang is caught
too).  CI runs a fixed, derandomized budget; set ``NETSPEC_FUZZ_EXAMPLES`` to
run longer with fresh randomness (see docs/security.md).
"""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any

import pytest
import torch
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import netspec
from netspec.errors import SpecError
from netspec.frontend import source
from netspec.ops import LAYERS, OPS
from tests.conftest import SPECS_DIR

HOSTILE = Path(__file__).resolve().parent / "hostile"
SHIPPED = {p.name: p.read_text(encoding="utf-8") for p in sorted(SPECS_DIR.glob("*.yaml"))}
SEEDS = {**{p.name: p.read_bytes() for p in sorted(SPECS_DIR.glob("*.yaml"))},
         **{p.name: p.read_bytes() for p in sorted(HOSTILE.glob("*.yaml")) if p.stat().st_size < 2_000}}
HANG_SECONDS = 10

LONG_RUN = int(os.environ.get("NETSPEC_FUZZ_EXAMPLES", "0"))


def budget(ci_examples: int) -> settings:
    """A fixed, reproducible budget in CI; NETSPEC_FUZZ_EXAMPLES=N runs N fresh examples instead."""
    common: dict[str, Any] = {"deadline": None, "suppress_health_check": list(HealthCheck)}
    if LONG_RUN:
        return settings(max_examples=LONG_RUN, derandomize=False, **common)
    return settings(max_examples=ci_examples, derandomize=True, database=None, **common)


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: int) -> Iterator[None]:
    def alarm(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"example ran longer than {seconds} s")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def check(text: str, tmp: pytest.TempPathFactory) -> None:
    """The property: a SpecError, or a spec whose generated module builds."""
    start = time.perf_counter()
    with time_limit(HANG_SECONDS):
        try:
            compiled = netspec.compile_string(text, "fuzz.yaml")
        except SpecError as exc:
            assert exc.errors, "a SpecError must carry at least one error"
            for d in exc.diagnostics:
                assert d.span is not None and d.span.line >= 1 and "\n" not in d.message
            event(f"refused: {exc.errors[0].code}")
            return
        compile(compiled.source_code, "fuzz.py", "exec")
        path = tmp.mktemp("fuzz") / "fuzz.yaml"
        path.write_text(text, encoding="utf-8")
        model = netspec.load(path, device="meta")
        assert isinstance(model, torch.nn.Module)
        event("accepted")
    assert time.perf_counter() - start < HANG_SECONDS


# ---------------------------------------------------------------- hostile values

NAMES = ["x", "h", "conv1", "fc", "N", "H", "W", "forward", "training", "to", "self", "torch", "nn", "F", "class",
         "match", "_x", "__init__", "__class__", "a.b", "", "1a", "ﬁ", "ｘ", "а", "range", "keys", "append", "choice"]
EXPRESSIONS = ["x", "relu(x)", "return x", "h = x + x", "x = mm(x, x)", "return x.__class__", "__import__('os')",
               "x[0]", "lambda: 0", "[y for y in x]", "x @ x", "-x", "x * 2.5", "return cat([x, x], 1)",
               "flatten(x, 0)", "reshape(x, [-1])", "x = softmax(x, dim=-1)", "for p in params: x = mm(x, p)",
               "return params[choice]", "x = fc(x)", "return conv1(x) + x", "import os", "x = x; y = x",
               "return mean(x, 0, keepdim=True)", "x.mean()", "-" * 200 + "x", "x + " * 120 + "x",
               "transpose(x, 0, 1)", "dropout(x, p=0.5)", "return (1, 2)", "'a' + 'b'", "1 / 0", "x ** 2"]
STRINGS = [*NAMES, *EXPRESSIONS, *LAYERS, *OPS, "Sequential", "same", "valid", "zeros", "reflect", "yes", "no",
           "on", "017", "3:3", "0b1", ".nan", "!!python/name:os.system", "&a", "*a", "---", "\t", "\x1b[2J",
           "\u202e", "\ufeff", "a\nb", '"""', "'''", "\\", "{", "[", ": "]
EXTREME_INTS = [0, -1, 1, 2, 3, 7, 64, 2**31, 2**32, 2**62, 2**63 - 1, 2**63, -(2**63), 10**19, 10**40, 10**41]


def scalars() -> st.SearchStrategy[Any]:
    return st.one_of(
        st.sampled_from(EXTREME_INTS), st.integers(-100, 100), st.integers(),
        st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 0.5, 1.0, 1.5, -0.1, 1e308]),
        st.booleans(), st.none(), st.sampled_from(STRINGS), st.text(max_size=12),
    )


def values() -> st.SearchStrategy[Any]:
    return st.recursive(scalars(), lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(NAMES + STRINGS[:40]), inner, max_size=3)),
        max_leaves=4)


def plausible(old: Any) -> st.SearchStrategy[Any]:
    """A value close to the one written, so more mutants get past the grammar into shapes and codegen."""
    if isinstance(old, bool):
        return st.booleans()
    if isinstance(old, int):
        return st.sampled_from([old - 1, old + 1, old * 2, old // 2, 0, 1, -old, old * 1000, 2**63 - 1])
    if isinstance(old, float):
        return st.sampled_from([0.0, 1.0, old * 2, -old, 1.0000001])
    if isinstance(old, list):
        return st.lists(st.one_of(st.integers(1, 16), st.sampled_from(["N", "H"])), max_size=5)
    if isinstance(old, str):
        return st.sampled_from([*EXPRESSIONS, *NAMES, *LAYERS, *OPS])
    return values()


# ---------------------------------------------------------------- structure-aware mutations


def paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from paths(value, (*prefix, i))


def parent_of(data: Any, path: tuple[Any, ...]) -> Any:
    for part in path[:-1]:
        data = data[part]
    return data


@st.composite
def random_layer(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from([*LAYERS, "Sequential"]))
    if kind == "Sequential":
        return draw(st.lists(st.sampled_from([n for n, layer in LAYERS.items() if layer.bare_ok]), max_size=3))
    layer: dict[str, Any] = {"type": kind}
    for arg in LAYERS[kind].args:
        if arg.required or draw(st.booleans()):
            layer[arg.name] = draw(st.one_of(st.integers(-2, 40), st.sampled_from(EXTREME_INTS),
                                             st.lists(st.integers(-1, 9), max_size=4), values()))
    return layer


@st.composite
def mutated_data(draw: st.DrawFn) -> Any:
    data = yaml.safe_load(SHIPPED[draw(st.sampled_from(sorted(SHIPPED)))])  # our own files: safe_load is fine
    for _ in range(draw(st.sampled_from([1, 1, 1, 2, 2, 3, 4]))):
        spots = list(paths(data))
        path = draw(st.sampled_from(spots))
        action = draw(st.sampled_from(["tweak", "tweak", "tweak", "replace", "delete", "rename", "layer", "step",
                                       "op-step", "param", "input"]))
        if action == "tweak" and path:
            parent = parent_of(data, path)
            parent[path[-1]] = draw(plausible(parent[path[-1]]))
        elif action == "replace" and path:
            parent_of(data, path)[path[-1]] = copy.deepcopy(draw(values()))
        elif action == "delete" and path:
            del parent_of(data, path)[path[-1]]
        elif action == "rename" and path and isinstance(parent_of(data, path), dict):
            parent = parent_of(data, path)
            parent[draw(st.sampled_from(NAMES + STRINGS[:60]))] = parent.pop(path[-1])
        elif action == "layer" and isinstance(data, dict):
            layers = data.setdefault("layers", {})
            if isinstance(layers, dict):
                layers[draw(st.sampled_from(NAMES))] = draw(random_layer())
        elif action == "step" and isinstance(data, dict):
            steps = data.get("forward")
            steps = steps if isinstance(steps, list) else []
            steps.insert(draw(st.integers(0, len(steps))), draw(st.sampled_from(EXPRESSIONS + NAMES)))
            data["forward"] = steps
        elif action == "op-step" and isinstance(data, dict):
            steps = data.get("forward") if isinstance(data.get("forward"), list) else []
            op = draw(st.sampled_from(sorted(OPS)))
            args = {a.name: draw(values()) for a in OPS[op].args if draw(st.booleans())}
            steps.append({op: args if args or draw(st.booleans()) else draw(values())})
            data["forward"] = steps
        elif action == "param" and isinstance(data, dict):
            params = data.setdefault("params", {})
            if isinstance(params, dict):
                params[draw(st.sampled_from(NAMES))] = draw(st.one_of(
                    st.lists(st.sampled_from(EXTREME_INTS), max_size=4),
                    st.fixed_dictionaries({"list": st.lists(st.lists(st.integers(-1, 5), max_size=3), max_size=3)}),
                    st.fixed_dictionaries({"dict": st.dictionaries(st.sampled_from(NAMES), st.lists(
                        st.integers(0, 5), max_size=3), max_size=3)}), values()))
        elif action == "input" and isinstance(data, dict) and isinstance(data.get("inputs"), dict):
            data["inputs"][draw(st.sampled_from(NAMES))] = draw(st.lists(
                st.one_of(st.sampled_from(EXTREME_INTS), st.sampled_from(NAMES)), max_size=5))
    return data


@st.composite
def mutated_text(draw: st.DrawFn) -> str:
    data = draw(mutated_data())
    text = json.dumps(data) if draw(st.booleans()) else yaml.safe_dump(data, sort_keys=False, allow_unicode=True)
    lines = text.splitlines()
    if lines and draw(st.integers(0, 9)) == 7:  # a line twice: duplicate keys (not 0: hypothesis favours 0)
        i = draw(st.integers(0, len(lines) - 1))
        lines.insert(i, lines[i])
    return "\n".join(lines) + "\n"


@budget(300)
@given(text=mutated_text())
def test_structure_aware(text: str, tmp_path_factory: pytest.TempPathFactory) -> None:
    check(text, tmp_path_factory)


# ---------------------------------------------------------------- random forward programs

ATOMS = ["x", "h", "p", "params", "choice", "weight", "bias", "feature", "img", "conv", "fc", "fc1", "conv1", "N",
         "0", "1", "2", "-1", "300", "0.5", "1e308", "9223372036854775807", "True", "None", "'a'", "[1, 2]", "(1,)"]
KEYWORDS = sorted({a.name for op in OPS.values() for a in op.args} | {"inplace", "training", "dims"})
METHODS = sorted({name for name, op in OPS.items() if op.method}) * 3 + ["__class__", "view", "size"]


def _call(parts: tuple[str, list[str], list[tuple[str, str]]]) -> str:
    func, args, kwargs = parts
    return f"{func}({', '.join([*args, *(f'{k}={v}' for k, v in kwargs)])})"


def expressions() -> st.SearchStrategy[str]:
    def extend(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        return st.one_of(
            st.tuples(inner, st.sampled_from(["+", "-", "*", "/", "@", "+", "*", "**"]), inner).map(
                lambda t: f"({' '.join(t)})"),
            st.tuples(st.sampled_from([*OPS, "conv", "fc", "fc1", "conv1", "print"]), st.lists(inner, max_size=3),
                      st.lists(st.tuples(st.sampled_from(KEYWORDS), inner), max_size=2)).map(_call),
            st.tuples(inner, st.sampled_from(METHODS), st.lists(inner, max_size=2)).map(
                lambda t: f"{t[0]}.{t[1]}({', '.join(t[2])})"),
            st.tuples(st.sampled_from(["params", "params", "weight", "x"]), inner).map(lambda t: f"{t[0]}[{t[1]}]"),
            inner.map("-{}".format),
            st.lists(inner, min_size=1, max_size=3).map(lambda xs: "[" + ", ".join(xs) + "]"),
        )

    return st.recursive(st.sampled_from(ATOMS), extend, max_leaves=8)


def statements() -> st.SearchStrategy[str]:
    return st.one_of(
        expressions(),
        st.tuples(st.sampled_from(["x", "h", "y", "feature", "img"]), expressions()).map(" = ".join),
        st.tuples(st.sampled_from(["p", "q"]), st.sampled_from(["params", "params", "x"]), expressions()).map(
            lambda t: f"for {t[0]} in {t[1]}: x = {t[2]}"),
    )


@budget(300)
@given(name=st.sampled_from(sorted(SHIPPED)), steps=st.lists(statements(), max_size=4),
       last=st.one_of(expressions().map("return {}".format), st.none()), keep=st.integers(0, 12))
def test_random_forward_programs(name: str, steps: list[str], last: str | None, keep: int,
                                 tmp_path_factory: pytest.TempPathFactory) -> None:
    """Random statements over the names a shipped spec defines, after some of its own steps."""
    data = yaml.safe_load(SHIPPED[name])
    first = next(iter(data["inputs"]))
    written = [s for s in data.get("forward") or [] if "return" not in str(s)]  # ours may return
    ours = [re.sub(r"\bx\b", first, s) for s in [*steps, *([last] if last else [])]]
    data["forward"] = (written[:keep] + ours) or ["return " + first]
    check(yaml.safe_dump(data, sort_keys=False), tmp_path_factory)


# ---------------------------------------------------------------- byte-level mutations

TOKENS = [b"&a ", b"*a", b"!!python/object/apply:os.system [x]", b"!x ", b"---\n", b"...\n", b"\t", b"[", b"]",
          b"{", b"}", b": ", b"- ", b"\n", b"\n  ", b"#", b"'", b'"', b"\\", b"?", b"|", b">", b"%YAML 1.1\n",
          b"\xff", b"\xc0\xaf", b"\xef\xbb\xbf", b"\x00", b"\x1b", b"9" * 50, b"1e999", b".nan", b"no", b"017", b"3:3",
          b"__import__('os')", b"x.__class__", b"return ", b"=", b"(", b")", b"relu(", b"mm(x, ", b"\xe2\x80\xae"]


@st.composite
def mutated_bytes(draw: st.DrawFn) -> bytes:
    data = bytearray(SEEDS[draw(st.sampled_from(sorted(SEEDS)))])
    for _ in range(draw(st.integers(1, 8))):
        at = draw(st.integers(0, len(data)))
        action = draw(st.sampled_from(["token", "byte", "delete", "replace", "copy", "truncate"]))
        if action == "token":
            data[at:at] = draw(st.sampled_from(TOKENS))
        elif action == "byte":
            data[at:at] = draw(st.binary(min_size=1, max_size=4))
        elif action == "delete":
            del data[at:at + draw(st.integers(1, 16))]
        elif action == "replace" and at < len(data):
            data[at] = draw(st.integers(0, 255))
        elif action == "copy" and data:
            start = draw(st.integers(0, len(data) - 1))
            data[at:at] = data[start:start + draw(st.integers(1, 64))]
        elif action == "truncate":
            del data[at:]
    return bytes(data)


@budget(700)
@given(data=mutated_bytes())
def test_byte_level(data: bytes, tmp_path_factory: pytest.TempPathFactory) -> None:
    try:
        text = source.load_bytes(data, "fuzz.yaml").text
    except SpecError as exc:
        assert exc.errors
        event(f"refused: {exc.errors[0].code}")
        return
    check(text, tmp_path_factory)


def test_hang_guard_fires() -> None:
    """The alarm really interrupts a long-running example, so a hang cannot pass silently."""
    with pytest.raises(Hang), time_limit(1):
        while True:
            time.sleep(0.05)
