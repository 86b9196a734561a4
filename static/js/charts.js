// Draws each dashboard chart from the table beside it (the table stays: it is the
// chart's text, for screen readers and for anyone who reads figures rather than bars),
// and again whenever htmx swaps in fresh figures.
(function () {
  "use strict";
  var drawn = [];

  function rowsOf(table) {
    return Array.prototype.map.call(table.tBodies[0].rows, function (row) {
      return [row.cells[0].textContent, Number(row.cells[1].textContent)];
    });
  }

  function draw(root) {
    if (!window.Chart) { return; }
    drawn = drawn.filter(function (chart) {
      if (document.body.contains(chart.canvas)) { return true; }
      chart.destroy();
      return false;
    });
    root.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      var table = document.getElementById(canvas.dataset.chart);
      if (!table) { return; }
      var rows = rowsOf(table);
      drawn.push(new window.Chart(canvas, {
        type: "bar",
        data: {
          labels: rows.map(function (r) { return r[0] + " (" + r[1] + ")"; }),
          datasets: [{ data: rows.map(function (r) { return r[1]; }), backgroundColor: "#2c6e9b",
                       borderColor: "#12324a", borderWidth: 1 }]
        },
        options: {
          indexAxis: "y", animation: false, responsive: true, maintainAspectRatio: false,
          plugins: { legend: { display: false } },
          scales: { x: { beginAtZero: true, ticks: { precision: 0 } } }
        }
      }));
    });
  }

  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSettle", function (event) { draw(event.target); });
})();
