// Teach view (engineer): a candidate part beside the current golden with the difference, the checks
// that refuse an NG / not aligned / low-score part (override with a reason), and the golden versions
// with one-click rollback (both audited on the station).
import { api } from "./api.js";
import { $, clear, el, fmtTime, toast } from "./dom.js";

const T = { recipe: null, resultId: null, onDone: () => {} };

const enc = encodeURIComponent;

function figure(caption, img) {
  return el("figure", { class: "teach-fig" }, el("figcaption", { text: caption }), img);
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
    $("#teach-go").disabled = true;
    return;
  }
  T.resultId = c.result_id;
  const v = r.golden ? r.golden.version : "none";
  box.append(
    figure("Current golden", r.golden
      ? el("img", { id: "teach-golden", src: `/api/recipes/${enc(r.recipe_id)}/golden?width=800&v=${v}`, alt: "current golden" })
      : el("div", { class: "golden empty", text: "no golden reference yet" })),
    figure(`Candidate · ${c.part_id_str || c.result_id}`,
      c.has_image ? el("img", { id: "teach-candidate", src: `/api/parts/${c.result_id}/image?width=800`, alt: "candidate" })
        : el("div", { class: "golden empty", text: "no image kept for this part" })),
    figure("Difference (bright: differs)", c.difference
      ? el("img", { id: "teach-diff", src: `/api/recipes/${enc(r.recipe_id)}/teach/diff?result_id=${c.result_id}&v=${v}`, alt: "difference" })
      : el("div", { class: "golden empty", text: r.golden ? "—" : "nothing to compare with" })));
  const d = c.difference;
  info.append(
    el("dt", { text: "Part" }), el("dd", { text: `${c.part_id_str || "—"} (${c.result_id})` }),
    el("dt", { text: "Decided" }), el("dd", { text: fmtTime(c.decided_ns, true) }),
    el("dt", { text: "Result" }), el("dd", { class: c.verdict === "pass" ? "ok" : "ng", text: (c.code_name || "").replaceAll("_", " ") }),
    el("dt", { text: "Alignment score" }), el("dd", { text: c.alignment_score === null || c.alignment_score === undefined ? "—"
      : `${Number(c.alignment_score).toFixed(3)} (minimum ${c.align_min_score ?? "—"})` }),
    el("dt", { text: "Differs from golden" }), el("dd", { text: d ? `${d.changed_pct.toFixed(2)} % of pixels (shift ${d.shift_px[0]}, ${d.shift_px[1]} px)` : "—" }));
  const ref = clear($("#teach-refusals"));
  for (const why of c.refusals) ref.append(el("li", { text: why }));
  $("#teach-refused").classList.toggle("hidden", c.refusals.length === 0);
  $("#teach-override").value = "";
  $("#teach-go").disabled = !c.has_image;
  $("#teach-go").textContent = c.refusals.length ? "Teach anyway (with reason)" : "Teach this part";
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
      el("td", { class: "wrap", text: [v.source, v.reason && `override: ${v.reason}`].filter(Boolean).join(" · ") || "—" }),
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

export async function openTeach(recipe, user, resultId = null) {
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
    el("div", { class: "actions" }, el("button", { class: "primary big", id: "teach-go", onclick: () => teach(user) }, "Teach this part")),
    el("h3", { text: "Golden versions" }),
    el("div", { class: "table-wrap" }, el("table", { id: "teach-versions" },
      el("thead", {}, el("tr", {}, ["", "Version", "Taught", "Source", ""].map((h) => el("th", { text: h })))), el("tbody"))));
  await Promise.all([renderCandidate().then(renderRecent), renderVersions(user)]);
  view.scrollIntoView({ block: "start" });
}

export function initTeach(onDone) { T.onDone = onDone; }
