// Dark mode follows the system until the person picks one; the choice is remembered.
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
  document.addEventListener("DOMContentLoaded", function () {
    var btn = document.getElementById("theme-toggle");
    if (btn) btn.addEventListener("click", function () {
      var next = current() === "dark" ? "light" : "dark";
      root.setAttribute("data-theme", next);
      try { localStorage.setItem("theme", next); } catch (e) { /* ignore */ }
    });
    var menu = document.getElementById("menu-toggle");
    if (menu) menu.addEventListener("click", function () {
      document.querySelector(".sidebar").classList.toggle("open");
    });
  });
})();
