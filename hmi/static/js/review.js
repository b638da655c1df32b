// Review of rejects: confirm NG, or override to OK with a reason (kept in the audit log).
import { api } from "./api.js";
import { $, clear, el, fmtMs, fmtTime, kv, toast } from "./dom.js";
import { showPart } from "./overlay.js";

const R = { items: [], selected: null, onCount: () => {} };

function select(item) {
  R.selected = item;
  for (const b of $("#review-list").children) b.classList.toggle("selected", b.dataset.resultId === item?.result_id);
  $("#review-empty").classList.toggle("hidden", !!item);
  $("#review-actions").classList.toggle("hidden", !item);
  if (!item) { clear($("#review-info")); return; }
  showPart($("#review-svg"), item, `/api/parts/${item.result_id}/image?width=1600`);
  kv($("#review-info"), [
    ["Part", item.part_id_str || String(item.part_id)],
    ["Time", fmtTime(item.decided_ns, true)],
    ["Result", item.code_name.replaceAll("_", " ")],
    ["Defects", (item.findings || []).filter((f) => f.score >= 0.5)
      .map((f) => `${f.class_name} ${f.score.toFixed(2)}`).join(", ") || "—"],
    ["Cycle", `${fmtMs(item.cycle_ms)} ms`],
  ]);
  $("#override-reason").value = "";
  $("#override-text").value = "";
}

export async function loadReview() {
  const page = await api("/api/review/pending?limit=100");
  R.items = page.items;
  R.onCount(page.total);
  $("#review-count").textContent = `(${page.total})`;
  const list = clear($("#review-list"));
  for (const it of R.items) {
    list.append(el("button", { class: "review-item", dataset: { resultId: it.result_id }, onclick: () => select(it) },
      el("img", { src: `/api/parts/${it.result_id}/thumb`, alt: "reject" }),
      el("span", {}, el("b", { text: it.part_id_str || String(it.part_id) }), el("br"),
        `${fmtTime(it.decided_ns)} · ${it.defect_count} defect(s)`)));
  }
  const keep = R.items.find((i) => i.result_id === R.selected?.result_id);
  select(keep || R.items[0] || null);
}

async function decide(decision) {
  const item = R.selected;
  if (!item) return;
  let reason = "";
  if (decision === "overridden") {
    const choice = $("#override-reason").value, text = $("#override-text").value.trim();
    reason = choice === "other" ? text : [choice, text].filter(Boolean).join(": ");
    if (reason.length < 3) { toast("Choose or write a reason for overriding to OK", "bad"); return; }
  }
  try {
    await api(`/api/results/${item.result_id}/review`, { method: "POST", body: { decision, reason } });
    toast(decision === "confirmed" ? "Reject confirmed" : "Overridden to OK", "good");
    await loadReview();
  } catch (e) {
    toast(e.message, "bad");
  }
}

export function initReview(onCount) {
  R.onCount = onCount;
  $("#btn-confirm").addEventListener("click", () => decide("confirmed"));
  $("#btn-override").addEventListener("click", () => decide("overridden"));
}
