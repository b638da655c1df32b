// Part image + defect overlays in one SVG: the image and the shapes share the viewBox (image
// pixels), so the overlays stay on the defects at any window size.
import { clear } from "./dom.js";

const NS = "http://www.w3.org/2000/svg";

function svgEl(tag, attrs) {
  const n = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) n.setAttribute(k, v);
  return n;
}

const overlaps = (a, b) => a.x < b.x + b.w && b.x < a.x + a.w && a.y < b.y + b.h && b.y < a.y + a.h;

// Reported findings: exact outline, a padded halo box (visible from a distance even for tiny
// defects) and a "class score" label; findings below the threshold: dashed amber, small label.
// Labels avoid each other (reported ones, highest score first, get the best places).
export function drawShapes(group, shapes, [h, w]) {
  clear(group);
  // Sizes in screen pixels, whatever the image resolution: `px` image units per screen pixel.
  const svg = group.ownerSVGElement;
  const shown = Math.min(svg.clientWidth / w, svg.clientHeight / h) || 1;
  const px = 1 / shown;
  const pad = 10 * px;
  const items = [...(shapes || [])].map((s) => {
    const xs = s.points.map((p) => p[0]), ys = s.points.map((p) => p[1]);
    return { s, x1: Math.min(...xs), y1: Math.min(...ys), x2: Math.max(...xs), y2: Math.max(...ys) };
  });
  const drawOrder = [...items].sort((a, b) => Number(a.s.reported) - Number(b.s.reported));
  for (const it of drawOrder) {
    const cls = it.s.reported ? "reported" : "below";
    const pts = it.s.points.map(([x, y]) => `${x},${y}`).join(" ");
    group.append(svgEl("polygon", { points: pts, class: `shape ${cls}`, "data-class": it.s.class_name }));
    if (it.s.reported) {
      group.append(svgEl("rect", { x: it.x1 - pad, y: it.y1 - pad, width: it.x2 - it.x1 + 2 * pad,
                                   height: it.y2 - it.y1 + 2 * pad, rx: pad / 2, class: "shape halo" }));
    }
  }
  const placed = [];
  const labelOrder = [...items].sort((a, b) => (Number(b.s.reported) - Number(a.s.reported)) || (b.s.score - a.s.score));
  for (const it of labelOrder) {
    const font = (it.s.reported ? 22 : 14) * px;
    const label = `${it.s.class_name} ${Number(it.s.score).toFixed(2)}`;
    const lw = label.length * font * 0.62 + font * 0.6, lh = font * 1.35;
    const p = it.s.reported ? pad : 0;
    const x = Math.max(0, Math.min(it.x1 - p, w - lw));
    const candidates = [it.y1 - p - lh - 2, it.y2 + p + 2];
    for (let k = 1; k <= 6; k++) candidates.push(it.y1 - p - lh - 2 - k * lh, it.y2 + p + 2 + k * lh);
    let box = null;
    for (const y of candidates) {
      const b = { x, y, w: lw, h: lh };
      if (y < 0 || y + lh > h) continue;
      if (!placed.some((q) => overlaps(b, q))) { box = b; break; }
    }
    if (!box) box = { x, y: Math.max(0, Math.min(h - lh, candidates[0])), w: lw, h: lh };
    placed.push(box);
    const g = svgEl("g", { class: `shape-label ${it.s.reported ? "reported" : "below"}` });
    g.append(svgEl("rect", { x: box.x, y: box.y, width: lw, height: lh, rx: font * 0.2 }));
    const t = svgEl("text", { x: box.x + font * 0.3, y: box.y + font * 1.02, "font-size": font });
    t.textContent = label;
    g.append(t);
    group.append(g);
  }
}

// Show `part` (with .result_id, .image_shape, .overlay) in `svg`. The new image is loaded first,
// then image and shapes are swapped together. Resolves when visible (false if superseded).
export function showPart(svg, part, url) {
  const token = (svg._token = (svg._token || 0) + 1);
  return new Promise((resolve) => {
    const img = new Image();
    const swap = (ok) => {
      if (svg._token !== token) { resolve(false); return; }
      const [h, w] = part.image_shape && part.image_shape[0] ? part.image_shape : [img.naturalHeight, img.naturalWidth];
      svg.setAttribute("viewBox", `0 0 ${w} ${h}`);
      const image = svg.querySelector("image");
      image.setAttribute("width", w);
      image.setAttribute("height", h);
      image.setAttribute("href", ok ? url : "");
      drawShapes(svg.querySelector("g"), part.overlay, [h, w]);
      svg.dataset.resultId = part.result_id;
      resolve(true);
    };
    img.onload = () => swap(true);
    img.onerror = () => swap(false);
    img.src = url;
  });
}
