"""Hostile and malformed specs: refused cleanly, nothing executed, nothing written.

Every file in ``tests/hostile/`` is one case.  Its first line says what netspec
must answer::

    # expect: yaml-tag 7            an error with this code on this line: exit 1
    # expect: warning param-budget 2   valid, with this warning on this line: exit 0
    # expect: ok                    valid, and the generated code must be plain

Cases whose first line cannot be a comment (empty files, UTF-16, a leading BOM
or NUL) keep the same words in a sidecar ``<case>.expect``.  The expected line
was worked out from the case (its offending line ends in ``# <--``), not copied
from netspec's output.

For each case the CLI (click's runner, and once a real ``netspec`` process) must
exit with the right status, print ``FILE:LINE:COL: error[code]`` and no
traceback, and leave its directory as it found it; the library must raise
:class:`SpecError` and nothing else.  Cases too big to keep in the repository
(past the size and node limits, 100,000 levels deep) are generated here.
"""

from __future__ import annotations

import ast
import os
import re
import shutil
import subprocess
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

import pytest
import torch
from torch import nn

import netspec
from netspec import errors
from netspec.backend import build
from netspec.backend.codegen import HEADER
from netspec.errors import SpecError
from netspec.frontend import source, validate
from netspec.middle import resolve, shapes
from tests.conftest import ROOT, SPECS_DIR, cpu_seconds, run_cli

HOSTILE = Path(__file__).resolve().parent / "hostile"
NETSPEC_BIN = Path(sys.executable).parent / "netspec"
MARKER = "PWNED"  # every payload that tries to run code tries to create this file
# User CPU seconds of a thread of its own (conftest.cpu_seconds), not wall-clock: other processes on a busy
# machine cannot push a case past it, while a quadratic stage (minutes) still fails it.
# Cases take milliseconds to ~5 s (those that spend the whole work limit, 320,000 steps, on a 2-core sandbox).
SECONDS_PER_CASE = 10.0


@dataclass(frozen=True)
class Case:
    path: Path
    kind: str  # "error", "warning" or "ok"
    code: str | None = None
    line: int | None = None

    @property
    def name(self) -> str:
        return self.path.name


def _parse_expect(words: list[str], path: Path) -> Case:
    if words == ["ok"]:
        return Case(path, "ok")
    if words[0] == "warning":
        return Case(path, "warning", words[1], int(words[2]))
    code, line = words
    return Case(path, "error", code, int(line))


def load_cases() -> list[Case]:
    cases = []
    for path in sorted(HOSTILE.glob("*.yaml")):
        sidecar = path.with_suffix(".expect")
        if sidecar.exists():
            words = sidecar.read_text(encoding="utf-8").split()
        else:
            first = path.read_bytes().split(b"\n", 1)[0].decode("utf-8")
            assert first.startswith("# expect: "), f"{path.name}: first line must be '# expect: ...'"
            words = first.removeprefix("# expect: ").split()
        cases.append(_parse_expect(words, path))
    return cases


CASES = load_cases()
ERRORS = [c for c in CASES if c.kind == "error"]
OK_CASES = [c for c in CASES if c.kind == "ok"]
KINDS = ("yaml", "value", "name", "codegen", "forward", "resource", "init", "weights")


def ids(cases: list[Case]) -> list[str]:
    return [c.path.stem for c in cases]


def headline(case_file: str, line: int, code: str, severity: str = "error") -> re.Pattern[str]:
    return re.compile(rf"^{re.escape(case_file)}:{line}:\d+: {severity}\[{re.escape(code)}\] ", re.M)


def test_corpus_covers_every_kind() -> None:
    counts = {kind: sum(c.path.stem.startswith(kind) for c in CASES) for kind in KINDS}
    assert all(n >= 8 for n in counts.values()), counts
    assert sum(counts.values()) == len(CASES), "every case file name starts with its kind"
    assert len(CASES) >= 250


def test_marked_line_is_the_expected_line() -> None:
    """A case's offending line ends in '# <--': the header must name that same line."""
    for case in CASES:
        lines = case.path.read_bytes().decode("utf-8", "replace").split("\n")
        marked = [i + 1 for i, text in enumerate(lines) if text.endswith("# <--")]
        if marked:
            assert marked == [case.line], case.name


def test_security_doc_states_the_enforced_limits() -> None:
    text = " ".join((ROOT / "docs" / "security.md").read_text(encoding="utf-8").split())
    stated = [f"{source.MAX_BYTES // 2**20} MiB per file", f"{source.MAX_DEPTH} levels of YAML nesting",
              f"{source.MAX_NODES:,} YAML nodes", f"{source.MAX_INT_DIGITS}-character integer",
              f"{source.MAX_KEY_CHARS}-character printable keys", f"{resolve.MAX_STEP_CHARS:,}-character forward steps",
              f"{resolve.MAX_EXPR_NODES:,} syntax nodes and {resolve.MAX_EXPR_DEPTH} levels",
              f"({resolve.MAX_FORWARD_NODES:,} nodes in all)", f"{resolve.MAX_PARAM_TENSORS:,} parameter tensors",
              f"{shapes.MAX_EXECUTED:,} executed statements", f"{shapes.MAX_WORLDS} forward-argument combinations",
              f"budget of 10^{len(str(shapes.DEFAULT_MAX_PARAMS)) - 1} parameters",
              f"{shapes.MAX_WORK:,} evaluated expressions and layers", f"tensors of at most {shapes.MAX_RANK} dims",
              f"{validate.MAX_DIAGNOSTICS} diagnostics per spec",
              f"at most {errors.MAX_HINT_CHOICES:,} candidates and fully compares at most {errors.MAX_HINT_COMPARED}"]
    exponent = len(str(shapes.DEFAULT_MAX_PARAMS)) - 1
    assert 10**exponent == shapes.DEFAULT_MAX_PARAMS, "the doc writes the budget as a power of ten"
    for phrase in stated:
        assert phrase in text, phrase


def test_every_case_has_an_expectation() -> None:
    stray = {p.name for p in HOSTILE.iterdir()} - {c.name for c in CASES} - {
        c.path.with_suffix(".expect").name for c in CASES}
    assert not stray


# ---------------------------------------------------------------- the CLI, case by case


def _run_in(tmp_path: Path, case: Case, *args: str) -> tuple[int, str, str, float]:
    """Run ``netspec ARGS <case>`` with the case copied into an empty directory."""
    work = tmp_path / "work"
    work.mkdir()
    shutil.copyfile(case.path, work / case.name)
    cwd = os.getcwd()
    os.chdir(work)
    try:
        result, elapsed = cpu_seconds(run_cli, *args, case.name)
    finally:
        os.chdir(cwd)
    assert sorted(p.name for p in work.iterdir()) == [case.name], "the run left a file behind"
    assert (work / case.name).read_bytes() == case.path.read_bytes(), "the run changed the spec"
    return result.exit_code, result.stdout, result.stderr, elapsed


def _assert_clean(out: str, err: str) -> None:
    text = out + err
    assert "Traceback" not in text
    assert "internal error" not in text
    assert "\x1b" not in text, "a terminal escape sequence reached the output"


@pytest.mark.parametrize("case", ERRORS, ids=ids(ERRORS))
def test_cli_refuses(case: Case, tmp_path: Path) -> None:
    code, out, err, elapsed = _run_in(tmp_path, case, "validate")
    _assert_clean(out, err)
    assert code == 1, err
    assert headline(case.name, case.line, case.code).search(err), err  # type: ignore[arg-type]
    assert f"{case.name}: ok" not in out
    assert elapsed < SECONDS_PER_CASE


VALID = [c for c in CASES if c.kind != "error"]


@pytest.mark.parametrize("case", VALID, ids=ids(VALID))
def test_cli_accepts(case: Case, tmp_path: Path) -> None:
    code, out, err, elapsed = _run_in(tmp_path, case, "validate")
    _assert_clean(out, err)
    assert code == 0, err
    assert out.startswith(f"{case.name}: ok (")
    if case.kind == "warning":
        assert headline(case.name, case.line, case.code, "warning").search(err), err  # type: ignore[arg-type]
    else:
        assert "warning[" not in err
    assert elapsed < SECONDS_PER_CASE


@pytest.mark.parametrize("case", ERRORS[::7], ids=ids(ERRORS[::7]))
@pytest.mark.parametrize("command", ["summary", "compile"])
def test_other_commands_refuse_too(case: Case, command: str, tmp_path: Path) -> None:
    code, out, err, _ = _run_in(tmp_path, case, command)
    _assert_clean(out, err)
    assert code == 1
    assert out == ""  # nothing half-printed
    assert headline(case.name, case.line, case.code).search(err), err  # type: ignore[arg-type]


# ---------------------------------------------------------------- the library


@pytest.mark.parametrize("case", ERRORS, ids=ids(ERRORS))
def test_library_raises_spec_error_only(case: Case) -> None:
    with pytest.raises(SpecError) as info:
        netspec.validate(case.path)
    errors = info.value.errors
    assert (case.code, case.line) in [(d.code, d.span.line if d.span else None) for d in errors]
    for d in info.value.diagnostics:
        assert d.span is not None and d.span.file == str(case.path)
        assert d.span.line >= 1 and d.span.col >= 1
        assert d.message and "\n" not in d.message, "a message is one sentence on one line"
        assert d.code and d.code == d.code.lower()
    with pytest.raises(SpecError):
        netspec.load(case.path, device="meta")


@pytest.mark.parametrize(("text", "line", "col"), [
    ("netspec: 1\nname: \udc80\n", 2, 7),  # a str decoded with surrogateescape: UTF-8 cannot hold it
    ("netspec: 1\nname: M\ninputs: {x: [N, 8]}\ndescription: '\ud800'\n", 4, 15),
])
def test_library_refuses_text_no_file_could_hold(text: str, line: int, col: int) -> None:
    with pytest.raises(SpecError) as info:
        netspec.compile_string(text)
    (diag,) = info.value.diagnostics
    assert (diag.code, diag.span.line, diag.span.col) == ("encoding", line, col)  # type: ignore[union-attr]


# ---------------------------------------------------------------- generated code stays plain

ALLOWED_TOP = (ast.Import, ast.ImportFrom, ast.ClassDef, ast.FunctionDef)
ALLOWED_CALL_ROOTS = {"torch", "nn", "F", "self", "super", "range", "OrderedDict", "corr2d", "isinstance", "math"}


def _call_root(func: ast.expr) -> str:
    while isinstance(func, (ast.Attribute, ast.Call, ast.Subscript)):
        func = func.value if not isinstance(func, ast.Call) else func.func
    return func.id if isinstance(func, ast.Name) else type(func).__name__


def check_plain_module(code: str, class_name: str, description: str | None) -> None:
    """The generated module is imports, helpers and one class of __init__ and forward: nothing a spec added."""
    tree = ast.parse(code)
    assert all(isinstance(node, ALLOWED_TOP) for node in tree.body)
    classes = [node for node in tree.body if isinstance(node, ast.ClassDef)]
    assert [c.name for c in classes] == [class_name]
    body = classes[0].body
    if description is not None:
        assert isinstance(body[0], ast.Expr) and ast.literal_eval(body[0].value) == description
        body = body[1:]
    assert [type(n) for n in body] == [ast.FunctionDef, ast.FunctionDef]
    assert [n.name for n in body] == ["__init__", "forward"]  # type: ignore[attr-defined]
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            assert _call_root(node.func) in ALLOWED_CALL_ROOTS, ast.unparse(node)
        assert not isinstance(node, (ast.Lambda, ast.Global, ast.Nonlocal, ast.Delete))
        if isinstance(node, ast.Name):
            assert not node.id.startswith("__"), node.id


@pytest.mark.parametrize("case", OK_CASES, ids=ids(OK_CASES))
def test_accepted_text_cannot_change_the_code(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    compiled = netspec.compile_spec(case.path)
    spec = compiled.inference.model
    check_plain_module(compiled.source_code, spec.name, spec.description)
    cls = netspec.build_class(case.path)
    expected = {"__module__", "__qualname__", "__doc__", "__init__", "forward", "__firstlineno__",
                "__static_attributes__",
                "__reduce_ex__"}  # set by netspec.backend.build, not the text: instances pickle the class by value
    assert set(vars(cls)) <= expected
    assert cls.__doc__ == spec.description
    model = netspec.load(case.path)
    assert type(model).__mro__[1] is nn.Module
    defaults = model.forward.__defaults__ or ()
    assert len(defaults) == len(spec.args)
    for value, want in zip(defaults, spec.args.values(), strict=True):
        assert value == want or (value != value and want != want)  # NaN equals NaN here
    if case.path.stem.startswith("codegen"):  # the resource cases' forwards would be huge; their code is checked
        shape = [2 if isinstance(d, str) else d for d in spec.inputs[0].shape]
        out = model(torch.ones(shape))
        assert isinstance(out, torch.Tensor) and out.shape[0] == 2
    assert list(tmp_path.iterdir()) == []  # nothing written, nothing named MARKER


def test_generated_code_is_deterministic_across_hash_seeds() -> None:
    files = [str(c.path) for c in OK_CASES] + [str(p) for p in sorted(SPECS_DIR.glob("*.yaml"))]
    script = ("import sys, netspec\n"
              "for f in sys.argv[1:]:\n"
              "    sys.stdout.write(netspec.compile_source(f))\n")
    outputs = set()
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        run = subprocess.run([sys.executable, "-c", script, *files], capture_output=True, env=env, cwd=ROOT,
                             timeout=120, check=True)
        outputs.add(run.stdout)
    assert len(outputs) == 1


def test_file_name_cannot_inject_code(tmp_path: Path) -> None:
    name = tmp_path / "spec\nimport os\nos.system('touch PWNED')\n#.yaml"
    shutil.copyfile(SPECS_DIR / "mlp.yaml", name)
    code = netspec.compile_source(name)
    check_plain_module(code, "MLP", netspec.compile_spec(name).inference.model.description)
    assert "\nimport os" not in code


# ---------------------------------------------------------------- one real process, the generated giants


def _giants(directory: Path) -> list[Case]:
    """Cases too large for the repository, each with the line its error must name."""
    directory.mkdir()
    giants: dict[str, tuple[bytes, str, int]] = {
        # 100,000 levels: the C parser must not crash the process (depth is checked on the event stream)
        "deep-flow-seq": (b"[" * 100_000 + b"\n", "too-deep", 1),
        "deep-flow-map": (b"{a: " * 100_000 + b"\n", "too-deep", 1),
        "deep-block-seq": (b"- " * 100_000 + b"x\n", "too-deep", 1),
        # line n opens the n-th mapping; its key is the first node 64 levels down on line 64
        "deep-block-map": (b"a:\n" + b"".join(b" " * i + b"b:\n" for i in range(1, 2_000)), "too-deep", 64),
        "oversized": (b"netspec: 1\n" + b"# padding\n" * (source.MAX_BYTES // 10 + 1), "file-too-large", 1),
    }
    # Past the node limit, under the size limit: 13 nodes of header, then two per layer line from line 6.
    header = "netspec: 1\nname: M\ninputs:\n  x: [N, 8]\nlayers:\n"
    n_layers = (source.MAX_NODES - 13) // 2 + 1
    text = header + "".join(f"  l{i}: ReLU\n" for i in range(n_layers))
    giants["too-many-nodes"] = (text.encode(), "too-large", 6 + (source.MAX_NODES - 13) // 2)
    cases = []
    for name, (data, code, line) in giants.items():
        path = directory / f"{name}.yaml"
        path.write_bytes(data)
        cases.append(Case(path, "error", code, line))
    return cases


def _refusal(path: Path) -> SpecError:
    with pytest.raises(SpecError) as info:
        netspec.validate(path)
    return info.value


def test_generated_giants_are_refused(tmp_path: Path) -> None:
    for case in _giants(tmp_path / "giants"):
        error, seconds = cpu_seconds(_refusal, case.path)
        assert (case.code, case.line) in [(d.code, d.span.line) for d in error.errors if d.span], case.name
        assert seconds < SECONDS_PER_CASE, case.name


def test_long_spec_within_limits_is_fast(tmp_path: Path) -> None:
    path = tmp_path / "long.yaml"
    path.write_text("netspec: 1\nname: M\ninputs:\n  x: [N, 8]\nlayers:\n"
                    + "".join(f"  l{i}: {{type: Linear, out_features: 8}}\n" for i in range(5_000)))
    summary, seconds = cpu_seconds(netspec.summary, path)
    assert summary.total_params == 5_000 * (8 * 8 + 8)
    assert seconds < SECONDS_PER_CASE


def test_real_process_refuses_the_whole_corpus(tmp_path: Path) -> None:
    """One ``netspec validate`` process over every error case and the giants: no crash, no traceback."""
    cases = ERRORS + _giants(tmp_path / "giants")
    work = tmp_path / "work"
    work.mkdir()
    run = subprocess.run([str(NETSPEC_BIN), "validate", *(str(c.path) for c in cases)], capture_output=True,
                         text=True, cwd=work, timeout=300)
    assert run.returncode == 1, run.stderr[-2000:]  # a signal (C-level crash) would be negative
    _assert_clean(run.stdout, run.stderr)
    assert run.stdout == ""
    for case in cases:
        assert headline(str(case.path), case.line, case.code).search(run.stderr), case.name  # type: ignore[arg-type]
    assert run.stderr.rstrip().endswith(f"{len(cases)} of {len(cases)} specs invalid")
    assert list(work.iterdir()) == []


# ---------------------------------------------------------------- the parameter budget

BUDGET = HOSTILE / "resource-budget-linear.yaml"  # fc: Linear(784, 40,960,000), ~32 billion parameters


def test_load_refuses_past_the_budget_before_allocating(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_allocation(*args: object, **kwargs: object) -> None:
        raise AssertionError("instantiate ran for a spec over the budget")

    monkeypatch.setattr(build, "instantiate", no_allocation)
    with pytest.raises(SpecError) as info:
        netspec.load(BUDGET)
    (diag,) = info.value.diagnostics
    assert diag.code == "param-budget"
    expected = nn.Linear(784, 40_960_000, device="meta")
    total = sum(p.numel() for p in expected.parameters()) + 40_960_000 * 10 + 10
    assert f"{total:,}" in diag.message
    assert f"fc ({sum(p.numel() for p in expected.parameters()):,})" in diag.message  # the largest layer, named
    assert diag.hint and "max_params" in diag.hint


def test_meta_device_is_exempt_from_the_budget() -> None:
    model = netspec.load(BUDGET, device="meta")
    assert all(p.is_meta for p in model.parameters())
    assert model.fc.weight.shape == nn.Linear(784, 40_960_000, device="meta").weight.shape


def test_max_params_moves_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    lenet = SPECS_DIR / "lenet.yaml"
    count = sum(p.numel() for p in netspec.load(lenet).parameters())
    assert sum(p.numel() for p in netspec.load(lenet, max_params=count).parameters()) == count  # at the budget: built
    with pytest.raises(SpecError, match=r"param-budget\]|over the budget"):
        netspec.load(lenet, max_params=count - 1)
    reached = []
    monkeypatch.setattr(build, "instantiate", lambda cls, device, dtype: reached.append(cls))
    netspec.load(BUDGET, max_params=10**11)  # raised past the model: allocation would go ahead
    assert len(reached) == 1


@pytest.mark.parametrize("command", ["validate", "summary"])
def test_cli_warns_past_max_params(command: str, cli) -> None:
    lenet = str(SPECS_DIR / "lenet.yaml")
    count = sum(p.numel() for p in netspec.load(lenet, device="meta").parameters())
    over = cli(command, "--max-params", str(count - 1), lenet)
    assert over.exit_code == 0
    assert headline(lenet, 3, "param-budget", "warning").search(over.stderr), over.stderr
    assert f"{count:,}" in over.stderr
    under = cli(command, "--max-params", str(count), lenet)
    assert under.exit_code == 0 and "warning" not in under.stderr
    default = cli(command, str(BUDGET))
    assert default.exit_code == 0 and "warning[param-budget]" in default.stderr
    raised = cli(command, "--max-params", str(10**11), str(BUDGET))
    assert raised.exit_code == 0 and "warning[param-budget]" not in raised.stderr


# ---------------------------------------------------------------- hostile file names

# Decoded as UTF-7, this description closes its docstring and calls open() in the class body.
UTF7_PAYLOAD = "+ACI-+ACI-+ACI-+AAo-    open(+ACI-PWNED+ACI-, +ACI-w+ACI-)+AAo-    +ACI-+ACI-+ACI-"
HOSTILE_FILE_NAMES = [
    "m coding:utf-7 .yaml",  # PEP 263 reads any 'coding[:=]' in lines 1-2
    "m -*- coding: utf_7 -*- .yaml",
    "m\n# coding: utf-7\n.yaml",  # a newline would put the declaration on a line of its own
    "m\r# vim: set fileencoding=utf-7 :.yaml",
    "m\x1b]0;title\x07\x1b[31m.yaml",  # terminal escapes: OSC title, BEL, colour
    "m\u202egpj.yaml",  # a bidi override
    "m\udcff.yaml",  # a byte that is not UTF-8, as os.fsdecode gives it
]


def _hostile_named_spec(directory: Path, name: str) -> Path:
    path = directory / name
    path.write_text(f"netspec: 1\nname: M\ndescription: {UTF7_PAYLOAD}\ninputs:\n  x: [N, 8]\n"
                    "layers:\n  fc: {type: Linear, out_features: 2}\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("name", HOSTILE_FILE_NAMES, ids=ascii)
def test_file_name_never_reaches_the_generated_source(name: str, tmp_path: Path, cli) -> None:
    assert '"""\n    open(' in UTF7_PAYLOAD.encode().decode("utf-7")  # the payload is armed...
    spec = _hostile_named_spec(tmp_path, name)
    out = tmp_path / "gen.py"
    result = cli("compile", str(spec), "-o", str(out))
    assert result.exit_code == 0, result.output
    _assert_clean(result.stdout, result.stderr)
    data = out.read_bytes()
    with out.open("rb") as handle:
        encoding, first_lines = tokenize.detect_encoding(handle.readline)
    assert encoding == "utf-8"
    assert [line.decode() for line in first_lines] == [HEADER[0] + "\n", HEADER[1] + "\n"]
    # ...and read as Python reads it, the module is imports plus the class, the payload a docstring
    check_plain_module(data.decode(encoding), "M", UTF7_PAYLOAD)
    assert data.decode() == netspec.compile_source(spec)  # the file holds exactly what load() runs


def test_file_name_gives_neither_the_source_nor_the_class(tmp_path: Path) -> None:
    texts = []
    for name in HOSTILE_FILE_NAMES[:2]:
        spec = _hostile_named_spec(tmp_path, name)
        spec.write_text("# a comment that differs per file: " + name + "\n" + spec.read_text())
        texts.append(netspec.compile_source(spec))
        assert netspec.build_class(spec) is netspec.build_class(_hostile_named_spec(tmp_path, "plain.yaml"))
    assert texts[0] == texts[1]


@pytest.mark.parametrize("name", HOSTILE_FILE_NAMES, ids=ascii)
def test_file_names_are_escaped_on_the_terminal(name: str, tmp_path: Path, cli) -> None:
    good = _hostile_named_spec(tmp_path, name)
    bad = tmp_path / ("bad " + name)
    bad.write_text("netspec: 1\nname: M\ninputs:\n  x: [N, 8]\nlayers:\n  on: ReLU\n", encoding="utf-8")
    out = tmp_path / ("gen " + name + ".py")
    results = [cli("validate", str(good), str(bad)),
               cli("compile", str(good), "-o", str(out)),
               cli("summary", str(bad))]
    for result in results:
        text = result.stdout + result.stderr
        assert "Traceback" not in text
        assert all(char.isprintable() for char in text.replace("\n", "")), ascii(text)
    assert errors.printable(str(good)) + ": ok (M" in results[0].stdout
    assert errors.printable(str(bad)) + ":6:3: error[yaml-ambiguous]" in results[0].stderr
    assert f"wrote {errors.printable(str(out))}" in results[1].stderr

