// Station, recipes (golden references), thresholds, users and audit pages.
import { api } from "./api.js";
import { $, clear, el, fmtMs, fmtTime, toast } from "./dom.js";
import { GOODSET_NOTE, openTeach, singlePartTeach } from "./teach.js";

const can = (user, role) => ({ operator: 1, engineer: 2, admin: 3 })[user.role] >= ({ operator: 1, engineer: 2, admin: 3 })[role];

function dl(pairs) {
  const d = el("dl", { class: "kv" });
  for (const [k, v] of pairs) d.append(el("dt", { text: k }), el("dd", { text: v ?? "—" }));
  return d;
}

async function act(fn, ok) {
  try { await fn(); if (ok) toast(ok, "good"); return true; } catch (e) { toast(e.message, "bad"); return false; }
}

export async function loadStation(user) {
  const [st, timings, store] = await Promise.all([api("/api/station"), api("/api/stats/timings?n=1"),
                                                  api("/api/station/store")]);
  const cards = clear($("#station-cards"));
  const state = el("div", { class: "card" }, el("h2", { text: "Station" }), dl([
    ["Station", st.station_id], ["State", `${st.state} (${st.state_code})`], ["Armed", st.armed ? "yes" : "no"],
    ["Active recipe", st.active_recipe], ["Simulation", st.simulation ? "yes" : "no"],
    ["Message", st.message || "—"], ["Running since", fmtTime(st.started_ns, true)],
    ["Last part", fmtTime(st.last_part_ns, true)]]));
  if (can(user, "engineer")) {
    state.append(el("div", { class: "actions" },
      el("button", { class: "primary", id: "btn-arm", disabled: st.armed,
                     onclick: () => act(() => api("/api/station/arm", { method: "POST" }), "Armed").then(() => loadStation(user)) },
        "Arm"),
      el("button", { id: "btn-disarm", disabled: !st.armed,
                     onclick: () => act(() => api("/api/station/disarm", { method: "POST" }), "Disarmed").then(() => loadStation(user)) },
        "Disarm"),
      el("button", { onclick: () => act(() => api("/api/stats/counters/clear", { method: "POST" }), "Counters cleared") },
        "Clear counters")));
  }
  const p = st.plc;
  const plc = el("div", { class: "card" }, el("h2", { text: "PLC" }), dl([
    ["Connection", p.connected ? "connected" : "not connected"], ["Protocol", p.protocol], ["Address", p.address || "—"],
    ["Heartbeat age", p.heartbeat_age_ms === null ? "—" : `${fmtMs(p.heartbeat_age_ms)} ms`],
    ["Trigger enabled", p.trigger_enabled ? "yes" : "no"], ["Message", p.message || "—"]]));
  const stages = el("div", { class: "card" }, el("h2", { text: "Stage times (ms)" }));
  const t = el("table", {}, el("thead", {}, el("tr", {}, ["Stage", "Last", "P50", "P99", "Max", "n"].map((h) => el("th", { text: h })))));
  const body = el("tbody");
  for (const s of Object.values(timings.stages)) {
    body.append(el("tr", {}, [s.stage, fmtMs(s.last), fmtMs(s.p50), fmtMs(s.p99), fmtMs(s.max), s.n].map((v) => el("td", { text: v }))));
  }
  t.append(body);
  stages.append(t);
  const gb = (b) => (b === null ? "—" : `${(b / 1e9).toFixed(2)} GB`);
  const storeCard = el("div", { class: "card" }, el("h2", { text: "Result store" }), dl([
    ["Writer", store.alive ? "running" : "STOPPED"], ["Committed", store.committed], ["Queued", store.queued],
    ["Records dropped", store.records_dropped], ["Images saved", store.images_saved],
    ["Images dropped", store.images_dropped + store.images_skipped_disk], ["Write errors", store.write_errors],
    ["Database", gb(store.db_bytes)], ["Free disk", `${gb(store.free_bytes)}${store.low_disk ? " (LOW)" : ""}`],
    ["Pass images", store.save_pass_every ? `every ${store.save_pass_every}th` : "none"]]));
  cards.append(state, plc, stages, storeCard);
}

export async function loadRecipes(user) {
  const recipes = await api("/api/recipes");
  const cards = clear($("#recipe-cards"));
  for (const r of recipes) {
    const g = r.golden;
    const card = el("div", { class: "card", dataset: { recipe: r.recipe_id } },
      el("h2", { text: `${r.number} · ${r.name}${r.active ? "  (active)" : ""}` }),
      g ? el("img", { class: "golden", src: `/api/recipes/${r.recipe_id}/golden?width=800&v=${g.version}`, alt: "golden reference" })
        : el("div", { class: "golden empty", text: "no golden reference yet" }),
      dl([["Recipe id", r.recipe_id], ["Model", r.model_hash || "—"],
          ["Golden version", g ? g.version : "—"], ["Taught", g ? `${fmtTime(g.taught_ns, true)} by ${g.taught_by}` : "—"],
          ["Thresholds", Object.entries(r.thresholds).map(([k, v]) => `${k} ${v}`).join(", ")]]));
    if (can(user, "engineer")) {
      const file = el("input", { type: "file", accept: "image/*", class: "hidden",
        onchange: async (e) => {
          const f = e.target.files[0];
          if (f && await act(() => api(`/api/recipes/${r.recipe_id}/teach/upload`, { method: "POST", body: f }), "Golden reference taught")) loadRecipes(user);
        } });
      card.append(el("div", { class: "actions" },
        el("button", { class: "primary", disabled: r.active,
          onclick: () => act(() => api("/api/recipes/active", { method: "POST", body: { recipe_id: r.recipe_id } }), `Recipe ${r.name} active`).then(() => loadRecipes(user)) },
          "Make active"),
        el("button", { class: "teach-open", onclick: () => openTeach(r, user) }, "Teach / versions…"),
        singlePartTeach(r) ? [el("button", { class: "teach-upload", onclick: () => file.click() }, "Upload golden image"), file]
          : el("span", { class: "muted teach-note", text: GOODSET_NOTE })));
    }
    cards.append(card);
  }
}

export async function loadSettings(rid = null) {
  const data = await api(`/api/settings/thresholds${rid ? `?recipe_id=${encodeURIComponent(rid)}` : ""}`);
  const recipes = await api("/api/recipes");
  const sel = clear($("#settings-recipe"));
  for (const r of recipes) sel.append(el("option", { value: r.recipe_id, text: `${r.number} · ${r.name}`, selected: r.recipe_id === data.recipe_id }));
  const fields = clear($("#settings-fields"));
  for (const s of data.specs) {
    fields.append(el("label", {}, `${s.label}${s.unit ? ` (${s.unit})` : ""}`,
      el("input", { type: "number", name: s.name, min: s.minimum, max: s.maximum, step: s.step, value: data.values[s.name], required: true }),
      el("small", { text: `${s.help} · ${s.minimum}–${s.maximum}, default ${s.default}` })));
  }
  $("#settings-error").textContent = "";
}

async function saveSettings(e) {
  e.preventDefault();
  const values = {};
  for (const i of $("#settings-fields").querySelectorAll("input")) values[i.name] = Number(i.value);
  try {
    await api("/api/settings/thresholds", { method: "PUT", body: { recipe_id: $("#settings-recipe").value, values } });
    $("#settings-error").textContent = "";
    toast("Thresholds saved", "good");
  } catch (err) { $("#settings-error").textContent = err.message; }
}

export async function loadUsers(me) {
  const users = await api("/api/users");
  const body = clear($("#users-table tbody"));
  for (const u of users) {
    const role = el("select", { "aria-label": `role of ${u.username}`,
      onchange: (e) => act(() => api(`/api/users/${u.username}`, { method: "PATCH", body: { role: e.target.value } }), "Role changed").then(() => loadUsers(me)) },
      ["operator", "engineer", "admin"].map((r) => el("option", { text: r, selected: r === u.role })));
    body.append(el("tr", {}, el("td", { text: u.username }), el("td", {}, role),
      el("td", { text: u.active ? "yes" : "no" }), el("td", { text: fmtTime(u.last_login_ns, true) }),
      el("td", {},
        el("button", { onclick: () => act(() => api(`/api/users/${u.username}`, { method: "PATCH", body: { active: !u.active } }), "Saved").then(() => loadUsers(me)) },
          u.active ? "Deactivate" : "Activate"), " ",
        el("button", { class: "reset-password", onclick: () => resetPassword(u.username) }, "Reset password"), " ",
        el("button", { disabled: u.username === me.username,
          onclick: () => confirm(`Delete ${u.username}?`) && act(() => api(`/api/users/${u.username}`, { method: "DELETE" }), "Deleted").then(() => loadUsers(me)) },
          "Delete"))));
  }
}

async function resetPassword(username) {
  const pw = prompt(`New password for ${username} (8+ characters). Their sessions end; tell them in person.`);
  if (pw === null) return;
  await act(() => api(`/api/users/${username}`, { method: "PATCH", body: { password: pw } }), `Password of ${username} reset`);
}

async function addUser(e, me) {
  e.preventDefault();
  const f = new FormData(e.target);
  try {
    await api("/api/users", { method: "POST", body: { username: f.get("username"), role: f.get("role"), password: f.get("password") } });
    e.target.reset();
    $("#user-error").textContent = "";
    toast("User added", "good");
    loadUsers(me);
  } catch (err) { $("#user-error").textContent = err.message; }
}

function auditQuery() {
  const q = new URLSearchParams();
  for (const [k, v] of new FormData($("#audit-filters")).entries()) if (v !== "") q.set(k, v);
  return q;
}

export async function loadAudit() {
  const q = auditQuery();
  $("#audit-csv").href = `/api/audit.csv?${q}`;
  if (q.has("user")) { q.set("by", q.get("user")); q.delete("user"); }
  q.set("limit", "300");
  const rows = await api(`/api/audit?${q}`);
  const body = clear($("#audit-table tbody"));
  for (const a of rows) {
    const target = a.part ? `part ${a.part}` : a.target;
    body.append(el("tr", {}, [fmtTime(a.ts_ns, true), a.user, a.action.replaceAll("_", " "), target, a.summary || "", a.detail ?? ""]
      .map((v, i) => el("td", { class: i >= 3 ? "wrap" : "", title: i === 3 ? a.target : "", text: v }))));
  }
}

export function initPages(getUser) {
  $("#settings-form").addEventListener("submit", saveSettings);
  $("#settings-recipe").addEventListener("change", (e) => loadSettings(e.target.value));
  $("#user-form").addEventListener("submit", (e) => addUser(e, getUser()));
  $("#audit-filters").addEventListener("submit", (e) => { e.preventDefault(); loadAudit().catch((err) => toast(err.message, "bad")); });
}
