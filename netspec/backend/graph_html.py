"""The ``.html`` picture: one self-contained page that lays the graph out itself, folding and unfolding.

The page carries the whole graph as data and a small layered-DAG layout in its script
(ranks by longest path, sources pulled down to their first consumer, a dummy vertex per
rank a long edge crosses, barycentre ordering sweeps, positions by isotonic regression,
a column much taller than ``WRAP`` pixels wrapped into columns of about equal height).  Each block and Sequential is
laid out inside its own box; a folded one is one node with its totals, and every fold,
unfold or search lays the picture out again, so no arrow ever ends in an empty box.
It starts folded at a depth (1 unless ``graph --depth`` says otherwise, counted as
``summary --depth`` counts); a search box finds a layer by path or name and unfolds the
blocks around it.

Nothing is fetched: a Content-Security-Policy of ``default-src 'none'`` stops the page
from loading anything even if it tried, and Graphviz is not needed.  The data travels as
JSON in a ``<script type="application/json">`` element, with ``<``, ``>`` and ``&``
escaped so no string can end the element; the script writes every user string with
``textContent`` or as an attribute value of its own generated ids only, never as markup.
"""

from __future__ import annotations

import html
import json
from typing import Any

from ..middle import ir
from ..ops import fmt_shape
from .graph import Graph, GraphError, block_nodes, cluster_title, node_details, node_lines

WRAP = 1600  # px: a column taller than about this (by half again) wraps into columns


def _json_for_script(data: Any) -> str:
    text = json.dumps(data, ensure_ascii=True, separators=(",", ":"))
    return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")


def page_data(graph: Graph, depth: int = 1) -> dict[str, Any]:
    """What the page's script needs: each node's lines and details, each cluster's parent, depth, title
    and the node it becomes folded, each edge's ends and shape."""
    if depth < 0:
        raise GraphError(f"the depth must be 0 or more, not {depth}")
    level = graph.levels()
    blocks = block_nodes(graph)
    return {
        "name": graph.name,
        "depth": depth,
        "wrap": WRAP,
        "nodes": [{"id": n.id, "kind": n.kind, "name": n.name, "path": n.path or n.name, "cluster": n.cluster,
                   "lines": node_lines(n), "details": node_details(n)} for n in graph.nodes],
        "clusters": [{"id": c.id, "parent": c.parent, "level": level[c.id], "path": c.path,
                      "sequential": c.type == ir.SEQUENTIAL,
                      "title": cluster_title(c), "lines": node_lines(blocks[c.id]),
                      "details": node_details(blocks[c.id])} for c in graph.clusters],
        "edges": [[e.src, e.dst, fmt_shape(e.shape)] for e in graph.edges],
    }


_CSS = """
:root { color-scheme: light; }
body { margin: 0; font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; color: #111827; }
header { display: flex; flex-wrap: wrap; gap: .6em 1em; align-items: center; padding: .6em 1em;
         border-bottom: 1px solid #e5e7eb; position: sticky; top: 0; background: #fff; z-index: 1; }
header h1 { font-size: 1.1em; margin: 0; }
header .hint { color: #6b7280; font-size: .9em; }
header form { display: flex; gap: .4em; align-items: center; margin: 0; }
#search-status { color: #6b7280; font-size: .85em; }
button, select, input { font: inherit; font-size: .85em; padding: .15em .5em; border: 1px solid #cbd5e1;
                        border-radius: 4px; background: #f8fafc; }
button { cursor: pointer; }
main { display: flex; align-items: flex-start; }
#graph { flex: 1; overflow: auto; padding: .5em; }
#info { width: 20em; position: sticky; top: 4em; margin: 1em; padding: .6em .8em; border: 1px solid #e5e7eb;
        border-radius: 6px; background: #f9fafb; font-size: .9em; min-height: 4em; }
#info h2 { font-size: 1em; margin: 0 0 .3em; word-break: break-all; }
#info dl { margin: 0; display: grid; grid-template-columns: auto 1fr; gap: .1em .8em; }
#info dt { color: #6b7280; }
#info dd { margin: 0; font-family: ui-monospace, monospace; word-break: break-all; }
svg text { font: 10px Helvetica, Arial, sans-serif; fill: #111827; }
g.cluster > rect { fill: #f8fafc; stroke: #64748b; }
g.cluster.seq > rect { fill: none; stroke: #94a3b8; stroke-dasharray: 5 3; }
g.cluster > text { cursor: pointer; font-size: 10px; }
g.cluster > text:hover { text-decoration: underline; }
g.node > rect, g.node > circle { stroke: #475569; }
g.node.layer > rect { fill: #dbeafe; }
g.node.op > rect, g.node.op > circle { fill: #fef3c7; }
g.node.param > rect { fill: #ede9fe; }
g.node.input > rect, g.node.output > rect { fill: #e5e7eb; }
g.node.block { cursor: pointer; }
g.node.block > rect { fill: #e0f2fe; stroke: #0369a1; }
g.node:hover > rect, g.node:hover > circle { stroke: #2563eb; stroke-width: 2; }
g.node:focus, g.cluster > text:focus { outline: 2px solid #2563eb; }
g.node.found > rect, g.node.found > circle, g.cluster.found > rect { stroke: #ea580c; stroke-width: 3; }
g.edge path { fill: none; stroke: #4b5563; }
g.edge text { font-size: 8px; fill: #374151; }
marker path { fill: #4b5563; }
"""

_JS = r"""
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("netspec-data").textContent);
  var NS = "http://www.w3.org/2000/svg";
  var LINE = 13, PADX = 8, PADY = 5, RANKGAP = 32, GAP = 18, CPAD = 10, CTITLE = 18, BANDGAP = 60, MARGIN = 12;
  var WRAP = data.wrap;
  var byId = function (id) { return document.getElementById(id); };
  var nodes = {}, clusters = {}, chains = {};
  data.nodes.forEach(function (n) { nodes[n.id] = n; });
  data.clusters.forEach(function (c) { clusters[c.id] = c; });
  function chainOf(cid) {  // the clusters holding cluster cid, outermost first, cid last
    if (!cid || !clusters[cid]) return [];
    if (!chains[cid]) chains[cid] = chainOf(clusters[cid].parent).concat([cid]);
    return chains[cid];
  }
  var maxLevel = data.clusters.reduce(function (m, c) { return Math.max(m, c.level); }, -1);
  var folded = {};
  var ctx = document.createElement("canvas").getContext("2d");
  if (ctx) ctx.font = "10px Helvetica, Arial, sans-serif";
  function textWidth(s) { return ctx ? ctx.measureText(s).width : s.length * 6; }

  // ------------------------------------------------------------ what is visible
  function build() {
    var root = {id: "", kind: "box", path: [], children: [], edges: [], ports: [], order: -1};
    var items = {"": root}, itemFor = {};
    function ensure(id, kind, path, order) {
      if (items[id]) return items[id];
      var parent = path.length ? ensure(path[path.length - 1], "box", path.slice(0, -1), order) : root;
      var it = {id: id, kind: kind, path: path, children: [], edges: [], ports: [], order: order};
      items[id] = it; parent.children.push(it);
      return it;
    }
    data.nodes.forEach(function (n, i) {
      var chain = chainOf(n.cluster), id = n.id, path = chain, kind = "node";
      for (var k = 0; k < chain.length; k++) {
        if (folded[chain[k]]) { id = chain[k]; path = chain.slice(0, k); kind = "block"; break; }
      }
      ensure(id, kind, path, i);
      itemFor[n.id] = id;
    });
    var seen = {}, drawn = [];
    data.edges.forEach(function (e) {
      var s = itemFor[e[0]], d = itemFor[e[1]];
      if (s === undefined || d === undefined || s === d) return;
      var key = s + " " + d + " " + e[2];
      if (seen[key]) return;
      seen[key] = true;
      var ps = items[s].path.concat([s]), pd = items[d].path.concat([d]), k = 0;
      while (k < ps.length && k < pd.length && ps[k] === pd[k]) k++;
      if (k >= ps.length || k >= pd.length) return;
      var edge = {src: s, dst: d, label: e[2], a: ps[k], b: pd[k], pts: [], ps: ps, pd: pd, k: k, legs: {}};
      (k === 0 ? root : items[ps[k - 1]]).edges.push(edge);
      // inside each box it leaves or enters, the edge runs from its child to the bottom or from the top
      for (var j = k; j < ps.length - 1; j++) items[ps[j]].ports.push({edge: edge, child: ps[j + 1], out: true});
      for (j = k; j < pd.length - 1; j++) items[pd[j]].ports.push({edge: edge, child: pd[j + 1], out: false});
      drawn.push(edge);
    });
    return {root: root, items: items, edges: drawn};
  }

  // ------------------------------------------------------------ layout
  function linesOf(it) {
    if (it.kind === "block") {
      var lines = clusters[it.id].lines.slice();
      lines[0] = "\u25b8 " + lines[0];
      return lines;
    }
    return nodes[it.id].lines;
  }

  function measureLeaf(it) {
    it.lines = linesOf(it);
    var w = 0;
    it.lines.forEach(function (l) { w = Math.max(w, textWidth(l)); });
    it.round = it.kind === "node" && nodes[it.id].kind === "op" && it.lines.length === 1;
    if (it.round) { it.w = it.h = Math.max(22, Math.ceil(w) + 10); return; }
    it.w = Math.ceil(w) + 2 * PADX;
    it.h = it.lines.length * LINE + 2 * PADY;
  }

  function pava(t) {  // the nondecreasing sequence nearest t (least squares)
    var blocks = [];
    t.forEach(function (v) {
      blocks.push([v, 1]);
      while (blocks.length > 1) {
        var b = blocks[blocks.length - 1], a = blocks[blocks.length - 2];
        if (a[0] / a[1] <= b[0] / b[1]) break;
        a[0] += b[0]; a[1] += b[1]; blocks.pop();
      }
    });
    var out = [];
    blocks.forEach(function (b) { for (var i = 0; i < b[1]; i++) out.push(b[0] / b[1]); });
    return out;
  }

  function avg(list, own) {
    if (!list.length) return own;
    var s = 0;
    list.forEach(function (v) { s += v; });
    return s / list.length;
  }

  function layoutBox(box) {
    box.children.forEach(function (kid) { if (kid.kind === "box") layoutBox(kid); else measureLeaf(kid); });
    var kids = box.children.slice().sort(function (a, b) { return a.order - b.order; });
    var index = {};
    kids.forEach(function (k, i) { index[k.id] = i; });
    var n = kids.length, pred = [], succ = [], rank = [], i;
    for (i = 0; i < n; i++) { pred.push([]); succ.push([]); rank.push(0); }
    box.edges.forEach(function (e) {
      var a = index[e.a], b = index[e.b];
      e.forward = a < b;
      if (e.forward) { succ[a].push(b); pred[b].push(a); }
    });
    for (i = 0; i < n; i++) pred[i].forEach(function (p) { rank[i] = Math.max(rank[i], rank[p] + 1); });
    for (i = n - 1; i >= 0; i--) {  // a source sits just above its first consumer
      if (pred[i].length || !succ[i].length) continue;
      var m = Infinity;
      succ[i].forEach(function (s) { m = Math.min(m, rank[s]); });
      rank[i] = Math.max(0, m - 1);
    }
    var ranks = n ? Math.max.apply(null, rank) + 1 : 0;
    var layers = [], rankH = [];
    for (i = 0; i < ranks; i++) { layers.push([]); rankH.push(0); }
    var verts = kids.map(function (k, j) {
      var v = {item: k, w: k.w, h: k.h, rank: rank[j], up: [], down: []};
      layers[rank[j]].push(v);
      rankH[rank[j]] = Math.max(rankH[rank[j]], k.h);
      return v;
    });
    // a column taller than WRAP (by half again) wraps into columns of about equal height
    var total = 0;
    rankH.forEach(function (h) { total += h + RANKGAP; });
    var limit = total > WRAP * 1.5 ? total / Math.ceil(total / WRAP) : Infinity;
    var bandOf = [], starts = [0], acc = 0;
    for (i = 0; i < ranks; i++) {
      if (acc > 0 && acc + rankH[i] > limit) { starts.push(i); acc = 0; }
      bandOf.push(starts.length - 1);
      acc += rankH[i] + RANKGAP;
    }
    starts.push(ranks);
    var bands = starts.length - 1;
    box.edges.forEach(function (e) {
      e.dummies = [];
      if (!e.forward) return;
      var u = verts[index[e.a]], v = verts[index[e.b]];
      e.cross = bandOf[u.rank] !== bandOf[v.rank] ? [bandOf[u.rank], bandOf[v.rank]] : null;
      if (e.cross) return;  // wrapped: drawn down, along the gutter to the next column, and in
      var prev = u;
      for (var r = u.rank + 1; r < v.rank; r++) {
        var d = {dummy: true, w: 6, h: 0, rank: r, up: [prev], down: []};
        prev.down.push(d); layers[r].push(d); e.dummies.push(d);
        prev = d;
      }
      prev.down.push(v); v.up.push(prev);
    });
    box.ports.forEach(function (port) {  // a chain of dummies between the child and the box's edge
      var v = verts[index[port.child]], band = bandOf[v.rank], chain = [], r;
      if (port.out) {
        var prev = v;
        for (r = v.rank + 1; r < starts[band + 1]; r++) {
          var d = {dummy: true, w: 6, h: 0, rank: r, up: [prev], down: []};
          prev.down.push(d); layers[r].push(d); chain.push(d); prev = d;
        }
      } else {
        var next = v;
        for (r = v.rank - 1; r >= starts[band]; r--) {
          var u = {dummy: true, w: 6, h: 0, rank: r, up: [], down: [next]};
          next.up.push(u); layers[r].push(u); chain.unshift(u); next = u;
        }
      }
      port.edge.legs[box.id] = chain;
    });
    function number(L) { L.forEach(function (v, j) { v.pos = j; }); }
    layers.forEach(number);
    function sortBy(L, dir) {
      L.forEach(function (v) {
        v.key = avg((dir ? v.up : v.down).map(function (u) { return u.pos; }), v.pos);
      });
      L.sort(function (a, b) { return a.key - b.key || a.pos - b.pos; });
      number(L);
    }
    var it2, r2;
    for (it2 = 0; it2 < 4; it2++) {
      for (r2 = 1; r2 < ranks; r2++) sortBy(layers[r2], true);
      for (r2 = ranks - 2; r2 >= 0; r2--) sortBy(layers[r2], false);
    }
    layers.forEach(function (L) {
      var x = 0;
      L.forEach(function (v) { v.x = x + v.w / 2; x += v.w + GAP; });
    });
    function settle(L, dir) {
      if (!L.length) return;
      var want = L.map(function (v) {
        var nb = (dir === 0 ? v.up : dir === 1 ? v.down : v.up.concat(v.down)).filter(function (u) {
          return bandOf[u.rank] === bandOf[v.rank];
        });
        return avg(nb.map(function (u) { return u.x; }), v.x);
      });
      var c = [0];
      for (var j = 1; j < L.length; j++) c.push(c[j - 1] + (L[j - 1].w + L[j].w) / 2 + GAP);
      var fit = pava(want.map(function (w, j) { return w - c[j]; }));
      L.forEach(function (v, j) { v.x = fit[j] + c[j]; });
    }
    for (it2 = 0; it2 < 6; it2++) {
      for (r2 = 1; r2 < ranks; r2++) settle(layers[r2], 0);
      for (r2 = ranks - 2; r2 >= 0; r2--) settle(layers[r2], 1);
    }
    for (r2 = 0; r2 < ranks; r2++) settle(layers[r2], 2);
    // columns: each band its own x range and its own y from the top
    var top = box.kind === "box" && box.id ? CTITLE + CPAD : 0, left = box.id ? CPAD : 0;
    var x0 = left, height = 0;
    box.bands = [];
    for (var b = 0; b < bands; b++) {
      var lo = Infinity, hi = -Infinity, y = top;
      for (r2 = starts[b]; r2 < starts[b + 1]; r2++) {
        layers[r2].forEach(function (v) { lo = Math.min(lo, v.x - v.w / 2); hi = Math.max(hi, v.x + v.w / 2); });
      }
      if (lo === Infinity) { box.bands.push({right: x0, top: top, bottom: top}); continue; }
      for (r2 = starts[b]; r2 < starts[b + 1]; r2++) {
        var rh = 0;
        layers[r2].forEach(function (v) { rh = Math.max(rh, v.h); });
        layers[r2].forEach(function (v) {
          v.rx = x0 + v.x - lo - v.w / 2; v.ry = y + (rh - v.h) / 2;
          if (!v.dummy) { v.item.rx = v.rx; v.item.ry = v.ry; } else { v.cy = y + rh / 2; }
        });
        y += rh + RANKGAP;
      }
      height = Math.max(height, y - RANKGAP);
      box.bands.push({right: x0 + hi - lo, top: top, bottom: y - RANKGAP});
      x0 += hi - lo + BANDGAP;
    }
    var width = Math.max(x0 - BANDGAP, left);
    if (box.id) {
      var titleW = textWidth("\u25be " + clusters[box.id].title) + 2 * CPAD;
      box.w = Math.ceil(Math.max(width + CPAD, titleW));
      box.h = Math.ceil(height + CPAD);
    } else {
      box.w = Math.ceil(width); box.h = Math.ceil(height);
    }
  }

  function place(box, ax, ay) {
    box.ax = ax; box.ay = ay;
    box.children.forEach(function (kid) {
      if (kid.kind === "box") place(kid, ax + kid.rx, ay + kid.ry);
      else { kid.ax = ax + kid.rx; kid.ay = ay + kid.ry; }
    });
    var at = function (d) { return [ax + d.rx + d.w / 2, ay + d.cy]; };
    box.edges.forEach(function (e) {
      e.pts = e.dummies.map(at);
      if (e.cross) {
        var from = box.bands[e.cross[0]], to = box.bands[e.cross[1]];
        e.gutter = [ax + from.right + BANDGAP / 2, ay + from.bottom + 6, ay + to.top - 8];
      }
    });
    box.ports.forEach(function (port) { port.edge.legs[box.id] = port.edge.legs[box.id].map(at); });
  }

  // ------------------------------------------------------------ drawing
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, String(attrs[k])); });
    if (parent) parent.appendChild(e);
    return e;
  }

  function text(parent, x, y, s, anchor) {
    var t = el("text", {x: x, y: y, "text-anchor": anchor || "middle"}, parent);
    t.textContent = s;
    return t;
  }

  function drawBox(box, layer) {
    box.children.forEach(function (kid) {
      if (kid.kind !== "box") return;
      var c = clusters[kid.id];
      var g = el("g", {id: kid.id, "class": "cluster" + (c.sequential ? " seq" : "")}, layer);
      el("rect", {x: kid.ax, y: kid.ay, width: kid.w, height: kid.h, rx: 6}, g);
      var title = text(g, kid.ax + 6, kid.ay + 13, "\u25be " + c.title, "start");
      title.setAttribute("class", "title");
      title.setAttribute("tabindex", "0");
      title.setAttribute("role", "button");
      drawBox(kid, layer);
    });
  }

  function drawLeaves(box, layer) {
    box.children.forEach(function (kid) {
      if (kid.kind === "box") { drawLeaves(kid, layer); return; }
      var kind = kid.kind === "block" ? "block" : nodes[kid.id].kind;
      var g = el("g", {id: kid.id, "class": "node " + kind}, layer);
      if (kind === "block") { g.setAttribute("tabindex", "0"); g.setAttribute("role", "button"); }
      if (kid.round) {
        el("circle", {cx: kid.ax + kid.w / 2, cy: kid.ay + kid.h / 2, r: kid.w / 2}, g);
        text(g, kid.ax + kid.w / 2, kid.ay + kid.h / 2 + 3.5, kid.lines[0]);
        return;
      }
      if (kind === "block") el("rect", {x: kid.ax + 3, y: kid.ay + 3, width: kid.w, height: kid.h, rx: 3}, g);
      var round = kind === "input" || kind === "output" ? kid.h / 2 : kind === "layer" ? 5 : 1;
      el("rect", {x: kid.ax, y: kid.ay, width: kid.w, height: kid.h, rx: round}, g);
      kid.lines.forEach(function (line, j) {
        text(g, kid.ax + kid.w / 2, kid.ay + PADY + LINE * j + 10, line);
      });
    });
  }

  function f(p) { return p[0].toFixed(1) + "," + p[1].toFixed(1); }

  function drawEdge(e, items, layer) {
    var s = items[e.src], d = items[e.dst];
    var start = [s.ax + s.w / 2, s.ay + s.h], end = [d.ax + d.w / 2, d.ay];
    var pts = [start], j;
    for (j = e.ps.length - 2; j >= e.k; j--) pts = pts.concat(e.legs[e.ps[j]]);  // out of the source's boxes
    pts = pts.concat(e.pts);
    var rest = [];
    for (j = e.k; j < e.pd.length - 1; j++) rest = rest.concat(e.legs[e.pd[j]]);  // into the target's
    rest.push(end);
    if (e.gutter) {  // straight lines: down, along the gutter between the columns, across the top, in
      var g0 = e.gutter, last = pts[pts.length - 1];
      pts.push([last[0], g0[1]], [g0[0], g0[1], 1], [g0[0], g0[2], 1], [rest[0][0], g0[2], 1]);
    }
    pts = pts.concat(rest);
    var path = "M" + f(start);
    for (j = 1; j < pts.length; j++) {
      var p = pts[j - 1], q = pts[j];
      if (q[2]) {
        path += " L" + f(q);
      } else if (q[1] > p[1] + 4) {
        var my = (p[1] + q[1]) / 2;
        path += " C" + f([p[0], my]) + " " + f([q[0], my]) + " " + f(q);
      } else {  // up: a step against forward order
        path += " C" + f([p[0], p[1] + 50]) + " " + f([q[0], q[1] - 50]) + " " + f(q);
      }
    }
    var g = el("g", {"class": "edge", "data-src": e.src, "data-dst": e.dst}, layer);
    el("path", {d: path, "marker-end": "url(#netspec-arrow)"}, g);
    text(g, start[0] + 4, start[1] + 11, e.label, "start");  // below its source, in the gap or the padding
  }

  var view = null;
  function render() {
    view = build();
    layoutBox(view.root);
    place(view.root, MARGIN, MARGIN);
    var w = view.root.w + 2 * MARGIN + 40, h = view.root.h + 2 * MARGIN;
    var svg = el("svg", {xmlns: NS, width: w, height: h, viewBox: "0 0 " + w + " " + h});
    var defs = el("defs", {}, svg);
    var marker = el("marker", {id: "netspec-arrow", viewBox: "0 0 8 8", refX: 8, refY: 4, markerWidth: 7,
                               markerHeight: 7, orient: "auto"}, defs);
    el("path", {d: "M0,0 L8,4 L0,8 z"}, marker);
    var boxes = el("g", {"class": "boxes"}, svg), edges = el("g", {"class": "edges"}, svg);
    var leaves = el("g", {"class": "leaves"}, svg);
    drawBox(view.root, boxes);
    view.edges.forEach(function (e) { drawEdge(e, view.items, edges); });
    drawLeaves(view.root, leaves);
    var holder = byId("graph");
    holder.textContent = "";
    holder.appendChild(svg);
  }

  // ------------------------------------------------------------ interaction
  function show(id) {
    var node = nodes[id] || clusters[id];
    if (!node) return;
    var info = byId("info");
    info.textContent = "";
    var h = document.createElement("h2");
    h.textContent = node.path;
    info.appendChild(h);
    var dl = document.createElement("dl");
    node.details.forEach(function (pair) {
      var dt = document.createElement("dt"); dt.textContent = pair[0];
      var dd = document.createElement("dd"); dd.textContent = pair[1];
      dl.appendChild(dt); dl.appendChild(dd);
    });
    info.appendChild(dl);
  }

  function setDepth(depth) {
    folded = {};
    data.clusters.forEach(function (c) { if (c.level >= depth) folded[c.id] = true; });
    byId("depth").value = String(Math.min(depth, maxLevel + 1));
    render();
  }
  function fold(id) { if (clusters[id]) { folded[id] = true; render(); } }
  function unfold(id) { if (clusters[id]) { delete folded[id]; render(); } }

  var last = {query: null, at: -1, hits: []};
  function search(query) {
    var q = String(query).trim().toLowerCase();
    var status = byId("search-status");
    if (!q) { status.textContent = ""; return null; }
    if (q !== last.query) {
      var all = data.nodes.filter(function (n) { return n.kind !== "output"; }).map(function (n) {
        return {id: n.id, path: n.path, name: n.name, cluster: n.cluster};
      }).concat(data.clusters.map(function (c) {
        return {id: c.id, path: c.path, name: c.path, cluster: c.parent};
      }));
      var rankOf = function (m) {
        var p = m.path.toLowerCase(), nm = m.name.toLowerCase();
        if (p === q) return 0;
        if (nm === q || p.slice(-q.length - 1) === "." + q) return 1;
        return p.indexOf(q) >= 0 || nm.indexOf(q) >= 0 ? 2 : 3;
      };
      var hits = all.map(function (m, j) { return {m: m, r: rankOf(m), j: j}; })
        .filter(function (h) { return h.r < 3; })
        .sort(function (a, b) { return a.r - b.r || a.j - b.j; });
      last = {query: q, at: -1, hits: hits.map(function (h) { return h.m; })};
    }
    if (!last.hits.length) {
      document.querySelectorAll("#graph .found").forEach(function (e) { e.classList.remove("found"); });
      status.textContent = "nothing matches \u201c" + String(query).trim() + "\u201d";
      return null;
    }
    last.at = (last.at + 1) % last.hits.length;
    var hit = last.hits[last.at];
    chainOf(hit.cluster).forEach(function (c) { delete folded[c]; });
    render();
    var found = byId(hit.id);
    if (found) {
      found.classList.add("found");
      if (found.scrollIntoView) found.scrollIntoView({block: "center", inline: "center"});
    }
    show(hit.id);
    status.textContent = (last.at + 1) + " of " + last.hits.length + ": " + hit.path;
    return hit.id;
  }

  var holder = byId("graph");
  holder.addEventListener("click", function (event) {
    var title = event.target.closest("g.cluster > text");
    if (title) { event.preventDefault(); fold(title.parentNode.id); return; }
    var block = event.target.closest("g.node.block");
    if (block) { event.preventDefault(); unfold(block.id); }
  });
  holder.addEventListener("keydown", function (event) {
    if (event.key !== "Enter" && event.key !== " ") return;
    var target = event.target;
    if (target.matches && target.matches("g.cluster > text")) { event.preventDefault(); fold(target.parentNode.id); }
    else if (target.matches && target.matches("g.node.block")) { event.preventDefault(); unfold(target.id); }
  });
  holder.addEventListener("focusin", function (event) {
    var node = event.target.closest && event.target.closest("g.node");
    if (node) show(node.id);
  });
  holder.addEventListener("mouseover", function (event) {
    var node = event.target.closest("g.node");
    if (node) show(node.id);
  });
  var select = byId("depth");
  for (var lv = 0; lv <= maxLevel + 1; lv++) {
    var option = document.createElement("option");
    option.value = String(lv);
    option.textContent = lv > maxLevel ? "all" : String(lv);
    select.appendChild(option);
  }
  select.addEventListener("change", function () { setDepth(Number(select.value)); });
  byId("fold-all").addEventListener("click", function () { setDepth(0); });
  byId("unfold-all").addEventListener("click", function () { setDepth(maxLevel + 1); });
  byId("search-form").addEventListener("submit", function (event) {
    event.preventDefault();
    search(byId("search").value);
  });
  window.netspecGraph = {fold: fold, unfold: unfold, search: search, setDepth: setDepth,
                         folded: function () { return Object.keys(folded); }};
  setDepth(data.depth);
})();
"""


def to_html(graph: Graph, depth: int = 1) -> str:
    """The page for ``graph``, folded at ``depth`` to start with (0: the top-level blocks and Sequentials
    are one node each; past the deepest nesting: all unfolded)."""
    data = page_data(graph, depth)
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
        '<span class="hint">Click a folded block to open it, a box\'s title to fold it; hover a node for its '
        "shapes, parameters and MACs.</span>",
        '<label>depth <select id="depth"></select></label>',
        '<button type="button" id="fold-all">Fold all</button>',
        '<button type="button" id="unfold-all">Unfold all</button>',
        '<form id="search-form" role="search"><input id="search" type="search" placeholder="find a layer" '
        'aria-label="find a layer by name"><button type="submit">Find</button>'
        '<span id="search-status" role="status"></span></form>',
        "</header>",
        "<main>",
        '<div id="graph"></div>',
        '<aside id="info" role="status">Hover a node.</aside>',
        "</main>",
        f'<script type="application/json" id="netspec-data">{_json_for_script(data)}</script>',
        f"<script>{_JS}</script>",
        "</body>",
        "</html>",
        "",
    ])
