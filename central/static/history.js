// History page: draws the histogram of crossing times and the queue length over the filtered range.
"use strict";

(() => {
  const el = document.getElementById("charts");
  if (!el) return;
  const data = JSON.parse(el.textContent);
  const offsetH = Number(el.dataset.zoneOffset);
  LW.histogram(document.getElementById("histogram"), data.histogram, {
    width: 600, height: 220, title: document.getElementById("hist-caption").textContent,
  });
  const start = data.queue.length ? Date.parse(data.queue[0][0]) : 0;
  LW.lineChart(document.getElementById("queue-chart"), data.queue.map((q) => q[1]), {
    width: 600, height: 220, start, stepMs: data.queue_bin_s * 1000, offsetH, ticks: 4, withDate: true,
    title: document.getElementById("queue-caption").textContent,
  });
  document.body.dataset.rendered = "1";
  performance.mark("history-rendered");
})();
