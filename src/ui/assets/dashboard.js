// Draws every <canvas data-chart="…"> with Chart.js (loaded before this file from the same origin).
/* global Chart */
const palette = [
  '#2563eb',
  '#16a34a',
  '#dc2626',
  '#9333ea',
  '#ea580c',
  '#0891b2',
  '#ca8a04',
  '#db2777',
  '#4b5563',
];
for (const canvas of document.querySelectorAll('canvas[data-chart]')) {
  const spec = JSON.parse(canvas.dataset.chart);
  const datasets = spec.datasets.map((d, i) => ({
    ...d,
    backgroundColor: palette[i % palette.length],
    borderColor: palette[i % palette.length],
    tension: 0.2,
  }));
  new Chart(canvas, {
    type: spec.type,
    data: { labels: spec.labels, datasets },
    options: {
      animation: false,
      maintainAspectRatio: false,
      scales: {
        x: { stacked: spec.stacked === true },
        y: {
          stacked: spec.stacked === true,
          beginAtZero: true,
          ticks: spec.percent ? { callback: (v) => `${v}%` } : undefined,
        },
      },
      plugins: { legend: { position: 'bottom' } },
    },
  });
  canvas.dataset.drawn = 'true';
}
