// Statistics page: yield trend per hour and per shift, shift counters, defect Pareto, and where on
// the part the defects are. Charts by Chart.js (vendored, /static/vendor/chart.js, loaded on first use).
import { api } from "./api.js";
import { $, clear, el } from "./dom.js";

const S = { charts: {}, loading: null };
const GRID = "#2c3641", TEXT = "#c9d3dc", OK = "#18a348", NG = "#dc2f2f", ACCENT = "#3b8eea", WARN = "#f0a500";

function loadChartJs() {
  if (window.Chart) return Promise.resolve(window.Chart);
  if (!S.loading) {
    S.loading = new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = "/static/vendor/chart.js/chart.umd.min.js";
      s.onload = () => resolve(window.Chart);
      s.onerror = () => reject(new Error("cannot load the charting library"));
      document.head.append(s);
    });
  }
  return S.loading;
}

function chart(id, config) {
  S.charts[id]?.destroy();
  const Chart = window.Chart;
  Chart.defaults.color = TEXT;
  Chart.defaults.borderColor = GRID;
  Chart.defaults.animation = false;
  S.charts[id] = new Chart($(`#${id}`), config);
  return S.charts[id];
}

function trendConfig(buckets, title) {
  return {
    data: {
      labels: buckets.map((b) => b.label),
      datasets: [
        { type: "line", label: "Yield %", data: buckets.map((b) => b.yield_pct), borderColor: ACCENT, backgroundColor: ACCENT, yAxisID: "y1", tension: 0.2 },
        { type: "bar", label: "OK", data: buckets.map((b) => b.ok), backgroundColor: OK, stack: "p", yAxisID: "y" },
        { type: "bar", label: "NG", data: buckets.map((b) => b.ng), backgroundColor: NG, stack: "p", yAxisID: "y" },
      ],
    },
    options: {
      responsive: true, maintainAspectRatio: false,
      plugins: { title: { display: true, text: title } },
      scales: { y: { stacked: true, title: { display: true, text: "parts" } },
                y1: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false }, title: { display: true, text: "yield %" } },
                x: { stacked: true } },
    },
  };
}

export async function loadStats() {
  const hours = Number($("#stats-hours").value || 24);
  const [Chart, perHour, perShift, pareto] = await Promise.all([loadChartJs(),
    api(`/api/stats/yield?hours=${hours}&bucket=hour`), api(`/api/stats/yield?hours=${hours}&bucket=shift`),
    api(`/api/stats/pareto?hours=${hours}`)]);
  if (!Chart) return;
  $("#stats-summary").textContent = perHour.total
    ? `${perHour.total} parts · ${perHour.ok} OK · ${perHour.ng} NG · yield ${perHour.yield_pct} %` : "no parts in this range";
  chart("chart-hourly", trendConfig(perHour.buckets, "Yield per hour"));
  chart("chart-shift", trendConfig(perShift.buckets, "Yield per shift"));
  chart("chart-pareto", {
    data: {
      labels: pareto.map((p) => p.cause),
      datasets: [
        { type: "bar", label: "Rejected parts", data: pareto.map((p) => p.parts), backgroundColor: NG, yAxisID: "y" },
        { type: "line", label: "Cumulative %", data: pareto.map((p) => p.cumulative_pct), borderColor: WARN, backgroundColor: WARN, yAxisID: "y1" },
      ],
    },
    options: { responsive: true, maintainAspectRatio: false, plugins: { title: { display: true, text: "Reject causes (Pareto)" } },
               scales: { y: { title: { display: true, text: "parts" } },
                         y1: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false } } } },
  });
  const body = clear($("#shift-table tbody"));
  for (const b of [...perShift.buckets].reverse()) {
    body.append(el("tr", {}, [b.label, b.total, b.ok, b.ng, b.yield_pct === null ? "—" : `${b.yield_pct} %`].map((v) => el("td", { text: v }))));
  }
  if (!perShift.buckets.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "no parts" })));
  $("#defect-map").src = `/api/stats/defect-map.jpg?hours=${hours}&t=${Date.now()}`;
}

export function initStats() {
  $("#stats-hours").addEventListener("change", () => loadStats());
}
