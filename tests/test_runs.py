"""Every spec netspec accepts builds with ``netspec.load`` and runs, in training and in eval mode.

A freshly built module is in training mode, and eval mode takes other kernels
(BatchNorm's running statistics): both run here on random inputs of the
declared shapes, symbolic dims bound to small sizes, and the output's shape
must be the one :func:`netspec.summary` reports.  The specs are the cases
below (shapes that once validated and then crashed in torch) and every case of
``tests/hostile`` that validates.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

import netspec
from netspec.dims import Sym, Unbound
from netspec.ops import Dim
from tests.test_hostile import CASES

BOUND = 2  # every symbolic input dim (N, H...) is bound to this size

def evaluate(dim: Dim, sizes: dict[str, int]) -> int | None:
    """A symbolic output dim at the bound sizes; None for an opaque symbol that stands for a long expression."""
    if isinstance(dim, int):
        return dim
    try:
        return int(Sym.parse(dim).value(sizes))
    except Unbound:
        return None


def random_input(shape: tuple[int, ...], dtype: str) -> torch.Tensor:
    if dtype == "bool":
        return torch.rand(shape) > 0.5
    if dtype.startswith("int"):
        return torch.randint(0, 2, shape, dtype=getattr(torch, dtype))
    return torch.randn(shape, dtype=getattr(torch, dtype))


def run_both_modes(path: Path, train: bool = True) -> None:
    """Load ``path``, run it in training (unless told not to) and eval mode, compare with the summary."""
    compiled = netspec.compile_spec(path)
    model_ir = compiled.inference.model
    sizes = {d: BOUND for inp in model_ir.inputs for d in inp.shape if isinstance(d, str)}
    inputs = [random_input(tuple(evaluate(d, sizes) or BOUND for d in inp.shape), inp.dtype)
              for inp in model_ir.inputs]
    expected = netspec.summary(path).output_shape
    model = netspec.load(path)
    assert model.training, "a freshly built module is in training mode"
    for mode in ("train", "eval") if train else ("eval",):
        getattr(model, mode)()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. torch's notes on deprecated defaults
            out = model(*(x.clone() for x in inputs))
        assert isinstance(out, torch.Tensor), mode
        assert out.dim() == len(expected), (mode, tuple(out.shape), expected)
        for got, want in zip(out.shape, expected, strict=True):
            value = evaluate(want, sizes)
            assert value is None or got == value, (mode, tuple(out.shape), expected)


# ---------------------------------------------------------------- specs that once validated, then crashed

HEAD = "netspec: 1\nname: M\n"
SPECS = {
    "squeeze-dim-null": HEAD + "inputs: {x: [N, 3, 1]}\nforward:\n  - squeeze: {dim: null}\n",
    "squeeze-positional-none": HEAD + "inputs: {x: [N, 3, 1]}\nforward:\n  - return squeeze(x, None)\n",
    "squeeze-method": HEAD + "inputs: {x: [N, 1, 3]}\nforward:\n  - return x.squeeze()\n",
    "gelu-shorthand": HEAD + "inputs: {x: [N, 8]}\nforward:\n  - gelu: tanh\n",
    "gelu-mapping": HEAD + "inputs: {x: [N, 8]}\nforward:\n  - gelu: {approximate: tanh}\n",
    "gelu-positional": HEAD + "inputs: {x: [N, 8]}\nforward:\n  - \"return gelu(x, 'tanh')\"\n",
    "gelu-layer": HEAD + "inputs: {x: [N, 8]}\nlayers:\n  act: {type: GELU, approximate: tanh}\n",
    "mean-dim-none": HEAD + "inputs: {x: [N, 8]}\nforward:\n  - return x - mean(x, None, True)\n",
    "max-pool2d-int": HEAD + "inputs: {x: {shape: [N, 3, 8, 8], dtype: int64}}\nforward:\n  - max_pool2d: 2\n",
    "max-pool3d-int32": HEAD + "inputs: {x: {shape: [N, 3, 4, 4, 4], dtype: int32}}\nlayers:\n"
    "  pool: {type: MaxPool3d, kernel_size: 2}\n",
    "layernorm-half-input": HEAD + "inputs: {x: {shape: [N, 8], dtype: bfloat16}}\nlayers:\n"
    "  norm: {type: LayerNorm}\n",
    "layernorm-no-affine-float64": HEAD + "inputs: {x: {shape: [N, 8], dtype: float64}}\nlayers:\n"
    "  norm: {type: LayerNorm, elementwise_affine: false}\n",
    "batchnorm-stateless-float64": HEAD + "inputs: {x: {shape: [N, 4], dtype: float64}}\nlayers:\n"
    "  bn: {type: BatchNorm1d, affine: false, track_running_stats: false}\n",
    "batchnorm-untracked-batch-two": HEAD + "inputs: {x: [2, 4]}\nlayers:\n"
    "  bn: {type: BatchNorm1d, track_running_stats: false}\n",
    "inplace-relu-on-computed": HEAD + "inputs: {x: [N, 8]}\nparams: {w: [8]}\nforward:\n"
    "  - return x + relu(w * 1, inplace=True)\n",
    "inplace-relu-on-frozen-parameter": HEAD + "inputs: {x: [N, 8]}\nparams: {w: {shape: [8], requires_grad: false}}\n"
    "forward:\n  - return x + relu(w, inplace=True)\n",
    "neg-int": HEAD + "inputs: {x: {shape: [N, 8], dtype: int64}}\nforward:\n  - return -x\n",
    "bool-plus-bool": HEAD + "inputs: {x: {shape: [N, 8], dtype: bool}}\nforward:\n  - return x + x\n",
    "init-edges": HEAD + "inputs: {x: [N, 8]}\nparams:\n"
    "  a: {shape: [8], init: {constant: {value: 3.0e+38}}}\n"
    "  b: {shape: [8], init: {uniform: {a: -1.0e+38, b: 1.0e+38}}}\n"
    "  c: {shape: [8], init: {trunc_normal: {std: 0.5, a: 1.0, b: 1.0}}}\n"
    "  d: {shape: [8, 8], init: {xavier_uniform: {gain: 0.0}}}\n"
    "  e: {shape: [8, 8], init: {kaiming_uniform: {a: 1.0e+150}}}\n"
    "  f: {shape: [8], dtype: float64, init: {constant: {value: 1.0e+300}}}\n"
    "forward:\n  - return x + mean(a) * 0 + mean(b) * 0 + c + mean(d) + mean(e) + sum(f) * 0\n",
}


@pytest.mark.parametrize("name", list(SPECS))
def test_accepted_spec_runs(name: str, tmp_path: Path) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(SPECS[name], encoding="utf-8")
    run_both_modes(path)


# ---------------------------------------------------------------- every hostile case that validates

# Cases whose forward is huge on purpose (the budget and activation warnings): their code is checked elsewhere.
TOO_BIG = {"param-budget", "activation-size"}
VALID = [c for c in CASES if c.kind != "error" and c.code not in TOO_BIG and not c.path.stem.startswith("resource")]


@pytest.mark.parametrize("case", VALID, ids=[c.path.stem for c in VALID])
def test_valid_hostile_case_runs(case: Any) -> None:
    # a train-mode warning says the module fails in training mode: only eval mode must run
    run_both_modes(case.path, train=case.code != "train-mode")


def test_train_mode_warning_is_true() -> None:
    """The cases warned about really fail in training mode, and name the layer."""
    for case in (c for c in CASES if c.code == "train-mode"):
        (warning,) = [w for w in netspec.validate(case.path) if w.code == "train-mode"]
        assert warning.path[:2] == ("layers", "bn")
        with pytest.raises(ValueError, match="more than 1 value per channel"):
            run_both_modes(case.path)
