"""Pictures of the data flow: ``netspec graph SPEC -o out.svg|.dot|.mmd|.html``.

The graph is read off the trace shape inference records (no torch, no second run): every
layer, op, parameter and arithmetic step of :attr:`Inference.trace` becomes a node, and
every tensor it consumes an edge from the node that made it, labelled with the tensor's
shape.  A value used twice gives two edges (a skip connection: the block input feeds the
first conv and the ``+``), a ``cat`` gets one edge per tensor it joins.  A block instance
and a Sequential become clusters holding the nodes their forward made.

:func:`collapse` folds every block and Sequential nested at a depth into one node carrying its
totals (``netspec graph --depth N``), counted as ``summary --depth`` counts: the top-level layers,
blocks and Sequentials are depth 0, what they hold depth 1, and so on.

Output formats: Graphviz DOT (always), SVG (through Graphviz's ``dot`` program),
Mermaid (for Markdown) and a self-contained HTML page (:mod:`netspec.backend.graph_html`).
Every user-derived string (names, paths, shapes) reaches a format only through that
format's escaping: :func:`dot_string`, :func:`mermaid_text`.
"""

from __future__ import annotations

import dataclasses
import shutil
import subprocess
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..middle import ir
from ..middle.shapes import Event, Inference, Row
from ..ops import Dim, Tensor, fmt_shape
from ..ops.operators import OPERATORS, operator_name

FORMATS = ("dot", "svg", "mmd", "html")
DOT_TIMEOUT = 120  # seconds: the largest zoo spec lays out in a few


class GraphError(Exception):
    """A picture that cannot be made (Graphviz missing or failing); the CLI prints it on one line."""


# ---------------------------------------------------------------- the graph


@dataclass
class Node:
    id: str  # "n3": generated, never user text
    kind: str  # "input" | "layer" | "op" | "param" | "output" | "block" (a folded block or Sequential)
    name: str  # what the node is called inside its cluster: "conv1", "relu#2", "+", "x"
    path: str  # the module path in the whole model ("layer1.0.conv1"), or the step's row path
    type: str  # Conv2d, relu, add, input...
    shape: tuple[Dim, ...]
    cluster: str | None = None
    params: int | None = None
    macs: Dim | None = None  # per sample: an int, or text over symbols other than the batch (H*W*9)
    inputs: list[tuple[Dim, ...]] = field(default_factory=list)


@dataclass
class Edge:
    id: str
    src: str
    dst: str
    shape: tuple[Dim, ...]


@dataclass
class Cluster:
    id: str  # "c2"
    path: str  # "layer1.0"
    type: str  # the block's definition name, or "Sequential"
    parent: str | None
    params: int | None = None
    macs: Dim | None = None


@dataclass
class Graph:
    name: str
    nodes: list[Node] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)

    def node(self, node_id: str) -> Node:
        return next(n for n in self.nodes if n.id == node_id)

    def members(self, cluster_id: str) -> set[str]:
        """The nodes inside a cluster, nested clusters included."""
        inside = {cluster_id}
        for cluster in self.clusters:  # parents come before children
            if cluster.parent in inside:
                inside.add(cluster.id)
        return {n.id for n in self.nodes if n.cluster in inside}

    def levels(self) -> dict[str, int]:
        """Each cluster's depth as ``summary --depth`` counts it: 0 for one outside every other, its
        parent's plus one inside one (parents come before children)."""
        level: dict[str, int] = {}
        for cluster in self.clusters:
            level[cluster.id] = level[cluster.parent] + 1 if cluster.parent in level else 0
        return level

    def descendants(self, cluster_id: str) -> list[str]:
        inside = [cluster_id]
        for cluster in self.clusters:
            if cluster.parent in inside:
                inside.append(cluster.id)
        return inside[1:]


class _GraphBuilder:
    """The graph as the tracer grows it: tensors -> the node that produced them, the open clusters."""

    def __init__(self, name: str, rows: dict[str, Row], sizes: dict[str, int]) -> None:
        self.graph = Graph(name)
        self.sizes = sizes  # parameters per leaf layer and parameter tensor
        self.rows = rows  # the compiled inference's rows by path: params and MACs as the summary has them
        self.producers: dict[int, tuple[Any, str]] = {}  # id(tensor) -> (the tensor, kept alive; its node)
        self.stack: list[str] = []
        self.params: dict[str, str] = {}  # parameter path -> its node

    def add_node(self, kind: str, name: str, path: str, type_: str, shape: tuple[Dim, ...],
                 inputs: Sequence[Tensor] = (), params: int | None = None) -> Node:
        row = self.rows.get(path)
        if row is not None and params is None and kind == "layer":
            params = row.params
        node = Node(f"n{len(self.graph.nodes)}", kind, name, path, type_, tuple(shape),
                    self.stack[-1] if self.stack else None, params, _row_macs(row),
                    [tuple(t.shape) for t in inputs])
        self.graph.nodes.append(node)
        for tensor in inputs:
            self.edge(tensor, node.id)
        return node

    def edge(self, tensor: Tensor, dst: str) -> None:
        known = self.producers.get(id(tensor))
        if known is not None and known[0] is tensor:
            self.graph.edges.append(Edge(f"e{len(self.graph.edges)}", known[1], dst, tuple(tensor.shape)))

    def produced(self, value: Any, node: Node) -> None:
        """Remember that ``node`` made ``value`` (each tensor of a tuple).  The trace hands each value on as
        its own object (an nn.Identity's output is a copy of its input), so each has one producer."""
        if isinstance(value, tuple):
            for item in value:
                self.produced(item, node)
        elif isinstance(value, Tensor):
            self.producers[id(value)] = (value, node.id)

    def open(self, path: str, type_: str, row: Row | None) -> None:
        cluster = Cluster(f"c{len(self.graph.clusters)}", path, type_, self.stack[-1] if self.stack else None,
                          row.params if row is not None else None, _row_macs(row))
        self.graph.clusters.append(cluster)
        self.stack.append(cluster.id)

    def close(self) -> None:
        self.stack.pop()


def _row_macs(row: Row | None) -> Dim | None:
    """A row's multiply-accumulates per sample (the batch symbol bound to 1), where rows count them;
    None for a row that counts none (a parameter-free op) or where no count is known."""
    macs = getattr(row, "macs", None)
    if macs is None or macs == 0 or not isinstance(macs, (int, str)):
        return None
    try:
        from ..middle.counts import per_sample
    except ImportError:  # pragma: no cover  (rows without a counts module)
        return macs
    value = per_sample(macs)
    return value or None


def build(inference: Inference) -> Graph:
    """The data-flow graph of a compiled spec (its forward at the default forward arguments), read off the
    trace shape inference recorded: every event a node, every tensor it consumed an edge from the event
    whose output it was."""
    rows = {row.path: row for row in inference.rows}
    builder = _GraphBuilder(inference.model.name, rows, inference.sizes)
    for event in inference.trace:
        _add_event(builder, event)
    builder.add_node("output", "output", "output", "output", inference.output.shape, [inference.output])
    return builder.graph


def _local(event: Event, path: str) -> str:
    """``path`` inside the instance that ran ``event``: ``conv1`` of ``layer1.0.conv1``."""
    prefix = event.instance
    return path[len(prefix) + 1:] if prefix and path.startswith(prefix + ".") else path


def _add_event(builder: _GraphBuilder, event: Event) -> None:
    kind = event.kind
    if kind == "enter":
        builder.open(event.path, event.type, builder.rows.get(event.path))
    elif kind == "exit":
        builder.close()
    elif kind == "input":
        builder.produced(event.output, builder.add_node("input", event.path, event.path, "input",
                                                        event.output.shape))
    elif kind in ("param", "buffer"):  # a buffer is drawn as a parameter is, typed Buffer
        node_id = builder.params.get(event.path)
        node = builder.graph.node(node_id) if node_id else builder.add_node(
            "param", _local(event, event.path), event.path, event.type, event.output.shape,
            params=builder.sizes.get(event.path))
        builder.params[event.path] = node.id
        builder.produced(event.output, node)
    elif kind in ("neg", "index"):
        builder.produced(event.output, builder.add_node("op", event.type, "", event.type, event.output.shape,
                                                        event.inputs))
    elif kind == "arith":
        builder.produced(event.output, builder.add_node("op", event.type, event.path, operator_name(event.type),
                                                        event.output.shape, event.inputs))
    elif kind == "layer":
        row = event.row
        assert row is not None
        node = builder.add_node("layer", _local(event, row.path), row.path, event.type, row.output_shape,
                                event.inputs, params=None if row.path in builder.rows else row.params)
        builder.produced(event.output, node)
    elif kind == "op":
        row = event.row
        assert row is not None
        shape = event.output.shape if isinstance(event.output, Tensor) else row.output_shape
        builder.produced(event.output, builder.add_node("op", event.type, row.path, event.type, shape,
                                                        event.inputs))


def only(graph: Graph, path: str) -> Graph:
    """The part of ``graph`` inside the block or Sequential at module path ``path``, with an input node
    for each value flowing in and an output node for each flowing out."""
    top = [c for c in graph.clusters if c.path == path]
    if not top:
        known = ", ".join(c.path for c in graph.clusters[:12])
        raise GraphError(f"no block or Sequential at '{path}'" + (f" (there are: {known}...)" if known else
                                                                   " (the model has none)"))
    keep_clusters = {top[0].id, *graph.descendants(top[0].id)}
    keep = graph.members(top[0].id)
    part = Graph(graph.name)
    part.clusters = [dataclasses.replace(c, parent=c.parent if c.parent in keep_clusters else None)
                     for c in graph.clusters if c.id in keep_clusters]
    sources: dict[str, Node] = {}
    sinks: dict[str, Node] = {}
    edges: list[Edge] = []
    for edge in graph.edges:
        if edge.src in keep and edge.dst in keep:
            edges.append(edge)
        elif edge.dst in keep:
            if edge.src not in sources:
                origin = graph.node(edge.src)
                name = origin.path if origin.kind == "layer" else origin.name
                sources[edge.src] = Node(f"{edge.src}_in", "input", name, origin.path, "input", edge.shape)
            edges.append(Edge(edge.id, sources[edge.src].id, edge.dst, edge.shape))
        elif edge.src in keep and edge.src not in sinks:
            sinks[edge.src] = Node(f"{edge.src}_out", "output", "output", "output", "output", edge.shape)
            edges.append(Edge(edge.id, edge.src, sinks[edge.src].id, edge.shape))
    part.nodes = [*sources.values(), *(n for n in graph.nodes if n.id in keep), *sinks.values()]
    part.edges = edges
    return part


def block_nodes(graph: Graph) -> dict[str, Node]:
    """For each cluster, the one node it becomes when folded: its path, type and totals (params and MACs
    as the summary counts them), a distinct input per tensor flowing in and its output shape.  One pass
    over the edges, each walking its ends' enclosing clusters (bounded by the nesting depth)."""
    parent = {c.id: c.parent for c in graph.clusters}
    owner = {n.id: n.cluster for n in graph.nodes}

    def chain(cluster_id: str | None) -> list[str]:
        out = []
        while cluster_id is not None:
            out.append(cluster_id)
            cluster_id = parent.get(cluster_id)
        return out

    chains: dict[str | None, list[str]] = {}
    ins: dict[str, dict[tuple[str, tuple[Dim, ...]], None]] = {c.id: {} for c in graph.clusters}
    outs: dict[str, dict[tuple[str, tuple[Dim, ...]], None]] = {c.id: {} for c in graph.clusters}
    for edge in graph.edges:
        src_cluster, dst_cluster = owner.get(edge.src), owner.get(edge.dst)
        for key in (src_cluster, dst_cluster):
            if key not in chains:
                chains[key] = chain(key)
        src_chain, dst_chain = chains[src_cluster], chains[dst_cluster]
        tensor = (edge.src, edge.shape)  # one producer and shape: one tensor, however many consumers inside
        for cluster_id in dst_chain:
            if cluster_id not in src_chain:
                ins[cluster_id][tensor] = None
        for cluster_id in src_chain:
            if cluster_id not in dst_chain:
                outs[cluster_id][tensor] = None
    nodes = {}
    for cluster in graph.clusters:
        shapes_out = [shape for _, shape in outs[cluster.id]]
        nodes[cluster.id] = Node("b" + cluster.id.removeprefix("c"), "block", cluster.path, cluster.path,
                                 cluster.type, shapes_out[0] if shapes_out else (), cluster.parent, cluster.params,
                                 cluster.macs, [shape for _, shape in ins[cluster.id]])
    return nodes


def collapse(graph: Graph, depth: int) -> Graph:
    """``graph`` with every block and Sequential at ``depth`` (0: the top-level ones) folded into one node
    carrying its totals, what nests inside it gone, and edges into and out of it drawn to that node (one
    per tensor).  A depth past the deepest nesting folds nothing."""
    if depth < 0:
        raise GraphError(f"the depth must be 0 or more, not {depth}")
    level = graph.levels()
    folded = {cluster_id for cluster_id, lvl in level.items() if lvl == depth}
    if not folded:
        return dataclasses.replace(graph, nodes=list(graph.nodes), edges=list(graph.edges),
                                   clusters=list(graph.clusters))
    blocks = block_nodes(graph)
    parent = {c.id: c.parent for c in graph.clusters}
    top: dict[str | None, str | None] = {None: None}  # cluster -> the folded cluster holding it, if any

    def folded_at(cluster_id: str | None) -> str | None:
        if cluster_id not in top:
            assert cluster_id is not None
            top[cluster_id] = cluster_id if cluster_id in folded else folded_at(parent.get(cluster_id))
        return top[cluster_id]

    for cluster in graph.clusters:  # parents first: the recursion stays one step deep
        folded_at(cluster.id)
    rep: dict[str, str] = {}
    out = Graph(graph.name)
    out.clusters = [c for c in graph.clusters if level[c.id] < depth]
    placed: set[str] = set()
    for node in graph.nodes:
        holder = top[node.cluster]
        if holder is None:
            rep[node.id] = node.id
            out.nodes.append(node)
        else:
            rep[node.id] = blocks[holder].id
            if holder not in placed:  # where its first node was: forward order kept
                placed.add(holder)
                out.nodes.append(blocks[holder])
    seen: set[tuple[str, str, tuple[Dim, ...]]] = set()
    for edge in graph.edges:
        src, dst = rep[edge.src], rep[edge.dst]
        key = (src, dst, edge.shape)
        if src == dst or key in seen:
            continue
        seen.add(key)
        out.edges.append(Edge(edge.id, src, dst, edge.shape))
    return out


# ---------------------------------------------------------------- labels


def _count(n: Dim) -> str:
    return f"{n:,}" if isinstance(n, int) else str(n)


def _macs(n: Dim) -> str:
    if not isinstance(n, int):
        return str(n)
    for scale, unit in ((10**12, "T"), (10**9, "G"), (10**6, "M"), (10**3, "K")):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(n)


_OPERATOR_NODES = frozenset(op.name for op in OPERATORS if op.forward)  # x + y: the box shows the symbol


def node_lines(node: Node) -> list[str]:
    """The lines a node's box shows: name and type, output shape, parameters and MACs."""
    if node.kind == "input":
        return [node.name, f"input {fmt_shape(node.shape)}"]
    if node.kind == "output":
        return [f"output {fmt_shape(node.shape)}"]
    if node.kind == "block":
        lines = [f"{node.name}: {node.type}",
                 ", ".join(fmt_shape(s) for s in node.inputs[:3]) + (", ..." if len(node.inputs) > 3 else "")
                 + " → " + fmt_shape(node.shape)]
        extra = [f"{_count(node.params)} params"] if node.params else []
        if node.macs:
            extra.append(f"{_macs(node.macs)} MACs")
        return lines + ([", ".join(extra)] if extra else [])
    if node.kind == "op" and (node.type in _OPERATOR_NODES or node.type == "neg"):
        return [node.name if node.type != "neg" else "-"]
    lines = [f"{node.name}: {node.type}" if node.kind != "op" else node.name, fmt_shape(node.shape)]
    extra = []
    if node.params:
        extra.append(f"{_count(node.params)} params")
    if node.macs:
        extra.append(f"{_macs(node.macs)} MACs")
    if extra:
        lines.append(", ".join(extra))
    return lines


def node_details(node: Node) -> list[tuple[str, str]]:
    """Everything known about a node, for a hover: path, type, shapes, params, MACs."""
    out = [("path", node.path or node.name), ("type", node.type)]
    out += [(f"input {i}" if len(node.inputs) > 1 else "input", fmt_shape(s)) for i, s in enumerate(node.inputs)]
    out.append(("output", fmt_shape(node.shape)))
    if node.params is not None:
        out.append(("params", _count(node.params)))
    if node.macs is not None:
        out.append(("MACs per sample", _count(node.macs)))
    return out


def cluster_title(cluster: Cluster) -> str:
    text = f"{cluster.path}: {cluster.type}"
    if cluster.params:
        text += f" · {_count(cluster.params)} params"
    if cluster.macs:
        text += f" · {_macs(cluster.macs)} MACs"
    return text


# ---------------------------------------------------------------- DOT


def dot_string(text: str) -> str:
    """``text`` as a DOT double-quoted string that shows exactly ``text``: backslashes (``\\N`` would name
    the node), quotes and ampersands (Graphviz reads entities) escaped, line breaks as spaces."""
    text = text.replace("\\", "\\\\").replace('"', '\\"').replace("&", "&amp;")
    text = "".join(" " if ch in "\r\n\t" or ord(ch) < 32 or ch in "\u2028\u2029\x7f" else ch for ch in text)
    return f'"{text}"'


def _dot_lines(lines: list[str]) -> str:
    return '"' + "\\n".join(dot_string(line)[1:-1] for line in lines) + '"'


_STYLE = {
    "input": 'shape=oval, style="filled", fillcolor="#e5e7eb"',
    "output": 'shape=oval, style="filled", fillcolor="#e5e7eb"',
    "layer": 'shape=box, style="rounded,filled", fillcolor="#dbeafe"',
    "op": 'shape=box, style="filled", fillcolor="#fef3c7"',
    "param": 'shape=note, style="filled", fillcolor="#ede9fe"',
    "block": 'shape=box3d, style="filled", fillcolor="#e0f2fe"',
}


def to_dot(graph: Graph) -> str:
    out = ["digraph netspec {",
           '  graph [rankdir=TB, fontname="Helvetica", fontsize=11, nodesep=0.3, ranksep=0.35, '
           f"tooltip={dot_string(graph.name)}];",
           '  node [fontname="Helvetica", fontsize=10, margin="0.12,0.04", height=0.3];',
           '  edge [fontname="Helvetica", fontsize=8, color="#4b5563", fontcolor="#374151", arrowsize=0.6];']
    children: dict[str | None, list[Cluster]] = {}
    for cluster in graph.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    nodes: dict[str | None, list[Node]] = {}
    for node in graph.nodes:
        nodes.setdefault(node.cluster, []).append(node)

    def emit(cluster_id: str | None, indent: str) -> None:
        for node in nodes.get(cluster_id, []):
            compact = node.kind == "op" and len(node_lines(node)) == 1
            style = 'shape=circle, style="filled", fillcolor="#fde68a", width=0.3, fixedsize=true' if compact \
                else _STYLE[node.kind]
            tip = "\\n".join(dot_string(f"{k}: {v}")[1:-1] for k, v in node_details(node))
            out.append(f'{indent}{node.id} [id="{node.id}", label={_dot_lines(node_lines(node))}, {style}, '
                       f'tooltip="{tip}"];')
        for cluster in children.get(cluster_id, []):
            block = cluster.type != ir.SEQUENTIAL
            style = 'style="rounded,filled"; fillcolor="#f8fafc"; color="#64748b"' if block else \
                'style="dashed,rounded"; color="#94a3b8"'
            out.append(f"{indent}subgraph cluster_{cluster.id} {{")
            out.append(f'{indent}  id="{cluster.id}"; label={dot_string(cluster_title(cluster))}; {style}; '
                       f'labeljust="l"; fontsize=10; tooltip={dot_string(cluster_title(cluster))};')
            emit(cluster.id, indent + "  ")
            out.append(f"{indent}}}")

    emit(None, "  ")
    for edge in graph.edges:
        out.append(f'  {edge.src} -> {edge.dst} [id="{edge.id}", label={dot_string(" " + fmt_shape(edge.shape))}];')
    out.append("}")
    return "\n".join(out) + "\n"


def dot_available() -> bool:
    return shutil.which("dot") is not None


def run_dot(dot: str, fmt: str = "svg") -> str:
    """Lay the graph out with Graphviz's ``dot``; GraphError when it is missing or fails."""
    program = shutil.which("dot")
    if program is None:
        raise GraphError("Graphviz's `dot` program is needed for .svg and .html output and was not found; install "
                         "Graphviz (apt-get install graphviz, brew install graphviz) or write .dot or .mmd")
    try:
        done = subprocess.run([program, f"-T{fmt}"], input=dot.encode(), capture_output=True,
                              timeout=DOT_TIMEOUT, check=False)
    except subprocess.TimeoutExpired:
        raise GraphError(f"Graphviz's `dot` took more than {DOT_TIMEOUT} s to lay the graph out") from None
    except OSError as exc:
        raise GraphError(f"cannot run Graphviz's `dot`: {exc.strerror}") from None
    if done.returncode != 0:
        first = (done.stderr.decode(errors="replace").strip().splitlines() or ["no message"])[0][:300]
        raise GraphError(f"Graphviz's `dot` failed: {first}")
    return done.stdout.decode()


_SVG_NS = "{http://www.w3.org/2000/svg}"
_XLINK = "{http://www.w3.org/1999/xlink}"


def to_svg(graph: Graph) -> str:
    svg = run_dot(to_dot(graph))
    check_svg(svg)
    return svg


def check_svg(svg: str) -> None:
    """Refuse an SVG holding anything active (scripts, event handlers, foreign content, links out): dot
    escapes label text, and this makes sure no user text became markup on the way."""
    root = ET.fromstring(svg.encode())
    for element in root.iter():
        tag = element.tag.rsplit("}", 1)[-1].lower()
        if tag in ("script", "foreignobject", "iframe", "object", "embed", "style", "image", "use"):
            raise GraphError(f"Graphviz produced an unexpected <{tag}> element")
        for key, value in element.attrib.items():
            name = key.rsplit("}", 1)[-1].lower()
            if name.startswith("on") or (name == "href" and value.strip() and not value.startswith("#")):
                raise GraphError(f"Graphviz produced an unexpected attribute {name}")


# ---------------------------------------------------------------- Mermaid

_MERMAID_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 _.,:()+-*/=@%·")


def mermaid_text(text: str) -> str:
    """``text`` for inside a Mermaid quoted label: every character but letters, digits and plain punctuation
    as an entity code (``#60;``), so none can close the label, start markup or be read as syntax."""
    return "".join(ch if ch in _MERMAID_SAFE else f"#{ord(ch)};" for ch in text)


def to_mermaid(graph: Graph) -> str:
    out = ["flowchart TB"]
    children: dict[str | None, list[Cluster]] = {}
    for cluster in graph.clusters:
        children.setdefault(cluster.parent, []).append(cluster)
    nodes: dict[str | None, list[Node]] = {}
    for node in graph.nodes:
        nodes.setdefault(node.cluster, []).append(node)
    shapes = {"input": ('(["', '"])'), "output": ('(["', '"])'), "layer": ('["', '"]'), "op": ('["', '"]'),
              "param": ('[/"', '"/]'), "block": ('[["', '"]]')}

    def emit(cluster_id: str | None, indent: str) -> None:
        for node in nodes.get(cluster_id, []):
            left, right = shapes[node.kind]
            if node.kind == "op" and len(node_lines(node)) == 1:
                left, right = '(("', '"))'
            label = "<br/>".join(mermaid_text(line) for line in node_lines(node))
            out.append(f"{indent}{node.id}{left}{label}{right}")
        for cluster in children.get(cluster_id, []):
            out.append(f'{indent}subgraph {cluster.id}["{mermaid_text(cluster_title(cluster))}"]')
            emit(cluster.id, indent + "  ")
            out.append(f"{indent}end")

    emit(None, "  ")
    for edge in graph.edges:
        out.append(f'  {edge.src} -->|"{mermaid_text(fmt_shape(edge.shape))}"| {edge.dst}')
    for kind in ("input", "layer", "op", "param", "block"):
        ids = [n.id for n in graph.nodes if n.kind == kind or (kind == "input" and n.kind == "output")]
        if ids:
            out.append(f"  class {','.join(ids)} {kind}")
    out += ["  classDef input fill:#e5e7eb,stroke:#6b7280", "  classDef layer fill:#dbeafe,stroke:#3b82f6",
            "  classDef op fill:#fef3c7,stroke:#d97706", "  classDef param fill:#ede9fe,stroke:#7c3aed",
            "  classDef block fill:#e0f2fe,stroke:#0369a1"]
    return "\n".join(out) + "\n"


__all__ = ["FORMATS", "Cluster", "Edge", "Graph", "GraphError", "Node", "block_nodes", "build", "collapse",
           "dot_string", "mermaid_text", "only", "to_dot", "to_mermaid", "to_svg"]
