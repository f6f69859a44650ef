// API 资产: draws the page's charts from its JSON island (#apis-data). CSP allows no inline script.
(function () {
  "use strict";
  function draw(el, option) {
    if (!el || typeof echarts === "undefined") { return; }
    var chart = echarts.getInstanceByDom(el) || echarts.init(el);
    chart.setOption(option, true);
    el.setAttribute("data-chart-ready", "1");
  }
  function hourLabel(iso) { var d = new Date(iso); return (d.getMonth() + 1) + "/" + d.getDate() + " " + d.getHours() + ":00"; }
  function render() {
    var island = document.getElementById("apis-data");
    if (!island) { return; }
    var data = JSON.parse(island.textContent);
    var s = data.series, hours = s.hours.map(hourLabel);
    var grid = { left: 50, right: 20, top: 40, bottom: 30 };
    draw(document.getElementById("chart-calls"), {
      tooltip: { trigger: "axis" }, legend: { type: "scroll" }, grid: grid,
      xAxis: { type: "category", data: hours }, yAxis: { type: "value" },
      series: Object.keys(s.calls).map(function (name) {
        return { name: name, type: "bar", stack: "calls", data: s.calls[name] };
      })
    });
    draw(document.getElementById("chart-latency"), {
      tooltip: { trigger: "axis" }, legend: {}, grid: grid,
      xAxis: { type: "category", data: hours }, yAxis: { type: "value", name: "ms" },
      series: ["p50", "p95", "p99"].map(function (q) {
        return { name: q, type: "line", connectNulls: true, data: s.latency[q] };
      })
    });
    var codes = Object.keys(s.errors);
    draw(document.getElementById("chart-errors"), {
      tooltip: {}, grid: grid,
      xAxis: { type: "category", data: codes }, yAxis: { type: "value" },
      series: [{ type: "bar", data: codes.map(function (c) { return s.errors[c]; }) }]
    });
    data.quotas.forEach(function (q) {
      if (q.type !== "dingtalk") { return; }
      var el = document.querySelector('[data-burn="' + CSS.escape(q.connection) + '"]');
      draw(el, {
        tooltip: { trigger: "axis" }, legend: {}, grid: grid,
        xAxis: { type: "time" }, yAxis: { type: "value", max: function (v) { return Math.max(v.max, q.allowance) * 1.05; } },
        series: [
          { name: "used", type: "line", step: "end", data: q.burn.map(function (p, i) {
            // a day's point at its end; today's at now, where the forecast line starts
            var last = i === q.burn.length - 1 && q.forecast_line.length;
            return [last ? q.forecast_line[0][0] : p[0] + "T23:59:59+08:00", p[1]];
          }) },
          { name: "forecast", type: "line", lineStyle: { type: "dashed" }, data: q.forecast_line },
          { name: "allowance", type: "line", symbol: "none", lineStyle: { color: "#c0392b" },
            data: [[q.burn.length ? q.burn[0][0] + "T00:00:00+08:00" : null, q.allowance],
                   [q.forecast_line.length ? q.forecast_line[1][0] : null, q.allowance]] }
        ]
      });
      el.setAttribute("data-forecast", String(q.forecast));
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", render); } else { render(); }
})();
