"""netspec under config systems: overrides from any mapping of plain values (OmegaConf's configs as Hydra passes
them), SpecError's str and repr, and docs/integrations.md's Hydra, LightningCLI and plain-script examples run as
written (their files are read from the page, so the page cannot drift from what works)."""

from __future__ import annotations

import enum
import importlib.util
import numbers
import os
import pickle
import re
import runpy
import shlex
import subprocess
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from omegaconf import OmegaConf

import netspec
from netspec.errors import Diagnostic, Span, SpecError
from netspec.frontend.source import MAX_DEPTH, MAX_NODES

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "integrations.md"
SMALL = {"layers": [1, 1, 1, 1], "num_classes": 10}


def _error(call: Any) -> SpecError:
    with pytest.raises(SpecError) as caught:
        call()
    return caught.value


def _override_error(value: Any, name: str = "layers") -> str:
    return str(_error(lambda: netspec.compile_spec("zoo/resnet18", overrides={name: value})))


# ---------------------------------------------------------------- overrides from config objects


def test_an_omegaconf_list_is_an_override() -> None:
    plain = netspec.summary("zoo/resnet18", overrides=SMALL)
    listed = netspec.summary("zoo/resnet18", overrides={"layers": OmegaConf.create([1, 1, 1, 1]), "num_classes": 10})
    whole = netspec.summary("zoo/resnet18", overrides=OmegaConf.create(SMALL))  # a DictConfig of overrides
    assert plain.total_params == listed.total_params == whole.total_params
    assert plain.total_params != netspec.summary("zoo/resnet18").total_params
    assert isinstance(listed.vars["layers"], list) and listed.vars["layers"] == [1, 1, 1, 1]
    assert not OmegaConf.is_config(listed.vars["layers"])


def test_load_takes_omegaconf_values_as_keywords() -> None:
    model = netspec.load("zoo/resnet18", device="meta", layers=OmegaConf.create([1, 1, 1, 1]), num_classes=10)
    assert sum(p.numel() for p in model.parameters()) == netspec.summary("zoo/resnet18", overrides=SMALL).total_params


class Width(enum.IntEnum):
    SMALL = 1


def test_other_sequences_and_numbers_become_plain_data() -> None:
    expected = netspec.summary("zoo/resnet18", overrides=SMALL)
    for layers in [(1, 1, 1, 1), [np.int64(1)] * 4, [Width.SMALL] * 4, OmegaConf.create([1, 1, 1, 1])]:
        found = netspec.summary("zoo/resnet18", overrides={"layers": layers, "num_classes": np.int32(10)})
        assert found.total_params == expected.total_params
        assert found.vars["layers"] == [1, 1, 1, 1] and all(type(v) is int for v in found.vars["layers"])


def test_a_config_keys_the_cache_as_its_plain_data() -> None:
    # read into plain data before the compile cache's key is made: the same values are the same entry
    plain = netspec.compile_spec("zoo/resnet18", overrides=SMALL)
    assert netspec.compile_spec("zoo/resnet18", overrides=OmegaConf.create(SMALL)) is plain
    assert netspec.compile_spec("zoo/resnet18", overrides={"layers": (1, 1, 1, 1), "num_classes": 10}) is plain


# ---------------------------------------------------------------- hostile overrides


def _cyclic() -> list[Any]:
    loop: list[Any] = [1]
    loop.append(loop)
    return loop


def _deep(levels: int) -> list[Any]:
    value: list[Any] = [1]
    for _ in range(levels):
        value = [value]
    return value


def _shared_bomb() -> list[Any]:
    value: list[Any] = [1]
    for _ in range(7):
        value = [value] * 16  # 16**7 items if walked in full; each level shares one list
    return value


class Exploding(Sequence[int]):
    """A sequence that raises when read, as a config node whose value cannot be resolved does."""

    def __len__(self) -> int:
        return 3

    def __getitem__(self, index: Any) -> Any:
        raise RuntimeError("boom")


class BadNumber:
    def __int__(self) -> int:
        raise ValueError("not today")


numbers.Integral.register(BadNumber)

HOSTILE: list[tuple[str, Any, str]] = [
    ("cycle", _cyclic(), "<overrides>: error[too-deep] vars.layers: cannot set 'layers': lists nest more than 8 deep"),
    ("deep", _deep(100_000),
     "<overrides>: error[too-deep] vars.layers: cannot set 'layers': lists nest more than 8 deep"),
    ("huge range", range(10**12),
     "<overrides>: error[too-large] vars.layers: cannot set 'layers': the value holds more than 10,000 items in all"),
    ("long list", [1] * 20_000,
     "<overrides>: error[too-large] vars.layers: cannot set 'layers': the value holds more than 10,000 items in all"),
    ("shared sublists", _shared_bomb(),
     "<overrides>: error[too-large] vars.layers: cannot set 'layers': the value holds more than 10,000 items in all"),
    ("object", object(),
     "<overrides>: error[bad-value] vars.layers: cannot set 'layers': expected a number, boolean, string, null or a "
     "list of them, found a value of type 'object'\n  hint: vars hold numbers, booleans, strings and lists of them"),
    ("bytes", b"\x1b[2J",
     "<overrides>: error[bad-value] vars.layers: cannot set 'layers': expected a number, boolean, string, null or a "
     "list of them, found a value of type 'bytes'\n  hint: vars hold numbers, booleans, strings and lists of them"),
    ("mapping", OmegaConf.create({"a": 1}),
     "<overrides>: error[bad-value] vars.layers: cannot set 'layers': expected a number, boolean, string, null or a "
     "list of them, found a value of type 'DictConfig'\n  hint: vars hold numbers, booleans, strings and lists of "
     "them"),
    ("missing", OmegaConf.create([1, "???"]),
     "<overrides>: error[bad-value] vars.layers: cannot read 'layers': MissingMandatoryValue: Missing value at "
     "index 1"),
    ("interpolation", OmegaConf.create(["${oc.env:NETSPEC_TEST_NO_SUCH_VARIABLE}"]),
     "<overrides>: error[bad-value] vars.layers: cannot read 'layers': InterpolationResolutionError: KeyError raised "
     "while resolving interpolation: \"Environment variable 'NETSPEC_TEST_NO_SUCH_VARIABLE' not found\"..."),
    ("raising sequence", Exploding(),
     "<overrides>: error[bad-value] vars.layers: cannot read 'layers': RuntimeError: boom"),
    ("raising number", [BadNumber()],
     "<overrides>: error[bad-value] vars.layers: cannot read 'layers': ValueError: not today"),
    ("item too long", ["x" * 300],
     "<overrides>: error[bad-value] vars.layers: cannot set 'layers': string is longer than 256 characters"),
]


@pytest.mark.parametrize(("value", "message"), [(v, m) for _, v, m in HOSTILE], ids=[c[0] for c in HOSTILE])
def test_hostile_overrides_are_refused_by_name(value: Any, message: str) -> None:
    found = _override_error(value)
    if message.endswith("..."):  # the config's own text, cut to its first 120 characters
        assert found.startswith(message[:-3]), found
    else:
        assert found == message, found


def test_hostile_override_mappings() -> None:
    assert str(_error(lambda: netspec.compile_spec("zoo/resnet18", overrides=[("layers", [1])]))) == (  # type: ignore[arg-type]
        "<overrides>: error[bad-value] expected a mapping of var names to values, found a value of type 'list'\n"
        "  hint: e.g. overrides={'num_classes': 10}")
    assert str(_error(lambda: netspec.compile_spec("zoo/resnet18", overrides={1: 2}))) == (  # type: ignore[dict-item]
        "<overrides>: error[unknown-var] vars: expected a var's name, found 1\n  hint: var names are strings")
    many = {f"v{i}": i for i in range(100_000)}
    assert str(_error(lambda: netspec.compile_spec("zoo/resnet18", overrides=many))) == (
        "<overrides>: error[too-large] expected at most 10,000 overrides and items in their values, found more")


def test_unknown_var_from_a_config_keeps_its_hint() -> None:
    found = _error(lambda: netspec.compile_spec("zoo/resnet18", overrides=OmegaConf.create({"num_clases": 3})))
    assert str(found) == ("<overrides>: error[unknown-var] vars.num_clases: cannot set 'num_clases': the spec has "
                          "no var of that name\n  hint: did you mean 'num_classes'?")


def test_a_config_as_the_spec_itself() -> None:
    spec = OmegaConf.create({"netspec": 1, "name": "M", "inputs": {"x": ["N", 4]},
                             "layers": {"fc": {"type": "Linear", "out_features": 2}}})
    assert netspec.summary(spec).total_params == 10
    limit = f"<mapping>: error[too-large] the mapping holds more than {MAX_NODES:,} nodes"
    assert str(_error(lambda: netspec.compile_spec({"netspec": 1, "x": _shared_bomb()}))) == limit
    assert str(_error(lambda: netspec.compile_spec({"netspec": 1, "x": range(10**12)}))) == limit
    assert str(_error(lambda: netspec.compile_spec({"netspec": 1, "x": _cyclic()}))) == (
        f"<mapping>: error[too-deep] the mapping is nested deeper than {MAX_DEPTH} levels")
    missing = str(_error(lambda: netspec.compile_spec(OmegaConf.create({"netspec": 1, "name": "???"}))))
    assert missing.startswith("<mapping>: error[bad-value] cannot read the mapping: MissingMandatoryValue: Missing "
                              "mandatory value: name"), missing


# ---------------------------------------------------------------- SpecError as text


BAD = "netspec: 1\nname: Bad\ninputs: {x: [N, 4]}\nlayers:\n  fc: {type: Linear, out_features: -3}\n"


def test_spec_error_str_and_repr_read_like_the_cli() -> None:
    error = _error(lambda: netspec.compile_spec(text=BAD, filename="bad.yaml"))
    first = str(error).splitlines()[0]
    assert re.fullmatch(r"bad\.yaml:5:\d+: error\[[a-z-]+\] layers\.fc\.out_features: .+", first), first
    assert repr(error) == f"SpecError: {error}"
    assert "Diagnostic(" not in repr(error) and "diagnostics=" not in repr(error)
    assert error.args == (str(error),)
    again = pickle.loads(pickle.dumps(error))
    assert repr(again) == repr(error) and again.diagnostics == error.diagnostics


def test_spec_error_repr_pinned() -> None:
    one = SpecError([Diagnostic("bad-value", "expected 1, found 2", Span("a.yaml", 3, 7), ("layers", "fc"), "use 1")])
    assert repr(one) == "SpecError: a.yaml:3:7: error[bad-value] layers.fc: expected 1, found 2\n  hint: use 1"
    two = SpecError([Diagnostic("unknown-var", "no var", None), Diagnostic("shape-mismatch", "wide", Span("b", 0, 0),
                                                                            severity="warning")])
    assert repr(two) == "SpecError: <spec>: error[unknown-var] no var\nb: warning[shape-mismatch] wide"
    assert repr(SpecError()) == "SpecError()"
    assert str(SpecError()) == ""


# ---------------------------------------------------------------- docs/integrations.md, run


def _page_files() -> dict[str, str]:
    text = PAGE.read_text(encoding="utf-8")
    return dict(re.findall(r"<!-- file: (\S+) -->\n```\w+\n(.*?)```", text, re.DOTALL))


def _page_run(name: str) -> tuple[list[str], list[str]]:
    """The command line and the output lines of the page's `<!-- run: NAME -->` block."""
    text = PAGE.read_text(encoding="utf-8")
    found = re.search(rf"<!-- run: {name} -->\n```text\n\$ (.*?)\n(.*?)```", text, re.DOTALL)
    assert found, f"docs/integrations.md has no run block {name!r}"
    return shlex.split(found.group(1)), found.group(2).splitlines()


@pytest.fixture
def page(tmp_path: Path) -> Path:
    for name, body in _page_files().items():
        target = tmp_path / name
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(body, encoding="utf-8")
    return tmp_path


def test_the_page_names_its_files() -> None:
    assert set(_page_files()) == {"conf/config.yaml", "train_hydra.py", "train_lightning.py", "train_plain.py"}


def test_hydra_instantiates_netspec_load_with_a_list_override(page: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(page / "conf"), version_base=None):
        cfg = compose("config", overrides=["model.layers=[1,1,1,1]", "model.num_classes=10"])
        assert OmegaConf.is_list(cfg.model.layers)  # what instantiate hands to load, unconverted
        model = instantiate(cfg.model, device="meta")
        default = instantiate(compose("config").model, device="meta")
    assert sum(p.numel() for p in model.parameters()) == netspec.summary("zoo/resnet18", overrides=SMALL).total_params
    assert sum(p.numel() for p in default.parameters()) == netspec.summary("zoo/resnet18").total_params


def test_hydra_shows_the_spec_error_as_the_cli_does(page: Path) -> None:
    from hydra import compose, initialize_config_dir
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    with initialize_config_dir(config_dir=str(page / "conf"), version_base=None):
        cfg = compose("config", overrides=["model.layers=[1,1,x,1]"])
    with pytest.raises(InstantiationException) as caught:
        instantiate(cfg.model, device="meta")
    text = str(caught.value)
    assert text.startswith("Error in call to target 'netspec.api.load':\nSpecError: "), text
    assert re.search(r"SpecError: \S*resnet18\.yaml:\d+:\d+: error\[bad-value\] layers\.layer3\.0: repeat count must "
                     r"be a non-negative integer, found 'x'", text), text


@pytest.mark.slow
def test_hydra_command_line_as_documented(page: Path) -> None:
    command, expected = _page_run("hydra")
    assert command[:2] == ["python", "train_hydra.py"]
    done = subprocess.run([sys.executable, *command[1:]], cwd=page, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == expected


def _lightning_script(page: Path) -> Any:
    spec = importlib.util.spec_from_file_location("netspec_docs_train_lightning", page / "train_lightning.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lightning_cli_builds_the_documented_module(page: Path) -> None:
    import torch
    from lightning.pytorch.cli import LightningCLI

    script = _lightning_script(page)
    command, _ = _page_run("lightning")
    args = [a for a in command[2:] if not a.startswith(("fit", "--trainer."))]
    with warnings.catch_warnings():
        # Lightning's own advice on the console (loggers, workers, deprecations inside it) is not under test here
        warnings.simplefilter("ignore")
        cli = LightningCLI(script.Classifier, script.RandomImages, run=False,
                           args=[*args, "--trainer.logger=false", "--trainer.enable_checkpointing=false",
                                 "--trainer.accelerator=cpu"])
    model = cli.model.model
    assert sum(p.numel() for p in model.parameters()) == netspec.summary("zoo/resnet18", overrides=SMALL).total_params
    images, labels = next(iter(cli.datamodule.train_dataloader()))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # self.log outside a Trainer loop warns
        loss = cli.model.training_step((images, labels), 0)
    loss.backward()
    assert torch.isfinite(loss) and model.fc.weight.grad is not None
    assert tuple(cli.model(images).shape) == (images.shape[0], 10)


@pytest.mark.slow
def test_lightning_command_line_as_documented(page: Path) -> None:
    command, _ = _page_run("lightning")
    done = subprocess.run([sys.executable, *command[1:]], cwd=page, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr[-3000:]
    assert "`Trainer.fit` stopped: `max_steps=1` reached." in done.stdout + done.stderr


def test_plain_script_as_documented(page: Path, monkeypatch: pytest.MonkeyPatch, capsys: Any) -> None:
    command, expected = _page_run("plain")
    monkeypatch.setattr(sys, "argv", command[1:])
    runpy.run_path(str(page / "train_plain.py"), run_name="__main__")
    out = capsys.readouterr().out.splitlines()
    assert out[: len(expected)] == expected
    assert re.fullmatch(r"loss \d+\.\d{3}", out[-1]), out
