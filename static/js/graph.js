// A small SVG graph view: layered layout (left to right), pan (drag), zoom (wheel, pinch, buttons),
// click a node to light up everything upstream and downstream of it. Used by Data Lineage and the
// Architecture viewer. No dependencies.
(function () {
  "use strict";
  var NS = "http://www.w3.org/2000/svg";
  var A = (window.AutonomOS = window.AutonomOS || {});

  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    for (var k in attrs) if (Object.prototype.hasOwnProperty.call(attrs, k)) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }

  function textWidth(label) { return Math.min(260, 16 + String(label).length * 7); }

  // Place nodes in columns by rank; order each column by the mean position of its neighbours in the
  // previous column (a barycentre sweep), which keeps most edges from crossing.
  function layeredLayout(nodes, edges, opts) {
    opts = opts || {};
    var colGap = opts.colGap || 90, rowGap = opts.rowGap || 10, nodeH = opts.nodeH || 26, top = opts.top || 40;
    var byId = {};
    nodes.forEach(function (n) { byId[n.id] = n; n.w = n.w || textWidth(n.label); n.h = nodeH; });
    var ranks = [];
    nodes.forEach(function (n) { if (ranks.indexOf(n.rank) < 0) ranks.push(n.rank); });
    ranks.sort(function (a, b) { return a - b; });
    var cols = ranks.map(function (r) { return nodes.filter(function (n) { return n.rank === r; }); });
    var preds = {};
    edges.forEach(function (e) { (preds[e.target] = preds[e.target] || []).push(e.source); });
    cols[0].sort(function (a, b) { return String(a.group || "").localeCompare(String(b.group || "")) || String(a.label).localeCompare(String(b.label)); });
    cols[0].forEach(function (n, i) { n.order = i; });
    for (var c = 1; c < cols.length; c++) {
      cols[c].forEach(function (n) {
        var ps = (preds[n.id] || []).map(function (p) { return byId[p]; }).filter(function (p) { return p && p.order !== undefined; });
        n.order = ps.length ? ps.reduce(function (s, p) { return s + p.order; }, 0) / ps.length : 1e9;
      });
      cols[c].sort(function (a, b) { return a.order - b.order || String(a.label).localeCompare(String(b.label)); });
      cols[c].forEach(function (n, i) { n.order = i; });
    }
    // The first column is grouped (e.g. by connection and object): a labelled gap between groups.
    var groupGap = opts.groupLabels ? 24 : 0;
    function offsets(col, grouped) {
      var y = 0, out = [], labels = [], last = null;
      col.forEach(function (n) {
        if (grouped && n.group && n.group !== last) {
          if (last !== null || groupGap) { y += groupGap; labels.push({ y: y - 8, text: n.groupLabel || n.group }); }
          last = n.group;
        }
        out.push(y);
        y += nodeH + rowGap;
      });
      return { ys: out, height: y, labels: labels };
    }
    var x = 20, maxH = 0, layouts = [];
    cols.forEach(function (col, c) {
      var w = col.reduce(function (m, n) { return Math.max(m, n.w); }, 80);
      var lay = offsets(col, c === 0 && groupGap > 0);
      layouts.push(lay);
      maxH = Math.max(maxH, lay.height);
      col.forEach(function (n) { n.colX = x; n.colW = w; });
      x += w + colGap;
    });
    var groupLabels = [];
    cols.forEach(function (col, c) {
      var lay = layouts[c];
      var y0 = top + (maxH - lay.height) / 2;
      col.forEach(function (n, i) { n.x = n.colX; n.w = n.colW; n.y = y0 + lay.ys[i]; });
      lay.labels.forEach(function (l) { groupLabels.push({ x: col[0].colX, y: y0 + l.y, text: l.text }); });
    });
    return { width: x, height: top + maxH + 20, groupLabels: groupLabels,
             columns: cols.map(function (col, i) { return { rank: ranks[i], x: col[0].x, w: col[0].w }; }) };
  }

  function Graph(svg, options) {
    this.svg = svg;
    this.opts = options || {};
    this.scale = 1; this.tx = 0; this.ty = 0;
    this.nodes = []; this.edges = [];
    this.selected = null;
    this._bind();
  }

  Graph.prototype.render = function (nodes, edges, bounds, columnTitles) {
    var self = this;
    var svg = this.svg;
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    this.nodes = nodes; this.edges = edges; this.bounds = bounds;
    var byId = {};
    nodes.forEach(function (n) { byId[n.id] = n; });
    this.byId = byId;
    this.root = el("g", { "class": "g-root" }, svg);
    if (columnTitles) {
      columnTitles.forEach(function (c) {
        var t = el("text", { x: c.x, y: 22, "class": "g-col-title" }, self.root);
        t.textContent = c.title;
      });
    }
    (bounds.groupLabels || []).forEach(function (g) {
      var t = el("text", { x: g.x, y: g.y, "class": "g-group" }, self.root);
      t.textContent = g.text;
    });
    var edgeLayer = el("g", {}, this.root);
    var nodeLayer = el("g", {}, this.root);
    edges.forEach(function (e) {
      var s = byId[e.source], t = byId[e.target];
      if (!s || !t) return;
      var d;
      var dx = (t.x + t.w / 2) - (s.x + s.w / 2), dy = (t.y + t.h / 2) - (s.y + s.h / 2);
      var vertical = self.opts.horizontal ? false : (Math.abs(dy) > Math.abs(dx) || (t.x < s.x + s.w && t.x + t.w > s.x));
      if (vertical) {
        // Mostly vertical (or overlapping columns): leave from the bottom or top edge.
        var down = dy > 0;
        var vx1 = s.x + s.w / 2, vy1 = down ? s.y + s.h : s.y, vx2 = t.x + t.w / 2, vy2 = down ? t.y : t.y + t.h;
        var my = (vy1 + vy2) / 2;
        d = "M" + vx1 + "," + vy1 + " C" + vx1 + "," + my + " " + vx2 + "," + my + " " + vx2 + "," + vy2;
      } else {
        var right = dx > 0;
        var x1 = right ? s.x + s.w : s.x, y1 = s.y + s.h / 2, x2 = right ? t.x : t.x + t.w, y2 = t.y + t.h / 2;
        var mx = (x1 + x2) / 2;
        d = "M" + x1 + "," + y1 + " C" + mx + "," + y1 + " " + mx + "," + y2 + " " + x2 + "," + y2;
      }
      e.el = el("path", { d: d, "class": "g-edge" + (e.cls ? " " + e.cls : "") }, edgeLayer);
      if (e.title) { var tt = el("title", {}, e.el); tt.textContent = e.title; }
    });
    nodes.forEach(function (n) {
      var g = el("g", { "class": "g-node", transform: "translate(" + n.x + "," + n.y + ")", tabindex: "0", role: "button", "aria-label": n.label, "data-node": n.id }, nodeLayer);
      el("rect", { width: n.w, height: n.h, rx: 8, fill: n.fill || "var(--surface)", stroke: n.stroke || "var(--border)" }, g);
      if (n.cls) g.classList.add(n.cls);
      var label = String(n.label);
      var max = Math.floor((n.w - 16) / 6.6);
      var t = el("text", { x: 10, y: n.sub ? n.h / 2 - 3 : n.h / 2 + 4 }, g);
      t.textContent = label.length > max ? label.slice(0, max - 1) + "…" : label;
      if (n.sub) {
        var st = el("text", { x: 10, y: n.h / 2 + 13, "class": "g-sub" }, g);
        st.textContent = n.sub.length > max + 4 ? n.sub.slice(0, max + 3) + "…" : n.sub;
      }
      var title = el("title", {}, g); title.textContent = n.title || label;
      n.el = g;
      g.addEventListener("click", function (ev) { ev.stopPropagation(); if (!self.moved) self.select(n.id); });
      g.addEventListener("keydown", function (ev) { if (ev.key === "Enter" || ev.key === " ") { ev.preventDefault(); self.select(n.id); } });
    });
    this.fit();
  };

  Graph.prototype.related = function (id) {
    var up = {}, down = {}, edges = this.edges;
    function walk(start, dir, seen) {
      var stack = [start];
      while (stack.length) {
        var cur = stack.pop();
        edges.forEach(function (e) {
          var from = dir === "down" ? e.source : e.target, to = dir === "down" ? e.target : e.source;
          if (from === cur && !seen[to]) { seen[to] = true; stack.push(to); }
        });
      }
    }
    walk(id, "up", up); walk(id, "down", down);
    return { up: up, down: down };
  };

  Graph.prototype.select = function (id) {
    var self = this;
    if (id === null || id === this.selected) {
      this.selected = null;
      this.nodes.forEach(function (n) { n.el.classList.remove("dim", "selected"); });
      this.edges.forEach(function (e) { if (e.el) e.el.classList.remove("dim", "hot"); });
      if (this.opts.onSelect) this.opts.onSelect(null);
      return;
    }
    this.selected = id;
    var rel = this.related(id);
    var on = function (x) { return x === id || rel.up[x] || rel.down[x]; };
    this.nodes.forEach(function (n) {
      n.el.classList.toggle("dim", !on(n.id));
      n.el.classList.toggle("selected", n.id === id);
    });
    this.edges.forEach(function (e) {
      if (!e.el) return;
      var hot = on(e.source) && on(e.target) && (e.source === id || e.target === id || rel.up[e.source] && (rel.up[e.target] || e.target === id) || rel.down[e.target] && (rel.down[e.source] || e.source === id));
      e.el.classList.toggle("hot", !!hot);
      e.el.classList.toggle("dim", !hot);
    });
    if (this.opts.onSelect) this.opts.onSelect(this.byId[id], rel);
  };

  Graph.prototype.apply = function () {
    if (this.root) this.root.setAttribute("transform", "translate(" + this.tx + "," + this.ty + ") scale(" + this.scale + ")");
  };

  Graph.prototype.fit = function () {
    var box = this.svg.getBoundingClientRect();
    var b = this.bounds || { width: 800, height: 400 };
    var s = Math.min(box.width / (b.width + 20), box.height / (b.height + 20), 1.4);
    // Big graphs stay readable: never shrink below a size where labels can still be read; pan instead.
    var floor = this.opts.minFitScale || 0.45;
    if (box.width < 600 && this.opts.narrowMinScale) floor = this.opts.narrowMinScale;
    s = Math.max(s, floor);
    this.scale = s;
    this.tx = Math.max(10, (box.width - b.width * s) / 2);
    this.ty = b.height * s < box.height ? (box.height - b.height * s) / 2 : 10;
    this.apply();
  };

  Graph.prototype.zoomAt = function (factor, cx, cy) {
    var ns = Math.max(0.1, Math.min(4, this.scale * factor));
    factor = ns / this.scale;
    this.tx = cx - (cx - this.tx) * factor;
    this.ty = cy - (cy - this.ty) * factor;
    this.scale = ns;
    this.apply();
  };

  Graph.prototype.focus = function (id) {
    var n = this.byId && this.byId[id];
    if (!n) return;
    var box = this.svg.getBoundingClientRect();
    if (this.scale < 0.8) this.scale = 0.9;
    this.tx = box.width / 2 - (n.x + n.w / 2) * this.scale;
    this.ty = box.height / 2 - (n.y + n.h / 2) * this.scale;
    this.apply();
    this.select(id);
  };

  Graph.prototype._bind = function () {
    var self = this, svg = this.svg;
    var pointers = {}, start = null, pinch = null;
    svg.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = svg.getBoundingClientRect();
      self.zoomAt(ev.deltaY < 0 ? 1.12 : 1 / 1.12, ev.clientX - r.left, ev.clientY - r.top);
    }, { passive: false });
    svg.addEventListener("pointerdown", function (ev) {
      pointers[ev.pointerId] = { x: ev.clientX, y: ev.clientY };
      var ids = Object.keys(pointers);
      self.moved = false;
      if (ids.length === 1) start = { x: ev.clientX, y: ev.clientY, tx: self.tx, ty: self.ty };
      if (ids.length === 2) {
        var a = pointers[ids[0]], b = pointers[ids[1]];
        pinch = { d: Math.hypot(a.x - b.x, a.y - b.y), scale: self.scale };
      }
    });
    svg.addEventListener("pointermove", function (ev) {
      if (!pointers[ev.pointerId]) return;
      pointers[ev.pointerId] = { x: ev.clientX, y: ev.clientY };
      var ids = Object.keys(pointers);
      if (ids.length === 2 && pinch) {
        var a = pointers[ids[0]], b = pointers[ids[1]];
        var r = svg.getBoundingClientRect();
        var d = Math.hypot(a.x - b.x, a.y - b.y);
        self.zoomAt((pinch.scale * d / pinch.d) / self.scale, (a.x + b.x) / 2 - r.left, (a.y + b.y) / 2 - r.top);
        self.moved = true;
      } else if (start) {
        var dx = ev.clientX - start.x, dy = ev.clientY - start.y;
        if (Math.abs(dx) + Math.abs(dy) > 4) {
          self.moved = true;
          svg.classList.add("dragging");
          if (!svg.hasPointerCapture(ev.pointerId)) svg.setPointerCapture(ev.pointerId);
        }
        if (self.moved) { self.tx = start.tx + dx; self.ty = start.ty + dy; self.apply(); }
      }
    });
    function end(ev) {
      delete pointers[ev.pointerId];
      if (Object.keys(pointers).length < 2) pinch = null;
      if (!Object.keys(pointers).length) { start = null; svg.classList.remove("dragging"); }
    }
    svg.addEventListener("pointerup", end);
    svg.addEventListener("pointercancel", end);
    svg.addEventListener("click", function () { if (!self.moved) self.select(null); });
  };

  Graph.bindTools = function (graph, container) {
    container.querySelectorAll("[data-zoom]").forEach(function (b) {
      b.addEventListener("click", function () {
        var r = graph.svg.getBoundingClientRect();
        var z = b.getAttribute("data-zoom");
        if (z === "fit") graph.fit();
        else graph.zoomAt(z === "in" ? 1.25 : 0.8, r.width / 2, r.height / 2);
      });
    });
  };

  A.Graph = Graph;
  A.layeredLayout = layeredLayout;
  A.svgEl = el;
})();
