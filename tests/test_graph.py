"""``netspec graph``: the data-flow graph, its DOT / SVG / Mermaid / HTML pictures.

The graph itself is checked without any program (every layer forward reaches is a
node, every edge carries its tensor's shape, skip connections and concatenations are
separate edges).  The SVG tests need Graphviz's ``dot`` and parse its output with
xml.etree, and skip, saying why, where it is missing (``.ci/run`` installs it).  The HTML
page lays itself out; tests/test_graph_page.py drives it in headless Chromium, and
tests/test_graph_depth.py checks ``--depth``.
"""

from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.backend import graph as graphs
from netspec.backend import graph_html
from netspec.ops import LAYERS, fmt_shape
from tests.conftest import ROOT, SPECS_DIR

ALL_SPECS = sorted(SPECS_DIR.glob("*.yaml")) + sorted((SPECS_DIR / "zoo").glob("*.yaml"))
LENET_LAYERS = ["conv1", "conv2", "fc1", "fc2", "fc3"]
SVG = "{http://www.w3.org/2000/svg}"
CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
needs_dot = pytest.mark.skipif(shutil.which("dot") is None,
                               reason="Graphviz's dot is not installed (apt-get install graphviz; .ci/run does)")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; "
                                    ".ci/run does): the HTML page is not tested in a browser")


def picture(spec: str | Path) -> graphs.Graph:
    return graphs.build(netspec.compile_spec(spec).inference)


# ---------------------------------------------------------------- the graph


@pytest.mark.parametrize("path", ALL_SPECS, ids=lambda p: p.stem)
def test_every_layer_forward_reaches_is_a_node_and_every_edge_has_its_shape(path: Path) -> None:
    inference = netspec.compile_spec(path).inference
    graph = graphs.build(inference)
    paths = {n.path for n in graph.nodes if n.kind == "layer"}
    for row in inference.rows:
        if row.type.removesuffix(" (shared)") in LAYERS:
            assert row.path in paths, row.path
    nodes = {n.id: n for n in graph.nodes}
    for edge in graph.edges:
        assert edge.src in nodes and edge.dst in nodes
        assert edge.shape in nodes[edge.dst].inputs
    assert [n.kind for n in graph.nodes].count("output") == 1
    assert graph.nodes[-1].shape == inference.output.shape
    ids = {c.id for c in graph.clusters}
    assert all(n.cluster is None or n.cluster in ids for n in graph.nodes)


def test_nodes_carry_per_sample_macs_where_the_summary_counts_them() -> None:
    inference = netspec.compile_spec("lenet").inference
    if not hasattr(inference.rows[0], "macs"):
        pytest.skip("summary rows carry no MACs")
    graph = graphs.build(inference)
    assert {n.path: n.macs for n in graph.nodes if n.kind == "layer"} == {
        "conv1": 117_600, "conv2": 240_000, "fc1": 48_000, "fc2": 10_080, "fc3": 840}
    assert sum(n.macs for n in graph.nodes if isinstance(n.macs, int)) == 416_520
    assert "conv1: Conv2d\\n(N, 6, 28, 28)\\n156 params, 117.60 K MACs" in graphs.to_dot(graph)


def _block(graph: graphs.Graph, path: str) -> tuple[graphs.Cluster, dict[str, graphs.Node]]:
    cluster = next(c for c in graph.clusters if c.path == path)
    members = graph.members(cluster.id)
    return cluster, {n.id: n for n in graph.nodes if n.id in members}


def _into(graph: graphs.Graph, node_id: str) -> list[str]:
    return [e.src for e in graph.edges if e.dst == node_id]


def test_resnet_skip_connections_feed_the_add() -> None:
    graph = picture("resnet18")
    names = {n.id: n.path for n in graph.nodes}
    blocks = [c for c in graph.clusters if c.type == "BasicBlock"]
    assert [c.path for c in blocks] == [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    for cluster in blocks:
        _, inside = _block(graph, cluster.path)
        add = next(n for n in inside.values() if n.type == "add")
        conv1 = next(n for n in inside.values() if n.path == f"{cluster.path}.conv1")
        (block_input,) = _into(graph, conv1.id)  # what enters the block
        sources = sorted(names[s] for s in _into(graph, add.id))
        if cluster.path in ("layer1.0", "layer1.1", "layer3.1", "layer2.1", "layer4.1"):
            # the identity path: the block's input itself reaches the add, beside the main path
            assert sources == sorted([f"{cluster.path}.bn2", names[block_input]]), sources
            assert block_input not in inside
        else:  # the downsample path starts from the block's input as well
            assert sources == [f"{cluster.path}.bn2", f"{cluster.path}.downsample.1"]
            down = next(n for n in inside.values() if n.path == f"{cluster.path}.downsample.0")
            assert _into(graph, down.id) == [block_input]
        assert add.cluster == cluster.id
    sequential = next(c for c in graph.clusters if c.path == "layer2.0.downsample")
    assert sequential.type == "Sequential" and sequential.parent == next(c.id for c in blocks if c.path == "layer2.0")


def test_a_value_used_twice_gives_two_edges_and_cat_one_per_tensor() -> None:
    graph = picture("densenet121")
    cats = [n for n in graph.nodes if n.type == "cat"]
    assert cats and all(len(_into(graph, n.id)) == 2 for n in cats)
    # each dense layer's input feeds both its own first layer and the cat after it
    first = cats[0]
    a, b = _into(graph, first.id)
    assert a != b
    vit = picture("vit_b_16")
    attention = next(n for n in vit.nodes if n.type == "MultiheadAttention")
    sources = _into(vit, attention.id)
    assert len(sources) == 3 and len(set(sources)) == 1  # attn(x, x, x): one value, three edges


def test_parameters_are_nodes_that_feed_their_op() -> None:
    graph = picture("my_list_dense")
    params = [n for n in graph.nodes if n.kind == "param"]
    assert [p.path for p in params] == ["params.0", "params.1", "params.2", "params.3"]
    assert [p.params for p in params] == [16, 16, 16, 4]
    mms = [n for n in graph.nodes if n.type == "mm"]
    assert [sorted(graph.node(s).kind for s in _into(graph, m.id)) for m in mms] == [["input", "param"]] + \
        [["op", "param"]] * 3


def test_only_draws_one_block_with_its_inputs_and_outputs() -> None:
    part = graphs.only(picture("resnet18"), "layer2.0")
    kinds = [n.kind for n in part.nodes]
    assert kinds.count("input") == 1 and kinds.count("output") == 1
    assert {c.path for c in part.clusters} == {"layer2.0", "layer2.0.downsample"}
    (source,) = [n for n in part.nodes if n.kind == "input"]
    assert len(_into(part, source.id)) == 0 and sum(e.src == source.id for e in part.edges) == 2  # conv1, downsample
    with pytest.raises(graphs.GraphError, match="no block or Sequential at 'layer9'"):
        graphs.only(picture("resnet18"), "layer9")


# ---------------------------------------------------------------- DOT and SVG


def test_lenet_dot_names_every_layer_and_shape(cli) -> None:
    result = cli("graph", "lenet")
    assert result.exit_code == 0, result.output
    dot = result.stdout
    assert dot.startswith("digraph netspec {")
    for name in LENET_LAYERS:
        assert re.search(rf'label="{name}: (Conv2d|Linear)\\n', dot), name
    assert 'label=" (N, 16, 5, 5)"' in dot and 'label=" (N, 400)"' in dot
    assert dot.count(" -> ") == 13


def _svg_texts(root: ET.Element) -> list[str]:
    return [t.text or "" for t in root.iter(f"{SVG}text")]


@needs_dot
def test_lenet_svg_names_every_layer(tmp_path: Path, cli) -> None:
    out = tmp_path / "lenet.svg"
    result = cli("graph", "lenet", "-o", str(out))
    assert result.exit_code == 0, result.output
    root = ET.parse(out).getroot()
    texts = _svg_texts(root)
    for name, kind in zip(LENET_LAYERS, ["Conv2d", "Conv2d", "Linear", "Linear", "Linear"], strict=True):
        assert f"{name}: {kind}" in texts, texts
    assert "(N, 16, 5, 5)" in texts and "61,706" not in texts
    assert any(t.startswith("48,120 params") for t in texts)
    assert len([g for g in root.iter(f"{SVG}g") if g.get("class") == "edge"]) == 13


def _svg_graph(root: ET.Element) -> tuple[dict[str, list[str]], list[tuple[str, str]], dict[str, list[str]]]:
    """Node id -> its texts, edges (src, dst), cluster title -> its texts, as Graphviz wrote them."""
    nodes: dict[str, list[str]] = {}
    clusters: dict[str, list[str]] = {}
    edges: list[tuple[str, str]] = []
    for g in root.iter(f"{SVG}g"):
        title = g.findtext(f"{SVG}title") or ""
        texts = [t.text or "" for t in g.iter(f"{SVG}text")]
        if g.get("class") == "node":
            nodes[title] = texts
        elif g.get("class") == "edge":
            src, dst = title.split("->")
            edges.append((src, dst))
        elif g.get("class") == "cluster":
            clusters[g.get("id", "")] = texts
    return nodes, edges, clusters


@needs_dot
def test_resnet_svg_shows_skip_connections_and_block_clusters(tmp_path: Path, cli) -> None:
    out = tmp_path / "resnet.svg"
    assert cli("graph", "resnet18", "-o", str(out)).exit_code == 0
    nodes, edges, clusters = _svg_graph(ET.parse(out).getroot())
    titles = [t[0] for t in clusters.values()]
    for i in range(1, 5):
        assert f"layer{i}.0: BasicBlock" in " ".join(titles) and any(t.startswith(f"layer{i}: Sequential")
                                                                        for t in titles)
    assert any(t.startswith("layer2.0.downsample: Sequential") for t in titles)
    adds = [n for n, texts in nodes.items() if texts == ["+"]]
    assert len(adds) == 8
    graph = picture("resnet18")
    for add in adds:
        into = [src for src, dst in edges if dst == add]
        assert len(into) == 2
        labels = sorted(nodes[src][0] for src in into)
        # the main path (bn2) and the skip: the block input (a relu or the maxpool) or its downsample
        assert labels[0] == "bn2: BatchNorm2d", labels
        assert labels[1] in ("downsample.1: BatchNorm2d", "maxpool: MaxPool2d", "relu#2: ReLU"), labels
        cluster = graph.node(add).cluster
        assert cluster is not None
        inside = graph.members(cluster)
        skip = next(src for src in into if nodes[src][0] != "bn2: BatchNorm2d")
        if not nodes[skip][0].startswith("downsample"):
            assert skip not in inside  # it comes from before the block: a residual path
            conv1 = next(n for n in inside if graph.node(n).name == "conv1")
            assert (skip, conv1) in edges  # the same value feeds the main path


@needs_dot
def test_readme_picture_is_the_resnet_block(tmp_path: Path, cli) -> None:
    committed = ROOT / "docs" / "images" / "resnet18_block.svg"
    nodes, edges, clusters = _svg_graph(ET.parse(committed).getroot())
    fresh = tmp_path / "fresh.svg"
    assert cli("graph", "resnet18", "--only", "layer2", "-o", str(fresh)).exit_code == 0
    again, fresh_edges, fresh_clusters = _svg_graph(ET.parse(fresh).getroot())
    assert sorted(map(tuple, nodes.values())) == sorted(map(tuple, again.values())), \
        "regenerate it: netspec graph resnet18 --only layer2 -o docs/images/resnet18_block.svg"
    assert sorted(edges) == sorted(fresh_edges) and sorted(clusters.values()) == sorted(fresh_clusters.values())
    assert "docs/images/resnet18_block.svg" in (ROOT / "README.md").read_text()


def test_missing_dot_is_one_clear_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli) -> None:
    monkeypatch.setattr("netspec.backend.graph.shutil.which", lambda name: None)
    result = cli("graph", "lenet", "-o", str(tmp_path / "x.svg"))
    assert result.exit_code == 1
    assert result.stderr.startswith("netspec: error: Graphviz's `dot` program is needed") and \
        result.stderr.count("\n") == 1
    assert not (tmp_path / "x.svg").exists()
    for ext in ("dot", "mmd", "html"):  # the page lays itself out
        assert cli("graph", "lenet", "-o", str(tmp_path / f"x.{ext}")).exit_code == 0


def test_graph_command_usage_and_errors(tmp_path: Path, cli) -> None:
    result = cli("graph", "lenet", "-o", str(tmp_path / "x.png"))
    assert result.exit_code == 2 and "cannot tell the format" in result.stderr
    result = cli("graph", "resnet18", "--only", "nope", "--format", "dot")
    assert result.exit_code == 1 and result.stderr.startswith("netspec: error: no block or Sequential at 'nope'")
    assert cli("graph", "lenet", "--format", "mmd").stdout.startswith("flowchart TB\n")
    assert cli("graph", "no_such_spec").exit_code == 1


# ---------------------------------------------------------------- Mermaid


_NODE = re.compile(r'^(\s*)([nb]\w+)(\(\["|\[\["|\["|\(\("|\[/")(.*?)("\]\)|"\]\]|"\]|"\)\)|"/\])$')
_EDGE = re.compile(r'^  ([nb]\w+) -->\|"([^"]*)"\| ([nb]\w+)$')
_SUBGRAPH = re.compile(r'^(\s*)subgraph (c\d+)\["([^"]*)"\]$')


def parse_mermaid(text: str) -> dict[str, Any]:
    """A strict reading of the subset of Mermaid flowchart syntax netspec writes: every line is a node,
    a subgraph, an end, an edge between declared nodes, or a class line; subgraphs nest properly."""
    lines = text.splitlines()
    assert lines[0] == "flowchart TB"
    nodes: dict[str, str] = {}
    parents: dict[str, str | None] = {}
    where: dict[str, str | None] = {}
    stack: list[str] = []
    edges: list[tuple[str, str, str]] = []
    for line in lines[1:]:
        if m := _SUBGRAPH.match(line):
            assert m.group(2) not in parents
            parents[m.group(2)] = stack[-1] if stack else None
            stack.append(m.group(2))
        elif line.strip() == "end":
            stack.pop()
        elif m := _NODE.match(line):
            assert m.group(2) not in nodes
            label = m.group(4)
            assert '"' not in label and "<" not in label.replace("<br/>", "")
            nodes[m.group(2)] = label
            where[m.group(2)] = stack[-1] if stack else None
        elif m := _EDGE.match(line):
            assert not stack
            assert m.group(1) in nodes and m.group(3) in nodes, line
            edges.append((m.group(1), m.group(3), m.group(2)))
        else:
            assert re.match(r"^  (class [\w,]+ \w+|classDef \w+ [\w:#,]+)$", line), line
    assert not stack
    return {"nodes": nodes, "edges": edges, "parents": parents, "where": where}


def test_mermaid_is_a_well_formed_flowchart() -> None:
    lenet = parse_mermaid(graphs.to_mermaid(picture("lenet")))
    labels = list(lenet["nodes"].values())
    for name in LENET_LAYERS:
        assert any(label.startswith(f"{name}: ") for label in labels)
    assert len(lenet["edges"]) == 13
    graph = picture("resnet18")
    resnet = parse_mermaid(graphs.to_mermaid(graph))
    assert resnet["parents"] == {c.id: c.parent for c in graph.clusters}
    assert resnet["where"] == {n.id: n.cluster for n in graph.nodes}
    assert sorted(resnet["edges"]) == sorted((e.src, e.dst, fmt_shape(e.shape))
                                             for e in graph.edges)
    assert any(v.startswith("relu#35;2: ReLU<br/>") for v in resnet["nodes"].values())


# ---------------------------------------------------------------- escaping


HOSTILE = 'a"b\\N</script><script>alert(1)</script>&amp;\n#x;'


def _hostile_graph() -> graphs.Graph:
    graph = graphs.Graph(HOSTILE)
    graph.clusters.append(graphs.Cluster("c0", HOSTILE, HOSTILE, None))
    graph.nodes.append(graphs.Node("n0", "input", HOSTILE, HOSTILE, "input", (HOSTILE, 3)))
    graph.nodes.append(graphs.Node("n1", "layer", HOSTILE, HOSTILE, HOSTILE, (HOSTILE,), "c0", 5,
                                   inputs=[(HOSTILE, 3)]))
    graph.edges.append(graphs.Edge("e0", "n0", "n1", (HOSTILE, 3)))
    return graph


def test_dot_strings_show_exactly_the_text() -> None:
    assert graphs.dot_string('say "hi"\\N') == '"say \\"hi\\"\\\\N"'
    assert graphs.dot_string("a\nb") == '"a b"'
    dot = graphs.to_dot(_hostile_graph())
    assert "<script>" in dot  # as text inside quoted strings: dot shows it, never as markup
    for line in dot.splitlines():  # every quote inside a string is escaped: strings pair up
        assert len(re.findall(r'(?<!\\)"', line.replace("\\\\", ""))) % 2 == 0, line


@needs_dot
def test_svg_shows_hostile_text_as_text() -> None:
    svg = graphs.to_svg(_hostile_graph())
    root = ET.fromstring(svg)
    assert not [e for e in root.iter() if e.tag.endswith("script")]
    flat = HOSTILE.replace("\n", " ")
    assert f"{flat}: {flat}" in _svg_texts(root)


def test_mermaid_text_is_entity_coded() -> None:
    text = graphs.mermaid_text(HOSTILE)
    assert re.fullmatch(r"[A-Za-z0-9 _.,:()+\-*/=@%·]*(#\d+;[A-Za-z0-9 _.,:()+\-*/=@%·]*)*", text)
    assert "#34;" in text and "#60;" in text and "#35;" in text
    parse_mermaid(graphs.to_mermaid(_hostile_graph()))


def test_html_keeps_hostile_text_out_of_markup() -> None:
    page = graph_html.to_html(_hostile_graph())
    assert "<script>alert(1)" not in page
    assert page.count("<script") == 2 and page.count("</script>") == 2
    data = page.split('id="netspec-data">', 1)[1].split("</script>", 1)[0]
    assert json.loads(data)["nodes"][1]["name"] == HOSTILE
