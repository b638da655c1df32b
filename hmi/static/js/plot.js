// Per-stage times of the last parts as stacked bars (canvas, sized to its box, crisp on HiDPI).
import { clear, el } from "./dom.js";

export const STAGES = ["acquire", "align", "detect", "decide", "publish"];
const COLORS = { acquire: "#4e9be8", align: "#59b85a", detect: "#f28e2b", decide: "#c07ad9",
                 publish: "#4fc6c0", other: "#7c8a99" };

export function legend(node) {
  clear(node);
  for (const s of [...STAGES, "other"]) node.append(el("span", {}, el("i", { class: `c-${s}` }), s));
  for (const i of node.querySelectorAll("i")) i.style.background = COLORS[i.className.slice(2)];
}

export function drawTimings(canvas, series, maxBars = 80) {
  const dpr = window.devicePixelRatio || 1;
  const w = canvas.clientWidth, h = canvas.clientHeight;
  if (!w || !h) return;
  if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
    canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr);
  }
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.clearRect(0, 0, w, h);
  const data = series.slice(-maxBars);
  if (!data.length) return;
  const sorted = data.map((d) => d.cycle_ms).sort((a, b) => a - b);
  const top = Math.max(1, sorted[Math.floor(sorted.length * 0.98)] * 1.15);
  const left = 34, bottom = h - 14, plotH = bottom - 4;
  ctx.font = "11px DejaVu Sans, Arial"; ctx.fillStyle = "#8c9aa8"; ctx.strokeStyle = "#2c3641";
  for (const f of [0, 0.5, 1]) {
    const y = bottom - plotH * f;
    ctx.beginPath(); ctx.moveTo(left, y + 0.5); ctx.lineTo(w, y + 0.5); ctx.stroke();
    ctx.fillText(`${Math.round(top * f)}`, 2, y + 4);
  }
  const bw = (w - left) / maxBars;
  data.forEach((d, i) => {
    let y = bottom;
    const x = left + (maxBars - data.length + i) * bw;
    let known = 0;
    for (const s of STAGES) {
      const v = d.timings_ms[s] || 0;
      known += v;
      const bh = Math.min(y - (bottom - plotH), (v / top) * plotH);
      ctx.fillStyle = COLORS[s]; ctx.fillRect(x, y - bh, Math.max(1, bw - 1), bh); y -= bh;
    }
    const rest = Math.max(0, d.cycle_ms - known);
    const bh = Math.min(y - (bottom - plotH), (rest / top) * plotH);
    ctx.fillStyle = COLORS.other; ctx.fillRect(x, y - bh, Math.max(1, bw - 1), bh);
  });
}
