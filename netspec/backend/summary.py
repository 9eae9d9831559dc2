"""The summary: a spec's rows, parameter counts, MACs and memory figures, as a table and as plain data.

Drawn from an :class:`netspec.middle.shapes.Inference` alone (``netspec summary``, :func:`netspec.summary`);
torch is never imported.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import Diagnostic
from ..middle import counts, shapes
from ..ops import DTYPE_BYTES, Dim, Tensor, fmt_shape


def _shape_json(shape: tuple[Dim, ...]) -> list[int | str]:
    return list(shape)


# The table's optional columns (``--columns``), as torchinfo names them, and their headings.
COLUMNS: dict[str, str] = {
    "input_size": "Input shape",
    "output_size": "Output shape",
    "num_params": "Params",
    "params_percent": "Params %",
    "kernel_size": "Kernel",
    "mult_adds": "MACs",
    "trainable": "Trainable",
}
DEFAULT_COLUMNS = ("output_size", "num_params")


def column_error(name: str) -> str:
    """What ``--columns`` with an unknown ``name`` says: the valid columns, listed."""
    return f"unknown column {name!r}; the columns are {', '.join(COLUMNS)}"


@dataclass(frozen=True)
class MemoryFigures(shapes.Memory):
    """Bytes, from shapes alone, at the summary's batch (docs/spec.md, "Counts"): the module's state
    (:class:`shapes.Memory`: parameters and buffers by dtype, each tensor once however often forward uses
    it) with the input and the activations, the outputs of every layer and op call; ``training_bytes`` is
    parameters, buffers, gradients, input and activations (optimizer state not included).  A figure is
    text when a symbol other than the batch is left in it.
    """

    input_bytes: Dim = 0
    activation_bytes: Dim = 0

    @property
    def trainable_param_bytes(self) -> int:
        return self.trainable_bytes

    @property
    def frozen_param_bytes(self) -> int:
        return self.total_param_bytes - self.trainable_bytes

    @property
    def gradient_bytes(self) -> int:
        return self.trainable_bytes

    @property
    def training_bytes(self) -> Dim:
        return counts.total([self.total_param_bytes, self.total_buffer_bytes, self.gradient_bytes, self.input_bytes,
                             self.activation_bytes])

    def to_json(self) -> dict[str, Any]:
        return {"param_bytes": dict(self.param_bytes), "total_param_bytes": self.total_param_bytes,
                "trainable_param_bytes": self.trainable_param_bytes, "frozen_param_bytes": self.frozen_param_bytes,
                "buffer_bytes": dict(self.buffer_bytes), "total_buffer_bytes": self.total_buffer_bytes,
                "gradient_bytes": self.gradient_bytes, "input_bytes": self.input_bytes,
                "activation_bytes": self.activation_bytes, "training_bytes": self.training_bytes}


def _count_text(value: Dim) -> str:
    return f"{value:,}" if isinstance(value, int) else str(value)


def _bytes_text(value: Dim) -> str:
    if not isinstance(value, int):
        return f"{value} bytes"
    return f"{value:,} bytes" + (f" ({value / 1e6:,.2f} MB)" if value >= 1_000_000 else "")


@dataclass
class Summary:
    """A spec's shapes and parameter counts; ``str()`` is the table, :meth:`to_json` the data.

    ``total_macs`` and each row's ``macs`` are multiply-accumulates per sample (the batch dim ``N`` set to 1);
    ``batch`` is the batch the memory figures and ``batch_macs`` are for (1 unless given).
    """

    name: str
    inputs: dict[str, tuple[Dim, ...]]
    output_shape: tuple[Dim, ...]
    total_params: int
    trainable_params: int
    rows: list[shapes.Row]
    variants: dict[str, tuple[Dim, ...]] = field(default_factory=dict)
    warnings: list[Diagnostic] = field(default_factory=list)
    vars: dict[str, Any] = field(default_factory=dict)  # the root's vars, overrides applied
    total_macs: Dim = 0
    batch: int = 1
    batch_macs: Dim = 0
    memory: MemoryFigures | None = None
    trainable: dict[str, bool] = field(default_factory=dict)  # row path -> its parameters train (rows with some)
    # Each row's MACs at ``batch`` (by row path; rows left out count per-sample MACs times the batch)
    row_batch_macs: dict[str, Dim] = field(default_factory=dict)
    dtype: str | None = None  # the floating dtype the memory figures assume (None: as the spec declares)

    def __str__(self) -> str:
        return self.render()

    def to_json(self) -> dict[str, Any]:
        """Plain data for ``json.dumps``: what ``netspec summary --json`` prints."""
        data: dict[str, Any] = {
            "name": self.name,
            "inputs": {k: _shape_json(v) for k, v in self.inputs.items()},
            "output_shape": _shape_json(self.output_shape),
            "total_params": self.total_params,
            "trainable_params": self.trainable_params,
            "total_macs": self.total_macs,
            "batch": self.batch,
            "batch_macs": self.batch_macs,
            "layers": [{"path": r.path, "type": r.type, "output_shape": _shape_json(r.output_shape),
                        "params": r.params, "depth": r.depth, "macs": r.macs,
                        "input_shapes": [_shape_json(s) for s in r.input_shapes],
                        "activation_bytes": r.activation_bytes} for r in self.rows],
        }
        if self.batch != 1 and self.row_batch_macs:  # each row's MACs at the batch, beside its per-sample macs
            for row, layer in zip(self.rows, data["layers"], strict=True):
                layer["batch_macs"] = self.row_batch_macs.get(row.path, 0)
        if self.memory is not None:
            data["memory"] = self.memory.to_json()
        if self.dtype is not None:
            data["dtype"] = self.dtype  # the dtype the memory figures are for
        if self.vars:
            data["vars"] = dict(self.vars)
        if self.variants:
            data["output_shapes"] = {k: _shape_json(v) for k, v in self.variants.items()}
        return data

    def render(self, depth: int | None = None, columns: Sequence[str] = DEFAULT_COLUMNS,
               at_batch: bool | None = None) -> str:
        """A plain-text table, one row per layer and op in forward order.  ``depth`` folds what nests deeper:
        0 shows the top-level layers and blocks alone (each block or Sequential with its total), 1 what they
        hold as well (torchinfo counts the model itself as 0: its ``depth=N+1`` is this ``depth=N``); None
        shows every row.  ``columns`` picks the columns
        after Layer and Type, in order, from :data:`COLUMNS`.  ``at_batch`` (default: when ``batch`` is not
        1) writes shapes and the MACs column at ``batch`` instead of with the symbol N and per sample."""
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise ValueError(column_error(unknown[0]))
        at = self.batch != 1 if at_batch is None else at_batch
        header = ("Layer", "Type", *(COLUMNS[c] + (f" (batch {self.batch})" if at and self.batch != 1 and
                                                   c == "mult_adds" else "") for c in columns))
        shown = [r for r in self.rows if depth is None or r.depth <= depth]
        body = [("  " * r.depth + r.path, r.type, *(self._cell(r, c, at) for c in columns)) for r in shown]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        right = [False, False, *(c in ("num_params", "params_percent", "mult_adds") for c in columns)]

        def line(row: tuple[str, ...]) -> str:
            return "  ".join(cell.rjust(w) if r else cell.ljust(w)
                             for cell, w, r in zip(row, widths, right, strict=True)).rstrip()

        rule = "-" * len(line(header))
        out = [f"{self.name}", rule, line(header), rule, *(line(r) for r in body), rule]
        inputs = ", ".join(f"{k} {self._shape(v, at)}" for k, v in self.inputs.items())
        out.append(f"Input: {inputs}")
        out.append(f"Output: {self._shape(self.output_shape, at)}")
        if self.vars:
            out.append("Vars: " + ", ".join(f"{k}={v!r}" for k, v in self.vars.items()))
        for label, shape in self.variants.items():
            out.append(f"  with {label}: {fmt_shape(shape)}")
        out.append(f"Total params: {self.total_params:,}")
        out.append(f"Trainable params: {self.trainable_params:,}")
        out.append(f"Non-trainable params: {self.total_params - self.trainable_params:,}")
        out.append(f"MACs per sample: {_count_text(self.total_macs)}")
        if self.batch != 1:
            out.append(f"MACs at batch {self.batch}: {_count_text(self.batch_macs)}")
        if self.memory is not None:
            m = self.memory
            at_text = f" (batch {self.batch})"
            if self.dtype is not None:
                out.append(f"Memory figures in {self.dtype}")
            out.append(f"Params size: {_bytes_text(m.total_param_bytes)}")
            if m.total_buffer_bytes:
                out.append(f"Buffers size: {_bytes_text(m.total_buffer_bytes)}")
            out.append(f"Input size{at_text}: {_bytes_text(m.input_bytes)}")
            out.append(f"Activations size{at_text}: {_bytes_text(m.activation_bytes)}")
            out.append(f"Estimated training size{at_text}: {_bytes_text(m.training_bytes)}")
        return "\n".join(out)

    def _shape(self, shape: Sequence[Dim], at_batch: bool) -> str:
        env = {counts.BATCH: self.batch}
        return fmt_shape([counts.bind(d, env) if at_batch and isinstance(d, str) else d for d in shape])

    def _cell(self, row: shapes.Row, column: str, at_batch: bool = False) -> str:
        if column == "input_size":
            return ", ".join(self._shape(s, at_batch) for s in row.input_shapes) or "--"
        if column == "output_size":
            return self._shape(row.output_shape, at_batch)
        if column == "num_params":
            return f"{row.params:,}"
        if column == "params_percent":
            return f"{100 * row.params / self.total_params:.2f}%" if row.params and self.total_params else "--"
        if column == "kernel_size":
            return "--" if row.kernel_size is None else str(row.kernel_size)
        if column == "mult_adds":
            if not row.macs:
                return "--"
            if at_batch and self.batch != 1:
                found = self.row_batch_macs.get(row.path)
                if found is None:  # a summary drawn without per-row figures: MACs grow with the batch
                    found = row.macs * self.batch if isinstance(row.macs, int) else f"{self.batch}*({row.macs})"
                return _count_text(found)
            return _count_text(row.macs)
        trainable = self.trainable.get(row.path)
        return "--" if trainable is None else str(trainable)


def summarise(inf: shapes.Inference, warnings: list[Diagnostic], batch: int = 1,
              dims: Mapping[str, int] | None = None, dtype: str | None = None) -> Summary:
    """The summary of an inference: rows with the parameters added, MACs per sample and at ``batch``,
    memory figures; ``dims`` binds symbolic dims other than the batch.  ``dtype`` (a spelling of
    :data:`netspec.backend.placement.DTYPE_NAMES`: ``bf16``...) gives the memory figures of the module built
    in that dtype, as ``load(..., dtype=)`` builds it and fed inputs of that dtype: every floating parameter,
    buffer, input and activation in it, integer and boolean tensors as they are."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} is not a positive int")
    cast = _dtype_name(dtype)
    env = {**(dims or {}), counts.BATCH: batch}
    sample = {**(dims or {}), counts.BATCH: 1}
    rows = _rows_with_params(inf)
    if cast is not None:
        _cast_activations(inf, rows, cast)
    leaves = [r for r in rows if not r.container]
    row_batch_macs: dict[str, Dim] = {}
    for row in rows:
        row.activation_bytes = counts.bind(row.activation_bytes, env)
        if batch != 1 and row.macs:
            row_batch_macs[row.path] = counts.bind(row.macs, env)
        row.macs = counts.bind(row.macs, sample)
    raw_macs = [r.macs for r in inf.rows if not r.container]
    memory = inf.memory
    input_bytes = counts.total([counts.tensor_bytes(i.shape, _as(i.dtype, cast)) for i in inf.model.inputs], env)
    figures = None if memory is None else MemoryFigures(
        _cast_bytes(memory.param_bytes, cast), _cast_bytes(memory.buffer_bytes, cast),
        _cast_trainable(memory, inf.trainable_params, cast),
        input_bytes, counts.total([r.activation_bytes for r in leaves]))
    return Summary(
        name=inf.model.name,
        inputs={i.name: i.shape for i in inf.model.inputs},
        output_shape=inf.output.shape,
        total_params=inf.total_params,
        trainable_params=inf.trainable_params,
        rows=rows,
        variants={k: v.shape for k, v in inf.variants.items()},
        warnings=warnings,
        vars=dict(inf.program.var_values),
        total_macs=counts.total(raw_macs, sample),
        batch=batch,
        batch_macs=counts.total(raw_macs, env),
        memory=figures,
        trainable=_trainable(inf, rows),
        row_batch_macs=row_batch_macs,
        dtype=cast,
    )


FLOATING = ("float16", "bfloat16", "float32", "float64")


def _dtype_name(dtype: str | None) -> str | None:
    """``dtype`` checked: one of the floating dtypes' names (the API reads the other spellings, ``bf16``...,
    through :data:`netspec.backend.placement.DTYPE_NAMES` first); ValueError listing them."""
    if dtype is None or dtype in FLOATING:
        return dtype
    raise ValueError(f"dtype={dtype!r} is not a floating-point dtype; use one of: {', '.join(FLOATING)}")


def _cast_trainable(memory: shapes.Memory, trainable_params: int, cast: str | None) -> int:
    """Bytes of the parameters that train, in ``cast``: from their bytes when one floating dtype holds every
    parameter, else from their count."""
    if cast is None:
        return memory.trainable_bytes
    floating = [d for d in memory.param_bytes if d in FLOATING]
    if len(floating) == 1:
        return memory.trainable_bytes // DTYPE_BYTES[floating[0]] * DTYPE_BYTES[cast]
    return trainable_params * DTYPE_BYTES[cast]


def _as(dtype: str, cast: str | None) -> str:
    return cast if cast is not None and dtype in FLOATING else dtype


def _cast_bytes(by_dtype: Mapping[str, int], cast: str | None) -> dict[str, int]:
    """Bytes by dtype, the floating ones as ``cast`` holds the same elements."""
    if cast is None:
        return dict(by_dtype)
    out: dict[str, int] = {}
    for dtype, size in by_dtype.items():
        target = _as(dtype, cast)
        out[target] = out.get(target, 0) + size // DTYPE_BYTES[dtype] * DTYPE_BYTES[target]
    return out


def _cast_activations(inf: shapes.Inference, rows: list[shapes.Row], cast: str) -> None:
    """Each leaf row's activation bytes with its floating outputs in ``cast``, from the tensors the trace
    recorded for it (a row the trace has no tensors for keeps its figure)."""
    outputs = {id(event.row): event.output for event in inf.trace if event.row is not None}
    originals = {r.path: r for r in inf.rows}
    for row in rows:
        original = originals.get(row.path)
        if row.container or original is None or id(original) not in outputs:
            continue
        row.activation_bytes = counts.total(counts.tensor_bytes(t.shape, _as(t.dtype, cast))
                                            for t in _tensors(outputs[id(original)]))


def _tensors(value: Any) -> list[Tensor]:
    if isinstance(value, Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for v in value for t in _tensors(v)]
    if isinstance(value, dict):
        return [t for v in value.values() for t in _tensors(v)]
    return []


def _trainable(inf: shapes.Inference, rows: list[shapes.Row]) -> dict[str, bool]:
    """Whether each row with parameters trains: a layer always does, a Parameter as declared, a container when
    everything in it does."""
    frozen = [instance.qualified(item.attr) for instance in inf.instances.values()
              for group in instance.definition.params for item in group.items if not item.requires_grad]
    return {row.path: not any(p == row.path or p.startswith(row.path + ".") for p in frozen)
            for row in rows if row.params}


def _rows_with_params(inf: shapes.Inference) -> list[shapes.Row]:
    # Copies: the inference is cached per spec text, and a caller editing a row it was
    # handed must not change what the next summary() of the same spec says.
    rows = [dataclasses.replace(row) for row in inf.rows]
    depth_of = {row.path: row.depth for row in rows}
    for instance in inf.instances.values() or ():
        depth = depth_of[instance.prefix] + 1 if instance.prefix in depth_of else 0
        for group in instance.definition.params:
            for item in group.items:
                path = instance.qualified(item.attr)
                rows.append(shapes.Row(path, "Parameter", shapes.param_shape(item, instance), inf.sizes[path], depth))
    return rows
