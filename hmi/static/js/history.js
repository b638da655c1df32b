// Result history: filters, paged table, stored image with overlays.
import { api } from "./api.js";
import { $, clear, el, fmtMs, fmtTime, kv, toast } from "./dom.js";
import { showPart } from "./overlay.js";

const H = { next: null, query: "" };

function queryString() {
  const form = $("#history-filters");
  const q = new URLSearchParams();
  for (const [k, v] of new FormData(form).entries()) if (v !== "") q.set(k, v);
  return q;
}

function row(r) {
  const ok = r.verdict === "pass";
  const review = r.review ? `${r.review.status} (${r.review.user})` : (ok ? "" : "pending");
  return el("tr", { dataset: { resultId: r.result_id }, onclick: (e) => detail(r, e.currentTarget) },
    el("td", { text: fmtTime(r.decided_ns, true) }),
    el("td", { text: r.part_id_str || String(r.part_id) }),
    el("td", { class: ok ? "ok" : "ng", text: ok ? "OK" : "NG" }),
    el("td", { text: r.code_name.replaceAll("_", " ") }),
    el("td", { text: r.defect_count }),
    el("td", { text: r.max_score.toFixed(2) }),
    el("td", { text: fmtMs(r.cycle_ms) }),
    el("td", { text: review }));
}

function detail(r, tr) {
  for (const t of $("#history-table tbody").children) t.classList.toggle("selected", t === tr);
  const hasImage = r.has_image;
  $("#history-empty").textContent = hasImage ? "" : `No stored image (${r.image_state}).`;
  $("#history-empty").classList.toggle("hidden", hasImage);
  if (hasImage) showPart($("#history-svg"), r, `/api/parts/${r.result_id}/image?width=1600`);
  else clear($("#history-svg").querySelector("g"));
  kv($("#history-info"), [
    ["Part", r.part_id_str || String(r.part_id)], ["Trigger", String(r.trigger_seq)],
    ["Time", fmtTime(r.decided_ns, true)], ["Recipe", r.recipe_id], ["Result", r.code_name],
    ["Message", r.message || "—"], ["Cycle", `${fmtMs(r.cycle_ms)} ms`],
    ["Stages", Object.entries(r.timings_ms).map(([k, v]) => `${k} ${fmtMs(v)}`).join(" · ")],
    ["Review", r.review ? `${r.review.status} by ${r.review.user}${r.review.reason ? ": " + r.review.reason : ""}` : "—"],
  ]);
  if (r.heat_map) {  // a good-set result: its stored anomaly map over the part
    $("#history-info").append(el("dt", { text: "Heat map" }), el("dd", {},
      (r.heat_map.score !== undefined && r.heat_map.score !== null
        ? `score ${(r.heat_map.score / r.heat_map.threshold).toFixed(2)} × threshold · ` : "")
      + `peak ${(r.heat_map.peak / r.heat_map.threshold).toFixed(2)} × threshold · `,
      el("a", { href: `/api/parts/${r.result_id}/heatmap?width=1600`, target: "_blank", rel: "noopener", text: "open" })));
  }
}

function csvLink() { $("#history-csv").href = `/api/results.csv?${queryString()}`; }

export async function loadHistory(more = false) {
  const q = queryString();
  csvLink();
  if (more && H.next) q.set("before_seq", H.next);
  q.set("limit", "50");
  try {
    const page = await api(`/api/results?${q}`);
    const body = $("#history-table tbody");
    if (!more) clear(body);
    for (const r of page.items) body.append(row(r));
    H.next = page.next_before_seq;
    $("#history-more").classList.toggle("hidden", !H.next);
    $("#history-total").textContent = `${page.total}${page.total_capped ? "+" : ""} results`;
  } catch (e) {
    toast(e.message, "bad");
  }
}

export function initHistory() {
  $("#history-filters").addEventListener("submit", (e) => { e.preventDefault(); loadHistory(); });
  $("#history-more").addEventListener("click", () => loadHistory(true));
  $("#history-filters").addEventListener("change", csvLink);
}
