// Data Lineage: draws /api/dcl/graph/ (source fields → canonical fields → views → agents).
(function () {
  "use strict";
  var A = window.AutonomOS;

  // Column of each kind of node, left to right. Unknown kinds are placed by their depth in the graph.
  var RANKS = {
    connection: 0, source: 0, source_system: 0,
    source_object: 1, object: 1, table: 1,
    source_field: 2, sourcefield: 2,
    canonical_field: 3, field: 3, canonical: 3,
    entity: 4, view: 4, unified_view: 4,
    agent: 5, pilot: 5,
  };
  var TITLES = { 0: "Connections", 1: "Source objects", 2: "Source fields", 3: "Canonical fields", 4: "Views", 5: "Agents" };
  var COLORS = {
    0: ["var(--green-soft)", "var(--green)"], 1: ["var(--green-soft)", "var(--green)"], 2: ["var(--green-soft)", "var(--green)"],
    3: ["var(--blue-soft)", "var(--blue)"], 4: ["var(--purple-soft)", "var(--purple)"], 5: ["var(--amber-soft)", "var(--amber)"],
  };

  // `kind` names the layer; `type` is often the data type of a field (string, decimal…).
  function kindOf(n) { return String(n.kind || n.layer || n.node_type || n.group || n.type || "").toLowerCase(); }

  function normalize(data) {
    var rawNodes = (data && (data.nodes || (data.elements && data.elements.nodes))) || [];
    var rawEdges = (data && (data.edges || data.links || (data.elements && data.elements.edges))) || [];
    var nodes = rawNodes.map(function (n) {
      n = n.data || n;
      return { id: String(n.id), label: n.label || n.name || String(n.id), kind: kindOf(n), raw: n };
    });
    var ids = {};
    nodes.forEach(function (n) { ids[n.id] = n; });
    var edges = rawEdges.map(function (e) {
      e = e.data || e;
      return { source: String(e.source !== undefined ? e.source : e.from), target: String(e.target !== undefined ? e.target : e.to), raw: e,
               title: e.confidence !== undefined ? "confidence " + Math.round(Number(e.confidence) * 100) + "%" : (e.label || "") };
    }).filter(function (e) { return ids[e.source] && ids[e.target]; });
    // Ranks: known kinds first; the rest by longest path from a root.
    var depth = {};
    nodes.forEach(function (n) { if (RANKS[n.kind] !== undefined) depth[n.id] = RANKS[n.kind]; });
    for (var pass = 0; pass < 8; pass++) {
      edges.forEach(function (e) {
        if (RANKS[ids[e.target].kind] !== undefined) return;
        var d = (depth[e.source] !== undefined ? depth[e.source] : 0) + 1;
        if (depth[e.target] === undefined || depth[e.target] < d) depth[e.target] = d;
      });
    }
    nodes.forEach(function (n) {
      n.rank = depth[n.id] !== undefined ? depth[n.id] : 0;
      var c = COLORS[Math.min(5, n.rank)] || COLORS[3];
      n.fill = c[0]; n.stroke = c[1];
      n.group = (n.raw.connection || n.raw.connection_name || "") + "/" + (n.raw.source_object || "");
      n.groupLabel = [n.raw.connection || n.raw.connection_name, n.raw.source_object].filter(Boolean).join(" · ");
      if (n.kind === "source_field" && n.raw.source_object) {
        n.title = (n.raw.connection ? n.raw.connection + " · " : "") + n.raw.source_object + "." + n.label;
      }
      if (n.kind === "view" && n.raw.rows !== undefined) n.label += " · " + A.fmt.number(n.raw.rows) + " rows";
    });
    return { nodes: nodes, edges: edges };
  }

  // Keep what touches the chosen view: everything upstream of it and everything downstream.
  function subgraph(g, viewId) {
    if (!viewId) return g;
    var keep = {};
    keep[viewId] = true;
    function walk(forward) {
      var stack = [viewId], seen = {};
      while (stack.length) {
        var cur = stack.pop();
        g.edges.forEach(function (e) {
          var from = forward ? e.source : e.target, to = forward ? e.target : e.source;
          if (from === cur && !seen[to]) { seen[to] = true; keep[to] = true; stack.push(to); }
        });
      }
    }
    walk(true);
    walk(false);
    return {
      nodes: g.nodes.filter(function (n) { return keep[n.id]; }),
      edges: g.edges.filter(function (e) { return keep[e.source] && keep[e.target]; }),
    };
  }

  function details(panel, node, rel, g) {
    if (!node) { panel.innerHTML = '<h2>Details</h2><p class="muted">Select a node.</p>'; return; }
    var rows = Object.keys(node.raw).filter(function (k) { return ["id", "label", "name", "x", "y"].indexOf(k) < 0; }).map(function (k) {
      var v = node.raw[k];
      return "<dt>" + A.esc(k) + "</dt><dd>" + (typeof v === "object" && v !== null ? "<code>" + A.esc(JSON.stringify(v)) + "</code>" : A.esc(v)) + "</dd>";
    }).join("");
    function list(set, title) {
      var items = Object.keys(set).map(function (id) { return g.byId[id]; }).filter(Boolean);
      if (!items.length) return "";
      return "<h3>" + title + " (" + items.length + ")</h3><div class='row small'>" + items.slice(0, 40).map(function (n) {
        return '<a href="#" class="badge" data-goto="' + A.esc(n.id) + '">' + A.esc(n.label) + "</a>";
      }).join(" ") + (items.length > 40 ? " …" : "") + "</div>";
    }
    panel.innerHTML = "<h2>" + A.esc(node.label) + ' <span class="badge badge-grey">' + A.esc(node.kind || "node") + "</span></h2>" +
      (rows ? '<dl class="kv">' + rows + "</dl>" : "") + list(rel.up, "Comes from") + list(rel.down, "Feeds");
  }

  document.addEventListener("DOMContentLoaded", function () {
    var svg = document.getElementById("lineage");
    var status = document.getElementById("lineage-status");
    var panel = document.getElementById("lineage-details");
    var search = document.getElementById("lineage-search");
    var wrap = document.getElementById("lineage-wrap");
    var graph = new A.Graph(svg, {
      minFitScale: 0.5,
      horizontal: true,  // a layered graph: every edge goes left to right
      onSelect: function (node, rel) { details(panel, node, rel || {}, graph); },
    });
    A.Graph.bindTools(graph, wrap);
    var full = null;

    panel.addEventListener("click", function (ev) {
      var a = ev.target.closest("[data-goto]");
      if (!a) return;
      ev.preventDefault();
      graph.focus(a.getAttribute("data-goto"));
    });

    function draw(viewId) {
      var g = subgraph(full, viewId);
      if (!g.nodes.length) {
        status.hidden = false;
        status.innerHTML = "<strong>No lineage yet</strong>Sync a connection: its fields, their canonical fields, the views and the agents that read them appear here.";
        while (svg.firstChild) svg.removeChild(svg.firstChild);
        return;
      }
      status.hidden = true;
      var bounds = A.layeredLayout(g.nodes, g.edges, { colGap: 110, groupLabels: true });
      var titles = bounds.columns.map(function (c) { return { x: c.x, title: TITLES[c.rank] || "" }; });
      graph.render(g.nodes, g.edges, bounds, titles);
    }

    A.api("GET", svg.getAttribute("data-graph-url")).then(function (res) {
      if (!res.ok) {
        status.innerHTML = "<strong>The graph could not be loaded</strong>" + A.esc(A.errorMessage(res));
        return;
      }
      full = normalize(res.data);
      var views = full.nodes.filter(function (n) { return n.rank === 4; });
      var tools = document.querySelector(".graph-legend");
      if (views.length > 1) {
        var sel = document.createElement("select");
        sel.id = "lineage-view";
        sel.setAttribute("aria-label", "Show the lineage of one view");
        sel.innerHTML = '<option value="">All views</option>' + views.map(function (v) {
          return '<option value="' + A.esc(v.id) + '">' + A.esc(v.label) + "</option>";
        }).join("");
        search.parentNode.insertBefore(sel, search);
        sel.addEventListener("change", function () { draw(sel.value); });
        // A big graph starts on one view: all of it at once is a wall of labels.
        if (full.nodes.length > 80) sel.value = views[0].id;
        draw(sel.value);
        return;
      }
      draw("");
    });

    search.addEventListener("keydown", function (ev) {
      if (ev.key !== "Enter" || !graph.nodes.length) return;
      ev.preventDefault();
      var q = search.value.trim().toLowerCase();
      if (!q) { graph.select(null); return; }
      var hit = graph.nodes.filter(function (n) { return String(n.label).toLowerCase().indexOf(q) >= 0; })[0];
      if (hit) graph.focus(hit.id); else A.toast("No node matches “" + search.value + "”.");
    });
    document.addEventListener("themechange", function () { /* colours are CSS variables: nothing to redraw */ });
  });
})();
