// Operations: the stream rows refresh every 5 s while the page is visible and no Actions menu is open.
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var box = document.getElementById("ops-rows"), stamp = document.getElementById("ops-refreshed");
    if (!box) return;
    setInterval(function () {
      if (document.visibilityState !== "visible" || box.querySelector("details[open]")) return;
      fetch("?partial=1", { credentials: "same-origin" }).then(function (r) { return r.ok ? r.text() : null; }).then(function (html) {
        if (html !== null) {
          box.innerHTML = html;
          if (stamp) stamp.textContent = "updated " + new Date().toLocaleTimeString();
        }
      }, function () {});
    }, 5000);
  });
})();
