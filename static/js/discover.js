// Discovery: a plain-language request to /api/aoa/discover/ and the demo scan /api/aoa/demo-scan/.
(function () {
  "use strict";
  var A = window.AutonomOS;

  function valueHtml(v) {
    if (v === null || v === undefined || v === "") return '<span class="muted">–</span>';
    if (typeof v === "object") return "<code>" + A.esc(JSON.stringify(v)) + "</code>";
    return A.esc(v);
  }

  function listTable(items) {
    if (!items.length) return '<p class="muted">Nothing found.</p>';
    var keys = [];
    items.slice(0, 20).forEach(function (it) {
      Object.keys(it || {}).forEach(function (k) { if (keys.indexOf(k) < 0 && typeof it[k] !== "object") keys.push(k); });
    });
    keys = keys.slice(0, 6);
    return '<div class="table-wrap"><table><thead><tr>' + keys.map(function (k) { return "<th>" + A.esc(k) + "</th>"; }).join("") +
      "</tr></thead><tbody>" + items.slice(0, 100).map(function (it) {
        return "<tr>" + keys.map(function (k) {
          var v = it[k];
          if (k === "risk") return '<td><span class="badge ' + (v === "high" ? "badge-red" : v === "medium" ? "badge-amber" : "badge-green") + '">' + A.esc(v) + "</span></td>";
          return "<td>" + valueHtml(v) + "</td>";
        }).join("") + "</tr>";
      }).join("") + "</tbody></table></div>";
  }

  // Show whatever discovery returned: lists as tables, text as paragraphs, the rest as key/values.
  function renderResult(data) {
    if (!data || typeof data !== "object") return "<p>" + valueHtml(data) + "</p>";
    var html = "";
    Object.keys(data).forEach(function (k) {
      var v = data[k];
      if (Array.isArray(v)) {
        html += "<h3>" + A.esc(k.replace(/_/g, " ")) + " (" + v.length + ")</h3>";
        html += v.length && typeof v[0] === "object" ? listTable(v) : "<ul>" + v.map(function (x) { return "<li>" + valueHtml(x) + "</li>"; }).join("") + "</ul>";
      } else if (v && typeof v === "object") {
        html += "<h3>" + A.esc(k.replace(/_/g, " ")) + '</h3><dl class="kv">' + Object.keys(v).map(function (j) { return "<dt>" + A.esc(j) + "</dt><dd>" + valueHtml(v[j]) + "</dd>"; }).join("") + "</dl>";
      } else {
        html += '<dl class="kv"><dt>' + A.esc(k.replace(/_/g, " ")) + "</dt><dd>" + valueHtml(v) + "</dd></dl>";
      }
    });
    return html;
  }

  document.addEventListener("DOMContentLoaded", function () {
    var form = document.getElementById("discover-form");
    var out = document.getElementById("discover-result");
    var progress = document.getElementById("discover-progress");
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var q = document.getElementById("discover-query").value.trim();
      if (!q) return;
      progress.hidden = false;
      out.innerHTML = "";
      A.api("POST", "/api/aoa/discover/", { query: q }).then(function (res) {
        progress.hidden = true;
        if (!res.ok) {
          out.innerHTML = '<div class="notice ' + (res.status === 404 ? "amber" : "red") + '">' +
            A.esc(res.status === 404 ? "Discovery is not available on this build yet." : A.errorMessage(res)) + "</div>";
          return;
        }
        out.innerHTML = renderResult(res.data);
      });
    });

    var scanBtn = document.getElementById("demo-scan");
    var scanOut = document.getElementById("scan-result");
    var scanProgress = document.getElementById("scan-progress");
    scanBtn.addEventListener("click", function () {
      scanBtn.disabled = true;
      scanProgress.hidden = false;
      A.api("POST", "/api/aoa/demo-scan/", {}).then(function (res) {
        scanBtn.disabled = false;
        scanProgress.hidden = true;
        if (!res.ok) {
          scanOut.innerHTML = '<div class="notice ' + (res.status === 404 ? "amber" : "red") + '">' +
            A.esc(res.status === 404 ? "The demo scan is not available on this build yet." : A.errorMessage(res)) + "</div>";
          return;
        }
        var d = res.data || {};
        var stats = d.by_risk || d.stats || d.statistics || {};
        ["high", "medium", "low"].forEach(function (r) {
          var el = document.querySelector('[data-risk="' + r + '"]');
          if (el && stats[r] !== undefined) el.textContent = A.fmt.number(typeof stats[r] === "object" ? stats[r].count : stats[r]);
        });
        var empty = document.getElementById("scan-empty");
        if (empty) empty.hidden = true;
        var assets = d.assets || d.results || [];
        scanOut.innerHTML = assets.length ? "<h3>Assets found (" + assets.length + ")</h3>" + listTable(assets) +
          '<p class="small"><a href="">Reload</a> to see the new review items.</p>' : renderResult(d);
      });
    });
  });
})();
