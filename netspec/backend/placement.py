"""Where and in what a module is built: the dtype and device spellings :func:`netspec.load` accepts.

:data:`DTYPE_NAMES` is plain data; :func:`torch_dtype` and :func:`torch_device` import torch when called.
"""

from __future__ import annotations

from typing import Any

# Parameters are floating point; these are the spellings people write for the four
# floating types, each mapped to the ``torch`` attribute it names.
DTYPE_NAMES: dict[str, str] = {
    "float32": "float32", "float": "float32", "fp32": "float32",
    "float16": "float16", "half": "float16", "fp16": "float16",
    "bfloat16": "bfloat16", "bf16": "bfloat16",
    "float64": "float64", "double": "float64", "fp64": "float64",
}


def torch_dtype(dtype: Any) -> Any:
    """``dtype`` as a floating ``torch.dtype`` (None stays None); ValueError naming the spellings otherwise."""
    import torch

    if dtype is None:
        return None
    if isinstance(dtype, str):
        name = dtype.strip().lower().removeprefix("torch.")
        if name in DTYPE_NAMES:
            return getattr(torch, DTYPE_NAMES[name])
    elif isinstance(dtype, torch.dtype) and dtype.is_floating_point:
        return dtype
    spellings = ", ".join(DTYPE_NAMES)
    raise ValueError(f"dtype={dtype!r} is not a floating-point dtype netspec can build parameters in; "
                     f"use a floating torch.dtype or one of: {spellings}")


def torch_device(device: Any) -> Any:
    """``device`` checked by ``torch.device`` (None stays None); ValueError with the examples otherwise."""
    import torch

    if device is None or isinstance(device, torch.device):
        return device
    try:
        return torch.device(device)
    except (RuntimeError, TypeError, ValueError) as exc:
        raise ValueError(f"device={device!r} is not a device torch knows ({exc}); use e.g. 'cpu', 'cuda', "
                         "'cuda:1', 'mps', 'meta', an int GPU index or a torch.device") from None
