// HMI shell: sign-in / first set-up, top bar (state, PLC, recipe), role-gated page router.
import { startAlarms, stopAlarms } from "./alarms.js";
import { api } from "./api.js";
import { $, $$, toast } from "./dom.js";
import { loadHistory, initHistory } from "./history.js";
import { initLive, startStream, stopStream } from "./live.js";
import { initPages, loadAudit, loadRecipes, loadSettings, loadStation, loadUsers } from "./pages.js";
import { initReview, loadReview } from "./review.js";
import { startPlc } from "./plc.js";
import { initStats, loadStats } from "./stats.js";
import { initTeach } from "./teach.js";

const RANK = { operator: 1, engineer: 2, admin: 3 };
const PAGES = { live: "operator", review: "operator", history: "operator", stats: "operator", station: "operator",
                recipes: "operator", settings: "engineer", audit: "engineer", users: "admin" };
const TITLES = { live: "Live", review: "Review", history: "History", stats: "Statistics", station: "Station", recipes: "Recipes",
                 settings: "Settings", audit: "Audit log", users: "Users" };
let me = null;
let pending = 0;

const allowed = (role, need) => RANK[role] >= RANK[need];

function setPending(n) {
  pending = Math.max(0, n);
  const b = $("#review-badge");
  b.textContent = String(pending);
  b.classList.toggle("hidden", pending === 0);
}

function setStatus(st) {
  if (!st) return;
  const sp = $("#state-pill");
  const disarmed = !st.armed;
  sp.textContent = disarmed ? "DISARMED" : st.state.replaceAll("_", " ");
  sp.className = `pill ${st.state === "ERROR" ? "bad" : disarmed ? "warn" : st.state === "READY" || st.state.endsWith("EXECUTION") ? "good" : ""}`;
  sp.title = st.message || "station state";
  const pp = $("#plc-pill");
  pp.textContent = st.plc.connected ? "PLC ●" : "PLC ✕";
  pp.className = `pill ${st.plc.connected ? "good" : "bad"}`;
  pp.title = `PLC ${st.plc.connected ? "connected" : "not connected"} (${st.plc.protocol} ${st.plc.address})`;
  $("#recipe-pill").textContent = st.active_recipe;
  $("#brand").textContent = st.station_id;
}

async function route() {
  if (!me) return;
  let page = (location.hash || "#live").slice(1);
  if (!(page in PAGES)) { location.hash = "#live"; return; }
  for (const s of $$(".page")) s.classList.add("hidden");
  for (const a of $$("#nav a")) a.classList.toggle("active", a.dataset.page === page);
  document.title = `${TITLES[page]} · Inspection HMI`;
  if (!allowed(me.role, PAGES[page])) {
    $("#denied-text").textContent = `${TITLES[page]} needs the ${PAGES[page]} role. You are signed in as ${me.username} (${me.role}).`;
    $("#page-denied").classList.remove("hidden");
    return;
  }
  $(`#page-${page}`).classList.remove("hidden");
  try {
    if (page === "review") await loadReview();
    else if (page === "history") await loadHistory();
    else if (page === "stats") await loadStats();
    else if (page === "station") { await loadStation(me); startPlc(); }
    else if (page === "recipes") await loadRecipes(me);
    else if (page === "settings") await loadSettings();
    else if (page === "users") await loadUsers(me);
    else if (page === "audit") await loadAudit();
  } catch (e) {
    toast(e.message, "bad");
  }
}

function enterApp() {
  $("#login").classList.add("hidden");
  $("#app").classList.remove("hidden");
  $("#user-name").textContent = me.username;
  $("#user-role").textContent = me.role;
  for (const a of $$("#nav a[data-role]")) a.classList.toggle("hidden", !allowed(me.role, a.dataset.role));
  startStream();
  startAlarms();
  route();
}

async function showLogin(message = "") {
  me = null;
  stopStream();
  stopAlarms();
  $("#app").classList.add("hidden");
  $("#login").classList.remove("hidden");
  $("#login-error").textContent = message;
  try {
    const s = await api("/api/auth/setup");
    $("#setup-form").classList.toggle("hidden", !s.needed);
    $("#login-form").classList.toggle("hidden", s.needed);
  } catch (e) { /* server away: keep the sign-in form */ }
}

async function login(e) {
  e.preventDefault();
  try {
    const out = await api("/api/auth/login", { method: "POST",
      body: { username: $("#login-user").value.trim(), password: $("#login-pass").value } });
    $("#login-pass").value = "";
    me = out.user;
    enterApp();
  } catch (err) { $("#login-error").textContent = err.message; }
}

async function setup(e) {
  e.preventDefault();
  try {
    const out = await api("/api/auth/setup", { method: "POST", body: {
      token: $("#setup-token").value.trim(), username: $("#setup-user").value.trim(), password: $("#setup-pass").value } });
    me = out.user;
    enterApp();
  } catch (err) { $("#setup-error").textContent = err.message; }
}

async function logout() {
  try { await api("/api/auth/logout", { method: "POST" }); } catch (e) { /* signed out anyway */ }
  showLogin();
}

async function boot() {
  initLive({ status: setStatus, pending: setPending, pendingDelta: (d) => setPending(pending + d),
             streamError: async () => { try { await api("/api/auth/me"); } catch (e) { if (e.status === 401) showLogin("Session ended. Sign in again."); } } });
  initReview(setPending);
  initHistory();
  initStats();
  initPages(() => me);
  initTeach(() => { if (location.hash === "#recipes" && me) loadRecipes(me); });
  $("#login-form").addEventListener("submit", login);
  $("#setup-form").addEventListener("submit", setup);
  $("#logout").addEventListener("click", logout);
  window.addEventListener("hashchange", route);
  window.addEventListener("hmi:unauthorized", () => { if (me) showLogin("Session ended. Sign in again."); });
  window.addEventListener("hmi:recipes", () => { if (location.hash === "#recipes" && me) loadRecipes(me); });
  try {
    me = await api("/api/auth/me");
    enterApp();
  } catch (e) {
    showLogin();
  }
}

boot();
