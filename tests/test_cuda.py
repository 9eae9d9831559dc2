"""CUDA behaviour of compiled specs: built on the device, inductor-compiled with
no graph breaks, other dtypes.  Skipped where there is no GPU (CI has none)."""

from __future__ import annotations

import pytest
import torch

import netspec
from tests.conftest import SPECS_DIR, spec_ids
from tests.seed_modules import SEED

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")

INPUTS = {**{name: make for name, (_, make) in SEED.items()}, "lenet_expr": SEED["lenet"][1]}


@pytest.mark.parametrize("name", spec_ids())
def test_built_on_cuda_and_inductor_compiled(name: str) -> None:
    torch._dynamo.reset()
    model = netspec.load(SPECS_DIR / f"{name}.yaml", device="cuda").eval()
    assert all(p.is_cuda for p in model.parameters())
    x = INPUTS[name]().cuda()
    compiled = torch.compile(model, fullgraph=True)
    with torch.no_grad():
        torch.testing.assert_close(compiled(x), model(x), rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_low_precision_on_cuda(dtype: torch.dtype) -> None:
    model = netspec.load(SPECS_DIR / "alexnet.yaml", device="cuda", dtype=dtype).eval()
    assert {p.dtype for p in model.parameters()} == {dtype}
    with torch.no_grad():
        out = model(torch.randn(4, 1, 224, 224, device="cuda", dtype=dtype))
    assert out.shape == (4, 10) and out.dtype == dtype


def test_to_cuda_after_cpu_build_matches() -> None:
    torch.manual_seed(0)
    cpu = netspec.load(SPECS_DIR / "lenet.yaml")
    gpu = netspec.load(SPECS_DIR / "lenet.yaml", device="cuda")
    gpu.load_state_dict(cpu.state_dict())
    x = torch.randn(8, 1, 32, 32)
    with torch.no_grad():
        torch.testing.assert_close(gpu(x.cuda()).cpu(), cpu(x), rtol=1e-4, atol=1e-4)
        torch.testing.assert_close(cpu.to("cuda")(x.cuda()), gpu(x.cuda()), rtol=1e-4, atol=1e-4)
