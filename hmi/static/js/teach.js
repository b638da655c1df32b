// Teach view (engineer): a candidate part beside the current golden with the difference (for a
// good-set recipe: the part's anomaly heat map), the checks that refuse an NG / not aligned /
// low-score part (override with a reason), and the golden versions with one-click rollback (both
// audited on the station).
import { api } from "./api.js";
import { $, clear, el, fmtTime, toast } from "./dom.js";

const T = { recipe: null, resultId: null, onDone: () => {}, jobTimer: null, user: null };

const enc = encodeURIComponent;

// a good-set recipe judges with a model taught from N good parts: one part or an uploaded image
// cannot teach it (the station refuses), so the page does not offer those
export const GOODSET_NOTE = "A good-set recipe is taught from N good parts, not from one part or an uploaded image.";
export const singlePartTeach = (recipe) => recipe.detector !== "goodset";

function figure(caption, img) {
  return el("figure", { class: "teach-fig" }, el("figcaption", { text: caption }), img);
}

// a good-set recipe has no pixel golden comparison: the part's anomaly heat map (the picture review
// shows) stands in for the difference, or a note when the part has none (or it cannot be loaded)
export const HEAT_TITLE = "Anomaly heat map (good-set model)";
export const NO_HEAT = "no anomaly heat map stored for this part";

function heatPanel(c) {
  const note = () => el("div", { class: "golden empty", id: "teach-heat-none", text: NO_HEAT });
  if (!c.heat_map) return figure(HEAT_TITLE, note());
  const img = el("img", { id: "teach-heat", src: `/api/parts/${c.result_id}/heatmap?width=800`,
    alt: "heat map: where the part deviates from the good parts (red and outlined: above the model's threshold)" });
  img.addEventListener("error", () => img.replaceWith(note()), { once: true });
  return figure(HEAT_TITLE, img);
}

// the verdict's image score against the threshold of the model that judged the part (results
// stored before the score was kept: the map's peak instead): nothing without a heat map
function anomalyLine(c) {
  const h = c.heat_map;
  if (!h || !(h.threshold > 0)) return [];
  const p = Number(h.peak), t = Number(h.threshold), g4 = (x) => String(Number(x.toPrecision(4)));
  if (h.score !== undefined && h.score !== null) {
    const s = Number(h.score);
    return [el("dt", { text: "Anomaly score" }),
      el("dd", { id: "teach-anomaly", text: `${(s / t).toFixed(2)} × threshold (score ${g4(s)}, threshold ${g4(t)} of the model that judged it; map peak ${g4(p)})` })];
  }
  return [el("dt", { text: "Anomaly peak" }),
    el("dd", { id: "teach-anomaly", text: `${(p / t).toFixed(2)} × threshold (peak ${g4(p)}, threshold ${g4(t)} of the model that judged it)` })];
}

async function renderCandidate() {
  const r = T.recipe;
  const q = T.resultId ? `?result_id=${enc(T.resultId)}` : "";
  const box = clear($("#teach-compare"));
  const info = clear($("#teach-info"));
  let c;
  try {
    c = await api(`/api/recipes/${enc(r.recipe_id)}/teach/candidate${q}`);
  } catch (e) {
    box.append(el("p", { class: "muted", text: e.message }));
    if ($("#teach-go")) $("#teach-go").disabled = true;
    return;
  }
  T.resultId = c.result_id;
  const v = r.golden ? r.golden.version : "none";
  const goodset = !singlePartTeach(r);
  box.append(
    figure("Current golden", r.golden
      ? el("img", { id: "teach-golden", src: `/api/recipes/${enc(r.recipe_id)}/golden?width=800&v=${v}`, alt: "current golden" })
      : el("div", { class: "golden empty", text: "no golden reference yet" })),
    figure(`Candidate · ${c.part_id_str || c.result_id}`,
      c.has_image ? el("img", { id: "teach-candidate", src: `/api/parts/${c.result_id}/image?width=800`, alt: "candidate" })
        : el("div", { class: "golden empty", text: "no image kept for this part" })),
    goodset ? heatPanel(c) : figure("Difference (bright: differs)", c.difference
      ? el("img", { id: "teach-diff", src: `/api/recipes/${enc(r.recipe_id)}/teach/diff?result_id=${c.result_id}&v=${v}`, alt: "difference" })
      : el("div", { class: "golden empty", text: r.golden ? "—" : "nothing to compare with" })));
  const d = c.difference;
  info.append(
    el("dt", { text: "Part" }), el("dd", { text: `${c.part_id_str || "—"} (${c.result_id})` }),
    el("dt", { text: "Decided" }), el("dd", { text: fmtTime(c.decided_ns, true) }),
    el("dt", { text: "Result" }), el("dd", { class: c.verdict === "pass" ? "ok" : "ng", text: (c.code_name || "").replaceAll("_", " ") }),
    el("dt", { text: "Alignment score" }), el("dd", { text: c.alignment_score === null || c.alignment_score === undefined ? "—"
      : `${Number(c.alignment_score).toFixed(3)} (minimum ${c.align_min_score ?? "—"})` }),
    ...(goodset ? anomalyLine(c) : [el("dt", { text: "Differs from golden" }),
      el("dd", { text: d ? `${d.changed_pct.toFixed(2)} % of pixels (shift ${d.shift_px[0]}, ${d.shift_px[1]} px)` : "—" })]));
  const go = $("#teach-go");
  if (!go) return;  // a good-set recipe: no single-part teach
  const ref = clear($("#teach-refusals"));
  for (const why of c.refusals) ref.append(el("li", { text: why }));
  $("#teach-refused").classList.toggle("hidden", c.refusals.length === 0);
  $("#teach-override").value = "";
  go.disabled = !c.has_image;
  go.textContent = c.refusals.length ? "Teach anyway (with reason)" : "Teach this part";
}

async function renderRecent() {
  const strip = clear($("#teach-recent"));
  let parts = [];
  try { parts = await api("/api/parts/recent?n=12"); } catch (e) { return; }
  for (const p of parts) {
    strip.append(el("button", { class: `teach-pick ${p.verdict === "pass" ? "ok" : "ng"}${p.result_id === T.resultId ? " selected" : ""}`,
      title: `${p.part_id_str || p.result_id} · ${p.code_name}`,
      onclick: () => { T.resultId = p.result_id; renderCandidate(); renderRecent(); } },
      el("img", { src: `/api/parts/${p.result_id}/thumb`, alt: p.code_name }),
      el("span", { text: `${p.verdict === "pass" ? "OK" : "NG"} ${p.part_id_str || ""}` })));
  }
}

async function renderVersions(user) {
  const r = T.recipe;
  const body = clear($("#teach-versions tbody"));
  const versions = await api(`/api/recipes/${enc(r.recipe_id)}/golden/versions`);
  for (const v of versions) {
    body.append(el("tr", { class: v.current ? "current" : "" },
      el("td", {}, el("img", { class: "vthumb", src: `/api/recipes/${enc(r.recipe_id)}/golden/versions/${v.version}/image?width=160`, alt: v.version })),
      el("td", { text: v.version }), el("td", { text: `${fmtTime(v.taught_ns, true)} by ${v.taught_by}` }),
      el("td", { class: "wrap", text: [v.source, v.variation_model && "with variation model", v.goodset_model && "with good-set model", v.reason && `override: ${v.reason}`].filter(Boolean).join(" · ") || "—" }),
      el("td", {}, v.current ? el("b", { text: "current" })
        : el("button", { class: "rollback", dataset: { version: v.version }, onclick: () => rollback(v.version, user) }, "Roll back to this"))));
  }
  if (!versions.length) body.append(el("tr", {}, el("td", { colspan: 5, class: "muted", text: "no golden taught yet" })));
}

async function refreshRecipe() {
  const recipes = await api("/api/recipes");
  T.recipe = recipes.find((x) => x.recipe_id === T.recipe.recipe_id) || T.recipe;
}

async function rollback(version, user) {
  try {
    await api(`/api/recipes/${enc(T.recipe.recipe_id)}/golden/rollback`, { method: "POST", body: { version } });
    toast(`Golden reference rolled back to ${version}`, "good");
    await refreshRecipe();
    await Promise.all([renderCandidate(), renderVersions(user)]);
    T.onDone();
  } catch (e) { toast(e.message, "bad"); }
}

async function teach(user) {
  const reason = $("#teach-override").value.trim();
  const body = { result_id: T.resultId };
  if (reason) body.override_reason = reason;
  try {
    const g = await api(`/api/recipes/${enc(T.recipe.recipe_id)}/teach`, { method: "POST", body });
    toast(`Golden reference taught (version ${g.version})`, "good");
    await refreshRecipe();
    await Promise.all([renderCandidate(), renderVersions(user)]);
    T.onDone();
  } catch (e) {
    toast(e.message, "bad");
    if (e.key === "teach_refused") $("#teach-override").focus();
  }
}

// ---- teaching from N good parts (golden + variation model, like `inspection teach`) ----------
function partsSection() {
  return el("div", { class: "teach-parts card", id: "teach-parts" },
    el("h3", { text: "Teach from N good parts (golden reference + variation model, or good-set model)" }),
    el("p", { class: "muted", text: "Like 'inspection teach': the parts are aligned, the golden is their median and the tolerance band is taught from their variation. A good-set recipe gets a new good-set model with its current model's settings. NG, unaligned and low-score parts are refused and counted." }),
    el("div", { class: "teach-parts-form" },
      // a good-set model's threshold is read from the parts' held-out scores: 100 for a 1% target
      el("label", {}, "Parts (N) ", el("input", { id: "teach-n", type: "number", min: 5, max: 200,
        value: T.recipe && T.recipe.detector === "goodset" ? 100 : 10 })),
      el("label", {}, "Source ", el("select", { id: "teach-source" },
        el("option", { value: "stored", text: "most recent stored good parts" }),
        el("option", { value: "line", text: "next N good parts from the line" }),
        el("option", { value: "selection", text: "selected parts (result ids)" }))),
      el("input", { id: "teach-ids", class: "hidden", placeholder: "result ids, separated by spaces or commas", size: 48 }),
      el("button", { class: "primary", id: "teach-parts-go", onclick: startParts }, "Start teaching"),
      el("button", { class: "ghost", id: "teach-parts-cancel", disabled: true, onclick: cancelParts }, "Cancel")),
    el("div", { class: "teach-progress" }, el("progress", { id: "teach-progress", max: 1, value: 0 }),
      el("span", { id: "teach-progress-text", class: "muted", text: "" })),
    el("p", { id: "teach-parts-result", class: "wrap" }));
}

async function startParts() {
  const source = $("#teach-source").value;
  const body = { source };
  if (source === "selection") body.result_ids = $("#teach-ids").value.split(/[\s,]+/).filter(Boolean);
  else body.count = Number($("#teach-n").value);
  try {
    const job = await api(`/api/recipes/${enc(T.recipe.recipe_id)}/teach/parts`, { method: "POST", body });
    showJob(job);
    pollJob();
  } catch (e) { toast(e.message, "bad"); $("#teach-parts-result").textContent = e.message; }
}

async function cancelParts() {
  try { const d = await api("/api/teach/job/cancel", { method: "POST" }); showJob(d.job); } catch (e) { toast(e.message, "bad"); }
}

function showJob(job) {
  if (!job || !$("#teach-progress")) return;
  const bar = $("#teach-progress");
  bar.value = job.phase === "done" ? 1 : job.progress;
  const refused = Object.entries(job.refused_by_reason).map(([k, n]) => `${n} ${k}`).join(", ");
  $("#teach-progress-text").textContent = `${job.phase} · ${job.collected} / ${job.needed} parts`
    + (job.refused ? ` · refused ${job.refused} (${refused})` : "");
  $("#teach-parts").dataset.phase = job.phase;
  $("#teach-parts-go").disabled = job.running;
  $("#teach-parts-cancel").disabled = !job.running;
  const res = $("#teach-parts-result");
  res.className = job.phase === "done" ? "wrap ok" : job.phase === "failed" ? "wrap ng" : "wrap";
  res.textContent = job.running ? "" : job.message + modelText(job.result);
  if (!job.running && job.result) {
    for (const [key, warning] of [["few-parts", job.result.few_parts_warning], ["look-alikes", job.result.look_alike_warning]]) {
      if (warning) res.append(el("div", { class: `warn-note ${key}`, text: `WARNING: ${warning}` }));
    }
  }
}

// what a good-set job taught beyond its message: the model's threshold on the image score, calibrated
// on held-out scores of the taught parts
function modelText(result) {
  if (!result || result.detector !== "goodset") return "";
  const odd = (result.most_unusual_parts || []).slice(0, 3)
    .map((p) => `${p.part_id_str || p.result_id} (${(p.score / result.threshold).toFixed(2)} × threshold)`);
  return ` · image-score threshold ${Number(result.threshold).toPrecision(4)} from ${result.calibration_scores} held-out scores`
    + (odd.length ? ` · least like the others (check they are good): ${odd.join(", ")}` : "");
}

async function pollJob(first = false) {
  if (T.jobTimer) clearTimeout(T.jobTimer);
  let d;
  try { d = await api("/api/teach/job"); } catch (e) { return; }
  showJob(d.job);
  if (d.job && d.job.running && $("#teach-parts")) { T.jobTimer = setTimeout(pollJob, 500); return; }
  if (d.job && d.job.phase === "done" && d.job.recipe_id === T.recipe.recipe_id && $("#teach-parts").dataset.seen !== d.job.result.version) {
    $("#teach-parts").dataset.seen = d.job.result.version;
    if (first) return;  // an earlier job's result: shown, not announced again
    toast(`Golden reference and ${d.job.result.detector === "goodset" ? "good-set" : "variation"} model taught from ${d.job.result.parts_used} parts (version ${d.job.result.version})`, "good");
    await refreshRecipe();
    await Promise.all([renderCandidate(), renderVersions(T.user)]);
    T.onDone();
  }
}

export async function openTeach(recipe, user, resultId = null) {
  T.user = user;
  T.recipe = recipe;
  T.resultId = resultId;
  const view = clear($("#teach-view"));
  view.classList.remove("hidden");
  view.append(
    el("div", { class: "teach-head" },
      el("h2", { text: `Teach the golden reference of ${recipe.number} · ${recipe.name}` }),
      el("button", { class: "ghost", id: "teach-close", onclick: () => view.classList.add("hidden") }, "Close")),
    el("div", { class: "teach-recent", id: "teach-recent" }),
    el("div", { class: "teach-compare", id: "teach-compare" }),
    el("dl", { class: "kv teach-info", id: "teach-info" }),
    el("div", { id: "teach-refused", class: "teach-refused hidden" },
      el("b", { text: "This part is refused as a golden reference:" }), el("ul", { id: "teach-refusals" }),
      el("label", {}, "Reason to teach it anyway (kept in the audit log)",
        el("input", { id: "teach-override", maxlength: 400, placeholder: "e.g. new board revision B" }))),
    singlePartTeach(recipe)
      ? el("div", { class: "actions" }, el("button", { class: "primary big", id: "teach-go", onclick: () => teach(user) }, "Teach this part"))
      : el("p", { class: "muted", id: "teach-single-note", text: `${GOODSET_NOTE} Use "Teach from N good parts" below.` }),
    partsSection(),
    el("h3", { text: "Golden versions" }),
    el("div", { class: "table-wrap" }, el("table", { id: "teach-versions" },
      el("thead", {}, el("tr", {}, ["", "Version", "Taught", "Source", ""].map((h) => el("th", { text: h })))), el("tbody"))));
  $("#teach-source").addEventListener("change", (e) => {
    $("#teach-ids").classList.toggle("hidden", e.target.value !== "selection");
    $("#teach-n").disabled = e.target.value === "selection";
  });
  await Promise.all([renderCandidate().then(renderRecent), renderVersions(user), pollJob(true)]);
  view.scrollIntoView({ block: "start" });
}

export function initTeach(onDone) { T.onDone = onDone; }
