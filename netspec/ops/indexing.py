"""Basic indexing of a tensor in forward: ``x[:, 0]``, ``x[..., :half]``, ``x[:, -1, :]``, ``x[..., None]``.

PyTorch's rules (``torch.Tensor.__getitem__`` with integers, slices, ``None`` and one ``...``): an integer
drops its dim (and must be in range), a slice keeps it with ``len(range(*slice.indices(size)))`` elements
(steps are positive), ``None`` inserts a dim of 1, ``...`` stands for every dim the other items leave.
Sizes known only at run time (``x[:, :T]`` with ``T = y.size(1)``) and symbolic dims give the size as an
expression, ``min(T, 1024)``, exact at every concrete size.  Pure Python: no torch.
"""

from __future__ import annotations

from typing import Any

from ._core import Dim, ShapeError, SymSize, Tensor, fmt_shape, paren, symbol


def index_shape(x: Tensor, items: list[Any]) -> Tensor:
    """The tensor ``x[items]`` gives; each item an int, a run-time size, None, ``...`` or a slice."""
    if sum(1 for item in items if item is Ellipsis) > 1:
        raise ShapeError("an index can only have a single ellipsis ('...')", code="bad-index")
    for item in items:
        _check_item(item)
    consumed = sum(1 for item in items if item is not None and item is not Ellipsis)
    if consumed > x.rank:
        raise ShapeError(f"too many indices for a tensor of rank {x.rank}: found {consumed}", code="bad-index")
    if Ellipsis not in items:
        items = [*items, Ellipsis]
    out: list[Dim] = []
    dim = 0
    for item in items:
        if item is Ellipsis:
            keep = x.rank - consumed
            out.extend(x.shape[dim:dim + keep])
            dim += keep
        elif item is None:
            out.append(1)
        elif isinstance(item, slice):
            out.append(slice_length(x.shape[dim], item))
            dim += 1
        else:
            _check_in_range(item, x.shape[dim], dim)
            dim += 1
    return Tensor(tuple(out), x.dtype)


def _check_item(item: Any) -> None:
    if item is None or item is Ellipsis or _is_size(item):
        return
    if isinstance(item, slice):
        for bound in (item.start, item.stop, item.step):
            if bound is not None and not _is_size(bound):
                raise ShapeError(f"slice bounds are integers or sizes, found {bound!r}", code="bad-index")
        if item.step is not None and (isinstance(item.step, SymSize) or item.step <= 0):
            raise ShapeError(f"slice steps are positive integers (torch refuses others), found {item.step}",
                             code="bad-index", hint="flip the tensor for a reversed order")
        return
    found = f"a tensor {fmt_shape(item.shape)}" if isinstance(item, Tensor) else repr(item)
    raise ShapeError(f"an index is an integer, a slice, None or ..., found {found}", code="bad-index",
                     hint="use masked_fill or an op for indexing with tensors")


def _is_size(value: Any) -> bool:
    return isinstance(value, SymSize) or (isinstance(value, int) and not isinstance(value, bool))


def _check_in_range(index: Any, size: Dim, dim: int) -> None:
    if isinstance(index, int) and isinstance(size, int) and not -size <= index < size:
        raise ShapeError(f"index {index} is out of range for dim {dim} of size {size}", code="bad-index")


def slice_length(size: Dim, item: slice) -> Dim:
    """``len(range(*item.indices(size)))``, for symbolic sizes and bounds too."""
    start, stop, step = item.start, item.stop, 1 if item.step is None else item.step
    if all(isinstance(v, int) for v in (size, start or 0, stop or 0)):
        return len(range(*slice(start, stop, step).indices(size)))  # type: ignore[arg-type]
    lo = _bound(size, start, 0)
    hi = _bound(size, stop, size)
    if lo == 0 and hi == size:
        span: Dim = size
    elif lo == 0:
        span = hi
    else:
        span = symbol(f"max({hi}-{paren(lo)}, 0)")
    if step == 1:
        return span
    return symbol(f"({span}+{step - 1})//{step}")


def _bound(size: Dim, bound: Any, default: Dim) -> Dim:
    """A slice bound clamped into ``[0, size]`` as torch clamps it: negative ones count from the end."""
    if bound is None:
        return default
    if isinstance(bound, SymSize) and "-" in bound:  # a difference may be negative at run time: from the end then
        b = paren(str(bound))
        negative = f"min(max(-{b}, 0), 1)"  # 1 where the bound is negative, else 0 (integers)
        return symbol(f"min(max({b}+{paren(size)}*{negative}, 0), {size})")
    if isinstance(bound, int) and bound < 0:
        return symbol(f"max({size}{bound:+d}, 0)") if not isinstance(size, int) else max(size + bound, 0)
    if bound == size:
        return size
    if isinstance(bound, int) and bound == 0:
        return 0
    if isinstance(size, int) and isinstance(bound, int):
        return min(bound, size)
    return symbol(f"min({bound}, {size})")


__all__ = ["index_shape", "slice_length"]
