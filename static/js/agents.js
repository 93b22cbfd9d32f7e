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

  function metricCards(container, metrics) {
    var names = {
      win_rate: "Win rate", weighted_forecast: "Weighted forecast", open_pipeline: "Open pipeline", pipeline_total: "Open pipeline",
      average_deal_size: "Average deal size", avg_deal_size: "Average deal size", average_cycle_days: "Sales cycle (days)",
      avg_cycle_days: "Sales cycle (days)", stale_deals: "Stale deals", overdue_deals: "Overdue deals",
      total_spend: "Total spend", month_over_month: "Month over month", mom_change: "Month over month",
      anomaly_count: "Anomalies", estimated_monthly_savings: "Savings / month", savings_monthly: "Savings / month",
      untagged_resources: "Untagged resources", idle_resources: "Idle resources",
    };
    var html = "";
    Object.keys(metrics || {}).forEach(function (k) {
      var v = metrics[k];
      if (typeof v === "object" && v !== null) {
        if (Array.isArray(v) && (k.indexOf("stale") >= 0 || k.indexOf("overdue") >= 0 || k.indexOf("at_risk") >= 0 || k.indexOf("anomal") >= 0)) v = v.length;
        else return;
      }
      var shown = v;
      if (typeof v === "number") {
        if (/rate|probability/.test(k) && v <= 1) shown = Math.round(v * 100) + "%";
        else if (/change|mom|month_over_month/.test(k) && Math.abs(v) <= 5) shown = (v > 0 ? "+" : "") + Math.round(v * 100) + "%";
        else if (/amount|spend|cost|forecast|pipeline|size|savings|value/.test(k)) shown = A.fmt.money(v);
        else shown = A.fmt.number(v);
      }
      html += '<div class="card stat-card"><div class="stat-label">' + A.esc(names[k] || label(k)) + '</div><div class="stat" style="font-size:22px">' + A.esc(shown) + "</div></div>";
    });
    container.innerHTML = html || '<p class="muted">No metrics in this run.</p>';
  }

  function drawRevops(container, metrics) {
    var colors = palette();
    var stages = pairs(first(metrics, ["pipeline_by_stage", "pipeline_stages", "by_stage"]), ["stage", "name", "label"], ["amount", "value", "total", "pipeline"]);
    if (stages.length) {
      charts.push(new Chart(chartCard(container, "Pipeline by stage", "chart-pipeline"), {
        type: "bar",
        data: { labels: stages.map(function (p) { return p[0]; }), datasets: [{ label: "Open pipeline", data: stages.map(function (p) { return p[1]; }), backgroundColor: colors[0], borderRadius: 6 }] },
        options: baseOptions(),
      }));
    }
    var forecast = first(metrics, ["forecast", "forecast_by_month", "forecast_by_period", "weighted_forecast_by_month"]);
    var fc = typeof forecast === "object" ? pairs(forecast, ["period", "month", "close_month", "label"], ["weighted", "weighted_amount", "amount", "value"]) : [];
    if (fc.length) {
      var best = typeof forecast === "object" && Array.isArray(forecast) ? forecast.map(function (r) { return num(first(r, ["best_case", "total", "unweighted", "amount"])); }) : null;
      var ds = [{ label: "Weighted forecast", data: fc.map(function (p) { return p[1]; }), backgroundColor: colors[2], borderRadius: 6 }];
      if (best && best.some(function (x, i) { return x !== fc[i][1]; })) ds.push({ label: "Unweighted", data: best, backgroundColor: colors[1] + "88", borderRadius: 6 });
      charts.push(new Chart(chartCard(container, "Forecast", "chart-forecast"), {
        type: "bar", data: { labels: fc.map(function (p) { return p[0]; }), datasets: ds }, options: baseOptions(),
      }));
    }
  }

  function drawFinops(container, metrics) {
    var colors = palette();
    var s = series(first(metrics, ["spend_by_day_service", "spend_over_time", "daily_spend_by_service", "spend_by_day", "daily_spend"]));
    var anomalies = first(metrics, ["anomalies", "spend_anomalies"]) || [];
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
        var y = first(a, ["cost", "amount", "spend", "actual"]);
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
        if (raw && raw.a) return "Anomaly: " + (raw.service || "") + " " + A.fmt.money(raw.y) + (raw.a.baseline !== undefined ? " (baseline " + A.fmt.money(raw.a.baseline) + ")" : "");
        return ctx.dataset.label + ": " + A.fmt.money(ctx.parsed.y);
      } } };
      charts.push(new Chart(chartCard(container, "Spend over time by service", "chart-spend"), { data: { labels: s.dates, datasets: datasets }, options: opts }));
    }
    var byService = pairs(first(metrics, ["spend_by_service"]), ["service", "service_name", "name"], ["cost", "amount", "spend", "total"]);
    if (byService.length) {
      byService.sort(function (a, b) { return b[1] - a[1]; });
      var o = baseOptions(); o.indexAxis = "y"; o.plugins.legend = { display: false };
      o.scales.x.beginAtZero = true;
      charts.push(new Chart(chartCard(container, "Spend by service", "chart-services"), {
        type: "bar", data: { labels: byService.slice(0, 10).map(function (p) { return p[0]; }), datasets: [{ label: "Spend", data: byService.slice(0, 10).map(function (p) { return p[1]; }), backgroundColor: colors[1], borderRadius: 6 }] }, options: o,
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
      var m = document.querySelector('[data-metrics="' + agent + '"]');
      if (m) metricCards(m, run.metrics);
      var c = document.querySelector('[data-charts="' + agent + '"]');
      if (!c || typeof Chart === "undefined") return;
      c.innerHTML = "";
      if (agent === "revops") drawRevops(c, run.metrics || {});
      if (agent === "finops") drawFinops(c, run.metrics || {});
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
