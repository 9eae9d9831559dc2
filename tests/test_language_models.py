"""The zoo's language models against Hugging Face transformers (tests/data/transformers_reference.json).

``specs/zoo/gpt2.yaml`` is transformers' ``GPT2LMHeadModel`` and ``specs/zoo/llama.yaml`` its
``LlamaForCausalLM``: the same state_dict keys in the same order and shapes, the tied pair one Parameter,
the same unique parameter count, and, with a tiny config's values as overrides, the same float64 logits
under the shared fill (tests/zoo_reference.py).  The full-size configs are laid out on meta.  Then the
things a transformer adds: ties that survive saving and loading, buffers that move with the module and stay
out of the state_dict, torch.compile(fullgraph) and torch.export with dynamic batch and length.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
import torch

import netspec
from tests.zoo_reference import fill, probe_ids

ROOT = Path(__file__).resolve().parent.parent
REFERENCE: dict[str, Any] = json.loads((ROOT / "tests" / "data" / "transformers_reference.json").read_text())["models"]
SPEC = {"gpt2": "zoo/gpt2", "gpt2_tiny": "zoo/gpt2", "llama_1b": "zoo/llama", "llama_tiny": "zoo/llama"}
TINY = ("gpt2_tiny", "llama_tiny")


def _load(name: str, **kwargs: Any) -> torch.nn.Module:
    return netspec.load(SPEC[name], **REFERENCE[name]["config"], **kwargs)


@pytest.mark.parametrize("name", sorted(SPEC))
def test_layout_matches_transformers(name: str) -> None:
    ref = REFERENCE[name]
    model = _load(name, device="meta")
    state = model.state_dict()
    assert [[k, list(v.shape)] for k, v in state.items()] == ref["state_dict"]  # keys, order, shapes
    assert sum(p.numel() for p in model.parameters()) == ref["params"]  # each tied Parameter once
    assert netspec.summary(SPEC[name], overrides=ref["config"]).total_params == ref["params"]
    for a, b in ref["tied"]:
        assert state[a] is state[b] or state[a].untyped_storage() is state[b].untyped_storage()
    tied = {name for pair in ref["tied"] for name in pair}
    params = dict(model.named_parameters(remove_duplicate=False))
    assert len({id(p) for p in params.values()}) == len(params) - len(ref["tied"])
    assert all((params[a] is params[b]) for a, b in ref["tied"]) and tied <= set(params)


@pytest.mark.parametrize("name", TINY)
def test_logits_match_transformers(name: str) -> None:
    ref = REFERENCE[name]
    model = _load(name).double().eval()
    fill(model)
    with torch.no_grad():
        logits = model(probe_ids(2, 8, ref["config"]["vocab_size"]))
    expected = torch.tensor(ref["output"], dtype=torch.float64).reshape(ref["output_shape"])
    torch.testing.assert_close(logits, expected, rtol=ref["rtol"], atol=ref["atol"])


def test_tie_is_one_parameter_through_saving_and_training() -> None:
    model = _load("gpt2_tiny")
    assert model.lm_head.weight is model.transformer.wte.weight
    buffer = io.BytesIO()
    torch.save(model, buffer)
    buffer.seek(0)
    again = torch.load(buffer, weights_only=False)
    assert again.lm_head.weight is again.transformer.wte.weight  # pickled as one tensor
    fresh = _load("gpt2_tiny")
    fresh.load_state_dict(model.state_dict())
    assert fresh.lm_head.weight is fresh.transformer.wte.weight
    torch.testing.assert_close(fresh.lm_head.weight, model.transformer.wte.weight)
    optimizer = torch.optim.SGD(fresh.parameters(), lr=1.0)
    fresh(probe_ids(2, 5, 1000)).square().mean().backward()
    optimizer.step()  # one update, seen under both names
    assert fresh.lm_head.weight is fresh.transformer.wte.weight


def test_a_tie_whose_condition_is_false_is_not_made() -> None:
    config = {**REFERENCE["llama_tiny"]["config"], "tie_word_embeddings": True}
    tied = netspec.load("zoo/llama", device="meta", **config)
    untied = _load("llama_tiny", device="meta")
    assert tied.lm_head.weight is tied.model.embed_tokens.weight
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight
    count = REFERENCE["llama_tiny"]["params"]
    assert sum(p.numel() for p in tied.parameters()) == count - 1000 * 64
    summary = netspec.summary("zoo/llama", overrides=config)
    assert summary.total_params == count - 1000 * 64
    # the class takes tie_word_embeddings as a constructor argument (issue 19): the tie is made when it holds
    assert "        if tie_word_embeddings:\n            self.lm_head.weight = self.model.embed_tokens.weight\n" in \
        netspec.compile_source("zoo/llama", overrides=REFERENCE["llama_tiny"]["config"])


def test_rope_buffer_is_transformers_inv_freq_and_stays_out_of_the_state_dict() -> None:
    model = _load("llama_tiny")
    buffers = dict(model.named_buffers())
    assert list(buffers) == ["model.inv_freq"] and "model.inv_freq" not in model.state_dict()
    head_dim, theta = 64 // 4, REFERENCE["llama_tiny"]["config"]["rope_theta"]
    expected = 1.0 / (theta ** (torch.arange(0, head_dim, 2, dtype=torch.int64).float() / head_dim))
    assert torch.equal(buffers["model.inv_freq"], expected)  # transformers' default rope init, bit for bit
    assert model.double().model.inv_freq.dtype == torch.float64  # moves with the module
    meta = _load("llama_tiny", device="meta")
    assert meta.model.inv_freq.is_meta  # made on the module's device: nothing allocated


@pytest.mark.slow
@pytest.mark.parametrize("name", TINY)
def test_compile_fullgraph_and_export_with_dynamic_batch_and_length(name: str) -> None:
    model = _load(name).eval()
    vocab = REFERENCE[name]["config"]["vocab_size"]
    ids = probe_ids(2, 8, vocab)
    other = probe_ids(3, 11, vocab)
    with torch.no_grad():
        expected, expected_other = model(ids), model(other)
        compiled = torch.compile(model, fullgraph=True, dynamic=True, backend="aot_eager")  # no C++ compiler needed
        torch.testing.assert_close(compiled(ids), expected, rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(compiled(other), expected_other, rtol=1e-4, atol=1e-4)
    batch, length = torch.export.Dim("batch", max=64), torch.export.Dim("length", min=2, max=64)
    program = torch.export.export(model, (ids,), dynamic_shapes={"input_ids": {0: batch, 1: length}})
    with torch.no_grad():
        torch.testing.assert_close(program.module()(other), expected_other, rtol=1e-5, atol=1e-5)
