// Connections: test a connection, start a sync and follow its progress live (sync_* events).
(function () {
  "use strict";
  var A = window.AutonomOS;

  function slot(pk) { return document.querySelector('[data-sync-progress="' + pk + '"]'); }
  function badges(pk) { return document.querySelectorAll('[data-connection-row="' + pk + '"] [data-status-badge]'); }

  function setBadge(pk, status) {
    var labels = { ok: ["Healthy", "badge-green"], error: ["Error", "badge-red"], syncing: ["Syncing", ""], frozen: ["Frozen", "badge-amber"] };
    var l = labels[status];
    if (!l) return;
    badges(pk).forEach(function (b) { b.className = "badge " + l[1]; b.textContent = l[0]; });
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
    setBadge(pk, "syncing");
    A.api("POST", "/api/connections/" + pk + "/sync/", {}).then(function (res) {
      btn.disabled = false;
      btn.removeAttribute("aria-busy");
      if (!res.ok) {
        var msg = A.errorMessage(res);
        showProgress(pk, msg, 0, true);
        A.toast(msg, "error");
        return;
      }
      var d = res.data || {};
      // A synchronous sync answers with its result; an asynchronous one with a job: events tell the rest.
      if (d.records_read !== undefined || d.records_published !== undefined) {
        showProgress(pk, "Done · " + describe(d), 100, true);
        setBadge(pk, "ok");
      } else {
        showProgress(pk, "Queued" + (d.job_id || d.id ? " (job " + (d.job_id || d.id) + ")" : "") + "…", null, false);
      }
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
      // The service records the outcome as the status, except during a sync or a drift freeze.
      var badge = badges(pk)[0];
      if (res.ok && badge && ["Syncing", "Frozen"].indexOf(badge.textContent) < 0) setBadge(pk, ok ? "ok" : "error");
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

  // The connection's own page: after a sync, its "last sync" and cursor card come from the server again.
  function refreshDetail(pk) {
    var row = document.querySelector('[data-connection-row="' + pk + '"]');
    var card = document.getElementById("sync-cursor");
    if (!row || !card) return;
    fetch(window.location.href, { credentials: "same-origin" }).then(function (r) {
      return r.ok ? r.text() : null;
    }).then(function (html) {
      if (!html) return;
      var page = new DOMParser().parseFromString(html, "text/html");
      var fresh = page.getElementById("sync-cursor");
      if (fresh) card.replaceWith(fresh);
      var when = page.querySelector('[data-connection-row="' + pk + '"] [data-last-sync]');
      var old = row.querySelector("[data-last-sync]");
      if (when && old) old.replaceWith(when);
    }, function () { /* the next page load shows it */ });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var live = A.live();
    live.on("sync_started", function (e) {
      var pk = connId(e.payload);
      showProgress(pk, "Reading the source…", null, false);
      setBadge(pk, "syncing");
    });
    live.on("sync_progress", function (e) {
      var p = e.payload || {};
      showProgress(connId(p), describe(p) || "Syncing…", percentOf(p), false);
    });
    live.on("sync_completed", function (e) {
      var p = e.payload || {};
      showProgress(connId(p), "Done · " + describe(p), 100, true);
      setBadge(connId(p), "ok");
      if (slot(connId(p))) A.toast("Sync finished: " + (describe(p) || "up to date"), "ok");
      refreshDetail(connId(p));
    });
    live.on("sync_failed", function (e) {
      var p = e.payload || {};
      showProgress(connId(p), "Failed: " + (p.error || p.message || "see the connection"), 100, true);
      setBadge(connId(p), "error");
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
