// Ferry console: the little script the pages need (no build step; CSP allows no inline script).
(function () {
  "use strict";
  // every htmx request carries the session's CSRF token
  document.addEventListener("htmx:configRequest", function (e) {
    var meta = document.querySelector('meta[name="csrf-token"]');
    if (meta) { e.detail.headers["X-CSRF-Token"] = meta.getAttribute("content"); }
  });
  // a chart is an element with its ECharts option as JSON in data-chart
  function drawCharts(root) {
    if (typeof echarts === "undefined") { return; }
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var chart = echarts.getInstanceByDom(el) || echarts.init(el);
      chart.setOption(JSON.parse(el.getAttribute("data-chart")), true);
      el.setAttribute("data-chart-ready", "1");
    });
  }
  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (e) { drawCharts(e.target); });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart-ready]").forEach(function (el) {
      var chart = echarts.getInstanceByDom(el); if (chart) { chart.resize(); }
    });
  });
  // a form that asks before it acts: data-confirm holds the question
  document.addEventListener("submit", function (e) {
    var q = e.target.getAttribute && e.target.getAttribute("data-confirm");
    if (q && !window.confirm(q)) { e.preventDefault(); }
  }, true);
})();
// the records table's "select all" box
document.addEventListener("change", function (e) {
  var box = e.target;
  if (!box.hasAttribute || !box.hasAttribute("data-select-all")) { return; }
  var table = box.closest("table");
  if (table) { table.querySelectorAll('input[name="id"]').forEach(function (c) { c.checked = box.checked; }); }
});
// live parts (sse-connect + hx-trigger="sse:ledger, poll"): the stream's state shows in data-live, and
// only while it is not open does the part poll, every data-live-poll seconds (the fallback)
(function () {
  "use strict";
  document.addEventListener("htmx:sseOpen", function (e) { e.target.setAttribute("data-live", "open"); });
  document.addEventListener("htmx:sseError", function (e) { e.target.setAttribute("data-live", "down"); });
  document.addEventListener("htmx:sseMessage", function (e) {
    var el = e.target.closest ? e.target.closest("[sse-connect]") : null;
    if (el && e.detail && e.detail.lastEventId) { el.setAttribute("data-live-seen", e.detail.lastEventId); }
  });
  var ticks = 0;
  window.setInterval(function () {
    ticks += 1;
    document.querySelectorAll("[data-live-poll]").forEach(function (el) {
      var every = parseInt(el.getAttribute("data-live-poll"), 10) || 10;
      if (el.getAttribute("data-live") !== "open" && ticks % every === 0) { htmx.trigger(el, "poll"); }
    });
  }, 1000);
  // a refresh would drop the records an operator has ticked: hold it, and say the list changed
  document.addEventListener("htmx:beforeRequest", function (e) {
    var el = e.detail.elt;
    if (!el.hasAttribute || !el.hasAttribute("data-live-keep-selection")) { return; }
    var note = document.querySelector("[data-live-stale]");
    if (el.querySelector('input[name="id"]:checked')) {
      e.preventDefault();
      if (note) { note.hidden = false; }
    } else if (note) { note.hidden = true; }
  });
  // ... and once nothing is ticked any more, the held refresh happens
  document.addEventListener("change", function (e) {
    var el = e.target.closest ? e.target.closest("[data-live-keep-selection]") : null;
    var note = document.querySelector("[data-live-stale]");
    if (el && note && !note.hidden && !el.querySelector('input[name="id"]:checked')) { htmx.trigger(el, "poll"); }
  });
})();
