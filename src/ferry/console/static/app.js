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
