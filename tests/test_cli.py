"""The CLI's exact output and exit codes (0 ok, 1 invalid spec, 2 usage)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

import netspec
from netspec.cli import main
from tests.conftest import ROOT, SPECS_DIR

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


def run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_validate_ok_lines() -> None:
    result = run("validate", str(SPECS_DIR / "lenet.yaml"), str(SPECS_DIR / "mlp.yaml"))
    assert result.exit_code == 0
    assert result.stdout == (f"{SPECS_DIR / 'lenet.yaml'}: ok (LeNet, 61,706 params)\n"
                             f"{SPECS_DIR / 'mlp.yaml'}: ok (MLP, 203,530 params)\n")


def test_validate_reports_the_wrong_line_with_expected_and_found(write_spec) -> None:
    path = write_spec(BAD_LENET, "bad.yaml")
    result = run("validate", str(path))
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


def test_validate_several_specs_one_bad(write_spec) -> None:
    bad = write_spec(BAD_LENET, "bad.yaml")
    result = run("validate", "-q", str(SPECS_DIR / "mlp.yaml"), str(bad))
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.endswith("1 of 2 specs invalid\n")


def test_unknown_key_has_did_you_mean(write_spec) -> None:
    path = write_spec("""
        netspec: 1
        name: M
        inputs: {x: [N, 8]}
        layers:
          fc: {type: Linear, out_feature: 4}
    """)
    result = run("validate", str(path))
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert f"{path}:5:22: error[unknown-key] layers.fc.out_feature: unknown key 'out_feature'" in lines
    assert "  hint: did you mean 'out_features'?" in lines
    assert f"{path}:5:7: error[missing-key] layers.fc.out_features: missing required key 'out_features'" in lines


def test_usage_errors_exit_2() -> None:
    assert run("validate").exit_code == 2
    assert run("compile").exit_code == 2
    assert run("frobnicate").exit_code == 2


def test_missing_file_is_an_error_not_a_traceback(tmp_path: Path) -> None:
    result = run("validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1
    assert "error[file-unreadable]" in result.stderr
    assert "Traceback" not in result.output


def test_compile_prints_the_generated_source() -> None:
    result = run("compile", str(SPECS_DIR / "alexnet.yaml"))
    assert result.exit_code == 0
    assert result.stdout == netspec.compile_source(SPECS_DIR / "alexnet.yaml")


def test_compile_to_file(tmp_path: Path) -> None:
    out = tmp_path / "lenet.py"
    result = run("compile", str(SPECS_DIR / "lenet.yaml"), "-o", str(out))
    assert result.exit_code == 0
    assert out.read_text() == netspec.compile_source(SPECS_DIR / "lenet.yaml")


def test_summary_table() -> None:
    result = run("summary", str(SPECS_DIR / "mlp.yaml"))
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
"""


def test_summary_json_contract() -> None:
    result = run("summary", "--json", str(SPECS_DIR / "mlp.yaml"))
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "name": "MLP",
        "inputs": {"x": ["N", 784]},
        "output_shape": ["N", 10],
        "total_params": 784 * 256 + 256 + 256 * 10 + 10,
        "trainable_params": 784 * 256 + 256 + 256 * 10 + 10,
        "layers": [
            {"path": "hidden", "type": "Linear", "output_shape": ["N", 256], "params": 784 * 256 + 256},
            {"path": "act", "type": "ReLU", "output_shape": ["N", 256], "params": 0},
            {"path": "output", "type": "Linear", "output_shape": ["N", 10], "params": 256 * 10 + 10},
        ],
    }


def test_summary_json_reports_every_choice() -> None:
    result = run("summary", "--json", str(SPECS_DIR / "my_dict_dense.yaml"))
    data = json.loads(result.stdout)
    assert data["output_shape"] == ["N", 4]
    assert data["output_shapes"] == {"choice='linear1'": ["N", 4], "choice='linear2'": ["N", 1],
                                     "choice='linear3'": ["N", 2]}


def test_schema_command_prints_the_shipped_schema() -> None:
    result = run("schema")
    assert result.exit_code == 0
    assert result.stdout == (ROOT / "schemas" / "netspec.schema.json").read_text()


def test_layers_command_lists_the_registry() -> None:
    result = run("layers")
    for name in netspec.ops.LAYERS:
        assert f"  {name}(" in result.stdout
    for name in netspec.ops.OPS:
        assert f"  {name}(" in result.stdout


def test_console_script_runs_without_importing_torch() -> None:
    code = "import sys, netspec.cli; sys.exit(1 if 'torch' in sys.modules else 0)"
    assert subprocess.run([sys.executable, "-c", code], timeout=60).returncode == 0
    done = subprocess.run([sys.executable, "-m", "netspec.cli", "validate", str(SPECS_DIR / "alexnet.yaml")],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
