// Commissioning cards on the Station page, refreshed every second while the page is open: the camera's
// newest image with a focus measure, and the PLC's status block (STS bits named) with the last handshakes.
import { api } from "./api.js";
import { $, clear, el, fmtTime } from "./dom.js";

const P = { timer: null };

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
  let d;
  try { d = await api("/api/plc/registers?n=8"); } catch (e) { return; }
  const body = clear(card().querySelector(".plc-body"));
  if (!d.registers.length) {
    body.append(el("p", { class: "muted", text: "No PLC on this station (in-process feed): no registers to show." }));
    return;
  }
  body.append(el("p", {}, el("b", { text: "STS: " }), d.sts_bits.join(" · ") || "—"));
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
  render();
  P.timer = setInterval(render, 1000);
}

export function stopPlc() {
  if (P.timer) clearInterval(P.timer);
  P.timer = null;
}
