// Thresholds page: what-if on stored parts and the shadow recipe (engineers).
import { api } from "./api.js";
import { $, clear, el, fmtTime, toast } from "./dom.js";

// Thresholds from the form above, plus what-if parameters beyond them (GET /api/whatif: the
// good-set model's anomaly_threshold of a good-set recipe) when changed from the recipe's value.
function values() {
  const out = {};
  for (const i of $("#settings-fields").querySelectorAll("input")) out[i.name] = Number(i.value);
  for (const i of $("#whatif-extra").querySelectorAll("input")) {
    if (i.value !== "" && Number(i.value) !== Number(i.dataset.own)) out[i.name] = Number(i.value);
  }
  return out;
}

function showReport(r) {
  $("#whatif-sentence").textContent = r.sentence;
  $("#whatif-sentence").dataset.parts = r.parts;
  $("#whatif-sentence").dataset.changed = r.changed_count;
  $("#whatif-sentence").dataset.refused = r.refused_count ?? 0;
  const list = clear($("#whatif-changed"));
  for (const c of r.changed) {
    const review = c.review_status === "overridden" ? ", reviewed OK" : c.review_status === "confirmed" ? ", confirmed NG" : "";
    list.append(partItem(c.result_id, c.decided_ns, `${c.old_verdict} → ${c.new_verdict}${review}`));
  }
  for (const f of r.refused || []) {
    list.append(el("li", { class: "refused" }, partItem(f.result_id, f.decided_ns, `not judged: ${f.reason}`)));
  }
}

// The what-if state: extra parameters (inputs kept while the recipe's value stays), the last report.
async function whatifState() {
  let s;
  try { s = await api("/api/whatif"); } catch (err) { return; }
  const box = $("#whatif-extra");
  const names = s.parameters.map((p) => p.name);
  for (const i of [...box.querySelectorAll("label")]) if (!names.includes(i.dataset.name)) i.remove();
  for (const p of s.parameters) {
    let input = box.querySelector(`input[name="${p.name}"]`);
    if (!input || Number(input.dataset.own) !== p.value) {
      if (input) input.closest("label").remove();
      input = el("input", { type: "number", name: p.name, step: "any", min: p.minimum, max: p.maximum,
                            value: p.value, dataset: { own: p.value } });
      box.append(el("label", { dataset: { name: p.name }, title: p.help },
        `${p.label}${p.unit ? ` (${p.unit})` : ""} · what-if only`, input));
    }
  }
  if (!$("#whatif-sentence").textContent && s.last) showReport(s.last.report);
}

function showError(err) { $("#whatif-error").textContent = err ? err.message : ""; }

function partItem(id, ns, text) {
  return el("li", {}, el("a", { href: `/api/results/${id}/image?overlay=true`, target: "_blank", text: id }),
    ` ${fmtTime(ns, true)} · ${text}`);
}

async function whatIf() {
  const btn = $("#btn-whatif");
  btn.disabled = true;
  $("#whatif-sentence").textContent = "judging stored parts…";
  try {
    const r = await api("/api/whatif", { method: "POST", body: { values: values(), last: Number($("#whatif-last").value) || 500 } });
    showReport(r);
    showError(null);
  } catch (err) { $("#whatif-sentence").textContent = ""; showError(err); }
  finally { btn.disabled = false; }
}

async function shadowStatus() {
  let s;
  try { s = await api("/api/shadow"); } catch (err) { return; }
  const box = clear($("#shadow-status"));
  $("#btn-shadow-promote").hidden = !s.running;
  $("#btn-shadow-drop").hidden = !s.running;
  box.dataset.running = s.running ? "yes" : "no";
  if (s.running) {
    const r = s.run;
    box.dataset.seen = r.seen;
    box.dataset.disagreed = r.disagreed;
    const refused = Object.values(r.refused || {}).reduce((a, b) => a + b, 0);
    box.append(el("p", { class: "shadow-line", text:
      `Shadow ${Object.entries(r.candidate.thresholds).map(([k, v]) => `${k} ${v}`).join(", ")}: ` +
      `${r.seen} parts judged, ${r.disagreed} disagreed, ${r.dropped} dropped under load` +
      (refused ? `, ${refused} not judged (${Object.entries(r.refused).map(([k, v]) => `${k} ${v}`).join(", ")})` : "") +
      (r.shadow_ms_mean !== null ? `, ${r.shadow_ms_mean} ms per part` : "") }));
  } else {
    box.append(el("p", { text: "No shadow recipe running." }));
  }
  const list = clear($("#shadow-disagreements"));
  for (const d of s.disagreements) list.append(partItem(d.result_id, d.decided_ns, `live ${d.live_verdict}, shadow ${d.shadow_verdict}`));
}

async function act(fn, message) {
  try { await fn(); toast(message, "good"); showError(null); } catch (err) { showError(err); }
  await shadowStatus();
}

async function loadVariants() {
  const rid = $("#settings-recipe").value;
  if (!rid) return;
  let list;
  try { list = await api(`/api/recipes/${encodeURIComponent(rid)}/variants`); } catch (err) { return; }
  const ul = clear($("#variant-list"));
  ul.dataset.count = list.length;
  for (const v of list) {
    ul.append(el("li", { dataset: { name: v.name } }, `${v.name} (${v.shape[1]}×${v.shape[0]}) `,
      el("button", { type: "button", class: "variant-remove", onclick: async () => {
        try {
          await api(`/api/recipes/${encodeURIComponent(rid)}/variants/${encodeURIComponent(v.name)}`, { method: "DELETE" });
          toast(`Variant ${v.name} removed`, "good");
        } catch (err) { $("#variant-error").textContent = err.message; }
        loadVariants();
      } }, "Remove")));
  }
}

async function teachVariant() {
  const rid = $("#settings-recipe").value, name = $("#variant-name").value.trim();
  try {
    await api(`/api/recipes/${encodeURIComponent(rid)}/variants`, { method: "POST", body: { name } });
    $("#variant-error").textContent = "";
    toast(`Variant ${name} taught`, "good");
  } catch (err) { $("#variant-error").textContent = err.message; }
  loadVariants();
}

function init() {
  if (!$("#btn-whatif")) return;
  $("#btn-whatif").addEventListener("click", whatIf);
  $("#btn-shadow-start").addEventListener("click", () => act(() => api("/api/shadow", { method: "POST", body: { values: values() } }), "Shadow recipe started"));
  $("#btn-shadow-promote").addEventListener("click", () => {
    if (confirm("Make the shadow's thresholds the active recipe's?")) act(() => api("/api/shadow/promote", { method: "POST" }), "Shadow promoted");
  });
  $("#btn-shadow-drop").addEventListener("click", () => act(() => api("/api/shadow", { method: "DELETE" }), "Shadow dropped"));
  $("#btn-variant-teach").addEventListener("click", teachVariant);
  $("#settings-recipe").addEventListener("change", loadVariants);
  setInterval(() => {
    if ($("#page-settings").classList.contains("hidden") || document.visibilityState !== "visible") return;
    shadowStatus();
    loadVariants();
    whatifState();
  }, 2000);
}

init();
