// The pipeline waterfall chart (Chart.js, vendored): floating bars, opening, each movement from where the
// last one ended, closing (agents/services/revenue.py pipeline_waterfall). Shared: the agents page draws a
// run's waterfall with it (agents.js), the waterfall page (/agents/revops/waterfall/) the one of the dates
// a person chose, from the JSON in #waterfall-data; there a click on a bar opens its deals below the chart.
(function () {
  "use strict";
  var A = window.AutonomOS = window.AutonomOS || {};

  var SHORT_BARS = { opening: "Opening", created: "Created", pulled_in: "Pulled in", other_in: "Other in", increased: "Up",
    decreased: "Down", won: "Won", lost: "Lost", pushed_out: "Pushed", removed: "Deleted", other_out: "Other out", closing: "Closing" };

  function css(name) { return getComputedStyle(document.documentElement).getPropertyValue(name).trim(); }
  function num(x) { var n = Number(x); return isFinite(n) ? n : 0; }
  function money(x, currency) {
    var n = Number(x);
    if (!isFinite(n)) return "–";
    return n.toLocaleString("en-US", { maximumFractionDigits: Math.abs(n) >= 1000 ? 0 : 2 }) + (currency ? " " + currency : "");
  }

  // The bars worth drawing: those with deals, and opening and closing always.
  A.waterfallBars = function (wf) {
    return (wf && wf.bars ? wf.bars : []).filter(function (b) { return b.deals || b.bar === "opening" || b.bar === "closing"; });
  };

  // Draw `wf` on `canvas`; onBar(bar) is called with the bar clicked. Returns the chart (null: nothing moved).
  A.waterfallChart = function (canvas, wf, onBar) {
    if (!canvas || !wf || !wf.bars || !wf.bars.some(function (b) { return b.deals; })) return null;
    var bars = A.waterfallBars(wf), text = css("--muted"), grid = css("--border");
    var green = css("--green"), red = css("--red"), blue = css("--blue"), level = 0;
    var spans = bars.map(function (b) {
      if (b.bar === "opening" || b.bar === "closing") { level = num(b.amount); return [0, level]; }
      var from = level; level += num(b.amount); return [from, level];
    });
    var font = { family: "Quicksand" };
    return new Chart(canvas, {
      type: "bar",
      data: { labels: bars.map(function (b) { return SHORT_BARS[b.bar] || b.label; }), datasets: [{ label: "Pipeline", data: spans, borderRadius: 4,
        backgroundColor: bars.map(function (b) { return b.bar === "opening" || b.bar === "closing" ? blue : num(b.amount) >= 0 ? green : red; }) }] },
      options: {
        responsive: true, maintainAspectRatio: false, animation: { duration: 300 },
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: function (ctx) {
          var b = bars[ctx.dataIndex];
          return b.label + ": " + money(b.amount, wf.currency) + " in " + b.deals + " deal" + (b.deals === 1 ? "" : "s") + (onBar ? " (click to list them)" : "");
        } } } },
        scales: {
          x: { ticks: { color: text, autoSkip: false, maxRotation: 60, font: font }, grid: { color: grid } },
          y: { ticks: { color: text, font: font }, grid: { color: grid }, beginAtZero: true },
        },
        onClick: function (evt, items) { if (items.length && onBar) onBar(bars[items[0].index]); },
      },
    });
  };

  // The waterfall page: draw the chart of #waterfall-data, again when the theme changes.
  function openBar(b) {
    var details = document.getElementById("bar-" + b.bar);
    if (!details) return;
    details.open = true;
    details.scrollIntoView({ behavior: "smooth", block: "start" });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var canvas = document.getElementById("chart-waterfall"), data = document.getElementById("waterfall-data");
    if (!canvas || !data || !document.querySelector("[data-waterfall-page]")) return;
    var wf = JSON.parse(data.textContent), chart = null;
    function draw() { if (chart) chart.destroy(); chart = A.waterfallChart(canvas, wf, openBar); }
    draw();
    document.addEventListener("themechange", draw);
    document.querySelectorAll("[data-waterfall] a[href^='#bar-']").forEach(function (a) {
      a.addEventListener("click", function () { var d = document.getElementById(a.getAttribute("href").slice(1)); if (d) d.open = true; });
    });
  });
})();
