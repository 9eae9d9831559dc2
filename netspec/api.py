"""The Python API: validate, summary, compile_source, load.

Everything but :func:`load` and :func:`build_class` stays torch-free; those two
import :mod:`netspec.build` when called.  Results of the pure stages are cached
by the spec's content, so loading the same spec again skips parse and codegen.
"""

from __future__ import annotations

import functools
import gc
import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from . import codegen, resolve, schema, shapes, source
from .errors import Diagnostic, SpecError
from .ops._core import Dim, fmt_shape

if TYPE_CHECKING:
    from torch import nn

SpecPath = str | FsPath


@dataclass(frozen=True)
class Compiled:
    """A spec taken through every pure stage."""

    inference: shapes.Inference
    source_code: str
    digest: str  # sha256 of the spec text

    @property
    def name(self) -> str:
        return self.inference.model.name

    @property
    def warnings(self) -> list[Diagnostic]:
        return self.inference.warnings + shapes.budget_warning(self.inference)


def compile_spec(path: SpecPath) -> Compiled:
    # Read, do not parse: a spec seen before is answered from the cache without parsing.
    return _compile_text(source.read_text(path), str(path))


def compile_string(text: str, file: str = "<spec>") -> Compiled:
    return _compile_text(text, file)


@functools.lru_cache(maxsize=64)
def _compile_text(text: str, file: str) -> Compiled:
    with _gc_paused():
        src = source.load_text(text, file)
        spec = schema.validate_data(src)
        model = resolve.resolve(spec, src)
        inference = shapes.infer(model)
        code = codegen.generate(inference)
    return Compiled(inference, code, hashlib.sha256(text.encode()).hexdigest())


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The pure stages build many small objects and no garbage cycles worth collecting;
    the cyclic collector's passes over them cost a third of the time on large specs."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def validate(path: SpecPath) -> list[Diagnostic]:
    """Check a spec completely (grammar, names, shapes); return its warnings or raise SpecError."""
    return compile_spec(path).warnings


def compile_source(path: SpecPath) -> str:
    """The generated Python source of the spec's module."""
    return compile_spec(path).source_code


def build_class(path: SpecPath) -> type[nn.Module]:
    from . import build

    compiled = compile_spec(path)
    return build.make_class(compiled.source_code, compiled.name)


def load(path: SpecPath, *, device: Any = None, dtype: Any = None, max_params: int | None = None) -> nn.Module:
    """Build the spec's module directly on ``device`` in ``dtype``.

    A model past ``max_params`` (default :data:`shapes.DEFAULT_MAX_PARAMS`) is
    refused before anything is allocated; ``device="meta"`` allocates nothing
    and is exempt.
    """
    from . import build

    compiled = compile_spec(path)
    if not build.is_meta(device):
        shapes.check_budget(compiled.inference, max_params)
    cls = build.make_class(compiled.source_code, compiled.name)
    return build.instantiate(cls, device, dtype)


# ---------------------------------------------------------------- summary


def _shape_json(shape: tuple[Dim, ...]) -> list[int | str]:
    return list(shape)


@dataclass
class Summary:
    name: str
    inputs: dict[str, tuple[Dim, ...]]
    output_shape: tuple[Dim, ...]
    total_params: int
    trainable_params: int
    rows: list[shapes.Row]
    variants: dict[str, tuple[Dim, ...]] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "inputs": {k: _shape_json(v) for k, v in self.inputs.items()},
            "output_shape": _shape_json(self.output_shape),
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "layers": [{"path": r.path, "type": r.type, "output_shape": _shape_json(r.output_shape),
                        "params": r.params} for r in self.rows],
        }
        if self.variants:
            data["output_shapes"] = {k: _shape_json(v) for k, v in self.variants.items()}
        return data

    def render(self) -> str:
        """A plain-text table, one row per layer and op in forward order."""
        header = ("Layer", "Type", "Output shape", "Params")
        body = [("  " * r.depth + r.path, r.type, fmt_shape(r.output_shape), f"{r.params:,}") for r in self.rows]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(4)]

        def line(row: tuple[str, str, str, str]) -> str:
            return "  ".join([row[0].ljust(widths[0]), row[1].ljust(widths[1]), row[2].ljust(widths[2]),
                              row[3].rjust(widths[3])]).rstrip()

        rule = "-" * len(line(header))
        out = [f"{self.name}", rule, line(header), rule, *(line(r) for r in body), rule]
        inputs = ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.inputs.items())
        out.append(f"Input: {inputs}")
        out.append(f"Output: {fmt_shape(self.output_shape)}")
        for label, shape in self.variants.items():
            out.append(f"  with {label}: {fmt_shape(shape)}")
        out.append(f"Total params: {self.total_params:,}")
        out.append(f"Trainable params: {self.trainable_params:,}")
        out.append(f"Non-trainable params: {self.total_params - self.trainable_params:,}")
        return "\n".join(out)


def summary(path: SpecPath) -> Summary:
    return summarise(compile_spec(path))


def summarise(compiled: Compiled) -> Summary:
    inf = compiled.inference
    return Summary(
        name=inf.model.name,
        inputs={i.name: i.shape for i in inf.model.inputs},
        output_shape=inf.output.shape,
        total_params=inf.total_params,
        trainable_params=inf.trainable_params,
        rows=_rows_with_params(inf),
        variants={k: v.shape for k, v in inf.variants.items()},
        warnings=compiled.warnings,
    )


def _rows_with_params(inf: shapes.Inference) -> list[shapes.Row]:
    rows = list(inf.rows)
    for group in inf.model.params:
        for item in group.items:
            rows.append(shapes.Row(item.attr, "Parameter", item.shape, inf.sizes[item.attr]))
    return rows


__all__ = ["Compiled", "SpecError", "Summary", "build_class", "compile_source", "compile_spec", "compile_string",
           "load", "summary", "validate"]
