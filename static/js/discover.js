// Discovery: a plain-language request to /api/aoa/discover/ and the demo scan /api/aoa/demo-scan/.
(function () {
  "use strict";
  var A = window.AutonomOS;

  function valueHtml(v) {
    if (v === null || v === undefined || v === "") return '<span class="muted">–</span>';
    if (typeof v === "object") return "<code>" + A.esc(JSON.stringify(v)) + "</code>";
    return A.esc(v);
  }

  function riskBadge(r) {
    return '<span class="badge ' + (r === "high" ? "badge-red" : r === "medium" ? "badge-amber" : "badge-green") + '">' + A.esc(r || "low") + "</span>";
  }

  function assetsTable(assets) {
    if (!assets.length) return '<p class="muted">No assets matched.</p>';
    return '<div class="table-wrap"><table><thead><tr><th>Asset</th><th>Risk</th><th>Why</th><th>Agent</th></tr></thead><tbody>' +
      assets.slice(0, 200).map(function (a) {
        return "<tr><td><strong>" + A.esc(a.name || a.asset_id) + '</strong><div class="small muted">' + A.esc([a.asset_type, a.source, a.owner ? "owner " + a.owner : "no owner"].filter(Boolean).join(" · ")) +
          "</div></td><td>" + riskBadge(a.risk) + '</td><td class="small">' + A.esc((a.reasons || []).join("; ")) +
          "</td><td>" + (a.domain ? '<span class="badge badge-purple">' + A.esc(a.domain) + "</span>" : '<span class="muted">–</span>') + "</td></tr>";
      }).join("") + "</tbody></table></div>" + (assets.length > 200 ? '<p class="small muted">The first 200 of ' + assets.length + " assets.</p>" : "");
  }

  // What discovery returned, and what goes to the agents.
  function renderResult(d) {
    if (!d || typeof d !== "object") return "<p>" + valueHtml(d) + "</p>";
    if (!Array.isArray(d.assets)) return "<pre class='json'>" + A.esc(JSON.stringify(d, null, 2)) + "</pre>";
    var html = "<p><strong>" + A.esc(d.summary || d.assets.length + " assets") + "</strong>" +
      (d.backend ? ' <span class="badge badge-grey">' + A.esc(d.backend) + "</span>" : "") + "</p>";
    if (d.counts) html += '<div class="row">' + ["high", "medium", "low"].map(function (r) { return riskBadge(r) + " " + A.fmt.number(d.counts[r] || 0); }).join(" &nbsp; ") + "</div>";
    var domains = (d.handed_to_agents && d.handed_to_agents.domains) || {};
    var names = Object.keys(domains);
    html += "<h3>What the agents get</h3>";
    if (names.length) {
      html += "<ul>" + names.map(function (n) {
        return "<li><strong>" + A.esc(n === "revops" ? "RevOps" : n === "finops" ? "FinOps" : n) + "</strong>: " + A.fmt.number(domains[n].assets) + " asset(s) to analyse</li>";
      }).join("") + "</ul>";
      html += d.agents_job_id ? '<p class="small">Agents job #' + A.esc(d.agents_job_id) + ' queued: results on the <a href="/agents/">Agents</a> page.</p>'
        : '<p class="small muted">Tick “Hand what is found to the agents” to have them analyse these assets.</p>';
    } else {
      html += '<p class="muted small">None of these assets concerns the RevOps or FinOps pilots.</p>';
    }
    if (d.review_items_created) html += '<p class="small"><a href="/aam/review/?kind=asset">' + A.esc(d.review_items_created) + " asset(s) sent to review →</a></p>";
    return html + "<h3>Assets</h3>" + assetsTable(d.assets);
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
      var submit = form.querySelector("button[type=submit]");
      submit.disabled = true;
      var runAgents = document.getElementById("discover-run-agents").checked;
      A.api("POST", "/api/aoa/discover/", { query: q, run_agents: runAgents }).then(function (res) {
        progress.hidden = true;
        submit.disabled = false;
        if (!res.ok) {
          out.innerHTML = '<div class="notice red">' + A.esc(A.errorMessage(res)) + "</div>";
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
          scanOut.innerHTML = '<div class="notice red">' + A.esc(A.errorMessage(res)) + "</div>";
          return;
        }
        var d = res.data || {};
        var stats = d.counts || {};
        ["high", "medium", "low"].forEach(function (r) {
          var el = document.querySelector('[data-risk="' + r + '"]');
          if (el && stats[r] !== undefined) el.textContent = A.fmt.number(stats[r]);
        });
        ["scan-empty", "scan-last"].forEach(function (id) { var el = document.getElementById(id); if (el) el.hidden = true; });
        scanOut.innerHTML = renderResult(d) + (d.review_items_created ? '<p class="small"><a href="">Reload</a> to list the new review items below.</p>' : "");
      });
    });
  });
})();
