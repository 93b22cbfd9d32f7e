// AutonomOS dashboard: small helpers shared by every page (no build step, no framework).
//  - AutonomOS.api(method, url, body): fetch with the session cookie and the CSRF token, JSON both ways.
//  - AutonomOS.live(): the tenant's events over the WebSocket /ws/events/, reconnecting by itself and
//    resuming after the last event it saw (?last_event_id=), so nothing is missed across a drop.
//  - forms and buttons marked data-confirm ask first; <time data-ago> shows "3 min ago".
(function () {
  "use strict";
  var A = (window.AutonomOS = window.AutonomOS || {});

  A.csrf = function () {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta && meta.content) return meta.content;
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  };

  A.esc = function (value) {
    return String(value === null || value === undefined ? "" : value)
      .replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;").replace(/'/g, "&#39;");
  };

  A.fmt = {
    number: function (n) {
      if (n === null || n === undefined || n === "") return "–";
      var x = Number(n);
      return isFinite(x) ? x.toLocaleString("en-US", { maximumFractionDigits: 2 }) : String(n);
    },
    money: function (n, currency) {
      var x = Number(n);
      if (!isFinite(x)) return "–";
      return (currency && currency !== "USD" ? currency + " " : "$") + x.toLocaleString("en-US", { maximumFractionDigits: 0 });
    },
    time: function (iso) {
      if (!iso) return "";
      var d = new Date(iso);
      return isNaN(d) ? "" : d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    },
    ago: function (iso) {
      var d = new Date(iso);
      if (!iso || isNaN(d)) return "";
      var s = Math.round((Date.now() - d.getTime()) / 1000);
      if (s < 45) return "just now";
      if (s < 3600) return Math.round(s / 60) + " min ago";
      if (s < 86400) return Math.round(s / 3600) + " h ago";
      return Math.round(s / 86400) + " d ago";
    },
  };

  A.api = function (method, url, body) {
    var opts = {
      method: method,
      credentials: "same-origin",
      headers: { "Accept": "application/json", "X-CSRFToken": A.csrf(), "X-Requested-With": "fetch" },
    };
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    return fetch(url, opts).then(function (resp) {
      return resp.text().then(function (text) {
        var data = null;
        try { data = text ? JSON.parse(text) : null; } catch (e) { data = { raw: text }; }
        return { ok: resp.ok, status: resp.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, data: { error: { message: "The server cannot be reached." } } };
    });
  };

  A.errorMessage = function (result) {
    var d = result && result.data;
    if (d && d.error && d.error.message) return d.error.message;
    if (d && d.message) return d.message;
    if (d && d.detail) return d.detail;
    return "Request failed (" + (result ? result.status : "?") + ").";
  };

  A.toast = function (message, kind) {
    var box = document.getElementById("toasts");
    if (!box) return;
    var el = document.createElement("div");
    el.className = "toast " + (kind || "");
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.textContent = message;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, kind === "error" ? 9000 : 5000);
  };

  A.jsonScript = function (id, fallback) {
    var el = document.getElementById(id);
    if (!el) return fallback;
    try { return JSON.parse(el.textContent); } catch (e) { return fallback; }
  };

  // ---- Live events ------------------------------------------------------------------------
  function Live(options) {
    this.lastEventId = (options && options.lastEventId) || null;
    this.handlers = {};
    this.stateHandlers = [];
    this.state = "connecting";
    this.attempt = 0;
    this.ws = null;
    this.stopped = false;
    this.pingTimer = null;
  }
  Live.prototype.on = function (type, fn) {
    (this.handlers[type] = this.handlers[type] || []).push(fn);
    return this;
  };
  Live.prototype.onState = function (fn) { this.stateHandlers.push(fn); fn(this.state); return this; };
  Live.prototype._setState = function (state) {
    this.state = state;
    this.stateHandlers.forEach(function (fn) { fn(state); });
    document.querySelectorAll("[data-live-pill]").forEach(function (pill) {
      pill.setAttribute("data-state", state);
      var label = pill.querySelector("[data-live-label]");
      if (label) label.textContent = { open: "Live", connecting: "Connecting…", reconnecting: "Reconnecting…", closed: "Offline", unauthorized: "Signed out" }[state] || state;
    });
  };
  Live.prototype.url = function () {
    var proto = location.protocol === "https:" ? "wss:" : "ws:";
    var q = this.lastEventId ? "?last_event_id=" + encodeURIComponent(this.lastEventId) : "";
    return proto + "//" + location.host + "/ws/events/" + q;
  };
  Live.prototype.start = function () {
    var self = this;
    if (self.stopped) return;
    var ws;
    try { ws = new WebSocket(self.url()); } catch (e) { self._retry(); return; }
    self.ws = ws;
    ws.onopen = function () {
      self.attempt = 0;
      self._setState("open");
      clearInterval(self.pingTimer);
      // A ping keeps proxies from closing an idle socket.
      self.pingTimer = setInterval(function () {
        if (ws.readyState === 1) ws.send(JSON.stringify({ type: "ping" }));
      }, 25000);
    };
    ws.onmessage = function (msg) {
      var event;
      try { event = JSON.parse(msg.data); } catch (e) { return; }
      if (!event || event.type === "pong") return;
      if (event.id) self.lastEventId = event.id;
      self._dispatch(event);
    };
    ws.onclose = function (ev) {
      clearInterval(self.pingTimer);
      if (ev.code === 4401) { self._setState("unauthorized"); return; }
      self._retry();
    };
    ws.onerror = function () { /* onclose follows and schedules the retry */ };
  };
  Live.prototype._retry = function () {
    var self = this;
    if (self.stopped) return;
    self._setState("reconnecting");
    var delay = Math.min(15000, 1000 * Math.pow(2, self.attempt)) + Math.random() * 400;
    self.attempt += 1;
    clearTimeout(self.retryTimer);
    self.retryTimer = setTimeout(function () { self.start(); }, delay);
  };
  Live.prototype.reconnectNow = function () {
    if (this.ws && this.ws.readyState <= 1) return;
    clearTimeout(this.retryTimer);
    this.attempt = 0;
    this.start();
  };
  Live.prototype._dispatch = function (event) {
    var list = (this.handlers[event.type] || []).concat(this.handlers["*"] || []);
    list.forEach(function (fn) {
      try { fn(event); } catch (e) { if (window.console) console.warn("live handler failed", e); }
    });
  };

  var liveInstance = null;
  A.live = function (options) {
    if (!liveInstance) {
      var body = document.body;
      var opts = options || {};
      if (!opts.lastEventId && body && body.dataset.lastEventId) opts.lastEventId = body.dataset.lastEventId;
      liveInstance = new Live(opts);
      setTimeout(function () { liveInstance.start(); }, 0);
      document.addEventListener("visibilitychange", function () {
        if (document.visibilityState === "visible") liveInstance.reconnectNow();
      });
      window.addEventListener("online", function () { liveInstance.reconnectNow(); });
    }
    return liveInstance;
  };

  // Human text for an event, shared by the feed on the home and flow pages.
  A.describeEvent = function (event) {
    var p = event.payload || {};
    var bits = [];
    var names = A.connectionNames || (A.connectionNames = A.jsonScript("connection-names", {}));
    if (p.connection_name) bits.push(p.connection_name);
    else if (p.connection_id !== undefined && p.connection_id !== null) bits.push(names[p.connection_id] || "connection " + p.connection_id);
    if (p.object || p.source_object) bits.push(p.object || p.source_object);
    if (p.entity) bits.push(p.entity);
    if (p.agent) bits.push(p.agent);
    var labels = [["records_read", "read"], ["records_published", "published"], ["records_total", "records"],
      ["batches_total", "batches"], ["count", "records"], ["rows", "rows"], ["row_count", "rows"],
      ["quarantined", "quarantined"], ["mapped_fields", "fields mapped"]];
    labels.forEach(function (kv) {
      var v = p[kv[0]];
      if (v !== undefined && v !== null && !(kv[0] === "quarantined" && !v)) bits.push(A.fmt.number(v) + " " + kv[1]);
    });
    if (p.objects_total) bits.push("object " + (p.objects_done || 0) + "/" + p.objects_total);
    if (p.progress !== undefined && p.progress !== null) bits.push(Math.round(Number(p.progress)) + "%");
    if (p.step) bits.push(p.step);
    if (p.kind && /review|drift/.test(event.type)) bits.push(p.kind);
    if (p.risk) bits.push(p.risk + " risk");
    if (p.message) bits.push(p.message);
    if (p.error || p.reason) bits.push(String(p.error || p.reason));
    return bits.join(" · ");
  };

  A.eventTone = function (type) {
    if (/failed|error/.test(type)) return "badge-red";
    if (/drift|review_required/.test(type)) return "badge-amber";
    if (/completed|materialized|decided|applied|connected/.test(type)) return "badge-green";
    if (/agent/.test(type)) return "badge-purple";
    return "";
  };

  // ---- The one state (GET /api/status/) ------------------------------------------------------
  // Pages render their counts and connection states from the server (agents.selectors.
  // dashboard_status, connectors/health.py). When a live event says something changed, the state
  // is fetched again and every element bound to it updated: nothing here counts events, so an
  // approved review item or a finished job can never stay counted on one page and not another.
  var STATE_EVENTS = ["sync_queued", "sync_started", "sync_completed", "sync_failed", "run_finished", "run_failed",
    "run_skipped", "review_required", "review_decided", "drift_detected", "job_progress", "alert"];
  var stateTimer = null;
  A.state = { current: null, handlers: [] };
  A.state.on = function (fn) { A.state.handlers.push(fn); };
  A.state.refresh = function (delay) {
    if (stateTimer) return;  // one fetch for a burst of events, after it
    stateTimer = setTimeout(function () {
      stateTimer = null;
      A.api("GET", "/api/status/").then(function (res) {
        if (!res.ok || !res.data) return;
        A.state.current = res.data;
        applyState(res.data);
        A.state.handlers.forEach(function (fn) { try { fn(res.data); } catch (e) { /* one page's handler */ } });
      });
    }, delay === undefined ? 400 : delay);
  };
  function lookup(data, path) {
    return path.split(".").reduce(function (o, k) { return o === null || o === undefined ? undefined : o[k]; }, data);
  }
  A.setHealth = function (id, h) {
    document.querySelectorAll('[data-health-of="' + id + '"]').forEach(function (b) {
      b.className = "badge badge-" + h.tone;
      b.textContent = h.label;
      b.title = h.reason;
      b.setAttribute("data-health-state", h.state);
    });
    document.querySelectorAll('[data-health-reason-of="' + id + '"]').forEach(function (el) {
      el.textContent = h.reason;
      if (el.hasAttribute("data-hide-when-fine")) {
        el.hidden = h.state === "healthy" || h.state === "syncing";
        el.className = "small health-reason health-" + h.tone;
      }
    });
    document.querySelectorAll('[data-health-box="' + id + '"]').forEach(function (el) {
      el.className = "health-box health-" + h.tone;
      el.setAttribute("data-health-state", h.state);
    });
  };
  function applyState(d) {
    document.querySelectorAll("[data-state-count]").forEach(function (el) {
      var v = lookup(d, el.getAttribute("data-state-count"));
      if (v !== undefined) el.textContent = A.fmt.number(v);
    });
    (d.connections || []).forEach(function (c) { A.setHealth(c.id, c.health); });
    var link = document.querySelector('a[data-nav="review"]');
    if (link) {
      var badge = link.querySelector(".nav-count");
      if (d.review_pending && !badge) {
        badge = document.createElement("span");
        badge.className = "badge badge-amber nav-count";
        link.appendChild(document.createTextNode(" "));
        link.appendChild(badge);
      }
      if (badge && d.review_pending) badge.textContent = String(d.review_pending);
      else if (badge) badge.remove();
    }
    var job = (d.jobs_active || [])[0];
    document.querySelectorAll("[data-state-job]").forEach(function (el) {
      el.hidden = !job;
      el.textContent = job ? "Job #" + job.id + " is " + job.status + (job.step ? ": " + job.step : "") + "." : "";
    });
    var h = d.health || {};
    document.querySelectorAll("[data-state-summary]").forEach(function (el) {
      if (h.failed) el.innerHTML = '<span style="color:var(--red)">' + A.esc(h.failed) + " failed</span>";
      else if (h.needs_attention) el.textContent = h.needs_attention + (h.needs_attention === 1 ? " needs" : " need") + " attention";
      else if (h.syncing) el.textContent = h.syncing + " syncing";
      else el.textContent = "all quiet";
    });
  }
  function bindState() {
    if (!document.querySelector("[data-state-count],[data-health-of],[data-state-job]")) return;
    var live = A.live();
    STATE_EVENTS.forEach(function (type) { live.on(type, function () { A.state.refresh(); }); });
    // Connected (again): whatever changed since the page was rendered, or while the socket was away,
    // is fetched once.
    live.onState(function (state) { if (state === "open") A.state.refresh(0); });
  }

  // ---- Page behaviours ---------------------------------------------------------------------
  function refreshAgo() {
    document.querySelectorAll("time[data-ago]").forEach(function (t) {
      var text = A.fmt.ago(t.getAttribute("datetime"));
      if (text) t.textContent = text;
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.addEventListener("submit", function (ev) {
      var form = ev.target;
      var question = form.getAttribute("data-confirm");
      if (question && !window.confirm(question)) { ev.preventDefault(); return; }
      var btn = form.querySelector("button[type=submit]");
      if (btn && form.getAttribute("data-busy") !== "off") {
        // Let the browser submit first, then mark the button busy (disabling it at once would drop its value).
        setTimeout(function () { btn.setAttribute("aria-busy", "true"); }, 0);
      }
    });
    refreshAgo();
    setInterval(refreshAgo, 30000);
    bindState();
    if (document.querySelector("[data-live-pill]") && document.body.hasAttribute("data-live")) A.live();
  });
})();
