// Small behaviours that work without inline script (the CSP forbids it). Every page works
// without this file: links are real anchors, toggles are <details>, forms are real forms.
(function () {
  "use strict";

  // A tool call's link to its result (and back): when the other side is already on the page
  // (this screen, or a screen loaded since), scroll to it and highlight it; otherwise let the
  // link load the screen that holds it.
  function flash(element) {
    element.classList.remove("flash");
    void element.offsetWidth; // restart the animation when the same element is flashed again
    element.classList.add("flash");
    window.setTimeout(function () { element.classList.remove("flash"); }, 1600);
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-pair]");
    if (!link || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
    var target = document.getElementById(link.getAttribute("data-pair"));
    if (!target) return;
    event.preventDefault();
    target.scrollIntoView({ block: "center" });
    history.replaceState(null, "", "#" + target.id);
    flash(target);
  });

  // Arriving with a fragment (a shared link, or the window that holds the other side).
  document.addEventListener("DOMContentLoaded", function () {
    if (!location.hash) return;
    var target = document.getElementById(decodeURIComponent(location.hash.slice(1)));
    if (target && target.classList.contains("tool")) flash(target);
  });

  // htmx 2 swaps no 4xx/5xx response by default. These statuses come with the region to show
  // in place: a form the server refused (400), a conflict with another person's change (409), a
  // provider's refusal of a resumed call (502). Anything else (403, 500) stays unswapped.
  var EXPLAINED = { 400: true, 409: true, 502: true };
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (EXPLAINED[event.detail.xhr.status]) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });
})();
