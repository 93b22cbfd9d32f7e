// Live Flow: every event of the tenant, as it happens, on a picture of the pipeline.
// The page starts from the retained backlog (rendered by the server) and the socket resumes after it.
(function () {
  "use strict";
  var A = window.AutonomOS;

  document.addEventListener("DOMContentLoaded", function () {
    var stageOf = A.jsonScript("flow-stages", {});
    var backlog = A.jsonScript("flow-backlog", []);
    var feed = document.getElementById("flow-feed");
    var empty = document.getElementById("flow-empty");
    var filterBadge = document.getElementById("feed-filter");
    var pauseBtn = document.getElementById("feed-pause");
    // "Needs attention" is not counted from events (an approved item would stay counted): it is the
    // server's one state (/api/status/), which app.js fetches again when events say it changed.
    var counts = {}, totals = { records_read: 0, records_published: 0, records_consumed: 0 };
    var filter = null, paused = false, seen = {};
    var timers = {};

    function stageEl(stage) { return document.querySelector('.flow-stage[data-stage="' + stage + '"]'); }

    var order = ["sources", "aam", "streams", "dcl", "agents"];
    var flowEl = document.getElementById("flow");
    var calm = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

    // A spark travels from the previous stage into this one: the data moving along the pipeline.
    function spark(stage) {
      var i = order.indexOf(stage);
      if (i <= 0 || calm || !flowEl.animate) return;
      var box = flowEl.getBoundingClientRect();
      var a = stageEl(order[i - 1]).getBoundingClientRect(), b = stageEl(stage).getBoundingClientRect();
      var dot = document.createElement("span");
      dot.className = "spark";
      dot.setAttribute("data-stage", stage);
      flowEl.appendChild(dot);
      var from = "translate(" + (a.left + a.width / 2 - box.left - 5) + "px," + (a.top + a.height / 2 - box.top - 5) + "px)";
      var to = "translate(" + (b.left + b.width / 2 - box.left - 5) + "px," + (b.top + b.height / 2 - box.top - 5) + "px)";
      var anim = dot.animate([{ transform: from, opacity: 0.2 }, { transform: to, opacity: 1 }], { duration: 650, easing: "ease-in-out" });
      anim.onfinish = function () { dot.remove(); };
    }

    function light(stage) {
      var el = stageEl(stage);
      if (!el) return;
      spark(stage);
      el.classList.add("lit");
      clearTimeout(timers[stage]);
      timers[stage] = setTimeout(function () { el.classList.remove("lit"); }, 1400);
    }

    function num(x) { var n = Number(x); return isFinite(n) ? n : 0; }

    // Counts inside one sync are cumulative (records_read, records_total): keep the latest of the
    // current sync per connection and bank it when the next sync of that connection starts.
    var runs = {};
    function run(p) {
      var id = p.connection_id === undefined ? "?" : String(p.connection_id);
      return (runs[id] = runs[id] || { read: 0, published: 0, curRead: 0, curPublished: 0 });
    }
    function account(e) {
      var p = e.payload || {};
      var r;
      switch (e.type) {
        case "sync_started":
          r = run(p);
          r.read += r.curRead; r.published += r.curPublished; r.curRead = 0; r.curPublished = 0;
          break;
        case "sync_progress": case "sync_completed": case "sync_failed":
          r = run(p);
          r.curRead = Math.max(r.curRead, num(p.records_read));
          r.curPublished = Math.max(r.curPublished, num(p.records_published));
          break;
        case "batch_published":
          r = run(p);
          r.curPublished = Math.max(r.curPublished, num(p.records_total !== undefined ? p.records_total : p.count));
          break;
        case "batch_consumed":
          // records_by_connection holds what was consumed since the consumer's previous event.
          if (p.records_by_connection) Object.keys(p.records_by_connection).forEach(function (k) { totals.records_consumed += num(p.records_by_connection[k]); });
          else totals.records_consumed += num(p.count);
          break;
      }
      totals.records_read = 0; totals.records_published = 0;
      Object.keys(runs).forEach(function (k) {
        totals.records_read += runs[k].read + runs[k].curRead;
        totals.records_published += runs[k].published + runs[k].curPublished;
      });
    }

    function render(e, fresh) {
      var stage = stageOf[e.type] || "";
      var li = document.createElement("li");
      li.setAttribute("data-stage", stage);
      li.setAttribute("data-type", e.type);
      if (fresh) li.className = "new";
      li.innerHTML = '<span class="event-time">' + A.esc(A.fmt.time(e.ts)) + '</span>' +
        (stage ? '<span class="badge badge-grey">' + A.esc(stage) + "</span>" : "") +
        '<span class="badge ' + A.eventTone(e.type) + '">' + A.esc(e.type) + '</span><span class="event-detail">' + A.esc(A.describeEvent(e)) + "</span>";
      if (filter && stage !== filter) li.hidden = true;
      feed.insertBefore(li, feed.firstChild);
      while (feed.children.length > 300) feed.removeChild(feed.lastChild);
      empty.hidden = true;
    }

    function update(e, fresh) {
      if (seen[e.id]) return;  // the backlog and the socket may overlap by an event
      seen[e.id] = true;
      var stage = stageOf[e.type];
      if (stage) {
        counts[stage] = (counts[stage] || 0) + 1;
        var el = stageEl(stage);
        el.querySelector("[data-count]").textContent = A.fmt.number(counts[stage]);
        el.querySelector("[data-last]").textContent = e.type + (A.describeEvent(e) ? " · " + A.describeEvent(e) : "");
        if (fresh) light(stage);
      }
      account(e);
      Object.keys(totals).forEach(function (k) {
        var t = document.querySelector('[data-total="' + k + '"]');
        if (t) t.textContent = A.fmt.number(totals[k]);
      });
      if (!paused || !fresh) render(e, fresh);
    }

    backlog.forEach(function (e) { update(e, false); });
    var live = A.live();
    live.on("*", function (e) { update(e, true); });

    document.getElementById("flow").addEventListener("click", function (ev) {
      var btn = ev.target.closest(".flow-stage");
      if (!btn) return;
      var stage = btn.getAttribute("data-stage");
      filter = filter === stage ? null : stage;
      document.querySelectorAll(".flow-stage").forEach(function (s) { s.setAttribute("aria-pressed", s.getAttribute("data-stage") === filter ? "true" : "false"); });
      filterBadge.hidden = !filter;
      filterBadge.textContent = filter ? filter + " only" : "";
      Array.prototype.forEach.call(feed.children, function (li) { li.hidden = !!filter && li.getAttribute("data-stage") !== filter; });
    });
    pauseBtn.addEventListener("click", function () {
      paused = !paused;
      pauseBtn.textContent = paused ? "Resume" : "Pause";
      pauseBtn.setAttribute("aria-pressed", paused ? "true" : "false");
    });
    document.getElementById("feed-clear").addEventListener("click", function () { feed.innerHTML = ""; });
  });
})();
