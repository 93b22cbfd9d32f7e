// Agents: metric cards and charts (Chart.js, vendored) from the latest RevOps and FinOps runs.
// The pilots' metrics are read by name with a few accepted shapes (a list of rows or a mapping).
(function () {
  "use strict";
  var A = window.AutonomOS;
  var charts = [];

  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function palette() {
    return [css("--blue"), css("--green"), css("--purple"), css("--amber"), "#06b6d4", "#ec4899", "#64748b", "#84cc16"];
  }
  function first(obj, names) {
    for (var i = 0; i < names.length; i++) if (obj && obj[names[i]] !== undefined && obj[names[i]] !== null) return obj[names[i]];
    return undefined;
  }
  function num(x) { var n = Number(x); return isFinite(n) ? n : 0; }
  // An amount with the run's reporting currency ("1,137.36 USD"), as the findings and cards write it.
  var currency = "";
  function money(x) {
    var n = Number(x);
    if (!isFinite(n)) return "–";
    return n.toLocaleString("en-US", { maximumFractionDigits: Math.abs(n) >= 1000 ? 0 : 2 }) + (currency ? " " + currency : "");
  }
  function label(s) { return String(s).replace(/_/g, " ").replace(/^./, function (c) { return c.toUpperCase(); }); }

  // [{stage: "Prospecting", amount: 10}] or {"Prospecting": 10} or {"Prospecting": {amount: 10, count: 2}} → [[label, value]]
  function pairs(data, labelKeys, valueKeys) {
    if (!data) return [];
    if (Array.isArray(data)) {
      return data.map(function (r) { return [String(first(r, labelKeys)), num(first(r, valueKeys))]; });
    }
    return Object.keys(data).map(function (k) {
      var v = data[k];
      return [k, typeof v === "object" && v !== null ? num(first(v, valueKeys)) : num(v)];
    });
  }

  // Spend over time by service: [{date, service, cost}] or {service: {date: cost}} or {date: {service: cost}}
  function series(data) {
    var out = {}, dates = {};
    function add(service, date, cost) {
      date = String(date).slice(0, 10);
      dates[date] = true;
      out[service] = out[service] || {};
      out[service][date] = (out[service][date] || 0) + num(cost);
    }
    if (Array.isArray(data)) {
      data.forEach(function (r) { add(first(r, ["service", "service_name"]) || "all", first(r, ["date", "day", "period", "charge_period_start"]), first(r, ["cost", "amount", "spend", "effective_cost", "billed_cost"])); });
    } else if (data && typeof data === "object") {
      var keys = Object.keys(data);
      var looksDate = keys.length && /^\d{4}-\d{2}/.test(keys[0]);
      keys.forEach(function (k) {
        var inner = data[k];
        if (typeof inner !== "object" || inner === null) { add("all", k, inner); return; }
        Object.keys(inner).forEach(function (j) { looksDate ? add(j, k, inner[j]) : add(k, j, inner[j]); });
      });
    }
    return { dates: Object.keys(dates).sort(), byService: out };
  }

  function baseOptions() {
    var text = css("--muted"), grid = css("--border");
    return {
      responsive: true, maintainAspectRatio: false, animation: { duration: 300 },
      plugins: { legend: { labels: { color: text, boxWidth: 12, font: { family: "Quicksand" } } } },
      scales: {
        x: { ticks: { color: text, maxRotation: 0, autoSkip: true, font: { family: "Quicksand" } }, grid: { color: grid } },
        y: { ticks: { color: text, font: { family: "Quicksand" } }, grid: { color: grid }, beginAtZero: true },
      },
    };
  }

  function chartCard(container, title, id) {
    var card = document.createElement("div");
    card.className = "card";
    card.innerHTML = "<h3>" + A.esc(title) + '</h3><div class="chart-box"><canvas id="' + id + '" role="img" aria-label="' + A.esc(title) + '"></canvas></div>';
    container.appendChild(card);
    return card.querySelector("canvas");
  }

  function drawRevops(container, metrics) {
    var colors = palette();
    var stageRows = first(metrics, ["pipeline_by_stage", "pipeline_stages", "by_stage"]);
    var stages = pairs(stageRows, ["stage_category", "stage", "name", "label"], ["amount", "value", "total", "pipeline"]);
    if (stages.length) {
      var weighted = pairs(stageRows, ["stage_category", "stage", "name", "label"], ["weighted", "weighted_amount"]);
      var sets = [{ label: "Open pipeline", data: stages.map(function (p) { return p[1]; }), backgroundColor: colors[0], borderRadius: 6 }];
      if (weighted.some(function (p) { return p[1]; })) sets.push({ label: "Weighted", data: weighted.map(function (p) { return p[1]; }), backgroundColor: colors[2], borderRadius: 6 });
      var po = baseOptions();
      po.plugins.tooltip = { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + money(ctx.parsed.y); } } };
      charts.push(new Chart(chartCard(container, "Pipeline by stage", "chart-pipeline"), {
        type: "bar", data: { labels: stages.map(function (p) { return p[0]; }), datasets: sets }, options: po,
      }));
    }
    var forecast = first(metrics, ["forecast_by_close_month", "forecast", "forecast_by_month", "forecast_by_period"]);
    var fc = typeof forecast === "object" ? pairs(forecast, ["period", "month", "close_month", "label"], ["weighted", "weighted_amount", "amount", "value"]) : [];
    if (fc.length) {
      var best = Array.isArray(forecast) ? forecast.map(function (r) { return num(first(r, ["amount", "best_case", "total", "unweighted"])); }) : null;
      var ds = [{ label: "Weighted forecast", data: fc.map(function (p) { return p[1]; }), backgroundColor: colors[2], borderRadius: 6 }];
      if (best && best.some(function (x, i) { return x !== fc[i][1]; })) ds.push({ type: "line", label: "Open amount", data: best, borderColor: colors[1], backgroundColor: colors[1], tension: 0.25, pointRadius: 3 });
      var fo = baseOptions();
      fo.plugins.tooltip = { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + money(ctx.parsed.y); } } };
      charts.push(new Chart(chartCard(container, "Forecast by close month", "chart-forecast"), {
        type: "bar", data: { labels: fc.map(function (p) { return p[0]; }), datasets: ds }, options: fo,
      }));
    }
  }

  // Pipeline waterfall (floating bars: opening, each movement from where the last one ended, closing), the
  // funnel of stage conversion and each owner's coverage of the remaining quota (agents/services/revenue.py).
  // The waterfall is drawn by waterfall.js (shared with the waterfall page); a click on a bar opens its deals.
  function drawRevenue(container, revenue, runId) {
    if (!revenue) return;
    var colors = palette(), green = css("--green"), red = css("--red"), muted = css("--muted");
    var wf = revenue.waterfall;
    if (wf && wf.bars && wf.bars.some(function (b) { return b.deals; })) {
      var title = "Pipeline waterfall: closing " + wf.period_start + " to " + wf.period_end + " (" + wf.since + " → " + wf.until + ")";
      var chart = A.waterfallChart(chartCard(container, title, "chart-waterfall"), wf, function (b) {
        if (runId) window.location.href = "/agents/runs/" + runId + "/waterfall/" + b.bar + "/";
      });
      if (chart) charts.push(chart);
    }
    var conv = revenue.conversion;
    if (conv && conv.steps && conv.steps[0] && conv.steps[0].reached) {
      var fo = baseOptions(); fo.indexAxis = "y"; fo.plugins.legend = { display: false };
      fo.plugins.tooltip = { callbacks: { label: function (ctx) {
        var st = conv.steps[ctx.dataIndex];
        return st.reached + " deals reached " + label(st.stage_category) + (st.conversion_pct !== null ? "; " + st.conversion_pct + "% went on to " + label(st.next) : "");
      } } };
      charts.push(new Chart(chartCard(container, "Stage conversion (deals that reached each stage)", "chart-funnel"), {
        type: "bar", options: fo,
        data: { labels: conv.steps.map(function (st) { return label(st.stage_category) + (st.conversion_pct !== null ? " → " + st.conversion_pct + "%" : ""); }),
          datasets: [{ label: "Deals", data: conv.steps.map(function (st) { return st.reached; }), backgroundColor: colors[2], borderRadius: 6 }] },
      }));
    }
    var fc = revenue.forecast;
    var owners = fc && fc.owners ? fc.owners.filter(function (o) { return o.coverage !== null && o.coverage !== undefined; }) : [];
    if (owners.length) {
      var co = baseOptions(); co.indexAxis = "y"; co.plugins.legend = { display: false };
      co.plugins.tooltip = { callbacks: { label: function (ctx) {
        var o = owners[ctx.dataIndex];
        return o.coverage + "× : " + money(o.open_pipeline) + " open against " + money(o.remaining) + " left of " + money(o.quota);
      } } };
      charts.push(new Chart(chartCard(container, "Coverage of the remaining quota (× ; 3× is the usual floor)", "chart-coverage"), {
        type: "bar", options: co,
        data: { labels: owners.map(function (o) { return o.owner_id || "(no owner)"; }),
          datasets: [{ label: "Coverage", data: owners.map(function (o) { return o.coverage; }), borderRadius: 6,
            backgroundColor: owners.map(function (o) { return o.coverage < 1 ? red : o.coverage < 3 ? css("--amber") : green; }) }] },
      }));
    }
    if (!container.children.length) container.insertAdjacentHTML("beforeend", '<p class="small" style="color:' + muted + '">No pipeline history to chart yet.</p>');
  }

  function drawFinops(container, metrics, findings) {
    var colors = palette();
    // Per-service daily spend when the pilot provides it; otherwise the daily total.
    var s = series(first(metrics, ["spend_by_day_service", "daily_spend_by_service", "spend_over_time"]));
    var byService = true;
    if (!s.dates.length) { s = series((first(metrics, ["spend_by_day", "daily_spend"]) || []).map(function (r) { return { day: r.day || r.date, service: "All services", amount: r.amount }; })); byService = false; }
    // One mark per day of each anomaly (a finding covers consecutive days: from, to, by_day).
    var anomalies = [];
    (first(metrics, ["anomalies", "spend_anomalies"]) || (findings || []).filter(function (f) { return f.kind === "anomaly"; })).forEach(function (a) {
      if (Array.isArray(a.by_day) && a.by_day.length) {
        a.by_day.forEach(function (d) { anomalies.push({ day: d.day, amount: d.amount, baseline: d.baseline, service: a.service, direction: a.direction }); });
      } else anomalies.push(a);
    });
    if (s.dates.length) {
      var totals = Object.keys(s.byService).map(function (svc) {
        return [svc, Object.keys(s.byService[svc]).reduce(function (t, d) { return t + s.byService[svc][d]; }, 0)];
      }).sort(function (a, b) { return b[1] - a[1]; });
      var top = totals.slice(0, 6).map(function (t) { return t[0]; });
      var datasets = top.map(function (svc, i) {
        return { type: "line", label: svc, data: s.dates.map(function (d) { return s.byService[svc][d] || 0; }), borderColor: colors[i % colors.length], backgroundColor: colors[i % colors.length], pointRadius: 0, tension: 0.25, borderWidth: 2 };
      });
      if (totals.length > 6) {
        var rest = totals.slice(6).map(function (t) { return t[0]; });
        datasets.push({ type: "line", label: "Other", data: s.dates.map(function (d) { return rest.reduce(function (t, svc) { return t + (s.byService[svc][d] || 0); }, 0); }), borderColor: colors[6], backgroundColor: colors[6], pointRadius: 0, borderDash: [4, 4], borderWidth: 1.5 });
      }
      var marks = (Array.isArray(anomalies) ? anomalies : []).map(function (a) {
        var date = String(first(a, ["date", "day", "charge_period_start"]) || "").slice(0, 10);
        var svc = first(a, ["service", "service_name"]);
        // On the per-service chart a mark sits at that service's spend; on the total, at the day's total.
        var y = byService ? first(a, ["cost", "amount", "spend", "actual"]) : (s.byService["All services"] || {})[date];
        if (y === undefined && svc && s.byService[svc]) y = s.byService[svc][date];
        return { x: date, y: num(y), service: svc, a: a };
      }).filter(function (m) { return s.dates.indexOf(m.x) >= 0; });
      if (marks.length) {
        datasets.push({ type: "scatter", label: "Anomaly", data: marks, backgroundColor: css("--red"), borderColor: css("--red"), pointRadius: 6, pointStyle: "triangle", order: -1 });
      }
      var opts = baseOptions();
      opts.interaction = { mode: "nearest", intersect: false };
      opts.plugins.tooltip = { callbacks: { label: function (ctx) {
        var raw = ctx.raw;
        if (raw && raw.a) return "Anomaly: " + (raw.service || "") + " " + (raw.a.direction || "") + " " + money(first(raw.a, ["amount", "cost"])) + (raw.a.baseline !== undefined ? " vs baseline " + money(raw.a.baseline) : "");
        return ctx.dataset.label + ": " + money(ctx.parsed.y);
      } } };
      var title = byService ? "Spend over time by service" : "Daily spend (anomalies marked)";
      charts.push(new Chart(chartCard(container, title, "chart-spend"), { data: { labels: s.dates, datasets: datasets }, options: opts }));
    }
    var services = pairs(first(metrics, ["spend_by_service"]), ["service", "service_name", "name"], ["cost", "amount", "spend", "total"]);
    if (services.length) {
      var byServiceTotals = services.sort(function (a, b) { return b[1] - a[1]; });
      var o = baseOptions(); o.indexAxis = "y"; o.plugins.legend = { display: false };
      o.scales.x.beginAtZero = true;
      charts.push(new Chart(chartCard(container, "Spend by service", "chart-services"), {
        type: "bar", data: { labels: byServiceTotals.slice(0, 10).map(function (p) { return p[0]; }), datasets: [{ label: "Spend", data: byServiceTotals.slice(0, 10).map(function (p) { return p[1]; }), backgroundColor: colors[1], borderRadius: 6 }] }, options: o,
      }));
    }
  }

  // Commitments (docs/adr/0030): coverage per day (covered vs on-demand usage), utilization per commitment
  // (used vs unused), and spend per month by FOCUS service category.
  function drawFinopsCommitments(container, metrics) {
    var colors = palette();
    var cov = metrics.coverage || {};
    var days = Array.isArray(cov.by_day) ? cov.by_day : [];
    if (days.length) {
      var co = baseOptions();
      co.scales.x.stacked = true; co.scales.y.stacked = true;
      co.scales.x.ticks.maxTicksLimit = 8;
      co.plugins.legend.position = "bottom";
      co.plugins.tooltip = { callbacks: {
        label: function (ctx) { return ctx.dataset.label + ": " + money(ctx.parsed.y); },
        footer: function (items) { var d = days[items[0].dataIndex]; return d && d.coverage_pct !== null ? "Coverage " + d.coverage_pct + "%" : ""; },
      } };
      var title = "Commitment coverage" + (cov.coverage_pct !== null && cov.coverage_pct !== undefined ? " (" + cov.coverage_pct + "%)" : "");
      charts.push(new Chart(chartCard(container, title, "chart-commitment-coverage"), {
        type: "bar",
        data: { labels: days.map(function (d) { return d.day; }), datasets: [
          { label: "Covered by commitments", data: days.map(function (d) { return num(d.covered); }), backgroundColor: colors[1] },
          { label: "On demand", data: days.map(function (d) { return num(d.on_demand); }), backgroundColor: colors[3] },
        ] },
        options: co,
      }));
    }
    var items = ((metrics.commitments || {}).commitments || []);
    if (items.length) {
      var uo = baseOptions();
      uo.indexAxis = "y"; uo.scales.x.stacked = true; uo.scales.y.stacked = true; uo.plugins.legend.position = "bottom";
      // A commitment's name (an ARN's tail on a phone) over its utilization, on two lines: one long line is
      // clipped at the chart's left edge (Chart.js gives the axis at most a share of the width).
      var room = container.clientWidth < 500 ? 14 : 24;
      var short = function (c) { var n = c.name || c.commitment_id || ""; return n.length > room ? "…" + n.slice(-(room - 1)) : n; };
      uo.plugins.tooltip = { callbacks: {
        title: function (its) { var c = items[its[0].dataIndex]; return c.name || c.commitment_id; },
        label: function (ctx) { return ctx.dataset.label + ": " + money(ctx.parsed.x); },
      } };
      charts.push(new Chart(chartCard(container, "Commitment utilization", "chart-utilization"), {
        type: "bar",
        data: { labels: items.map(function (c) { return c.utilization_pct !== null ? [short(c), c.utilization_pct + "% used"] : short(c); }), datasets: [
          { label: "Used", data: items.map(function (c) { return num(c.used); }), backgroundColor: colors[1] },
          { label: "Unused", data: items.map(function (c) { return num(c.unused); }), backgroundColor: css("--red") },
        ] },
        options: uo,
      }));
    }
    var rows = ((metrics.spend_by_category_month || {}).rows || []);
    if (rows.length) {
      var months = [], cats = [];
      rows.forEach(function (r) { if (months.indexOf(r.month) < 0) months.push(r.month); if (cats.indexOf(r.category) < 0) cats.push(r.category); });
      var mo = baseOptions();
      mo.scales.x.stacked = true; mo.scales.y.stacked = true; mo.plugins.legend.position = "bottom";
      mo.plugins.tooltip = { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + money(ctx.parsed.y); } } };
      charts.push(new Chart(chartCard(container, "Spend by category over time", "chart-categories"), {
        type: "bar",
        data: { labels: months, datasets: cats.map(function (cat, i) {
          return { label: cat, backgroundColor: colors[i % colors.length], data: months.map(function (m) {
            var hit = rows.filter(function (r) { return r.month === m && r.category === cat; })[0];
            return hit ? num(hit.spend) : 0;
          }) };
        }) },
        options: mo,
      }));
    }
  }

  function drawAll() {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    var runs = A.jsonScript("agent-runs", {});
    Object.keys(runs || {}).forEach(function (agent) {
      var run = runs[agent];
      if (!run) return;
      var c = document.querySelector('[data-charts="' + agent + '"]');
      if (!c || typeof Chart === "undefined") return;
      c.innerHTML = "";
      currency = run.currency || (run.metrics || {}).reporting_currency || "";
      if (agent === "revops") {
        drawRevops(c, run.metrics || {});
        var r = document.querySelector('[data-charts="revenue"]');
        if (r) { r.innerHTML = ""; drawRevenue(r, (run.metrics || {}).revenue, run.id); }
      }
      if (agent === "finops") { drawFinops(c, run.metrics || {}, run.findings || []); drawFinopsCommitments(c, run.metrics || {}); }
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawAll();
    document.addEventListener("themechange", drawAll);
    var progress = document.getElementById("agent-progress");
    var live = A.live();
    live.on("agent_started", function (e) {
      progress.hidden = false;
      progress.querySelector("[data-agent-step]").textContent = (e.payload.agent || "agent") + " running…";
    });
    live.on("agent_completed", function (e) {
      progress.querySelector("[data-agent-step]").innerHTML = A.esc((e.payload.agent || "agent") + " finished. ") + '<a href="">Show the results</a>';
      progress.querySelector(".progress").classList.remove("indeterminate");
      progress.querySelector(".progress span").style.width = "100%";
    });
    live.on("agent_failed", function (e) {
      progress.hidden = false;
      progress.querySelector("[data-agent-step]").textContent = (e.payload.agent || "agent") + " failed: " + (e.payload.error || "see the job");
    });
  });
})();
