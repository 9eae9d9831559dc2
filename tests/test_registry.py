"""The registry is the test matrix: every layer type and op has a worked example, declared next to
its entry in its family module under netspec/ops/ (gathered by tests/layer_examples.py), and every
example is held against real PyTorch.

For a layer example the one-layer spec goes through the whole pipeline
(``netspec.compile_string``); the torch module is built by hand from the
completed arguments (``getattr(torch.nn, type)(**args)``) on the meta device and
must give the inferred output shape and parameter count, and the module netspec
builds (``netspec.load(..., device='meta')``) must have the same ``repr`` and run
to the same shape.  For an op example the inferred shape is compared with the
real torch function called on tiny CPU tensors.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import netspec
from netspec.errors import SpecError
from netspec.ops import LAYERS, OPS, LayerType, Registry, ShapeError, Tensor, publish, registry, use_registry
from tests import seed_modules
from tests.layer_examples import (
    LAYER_EXAMPLES,
    OP_EXAMPLES,
    REFUSED_LAYER_EXAMPLES,
    REFUSED_OP_EXAMPLES,
    Code,
    Input,
    LayerExample,
    OpExample,
    Ref,
    gather,
)

FLOATS = ("float32", "float64", "float16", "bfloat16")
# Where netspec's default deliberately differs from the torch function's (flatten keeps the batch dim);
# generated code always writes these arguments out.
NETSPEC_DEFAULTS = {"flatten": {"start_dim": 1}}


# ---------------------------------------------------------------- the matrix is complete


@pytest.mark.parametrize("name", sorted(LAYERS))
def test_every_layer_has_an_example(name: str) -> None:
    if name in TESTED_ELSEWHERE:
        return
    assert any(e.type == name for e in LAYER_EXAMPLES), f"add an example of {name} next to its entry ({ADD_EXAMPLES})"


ADD_EXAMPLES = "REGISTRY.add_examples(...) in its family module under netspec/ops/"


# Entries whose result is no single tensor, which the one-call probes here cannot return: each is
# compared with torch where it is used.
TESTED_ELSEWHERE = {
    "MultiheadAttention": "returns (output, weights): tests/test_blocks.py::test_attention_and_size_ops_match_torch",
    "size": "returns a size, not a tensor: tests/test_blocks.py::test_attention_and_size_ops_match_torch",
}


@pytest.mark.parametrize("name", sorted(OPS))
def test_every_op_has_an_example(name: str) -> None:
    if name in TESTED_ELSEWHERE:
        return
    assert any(e.op == name for e in OP_EXAMPLES), f"add an example of {name} next to its entry ({ADD_EXAMPLES})"


def test_example_ids_are_unique() -> None:
    for examples in (LAYER_EXAMPLES, OP_EXAMPLES, REFUSED_LAYER_EXAMPLES, REFUSED_OP_EXAMPLES):
        ids = [e.id for e in examples]
        assert len(ids) == len(set(ids)), sorted(i for i in ids if ids.count(i) > 1)


def test_a_new_layer_type_brings_its_examples(fresh_registry: Registry, tmp_path: Path) -> None:
    """A newcomer's layer type is one edit: its entry and its worked examples, declared together as a family
    module under netspec/ops/ declares them.  The matrix gathers them from the registry and holds them against
    real torch like the built-in ones; nothing under tests/ names them."""
    name = "Softsign"  # a built-in since issue 17: taken out of the registry below, so that it comes in anew
    with use_registry(_without(fresh_registry, name)) as base:
        _bring_in(name, base, tmp_path)


def _without(base: Registry, name: str) -> Registry:
    """``base`` less the layer type ``name`` and its worked examples."""

    def keep(e: Any) -> bool:
        return not (isinstance(e, LayerExample) and e.type == name)

    return Registry(layers={k: v for k, v in base.layers.items() if k != name}, ops=dict(base.ops),
                    origins={k: v for k, v in base.origins.items() if k != ("layer type", name)},
                    examples=tuple(filter(keep, base.examples)), refused=tuple(filter(keep, base.refused)))


def _bring_in(name: str, fresh_registry: Registry, tmp_path: Path) -> None:

    def rule(args: dict[str, Any], inputs: Any) -> tuple[Tensor, dict[str, Any]]:
        (x,) = inputs
        if not x.is_float:
            raise ShapeError(f"{name} expects a float input, found {x.dtype}", code="dtype-mismatch")
        return x, {}

    # the one edit, as in netspec/ops/activation.py
    family = Registry()
    family.add_layer(LayerType(name=name, family="activation", args=(), rule=rule, summary="element-wise"))
    family.add_examples(LayerExample(name, inputs=(Input((2, 5)),)))
    family.add_examples(LayerExample(name, inputs=(Input((2, 3), "bool"),), label="bool"), refused=True)

    mine = gather(family)
    assert [len(examples) for examples in mine] == [1, 0, 1, 0]
    publish(lambda current: current.with_layers([(family.layers[name], f"{__name__}:{name}")],
                                                examples=family.examples, refused=family.refused))
    before, after = gather(fresh_registry), gather(registry())
    assert after.layers == before.layers + mine.layers
    assert after.refused_layers == before.refused_layers + mine.refused_layers
    assert after.ops == before.ops and after.refused_ops == before.refused_ops
    assert before.layers == [e for e in LAYER_EXAMPLES if e.type != name]  # the built-in ones are as they were
    assert any(e.type == name for e in after.layers)  # what test_every_layer_has_an_example asks of each entry
    test_layer_matches_torch(mine.layers[0], tmp_path)
    test_refused_layer_is_refused_by_both(mine.refused_layers[0])


# ---------------------------------------------------------------- helpers


def tensor(inp: Input, device: str) -> torch.Tensor:
    dtype = getattr(torch, inp.dtype)
    if dtype.is_floating_point:
        return torch.rand(inp.shape, device=device, dtype=dtype) if device != "meta" else torch.empty(
            inp.shape, device=device, dtype=dtype)
    if dtype == torch.bool:
        return torch.zeros(inp.shape, device=device, dtype=dtype)
    return torch.ones(inp.shape, device=device, dtype=dtype)  # valid indices for any Embedding


def model_dtype(example: LayerExample) -> str | None:
    """netspec builds a model in one dtype (load(dtype=...)): the float input's, if it has one."""
    floats = [i.dtype for i in example.inputs if i.dtype in FLOATS]
    return floats[0] if floats else None


def as_code(value: Any) -> Any:
    """Generated code writes every list argument as a tuple, as hand-written PyTorch does."""
    return tuple(value) if isinstance(value, list) else value


def torch_layer(kind: str, args: dict[str, Any], device: str, dtype: str | None) -> nn.Module:
    with torch.device(device), warnings.catch_warnings():
        # nn.TransformerEncoder's note on its nested-tensor fast path, init's on a zero-element weight
        warnings.simplefilter("ignore")
        build = STACKS.get(kind, getattr(nn, kind))
        module: nn.Module = build(**{k: as_code(v) for k, v in args.items()})
    return module.to(getattr(torch, dtype)) if dtype else module


def _stack(stack: type[nn.Module], layer: type[nn.Module], *own: str) -> Callable[..., nn.Module]:
    """A stack as a person builds it in torch: the layer from its arguments, copied num_layers times, and for
    ``norm=True`` the final LayerNorm nn.Transformer gives its stacks (netspec writes the layer's arguments flat)."""

    def build(num_layers: int, norm: bool = False, **args: Any) -> nn.Module:
        kept = {k: args.pop(k) for k in own if k in args}
        final = nn.LayerNorm(args["d_model"], eps=args.get("layer_norm_eps", 1e-5), bias=args.get("bias", True))
        return stack(layer(**args), num_layers, norm=final if norm else None, **kept)

    return build


# Layer types whose torch class takes a module (netspec/ops/transformer.py): how torch users build them.
STACKS: dict[str, Callable[..., nn.Module]] = {
    "TransformerEncoder": _stack(nn.TransformerEncoder, nn.TransformerEncoderLayer, "enable_nested_tensor",
                                 "mask_check"),
    "TransformerDecoder": _stack(nn.TransformerDecoder, nn.TransformerDecoderLayer),
}


def quietly(fn: Callable[[], Any]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's own deprecation notes are not what is tested here
        return fn()


def shape_dtype(t: torch.Tensor) -> tuple[tuple[int, ...], str]:
    return tuple(t.shape), str(t.dtype).removeprefix("torch.")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "probe.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def probe(example: LayerExample) -> str:
    """The example's one-layer spec; a layer whose call gives a tuple (RNN's (output, h_n)) is unpacked and its
    first item returned (the rest is compared through the trace: :func:`inferred_result`)."""
    n = LAYERS[example.type].outputs
    if n == 1:
        return example.spec()
    head = example.spec().split("forward:\n")[0]
    targets = ", ".join(f"p{i}" for i in range(n))
    return head + f"forward:\n  - {targets} = l({', '.join(example.input_names)})\n  - return p0\n"


def inferred_result(compiled: Any) -> Any:
    """What the probe's layer gave, as shape inference saw it: a Tensor, or a tuple of them, nested as torch's."""
    (event,) = [e for e in compiled.inference.trace if e.kind == "layer" and e.path == "l"]
    return event.output


def ours_tree(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(ours_tree(v) for v in value)
    return value.shape, value.dtype


def torch_tree(value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(torch_tree(v) for v in value)
    return shape_dtype(value)


# ---------------------------------------------------------------- layers


@pytest.mark.parametrize("example", LAYER_EXAMPLES, ids=lambda e: e.id)
def test_layer_matches_torch(example: LayerExample, tmp_path: Path) -> None:
    compiled = netspec.compile_string(probe(example))
    args = compiled.inference.layer_args["l"]
    dtype = model_dtype(example)

    theirs = torch_layer(example.type, args, "meta", dtype).eval()  # training-mode statistics need values
    out = quietly(lambda: theirs(*(tensor(i, "meta") for i in example.inputs)))
    assert torch_tree(out) == ours_tree(inferred_result(compiled))
    out = out[0] if isinstance(out, tuple) else out  # what the probe returns
    assert shape_dtype(out) == (compiled.inference.output.shape, compiled.inference.output.dtype)
    assert compiled.inference.total_params == sum(p.numel() for p in theirs.parameters())

    ours = quietly(lambda: netspec.load(write(tmp_path, probe(example)), device="meta", dtype=dtype))
    assert repr(ours.l) == repr(theirs)
    assert sum(p.numel() for p in ours.parameters()) == compiled.inference.total_params
    ran = quietly(lambda: ours.eval()(*(tensor(i, "meta") for i in example.inputs)))
    assert tuple(ran.shape) == compiled.inference.output.shape


def test_layer_examples_run_on_cpu_with_real_values() -> None:
    """The meta device computes shapes only; the CPU kernels run on values and check more."""
    for example in LAYER_EXAMPLES:
        compiled = netspec.compile_string(probe(example))
        dtype = model_dtype(example)
        if dtype in ("float16", "bfloat16"):
            continue
        module = torch_layer(example.type, compiled.inference.layer_args["l"], "cpu", dtype)
        out = quietly(functools.partial(module, *(tensor(i, "cpu") for i in example.inputs)))
        assert torch_tree(out) == ours_tree(inferred_result(compiled)), example.id


@pytest.mark.parametrize("example", REFUSED_LAYER_EXAMPLES, ids=lambda e: e.id)
def test_refused_layer_is_refused_by_both(example: LayerExample) -> None:
    with pytest.raises(SpecError) as refusal:
        netspec.compile_string(probe(example))
    assert all(d.code != "bad-return" for d in refusal.value.diagnostics), "the probe itself is refused"
    written = {**example.torch_extra, **example.args}
    inferred = _inferred_from_input(example)
    dtype = model_dtype(example)

    def run() -> torch.Tensor:
        module = torch_layer(example.type, {**inferred, **written}, "cpu", dtype)
        return module(*(tensor(i, "cpu") for i in example.inputs))  # type: ignore[no-any-return]

    assert _refuses(run), f"torch accepts {example.id}: the example does not show a refusal"


def _inferred_from_input(example: LayerExample) -> dict[str, Any]:
    """What netspec would infer for the few layers whose refusal lies elsewhere (in_channels of a Conv...)."""
    shape = example.inputs[0].shape
    names = [a.name for a in LAYERS[example.type].args if a.inferred]
    if names == ["in_channels"] and len(shape) >= 2:
        n = int(example.type[-2])
        return {"in_channels": shape[-n - 1]}
    return {}


def _refuses(run: Callable[[], torch.Tensor]) -> bool:
    try:
        out = quietly(run)
    except (RuntimeError, ValueError, TypeError, IndexError, NotImplementedError, AssertionError):
        return True
    out = out[0] if isinstance(out, tuple) else out  # RNN's (output, h_n)
    return 0 in out.shape  # an empty result: the backends disagree on it, netspec refuses it


# ---------------------------------------------------------------- ops


def torch_function(op: str) -> Callable[..., torch.Tensor]:
    """The callable an op's generated code calls; the seed's own loop for corr2d."""
    spelling = OPS[op].spelling
    if spelling == "corr2d":
        return seed_modules.corr2d
    if OPS[op].helper:  # a function netspec writes into the generated module (stochastic_depth)
        namespace: dict[str, Any] = {"torch": torch, "F": F}
        exec(OPS[op].helper, namespace)  # a registry constant, never spec text
        return namespace[spelling]  # type: ignore[no-any-return]
    if spelling.startswith("torch.Tensor."):  # a Tensor method: size, expand
        return getattr(torch.Tensor, spelling.rsplit(".", 1)[1])  # type: ignore[no-any-return]
    module, _, name = spelling.partition(".")
    return getattr({"F": F, "torch": torch}[module], name)  # type: ignore[no-any-return]


def call_torch(example: OpExample, device: str) -> torch.Tensor:
    tensors = {name: tensor(inp, device) for name, inp in example.inputs.items()}

    def value(v: Any) -> Any:
        if isinstance(v, Ref):
            return tensors[v.name]
        if isinstance(v, Code):  # x.device, float32
            base, _, attr = v.text.partition(".")
            return getattr(tensors[base], attr) if v.torch == "attr" else getattr(torch, v.text)
        if isinstance(v, list) and any(isinstance(i, Ref) for i in v):
            return [value(i) for i in v]
        return as_code(v)

    fn = torch_function(example.op)
    args = [value(a) for a in example.args]
    kwargs = {k: value(v) for k, v in example.kwargs.items()}
    for name, default in NETSPEC_DEFAULTS.get(example.op, {}).items():
        if name not in kwargs and name not in OPS[example.op].params[: len(args)]:
            kwargs[name] = default
    out = quietly(lambda: fn(*args, **kwargs))
    if example.unpack:  # chunk, split: a tuple, of which the probe spec returns the last tensor
        assert isinstance(out, tuple) and len(out) == example.unpack, [tuple(t.shape) for t in out]
        out = out[-1]
    return out  # type: ignore[no-any-return]


@pytest.mark.parametrize("example", OP_EXAMPLES, ids=lambda e: e.id)
def test_op_matches_torch(example: OpExample, tmp_path: Path) -> None:
    compiled = netspec.compile_string(example.spec())
    inferred = (compiled.inference.output.shape, compiled.inference.output.dtype)
    assert shape_dtype(call_torch(example, "cpu")) == inferred
    # the module netspec generates calls the op the same way
    model = netspec.load(write(tmp_path, example.spec()), device="meta")
    out = quietly(lambda: model(*(tensor(i, "meta") for i in example.inputs.values())))
    assert shape_dtype(out) == inferred


@pytest.mark.parametrize("example", REFUSED_OP_EXAMPLES, ids=lambda e: e.id)
def test_refused_op_is_refused_by_both(example: OpExample) -> None:
    with pytest.raises(SpecError):
        netspec.compile_string(example.spec())
    assert _refuses(lambda: call_torch(example, "cpu")), f"torch accepts {example.id}"


# ---------------------------------------------------------------- op facts live in the registry

# String literals outside netspec/ops/ that equal a registry name but do not name the layer or op: each with why.
# (Strings listed in a module's ``__all__`` name that module's own functions and are skipped.)
_NOT_REGISTRY_NAMES: set[tuple[str, str]] = {
    # the dtype spellings load(dtype=...) takes ("float", "half", ...), which are also Tensor methods
    *(("backend/placement.py", name) for name in ("float", "half", "double", "bfloat16")),
    ("tools/dump.py", "contiguous"),  # a traced x.contiguous() is dropped from the dumped spec: it changes no value
    ("frontend/hf_config.py", "dropout"),  # a config.json field
    ("frontend/models.py", "zeros"), ("middle/resolve.py", "zeros"),  # the default fill of a buffer (ops/buffers.py)
    ("frontend/expr.py", "sqrt"),  # the build-time language's sqrt (math.sqrt), beside forward's op of that name
}
# Words that are registry names and also the language's own vocabulary everywhere: dtype names (x.to(float32),
# dtype: bfloat16), Python's float, abs and sum (a block argument's kind, build-time functions).
_VOCABULARY = {"float32", "float64", "float16", "bfloat16", "int32", "int64", "bool", "float", "abs", "sum"}


def _string_literals_outside_ops() -> list[tuple[str, int, str]]:
    import ast

    package = Path(netspec.__file__).parent
    found = []
    for path in sorted(package.rglob("*.py")):
        relative = path.relative_to(package)
        if relative.parts[0] == "ops":
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        exported = {id(node) for stmt in tree.body if isinstance(stmt, ast.Assign)
                    and any(isinstance(t, ast.Name) and t.id == "__all__" for t in stmt.targets)
                    for node in ast.walk(stmt.value)}
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in exported:
                found.append((relative.as_posix(), node.lineno, node.value))
    return found


def test_registry_names_appear_only_in_ops() -> None:
    """A fact about one layer or op (flatten's default, Identity's pass-through, how dump reads MultiheadAttention
    back) belongs to its registry entry: a layer or op name written as a string anywhere else in netspec/ is one
    kept outside it."""
    names = set(LAYERS) | set(OPS)
    stray = [f"netspec/{file}:{line}: {text!r}" for file, line, text in _string_literals_outside_ops()
             if text in names and text not in _VOCABULARY and (file, text) not in _NOT_REGISTRY_NAMES]
    assert not stray, "registry names outside netspec/ops/ (put the fact in the entry):\n" + "\n".join(stray)
