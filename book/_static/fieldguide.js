/* The Field Guide's page script, offline like the rest of the site.
   1. The catalog explorer: filters, searches and sorts the rows that the page already holds
      (generated from data/ by `python -m fieldguide pages`). No server, no network.
   2. Solution toggles are named by their visible text ("Show code cell source"): sphinx-togglebutton
      gives every one the same aria-label, which screen readers announce instead. */
(function () {
  "use strict";
  function setUp(explorer) {
    var form = explorer.querySelector("form.fg-filters");
    var count = explorer.querySelector(".fg-count");
    var rows = Array.prototype.slice.call(explorer.querySelectorAll(".fg-row"));
    var kind = explorer.getAttribute("data-kind");
    rows.forEach(function (row, index) { row.setAttribute("data-order", String(index)); });
    function keyOf(row, field) {
      var value = row.getAttribute("data-" + field);
      var number = parseFloat(value);
      return value === null || value === "" ? null : (isNaN(number) ? value : number);
    }
    function update() {
      var words = form.q.value.toLowerCase().split(/\s+/).filter(Boolean);
      var selects = Array.prototype.slice.call(form.querySelectorAll("select")).filter(function (s) { return s.name !== "sort"; });
      var shown = 0;
      rows.forEach(function (row) {
        var text = row.getAttribute("data-text") || "";
        var ok = words.every(function (w) { return text.indexOf(w) !== -1; });
        selects.forEach(function (select) {
          if (!ok || !select.value) { return; }
          var have = (row.getAttribute("data-" + select.name) || "").split("|");
          ok = have.indexOf(select.value) !== -1;
        });
        row.hidden = !ok;
        if (ok) { shown += 1; }
      });
      var sort = form.sort ? form.sort.value : "rank";
      var field = sort.replace(/^-/, ""), sign = sort.charAt(0) === "-" ? -1 : 1;
      var ordered = rows.slice().sort(function (a, b) {
        var x = keyOf(a, field), y = keyOf(b, field);
        if (field === "rank" || x === null || y === null) {
          if (x === null && y !== null) { return 1; }
          if (y === null && x !== null) { return -1; }
          if (field !== "rank" || x === null) { return keyOf(a, "order") - keyOf(b, "order"); }
        }
        return (x < y ? -1 : x > y ? 1 : 0) * sign || keyOf(a, "order") - keyOf(b, "order");
      });
      ordered.forEach(function (row) { explorer.appendChild(row); });
      count.textContent = shown + " of " + rows.length + " " + kind;
    }
    form.addEventListener("input", update);
    form.addEventListener("change", update);
    form.addEventListener("submit", function (event) { event.preventDefault(); });
    update();
  }
  function start() {
    Array.prototype.forEach.call(document.querySelectorAll(".fg-explorer"), setUp);
    Array.prototype.forEach.call(document.querySelectorAll('summary[aria-label="Toggle hidden content"]'), function (s) {
      if (s.textContent.trim()) { s.removeAttribute("aria-label"); }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", start); } else { start(); }
})();
