// Alarm banner: active process alarms (rejects in a row, low yield) with Acknowledge (audited).
// Polled every 2 s while signed in, and at once when the live stream reports a change.
import { api } from "./api.js";
import { $, clear, el, fmtTime, toast } from "./dom.js";

const A = { timer: null, busy: false };
const LABEL = { consecutive_ng: "Rejects in a row", yield: "Low yield", drift: "Drift of good parts" };

function render(alarms) {
  const banner = $("#alarm-banner");
  const active = alarms.filter((a) => a.active);
  banner.classList.toggle("hidden", active.length === 0);
  clear(banner);
  for (const a of active) {
    banner.append(el("div", { class: `alarm ${a.acknowledged ? "acked" : ""}`, dataset: { alarm: a.name } },
      el("b", { text: `⚠ ${LABEL[a.name] || a.name}` }),
      el("span", { text: a.message }),
      el("span", { class: "muted", text: `since ${fmtTime(a.raised_ns, true)}` }),
      a.acknowledged
        ? el("span", { class: "muted", text: `acknowledged by ${a.ack_user}` })
        : el("button", { class: "ack", onclick: () => acknowledge(a.name) }, "Acknowledge")));
  }
}

export async function refreshAlarms() {
  if (A.busy) return;
  A.busy = true;
  try { render(await api("/api/alarms")); } catch (e) { /* signed out or away: keep the last banner */ }
  finally { A.busy = false; }
}

async function acknowledge(name) {
  try {
    await api(`/api/alarms/${name}/ack`, { method: "POST" });
    toast("Alarm acknowledged", "good");
  } catch (e) { toast(e.message, "bad"); }
  refreshAlarms();
}

export function startAlarms() {
  stopAlarms();
  refreshAlarms();
  A.timer = setInterval(refreshAlarms, 2000);
}

export function stopAlarms() {
  if (A.timer) clearInterval(A.timer);
  A.timer = null;
  $("#alarm-banner").classList.add("hidden");
}
