"""docs/spec.md stays honest: its generated blocks are current, it names every
layer, op, top-level key, initialiser and error code the code has, and every
full spec it shows validates (or fails with the error code it says).

The error codes are read from netspec's source with ``ast`` (not from a list
kept by hand), so a new code fails this test until the page documents it.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import sys
from functools import cache
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from netspec import codes, compile_string
from netspec.errors import SpecError
from netspec.frontend.schema import DTYPES, INIT_ARGS, SIMPLE_INITS, Spec
from netspec.ops import LAYERS, OPS

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "netspec"
DOC = ROOT / "docs" / "spec.md"
SPECS = sorted((ROOT / "specs").glob("*.yaml"))
CODE = re.compile(r"[a-z][a-z0-9]*(?:-[a-z0-9]+)*")


@cache
def reference() -> ModuleType:
    """docs/reference.py, loaded by path: docs/ is not a package."""
    spec = importlib.util.spec_from_file_location("netspec_docs_reference", ROOT / "docs" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


@cache
def page() -> str:
    return DOC.read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of the level-2 section whose heading starts with ``title``, up to the next one."""
    match = re.search(rf"^## {re.escape(title)}.*?$(.*?)(?=^## |\Z)", page(), re.M | re.S)
    assert match, f"docs/spec.md has no '## {title}' section"
    return match.group(1)


def generated(kind: str) -> str:
    blocks = re.findall(rf"<!-- BEGIN {kind}[^>]*-->\n(.*?)<!-- END {kind} -->", page(), re.S)
    assert blocks, f"docs/spec.md has no {kind} block"
    return "\n".join(blocks)


# ---------------------------------------------------------------- error codes in the source


CodeParam = tuple[int, str | None]  # the positional index of ``code`` (self dropped) and its default


def _code_param(func: ast.FunctionDef | ast.AsyncFunctionDef) -> CodeParam | None:
    params = [a.arg for a in [*func.args.posonlyargs, *func.args.args]]
    if "code" not in params:
        return None
    defaults = dict(zip(params[len(params) - len(func.args.defaults):], func.args.defaults, strict=True))
    default = defaults.get("code")
    value = default.value if isinstance(default, ast.Constant) and isinstance(default.value, str) else None
    return params.index("code") - (1 if params[0] == "self" else 0), value


def _code_params(tree: ast.Module) -> dict[str, CodeParam]:
    """Each function or class of a module that takes a ``code``, by the name it is called with."""
    found: dict[str, CodeParam] = {}
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            param = _code_param(node)
            if param is not None:
                found.setdefault(node.name, param)
        elif isinstance(node, ast.ClassDef):  # called by the class name: its __init__, or its dataclass fields
            init = next((s for s in node.body if isinstance(s, ast.FunctionDef) and s.name == "__init__"), None)
            fields = [s.target.id for s in node.body if isinstance(s, ast.AnnAssign) and isinstance(s.target, ast.Name)]
            param = _code_param(init) if init is not None else None
            if param is not None:
                found[node.name] = param
            elif "code" in fields:
                found[node.name] = (fields.index("code"), None)
    return found


def _callee(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    if isinstance(call.func, ast.Attribute):
        return call.func.attr
    return None


def source_error_codes() -> set[str]:
    """Every diagnostic code written as a constant in netspec's source.

    A call passes a code to a function or class that has a ``code`` parameter
    (``Diagnostic``, ``ShapeError``, the stages' ``error``/``warn``/``fail``/
    ``refuse`` helpers), by position or keyword; a ``code`` parameter's
    default is a code too.  Callees are looked up in the calling module first,
    so two modules' ``fail`` helpers with different signatures do not mix.
    """
    trees = {path: ast.parse(path.read_text(encoding="utf-8")) for path in sorted(PACKAGE.rglob("*.py"))}
    shared: dict[str, CodeParam] = {}
    for tree in trees.values():
        for name, info in _code_params(tree).items():
            shared.setdefault(name, info)
    codes = {default for _, default in shared.values() if default}
    for tree in trees.values():
        own = _code_params(tree)
        # a function of the module's own that takes no code shadows another module's of that name
        kinds = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
        defined = {n.name for n in ast.walk(tree) if isinstance(n, kinds)}
        local = {**{k: v for k, v in shared.items() if k not in defined}, **own}
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or _callee(node) not in local:
                continue
            index, _ = local[str(_callee(node))]
            candidates: list[ast.expr] = [k.value for k in node.keywords if k.arg == "code"]
            if index < len(node.args):
                candidates.append(node.args[index])
            codes |= {c.value for c in candidates if isinstance(c, ast.Constant) and isinstance(c.value, str)}
    return codes


def documented_codes() -> set[str]:
    """The codes the errors section lists, one per bullet: ``- `code` — ...``."""
    return set(re.findall(r"^- `([a-z0-9-]+)`", section("Errors"), re.M))


def test_source_scan_finds_codes_of_every_kind() -> None:
    # The scan must see positional, keyword and default codes, or the next test proves nothing.
    codes = source_error_codes()
    assert {"yaml-syntax", "unknown-key", "bad-call"} <= codes  # positional, to several helpers
    assert {"rank-mismatch", "undefined-name"} <= codes  # code= keywords
    assert {"shape-mismatch", "unsupported"} <= codes  # defaults of a code parameter
    assert "bad-groups" in codes  # ShapeError's third positional argument
    assert all(CODE.fullmatch(c) for c in codes), sorted(c for c in codes if not CODE.fullmatch(c))


def test_every_error_code_is_registered() -> None:
    missing = sorted(source_error_codes() - set(codes.CODES))
    assert not missing, f"error codes used in netspec/ but not in the table of netspec/codes.py: {missing}"


def test_registered_codes_exist() -> None:
    stale = sorted(set(codes.CODES) - source_error_codes())
    assert not stale, f"netspec/codes.py lists error codes netspec no longer uses: {stale}"


def test_every_error_code_is_documented() -> None:
    # the section is generated from the table; this catches a page not regenerated
    assert documented_codes() == set(codes.CODES)
    assert len(codes.CODES) == sum(len(stage.codes) for stage in codes.STAGES), "a code listed twice"


# ---------------------------------------------------------------- generated blocks


def test_generated_blocks_are_up_to_date() -> None:
    fresh = reference().render(page())
    if fresh != page():
        old, new = page().splitlines(), fresh.splitlines()
        first = next((i for i, (a, b) in enumerate(zip(old, new, strict=False)) if a != b), min(len(old), len(new)))
        pytest.fail(f"docs/spec.md is out of date from line {first + 1} (run: python docs/reference.py)\n"
                    f"  page:      {old[first] if first < len(old) else '<end>'}\n"
                    f"  generated: {new[first] if first < len(new) else '<end>'}")


def test_render_leaves_prose_alone_and_fills_blocks() -> None:
    # The generator itself: prose outside markers survives, stale block bodies are replaced.
    text = "intro\n<!-- BEGIN REFERENCE -->\nstale\n<!-- END REFERENCE -->\noutro\n"
    out = reference().render(text)
    assert out.startswith("intro\n<!-- BEGIN REFERENCE -->\n") and out.endswith("<!-- END REFERENCE -->\noutro\n")
    assert "stale" not in out and "**`Conv2d`**" in out


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_is_in_the_reference(name: str) -> None:
    entry = re.search(rf"^- \*\*`{name}`\*\*.*$((?:\n  - .*)*)", generated("REFERENCE"), re.M)
    assert entry, f"layer {name} missing from the reference block"
    for arg in LAYERS[name].args:
        line = next((ln for ln in entry.group(1).splitlines() if ln.startswith(f"  - `{arg.name}`")), None)
        assert line is not None, f"{name}.{arg.name} missing"
        assert ("*inferred*" in line) == arg.inferred, line


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_is_in_the_reference(name: str) -> None:
    assert re.search(rf"^- \*\*`{name}\(", generated("REFERENCE"), re.M), f"op {name} missing from the reference"


def test_sequential_is_documented() -> None:
    assert "type: Sequential" in section("Layers")


# ---------------------------------------------------------------- the grammar's names


def test_every_top_level_key_is_documented() -> None:
    text = section("Top-level keys")
    missing = [key for key in Spec.model_fields if f"`{key}`" not in text]
    assert not missing, f"top-level keys not described: {missing}"


def test_every_initialiser_and_its_arguments_are_documented() -> None:
    text = section("Parameters")
    for name in SIMPLE_INITS:
        assert f"`{name}`" in text, name
    for name, model in INIT_ARGS.items():
        row = re.search(rf"^\| `{name}` \|.*$", text, re.M)
        assert row, f"init {name} has no row in the initialiser table"
        for field in model.fields:
            assert f"`{field}" in row.group(0), f"{name}.{field} not in its row"


def test_every_dtype_is_documented() -> None:
    text = section("Top-level keys")
    assert all(f"`{d}`" in text for d in DTYPES)


# ---------------------------------------------------------------- examples


def _examples() -> list[Any]:
    examples: list[Any] = reference().inline_examples(page())
    return examples


def test_page_has_inline_examples() -> None:
    examples = _examples()
    assert len(examples) >= 10
    assert any(e.expect == "ok" for e in examples) and any(e.expect != "ok" for e in examples)


@pytest.mark.parametrize("example", _examples(), ids=lambda e: e.file)
def test_inline_example(example: Any) -> None:
    if example.expect == "ok":
        compiled = compile_string(example.text, example.file)
        assert compiled.source_code.startswith("# Generated by netspec")
        return
    assert example.expect in documented_codes(), f"{example.file} expects an undocumented code {example.expect}"
    with pytest.raises(SpecError) as caught:
        compile_string(example.text, example.file)
    codes = [d.code for d in caught.value.errors]
    assert example.expect in codes, f"{example.file} (docs/spec.md:{example.line}) failed with {codes}"


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_shipped_spec_is_a_worked_example(path: Path) -> None:
    rel = path.relative_to(ROOT).as_posix()
    examples = section("Worked examples")
    assert f"<!-- BEGIN FILE {rel} -->" in examples, f"{rel} is not shown under '## Worked examples'"
    assert f"<!-- BEGIN RUN netspec summary {rel} -->" in examples, f"{rel} has no summary under '## Worked examples'"


def test_file_blocks_name_real_specs_that_validate() -> None:
    for rel in re.findall(r"<!-- BEGIN FILE (\S+) -->", page()):
        path = ROOT / rel
        assert path.is_file(), rel
        compile_string(path.read_text(encoding="utf-8"), rel)  # raises SpecError if the shipped spec broke


# ---------------------------------------------------------------- once known issues, now regressions

BARE_INIT = """
netspec: 1
name: BareInit
inputs:
  x: [N, 4]
params:
  w: {{shape: [4, 4], init: {init}}}
forward:
  - return mm(x, w)
"""


@pytest.mark.parametrize("init", ["uniform", "normal", "trunc_normal", "kaiming_uniform", "xavier_normal"])
def test_bare_init_takes_its_defaults(init: str) -> None:
    source = compile_string(BARE_INIT.format(init=init), f"bare_{init}.yaml").source_code
    assert ", )" not in source and f"{init}_(" in source


def test_bare_constant_needs_a_value() -> None:
    with pytest.raises(SpecError) as caught:  # constant needs a value: a located error, not a crash
        compile_string(BARE_INIT.format(init="constant"), "bare_constant.yaml")
    assert "missing-key" in [d.code for d in caught.value.errors]


def test_dtype_promotion() -> None:
    text = "netspec: 1\nname: Mix\ninputs:\n  a: [3]\n  b: {shape: [3], dtype: float64}\nforward:\n  - return a + b\n"
    assert compile_string(text, "mix.yaml").inference.output.dtype == "float64"  # torch.result_type says float64
