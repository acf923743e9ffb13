/* Charts for /stats with Chart.js (vendor/chart.umd.min.js). Suppressed cells arrive as null
   and are drawn as gaps: a hidden number is never plotted. */
(function () {
  "use strict";
  var el = document.getElementById("chart-data");
  if (!el || typeof Chart === "undefined") { return; }
  var data = JSON.parse(el.textContent);
  var font = '"Noto Sans CJK JP", "Hiragino Kaku Gothic ProN", "Yu Gothic", Meiryo, sans-serif';
  Chart.defaults.font.family = font;
  Chart.defaults.animation = false;
  Chart.defaults.maintainAspectRatio = false;
  var note = "（3未満は表示しません）";

  function bar(id, labels, datasets, title) {
    var canvas = document.getElementById(id);
    if (!canvas) { return null; }
    return new Chart(canvas, {
      type: "bar",
      data: { labels: labels, datasets: datasets },
      options: {
        responsive: true,
        plugins: { title: { display: true, text: title + note }, legend: { display: datasets.length > 1 } },
        scales: { y: { beginAtZero: true, ticks: { precision: 0 } } }
      }
    });
  }

  bar("chart-monthly", data.months, [
    { label: "実人数", data: data.persons, backgroundColor: "#2f6f8f" },
    { label: "延べ件数", data: data.conversations, backgroundColor: "#e59c3b" }
  ], "月別の相談");

  var night = data.nightHours;
  bar("chart-hours", data.hourLabels.map(function (h) { return h + "時"; }), [
    { label: "延べ件数", data: data.hours,
      backgroundColor: data.hourLabels.map(function (h) {
        return night.indexOf(parseInt(h, 10)) >= 0 ? "#3b3f8f" : "#8fb8cf";
      }) }
  ], "時間帯別（濃い色は22時〜6時）");

  bar("chart-ages", data.ageBands, [
    { label: "延べ件数", data: data.ageValues, backgroundColor: "#5a9a6b" }
  ], "年齢帯別");
})();
