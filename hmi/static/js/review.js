// Review of rejects at volume: oldest first, the next pending one after each decision, keyboard
// shortcuts (C confirm, O override, J/K next/previous), bulk confirm of a filtered set, the golden
// reference beside the part. Overrides to OK need a reason (kept in the audit log).
import { api } from "./api.js";
import { $, clear, el, fmtMs, kv, toast } from "./dom.js";
import { showPart } from "./overlay.js";

// left panel: "golden", "map" (the part's heat map when it has one, else its difference from the golden),
// or null: the heat map for a part that has one (a good-set result has no single golden), else the golden
const R = { items: [], selected: null, next: null, total: 0, onCount: () => {}, part: "", recipes: [], left: null };

// the recipe a part was inspected with: by its number (the stored recipe id can be a model hash)
function recipeOf(item) {
  const r = R.recipes.find((x) => x.number === item.recipe_number) || R.recipes.find((x) => x.recipe_id === item.recipe_id);
  return r ? r.recipe_id : item.recipe_id;
}

const when = (ns) => new Date(Number(ns) / 1e6).toLocaleString([], { hour12: false });

function filterQuery() {
  const q = new URLSearchParams();
  if (R.part) q.set("part", R.part);
  return q;
}

function setTotal(total, capped = false) {
  R.total = total;
  R.capped = capped;
  R.onCount(total);
  $("#review-count").textContent = `(${total}${capped ? "+" : ""}${R.part ? ` matching "${R.part}"` : ""})`;
  $("#btn-bulk-confirm").disabled = total === 0;
}

function select(item) {
  R.selected = item;
  for (const b of $("#review-list").children) b.classList.toggle("selected", b.dataset.resultId === item?.result_id);
  $("#review-empty").classList.toggle("hidden", !!item);
  $("#review-actions").classList.toggle("hidden", !item);
  if (!item) {
    clear($("#review-info"));
    $("#review-golden").removeAttribute("src");
    $("#review-left-legend").classList.add("hidden");
    return;
  }
  $(`#review-list [data-result-id="${item.result_id}"]`)?.scrollIntoView({ block: "nearest" });
  showPart($("#review-svg"), item, `/api/parts/${item.result_id}/image?width=1600`);
  showLeft(item);
  zoom(item);
  kv($("#review-info"), [
    ["Part", item.part_id_str || String(item.part_id)],
    ["Time", when(item.decided_ns)],
    ["Result", item.code_name.replaceAll("_", " ")],
    ["Defects", (item.findings || []).filter((f) => f.score >= 0.5)
      .map((f) => `${f.class_name} ${f.score.toFixed(2)}`).join(", ") || "—"],
    ["Cycle", `${fmtMs(item.cycle_ms)} ms`],
    ...(item.heat_map ? [["Anomaly", anomalyText(item.heat_map)]] : []),
  ]);
  $("#override-reason").value = "";
  $("#override-text").value = "";
}

function showLeft(item) {
  const rid = encodeURIComponent(recipeOf(item));
  const g = R.recipes.find((x) => x.recipe_id === recipeOf(item))?.golden;
  const v = g ? g.version : "";
  const heat = !!item.heat_map;
  const mode = R.left || (heat ? "map" : "golden");
  const img = $("#review-golden");
  if (mode === "golden") {
    img.src = `/api/recipes/${rid}/golden?width=800&v=${v}`;
    img.alt = "golden reference";
  } else if (heat) {
    img.src = `/api/parts/${item.result_id}/heatmap?width=800`;
    img.alt = "heat map: where the part deviates (red and outlined: above the model's threshold)";
  } else {
    img.src = `/api/recipes/${rid}/difference?result_id=${item.result_id}&width=800&v=${v}`;
    img.alt = "difference from the golden";
  }
  $("#review-show-diff").textContent = heat ? "Heat map" : "Difference";
  $("#review-show-diff").title = heat ? "where the part deviates from the good parts: red (outlined) from the model's threshold"
    : "where the part differs from the golden";
  $("#review-left-legend").classList.toggle("hidden", !(heat && mode === "map"));
  $("#review-show-golden").classList.toggle("selected", mode === "golden");
  $("#review-show-diff").classList.toggle("selected", mode === "map");
}

const toggleLeft = () => {
  const heat = !!R.selected?.heat_map;
  R.left = (R.left || (heat ? "map" : "golden")) === "golden" ? "map" : "golden";
  if (R.selected) showLeft(R.selected);
};

// each reported defect enlarged: the part image cropped around it (an SVG viewBox on the same image)
function zoom(item) {
  const strip = clear($("#review-zoom"));
  const NS = "http://www.w3.org/2000/svg";
  const [h, w] = item.image_shape || [0, 0];
  for (const s of (item.overlay || []).filter((o) => o.reported).slice(0, 6)) {
    const xs = s.points.map((p) => p[0]), ys = s.points.map((p) => p[1]);
    const cx = (Math.min(...xs) + Math.max(...xs)) / 2, cy = (Math.min(...ys) + Math.max(...ys)) / 2;
    const side = Math.max(48, 2.5 * Math.max(Math.max(...xs) - Math.min(...xs), Math.max(...ys) - Math.min(...ys)));
    const svg = document.createElementNS(NS, "svg");
    svg.setAttribute("viewBox", `${cx - side / 2} ${cy - side / 2} ${side} ${side}`);
    svg.setAttribute("class", "zoom");
    const img = document.createElementNS(NS, "image");
    img.setAttribute("href", `/api/parts/${item.result_id}/image?width=1600`);
    img.setAttribute("width", w);
    img.setAttribute("height", h);
    const poly = document.createElementNS(NS, "polygon");
    poly.setAttribute("points", s.points.map((p) => p.join(",")).join(" "));
    poly.setAttribute("class", "zoom-shape");
    poly.setAttribute("stroke-width", side / 60);
    svg.append(img, poly);
    strip.append(el("figure", { class: "zoom-fig" }, svg, el("figcaption", { text: `${s.class_name} ${Number(s.score).toFixed(2)}` })));
  }
}

function itemButton(it) {
  return el("button", { class: "review-item", dataset: { resultId: it.result_id }, onclick: () => select(it) },
    el("img", { src: `/api/parts/${it.result_id}/thumb`, alt: "reject" }),
    el("span", {}, el("b", { text: it.part_id_str || String(it.part_id) }), el("br"),
      `${when(it.decided_ns)} · ${it.defect_count} defect(s)`));
}

async function fetchPage(more) {
  const q = filterQuery();
  q.set("limit", "50");
  if (more && R.next !== null) q.set("after_seq", R.next);
  const page = await api(`/api/review/pending?${q}`);
  R.next = page.next_after_seq;
  $("#review-more").classList.toggle("hidden", R.next === null);
  setTotal(page.total, page.total_capped);
  const known = new Set(R.items.map((i) => i.result_id));
  const fresh = page.items.filter((i) => !known.has(i.result_id));
  R.items.push(...fresh);
  const list = $("#review-list");
  for (const it of fresh) list.append(itemButton(it));
}

export async function loadReview() {
  try { R.recipes = await api("/api/recipes"); } catch (e) { R.recipes = []; }
  R.items = [];
  R.next = null;
  clear($("#review-list"));
  await fetchPage(false);
  const keep = R.items.find((i) => i.result_id === R.selected?.result_id);
  select(keep || R.items[0] || null);
}

function move(step) {
  if (!R.items.length) return;
  const i = R.items.findIndex((x) => x.result_id === R.selected?.result_id);
  select(R.items[Math.max(0, Math.min(R.items.length - 1, i + step))]);
}

async function decide(decision) {
  const item = R.selected;
  if (!item) return;
  let reason = "";
  if (decision === "overridden") {
    const choice = $("#override-reason").value, text = $("#override-text").value.trim();
    reason = choice === "other" ? text : [choice, text].filter(Boolean).join(": ");
    if (reason.length < 3) { toast("Choose or write a reason for overriding to OK", "bad"); $("#override-reason").focus(); return; }
  }
  try {
    await api(`/api/results/${item.result_id}/review`, { method: "POST", body: { decision, reason } });
    toast(decision === "confirmed" ? `${item.part_id_str || "Reject"} confirmed` : `${item.part_id_str || "Part"} overridden to OK`, "good");
  } catch (e) {
    toast(e.message, "bad");
    if (e.key !== "already_reviewed") return;
  }
  // the next pending one: the item that followed this one (oldest first)
  const i = R.items.findIndex((x) => x.result_id === item.result_id);
  R.items.splice(i, 1);
  $(`#review-list [data-result-id="${item.result_id}"]`)?.remove();
  setTotal(Math.max(0, R.total - 1), R.capped);
  if (R.items.length < 10 && R.next !== null) await fetchPage(true);
  select(R.items[Math.min(i, R.items.length - 1)] || null);
}

async function bulkConfirm() {
  const what = R.part ? `all ${R.total} pending rejects matching "${R.part}"` : `all ${R.total} pending rejects`;
  if (!confirm(`Confirm ${what} as NG? Each is recorded in the audit log.`)) return;
  try {
    const q = filterQuery();
    q.set("limit", "5000");
    const out = await api(`/api/review/confirm?${q}`, { method: "POST" });
    toast(`${out.confirmed} rejects confirmed`, "good");
  } catch (e) { toast(e.message, "bad"); }
  await loadReview();
}

function onKey(e) {
  if (location.hash !== "#review" || e.ctrlKey || e.altKey || e.metaKey) return;
  if (["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement?.tagName)) {
    if (e.key === "Escape") document.activeElement.blur();
    return;
  }
  const k = e.key.toLowerCase();
  if (k === "c") { e.preventDefault(); decide("confirmed"); }
  else if (k === "o") { e.preventDefault(); $("#override-reason").focus(); }
  else if (k === "d") { e.preventDefault(); toggleLeft(); }
  else if (k === "j" || e.key === "ArrowDown") { e.preventDefault(); move(1); }
  else if (k === "k" || e.key === "ArrowUp") { e.preventDefault(); move(-1); }
}

export function initReview(onCount) {
  R.onCount = onCount;
  $("#btn-confirm").addEventListener("click", () => decide("confirmed"));
  $("#btn-override").addEventListener("click", () => decide("overridden"));
  $("#btn-bulk-confirm").addEventListener("click", bulkConfirm);
  $("#review-show-golden").addEventListener("click", () => { R.left = "golden"; if (R.selected) showLeft(R.selected); });
  $("#review-show-diff").addEventListener("click", () => { R.left = "map"; if (R.selected) showLeft(R.selected); });
  $("#review-more").addEventListener("click", () => fetchPage(true));
  $("#review-filter").addEventListener("submit", (e) => {
    e.preventDefault();
    R.part = new FormData(e.target).get("part").trim();
    loadReview();
  });
  document.addEventListener("keydown", onKey);
}

// a good-set result: its image score (what the verdict compared) and the map's peak, each against
// the threshold; results stored before the score was kept show the peak only
function anomalyText(h) {
  const peak = `peak ${(h.peak / h.threshold).toFixed(2)} × threshold`;
  return h.score !== undefined && h.score !== null
    ? `score ${(h.score / h.threshold).toFixed(2)} × threshold · ${peak}` : peak;
}
