"""The ``.html`` picture: one self-contained page (the SVG Graphviz lays out, inline CSS and JS).

Nothing is fetched: a Content-Security-Policy of ``default-src 'none'`` stops the page
from loading anything even if it tried.  Clicking a block's or Sequential's title folds
it (its insides hide, its box fills); hovering a node shows its path, type, input and
output shapes, parameters and MACs in a side panel.  The node data travels as JSON in a
``<script type="application/json">`` element, with ``<``, ``>`` and ``&`` escaped so no
string can end the element; the script writes it with ``textContent`` only, never as markup.
"""

from __future__ import annotations

import html
import json
from typing import Any

from .graph import Graph, check_svg, cluster_title, node_details, run_dot, to_dot


def _json_for_script(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_data(graph: Graph) -> dict[str, Any]:
    """What the page's script needs: each node's details, each cluster's members."""
    clusters = []
    for cluster in graph.clusters:
        members = graph.members(cluster.id)
        clusters.append({
            "id": cluster.id, "title": cluster_title(cluster), "path": cluster.path,
            "nodes": sorted(members),
            "edges": [e.id for e in graph.edges if e.src in members and e.dst in members],
            "sub": graph.descendants(cluster.id),
        })
    return {
        "name": graph.name,
        "nodes": {n.id: {"title": n.name, "details": node_details(n)} for n in graph.nodes},
        "clusters": clusters,
    }


def _svg_body(svg: str) -> str:
    """Graphviz's SVG without its XML declaration and doctype, to sit inside the page."""
    start = svg.find("<svg")
    return svg[start:] if start >= 0 else svg


_CSS = """
:root { color-scheme: light; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #111827; }
header { display: flex; gap: 1em; align-items: baseline; padding: .6em 1em; border-bottom: 1px solid #e5e7eb;
         position: sticky; top: 0; background: #fff; z-index: 1; }
header h1 { font-size: 1.1em; margin: 0; }
header .hint { color: #6b7280; font-size: .9em; }
button { font: inherit; font-size: .85em; padding: .15em .6em; border: 1px solid #cbd5e1; border-radius: 4px;
         background: #f8fafc; cursor: pointer; }
main { display: flex; align-items: flex-start; }
#graph { flex: 1; overflow: auto; padding: 1em; }
#info { width: 20em; position: sticky; top: 3.5em; margin: 1em; padding: .6em .8em; border: 1px solid #e5e7eb;
        border-radius: 6px; background: #f9fafb; font-size: .9em; min-height: 4em; }
#info h2 { font-size: 1em; margin: 0 0 .3em; word-break: break-all; }
#info dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: .1em .8em; }
#info dt { color: #6b7280; }
#info dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
g.cluster text { cursor: pointer; }
g.cluster text:hover { text-decoration: underline; }
g.cluster.folded path, g.cluster.folded polygon { fill: #cbd5e1; stroke-width: 2; }
g.node:hover > path, g.node:hover > polygon, g.node:hover > ellipse,
g.node:hover a > path, g.node:hover a > polygon, g.node:hover a > ellipse { stroke: #2563eb; stroke-width: 2; }
"""

_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("netspec-data").textContent);
  var folded = {};
  var byId = function (id) { return document.getElementById(id); };

  function apply() {
    var hidden = {};
    data.clusters.forEach(function (c) {
      if (!folded[c.id]) return;
      c.nodes.concat(c.edges, c.sub).forEach(function (id) { hidden[id] = true; });
    });
    Object.keys(data.nodes).forEach(function (id) {
      var el = byId(id); if (el) el.style.display = hidden[id] ? "none" : "";
    });
    document.querySelectorAll("#graph g.edge").forEach(function (el) {
      el.style.display = hidden[el.id] ? "none" : "";
    });
    data.clusters.forEach(function (c) {
      var el = byId(c.id); if (!el) return;
      el.style.display = hidden[c.id] ? "none" : "";
      el.classList.toggle("folded", !!folded[c.id]);
      var label = el.querySelector("text");
      if (label) label.textContent = (folded[c.id] ? "\u25b8 " : "\u25be ") + c.title;
    });
  }

  function toggle(id) { folded[id] = !folded[id]; apply(); }

  function show(id) {
    var node = data.nodes[id]; if (!node) return;
    var info = byId("info");
    info.textContent = "";
    var h = document.createElement("h2"); h.textContent = node.title; info.appendChild(h);
    var dl = document.createElement("dl");
    node.details.forEach(function (pair) {
      var dt = document.createElement("dt"); dt.textContent = pair[0];
      var dd = document.createElement("dd"); dd.textContent = pair[1];
      dl.appendChild(dt); dl.appendChild(dd);
    });
    info.appendChild(dl);
  }

  var svg = document.querySelector("#graph svg");
  svg.addEventListener("click", function (event) {
    var label = event.target.closest("g.cluster text");
    if (label) { event.preventDefault(); toggle(label.closest("g.cluster").id); }
  });
  svg.addEventListener("mouseover", function (event) {
    var node = event.target.closest("g.node");
    if (node) show(node.id);
  });
  byId("fold-all").addEventListener("click", function () {
    data.clusters.forEach(function (c) { folded[c.id] = true; });
    apply();
  });
  byId("unfold-all").addEventListener("click", function () { folded = {}; apply(); });
  apply();
})();
"""


def to_html(graph: Graph) -> str:
    svg = run_dot(to_dot(graph))
    check_svg(svg)
    title = html.escape(f"{graph.name} — netspec graph")
    return "\n".join([
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; "
        "script-src 'unsafe-inline'\">",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{title}</title>",
        f"<style>{_CSS}</style>",
        "</head>",
        "<body>",
        "<header>",
        f"<h1>{html.escape(graph.name)}</h1>",
        '<span class="hint">Click a block\'s title to fold it; hover a node for its shapes, parameters and MACs.'
        "</span>",
        '<button type="button" id="fold-all">Fold all</button>',
        '<button type="button" id="unfold-all">Unfold all</button>',
        "</header>",
        "<main>",
        f'<div id="graph">{_svg_body(svg)}</div>',
        '<aside id="info" role="status">Hover a node.</aside>',
        "</main>",
        f'<script type="application/json" id="netspec-data">{_json_for_script(page_data(graph))}</script>',
        f"<script>{_JS}</script>",
        "</body>",
        "</html>",
        "",
    ])
