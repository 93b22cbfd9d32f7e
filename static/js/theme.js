// Dark mode follows the system until the person picks one; the choice is remembered.
// Loaded in <head> (not deferred) so the page never flashes the wrong theme.
(function () {
  var root = document.documentElement;
  var saved = null;
  try { saved = localStorage.getItem("theme"); } catch (e) { /* storage may be disabled */ }
  if (saved === "dark" || saved === "light") root.setAttribute("data-theme", saved);
  function current() {
    var explicit = root.getAttribute("data-theme");
    if (explicit) return explicit;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }
  window.AutonomOSTheme = { current: current };
  function announce() {
    document.dispatchEvent(new CustomEvent("themechange", { detail: { theme: current() } }));
  }
  if (window.matchMedia) {
    var mq = window.matchMedia("(prefers-color-scheme: dark)");
    if (mq.addEventListener) mq.addEventListener("change", function () { if (!root.getAttribute("data-theme")) announce(); });
  }
  document.addEventListener("DOMContentLoaded", function () {
    var btn = document.getElementById("theme-toggle");
    if (btn) {
      btn.setAttribute("aria-pressed", current() === "dark" ? "true" : "false");
      btn.addEventListener("click", function () {
        var next = current() === "dark" ? "light" : "dark";
        root.setAttribute("data-theme", next);
        btn.setAttribute("aria-pressed", next === "dark" ? "true" : "false");
        try { localStorage.setItem("theme", next); } catch (e) { /* ignore */ }
        announce();
      });
    }
    var menu = document.getElementById("menu-toggle");
    if (menu) menu.addEventListener("click", function () {
      var open = document.querySelector(".sidebar").classList.toggle("open");
      menu.setAttribute("aria-expanded", open ? "true" : "false");
    });
  });
})();
