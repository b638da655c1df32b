// Small DOM helpers (no framework; text is always set as text, never as HTML).
export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => Array.from(root.querySelectorAll(sel));

export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); return node; }

export function fmtTime(ns, withDate = false) {
  if (!ns) return "—";
  const d = new Date(Number(ns) / 1e6);
  const t = d.toLocaleTimeString([], { hour12: false });
  const today = d.toDateString() === new Date().toDateString();
  return withDate && !today ? `${d.toLocaleDateString()} ${t}` : t;
}

export function fmtMs(v) { return v === null || v === undefined ? "—" : Number(v).toFixed(1); }

export function kv(dl, pairs) {
  clear(dl);
  for (const [k, v] of pairs) dl.append(el("dt", { text: k }), el("dd", { text: v ?? "—", title: v ?? "" }));
}

let toastTimer = null;
export function toast(message, kind = "") {
  const t = $("#toast");
  t.textContent = message;
  t.className = `toast ${kind}`;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => t.classList.add("hidden"), kind === "bad" ? 6000 : 3000);
}

export const wallMs = () => performance.timeOrigin + performance.now();
