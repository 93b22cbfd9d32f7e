// Review queue: a note with a reload link when new items arrive (review_required events).
(function () {
  "use strict";
  document.addEventListener("DOMContentLoaded", function () {
    var note = document.getElementById("review-new");
    if (!note) return;
    window.AutonomOS.live().on("review_required", function () {
      note.hidden = false;
      note.innerHTML = 'New items arrived. <a href="">Reload</a>';
    });
  });
})();
