"""ONNX export: a spec's module through ``torch.onnx``, with its symbolic dims dynamic.

    >>> netspec.export_onnx("lenet", "lenet.onnx")            # x: [N, 1, 32, 32], N dynamic
    >>> netspec.export_onnx("resnet18", "r18.onnx", overrides={"num_classes": 10}, batch=1)

The exporter is torch's own (``torch.onnx.export(..., dynamo=True)``, the
``torch.export``-based one), which needs ``onnx`` and ``onnxscript``: the
``onnx`` extra, ``pip install "netspec[onnx]"``, installs them with
``onnxruntime`` to run the result.  Without them :class:`MissingExtraError`
says what to install.  Importing this module imports neither torch nor onnx;
:func:`export_onnx` does, when called.

Every symbol in the spec's ``inputs`` (``N``, ``H``...) becomes a named
dynamic axis of the ONNX graph; the trace runs on example tensors built from
the declared shapes, each symbol bound to a small size (:data:`EXAMPLE_SIZES`).
``batch=`` fixes the batch symbol instead (a static graph for runtimes that
need one).  Forward arguments that are not tensors (a spec's ``args:``) keep
their defaults.
"""

from __future__ import annotations

import importlib
import logging
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import api
from ..frontend import files, shipped
from ..ops import Dim, fmt_shape

# The modules the export itself imports; onnxruntime (in the extra too) only runs the result.
REQUIRED_MODULES = ("onnx", "onnxscript")
EXTRA_HINT = 'pip install "netspec[onnx]"'
# The batch symbol ``batch=`` binds: the spec format's name for a batch size.
BATCH_SYMBOL = "N"
# Example sizes of symbolic dims for the trace: any size >= 2 (torch.export specialises 0 and 1).
EXAMPLE_SIZES: Mapping[str, int] = {BATCH_SYMBOL: 2}
DEFAULT_EXAMPLE_SIZE = 8
# A protobuf message cannot pass 2 GiB; past it the weights would have to go to a side file.
MAX_PROTO_BYTES = 2**31 - 1

_INTEGER_DTYPES = frozenset({"int64", "int32"})


class MissingExtraError(ImportError):
    """The ``onnx`` extra (onnx, onnxscript) is not installed."""


class ExportError(RuntimeError):
    """``torch.onnx`` could not export the module (an op it has no ONNX spelling for, a dynamic dim it
    had to fix...)."""


@dataclass(frozen=True)
class OnnxExport:
    """What :func:`export_onnx` wrote."""

    path: Path
    model: str  # the spec's class name
    inputs: dict[str, tuple[Dim, ...]]  # ONNX input name -> shape; a str is a dynamic axis
    outputs: list[str]  # ONNX output names
    opset: int
    size: int  # bytes written


def check_extra() -> None:
    """Raise :class:`MissingExtraError` unless the modules the export needs import."""
    for name in REQUIRED_MODULES:
        try:
            importlib.import_module(name)
        except ImportError as exc:
            raise MissingExtraError(f"ONNX export needs the onnx extra ({name} is not installed): "
                                    f"{EXTRA_HINT}") from exc


def example_shapes(compiled: api.Compiled, batch: int | None = None) -> dict[str, tuple[int, ...]]:
    """The concrete shape traced for each input: symbols bound to small sizes, ``batch`` to N if given."""
    sizes = {**EXAMPLE_SIZES, **({BATCH_SYMBOL: batch} if batch is not None else {})}
    return {i.name: tuple(d if isinstance(d, int) else sizes.get(d, DEFAULT_EXAMPLE_SIZE) for d in i.shape)
            for i in compiled.inference.model.inputs}


def graph_shapes(compiled: api.Compiled, batch: int | None = None) -> dict[str, tuple[Dim, ...]]:
    """Each input's shape in the ONNX graph: the spec's own, with N fixed to ``batch`` if given."""
    return {i.name: tuple(batch if batch is not None and d == BATCH_SYMBOL else d for d in i.shape)
            for i in compiled.inference.model.inputs}


def export_onnx(spec: api.SpecLike | None, path: str | os.PathLike[str], *, text: str | None = None,
                filename: str | None = None, overrides: Mapping[str, Any] | None = None,
                search_path: Sequence[str | os.PathLike[str]] = (), opset: int | None = None,
                batch: int | None = None, seed: int = 0) -> OnnxExport:
    """Export the spec's module (eval mode, float32, on the CPU) to ONNX at ``path``, atomically.

    ``spec``, ``text=``, ``filename=``, ``overrides=`` and ``search_path=`` as for
    :func:`netspec.load`; ``opset`` is the ONNX opset (default: torch's choice);
    ``batch`` fixes the batch dim ``N`` to that size instead of leaving it dynamic.
    The weights are the constructor's own initialisation after ``torch.manual_seed(seed)``:
    load a ``state_dict`` and call :func:`export_module` to export trained weights.

    ``path`` is never the spec itself or a file it imports, and never a FIFO, a device or a directory:
    those raise SpecError (``output-refused``) before anything is exported
    (:func:`netspec.frontend.files.write_atomic`).
    """
    check_extra()  # before any work: a missing extra is the likeliest failure and the cheapest to find
    compiled = api.compile_spec(spec, text=text, filename=filename, overrides=overrides, search_path=search_path)
    target = Path(path)
    # the spec's own file (a shipped name resolved), ``filename=`` for text, and every file it imported
    spec_file = shipped.resolve(spec) if isinstance(spec, (str, os.PathLike)) else filename
    files.check_target(target, spec_file, compiled.files)  # refused before the export runs
    model_bytes, info = compiled_bytes(compiled, opset=opset, batch=batch, seed=seed)
    files.write_atomic(target, model_bytes, spec_file, compiled.files)
    return OnnxExport(target, info.model, info.inputs, info.outputs, info.opset, len(model_bytes))


def onnx_bytes(spec: api.SpecLike | None = None, *, text: str | None = None, filename: str | None = None,
               overrides: Mapping[str, Any] | None = None, search_path: Sequence[str | os.PathLike[str]] = (),
               opset: int | None = None, batch: int | None = None, seed: int = 0) -> tuple[bytes, OnnxExport]:
    """The serialised ONNX model of the spec and what it holds (``path`` and ``size`` left empty)."""
    check_extra()  # before any work: a missing extra is the likeliest failure and the cheapest to find
    compiled = api.compile_spec(spec, text=text, filename=filename, overrides=overrides, search_path=search_path)
    return compiled_bytes(compiled, opset=opset, batch=batch, seed=seed)


def compiled_bytes(compiled: api.Compiled, *, opset: int | None = None, batch: int | None = None,
                   seed: int = 0, weights: str | os.PathLike[str] | None = None,
                   progress: bool = False) -> tuple[bytes, OnnxExport]:
    """:func:`onnx_bytes` of a spec already compiled (``netspec export`` reads stdin once); ``weights`` (a
    ``.pt``/``.pth`` state_dict, a ``.safetensors`` file or a sharded checkpoint's index, or the name of
    weights the spec declares) are loaded into the module first, strictly, as ``netspec.load`` loads them
    (``progress``: torch.hub's download bar, for a named entry not yet in the cache)."""
    if batch is not None and batch < 1:
        raise ValueError(f"batch={batch!r}: a batch size is a positive integer")
    inputs = compiled.inference.model.inputs
    if batch is not None and not any(BATCH_SYMBOL in i.shape for i in inputs):
        shown = ", ".join(f"{i.name} {fmt_shape(i.shape)}" for i in inputs)
        raise ExportError(f"{compiled.name} has no batch dim {BATCH_SYMBOL} to fix ({shown}): leave out batch")
    check_extra()
    import torch

    from ..backend import build
    from ..middle import shapes

    shapes.check_budget(compiled.inference, None)  # the budget netspec.load enforces
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        try:
            model = build.instantiate(build.make_class(compiled.source_code, compiled.name), "cpu")
        except Exception as exc:  # as netspec.load reports it
            raise api.build_failure(compiled, exc) from exc
    if weights is not None:  # a name the spec's `weights:` declares, or a file
        entry = api.named_entry(compiled, weights)
        if entry is not None:
            from ..backend.pretrained import load_named

            load_named(model, entry, progress=progress)
        else:
            from ..backend.weights import load_weights

            load_weights(model, weights)
    return export_module(model, compiled, opset=opset, batch=batch)


def export_module(model: Any, compiled: api.Compiled, *, opset: int | None = None,
                  batch: int | None = None) -> tuple[bytes, OnnxExport]:
    """Export ``model``, an instance of ``compiled``'s module (its weights as they are), to ONNX bytes."""
    check_extra()
    import torch

    model.eval()
    names = [i.name for i in compiled.inference.model.inputs]
    shapes = graph_shapes(compiled, batch)
    examples = tuple(_example(torch, shape, i.dtype) for shape, i in
                     zip(example_shapes(compiled, batch).values(), compiled.inference.model.inputs, strict=True))
    dims: dict[str, Any] = {}
    dynamic_shapes = {name: {axis: dims.setdefault(d, torch.export.Dim(d)) for axis, d in enumerate(shape)
                             if isinstance(d, str)} or None
                      for name, shape in shapes.items()}
    try:
        with _quiet():
            program = torch.onnx.export(model, examples, dynamo=True, input_names=names, output_names=["output"],
                                        dynamic_shapes=dynamic_shapes if dims else None, opset_version=opset,
                                        verbose=False, external_data=False)
    except Exception as exc:
        detail = (str(exc).strip().splitlines() or [""])[0][:300]
        raise ExportError(f"torch.onnx could not export {compiled.name}: {type(exc).__name__}: {detail}") from exc
    assert program is not None
    proto = program.model_proto
    # torch names the graph's inputs after forward's parameters: the spec's input names, already identifiers.
    outputs = [o.name for o in proto.graph.output]
    opset_used = next((o.version for o in proto.opset_import if o.domain in ("", "ai.onnx")), opset or 0)
    if opset is not None and opset_used != opset:  # torch logs a failed conversion and keeps its own opset
        raise ExportError(f"torch.onnx could not convert {compiled.name} to opset {opset} (it gives opset "
                          f"{opset_used}); try a newer opset")
    if proto.ByteSize() > MAX_PROTO_BYTES:
        raise ExportError(f"{compiled.name} is past the 2 GiB a single ONNX file can hold")
    return proto.SerializeToString(), OnnxExport(Path(), compiled.name, shapes, outputs, opset_used, 0)


def _example(torch: Any, shape: tuple[int, ...], dtype: str) -> Any:
    if dtype in _INTEGER_DTYPES:  # token ids: 0 is in range of any Embedding
        return torch.zeros(shape, dtype=getattr(torch, dtype))
    if dtype == "bool":
        return torch.zeros(shape, dtype=torch.bool)
    return torch.randn(shape, dtype=getattr(torch, dtype))


@contextmanager
def _quiet() -> Iterator[None]:
    """torch.onnx's progress lines and log warnings (torchvision ops it skips) and its internal
    deprecation warnings are not the user's business; a failure still raises."""
    loggers = [logging.getLogger(name) for name in ("torch.onnx", "torch.export", "torch._dynamo", "onnxscript")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for logger, level in zip(loggers, levels, strict=True):
            logger.setLevel(level)


__all__ = ["EXTRA_HINT", "ExportError", "MissingExtraError", "OnnxExport", "check_extra", "compiled_bytes",
           "export_module", "export_onnx", "onnx_bytes"]
