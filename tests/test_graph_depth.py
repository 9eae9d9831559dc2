"""``netspec graph --depth N``: every block and Sequential nested at depth N folded into one node
carrying its totals, depth counted as ``summary --depth`` counts it, the result laid out again.

The folding is checked on the graph itself (which nodes remain, what each folded node carries, that
every edge joins two drawn nodes); the sizes are checked on Graphviz's SVG (skipped, saying why,
where ``dot`` is missing, as in tests/test_graph.py)."""

from __future__ import annotations

import itertools
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

import netspec
from netspec.backend import graph as graphs
from netspec.backend import graph_html
from tests.test_graph import HOSTILE, parse_mermaid

needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (apt-get install graphviz; .ci/run does)")


def _full(spec: str) -> tuple[graphs.Graph, netspec.Compiled]:
    compiled = netspec.compile_spec(spec)
    return graphs.build(compiled.inference), compiled


def _check_edges(graph: graphs.Graph) -> None:
    ids = {n.id for n in graph.nodes}
    assert len(ids) == len(graph.nodes)
    assert all(e.src in ids and e.dst in ids and e.src != e.dst for e in graph.edges)
    assert len({(e.src, e.dst, e.shape) for e in graph.edges}) == len(graph.edges)
    clusters = {c.id for c in graph.clusters}
    assert all(n.cluster is None or n.cluster in clusters for n in graph.nodes)


@pytest.mark.parametrize("spec", ["resnet18", "zoo/resnet50", "zoo/densenet121", "vit_b_16", "lenet"])
@pytest.mark.parametrize("depth", [0, 1, 2])
def test_depth_folds_what_summary_depth_folds(spec: str, depth: int) -> None:
    graph, compiled = _full(spec)
    small = graphs.collapse(graph, depth)
    _check_edges(small)
    rows = {r.path: r for r in compiled.inference.rows}
    clusters = {c.path for c in graph.clusters}
    # a folded node for each block and Sequential the summary shows at exactly this depth ...
    folded = {n.path for n in small.nodes if n.kind == "block"}
    assert folded == {p for p in clusters if rows[p].depth == depth}
    # ... a box for each above it, and every layer the summary shows at this depth or above is still a node
    assert {c.path for c in small.clusters} == {p for p in clusters if rows[p].depth < depth}
    layers = {n.path for n in small.nodes if n.kind == "layer"}
    for node in graph.nodes:
        row = rows.get(node.path)
        if node.kind == "layer" and row is not None:
            assert (node.path in layers) == (row.depth <= depth), node.path
    # the totals travel: parameters are all still counted once
    assert sum(n.params or 0 for n in small.nodes) == sum(n.params or 0 for n in graph.nodes)
    for node in small.nodes:
        if node.kind == "block":
            assert node.params == rows[node.path].params


def test_a_folded_block_carries_its_totals_and_shapes() -> None:
    graph, _ = _full("zoo/resnet50")
    small = graphs.collapse(graph, 1)
    block = next(n for n in small.nodes if n.path == "layer1.0")
    assert (block.type, block.params) == ("Bottleneck", 75_008)
    assert block.inputs == [("N", 64, 56, 56)]  # one tensor in, though conv1 and downsample both read it
    assert block.shape == ("N", 256, 56, 56)
    assert block.macs == next(c.macs for c in graph.clusters if c.path == "layer1.0") and block.macs
    assert graphs.node_lines(block) == ["layer1.0: Bottleneck", "(N, 64, 56, 56) → (N, 256, 56, 56)",
                                        "75,008 params, 231.21 M MACs"]  # 12.85 + 115.61 + 2 x 51.38 M
    details = dict(graphs.node_details(block))
    assert details["input"] == "(N, 64, 56, 56)" and details["output"] == "(N, 256, 56, 56)"
    # the chain of blocks: each one's output feeds the next one, one edge each
    chain = [n for n in small.nodes if n.kind == "block"]
    assert [n.path for n in chain] == [f"layer{i}.{j}" for i, n in zip(range(1, 5), (3, 4, 6, 3), strict=True)
                                       for j in range(n)]
    for a, b in itertools.pairwise(chain):
        assert [(e.src, e.dst) for e in small.edges if e.dst == b.id] == [(a.id, b.id)]
        assert b.inputs == [a.shape]
    # DenseNet's dense layer: the block's input enters once, whatever reads it inside
    dense, _ = _full("zoo/densenet121")
    layer = next(n for n in graphs.collapse(dense, 2).nodes if n.path == "features.denseblock1.denselayer2")
    assert layer.inputs == [("N", 96, 56, 56)] and layer.shape == ("N", 32, 56, 56)


def test_depth_bounds() -> None:
    graph, _ = _full("resnet18")
    for huge in (3, 10**9):
        same = graphs.collapse(graph, huge)
        assert [n.id for n in same.nodes] == [n.id for n in graph.nodes] and same.edges == graph.edges
        assert same is not graph and same.nodes is not graph.nodes
    with pytest.raises(graphs.GraphError, match="the depth must be 0 or more, not -1"):
        graphs.collapse(graph, -1)
    with pytest.raises(graphs.GraphError, match="the depth must be 0 or more"):
        graph_html.to_html(graph, depth=-2)
    lenet, _ = _full("lenet")  # nothing to fold
    assert [n.id for n in graphs.collapse(lenet, 0).nodes] == [n.id for n in lenet.nodes]


def test_depth_with_only_counts_from_the_drawn_block() -> None:
    graph, _ = _full("resnet18")
    part = graphs.collapse(graphs.only(graph, "layer2"), 1)
    _check_edges(part)
    assert [n.path for n in part.nodes if n.kind == "block"] == ["layer2.0", "layer2.1"]
    assert [c.path for c in part.clusters] == ["layer2"]


def test_collapsed_mermaid_and_dot_are_well_formed() -> None:
    graph, _ = _full("resnet18")
    small = graphs.collapse(graph, 1)
    chart = parse_mermaid(graphs.to_mermaid(small))
    assert len(chart["edges"]) == len(small.edges)
    assert any(label.startswith("layer2.0: BasicBlock<br/>") for label in chart["nodes"].values())
    dot = graphs.to_dot(small)
    assert re.search(r'b\d+ \[id="b\d+", label="layer2\.0: BasicBlock\\n\(N, 64, 56, 56\) → \(N, 128, 28, 28\)', dot)


def _hostile_nest() -> graphs.Graph:
    """A block and a layer whose names and types look like markup and script."""
    graph = graphs.Graph(HOSTILE)
    graph.clusters.append(graphs.Cluster("c0", HOSTILE, HOSTILE, None, 7, 9))
    graph.clusters.append(graphs.Cluster("c1", HOSTILE + ".<b>", "<img src=x onerror=alert(2)>", "c0", 5))
    graph.nodes.append(graphs.Node("n0", "input", HOSTILE, HOSTILE, "input", (HOSTILE, 3)))
    graph.nodes.append(graphs.Node("n1", "layer", "<i>", HOSTILE + ".<b>.<i>", "</script>", (HOSTILE,), "c1", 5,
                                   inputs=[(HOSTILE, 3)]))
    graph.nodes.append(graphs.Node("n2", "param", "<w>", HOSTILE + ".w", "Parameter", (2,), "c0", 2))
    graph.nodes.append(graphs.Node("n3", "output", "output", "output", "output", (HOSTILE,)))
    graph.edges += [graphs.Edge("e0", "n0", "n1", (HOSTILE, 3)), graphs.Edge("e1", "n2", "n1", (2,)),
                    graphs.Edge("e2", "n1", "n3", (HOSTILE,))]
    return graph


def test_hostile_names_fold_as_text() -> None:
    for depth in (0, 1):
        small = graphs.collapse(_hostile_nest(), depth)
        _check_edges(small)
        block = next(n for n in small.nodes if n.kind == "block")
        assert graphs.node_lines(block)[0] in (f"{HOSTILE}: {HOSTILE}",
                                               f"{HOSTILE}.<b>: <img src=x onerror=alert(2)>")
        if depth == 1:  # two tensors flow into the inner block: the input, and its parent's parameter
            assert block.inputs == [(HOSTILE, 3), (2,)] and block.shape == (HOSTILE,)
            assert graphs.node_lines(block)[1] == f"({HOSTILE}, 3), (2) → ({HOSTILE})"
        parse_mermaid(graphs.to_mermaid(small))
        dot = graphs.to_dot(small)
        for line in dot.splitlines():
            assert len(re.findall(r'(?<!\\)"', line.replace("\\\\", ""))) % 2 == 0, line


@needs_dot
def test_hostile_names_fold_into_inert_svg() -> None:
    svg = graphs.to_svg(graphs.collapse(_hostile_nest(), 1))
    root = ET.fromstring(svg)
    assert not [e for e in root.iter() if e.tag.rsplit("}", 1)[-1] in ("script", "img", "b", "i")]
    assert any("<img src=x onerror=alert(2)>" in (t.text or "") for t in root.iter("{http://www.w3.org/2000/svg}text"))


def _height(svg_file: Path) -> float:
    root = ET.parse(svg_file).getroot()
    match = re.fullmatch(r"([\d.]+)pt", root.get("height", ""))
    assert match, root.get("height")
    return float(match.group(1))


@needs_dot
def test_resnet50_at_depth_1_is_at_most_a_fifth_as_tall(tmp_path: Path, cli) -> None:
    full, small = tmp_path / "full.svg", tmp_path / "small.svg"
    assert cli("graph", "zoo/resnet50", "-o", str(full)).exit_code == 0
    result = cli("graph", "zoo/resnet50", "--depth", "1", "-o", str(small))
    assert result.exit_code == 0, result.output
    assert _height(small) * 5 <= _height(full), (_height(small), _height(full))
    texts = [t.text or "" for t in ET.parse(small).getroot().iter("{http://www.w3.org/2000/svg}text")]
    assert "layer3.5: Bottleneck" in texts and "layer3.5.conv1: Conv2d" not in texts
    assert not any(t.startswith("conv1: Conv2d") for t in texts[texts.index("layer1.0: Bottleneck"):])
    depth0 = tmp_path / "depth0.svg"
    assert cli("graph", "zoo/resnet50", "--depth", "0", "-o", str(depth0)).exit_code == 0
    assert _height(depth0) < _height(small)


def test_depth_option_usage(cli) -> None:
    for bad in ("-1", "x", "1.5"):
        result = cli("graph", "lenet", "--depth", bad)
        assert result.exit_code == 2 and "--depth" in result.stderr, bad
    deep = cli("graph", "resnet18", "--depth", "99999999999999999999")
    assert deep.exit_code == 0 and deep.stdout == cli("graph", "resnet18").stdout
    shallow = cli("graph", "resnet18", "--depth", "0", "--format", "mmd")
    assert shallow.exit_code == 0
    chart = parse_mermaid(shallow.stdout)
    assert sum(label.startswith("layer") for label in chart["nodes"].values()) == 4
