"""Buffers (``buffers:``) and tied parameters (``ties:``) of a built module against the torch expressions they
stand for: values, shapes, dtypes, persistence, ``.to()``, the meta device; one Parameter per tie, counted once,
the state_dict keys unchanged, and bad ties refused with 'bad-tie'."""

from __future__ import annotations

import contextlib

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import netspec
from netspec.errors import SpecError
from tests.forward_lang import refusal_code

DTYPES = ["float32", "float64", "float16", "bfloat16", "int64", "int32", "bool"]


def cases(n: int) -> settings:
    return settings(derandomize=True, deadline=None, max_examples=n, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def with_buffer(entry: str, extra: str = "") -> str:
    return ("netspec: 1\nname: B\ninputs:\n  x: [N, 4]\nvars: {d: 8, L: 5}\n" + extra +
            f"buffers:\n  b: {entry}\nforward:\n  - return x + b.sum()\n")


def built_buffer(entry: str) -> torch.Tensor:
    return netspec.loads(with_buffer(entry)).b


def rope(dim: int, theta: float) -> torch.Tensor:
    """transformers' inv_freq (LlamaRotaryEmbedding's default rope init)."""
    return 1.0 / (theta ** (torch.arange(0, dim, 2, dtype=torch.int64).float() / dim))


def assert_same(ours: torch.Tensor, want: torch.Tensor) -> None:
    assert ours.dtype == want.dtype and ours.shape == want.shape, (ours.dtype, ours.shape, want.dtype, want.shape)
    assert torch.equal(ours, want), (ours, want)


# ---------------------------------------------------------------- values


@cases(120)
@given(shape=st.lists(st.integers(1, 4), min_size=0, max_size=3), dtype=st.sampled_from([None, *DTYPES]),
       fill=st.sampled_from(["zeros", "ones", "full"]), value=st.sampled_from([0, 1, -2, 2.5]))
def test_constant_fills(shape: list[int], dtype: str | None, fill: str, value: object) -> None:
    init = f"{{full: {{value: {str(value).lower()}}}}}" if fill == "full" else fill
    entry = f"{{shape: {shape}, init: {init}" + (f", dtype: {dtype}" if dtype else "") + "}"
    tdtype = getattr(torch, dtype) if dtype else torch.float32
    if fill == "full":
        try:
            # no dtype: the module's floating dtype (docs/spec.md, buffers), whatever the value's type
            want = torch.full(shape, value, dtype=tdtype)  # type: ignore[arg-type]
        except RuntimeError:
            assert refusal_code(with_buffer(entry)) is not None
            return
    else:
        want = getattr(torch, fill)(shape, dtype=tdtype)
    assert_same(built_buffer(entry), want)


@cases(100)
@given(shape=st.lists(st.integers(1, 5), min_size=2, max_size=4), diagonal=st.integers(-6, 6),
       fill=st.sampled_from(["tril", "triu"]), dtype=st.sampled_from([None, "bool", "float32", "int64", "float16"]))
def test_triangle_fills(shape: list[int], diagonal: int, fill: str, dtype: str | None) -> None:
    typed = f", dtype: {dtype}" if dtype else ""
    entry = f"{{shape: {shape}, init: {{{fill}: {{diagonal: {diagonal}}}}}{typed}}}"
    tdtype = getattr(torch, dtype) if dtype else torch.float32
    want = getattr(torch.ones(shape, dtype=tdtype), fill)(diagonal)
    assert_same(built_buffer(entry), want)


@cases(100)
@given(start=st.integers(-5, 5), end=st.integers(-5, 12), step=st.integers(1, 4),
       dtype=st.sampled_from([None, "int64", "float32", "float64", "int32"]))
def test_arange_fill(start: int, end: int, step: int, dtype: str | None) -> None:
    typed = f", dtype: {dtype}" if dtype else ""
    entry = f"{{init: {{arange: {{start: {start}, end: {end}, step: {step}}}}}{typed}}}"
    if end < start:
        return  # torch raises; netspec builds nothing but fails at build time: the xfail below
    if end <= start:
        # an empty or backwards arange: torch.arange(5, 2) raises, arange(2, 2) is empty
        code = refusal_code(with_buffer(entry))
        try:
            torch.arange(start, end, step)
        except RuntimeError:
            assert code is not None
        return
    want = torch.arange(start, end, step, dtype=getattr(torch, dtype) if dtype else torch.int64)
    assert_same(built_buffer(entry), want)


@pytest.mark.parametrize("dim,theta,dtype", [(8, 10000.0, None), (64, 10000.0, None), (6, 500.0, "float64"),
                                             (2, 1.0, None), (128, 500000.0, "bfloat16"), (10, 3.0, "float16")])
def test_rope_fill_is_transformers_inv_freq(dim: int, theta: float, dtype: str | None) -> None:
    entry = f"{{init: {{rope: {{dim: {dim}, theta: {theta}}}}}" + (f", dtype: {dtype}" if dtype else "") + "}"
    want = rope(dim, theta).to(getattr(torch, dtype) if dtype else torch.float32)
    assert_same(built_buffer(entry), want)


def test_expressions_over_vars() -> None:
    assert_same(built_buffer("{init: {rope: {dim: d // 2}}}"), rope(4, 10000.0))
    assert_same(built_buffer("{shape: [L, L], init: tril, dtype: bool}"), torch.ones(5, 5, dtype=torch.bool).tril())
    assert_same(built_buffer("{init: {arange: {end: L * 2}}}"), torch.arange(10))


# ---------------------------------------------------------------- persistence, .to(), meta, blocks

SPEC = """\
netspec: 1
name: Model
vars: {heads: 2, width: 8}
inputs:
  x: [N, T, 8]
blocks:
  Attn:
    args: {dim: int, n_head: int, ctx: 6}
    inputs: {x: [N, T, dim]}
    buffers:
      inv_freq: {init: {rope: {dim: dim // n_head}}, persistent: false}
      mask: {shape: [ctx, ctx], init: tril, dtype: bool}
      scale: {shape: [1], init: {full: {value: 0.5}}, dtype: float64}
    layers:
      proj: {type: Linear, out_features: dim}
    forward:
      - B, T, C = x.shape
      - h = proj(x) * scale.float()
      - return h + inv_freq.sum() + mask[:T, :T].float().sum()
buffers:
  pos: {init: {arange: {end: 6}}}
layers:
  a: {type: Attn, dim: width, n_head: heads}
  b: {type: Attn, dim: width, n_head: 4, ctx: 3}
forward:
  - return b(a(x))
"""


def test_block_buffers_follow_block_arguments() -> None:
    m = netspec.loads(SPEC)
    assert_same(m.a.inv_freq, rope(4, 10000.0))
    assert_same(m.b.inv_freq, rope(2, 10000.0))
    assert_same(m.a.mask, torch.ones(6, 6, dtype=torch.bool).tril())
    assert_same(m.b.mask, torch.ones(3, 3, dtype=torch.bool).tril())
    assert_same(m.a.scale, torch.full((1,), 0.5, dtype=torch.float64))
    assert m(torch.zeros(2, 3, 8)).shape == (2, 3, 8)


def test_non_persistent_buffers_are_not_in_the_state_dict() -> None:
    m = netspec.loads(SPEC)
    keys = set(m.state_dict())
    assert {"pos", "a.mask", "a.scale", "b.mask", "b.scale"} <= keys
    assert not any("inv_freq" in k for k in keys)
    assert {n for n, _ in m.named_buffers()} >= {"a.inv_freq", "b.inv_freq"}


def test_to_float64_moves_float_buffers_only() -> None:
    m = netspec.loads(SPEC).to(torch.float64)
    ref = torch.nn.Module()
    ref.register_buffer("f", torch.zeros(1))
    ref.register_buffer("i", torch.zeros(1, dtype=torch.int64))
    ref.register_buffer("b", torch.zeros(1, dtype=torch.bool))
    ref.to(torch.float64)
    assert m.a.inv_freq.dtype == ref.f.dtype
    assert m.pos.dtype == ref.i.dtype and m.a.mask.dtype == ref.b.dtype
    assert m.a.proj.weight.dtype == torch.float64


def test_meta_device() -> None:
    m = netspec.loads(SPEC, device="meta")
    for name, b in m.named_buffers():
        assert b.is_meta, name
    assert m.a.inv_freq.shape == (2,) and m.a.mask.dtype == torch.bool


# ---------------------------------------------------------------- ties

TIED = """\
netspec: 1
name: LM
vars: {tie: true, vocab: 11, d: 6}
inputs:
  ids: {shape: [N, T], dtype: int64}
layers:
  wte: {type: Embedding, num_embeddings: vocab, embedding_dim: d}
  body:
    - {type: Linear, in_features: d, out_features: d}
    - {type: Linear, in_features: d, out_features: d}
  head: {type: Linear, in_features: d, out_features: vocab, bias: false}
ties:
  head.weight: {to: wte.weight, if: tie}
forward:
  - return head(body(wte(ids)))
"""


def untied_keys() -> list[str]:
    return list(netspec.loads(TIED.replace("tie: true", "tie: false")).state_dict())


def test_tie_is_one_parameter_and_keeps_the_keys() -> None:
    m = netspec.loads(TIED)
    assert m.head.weight is m.wte.weight
    assert list(m.state_dict()) == untied_keys()
    unique = sum(p.numel() for p in m.parameters())
    assert unique == 11 * 6 + 2 * (36 + 6)
    assert netspec.summary(text=TIED).total_params == unique
    out = m(torch.zeros(2, 3, dtype=torch.long))
    out.sum().backward()
    assert m.wte.weight.grad is not None


def test_condition_false_is_not_tied() -> None:
    m = netspec.loads(TIED.replace("tie: true", "tie: false"))
    assert m.head.weight is not m.wte.weight
    assert netspec.summary(text=TIED.replace("tie: true", "tie: false")).total_params == 2 * 11 * 6 + 2 * 42


def test_tie_into_a_sequential_index() -> None:
    text = TIED.replace("head.weight: {to: wte.weight, if: tie}", "body.1.weight: body.0.weight")
    m = netspec.loads(text)
    assert m.body[1].weight is m.body[0].weight
    assert netspec.summary(text=text).total_params == sum(p.numel() for p in m.parameters())


def tie_code(ties: str) -> str | None:
    return refusal_code(TIED.replace("  head.weight: {to: wte.weight, if: tie}", ties))


@pytest.mark.parametrize("ties", [
    "  head.weight: wte.wieght",                 # unknown path
    "  head.weight: nowhere.weight",
    "  head.weight: body.0.weight",              # shape mismatch (11, 6) vs (6, 6)
    "  head.weight: head.weight",                # self-tie
    "  body.1.weight: body.0.weight\n  body.1.weight: body.0.weight",  # the same key twice (YAML duplicate)
    "  body.1.bias: body.0.bias\n  head.weight: body.1.bias",
    "  body.5.weight: body.0.weight",            # a Sequential index out of range
    "  head.bias: wte.weight",                   # bias=false: no such parameter
    "  body.1.weight: body.0.bias",              # (6, 6) vs (6,)
])
def test_bad_ties_refused(ties: str) -> None:
    code = tie_code(ties)
    assert code is not None and code in ("bad-tie", "duplicate-key", "yaml-duplicate-key"), code


def test_double_tie_refused() -> None:
    """One parameter tied twice (two keys tied to each other in a chain)."""
    assert tie_code("  body.1.weight: body.0.weight\n  body.0.weight: body.1.weight") == "bad-tie"
    assert tie_code("  body.1.weight: body.0.weight\n  body.0.weight: wte.weight") is not None


def test_tie_to_an_unknown_layer_type_shape_refused() -> None:
    text = TIED.replace("  head: {type: Linear, in_features: d, out_features: vocab, bias: false}",
                        "  head: {type: Linear, in_features: d, out_features: vocab, bias: false}\n"
                        "  rnn: {type: GRU, input_size: d, hidden_size: d}")
    code = refusal_code(text.replace("  head.weight: {to: wte.weight, if: tie}", "  rnn.weight_ih_l0: wte.weight"))
    assert code == "bad-tie"


def test_tie_never_raises_anything_but_spec_error() -> None:
    for ties in ["  head.weight: ''", "  head.weight: '.'", "  head.weight: {to: 3}", "  head.weight: [wte.weight]",
                 "  '': wte.weight", "  head.weight: {to: wte.weight, if: nope}", "  head.weight: {if: tie}",
                 "  head.weight: {to: wte.weight, if: vocab}", "  head.weight: body..weight",
                 "  head.weight: body.-1.weight", "  head.weight: body.01.weight", "  head.weight: __class__"]:
        with contextlib.suppress(SpecError):
            netspec.compile_string(TIED.replace("  head.weight: {to: wte.weight, if: tie}", ties))


# ---------------------------------------------------------------- disagreements found (strict xfails)


def test_backwards_arange_buffer_refused_before_build() -> None:
    assert refusal_code(with_buffer("{init: {arange: {start: 0, end: -1}}}")) is not None


def test_full_with_a_bool_value() -> None:  # dtype bool: an all-True mask (without dtype: the module's float)
    assert_same(built_buffer("{shape: [2], init: {full: {value: true}}, dtype: bool}"), torch.full((2,), True))
    assert_same(built_buffer("{shape: [2], init: {full: {value: true}}}"), torch.full((2,), 1.0))


def test_huge_buffer_refused_before_build() -> None:
    assert refusal_code(with_buffer("{init: {arange: {end: 1000000000000000}}}")) is not None


def test_full_int_value_dtype_matches_inference() -> None:
    text = with_buffer("{shape: [2, 2], init: {full: {value: 1}}}").replace("return x + b.sum()", "return b.sum(0)")
    out = netspec.compile_string(text).inference.output
    assert str(netspec.loads(text)(torch.zeros(1, 4)).dtype).removeprefix("torch.") == out.dtype


def test_tie_chain_in_source_order() -> None:
    text = TIED.replace("vocab: 11, d: 6", "vocab: 6, d: 6").replace(
        "  head.weight: {to: wte.weight, if: tie}", "  head.weight: body.0.weight\n  body.0.weight: wte.weight")
    try:
        m = netspec.loads(text)
    except SpecError:
        return  # refused: fine
    assert m.head.weight is m.body[0].weight, "head.weight is not tied to body.0.weight"
    assert netspec.summary(text=text).total_params == sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("entry", [
    "{init: {arange: {end: 5}}, dtype: bool}",                       # arange_cpu not implemented for Bool
    "{shape: [2], init: {full: {value: 1e300}}}",                    # overflow of float32
    "{shape: [2], init: {full: {value: 70000}}, dtype: float16}",    # overflow of float16
])
def test_fill_values_torch_refuses_are_refused_before_build(entry: str) -> None:
    assert refusal_code(with_buffer(entry)) is not None
