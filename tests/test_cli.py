"""The CLI's exact output and exit codes (0 ok, 1 invalid spec, 2 usage)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

import netspec
from netspec.errors import Span, SpecError
from netspec.frontend import source
from netspec.tools.cli import main
from tests.conftest import ROOT, SPECS_DIR, run_cli

BAD_LENET = """
netspec: 1
name: LeNet
inputs:
  x: [N, 1, 32, 32]
layers:
  conv1: {type: Conv2d, out_channels: 6, kernel_size: 5}
  conv2: {type: Conv2d, out_channels: 16, kernel_size: 5}
  fc1: {type: Linear, in_features: 256, out_features: 120}
  fc2: {type: Linear, out_features: 84}
  fc3: {type: Linear, out_features: 10}
forward: [conv1, relu, {max_pool2d: 2}, conv2, relu, {max_pool2d: 2}, flatten, fc1, relu, fc2, relu, fc3]
"""


def test_validate_ok_lines(cli) -> None:
    result = cli("validate", str(SPECS_DIR / "lenet.yaml"), str(SPECS_DIR / "mlp.yaml"))
    assert result.exit_code == 0
    assert result.stdout == (f"{SPECS_DIR / 'lenet.yaml'}: ok (LeNet, 61,706 params)\n"
                             f"{SPECS_DIR / 'mlp.yaml'}: ok (MLP, 203,530 params)\n")


def test_validate_reports_the_wrong_line_with_expected_and_found(write_spec, cli) -> None:
    path = write_spec(BAD_LENET, "bad.yaml")
    result = cli("validate", str(path))
    assert result.exit_code == 1
    assert result.stderr.splitlines() == [
        f"{path}:8:23: error[shape-mismatch] layers.fc1: expects 256 input features, gets 400 "
        "(input shape (N, 400))",
        "     8 |   fc1: {type: Linear, in_features: 256, out_features: 120}",
        "       |                       ^",
        "  hint: set in_features: 400 or remove it to have it inferred",
        "1 error",
        "1 of 1 spec invalid",
    ]
    assert "Traceback" not in result.output


def test_validate_several_specs_one_bad(write_spec, cli) -> None:
    bad = write_spec(BAD_LENET, "bad.yaml")
    result = cli("validate", "-q", str(SPECS_DIR / "mlp.yaml"), str(bad))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.endswith("1 of 2 specs invalid\n")


def test_unknown_key_has_did_you_mean(write_spec, cli) -> None:
    path = write_spec("""
        netspec: 1
        name: M
        inputs: {x: [N, 8]}
        layers:
          fc: {type: Linear, out_feature: 4}
    """)
    result = cli("validate", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert f"{path}:5:22: error[unknown-key] layers.fc.out_feature: unknown key 'out_feature'" in lines
    assert "  hint: did you mean 'out_features'?" in lines
    # one mistake, one diagnostic: the missing key the unknown one misspells is not reported again
    assert not any("missing-key" in line for line in lines)
    assert "1 error" in lines


def test_usage_errors_exit_2(cli) -> None:
    assert cli("validate").exit_code == 2
    assert cli("compile").exit_code == 2
    assert cli("frobnicate").exit_code == 2


def test_missing_file_is_an_error_not_a_traceback(tmp_path: Path, cli) -> None:
    result = cli("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert "error[file-unreadable]" in result.stderr
    assert "Traceback" not in result.output


def test_compile_prints_the_generated_source(cli) -> None:
    result = cli("compile", str(SPECS_DIR / "alexnet.yaml"))
    assert result.exit_code == 0
    assert result.stdout == netspec.compile_source(SPECS_DIR / "alexnet.yaml")


def test_compile_to_file(tmp_path: Path, cli) -> None:
    out = tmp_path / "lenet.py"
    result = cli("compile", str(SPECS_DIR / "lenet.yaml"), "-o", str(out))
    assert result.exit_code == 0
    assert out.read_text() == netspec.compile_source(SPECS_DIR / "lenet.yaml")


def test_summary_table(cli) -> None:
    result = cli("summary", str(SPECS_DIR / "mlp.yaml"))
    assert result.exit_code == 0
    assert result.stdout == """\
MLP
-------------------------------------
Layer   Type    Output shape   Params
-------------------------------------
hidden  Linear  (N, 256)      200,960
act     ReLU    (N, 256)            0
output  Linear  (N, 10)         2,570
-------------------------------------
Input: x (N, 784)
Output: (N, 10)
Total params: 203,530
Trainable params: 203,530
Non-trainable params: 0
MACs per sample: 203,264
Params size: 814,120 bytes
Input size (batch 1): 3,136 bytes
Activations size (batch 1): 2,088 bytes
Estimated training size (batch 1): 1,633,464 bytes (1.63 MB)
"""


def test_summary_json_contract(cli) -> None:
    result = cli("summary", "--json", str(SPECS_DIR / "mlp.yaml"))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "name": "MLP",
        "inputs": {"x": ["N", 784]},
        "output_shape": ["N", 10],
        "total_params": 784 * 256 + 256 + 256 * 10 + 10,
        "trainable_params": 784 * 256 + 256 + 256 * 10 + 10,
        "total_macs": 784 * 256 + 256 * 10,
        "batch": 1,
        "batch_macs": 784 * 256 + 256 * 10,
        "layers": [
            {"path": "hidden", "type": "Linear", "output_shape": ["N", 256], "params": 784 * 256 + 256, "depth": 0,
             "macs": 784 * 256, "input_shapes": [["N", 784]], "activation_bytes": 256 * 4},
            {"path": "act", "type": "ReLU", "output_shape": ["N", 256], "params": 0, "depth": 0,
             "macs": 0, "input_shapes": [["N", 256]], "activation_bytes": 256 * 4},
            {"path": "output", "type": "Linear", "output_shape": ["N", 10], "params": 256 * 10 + 10, "depth": 0,
             "macs": 256 * 10, "input_shapes": [["N", 256]], "activation_bytes": 10 * 4},
        ],
        "memory": {"param_bytes": {"float32": 203_530 * 4}, "total_param_bytes": 203_530 * 4,
                   "trainable_param_bytes": 203_530 * 4, "frozen_param_bytes": 0, "buffer_bytes": {},
                   "total_buffer_bytes": 0, "gradient_bytes": 203_530 * 4, "input_bytes": 784 * 4,
                   "activation_bytes": (256 + 256 + 10) * 4,
                   "training_bytes": 2 * 203_530 * 4 + 784 * 4 + (256 + 256 + 10) * 4},
    }


def test_summary_json_reports_every_choice(cli) -> None:
    result = cli("summary", "--json", str(SPECS_DIR / "my_dict_dense.yaml"))
    data = json.loads(result.stdout)
    assert data["output_shape"] == ["N", 4]
    assert data["output_shapes"] == {"choice='linear1'": ["N", 4], "choice='linear2'": ["N", 1],
                                     "choice='linear3'": ["N", 2]}


def test_schema_command_prints_the_shipped_schema(cli) -> None:
    result = cli("schema")
    assert result.exit_code == 0
    assert result.stdout == (ROOT / "schemas" / "netspec.schema.json").read_text()


def test_layers_command_lists_the_registry(cli) -> None:
    result = cli("layers")
    for name in netspec.ops.LAYERS:
        assert f"  {name}(" in result.stdout
    for name in netspec.ops.OPS:
        assert f"  {name}(" in result.stdout


def test_console_script_runs_without_importing_torch() -> None:
    code = "import sys, netspec.tools.cli; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
    done = subprocess.run([sys.executable, "-m", "netspec.tools.cli", "validate", str(SPECS_DIR / "alexnet.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr


def test_validate_leaves_pydantic_unimported(tmp_path: Path) -> None:
    """Checking a spec needs pydantic-core's extension module alone once the grammar is cached (issue 20: pydantic's
    Python layer cost every start-up ~70 ms, pydantic-core's ~15 ms more): the zoo's expression arguments,
    initialisers, buffers and ties included."""
    code = ("import sys\nfrom netspec.tools import cli\n"
            "for spec in ('alexnet', 'zoo/resnet50', 'zoo/gpt2', 'zoo/llama', 'zoo/vit_b_16', 'my_list_dense'):\n"
            "    try:\n        cli.main(['validate', spec], standalone_mode=False)\n"
            "    except SystemExit as exc:\n        assert not exc.code, exc.code\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pydantic', 'pydantic_core')))\n")
    env = {**os.environ, "NETSPEC_CACHE_DIR": str(tmp_path)}
    for _ in range(2):  # the first run makes the grammar's cache, from the models (pydantic); the second reads it
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env,
                              cwd=ROOT)
        assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "['pydantic_core._pydantic_core']", done.stdout


# ---------------------------------------------------------------- stdin, shipped names, machine formats


def _run_in(cwd: Path, *args: str, input: str | None = None, env: dict[str, str] | None = None):
    """The CLI from another directory, as a user runs it: ``specs/`` there is not the repository's."""
    import os

    old = os.getcwd()
    os.chdir(cwd)
    try:
        return run_cli(*args, input=input, env=env)
    finally:
        os.chdir(old)


def test_dash_reads_the_spec_from_stdin_on_every_command(cli) -> None:
    text = (SPECS_DIR / "lenet.yaml").read_text()
    assert cli("validate", "-", input=text).stdout == "<stdin>: ok (LeNet, 61,706 params)\n"
    assert cli("summary", "-", input=text).stdout.startswith("LeNet\n")
    compiled = cli("compile", "-", input=text)
    assert compiled.exit_code == 0 and "class LeNet(nn.Module):" in compiled.stdout
    as_json = cli("validate", "--format", "json", "-", input=text)
    assert json.loads(as_json.stdout)["specs"][0]["file"] == "<stdin>"


def test_stdin_diagnostics_show_the_line_and_caret(cli) -> None:
    result = cli("validate", "-", input=BAD_LENET.lstrip("\n"))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:3] == [
        "<stdin>:8:23: error[shape-mismatch] layers.fc1: expects 256 input features, gets 400 (input shape (N, 400))",
        "     8 |   fc1: {type: Linear, in_features: 256, out_features: 120}",
        "       |                       ^",
    ]


def test_shipped_names_work_from_any_directory(tmp_path: Path) -> None:
    assert _run_in(tmp_path, "summary", "lenet").stdout.startswith("LeNet\n")
    result = _run_in(tmp_path, "compile", "specs/alexnet.yaml")
    assert result.exit_code == 0 and "class AlexNet(nn.Module):" in result.stdout
    result = _run_in(tmp_path, "validate", "lenett")
    assert result.exit_code == 1
    assert "  hint: did you mean 'lenet'? shipped specs: alexnet, " in result.stderr


def test_a_directory_and_a_missing_file_both_exit_1(tmp_path: Path, cli) -> None:
    for command in ("validate", "summary", "compile"):
        for spec in (tmp_path, tmp_path / "missing.yaml"):
            result = cli(command, str(spec))
            assert result.exit_code == 1, (command, spec, result.output)
            assert "error[file-unreadable]" in result.stderr
            assert "Traceback" not in result.output


def test_validate_json_reports_valid_and_invalid_specs_on_stdout(write_spec, cli) -> None:
    bad = write_spec(BAD_LENET, "bad.yaml")
    result = cli("validate", "--format", "json", str(SPECS_DIR / "mlp.yaml"), str(bad))
    assert result.exit_code == 1
    assert result.stderr == ""
    data = json.loads(result.stdout)
    assert (data["valid"], data["errors"], data["warnings"]) == (False, 1, 0)
    ok, refused = data["specs"]
    assert (ok["valid"], ok["name"], ok["total_params"], ok["diagnostics"]) == (True, "MLP", 203_530, [])
    assert refused["valid"] is False
    assert refused["diagnostics"] == [{
        "file": str(bad), "line": 8, "column": 23, "severity": "error", "code": "shape-mismatch",
        "path": "layers.fc1", "message": "expects 256 input features, gets 400 (input shape (N, 400))",
        "hint": "set in_features: 400 or remove it to have it inferred"}]
    assert json.loads(cli("validate", "--json", str(bad)).stdout) == json.loads(
        cli("validate", "--format", "json", str(bad)).stdout)


def _sarif_validator():
    import jsonschema

    schema = json.loads((ROOT / "tests" / "data" / "sarif-schema-2.1.0.json").read_text())
    return jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER)


def test_validate_sarif_matches_the_sarif_schema_and_points_at_the_line(write_spec, tmp_path: Path) -> None:
    bad = write_spec(BAD_LENET, "bad.yaml")
    result = _run_in(tmp_path, "validate", "--format", "sarif", "bad.yaml", "lenet", "missing.yaml")
    assert result.exit_code == 1
    log = json.loads(result.stdout)
    _sarif_validator().validate(log)
    assert log["version"] == "2.1.0"
    results = log["runs"][0]["results"]
    first = results[0]
    assert first["ruleId"] == "shape-mismatch" and first["level"] == "error"
    assert first["locations"][0]["physicalLocation"] == {
        "artifactLocation": {"uri": "bad.yaml"}, "region": {"startLine": 8, "startColumn": 23}}
    assert "hint: set in_features: 400" in first["message"]["text"]
    assert first["properties"]["hint"] == "set in_features: 400 or remove it to have it inferred"
    assert results[1]["ruleId"] == "file-unreadable"
    assert "region" not in results[1]["locations"][0]["physicalLocation"]  # the file as a whole
    rules = log["runs"][0]["tool"]["driver"]["rules"]
    assert [rules[r["ruleIndex"]]["id"] for r in results] == [r["ruleId"] for r in results]
    assert bad.exists()


def test_sarif_of_valid_specs_and_stdin_matches_the_schema(cli) -> None:
    clean = cli("validate", "--format", "sarif", str(SPECS_DIR / "lenet.yaml"))
    assert clean.exit_code == 0
    _sarif_validator().validate(json.loads(clean.stdout))
    piped = cli("validate", "--format", "sarif", "-", input="netspec: 2\n")
    assert piped.exit_code == 1
    log = json.loads(piped.stdout)
    _sarif_validator().validate(log)
    assert log["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "%3Cstdin%3E"


def test_summary_json_of_a_refused_spec_is_still_json(write_spec, cli) -> None:
    bad = write_spec(BAD_LENET, "bad.yaml")
    result = cli("summary", "--json", str(bad))
    assert result.exit_code == 1
    data = json.loads(result.stdout)
    assert data["valid"] is False and data["specs"][0]["diagnostics"][0]["code"] == "shape-mismatch"
    assert "error[shape-mismatch]" in result.stderr  # people still read it on the terminal


def test_layers_json_lists_the_registry(cli) -> None:
    data = json.loads(cli("layers", "--json").stdout)
    assert {entry["name"] for entry in data["layers"]} == {*netspec.ops.LAYERS, "Sequential"}
    assert {entry["name"] for entry in data["ops"]} == set(netspec.ops.OPS)
    linear = next(entry for entry in data["layers"] if entry["name"] == "Linear")
    assert {"name": "in_features", "required": False, "inferred": True} in linear["args"]


def test_list_shows_every_shipped_spec_one_line_each(cli) -> None:
    result = cli("list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "MODEL", "PARAMS", "INPUT", "OUTPUT"]
    assert len(lines) == 1 + len(netspec.list_specs())
    assert any(line.split() == ["lenet", "LeNet", "61,706", "x", "(N,", "1,", "32,", "32)", "(N,", "10)"]
               for line in lines)
    assert any(line.split()[:3] == ["zoo/resnet50", "ResNet", "25,557,032"] for line in lines)
    data = json.loads(cli("list", "--json").stdout)
    assert [row["name"] for row in data] == netspec.list_specs()
    alexnet = next(row for row in data if row["name"] == "alexnet")
    assert alexnet == {"name": "alexnet", "model": "AlexNet", "total_params": 46_764_746,
                       "inputs": {"img": ["N", 1, 224, 224]}, "output_shape": ["N", 10]}


# ---------------------------------------------------------------- colour, help, completion


def _bad_validate(write_spec, env: dict[str, str]):
    return run_cli("validate", str(write_spec(BAD_LENET, "bad.yaml")), env=env)


def test_no_colour_when_piped(write_spec) -> None:
    assert "\x1b[" not in _bad_validate(write_spec, {"NO_COLOR": "", "FORCE_COLOR": ""}).stderr


def test_colour_on_a_terminal_marks_severity_caret_and_hint(write_spec) -> None:
    result = _bad_validate(write_spec, {"FORCE_COLOR": "1", "NO_COLOR": ""})
    lines = result.stderr.splitlines()
    assert "\x1b[31m\x1b[1merror[shape-mismatch]\x1b[0m" in lines[0]
    assert lines[2].endswith("\x1b[32m\x1b[1m^\x1b[0m")
    assert lines[3].startswith("  \x1b[36m\x1b[1mhint:\x1b[0m set in_features")


def test_no_color_wins(write_spec) -> None:
    assert "\x1b[" not in _bad_validate(write_spec, {"FORCE_COLOR": "1", "NO_COLOR": "1"}).stderr


def test_a_terminal_gets_colour_by_default_and_no_color_still_wins(write_spec, cli) -> None:
    path = str(write_spec(BAD_LENET, "bad.yaml"))
    # color=True: the runner behaves as a terminal does (click keeps styles it would strip from a pipe)
    terminal = cli("validate", path, env={"FORCE_COLOR": "", "NO_COLOR": ""}, color=True)
    assert "\x1b[31m" in terminal.stderr
    muted = cli("validate", path, env={"FORCE_COLOR": "", "NO_COLOR": "1"}, color=True)
    assert "\x1b[" not in muted.stderr


def test_every_command_help_shows_an_example(cli) -> None:
    for command in main.commands:
        result = cli(command, "--help")
        assert result.exit_code == 0
        assert "Example" in result.stdout, command
    assert "_NETSPEC_COMPLETE=bash_source netspec" in cli("--help").stdout


def test_completion_offers_shipped_names(cli) -> None:
    result = cli(env={"_NETSPEC_COMPLETE": "bash_complete", "COMP_WORDS": "netspec summary le", "COMP_CWORD": "2"},
                 prog_name="netspec")
    assert "plain,lenet" in result.stdout.splitlines()
    assert "plain,lenet_expr" in result.stdout.splitlines()


# ---------------------------------------------------------------- YAML mistakes, named as the reader sees them

# Both parsers source.py can use: libyaml (the C loader every PyYAML wheel ships, the one used) and
# the pure-Python one.  They word a tab and an unclosed bracket differently; the messages may not.
YAML_LOADERS = [pytest.param("CSafeLoader", marks=pytest.mark.skipif(not hasattr(yaml, "CSafeLoader"),
                                                                      reason="PyYAML built without libyaml")),
                "SafeLoader"]
TAB_CASES = {  # text, line and column of the tab, whether it indents
    "indent": ("netspec: 1\nname: M\ninputs:\n\tx: [N, 8]\n", 4, 1, True),
    "after-spaces": ("netspec: 1\nlayers:\n  a: ReLU\n  \tb: ReLU\n", 4, 3, True),
    "after-dash": ("netspec: 1\nforward:\n-\t\ta\n", 3, 2, True),
    "nested-value": ("netspec: 1\nlayers:\n  a:\n\t  type: ReLU\n", 4, 1, True),
}


@pytest.mark.parametrize("loader", YAML_LOADERS)
@pytest.mark.parametrize("case", TAB_CASES)
def test_a_tab_is_named_at_its_column_by_either_parser(case: str, loader: str, monkeypatch) -> None:
    monkeypatch.setattr(source, "_Loader", getattr(yaml, loader))
    text, line, col, indents = TAB_CASES[case]
    with pytest.raises(SpecError) as info:
        source.load_text(text, "t.yaml")
    (d,) = info.value.diagnostics
    assert (d.code, d.span, d.message) == ("yaml-syntax", Span("t.yaml", line, col),
                                           "invalid YAML: expected spaces, found a tab")
    assert d.hint is not None and d.hint.startswith(f"replace the tab at line {line}, column {col} with spaces")
    assert ("tabs in indentation" in d.hint) == indents


FLOW_CASES = {  # text, where the parser noticed, the message's tail, the hint
    "mapping-next-line": ("netspec: 1\ninputs: {x: [N, 3]\nlayers:\n  - Linear\n", (3, 1),
                          "expected ',' or '}' in the '{' opened at line 2, column 9, found 'layers'",
                          "close the '{' opened at line 2, column 9 with '}', or separate its items with ','"),
    "sequence-end-of-file": ("netspec: 1\ninputs:\n  x: [N, 3\n", (4, 1),
                             "expected ',' or ']' in the '[' opened at line 3, column 6, found the end of the file",
                             "close the '[' opened at line 3, column 6 with ']'"),
    "sequence-in-mapping": ("netspec: 1\nlayers: [{type: Linear, out: [1, 2}\n", (2, 35),
                            "expected ',' or ']' in the '[' opened at line 2, column 30, found '}'",
                            "close the '[' opened at line 2, column 30 with ']', or separate its items with ','"),
}


@pytest.mark.parametrize("loader", YAML_LOADERS)
@pytest.mark.parametrize("case", FLOW_CASES)
def test_an_unclosed_bracket_names_where_it_opened(case: str, loader: str, monkeypatch) -> None:
    monkeypatch.setattr(source, "_Loader", getattr(yaml, loader))
    text, (line, col), tail, hint = FLOW_CASES[case]
    with pytest.raises(SpecError) as info:
        source.load_text(text, "f.yaml")
    (d,) = info.value.diagnostics
    assert (d.code, d.span, d.message, d.hint) == ("yaml-syntax", Span("f.yaml", line, col), f"invalid YAML: {tail}",
                                                   hint)


@pytest.mark.parametrize("loader", YAML_LOADERS)
def test_an_unclosed_quote_names_where_it_opened(loader: str, monkeypatch) -> None:
    monkeypatch.setattr(source, "_Loader", getattr(yaml, loader))
    with pytest.raises(SpecError) as info:
        source.load_text("netspec: 1\nname: 'M\ninputs: {x: [N, 3]}\n", "q.yaml")
    (d,) = info.value.diagnostics
    assert (d.span, d.message, d.hint) == (Span("q.yaml", 4, 1), "invalid YAML: expected the closing quote of the "
                                           "string opened at line 2, column 7, found the end of the file",
                                           "close the quote opened at line 2, column 7")


def test_the_cli_shows_the_tab_and_the_bracket(tmp_path: Path, cli) -> None:
    tab = tmp_path / "tab.yaml"
    tab.write_text("netspec: 1\nname: M\ninputs:\n\tx: [N, 8]\n", encoding="utf-8")
    result = cli("validate", str(tab))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[:4] == [
        f"{tab}:4:1: error[yaml-syntax] invalid YAML: expected spaces, found a tab",
        "     4 |  x: [N, 8]",
        "       | ^",
        "  hint: replace the tab at line 4, column 1 with spaces: YAML does not allow tabs in indentation",
    ]
    bracket = tmp_path / "bracket.yaml"
    bracket.write_text("netspec: 1\nname: M\ninputs:\n  x: [N, 8\nlayers:\n  a: ReLU\n", encoding="utf-8")
    result = cli("validate", str(bracket))
    assert result.exit_code == 1
    assert result.stderr.splitlines()[0] == (
        f"{bracket}:5:7: error[yaml-syntax] invalid YAML: expected ',' or ']' in the '[' opened at line 4, column 6, "
        "found ':'")
    assert "  hint: close the '[' opened at line 4, column 6 with ']', or separate its items with ','" in result.stderr
