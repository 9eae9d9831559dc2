"""The ``.html`` picture in headless Chromium: it lays itself out, folds and unfolds by laying out again,
starts folded at depth 1, and its search box unfolds to a layer.

A probe script appended to the page performs clicks, depth choices and searches through the page's
own controls (real DOM events), and after each step records what is drawn: the nodes, the folded
blocks, the open boxes, the picture's size, and every edge whose ends are not two drawn nodes or whose
path does not start and end on them.  Skipped, saying why, where Chromium is missing."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

import netspec
from netspec.backend import graph as graphs
from netspec.backend import graph_html
from tests.test_graph_depth import _hostile_nest

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium; "
                                    ".ci/run does): the HTML page is not tested in a browser")

_PROBE = r"""<script>
(function () {
  var steps = JSON.parse(document.getElementById("probe-steps").textContent), out = [];
  var data = JSON.parse(document.getElementById("netspec-data").textContent);
  var idOf = function (path) {
    var c = data.clusters.filter(function (c) { return c.path === path; })[0];
    if (c) return c.id;
    return data.nodes.filter(function (n) { return n.path === path; })[0].id;
  };
  function within(p, box) {
    return p.x >= box.x - 4 && p.x <= box.x + box.width + 4 && p.y >= box.y - 4 && p.y <= box.y + box.height + 4;
  }
  function snapshot(step) {
    var svg = document.querySelector("#graph svg"), bad = [];
    var ids = function (sel) { return Array.from(svg.querySelectorAll(sel)).map(function (g) { return g.id; }); };
    svg.querySelectorAll("g.edge").forEach(function (g) {
      var src = document.getElementById(g.getAttribute("data-src"));
      var dst = document.getElementById(g.getAttribute("data-dst"));
      var path = g.querySelector("path"), len = path.getTotalLength();
      var ok = src && dst && src.matches("g.node") && dst.matches("g.node") &&
               getComputedStyle(src).display !== "none" && getComputedStyle(dst).display !== "none" &&
               within(path.getPointAtLength(0), src.getBBox()) && within(path.getPointAtLength(len), dst.getBBox());
      if (!ok) bad.push(g.getAttribute("data-src") + "->" + g.getAttribute("data-dst"));
    });
    var box = svg.getBoundingClientRect();
    return {step: step, width: box.width, height: box.height, nodes: ids("g.node"), blocks: ids("g.node.block"),
            boxes: ids("g.cluster"), edges: svg.querySelectorAll("g.edge").length, bad: bad,
            found: ids(".found"), status: document.getElementById("search-status").textContent,
            info: document.getElementById("info").textContent, depth: document.getElementById("depth").value,
            texts: Array.from(svg.querySelectorAll("text")).map(function (t) { return t.textContent; }),
            elements: Array.from(document.querySelectorAll("body *")).map(function (e) { return e.localName; })};
  }
  function act(step) {
    var kind = step[0], arg = step[1];
    var click = function (el) { el.dispatchEvent(new MouseEvent("click", {bubbles: true, cancelable: true})); };
    if (kind === "open") click(document.getElementById(idOf(arg)).querySelector("rect"));
    else if (kind === "close") click(document.getElementById(idOf(arg)).querySelector("text"));
    else if (kind === "hover") {
      document.getElementById(idOf(arg)).querySelector("text")
        .dispatchEvent(new MouseEvent("mouseover", {bubbles: true}));
    } else if (kind === "key") {  // Enter on a folded block opens it, on a box's title folds it
      var target = document.getElementById(idOf(arg));
      if (target.matches("g.cluster")) target = target.querySelector("text");
      target.dispatchEvent(new KeyboardEvent("keydown", {key: "Enter", bubbles: true, cancelable: true}));
    } else if (kind === "depth") {
      var select = document.getElementById("depth");
      select.value = arg;
      select.dispatchEvent(new Event("change"));
    } else if (kind === "button") click(document.getElementById(arg));
    else if (kind === "search") {
      document.getElementById("search").value = arg;
      document.getElementById("search-form").requestSubmit();
    }
  }
  try {
    out.push(snapshot(["start"]));
    steps.forEach(function (step) { act(step); out.push(snapshot(step)); });
  } catch (e) { out.push({error: String(e) + " " + e.stack}); }
  var pre = document.createElement("pre");
  pre.id = "probe-result";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
})();
</script>"""


def drive(page: str, steps: list[list[Any]], tmp_path: Path) -> list[dict[str, Any]]:
    """Open ``page`` in headless Chromium, take ``steps``, and return a snapshot of the picture before
    and after each."""
    steps_json = json.dumps(steps).replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", f'<script type="application/json" id="probe-steps">{steps_json}'
                                  f"</script>\n{_PROBE}\n</body>"), encoding="utf-8")
    assert CHROMIUM is not None
    done = subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                           "--window-size=1400,1000", f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom",
                           probe.as_uri()], capture_output=True, text=True, timeout=120, check=False)
    match = re.search(r'<pre id="probe-result">(.*?)</pre>', done.stdout, re.S)
    assert match, f"no result from the page (rc {done.returncode}): {done.stderr[-2000:]}"
    out = json.loads(match.group(1).replace("&quot;", '"').replace("&lt;", "<").replace("&gt;", ">")
                     .replace("&amp;", "&"))
    assert not [s for s in out if "error" in s], out[-1]
    for snap in out:
        assert snap["bad"] == [], (snap["step"], snap["bad"][:5])  # every edge joins two drawn nodes
    return out


def _page(spec: str, **options: Any) -> tuple[str, graphs.Graph]:
    graph = graphs.build(netspec.compile_spec(spec).inference)
    return graph_html.to_html(graph, **options), graph


def _area(snapshot: dict[str, Any]) -> float:
    return float(snapshot["width"] * snapshot["height"])


def _ids(graph: graphs.Graph, *paths: str) -> list[str]:
    by_path = {c.path: c.id for c in graph.clusters} | {n.path: n.id for n in graph.nodes}
    return [by_path[p] for p in paths]


@needs_chromium
def test_page_starts_at_depth_1_and_folds_by_laying_out_again(tmp_path: Path, cli) -> None:
    out_file = tmp_path / "resnet18.html"
    result = cli("graph", "resnet18", "-o", str(out_file))
    assert result.exit_code == 0, result.output
    page = out_file.read_text(encoding="utf-8")
    # self-contained: nothing to fetch, and a policy that forbids fetching anyway
    assert not re.search(r"<(link|img|iframe|object|embed)\b|\bsrc=|@import|url\((?!#)", page)
    assert not re.search(r'href="(?!#)', page)
    assert "default-src 'none'" in page
    graph = graphs.build(netspec.compile_spec("resnet18").inference)
    start, opened, hovered, closed, keyed, unkeyed, everything, nothing = drive(page, [
        ["open", "layer2.0"], ["hover", "layer2.0.conv1"], ["close", "layer2.0"], ["key", "layer3.1"],
        ["key", "layer3.1"], ["depth", "3"], ["depth", "0"],
    ], tmp_path)
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    assert start["depth"] == "1"
    assert start["blocks"] == _ids(graph, *blocks)
    assert sorted(start["boxes"]) == sorted(_ids(graph, "layer1", "layer2", "layer3", "layer4"))
    assert _ids(graph, "layer2.0.conv1")[0] not in start["nodes"]
    assert "▸ layer2.0: BasicBlock" in start["texts"] and "▾ layer2: Sequential · 525,568 params · 411.04 M MACs" \
        in start["texts"]
    # opening a block: its nodes are drawn, its box replaces its node, the picture grows
    conv1, down = _ids(graph, "layer2.0.conv1", "layer2.0.downsample")
    assert conv1 in opened["nodes"] and down in opened["blocks"]  # the Sequential inside starts folded
    assert _ids(graph, "layer2.0")[0] in opened["boxes"] and _ids(graph, "layer2.0")[0] not in opened["nodes"]
    assert _area(opened) > _area(start) * 1.2  # laid out again: wrapped columns, so compare areas
    assert opened["edges"] > start["edges"]
    assert "layer2.0.conv1" in hovered["info"] and "(N, 128, 28, 28)" in hovered["info"]
    assert "73,728" in hovered["info"]
    # folding it again gives back the same picture, not a grey box with arrows into nothing
    assert (closed["nodes"], closed["edges"], closed["height"]) == (start["nodes"], start["edges"], start["height"])
    layer31, = _ids(graph, "layer3.1")
    assert layer31 in keyed["boxes"] and _ids(graph, "layer3.1.conv2")[0] in keyed["nodes"]
    assert layer31 in unkeyed["blocks"] and unkeyed["nodes"] == start["nodes"]
    for node in graph.nodes:
        if node.kind == "layer":
            assert f"{node.name}: {node.type}" in everything["texts"], node.path
    assert not everything["blocks"] and everything["depth"] == "3"
    assert len(everything["nodes"]) == len(graph.nodes)
    assert nothing["blocks"] == _ids(graph, "layer1", "layer2", "layer3", "layer4") and not nothing["boxes"]
    assert len(nothing["nodes"]) < len(start["nodes"]) < len(everything["nodes"])
    assert _area(nothing) < _area(start) < _area(everything)


@needs_chromium
def test_search_unfolds_to_a_layer(tmp_path: Path) -> None:
    page, graph = _page("zoo/resnet50")
    first, again, block, none = drive(page, [
        ["search", "layer3.4.conv2"], ["search", "layer3.4.conv2"], ["search", "LAYER4.1"], ["search", "nope"],
    ], tmp_path)[1:]
    target, = _ids(graph, "layer3.4.conv2")
    assert first["found"] == [target] and target in first["nodes"]
    assert first["status"] == "1 of 1: layer3.4.conv2" and "layer3.4.conv2" in first["info"]
    assert _ids(graph, "layer3.4")[0] in first["boxes"]
    assert _ids(graph, "layer3.3")[0] in first["blocks"]  # its neighbours stay folded
    assert again["found"] == [target]  # one hit: the same again
    # a block is found as itself: its parents open, it stays one node
    b, = _ids(graph, "layer4.1")
    assert block["found"] == [b] and b in block["blocks"] and block["status"].startswith("1 of ")
    assert none["found"] == [] and none["status"] == "nothing matches “nope”"


@needs_chromium
def test_densenet_starts_folded_and_wraps_long_chains(tmp_path: Path) -> None:
    page, graph = _page("zoo/densenet121")
    start, block3, everything = drive(page, [["open", "features.denseblock3"], ["button", "unfold-all"]],
                                      tmp_path)
    assert start["height"] < 2000  # its full strip is 31,340 pt as Graphviz draws it
    layers = [f"features.denseblock3.denselayer{i}" for i in range(1, 25)]
    assert set(_ids(graph, *layers)) <= set(block3["blocks"])
    # 24 dense layers and their cats: 48 ranks, wrapped into columns
    assert block3["height"] < 3500 and block3["width"] > start["width"]
    assert len(everything["nodes"]) == len(graph.nodes) and everything["height"] < 12000


@needs_chromium
def test_depth_option_sets_the_starting_fold(tmp_path: Path, cli) -> None:
    out_file = tmp_path / "r.html"
    assert cli("graph", "resnet18", "--depth", "0", "-o", str(out_file)).exit_code == 0
    start, = drive(out_file.read_text(encoding="utf-8"), [], tmp_path)
    assert start["depth"] == "0" and len(start["blocks"]) == 4
    assert cli("graph", "resnet18", "--depth", "99", "-o", str(out_file)).exit_code == 0
    start, = drive(out_file.read_text(encoding="utf-8"), [], tmp_path)
    assert start["depth"] == "3" and not start["blocks"]


HOSTILE_QUERY = '"><img src=x onerror="document.title=1"><script>document.title=2</script>'


@needs_chromium
def test_hostile_names_and_searches_stay_text(tmp_path: Path) -> None:
    graph = _hostile_nest()
    page = graph_html.to_html(graph)
    start, opened, searched, missed = drive(page, [["open", graph.clusters[1].path], ["search", "<i>"],
                                                   ["search", HOSTILE_QUERY]], tmp_path)
    elements = set(start["elements"])
    assert not elements & {"img", "b", "i", "iframe"}
    assert start["elements"].count("script") == 4  # the data, the page's, the probe's steps and the probe
    for snap in (opened, searched, missed):
        assert snap["elements"].count("script") == 4 and not set(snap["elements"]) & {"img", "b", "i"}
    assert any(t.startswith("▸ ") and "<img src=x onerror=alert(2)>" in t for t in start["texts"])
    assert "n1" in opened["nodes"] and "<i>: </script>" in opened["texts"]
    assert searched["found"] == ["n1"] and searched["status"].endswith(": " + graph.nodes[1].path)
    assert missed["status"] == f"nothing matches “{HOSTILE_QUERY}”"
