"""The build-time expression language given values of every wrong kind, and the work its lists cost.

Every builtin and operator of :mod:`netspec.frontend.expr`, with each argument given each kind of value a spec
(or a Python caller) can put in scope, must answer a value of the language or raise ``ExprError``,
never another exception (issue 15, section 2.1: ``make_divisible(8, None)`` escaped as exit 3).  The
same holds end to end: each wrong kind written in a var, a block argument, an ``if:``, a ``repeat:``
and a layer argument is one diagnostic at the expression, exit 1, no traceback.
"""

from __future__ import annotations

import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.errors import SpecError
from netspec.frontend import expr
from netspec.frontend.expr import FUNCTIONS, ExprError, evaluate, parse

CODES = {"bad-expression", "bad-value", "too-large", "too-deep"}


class _Other:
    pass


def _nested(depth: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(depth - 1):
        value = [value]
    return value


_cycle: list[Any] = [1]
_cycle.append(_cycle)

# Every kind of value a name can hold: what YAML gives, what a Python caller could pass, and the edges.
KINDS: dict[str, Any] = {
    "none": None, "true": True, "false": False, "zero": 0, "one": 1, "negative": -3, "float": 2.5,
    "negative-float": -0.5, "float-zero": 0.0, "tiny": 1e-308, "huge-float": 1e308, "int64-max": 2**63 - 1,
    "int64-min": -(2**63 - 1), "past-int64": 2**70, "inf": math.inf, "-inf": -math.inf, "nan": math.nan,
    "str": "abc", "empty-str": "", "digit-str": "12", "long-str": "x" * 1_000, "list": [1, 2],
    "empty-list": [], "nested-list": [[1, 2], [3]], "mixed-list": [1, "a"], "none-list": [None, 1],
    "bool-list": [True, False], "str-list": ["a", "b"], "inf-list": [1, math.inf], "deep-list": _nested(12),
    "cycle": _cycle, "tuple": (1, 2), "dict": {"a": 1}, "dict-list": [{}], "set": {1}, "bytes": b"x",
    "object": _Other(), "big-list": list(range(1_500)), "measured": expr.sized([[1, 2]] * 100),
}

# Each function with the value in every position, the other arguments well formed, and each operator.
ONE_HOLE = [
    "min(v)", "min(v, 1)", "min(1, v)", "min([v, 1])", "max(v)", "max(v, 1)", "max(2, v, 1)", "max([1, v])",
    "abs(v)", "round(v)", "int(v)", "float(v)", "len(v)", "len([v])", "sqrt(v)",
    "make_divisible(v, 8)", "make_divisible(30, v)", "make_divisible(30, 8, v)", "make_divisible(v, v, v)",
    "v + 1", "1 - v", "v * 2", "2 * v", "v / 2", "2 / v", "v // 3", "3 // v", "v % 3", "3 % v", "v * v",
    "-v", "+v", "not v", "v and 1", "v or 1", "1 and v",
    "v == 1", "v != v", "v < 1", "1 <= v", "v > v", "0 < v < 10", "v >= [1]",
    "v[0]", "v[-1]", "v[0][0]", "[1, 2][v]", "v[v]",
    "v if v else 1", "1 if v else v", "[v, v]", "[[v], v]", "(v, 1)", "v",
]
TWO_HOLES = ["a + b", "a * b", "a / b", "a // b", "a % b", "a < b", "a == b", "a[b]", "min(a, b)",
             "max([a, b])", "make_divisible(a, b)", "make_divisible(8, a, b)", "a if b else a", "[a, b]",
             "sum(a, b)", "sum([a, b])", "range(a, b)", "range(0, a, b)", "a[b:]", "a[:b]", "a[b:b]"]
PAIR_KINDS = ["none", "true", "zero", "negative", "float", "tiny", "huge-float", "int64-max", "past-int64",
              "inf", "nan", "str", "list", "empty-list", "nested-list", "mixed-list", "dict", "measured"]


def _is_value(value: Any, depth: int = 0) -> bool:
    """A value of the language: a 64-bit int, a finite float, a bool, a str, None, or a list of those."""
    if value is None or isinstance(value, (bool, str)):
        return True
    if isinstance(value, int):
        return abs(value) <= expr.INT64_MAX
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return depth < expr.MAX_LIST_DEPTH and all(_is_value(item, depth + 1) for item in value)
    return False


def _answer(text: str, env: dict[str, Any]) -> None:
    try:
        value = evaluate(parse(text), env)
    except ExprError as exc:
        assert exc.code in CODES, (text, exc.code)
        assert 0 <= exc.col <= len(text), (text, exc.col)
        assert exc.message and "\n" not in exc.message
        return
    assert _is_value(value), (text, env, value)


def test_every_function_is_exercised() -> None:
    called = {t.split("(")[0] for t in ONE_HOLE + TWO_HOLES if "(" in t and t.split("(")[0].isidentifier()}
    assert set(FUNCTIONS) <= called, set(FUNCTIONS) - called


@pytest.mark.parametrize("text", ONE_HOLE)
def test_every_kind_of_value_in_every_place_is_a_value_or_an_expr_error(text: str) -> None:
    for value in KINDS.values():
        _answer(text, {"v": value})


@pytest.mark.parametrize("text", TWO_HOLES)
def test_every_pair_of_kinds_is_a_value_or_an_expr_error(text: str) -> None:
    for a, b in itertools.product(PAIR_KINDS, repeat=2):
        _answer(text, {"a": KINDS[a], "b": KINDS[b]})


@pytest.mark.parametrize(("text", "env", "col", "words"), [
    ("make_divisible(8, d)", {"d": None}, 0, "needs numbers, found None"),
    ("make_divisible(v, 8)", {"v": "a"}, 0, "needs numbers"),
    ("make_divisible(30, 8, m)", {"m": [1]}, 0, "needs numbers"),
    ("1 + s * 2", {"s": math.inf}, 4, "not finite"),
    ("x[0]", {"x": [{"a": 1}]}, 0, "a mapping"),
    ("v < 1", {"v": math.nan}, 0, "not finite"),
    ("n + 1", {"n": 2**70}, 0, "64-bit"),
    ("min('a', 'b')", {}, 0, "needs numbers"),
])
def test_wrong_kinds_are_reported_at_their_column(text: str, env: dict[str, Any], col: int, words: str) -> None:
    with pytest.raises(ExprError) as info:
        evaluate(parse(text), env)
    assert info.value.col == col and words in info.value.message


def test_make_divisible_still_takes_none_as_its_minimum() -> None:
    assert evaluate(parse("make_divisible(30, 8, None)"), {}) == 32
    assert evaluate(parse("make_divisible(v, 8)"), {"v": 30.0}) == 32


# ---------------------------------------------------------------- the same through the CLI

HEAD = "netspec: 1\nname: Net\ninputs: {x: [N, 4]}\n"
BLOCK = ("blocks:\n  Proj:\n    inputs: {x: [N, c]}\n    args: {c: int, width: int, r: float}\n"
         "    vars: {w: \"EXPR\"}\n    layers: {fc: {type: Linear, out_features: width}}\n")
PLACES = {  # where an expression stands; EXPR is replaced, v is a root var (r: a float block argument)
    "var": "vars:\n  v: VALUE\n  w: \"EXPR\"\nlayers:\n  fc: {type: Linear, out_features: 3}\n",
    "layer-argument": "vars:\n  v: VALUE\nlayers:\n  fc: {type: Linear, out_features: \"EXPR\"}\n",
    "if": "vars:\n  v: VALUE\nlayers:\n  fc: {type: Linear, out_features: 3, if: \"EXPR\"}\n",
    "repeat": "vars:\n  v: VALUE\nlayers:\n  fc: {type: Linear, out_features: 4, repeat: \"EXPR\"}\n"
              "forward:\n  - \"for m in fc: x = m(x)\"\n  - return x\n",
    "block-argument": "vars:\n  v: VALUE\n" + BLOCK.replace("EXPR", "width") +
                      "layers:\n  p: {type: Proj, width: \"EXPR\", r: 1.0}\n",
    "block-var": BLOCK + "layers:\n  p: {type: Proj, width: 3, r: VALUE}\n",
}
VALUES = ["null", "'abc'", "[1, 2]", "[[1], [2, 3]]", "true", ".inf", ".nan", "99999999999999999999", "-3",
          "0", "[]", "['1 + 1', 2]", "[null, 1]"]
EXPRS = ["make_divisible(8, v)", "make_divisible(v, 8)", "min(v, 1)", "max(v)", "int(v)", "round(v)",
         "len(v)", "v * 2", "v // 2", "-v", "v[0][0]", "[1, 2][v]", "v < 1"]


def _specs() -> list[tuple[str, str]]:
    out = []
    for (place, template), value, text in itertools.product(PLACES.items(), VALUES, EXPRS):
        if place == "block-var":
            if value not in (".inf", ".nan", "-3", "0"):  # a float block argument takes numbers only
                continue
            text = text.replace("v", "r")
        out.append((f"{place}-{value}-{text}", HEAD + template.replace("VALUE", value).replace("EXPR", text)))
    return out


SPECS = _specs()


def test_wrong_kinds_in_specs_are_diagnostics_never_crashes(tmp_path: Path, cli) -> None:
    """Each place x kind x expression: exit 0 or exit 1 with diagnostics, never exit 3 or a traceback."""
    failures = []
    refused = 0
    for i, (label, text) in enumerate(SPECS):
        path = tmp_path / f"s{i}.yaml"
        path.write_text(text, encoding="utf-8")
        result = cli("validate", str(path))
        output = result.stdout + result.stderr
        if result.exit_code not in (0, 1) or "Traceback" in output or "internal error" in output:
            failures.append(f"{label}: exit {result.exit_code}: {output[-300:]}")
        elif result.exit_code == 1:
            refused += 1
            assert f"s{i}.yaml:" in result.stderr and "error[" in result.stderr, (label, output)
    assert not failures, "\n".join(failures[:10])
    assert refused > len(SPECS) // 2  # most of these are wrong: the test is not vacuous


def test_library_raises_spec_error_for_the_kinds_that_crashed() -> None:
    crashed = [  # exit 3 before issue 15: TypeError, OverflowError, ValueError, TypeError
        "vars:\n  v: null\nlayers:\n  fc: {type: Linear, out_features: \"make_divisible(8, v)\"}\n",
        "vars:\n  v: .inf\nlayers:\n  fc: {type: Linear, out_features: \"v * 2\"}\n",
        "vars:\n  v: .nan\nlayers:\n  fc: {type: Linear, out_features: \"v * 2\"}\n",
        "vars:\n  v: ['1+1', 2]\nlayers:\n  fc: {type: Linear, out_features: \"v[0][0]\"}\n",
    ]
    for text in crashed:
        with pytest.raises(SpecError) as info:
            netspec.compile_string(HEAD + text)
        assert {d.code for d in info.value.errors} <= CODES


def test_a_list_var_with_expression_items_is_one_expression() -> None:
    """``sizes: [width, 3]`` is [8, 3]: before, its items stayed unevaluated and reached the generated code."""
    text = HEAD.replace("[N, 4]", "[N, 4, 8, 8]") + (
        "vars:\n  width: 8\n  sizes: [width, '1 + 2']\n"
        "blocks:\n  B:\n    inputs: {x: [N, c, H, W]}\n    args: {c: int, k: int}\n    vars: {kk: [k, 1]}\n"
        "    layers: {conv: {type: Conv2d, out_channels: 4, kernel_size: 'kk[0]', padding: 'kk[1]'}}\n"
        "layers:\n  conv: {type: Conv2d, out_channels: 'sizes[0]', kernel_size: 'sizes[1]'}\n"
        "  b: {type: B, k: 3}\n")
    compiled = netspec.compile_string(text)
    assert "NETSPEC_VARS = {'width': 8, 'sizes': [8, 3]}" in compiled.source_code
    assert "kk = [k, 1]" in compiled.source_code
    assert compiled.inference.program is not None
    assert compiled.inference.program.var_values == {"width": 8, "sizes": [8, 3]}


# ---------------------------------------------------------------- the work lists cost


def _calls(run: Callable[[], Any]) -> int:
    """Python and builtin calls made by ``run``: the work it does, whatever the machine's load."""
    count = 0

    def profile(frame: Any, event: str, arg: Any) -> None:
        nonlocal count
        count += event in ("call", "c_call")

    sys.setprofile(profile)
    try:
        run()
    finally:
        sys.setprofile(None)
    return count


def test_a_list_built_from_a_shared_list_costs_its_own_length() -> None:
    """``[b, 1]`` where b holds 9,000 items: measured in steps of its own two items, never by walking b
    (issue 15, 2.3: 3,000 children of a 4.6 KB spec each re-walked the shared list, 16 s)."""
    small = evaluate(parse("[a, a]"), {"a": list(range(10))})
    big = evaluate(parse("[a, a, a, a, a, a, a, a, a]"), {"a": list(range(1_000))})
    extend = parse("[b, 1]")
    work_small = _calls(lambda: evaluate(extend, {"b": small}))
    work_big = _calls(lambda: evaluate(extend, {"b": big}))
    assert work_big < 300, work_big  # a walk of b is 9,000 steps or more
    assert work_big <= work_small + 20


def test_list_sizes_are_kept_on_the_values() -> None:
    a = expr.sized(list(range(1_000)))
    b = evaluate(parse("[a, a, a]"), {"a": a})
    assert isinstance(b, expr.ListValue) and b == [list(range(1_000))] * 3
    assert (b.items, b.depth) == (3_003, 2)
    assert len(repr(b)) <= b.chars <= len(repr(b)) + 16  # about its length written out
    with pytest.raises(ExprError) as info:
        evaluate(parse("[b, b, b, b]"), {"b": b})  # 12,016 items in all
    assert info.value.code == "too-large" and "items in all" in info.value.message
    with pytest.raises(ExprError) as info:
        evaluate(parse("[c]"), {"c": _nested(expr.MAX_LIST_DEPTH)})
    assert info.value.code == "too-deep"


def test_shared_sublists_are_measured_once() -> None:
    """A plain list that shares one sublist 1,000 times is walked in its distinct items, not 1,000,000."""
    row = list(range(1_000))
    table = [row] * 1_000
    work = _calls(lambda: expr.sized(table))
    assert work < 50_000, work


def test_comparing_big_lists_is_refused_as_one_step_of_work() -> None:
    a = expr.sized(list(range(2_000)))
    with pytest.raises(ExprError) as info:
        evaluate(parse("a == a"), {"a": a})
    assert info.value.code == "too-large"
    with pytest.raises(ExprError):
        evaluate(parse("max([a, a])"), {"a": a})
    assert evaluate(parse("max(b)"), {"b": expr.sized(list(range(expr.MAX_COMPARED)))}) == expr.MAX_COMPARED - 1
    with pytest.raises(ExprError):  # its rows are compared with each other: 1,800 items in all
        evaluate(parse("max(t)"), {"t": expr.sized([[1] * 9] * 200)})
    assert evaluate(parse("b == [1, 2]"), {"b": [1, 2]}) is True
