"""Hugging Face files: a config.json read into a spec's vars (netspec/frontend/hf_config.py) and safetensors
checkpoints, single or sharded, loaded strictly into the built module (netspec/backend/weights.py).

The config tests need nothing optional; the checkpoint tests need the hf extra (safetensors, in the test
extra) and skip without it, saying how to get it; the missing-extra message is tested by hiding the package.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

import netspec
from netspec.frontend import hf_config
from tests.conftest import SPECS_DIR, run_cli

MLP = SPECS_DIR / "mlp.yaml"

# A small spec with vars of every kind a config sets, and two layers of one shape (so they can be tied).
TWIN = """\
netspec: 1
name: Twin
vars: {width: 8, out: 8, eps: 1.0e-5, flag: false, sizes: [1, 2], label: x}
inputs:
  x: [N, width]
layers:
  a: {type: Linear, out_features: out}
  b: {type: Linear, out_features: out}
"""


def _st() -> Any:
    return pytest.importorskip("safetensors.torch", reason="the hf extra: pip install 'netspec[hf]'")


@pytest.fixture
def twin(tmp_path: Path) -> Path:
    path = tmp_path / "twin.yaml"
    path.write_text(TWIN, encoding="utf-8")
    return path


def _json(tmp_path: Path, data: Any, name: str = "config.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data, indent=2) if not isinstance(data, str) else data, encoding="utf-8")
    return path


def _codes(exc: pytest.ExceptionInfo[netspec.SpecError]) -> list[str]:
    return [d.code for d in exc.value.diagnostics]


# ---------------------------------------------------------------- config.json -> vars


def test_config_fields_that_name_vars_set_them(twin: Path, tmp_path: Path) -> None:
    config = _json(tmp_path, {"width": 16, "out": 4, "eps": 1, "flag": True, "sizes": [3], "label": "y"})
    result = netspec.summary(twin, config=config)
    assert result.vars == {"width": 16, "out": 4, "eps": 1, "flag": True, "sizes": [3], "label": "y"}
    assert result.total_params == 16 * 4 + 4 + 4 * 4 + 4
    assert netspec.load(twin, config=config).a.weight.shape == (4, 16)


def test_bookkeeping_null_and_off_fields_are_ignored(twin: Path, tmp_path: Path) -> None:
    config = _json(tmp_path, {
        "architectures": ["LlamaForCausalLM"], "model_type": "llama", "torch_dtype": "bfloat16",
        "transformers_version": "4.44.0", "bos_token_id": 1, "eos_token_id": [2, 3], "pad_token_id": None,
        "use_cache": True, "initializer_range": 0.02, "attention_dropout": 0.0, "rope_scaling": None,
        "attention_bias": False, "mlp_bias": False, "pretraining_tp": 1, "width": 8})
    assert netspec.summary(twin, config=config).total_params == 2 * (8 * 8 + 8)
    for name in ("architectures", "model_type", "torch_dtype", "dtype", "transformers_version", "bos_token_id",
                 "eos_token_id", "pad_token_id", "use_cache", "initializer_range", "attention_dropout"):
        assert name in hf_config.IGNORED_FIELDS


def test_a_field_that_names_a_var_sets_it_even_when_it_is_bookkeeping(tmp_path: Path) -> None:
    spec = tmp_path / "drop.yaml"
    spec.write_text("netspec: 1\nname: D\nvars: {attention_dropout: 0.5}\ninputs: {x: [N, 4]}\n"
                    "layers:\n  drop: {type: Dropout, p: attention_dropout}\n", encoding="utf-8")
    config = _json(tmp_path, {"attention_dropout": 0.25})
    source = netspec.compile_source(spec, config=config)  # the vars: constructor arguments (issue 19)
    assert "attention_dropout=0.25" in source and "nn.Dropout(p=attention_dropout)" in source


@pytest.mark.parametrize("field, value", [
    ("rope_scaling", {"type": "linear", "factor": 2.0}),
    ("attention_bias", True),
    ("mlp_bias", True),
    ("hidden_act", "gelu"),
    ("tie_word_embeddings", False),
    ("hidden_size", 4096),
])
def test_fields_the_spec_cannot_express_are_refused_by_name(twin: Path, tmp_path: Path, field: str,
                                                           value: Any) -> None:
    config = _json(tmp_path, {"model_type": "llama", "width": 8, field: value})
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(twin, config=config)
    (d,) = caught.value.diagnostics
    assert d.code == "unknown-config-field"
    assert f"'{field}'" in d.message and json.dumps(value)[:20] in d.message
    assert d.span is not None and d.span.file == str(config) and d.span.line == 4 and d.span.col == 3
    assert d.hint is not None and "width, out, eps, flag, sizes, label" in d.hint


def test_every_refused_field_is_reported_at_once(twin: Path, tmp_path: Path) -> None:
    config = _json(tmp_path, {"attention_bias": True, "widht": 9, "eps": "small"})
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(twin, config=config)
    assert _codes(caught) == ["unknown-config-field", "unknown-config-field", "bad-config-value"]
    assert "did you mean 'width'" in (caught.value.diagnostics[1].hint or "")
    assert [d.span.line for d in caught.value.diagnostics if d.span] == [2, 3, 4]


def test_explicit_overrides_win_over_the_config(twin: Path, tmp_path: Path) -> None:
    config = _json(tmp_path, {"width": 16, "out": 4})
    assert netspec.summary(twin, config=config, overrides={"out": 2}).total_params == 16 * 2 + 2 + 2 * 2 + 2
    model = netspec.load(twin, config=config, out=2)
    assert model.a.weight.shape == (2, 16)
    # a field whose var is set explicitly is not used, nor checked: --set mends a config that does not fit
    bad = _json(tmp_path, {"out": "four", "width": 16}, "bad.json")
    with pytest.raises(netspec.SpecError, match="bad-config-value"):
        netspec.summary(twin, config=bad)
    assert netspec.summary(twin, config=bad, overrides={"out": 2}).vars["out"] == 2
    # an unknown field is not mended so: no var takes it
    unknown = _json(tmp_path, {"hidden_act": "gelu"}, "unknown.json")
    with pytest.raises(netspec.SpecError, match="unknown-config-field"):
        netspec.summary(twin, config=unknown, overrides={"out": 2})


@pytest.mark.parametrize("field, value, expected", [
    ("width", "8", "an integer"),
    ("width", 8.0, "an integer"),
    ("width", True, "an integer"),
    ("eps", False, "a number"),
    ("flag", 0, "a boolean"),
    ("sizes", 3, "a list"),
    ("out", {"a": 1}, "JSON object"),
])
def test_a_value_that_does_not_fit_its_var_is_refused_at_the_config(twin: Path, tmp_path: Path, field: str,
                                                                    value: Any, expected: str) -> None:
    config = _json(tmp_path, {field: value})
    with pytest.raises(netspec.SpecError) as caught:
        netspec.compile_spec(twin, config=config)
    (d,) = caught.value.diagnostics
    assert d.code == "bad-config-value" and expected in d.message
    assert d.span is not None and (d.span.file, d.span.line) == (str(config), 2)


def test_null_keeps_a_derived_var_and_is_refused_for_a_fixed_one(tmp_path: Path) -> None:
    spec = tmp_path / "derived.yaml"
    spec.write_text("netspec: 1\nname: D\nvars: {n_embd: 4, n_inner: 4 * n_embd, fixed: 3}\ninputs: {x: [N, n_embd]}\n"
                    "layers:\n  fc: {type: Linear, out_features: n_inner}\n", encoding="utf-8")
    assert netspec.summary(spec, config=_json(tmp_path, {"n_embd": 2, "n_inner": None})).vars["n_inner"] == 8
    with pytest.raises(netspec.SpecError) as caught:
        netspec.summary(spec, config=_json(tmp_path, {"fixed": None}))
    (d,) = caught.value.diagnostics
    assert d.code == "bad-config-value" and "--set fixed=VALUE" in (d.hint or "")
    assert netspec.summary(spec, config=_json(tmp_path, {"fixed": None}), overrides={"fixed": 5}).vars["fixed"] == 5


# A Llama 3.2 1B config.json as the Hub has it.
LLAMA_CONFIG = {
    "architectures": ["LlamaForCausalLM"], "attention_bias": False, "attention_dropout": 0.0,
    "bos_token_id": 128000, "eos_token_id": 128001, "head_dim": 64, "hidden_act": "silu", "hidden_size": 2048,
    "initializer_range": 0.02, "intermediate_size": 8192, "max_position_embeddings": 131072, "mlp_bias": False,
    "model_type": "llama", "num_attention_heads": 32, "num_hidden_layers": 16, "num_key_value_heads": 8,
    "pretraining_tp": 1, "rms_norm_eps": 1e-05,
    "rope_scaling": {"factor": 32.0, "high_freq_factor": 4.0, "low_freq_factor": 1.0,
                     "original_max_position_embeddings": 8192, "rope_type": "llama3"},
    "rope_theta": 500000.0, "tie_word_embeddings": True, "torch_dtype": "bfloat16", "transformers_version": "4.45.0",
    "use_cache": True, "vocab_size": 128256}


def test_a_real_config_is_refused_only_where_the_spec_is_silent(tmp_path: Path) -> None:
    names = ["vocab_size", "hidden_size", "intermediate_size", "num_hidden_layers", "num_attention_heads",
             "num_key_value_heads", "max_position_embeddings", "rope_theta", "rms_norm_eps", "tie_word_embeddings"]
    written = {name: LLAMA_CONFIG[name] for name in names}
    spec = tmp_path / "vars.yaml"
    spec.write_text("netspec: 1\nname: V\nvars: " + json.dumps({**written, "head_dim": "hidden_size // 32"})
                    + "\ninputs: {x: [N, 4]}\nlayers:\n  fc: {type: Linear, out_features: 4}\n", encoding="utf-8")
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(spec, config=_json(tmp_path, LLAMA_CONFIG))
    assert [(d.code, d.message.split("'")[1]) for d in caught.value.diagnostics] == [
        ("unknown-config-field", "hidden_act"), ("unknown-config-field", "rope_scaling")]


def test_a_float_var_takes_an_integer_and_a_string_var_takes_anything(twin: Path, tmp_path: Path) -> None:
    netspec.validate(twin, config=_json(tmp_path, {"eps": 1, "label": 3}))


@pytest.mark.parametrize("text, code, line", [
    ('{"width": 8,,}', "bad-config", 1),
    ('{\n  "width": 8\n  "out": 4\n}', "bad-config", 3),
    ("[1, 2]", "bad-config", 1),
    ('"config"', "bad-config", 1),
    ("", "bad-config", 1),
    ('{"width": 8, "width": 16}', "bad-config", 1),
])
def test_a_config_that_is_not_one_json_object_is_refused(twin: Path, tmp_path: Path, text: str, code: str,
                                                         line: int) -> None:
    config = _json(tmp_path, text)
    with pytest.raises(netspec.SpecError) as caught:
        netspec.compile_spec(twin, config=config)
    (d,) = caught.value.diagnostics
    assert (d.code, d.span and d.span.file, d.span and d.span.line) == (code, str(config), line)


def test_a_missing_or_unreadable_config_is_refused(twin: Path, tmp_path: Path) -> None:
    for config in (tmp_path / "nope.json", tmp_path):
        with pytest.raises(netspec.SpecError) as caught:
            netspec.compile_spec(twin, config=config)
        assert _codes(caught) == ["config-unreadable"] and str(config) in str(caught.value)
    latin = tmp_path / "latin.json"
    latin.write_bytes(b'{"label": "caf\xe9"}')
    with pytest.raises(netspec.SpecError, match="not UTF-8"):
        netspec.compile_spec(twin, config=latin)


def test_a_config_with_a_bom_and_a_key_with_escapes_is_read(twin: Path, tmp_path: Path) -> None:
    config = tmp_path / "bom.json"
    config.write_bytes('\ufeff{"w\\u0069dth": 4, "out": 2}'.encode())
    assert netspec.summary(twin, config=config).total_params == 4 * 2 + 2 + 2 * 2 + 2


def test_a_spec_without_vars_takes_only_bookkeeping(tmp_path: Path) -> None:
    netspec.validate(MLP, config=_json(tmp_path, {"model_type": "mlp", "torch_dtype": "float32"}))
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate(MLP, config=_json(tmp_path, {"hidden_size": 256}))
    assert "the spec declares no vars" in (caught.value.diagnostics[0].hint or "")


def test_the_config_sets_vars_a_base_spec_declares(tmp_path: Path) -> None:
    (tmp_path / "base.yaml").write_text(TWIN, encoding="utf-8")
    child = tmp_path / "child.yaml"
    child.write_text("extends: base.yaml\nvars: {out: 2}\n", encoding="utf-8")
    assert netspec.summary(child, config=_json(tmp_path, {"width": 4})).total_params == 4 * 2 + 2 + 2 * 2 + 2


def test_the_config_is_read_torch_free(twin: Path, tmp_path: Path) -> None:
    config = _json(tmp_path, {"width": 16, "model_type": "twin"})
    code = ("import sys\nfrom netspec.tools.cli import main\ntry:\n    main(sys.argv[1:])\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\nsys.exit(3 if 'torch' in sys.modules else 0)")
    done = subprocess.run([sys.executable, "-c", code, "validate", str(twin), "--config", str(config)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


# ---------------------------------------------------------------- the command line


def test_cli_config_sets_vars_and_set_wins(twin: Path, tmp_path: Path) -> None:
    config = _json(tmp_path, {"width": 16, "out": 4, "model_type": "twin"})
    result = run_cli("summary", twin, "--config", config, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["total_params"] == 16 * 4 + 4 + 4 * 4 + 4
    result = run_cli("summary", twin, "--config", config, "--set", "out=2", "--json")
    assert json.loads(result.stdout)["total_params"] == 16 * 2 + 2 + 2 * 2 + 2
    assert run_cli("validate", twin, "--config", config).exit_code == 0
    compiled = run_cli("compile", twin, "--config", config).stdout  # the vars: constructor arguments (issue 19)
    assert "width=16,\n        out=4," in compiled and "nn.Linear(width, out" in compiled


def test_cli_reports_a_refused_field_at_its_line(twin: Path, tmp_path: Path) -> None:
    config = _json(tmp_path, {"width": 8, "rope_scaling": {"factor": 8.0}})
    result = run_cli("validate", twin, "--config", config)
    assert result.exit_code == 1
    assert f"{config}:3:3: error[unknown-config-field] config field 'rope_scaling'" in result.stderr
    assert '   3 |   "rope_scaling": {' in result.stderr


# ---------------------------------------------------------------- weights


def _save(tmp_path: Path, tensors: dict[str, torch.Tensor], name: str = "model.safetensors") -> Path:
    path = tmp_path / name
    _st().save_file({k: v.detach().clone().contiguous() for k, v in tensors.items()}, str(path))
    return path


def _same_outputs(a: torch.nn.Module, b: torch.nn.Module, x: torch.Tensor) -> bool:
    a.eval()
    b.eval()
    with torch.no_grad():
        return torch.equal(a(x), b(x))


def test_weights_round_trip(tmp_path: Path) -> None:
    torch.manual_seed(0)
    trained = netspec.load(MLP)
    path = _save(tmp_path, trained.state_dict())
    torch.manual_seed(1)
    fresh = netspec.load(MLP, weights=path)
    assert _same_outputs(trained, fresh, torch.randn(3, 784))
    assert fresh.hidden.weight.requires_grad


def test_weights_load_into_the_modules_dtype(tmp_path: Path) -> None:
    trained = netspec.load(MLP)
    path = _save(tmp_path, trained.state_dict())
    half = netspec.load(MLP, dtype="bf16", weights=path)
    assert half.hidden.weight.dtype == torch.bfloat16
    assert torch.equal(half.hidden.weight, trained.hidden.weight.to(torch.bfloat16))
    saved_half = _save(tmp_path, {k: v.half() for k, v in trained.state_dict().items()}, "half.safetensors")
    full = netspec.load(MLP, weights=saved_half)
    assert full.output.bias.dtype == torch.float32
    assert torch.equal(full.output.bias, trained.output.bias.half().float())


def test_a_sharded_checkpoint_loads_through_its_index(tmp_path: Path) -> None:
    trained = netspec.load("lenet")
    state = trained.state_dict()
    keys = list(state)
    first, second = keys[: len(keys) // 2], keys[len(keys) // 2:]
    shards = tmp_path / "ckpt"
    shards.mkdir()
    _save(shards, {k: state[k] for k in first}, "model-00001-of-00002.safetensors")
    _save(shards, {k: state[k] for k in second}, "model-00002-of-00002.safetensors")
    index = _json(shards, {"metadata": {"total_size": 0}, "weight_map": {
        **dict.fromkeys(first, "model-00001-of-00002.safetensors"),
        **dict.fromkeys(second, "model-00002-of-00002.safetensors")}}, "model.safetensors.index.json")
    fresh = netspec.load("lenet", weights=index)
    assert _same_outputs(trained, fresh, torch.randn(2, 1, 32, 32))


def test_every_mismatch_is_one_diagnostic_all_at_once(tmp_path: Path) -> None:
    state = netspec.load(MLP).state_dict()
    broken = {k: v for k, v in state.items() if k != "hidden.bias"}
    broken["output.weight"] = torch.zeros(10, 255)
    broken["extra.weight"] = torch.zeros(3)
    path = _save(tmp_path, broken)
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(MLP, weights=path)
    by_code = {d.code: d for d in caught.value.diagnostics}
    assert sorted(by_code) == ["missing-weight", "unexpected-weight", "weight-shape-mismatch"]
    assert len(caught.value.diagnostics) == 3
    assert "'hidden.bias'" in by_code["missing-weight"].message and "(256)" in by_code["missing-weight"].message
    assert "'extra.weight' (3)" in by_code["unexpected-weight"].message
    assert ("'output.weight': the module expects shape (10, 256), the checkpoint holds (10, 255)"
            in by_code["weight-shape-mismatch"].message)
    assert all(d.span is not None and d.span.file == str(path) for d in caught.value.diagnostics)


def test_a_prefix_on_every_name_is_named_in_the_hint(tmp_path: Path) -> None:
    state = netspec.load(MLP).state_dict()
    path = _save(tmp_path, {"model." + k: v for k, v in state.items()})
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(MLP, weights=path)
    assert len(caught.value.diagnostics) == 2 * len(state)
    assert all("prefix 'model.'" in (d.hint or "") for d in caught.value.diagnostics)


def _tied(twin: Path) -> torch.nn.Module:
    model = netspec.load(twin)
    model.b.weight = model.a.weight  # as an LM head is tied to its embedding
    return model


def test_a_checkpoint_may_hold_one_name_of_a_tied_tensor(twin: Path, tmp_path: Path) -> None:
    trained = _tied(twin)
    state = {k: v for k, v in trained.state_dict().items() if k != "b.weight"}  # as Hugging Face saves it
    path = _save(tmp_path, state)
    fresh = _tied(twin)
    from netspec.backend.weights import load_weights

    load_weights(fresh, path)
    assert fresh.b.weight is fresh.a.weight and torch.equal(fresh.b.weight, trained.a.weight)
    assert _same_outputs(trained, fresh, torch.randn(2, 8))
    # untied, the same checkpoint lacks b.weight
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(twin, weights=path)
    assert _codes(caught) == ["missing-weight"] and "'b.weight'" in str(caught.value)


def test_both_names_of_a_tied_tensor_must_agree(twin: Path, tmp_path: Path) -> None:
    from netspec.backend.weights import load_weights

    trained = _tied(twin)
    load_weights(_tied(twin), _save(tmp_path, trained.state_dict(), "both.safetensors"))
    untied = netspec.load(twin).state_dict()
    with pytest.raises(netspec.SpecError) as caught:
        load_weights(_tied(twin), _save(tmp_path, untied, "untied.safetensors"))
    assert _codes(caught) == ["tied-weight-mismatch"]


def test_on_meta_the_checkpoint_is_checked_and_nothing_read(tmp_path: Path) -> None:
    path = _save(tmp_path, netspec.load(MLP).state_dict())
    model = netspec.load(MLP, device="meta", weights=path)
    assert model.hidden.weight.is_meta
    wrong = _save(tmp_path, {"hidden.weight": torch.zeros(1)}, "wrong.safetensors")
    with pytest.raises(netspec.SpecError, match="weight-shape-mismatch"):
        netspec.load(MLP, device="meta", weights=wrong)


@pytest.mark.parametrize("case", ["missing", "directory", "not-safetensors", "index-no-map", "index-escape",
                                  "index-wrong-shard", "index-missing-shard"])
def test_an_unreadable_checkpoint_is_refused(tmp_path: Path, case: str) -> None:
    state = netspec.load(MLP).state_dict()
    shard = _save(tmp_path, state, "shard.safetensors")
    weight_map = dict.fromkeys(state, "shard.safetensors")
    path: Path = {
        "missing": lambda: tmp_path / "nope.safetensors",
        "directory": lambda: tmp_path,
        "not-safetensors": lambda: _json(tmp_path, "not a checkpoint", "bad.safetensors"),
        "index-no-map": lambda: _json(tmp_path, {"metadata": {}}, "a.index.json"),
        "index-escape": lambda: _json(tmp_path, {"weight_map": {**weight_map, "hidden.weight": "../x.safetensors"}},
                                      "b.index.json"),
        "index-wrong-shard": lambda: _json(tmp_path, {"weight_map": {**weight_map, "extra": "shard.safetensors"}},
                                           "c.index.json"),
        "index-missing-shard": lambda: _json(tmp_path, {"weight_map": {**weight_map, "x": "gone.safetensors"}},
                                             "d.index.json"),
    }[case]()
    assert shard.exists()
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(MLP, weights=path)
    assert set(_codes(caught)) == {"weights-unreadable"}, str(caught.value)


def test_without_the_extra_weights_say_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # needs no safetensors: the import is made to fail, as it does where the package is not installed
    monkeypatch.setitem(sys.modules, "safetensors", None)
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)
    with pytest.raises(netspec.SpecError) as caught:
        netspec.load(MLP, weights=tmp_path / "model.safetensors")
    (d,) = caught.value.diagnostics
    assert d.code == "missing-extra" and "pip install 'netspec[hf]'" in (d.hint or "")
    result = run_cli("export", MLP, "--onnx", tmp_path / "m.onnx", "--weights", tmp_path / "model.safetensors")
    assert result.exit_code == 1
    if "onnx extra" not in result.stderr:  # the onnx extra is checked first
        assert "error[missing-extra]" in result.stderr and "pip install 'netspec[hf]'" in result.stderr


def test_cli_export_loads_weights(tmp_path: Path) -> None:
    pytest.importorskip("onnx", reason="the onnx extra: pip install 'netspec[onnx]'")
    pytest.importorskip("onnxscript", reason="the onnx extra: pip install 'netspec[onnx]'")
    onnxruntime = pytest.importorskip("onnxruntime", reason="the onnx extra: pip install 'netspec[onnx]'")
    torch.manual_seed(3)
    trained = netspec.load(MLP).eval()
    path = _save(tmp_path, trained.state_dict())
    out = tmp_path / "mlp.onnx"
    result = run_cli("export", MLP, "--onnx", out, "--weights", path)
    assert result.exit_code == 0, result.output
    x = torch.randn(2, 784)
    session = onnxruntime.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    (got,) = session.run(None, {"x": x.numpy()})
    with torch.no_grad():
        torch.testing.assert_close(torch.from_numpy(got), trained(x), rtol=1e-4, atol=1e-5)


def test_cli_export_reports_a_checkpoint_mismatch(tmp_path: Path) -> None:
    pytest.importorskip("onnxscript", reason="the onnx extra: pip install 'netspec[onnx]'")
    path = _save(tmp_path, {"hidden.weight": torch.zeros(2, 2)})
    result = run_cli("export", MLP, "--onnx", tmp_path / "m.onnx", "--weights", path)
    assert result.exit_code == 1
    assert "error[weight-shape-mismatch] 'hidden.weight'" in result.stderr
    assert "error[missing-weight]" in result.stderr and not (tmp_path / "m.onnx").exists()


TRANSFORMERS_5_LLAMA = {
    "architectures": ["LlamaForCausalLM"], "model_type": "llama", "dtype": "float32", "transformers_version": "5.25.0",
    "hidden_size": 64, "intermediate_size": 172, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "vocab_size": 1000, "max_position_embeddings": 256, "rms_norm_eps": 1e-05,
    "tie_word_embeddings": False, "hidden_act": "silu", "is_decoder": False, "attention_bias": False,
    "mlp_bias": False, "rope_parameters": {"rope_theta": 20000.0, "rope_type": "default"},
}


def test_transformers_5_nested_rope_parameters_set_the_zoo_llama(tmp_path: Path) -> None:
    summary = netspec.summary("zoo/llama", config=_json(tmp_path, TRANSFORMERS_5_LLAMA))
    assert summary.vars["rope_theta"] == 20000.0 and summary.vars["num_hidden_layers"] == 2
    scaled = {**TRANSFORMERS_5_LLAMA, "rope_parameters": {"rope_theta": 5e5, "rope_type": "llama3", "factor": 8.0}}
    with pytest.raises(netspec.SpecError) as caught:
        netspec.validate("zoo/llama", config=_json(tmp_path, scaled, "scaled.json"))
    assert [d.message.split("'")[1] for d in caught.value.diagnostics] == [
        "rope_parameters.rope_type", "rope_parameters.factor"]
