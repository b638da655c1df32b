// Commissioning cards on the Station page, refreshed every second while the page is open: the camera's
// newest image with a focus measure, and the PLC's status block (STS bits named) with the last handshakes.
import { api } from "./api.js";
import { $, clear, el, fmtTime, toast } from "./dom.js";

const P = { timer: null, cameraSettings: false };

// ---- exposure and gain, tried on the camera before they are saved (engineers; refused while armed) --
function trialCard() {
  let c = $("#camera-trial");
  if (!c) {
    c = el("div", { class: "card camera-trial", id: "camera-trial" },
      el("h2", { text: "Camera exposure and gain" }),
      el("p", { class: "muted", text: "Try applies the values to the camera and shows the next image; Save keeps them (re-applied when the station starts); Revert restores the saved ones. Disarm the station first." }),
      el("div", { class: "camera-trial-form" },
        el("label", {}, "Exposure (µs)", el("input", { id: "cam-exposure", type: "number", min: 1, max: 10000000, step: 10 })),
        el("label", {}, "Gain (dB)", el("input", { id: "cam-gain", type: "number", min: 0, max: 48, step: 0.1 })),
        el("button", { class: "primary", id: "cam-try", onclick: tryCamera }, "Try"),
        el("button", { id: "cam-save", onclick: () => camAction("save", "Camera settings saved") }, "Save"),
        el("button", { class: "ghost", id: "cam-revert", onclick: () => camAction("revert", "Camera settings reverted") }, "Revert")),
      el("dl", { class: "kv", id: "cam-state" }),
      el("img", { id: "cam-trial-img", class: "golden hidden", alt: "trial image" }));
    const focus = $("#camera-focus");
    if (focus && focus.nextSibling) $("#station-cards").insertBefore(c, focus.nextSibling); else $("#station-cards").append(c);
  }
  return c;
}

function fmt(v, unit) { return v === null || v === undefined ? "camera default" : `${v} ${unit}`; }

function showCamera(d) {
  trialCard();
  const dl = clear($("#cam-state"));
  const rows = [["Camera", `${d.camera_id} (${d.driver})`],
    ["Now", `${fmt(d.current.exposure_us, "µs")} · ${fmt(d.current.gain_db, "dB")}`],
    ["Saved", d.saved_file ? `${fmt(d.saved.exposure_us, "µs")} · ${fmt(d.saved.gain_db, "dB")}` : "nothing saved (the configuration's)"],
    ["Station", d.armed ? "armed: disarm it to try settings" : "disarmed"]];
  if (d.unsaved) rows.push(["", "tried, not saved"]);
  if (d.quality) rows.push(["Trial image", `brightness ${d.quality.brightness} / 255 · focus ${d.quality.focus} · saturated ${d.quality.saturated_pct} %`]);
  if (d.frame && d.frame.exposure_us) rows.push(["Frame exposure", `${d.frame.exposure_us} µs (read back from the camera)`]);
  for (const [k, v] of rows) dl.append(el("dt", { text: k }), el("dd", { text: v }));
  $("#camera-trial").dataset.armed = d.armed ? "1" : "0";
  if (d.current.exposure_us !== null && document.activeElement !== $("#cam-exposure")) $("#cam-exposure").value = d.current.exposure_us;
  if (d.current.gain_db !== null && document.activeElement !== $("#cam-gain")) $("#cam-gain").value = d.current.gain_db;
  if (d.quality) {
    const img = $("#cam-trial-img");
    img.src = `/api/camera/trial.jpg?width=640&t=${Date.now()}`;
    img.classList.remove("hidden");
  }
}

async function tryCamera() {
  const body = {};
  const e = $("#cam-exposure").value, g = $("#cam-gain").value;
  if (e !== "") body.exposure_us = Number(e);
  if (g !== "") body.gain_db = Number(g);
  try { showCamera(await api("/api/camera/try", { method: "POST", body })); toast("Tried on the camera (not saved)", "good"); }
  catch (err) { toast(err.message, "bad"); }
}

async function camAction(what, done) {
  try { showCamera(await api(`/api/camera/${what}`, { method: "POST" })); toast(done, "good"); }
  catch (err) { toast(err.message, "bad"); }
}

async function loadCameraSettings() {
  try { showCamera(await api("/api/camera/settings")); P.cameraSettings = true; }
  catch (e) { P.cameraSettings = false; /* no camera here, or not an engineer */ }
}

function cameraCard() {
  let c = $("#camera-focus");
  if (!c) {
    c = el("div", { class: "card camera-card", id: "camera-focus" }, el("h2", { text: "Camera (newest image)" }),
      el("img", { class: "golden", alt: "newest image" }), el("dl", { class: "kv" }));
    const plcCard = $("#plc-registers");
    if (plcCard) $("#station-cards").insertBefore(c, plcCard); else $("#station-cards").append(c);
  }
  return c;
}

async function renderCamera() {
  let d;
  try { d = await api("/api/camera/focus"); } catch (e) { return; }
  const c = cameraCard();
  if (!d.result_id) { c.querySelector("dl").textContent = "No image yet."; return; }
  const img = c.querySelector("img");
  if (img.dataset.resultId !== d.result_id) { img.src = `/api/parts/${d.result_id}/image?width=640`; img.dataset.resultId = d.result_id; }
  const dl = clear(c.querySelector("dl"));
  for (const [k, v] of [["Focus (Laplacian variance)", d.focus], ["Brightness", `${d.brightness} / 255`],
    ["Saturated", `${d.saturated_pct} %`], ["Black", `${d.black_pct} %`], ["Size", `${d.shape[1]} x ${d.shape[0]}`]]) {
    dl.append(el("dt", { text: k }), el("dd", { text: v }));
  }
}

function card() {
  let c = $("#plc-registers");
  if (!c) {  // (re)made after the Station page redraws its cards
    c = el("div", { class: "card plc-card", id: "plc-registers" }, el("h2", { text: "PLC registers (live)" }), el("div", { class: "plc-body" }));
    $("#station-cards").append(c);
  }
  return c;
}

async function render() {
  if (location.hash !== "#station") { stopPlc(); return; }
  renderCamera();
  // the Station page redraws its cards after Arm/Disarm: the trial card comes back with the new state
  if (P.cameraSettings && !$("#camera-trial")) loadCameraSettings();
  let d;
  try { d = await api("/api/plc/registers?n=8"); } catch (e) { return; }
  const body = clear(card().querySelector(".plc-body"));
  if (!d.registers.length) {
    body.append(el("p", { class: "muted", text: "No PLC on this station (in-process feed): no registers to show." }));
    return;
  }
  body.append(el("p", { class: "sts-now" }, el("b", { text: "STS: " }), d.sts_bits.join(" · ") || "—"));
  // bits that came and went since the last refresh (READY, TRIG_ACK, RESULT_VALID: milliseconds at line rate)
  const pulsed = (d.sts_seen_bits || []).filter((b) => !d.sts_bits.includes(b));
  if (pulsed.length) {
    body.append(el("p", { class: "sts-seen muted" }, el("b", { text: `Also set in the last ${d.sts_seen_s} s: ` }), pulsed.join(" · ")));
  }
  const regs = el("table", { class: "plc-regs" }, el("thead", {}, el("tr", {}, ["HR", "Register", "Value", "Hex"].map((h) => el("th", { text: h })))));
  const rb = el("tbody");
  for (const r of d.registers) rb.append(el("tr", {}, [r.address, r.name, r.value, r.hex].map((v) => el("td", { text: v }))));
  regs.append(rb);
  const hs = el("table", { class: "plc-hs" }, el("thead", {}, el("tr", {}, ["Time", "Trigger", "Part", "Answer", "Cycle ms", "Note"].map((h) => el("th", { text: h })))));
  const hb = el("tbody");
  for (const h of d.handshakes) {
    hb.append(el("tr", {}, [fmtTime(h.ns), h.trigger_seq, h.part_id_str || h.part_id, h.code, h.cycle_ms,
      h.timeout_reject ? "deadline" : h.error_code !== "NONE" ? h.error_code : ""].map((v) => el("td", { text: v }))));
  }
  hs.append(hb);
  body.append(el("div", { class: "plc-grid" }, el("div", { class: "table-wrap" }, regs),
    el("div", {}, el("h3", { text: "Last handshakes" }), el("div", { class: "table-wrap" }, hs))));
}

export function startPlc() {
  card();
  stopPlc();
  loadCameraSettings();
  render();
  P.timer = setInterval(render, 1000);
}

export function stopPlc() {
  if (P.timer) clearInterval(P.timer);
  P.timer = null;
}
