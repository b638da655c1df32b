// PLC commissioning card on the Station page: the status block as the PLC reads it (STS bits named)
// and the last handshakes, refreshed every second while the page is open.
import { api } from "./api.js";
import { $, clear, el, fmtTime } from "./dom.js";

const P = { timer: null };

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
