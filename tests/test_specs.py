"""Every shipped spec against the seed's hand-written module: same repr (class
name aside), same state_dict keys and shapes in order, same outputs for the
same weights; and the generated source stands on its own."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import netspec
from tests.conftest import SHIPPED, SPECS_DIR, layout, spec_ids
from tests.seed_modules import SEED, Net

# Specs that are another spelling of a seed module.
REFERENCE = {**{name: SEED[name] for name in SEED}, "lenet_expr": (Net, SEED["lenet"][1])}
# Counts stated by the seed chapter and the spine issue, not read off netspec.
PARAM_COUNTS = {"mlp": 203_530, "lenet": 61_706, "lenet_expr": 61_706, "alexnet": 46_764_746}


def _body(module: torch.nn.Module) -> str:
    return re.sub(r"^\w+\(", "(", repr(module))


def _pair(name: str) -> tuple[torch.nn.Module, torch.nn.Module, torch.Tensor]:
    factory, make_input = REFERENCE[name]
    torch.manual_seed(0)
    reference = factory()
    compiled = netspec.load(SPECS_DIR / f"{name}.yaml")
    compiled.load_state_dict(reference.state_dict(), strict=True)
    reference.eval()
    compiled.eval()
    return reference, compiled, make_input()


def test_every_shipped_spec_has_a_reference() -> None:
    assert {p.stem for p in SHIPPED} == set(REFERENCE)


@pytest.mark.parametrize("name", spec_ids())
def test_repr_and_state_dict_match_the_seed(name: str) -> None:
    reference, compiled, _ = _pair(name)
    assert _body(compiled) == _body(reference)
    assert layout(compiled) == layout(reference)
    assert [n for n, _ in compiled.named_parameters()] == [n for n, _ in reference.named_parameters()]


@pytest.mark.parametrize("name", spec_ids())
def test_outputs_match_the_seed(name: str) -> None:
    reference, compiled, x = _pair(name)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), reference(x))
    if name == "my_dict_dense":
        for choice in ("linear1", "linear2", "linear3"):
            with torch.no_grad():
                torch.testing.assert_close(compiled(x, choice), reference(x, choice))


@pytest.mark.parametrize("name", spec_ids())
def test_gradients_match_the_seed(name: str) -> None:
    reference, compiled, x = _pair(name)
    x.requires_grad_(True)  # MyLayer has no parameters: check the input's gradient too
    reference(x).sum().backward()
    expected, x.grad = x.grad, None
    compiled(x).sum().backward()
    for (n1, p1), (_, p2) in zip(reference.named_parameters(), compiled.named_parameters(), strict=True):
        torch.testing.assert_close(p2.grad, p1.grad, msg=n1)
    torch.testing.assert_close(x.grad, expected)


@pytest.mark.parametrize("name", sorted(PARAM_COUNTS))
def test_parameter_counts(name: str) -> None:
    model = netspec.load(SPECS_DIR / f"{name}.yaml", device="meta")
    assert sum(p.numel() for p in model.parameters()) == PARAM_COUNTS[name]
    assert netspec.summary(SPECS_DIR / f"{name}.yaml").total_params == PARAM_COUNTS[name]


def test_lenet_has_ten_parameter_tensors_conv1_first() -> None:
    params = list(netspec.load(SPECS_DIR / "lenet.yaml").parameters())
    assert len(params) == 10
    assert params[0].shape == (6, 1, 5, 5)


def test_expression_form_of_lenet_is_the_step_form() -> None:
    torch.manual_seed(0)
    steps = netspec.load(SPECS_DIR / "lenet.yaml")
    exprs = netspec.load(SPECS_DIR / "lenet_expr.yaml")
    exprs.load_state_dict(steps.state_dict(), strict=True)
    assert _body(exprs) == _body(steps)
    x = torch.randn(3, 1, 32, 32)
    torch.testing.assert_close(exprs(x), steps(x))


def test_corr2d_matches_the_seed_loop_on_other_inputs() -> None:
    from tests.seed_modules import corr2d

    model = netspec.load(SPECS_DIR / "corr2d.yaml")
    for shape in [(3, 3), (6, 8), (10, 4)]:
        x = torch.randn(shape)
        with torch.no_grad():
            torch.testing.assert_close(model(x), corr2d(x, model.weight) + model.bias)
    x = torch.tensor([[0.0, 1, 2], [3, 4, 5], [6, 7, 8]])
    kernel = torch.tensor([[0.0, 1], [2, 3]])
    with torch.no_grad():
        model.weight.data = kernel
        model.bias.zero_()
        # the d2l book's worked example of 2-D cross-correlation
        torch.testing.assert_close(model(x), torch.tensor([[19.0, 25.0], [37.0, 43.0]]))
    assert netspec.summary(SPECS_DIR / "corr2d.yaml").output_shape == ("H", "W-1")


def test_generated_source_imports_nothing_but_torch() -> None:
    for path in SHIPPED:
        source = netspec.compile_source(path)
        imports = {line for line in source.splitlines() if line.startswith(("import ", "from "))}
        assert imports <= {"import torch", "from torch import nn", "from torch.nn import functional as F",
                           "from collections import OrderedDict"}, path


@pytest.mark.parametrize("name", spec_ids())
def test_generated_source_runs_without_netspec(name: str, tmp_path: Path) -> None:
    factory, make_input = REFERENCE[name]
    out = tmp_path / f"{name}.py"
    out.write_text(netspec.compile_source(SPECS_DIR / f"{name}.yaml"))
    class_name = netspec.compile_spec(SPECS_DIR / f"{name}.yaml").name
    x = make_input()
    torch.save(x, tmp_path / "x.pt")
    script = (
        "import sys; sys.modules['netspec'] = None\n"  # any import of netspec now fails
        "import torch, runpy\n"
        f"ns = runpy.run_path({str(out)!r})\n"
        f"m = ns[{class_name!r}]()\n"
        f"x = torch.load({str(tmp_path / 'x.pt')!r})\n"
        "print(tuple(m(x).shape))\n"
    )
    done = subprocess.run([sys.executable, "-W", "ignore", "-c", script], capture_output=True, text=True,
                          cwd=tmp_path, timeout=120)
    assert done.returncode == 0, done.stderr
    with torch.no_grad():
        expected = tuple(factory()(x).shape)
    assert done.stdout.strip() == str(expected)


def test_compile_is_deterministic() -> None:
    for path in SHIPPED:
        first = netspec.compile_source(path)
        netspec.api.cache_clear()
        assert netspec.compile_source(path) == first


def test_in_memory_class_is_the_compiled_source() -> None:
    import inspect

    cls = netspec.build_class(SPECS_DIR / "lenet.yaml")
    source = netspec.compile_source(SPECS_DIR / "lenet.yaml")
    assert inspect.getsource(cls) in source
    assert inspect.getsource(cls.forward) in source


def test_traceback_points_into_generated_source() -> None:
    model = netspec.load(SPECS_DIR / "lenet.yaml")
    with pytest.raises(RuntimeError) as info:
        model(torch.randn(1, 3, 32, 32))  # wrong channel count at run time
    frames = [f for f in info.traceback if "netspec:LeNet" in str(f.path)]
    assert frames and "self.conv1(x)" in str(frames[0].statement)


def test_load_on_meta_allocates_nothing_and_dtype_applies() -> None:
    model = netspec.load(SPECS_DIR / "alexnet.yaml", device="meta")
    assert all(p.is_meta for p in model.parameters())
    model = netspec.load(SPECS_DIR / "lenet.yaml", dtype=torch.float64)
    assert {p.dtype for p in model.parameters()} == {torch.float64}
    assert model(torch.randn(2, 1, 32, 32, dtype=torch.float64)).dtype == torch.float64


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_load_builds_directly_on_cuda() -> None:
    model = netspec.load(SPECS_DIR / "lenet.yaml", device="cuda")
    assert all(p.is_cuda for p in model.parameters())
    assert model(torch.randn(2, 1, 32, 32, device="cuda")).is_cuda


def _example_args(name: str) -> tuple[torch.Tensor, ...]:
    return (REFERENCE[name][1](),)


@pytest.mark.parametrize("name", spec_ids())
def test_torch_compile_fullgraph(name: str) -> None:
    torch._dynamo.reset()
    model = netspec.load(SPECS_DIR / f"{name}.yaml").eval()
    compiled = torch.compile(model, backend="eager", fullgraph=True)
    x = _example_args(name)
    with torch.no_grad():
        torch.testing.assert_close(compiled(*x), model(*x))
        if name == "my_dict_dense":
            torch.testing.assert_close(compiled(*x, "linear3"), model(*x, "linear3"))


@pytest.mark.parametrize("name", spec_ids())
def test_torch_export_with_dynamic_batch(name: str) -> None:
    from torch.export import Dim, export

    path = SPECS_DIR / f"{name}.yaml"
    model = netspec.load(path).eval()
    summary = netspec.summary(path)
    (input_name, shape), = summary.inputs.items()
    x = _example_args(name)[0]
    dynamic = {i: Dim(f"{input_name}_{d}", min=2) for i, d in enumerate(shape) if isinstance(d, str)}
    if name == "corr2d":  # the kernel is (1, 2): the width must exceed 1; keep the height dynamic only
        dynamic = {0: Dim("H", min=2)}
    exported = export(model, (x,), dynamic_shapes={input_name: dynamic or None})
    bigger = torch.randn(*(s + 3 if i in dynamic else s for i, s in enumerate(x.shape)))
    with torch.no_grad():
        torch.testing.assert_close(exported.module()(bigger), model(bigger))
