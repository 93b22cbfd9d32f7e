// Connections: test a connection, start a sync and follow its progress live (sync_* events).
(function () {
  "use strict";
  var A = window.AutonomOS;

  function slot(pk) { return document.querySelector('[data-sync-progress="' + pk + '"]'); }
  // A connection's badge and reason come from the server's health (connectors/health.py): app.js
  // fetches /api/status/ again on every event that changes it. Here only "a sync is starting" is
  // shown at once, which is true the moment the server accepted it.
  function markSyncing(pk, why) {
    A.setHealth(pk, { state: "syncing", label: "Syncing", tone: "blue", reason: why });
  }

  function showProgress(pk, text, percent, done) {
    var el = slot(pk);
    if (!el) return;
    el.hidden = false;
    var bar = el.querySelector(".progress");
    var fill = bar.querySelector("span");
    if (percent === null || percent === undefined || isNaN(percent)) {
      bar.classList.toggle("indeterminate", !done);
      if (done) fill.style.width = "100%";
    } else {
      bar.classList.remove("indeterminate");
      fill.style.width = Math.max(2, Math.min(100, percent)) + "%";
    }
    el.querySelector("[data-sync-text]").textContent = text;
  }

  function percentOf(p) {
    if (p.progress !== undefined && p.progress !== null) {
      var x = Number(p.progress);
      return x <= 1 ? x * 100 : x;
    }
    if (p.objects_total) return 100 * (Number(p.objects_done || 0) / Number(p.objects_total));
    if (p.total && p.records_read !== undefined) return 100 * Number(p.records_read) / Number(p.total);
    return null;
  }

  function describe(p) {
    var bits = [];
    if (p.object) bits.push(p.object);
    if (p.records_read !== undefined) bits.push(A.fmt.number(p.records_read) + " read");
    if (p.records_published !== undefined) bits.push(A.fmt.number(p.records_published) + " published");
    if (p.quarantined) bits.push(A.fmt.number(p.quarantined) + " quarantined");
    if (p.batches !== undefined) bits.push(A.fmt.number(p.batches) + " batches");
    return bits.join(" · ");
  }

  function connId(p) { return p && (p.connection_id !== undefined ? p.connection_id : p.connection); }

  function startSync(btn) {
    var pk = btn.getAttribute("data-sync");
    btn.setAttribute("aria-busy", "true");
    btn.disabled = true;
    showProgress(pk, "Starting…", null, false);
    A.api("POST", "/api/connections/" + pk + "/sync/", {}).then(function (res) {
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
      if (!res.ok) {
        var msg = A.errorMessage(res);
        showProgress(pk, msg, 0, true);
        A.toast(msg, "error");
        return;
      }
      markSyncing(pk, "Queued: the sync starts when a worker is free.");
      showProgress(pk, "Queued: the sync starts when a worker is free…", null, false);
    });
  }

  function testConnection(btn) {
    var pk = btn.getAttribute("data-test-connection");
    btn.setAttribute("aria-busy", "true");
    btn.disabled = true;
    A.api("POST", "/connections/" + pk + "/test/").then(function (res) {
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
      var ok = res.ok && res.data && res.data.ok;
      var msg = (res.data && res.data.message) || A.errorMessage(res);
      A.toast((ok ? "Test passed: " : "Test failed: ") + msg, ok ? "ok" : "error");
      // The answer carries the connection's health after the test (a failed test fails it; a passed
      // one does not hide a failed last run).
      if (res.ok && res.data && res.data.health) A.setHealth(pk, res.data.health);
      var out = document.querySelector('[data-test-result="' + pk + '"]');
      if (out) {
        out.innerHTML = '<span class="badge ' + (ok ? "badge-green" : "badge-red") + '">' + (ok ? "Test passed" : "Test failed") + "</span> " + A.esc(msg);
      }
    });
  }

  document.addEventListener("click", function (ev) {
    var sync = ev.target.closest("[data-sync]");
    if (sync) { startSync(sync); return; }
    var test = ev.target.closest("[data-test-connection]");
    if (test) testConnection(test);
  });

  // The connection's own page: when a run ends, its state, runs, cursor and schedule cards come
  // from the server again (the cursors are stored by the DCL as the records land, after the read).
  function refreshDetail(pk) {
    var row = document.querySelector('[data-connection-row="' + pk + '"]');
    if (!row || !document.getElementById("runs")) return;
    fetch(window.location.href, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) return;
      var page = new DOMParser().parseFromString(html, "text/html");
      ["sync-cursor", "runs", "schedule"].forEach(function (id) {
        var fresh = page.getElementById(id), old = document.getElementById(id);
        if (fresh && old) old.replaceWith(fresh);
      });
      [".health-box", "[data-last-sync]", "[data-status-badge]"].forEach(function (sel) {
        var fresh = page.querySelector('[data-connection-row="' + pk + '"] ' + sel);
        var old = row.querySelector(sel);
        if (fresh && old) old.replaceWith(fresh);
      });
    }, function () { /* the next page load shows it */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = A.live();
    live.on("sync_queued", function (e) {
      var pk = connId(e.payload);
      showProgress(pk, "Queued: the sync starts when a worker is free…", null, false);
    });
    live.on("sync_started", function (e) {
      var pk = connId(e.payload);
      showProgress(pk, "Reading the source…", null, false);
      markSyncing(pk, "Reading the source.");
    });
    live.on("sync_progress", function (e) {
      var p = e.payload || {};
      showProgress(connId(p), describe(p) || "Syncing…", percentOf(p), false);
    });
    live.on("sync_completed", function (e) {
      var p = e.payload || {};
      // The read is done; the run goes on (consume, values, materialize) until run_finished.
      showProgress(connId(p), "Read · " + describe(p) + " · applying to the unified views…", null, false);
    });
    live.on("sync_failed", function (e) {
      var p = e.payload || {};
      showProgress(connId(p), "Failed: " + (p.error || p.message || "see the connection"), 100, true);
    });
    live.on("run_finished", function (e) {
      var p = e.payload || {}, pk = connId(p);
      if (p.status === "succeeded") {
        showProgress(pk, "Done · " + A.fmt.number(p.records_read) + " read" +
          (p.quarantined ? " · " + A.fmt.number(p.quarantined) + " quarantined" : ""), 100, true);
        if (slot(pk) && !slot(pk).hidden) A.toast("Sync finished: " + A.fmt.number(p.records_read) + " read", "ok");
      } else if (p.status === "failed") {
        showProgress(pk, "Failed: " + (p.error || "see the run below"), 100, true);
      }
      refreshDetail(pk);
    });

    var schema = document.getElementById("schema");
    function loadSchema() {
      if (!schema) return;
      fetch(schema.getAttribute("data-url"), { credentials: "same-origin" }).then(function (r) {
        return r.text().then(function (html) { return { ok: r.ok, html: html }; });
      }).then(function (r) {
        schema.innerHTML = r.ok ? r.html : '<div class="notice amber">The schema could not be loaded.</div>';
      }, function () {
        schema.innerHTML = '<div class="notice amber">The server cannot be reached.</div>';
      });
    }
    loadSchema();
    var reload = document.getElementById("schema-reload");
    if (reload) reload.addEventListener("click", function () {
      schema.innerHTML = '<div class="progress indeterminate"><span></span></div>';
      loadSchema();
    });
  });
})();
