// Home: the recent-events feed, the last job's progress and connection badges update live.
(function () {
  "use strict";
  var A = window.AutonomOS;

  function prepend(list, event) {
    var li = document.createElement("li");
    li.className = "new";
    li.innerHTML = '<span class="event-time">' + A.esc(A.fmt.time(event.ts)) + '</span><span class="badge ' + A.eventTone(event.type) + '">' +
      A.esc(event.type) + '</span><span class="event-detail">' + A.esc(A.describeEvent(event)) + "</span>";
    list.insertBefore(li, list.firstChild);
    while (list.children.length > 30) list.removeChild(list.lastChild);
  }

  document.addEventListener("DOMContentLoaded", function () {
    var feed = document.getElementById("event-feed");
    var empty = document.getElementById("event-empty");
    // The server lists the retained events; describe them the same way as the live ones.
    A.jsonScript("home-events", []).forEach(function (e) {
      var li = feed && feed.querySelector('[data-event-id="' + e.id + '"]');
      if (!li) return;
      li.querySelector(".badge").className = "badge " + A.eventTone(e.type);
      li.querySelector(".event-detail").textContent = A.describeEvent(e);
      li.querySelector("time").textContent = A.fmt.time(e.ts);
    });
    var live = A.live();
    live.on("*", function (e) {
      if (feed) { prepend(feed, e); if (empty) empty.hidden = true; }
    });
    live.on("job_progress", function (e) {
      var p = e.payload || {};
      var pct = Math.max(0, Math.min(100, Number(p.progress) || 0));  // jobs report 0-100
      if (p.parent_id) {  // a step of the job shown (a sync per connection, materialize, agents)
        var row = document.querySelector('[data-job-child="' + p.job_id + '"]');
        if (row) {
          row.querySelector("[data-job-status]").textContent = p.status;
          row.querySelector("[data-job-percent]").textContent = pct + "%";
        }
        return;
      }
      var bar = document.querySelector('[data-job-progress="' + p.job_id + '"] span');
      if (!bar) {
        var card = document.getElementById("last-job");
        var note = card && card.querySelector("[data-new-job]");
        if (card && !note) {
          note = document.createElement("div");
          note.className = "notice";
          note.setAttribute("data-new-job", "");
          card.appendChild(note);
        }
        if (note) note.innerHTML = "Job #" + A.esc(p.job_id) + " (" + A.esc(p.kind) + ") is " + A.esc(p.status) + ", " + pct + "% · <a href=\"\">show it</a>";
        return;
      }
      bar.style.width = pct + "%";
      var step = document.querySelector("[data-job-step]");
      if (step && p.step) step.textContent = p.step;
      var status = document.querySelector("#last-job > .row [data-job-status]");
      if (status && p.status) status.textContent = p.status;
    });
    // The counts (connections per state, review items waiting) come from the server's one state
    // (/api/status/, app.js), fetched again on the events that change it: never counted here.
  });
})();
