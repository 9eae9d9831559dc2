"""netspec/tools/launch.py: ``netspec validate FILE...`` without click writes what click's command writes, byte
for byte and with the same exit status, and every other command line still goes to click."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from netspec.tools import launch
from tests.conftest import ROOT, SPECS_DIR

HOSTILE = ROOT / "tests" / "hostile"
BAD = """\
netspec: 1
name: Bad
inputs:
  x: [N, 1, 32, 32]
layers:
  conv1: {type: Conv2d, out_channels: 6, kernel_size: 5}
  fc1: {type: Linear, in_features: 256, out_features: 120}
  fc2: {type: Linear, out_features: 10, kernel_size: 3}
forward: [conv1, relu, flatten, fc1, fc2]
"""
SLOW_PATH = "from netspec.tools.cli import main\nmain(prog_name='netspec')\n"
NO_CLICK = ("import atexit, sys\n"
            "atexit.register(lambda: print('click imported:', 'click' in sys.modules, file=sys.stderr))\n"
            "from netspec.tools.launch import main\nmain()\n")


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR") and not k.endswith("_COMPLETE")}
    return {**env, "PYTHONIOENCODING": "utf-8", **extra}


def _run(code: str | None, args: list[str], env: dict[str, str], cwd: Path) -> tuple[int, bytes, bytes]:
    head = [sys.executable, "-m", "netspec"] if code is None else [sys.executable, "-c", code]
    done = subprocess.run([*head, *args], capture_output=True, env=env, cwd=cwd, check=False, timeout=120)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("launch")
    (folder / "bad.yaml").write_text(BAD, encoding="utf-8")
    (folder / "m\x1b]0;title\x07\x1b[31m.yaml").write_text(BAD, encoding="utf-8")  # escapes in a file name
    (folder / "not yaml.yaml").write_text("netspec: 1\nlayers: [\n", encoding="utf-8")
    (folder / "a folder").mkdir()
    return folder


CASES = {
    "one valid": ["lenet"],
    "files and names": [str(SPECS_DIR / "alexnet.yaml"), "zoo/resnet18", "my_list_dense"],
    "quiet": ["-q", "lenet", "mlp", "--quiet"],
    "invalid": ["bad.yaml"],
    "valid and invalid": ["lenet", "bad.yaml", "not yaml.yaml", "mlp"],
    "missing, folder, escapes": ["nothing.yaml", "a folder", "m\x1b]0;title\x07\x1b[31m.yaml"],
    "warning": [str(HOSTILE / "resource-budget-linear.yaml")],
    "hostile": [str(HOSTILE / "forward-deep-parens.yaml"), "-q", str(HOSTILE / "codegen-newline-layer-name.yaml")],
}
COLOURS = {"plain": {}, "NO_COLOR": {"NO_COLOR": "1"}, "FORCE_COLOR": {"FORCE_COLOR": "1"}}


@pytest.mark.slow
@pytest.mark.parametrize("colour", COLOURS)
@pytest.mark.parametrize("case", CASES)
def test_fast_path_writes_what_click_writes(case: str, colour: str, corpus: Path) -> None:
    args = ["validate", *CASES[case]]
    assert launch.plain_validate(args) is not None
    env = _env(**COLOURS[colour])
    fast = _run(None, args, env, corpus)
    assert fast == _run(SLOW_PATH, args, env, corpus)
    assert fast[0] == (0 if case in ("one valid", "files and names", "quiet", "warning") else 1)


def _on_a_terminal(code: str | None, args: list[str]) -> bytes:
    """What the command writes to a terminal (stdout and stderr both on one pseudo-terminal)."""
    leader, follower = pty.openpty()
    head = [sys.executable, "-m", "netspec"] if code is None else [sys.executable, "-c", code]
    with subprocess.Popen([*head, *args], stdout=follower, stderr=follower, env=_env(), cwd=ROOT) as proc:
        os.close(follower)
        chunks = []
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal closed: the process is done
                break
            if not chunk:
                break
            chunks.append(chunk)
        assert proc.wait(timeout=120) == 1
    os.close(leader)
    return b"".join(chunks)


@pytest.mark.slow
def test_fast_path_colours_a_terminal_as_click_does(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(BAD, encoding="utf-8")
    args = ["validate", "lenet", str(bad)]
    fast = _on_a_terminal(None, args)
    assert b"\x1b[31m\x1b[1merror[" in fast
    assert fast == _on_a_terminal(SLOW_PATH, args)


@pytest.mark.slow
def test_fast_path_leaves_click_unimported() -> None:
    status, out, err = _run(NO_CLICK, ["validate", "lenet"], _env(), ROOT)
    assert (status, out) == (0, b"lenet: ok (LeNet, 61,706 params)\n")
    assert err.endswith(b"click imported: False\n")
    status, out, err = _run(NO_CLICK, ["validate", "--format", "json", "lenet"], _env(), ROOT)
    assert status == 0 and b'"valid": true' in out and err.endswith(b"click imported: True\n")


@pytest.mark.parametrize("argv", [
    [], ["lenet"], ["summary", "lenet"], ["validate"], ["validate", "-q"], ["validate", "-"], ["validate", ""],
    ["validate", "--", "lenet"], ["validate", "--help"], ["validate", "-h", "lenet"], ["--version"],
    ["validate", "--format", "json", "lenet"], ["validate", "--set", "x=1", "lenet"], ["validate", "-qv", "lenet"],
    ["validate", "lenet", "--max-params", "3"], ["-v", "validate", "lenet"],
])
def test_every_other_command_line_goes_to_click(argv: list[str]) -> None:
    assert launch.plain_validate(argv) is None


def test_completion_goes_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    assert launch.plain_validate(["validate", "lenet"]) == (False, ["lenet"])
    monkeypatch.setenv("_NETSPEC_COMPLETE", "bash_complete")
    assert launch.plain_validate(["validate", "lenet"]) is None


def test_an_ascii_stream_goes_to_click(monkeypatch: pytest.MonkeyPatch) -> None:
    class Ascii:
        encoding = "ascii"

    monkeypatch.setattr(sys, "stderr", Ascii())
    assert launch.plain_validate(["validate", "lenet"]) is None


@pytest.mark.slow
@pytest.mark.parametrize("args", [["validate", "--format", "json", "lenet"], ["validate", "--help"], ["validate"]])
def test_click_s_command_lines_are_unchanged(args: list[str]) -> None:
    assert _run(None, args, _env(), ROOT) == _run(SLOW_PATH, args, _env(), ROOT)


def test_the_script_is_the_launcher() -> None:
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'netspec = "netspec.tools.launch:main"' in text
