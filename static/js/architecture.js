// Architecture viewer: the platform's parts, hand-placed, with the path data takes animated.
(function () {
  "use strict";
  var A = window.AutonomOS;
  var G = ["var(--green-soft)", "var(--green)"], B = ["var(--blue-soft)", "var(--blue)"], P = ["var(--purple-soft)", "var(--purple)"], N = ["var(--surface)", "var(--border)"];

  // id, label, sub-label, x, y, width, colours, stage (for live events), page, description
  var PARTS = [
    ["crm", "CRMs", "Salesforce · HubSpot · Dynamics", 20, 40, 190, G, "sources", "/connections/", "SaaS CRMs over their REST APIs: OAuth or private-app tokens, paging, 429 back-off, one refresh of an expired token, permanent errors reported once."],
    ["db", "Databases", "PostgreSQL · Supabase · MongoDB", 20, 120, 190, G, "sources", "/connections/", "Any PostgreSQL by DSN (tables as objects) and MongoDB collections (nested documents flattened), read incrementally by an updated-at column."],
    ["files", "CSV exports", "cloud costs, inventories, CRM dumps", 20, 200, 190, G, "sources", "/connections/", "Folders of CSV files: encoding and delimiter detected, broken rows reported with their line number while the rest loads."],
    ["connectors", "Connectors", "discover · read · check", 260, 120, 170, G, "sources", "/connections/", "One driver per kind behind one interface: discover() the schema with samples, read() pages from a cursor, check() credentials. Secrets are write-only."],
    ["drift", "Drift detection", "fingerprint · rename pairing", 480, 30, 190, B, "aam", "/aam/", "Each sync fingerprints the source schema and compares it with the last one: added, removed, retyped and renamed fields become drift events."],
    ["mapping", "Mapping engine", "memory · heuristics · LLM", 480, 110, 190, B, "aam", "/aam/ontology/", "Proposes a canonical field for every source field with a confidence: approved memory first, then naming and value heuristics, then (optionally) an LLM only for what is still uncertain."],
    ["review", "Human review", "approve · reject · flag", 480, 190, 190, B, "aam", "/aam/review/", "Decisions below the auto-apply threshold wait for a person. An approval updates the mapping and teaches the memory."],
    ["normalize", "Normalize", "canonical events · quarantine", 480, 270, 190, B, "aam", "/aam/", "Records are coerced into canonical events (types, dates, money) and validated; failures are quarantined with the reason, never dropped."],
    ["streams", "Redis Streams", "aam:dcl:{tenant}:connection", 720, 150, 190, B, "streams", "/dcl/operations/", "Batches of at most 200 records with deterministic ids. Back-pressure keeps trimming from dropping anything not yet acknowledged."],
    ["dcl", "DCL consumer", "group dcl_engine:{tenant}", 960, 60, 190, P, "dcl", "/dcl/operations/", "Reads the stream as a consumer group, writes each batch to DuckDB with its batch id in the same transaction, then acknowledges: each record lands exactly once."],
    ["duckdb", "DuckDB per tenant", "source tables → unified views", 960, 150, 190, P, "dcl", "/dcl/views/", "Source tables keep every source's records; unified views merge the same account or contact across sources with lineage to each source record."],
    ["pg", "PostgreSQL views", "dcl_view_<entity>", 960, 240, 190, P, "dcl", "/dcl/views/", "Views are copied into the tenant's schema and swapped in one transaction, so readers never see a half-written view; the API pages, filters and sorts them."],
    ["aoa", "AOA jobs", "connect → materialize → agents", 1200, 60, 190, P, "agents", "/agents/", "Jobs with a lifecycle, progress and retries. One connect job per tenant at a time; agents run once every source has materialized."],
    ["revops", "RevOps agent", "pipeline · forecast · risk", 1200, 150, 190, P, "agents", "/agents/", "Pipeline by stage, weighted forecast, win rate, stale and overdue deals, at-risk deals with reasons."],
    ["finops", "FinOps agent", "spend · anomalies · savings", 1200, 240, 190, P, "agents", "/agents/", "Spend by service, account, region and day; anomalies against the recent baseline; idle and untagged resources; savings."],
    ["events", "Live events", "Redis stream + Channels", 600, 380, 190, N, "", "/flow/", "Every step publishes an event to the tenant's group: this dashboard (WebSocket) and SSE clients see them live and resume after a drop."],
    ["api", "REST API & dashboard", "JWT / session · per tenant", 860, 380, 210, N, "", "/api/docs/", "Django + DRF on the tenant's host. Tokens carry the tenant and are refused on any other tenant's host."],
    ["celery", "Celery workers", "tasks bound to their tenant", 340, 380, 200, N, "", null, "Syncs, consumers and agent runs execute in workers, each task inside the tenant it was queued for; scale out by adding workers."],
    ["tenancy", "Tenancy", "schema per tenant · {tenant} keys", 1120, 380, 220, N, "", null, "Every tenant has its own PostgreSQL schema, DuckDB file and hash-tagged Redis keys; code that reads tenant data refuses the public schema."],
  ];
  var FLOWS = [
    ["crm", "connectors"], ["db", "connectors"], ["files", "connectors"],
    ["connectors", "drift"], ["connectors", "mapping"], ["connectors", "normalize"],
    ["drift", "mapping"], ["mapping", "review"], ["review", "mapping"], ["mapping", "normalize"],
    ["normalize", "streams"], ["streams", "dcl"], ["dcl", "duckdb"], ["duckdb", "pg"],
    ["duckdb", "aoa"], ["aoa", "revops"], ["aoa", "finops"],
  ];
  var SUPPORT = [["streams", "events"], ["pg", "api"], ["celery", "connectors"], ["events", "api"], ["api", "tenancy"]];

  document.addEventListener("DOMContentLoaded", function () {
    var svg = document.getElementById("architecture");
    var panel = document.getElementById("arch-details");
    var figures = A.jsonScript("arch-figures", {});
    var stageOf = A.jsonScript("arch-stages", {});
    var parts = {};
    var nodes = PARTS.map(function (p) {
      var n = { id: p[0], label: p[1], sub: p[2], x: p[3], y: p[4], w: p[5], h: 50, fill: p[6][0], stroke: p[6][1], stage: p[7], href: p[8], text: p[9] };
      parts[n.id] = n;
      return n;
    });
    var edges = FLOWS.map(function (f) { return { source: f[0], target: f[1], cls: "flowing" }; })
      .concat(SUPPORT.map(function (f) { return { source: f[0], target: f[1] }; }));
    var extra = {
      connectors: figures.connections !== undefined ? figures.connections + " connection(s)" : "",
      duckdb: figures.views !== undefined ? figures.views + " view(s), " + A.fmt.number(figures.records) + " records" : "",
      review: figures.review_pending !== undefined ? figures.review_pending + " item(s) pending" : "",
    };
    var graph = new A.Graph(svg, {
      minFitScale: 0.25,
      narrowMinScale: 0.6,  // on a phone: readable labels, start at the sources and pan along
      onSelect: function (node, rel) {
        if (!node) return;
        var from = Object.keys(rel.up).filter(function (id) { return FLOWS.concat(SUPPORT).some(function (f) { return f[0] === id && f[1] === node.id; }); });
        var to = Object.keys(rel.down).filter(function (id) { return FLOWS.concat(SUPPORT).some(function (f) { return f[1] === id && f[0] === node.id; }); });
        panel.innerHTML = "<h2>" + A.esc(node.label) + "</h2><p>" + A.esc(node.text) + "</p>" +
          (extra[node.id] ? '<p><span class="badge badge-purple">' + A.esc(extra[node.id]) + "</span></p>" : "") +
          '<dl class="kv">' + (from.length ? "<dt>Receives from</dt><dd>" + from.map(function (id) { return A.esc(parts[id].label); }).join(", ") + "</dd>" : "") +
          (to.length ? "<dt>Sends to</dt><dd>" + to.map(function (id) { return A.esc(parts[id].label); }).join(", ") + "</dd>" : "") + "</dl>" +
          (node.href ? '<a class="btn btn-sm btn-primary" href="' + node.href + '">Open ' + A.esc(node.label) + " →</a>" : "");
      },
    });
    A.Graph.bindTools(graph, document.getElementById("arch-wrap"));
    graph.render(nodes, edges, { width: 1410, height: 450 }, null);

    document.getElementById("arch-animate").addEventListener("change", function (ev) {
      svg.querySelectorAll(".g-edge").forEach(function (e, i) { if (i < FLOWS.length) e.classList.toggle("flowing", ev.target.checked); });
    });

    A.live().on("*", function (e) {
      var stage = stageOf[e.type];
      if (!stage) return;
      nodes.forEach(function (n) {
        if (n.stage !== stage || !n.el) return;
        n.el.classList.remove("pulse");
        void n.el.getBoundingClientRect();  // restart the animation
        n.el.classList.add("pulse");
      });
    });
  });
})();
