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
from ..ops import Dim, fmt_shape


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
        if self.memory is not None:
            data["memory"] = self.memory.to_json()
        if self.vars:
            data["vars"] = dict(self.vars)
        if self.variants:
            data["output_shapes"] = {k: _shape_json(v) for k, v in self.variants.items()}
        return data

    def render(self, depth: int | None = None, columns: Sequence[str] = DEFAULT_COLUMNS) -> str:
        """A plain-text table, one row per layer and op in forward order; ``depth`` folds what nests deeper
        (a block or Sequential then shows its total alone).  ``columns`` picks the columns after Layer and
        Type, in order, from :data:`COLUMNS`."""
        unknown = [c for c in columns if c not in COLUMNS]
        if unknown:
            raise ValueError(f"unknown column {unknown[0]!r}; the columns are {', '.join(COLUMNS)}")
        header = ("Layer", "Type", *(COLUMNS[c] for c in columns))
        shown = [r for r in self.rows if depth is None or r.depth <= depth]
        body = [("  " * r.depth + r.path, r.type, *(self._cell(r, c) for c in columns)) for r in shown]
        widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
        right = [False, False, *(c in ("num_params", "params_percent", "mult_adds") for c in columns)]

        def line(row: tuple[str, ...]) -> str:
            return "  ".join(cell.rjust(w) if r else cell.ljust(w)
                             for cell, w, r in zip(row, widths, right, strict=True)).rstrip()

        rule = "-" * len(line(header))
        out = [f"{self.name}", rule, line(header), rule, *(line(r) for r in body), rule]
        inputs = ", ".join(f"{k} {fmt_shape(v)}" for k, v in self.inputs.items())
        out.append(f"Input: {inputs}")
        out.append(f"Output: {fmt_shape(self.output_shape)}")
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
            at = f" (batch {self.batch})"
            out.append(f"Params size: {_bytes_text(m.total_param_bytes)}")
            if m.total_buffer_bytes:
                out.append(f"Buffers size: {_bytes_text(m.total_buffer_bytes)}")
            out.append(f"Input size{at}: {_bytes_text(m.input_bytes)}")
            out.append(f"Activations size{at}: {_bytes_text(m.activation_bytes)}")
            out.append(f"Estimated training size{at}: {_bytes_text(m.training_bytes)}")
        return "\n".join(out)

    def _cell(self, row: shapes.Row, column: str) -> str:
        if column == "input_size":
            return ", ".join(fmt_shape(s) for s in row.input_shapes) or "--"
        if column == "output_size":
            return fmt_shape(row.output_shape)
        if column == "num_params":
            return f"{row.params:,}"
        if column == "params_percent":
            return f"{100 * row.params / self.total_params:.2f}%" if row.params and self.total_params else "--"
        if column == "kernel_size":
            return "--" if row.kernel_size is None else str(row.kernel_size)
        if column == "mult_adds":
            return _count_text(row.macs) if row.macs else "--"
        trainable = self.trainable.get(row.path)
        return "--" if trainable is None else str(trainable)


def summarise(inf: shapes.Inference, warnings: list[Diagnostic], batch: int = 1,
              dims: Mapping[str, int] | None = None) -> Summary:
    """The summary of an inference: rows with the parameters added, MACs per sample and at ``batch``,
    memory figures; ``dims`` binds symbolic dims other than the batch."""
    if isinstance(batch, bool) or not isinstance(batch, int) or batch < 1:
        raise ValueError(f"batch={batch!r} is not a positive int")
    env = {**(dims or {}), counts.BATCH: batch}
    sample = {**(dims or {}), counts.BATCH: 1}
    rows = _rows_with_params(inf)
    leaves = [r for r in rows if not r.container]
    for row in rows:
        row.activation_bytes = counts.bind(row.activation_bytes, env)
        row.macs = counts.bind(row.macs, sample)
    raw_macs = [r.macs for r in inf.rows if not r.container]
    memory = inf.memory
    input_bytes = counts.total([counts.tensor_bytes(i.shape, i.dtype) for i in inf.model.inputs], env)
    figures = None if memory is None else MemoryFigures(
        dict(memory.param_bytes), dict(memory.buffer_bytes), memory.trainable_bytes, input_bytes,
        counts.total([r.activation_bytes for r in leaves]))
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
    )


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
