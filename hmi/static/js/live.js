// Live view: Server-Sent Events stream, last part with overlays, verdict, counters, defects,
// stage-time plot and filmstrip. Each render is timed (window.__hmi) for the latency benchmark.
import { api } from "./api.js";
import { $, clear, el, fmtMs, fmtTime, kv, wallMs } from "./dom.js";
import { showPart } from "./overlay.js";
import { drawTimings, legend } from "./plot.js";

const S = { es: null, parts: [], series: [], stages: {}, hold: null, lastId: null, film: 12, hooks: {}, shown: null };
window.__hmi = { renders: [], last: null };

export const partImageUrl = (id, width = 1600) => `/api/parts/${id}/image?width=${width}`;
export const heatImageUrl = (id, width = 1600) => `/api/parts/${id}/heatmap?width=${width}`;

// Heat map toggle: a good-set result (one with a heat map) is shown as its heat map over the part
// while it is on (default on; remembered in this browser). Other results show the plain image.
const HEAT_KEY = "hmi.live.heatmap";
const heatOn = () => localStorage.getItem(HEAT_KEY) !== "off";
const liveUrl = (part) => (heatOn() && part.heat_map ? heatImageUrl(part.result_id) : partImageUrl(part.result_id));

function showHeatState(part) {
  const heat = heatOn() && !!(part && part.heat_map);
  $("#viewer").dataset.heat = heat ? "on" : "off";
  $("#live-heat-legend").classList.toggle("hidden", !heat);
}

function verdictBlock(part) {
  const v = $("#verdict"), viewer = $("#viewer");
  const ok = part && part.verdict === "pass";
  v.className = `verdict ${part ? (ok ? "ok" : "ng") : "none"}`;
  viewer.classList.toggle("ok", !!part && ok);
  viewer.classList.toggle("ng", !!part && !ok);
  $("#verdict-text").textContent = part ? (ok ? "OK" : "NG") : "—";
  $("#verdict-sub").textContent = part ? (ok ? "part good" : (part.code_name || "").replaceAll("_", " ")) : "no part yet";
}

function partDetails(part) {
  kv($("#part-meta"), [
    ["Part", part.part_id_str || String(part.part_id)],
    ["Trigger", String(part.trigger_seq)],
    ["Time", fmtTime(part.decided_ns)],
    ["Cycle", `${fmtMs(part.cycle_ms)} ms`],
    ["Recipe", part.recipe_id],
  ]);
  const ul = clear($("#defects"));
  const findings = [...(part.findings || [])].sort((a, b) => b.score - a.score);
  for (const f of findings.slice(0, 12)) {
    const reported = f.score >= 0.5;
    ul.append(el("li", { class: reported ? "" : "below" },
      el("span", { text: f.class_name }), el("span", { text: `${f.score.toFixed(2)} · ${f.area_px} px` })));
  }
  if (!findings.length) ul.append(el("li", { class: "none", text: "no findings" }));
}

export function renderCounters(c) {
  $("#c-total").textContent = c.total;
  $("#c-ok").textContent = c.ok;
  $("#c-ng").textContent = c.ng;
  $("#c-yield").textContent = c.yield_pct === null ? "—" : `${c.yield_pct.toFixed(1)}%`;
}

function renderTimingHead() {
  const cyc = S.stages.cycle;
  const last = S.series.length ? S.series[S.series.length - 1].cycle_ms : null;
  $("#cycle-last").textContent = fmtMs(last);
  $("#cycle-p50").textContent = cyc ? fmtMs(cyc.p50) : "—";
  $("#cycle-p99").textContent = cyc ? fmtMs(cyc.p99) : "—";
  drawTimings($("#timing-canvas"), S.series);
}

// Show a part in the main viewer; `published_ns` (from the event) times the update.
export function showLive(part, published_ns = null) {
  const rec = { result_id: part.result_id, published_ns, recv_ms: wallMs() };
  $("#live-empty").classList.add("hidden");
  verdictBlock(part);
  partDetails(part);
  rec.text_ms = wallMs();
  rec.image_paint_ms = null;  // stays null when a newer part replaced this one before its image
  window.__hmi.renders.push(rec);
  if (window.__hmi.renders.length > 5000) window.__hmi.renders.shift();
  requestAnimationFrame(() => { rec.text_paint_ms = wallMs(); });
  S.shown = part;
  return showPart($("#live-svg"), part, liveUrl(part)).then((shown) => {
    if (!shown) return;
    rec.image_ms = wallMs();
    $("#viewer").dataset.resultId = part.result_id;
    showHeatState(part);
    requestAnimationFrame(() => {
      rec.image_paint_ms = wallMs();
      window.__hmi.last = rec;
    });
  });
}

function thumb(p) {
  const ok = p.verdict === "pass";
  return el("button", { class: `thumb ${ok ? "ok" : "ng"}`, dataset: { resultId: p.result_id },
                        title: `${p.part_id_str || p.part_id} ${fmtTime(p.decided_ns)}`,
                        onclick: () => holdPart(p.result_id) },
    el("img", { src: `/api/parts/${p.result_id}/thumb`, alt: ok ? "OK part" : "NG part", loading: "lazy" }),
    el("span", { text: ok ? "OK" : "NG" }));
}

function filmstripAdd(p) {
  const strip = $("#filmstrip");
  if (strip.querySelector(`[data-result-id="${p.result_id}"]`)) return;
  strip.prepend(thumb(p));
  while (strip.children.length > S.film) strip.lastElementChild.remove();
}

async function holdPart(id) {
  S.hold = id;
  $("#hold-bar").classList.remove("hidden");
  for (const b of $("#filmstrip").children) b.classList.toggle("selected", b.dataset.resultId === id);
  try {
    const part = await api(`/api/parts/${id}`);
    if (S.hold === id) {
      verdictBlock(part); partDetails(part);
      S.shown = part;
      if (await showPart($("#live-svg"), part, liveUrl(part))) { $("#viewer").dataset.resultId = id; showHeatState(part); }
    }
  } catch (e) { /* gone: stay */ }
}

async function backToLive() {
  S.hold = null;
  $("#hold-bar").classList.add("hidden");
  for (const b of $("#filmstrip").children) b.classList.remove("selected");
  if (S.lastId) { const part = await api(`/api/parts/${S.lastId}`); showLive(part); }
}

function applySnapshot(snap) {
  S.hooks.status(snap.status);
  S.hooks.pending(snap.pending_reviews);
  renderCounters(snap.counters);
  S.stages = snap.stages;
  const strip = clear($("#filmstrip"));
  for (const p of snap.filmstrip) strip.append(thumb(p));
  if (snap.last && S.lastId !== snap.last.result_id) {
    S.lastId = snap.last.result_id;
    if (!S.hold) showLive(snap.last);
  }
  api("/api/stats/timings?n=80").then((t) => { S.series = t.series; S.stages = t.stages; renderTimingHead(); })
    .catch(() => {});
}

function onPart(msg) {
  const part = msg.data;
  if (part.counters) renderCounters(part.counters);
  S.series.push({ result_id: part.result_id, cycle_ms: part.cycle_ms, timings_ms: part.timings_ms });
  if (S.series.length > 400) S.series.splice(0, S.series.length - 400);
  renderTimingHead();
  filmstripAdd(part);
  if (part.verdict === "reject") S.hooks.pendingDelta(1);
  S.lastId = part.result_id;
  if (!S.hold) showLive(part, msg.published_ns);
}

export function startStream() {
  stopStream();
  const es = new EventSource("/api/events");
  S.es = es;
  const dot = $("#conn-dot");
  es.onopen = () => { dot.className = "dot up"; };
  es.onerror = () => { dot.className = "dot down"; S.hooks.streamError(); };
  es.addEventListener("hello", (e) => applySnapshot(JSON.parse(e.data)));
  es.addEventListener("part", (e) => onPart(JSON.parse(e.data)));
  es.addEventListener("status", (e) => S.hooks.status(JSON.parse(e.data).data));
  es.addEventListener("counters", (e) => { renderCounters(JSON.parse(e.data).data); S.series = []; renderTimingHead(); });
  es.addEventListener("recipes", () => window.dispatchEvent(new CustomEvent("hmi:recipes")));
  es.addEventListener("dropped", () => api("/api/live").then(applySnapshot).catch(() => {}));
  es.addEventListener("bye", () => { stopStream(); window.dispatchEvent(new CustomEvent("hmi:unauthorized")); });
}

export function stopStream() {
  if (S.es) { S.es.close(); S.es = null; }
}

export function initLive(hooks, filmstripLen = 12) {
  S.hooks = hooks;
  S.film = filmstripLen;
  legend($("#timing-legend"));
  $("#back-live").addEventListener("click", backToLive);
  const toggle = $("#live-heat");
  toggle.checked = heatOn();
  toggle.addEventListener("change", async () => {
    localStorage.setItem(HEAT_KEY, toggle.checked ? "on" : "off");
    const part = S.shown;
    if (part && await showPart($("#live-svg"), part, liveUrl(part))) showHeatState(part);
  });
  new ResizeObserver(() => drawTimings($("#timing-canvas"), S.series)).observe($("#timing-canvas"));
}
