// The script both pages load before their own (internal/webui): the
// demo's (jobqueue serve) and the dashboard's. Helpers, the calls to the
// page's API, and the outage banner. Its functions are globals, which
// each page's app.js uses.
"use strict";

const $ = (sel) => document.querySelector(sel);

// ---------- helpers ----------

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

// serverSkew is the server's clock minus ours, from the now_ms of its
// replies (setServerTime), so that "in 3s" and "2s ago" are the server's.
let serverSkew = 0;

function setServerTime(ms) { serverSkew = ms - Date.now(); }

function now() { return Date.now() + serverSkew; }

function dur(ms) {
  const a = Math.abs(ms);
  if (a < 1000) return `${Math.round(a)}ms`;
  if (a < 60000) return `${(a / 1000).toFixed(1)}s`;
  if (a < 3600000) return `${Math.floor(a / 60000)}m ${Math.floor((a % 60000) / 1000)}s`;
  if (a < 172800000) return `${Math.floor(a / 3600000)}h ${Math.floor((a % 3600000) / 60000)}m`;
  return `${Math.floor(a / 86400000)}d ${Math.floor((a % 86400000) / 3600000)}h`;
}

function rel(ms) {
  if (!ms) return "";
  const d = ms - now();
  return d >= 0 ? `in ${dur(d)}` : `${dur(d)} ago`;
}

function clock(ms) {
  return new Date(ms).toLocaleTimeString([], { hour12: false });
}

function toast(msg, isError) {
  const t = document.createElement("div");
  t.className = "toast" + (isError ? " error" : "");
  t.textContent = msg;
  $("#toasts").appendChild(t);
  setTimeout(() => { t.classList.add("out"); setTimeout(() => t.remove(), 300); }, isError ? 6000 : 3200);
}

// ---------- the API ----------

// ApiError is a reply that was not 2xx: its status and body.
class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// NoReply is a request that got no reply at all: the page's own server
// did not answer.
class NoReply extends Error {}

// request calls the page's API at url, with params in the query of a GET
// or the form of a POST, and returns the reply's JSON; a reply that is
// not 2xx throws an ApiError, no reply at all a NoReply.
async function request(method, url, params) {
  const qs = new URLSearchParams(params || {});
  const opts = { method, headers: {} };
  if (method === "GET") {
    if ([...qs].length) url += (url.includes("?") ? "&" : "?") + qs;
  } else if (params) {
    opts.body = qs;
  }
  let res;
  try {
    res = await fetch(url, opts);
  } catch (e) {
    throw new NoReply(e.message);
  }
  let body = null;
  try { body = await res.json(); } catch { /* an empty or non-JSON reply */ }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

// ---------- outages ----------

// outage is the outage shown: {reason, since (ms), server}, or null.
let outage = null;

// outageOf returns the outage an error reports: a 503 of the API (the
// store did not answer), or no reply at all (the page's own server did
// not); null for any other error, the page's own bugs included.
function outageOf(e) {
  if (e instanceof ApiError) {
    if (e.status === 503 && e.body && e.body.since) {
      return { reason: e.body.error, since: Date.parse(e.body.since), server: false };
    }
    return null;
  }
  if (!(e instanceof NoReply)) return null;
  const since = outage && outage.server ? outage.since : Date.now();
  return { reason: `the page's server did not answer (${e.message})`, since, server: true };
}

// showOutage shows o in the banner, greys what the page read last (.data)
// and hides what would change the queue (.action).
function showOutage(o) {
  outage = o;
  const el = $("#outage");
  el.hidden = false;
  el.dataset.since = new Date(o.since).toISOString();
  el.dataset.reason = o.reason;
  $("#outage-title").textContent = o.server ? "The page's server is not answering" : "The queue's store is not answering";
  $("#outage-when").textContent = `since ${clock(o.since)} (${dur(Date.now() - o.since)})`;
  $("#outage-reason").textContent = o.reason;
  document.body.classList.add("stale");
  $("#live").classList.add("down");
  $("#live-text").textContent = o.server ? "server unreachable" : "store unreachable";
}

// clearOutage hides the banner, and reports whether an outage ended.
function clearOutage() {
  const ended = outage !== null;
  if (ended) toast(`Answering again after ${dur(Date.now() - outage.since)}.`);
  outage = null;
  const el = $("#outage");
  el.hidden = true;
  el.dataset.since = "";
  el.dataset.reason = "";
  document.body.classList.remove("stale", "loading");
  $("#live").classList.remove("down");
  $("#live-text").textContent = "live";
  return ended;
}

// The banner goes under the top bar, hidden until an outage.
(() => {
  const el = document.createElement("div");
  el.className = "outage";
  el.id = "outage";
  el.setAttribute("role", "alert");
  el.hidden = true;
  el.dataset.since = "";
  el.dataset.reason = "";
  el.innerHTML = `<svg viewBox="0 0 24 24" aria-hidden="true"><path d="M12 3 2 21h20z"/><path d="M12 10v5M12 18v.5"/></svg>
  <div>
    <b id="outage-title"></b>
    <span id="outage-when"></span>
    <div class="reason" id="outage-reason"></div>
    <div class="hint">The numbers below are the last ones read, kept until the store answers again.</div>
  </div>`;
  $(".topbar").after(el);
})();

// ---------- the job drawer ----------

// The drawer's shell, a header (the job's state and kind, its id, a close
// button) and a body, is built here; each page's HTML gives the
// <aside id="drawer"> with the footer of its own actions.
(() => {
  const d = $("#drawer");
  d.insertAdjacentHTML("afterbegin", `<header>
    <div>
      <div class="drawer-kind" id="drawer-kind"></div>
      <h2 id="drawer-title">Job</h2>
    </div>
    <button type="button" class="icon" id="drawer-close" aria-label="Close">×</button>
  </header>
  <div class="drawer-body" id="drawer-body"></div>`);
  d.insertAdjacentHTML("beforebegin", `<div class="scrim" id="scrim" hidden></div>`);
})();

// showDrawer slides the drawer in, titled, with its body loading.
function showDrawer(title) {
  $("#drawer").classList.add("open");
  $("#drawer").setAttribute("aria-hidden", "false");
  $("#scrim").hidden = false;
  $("#drawer-title").textContent = title;
  $("#drawer-kind").innerHTML = "";
  $("#drawer-body").innerHTML = `<p class="gone">Loading…</p>`;
}

// hideDrawer slides the drawer out.
function hideDrawer() {
  $("#drawer").classList.remove("open");
  $("#drawer").setAttribute("aria-hidden", "true");
  $("#scrim").hidden = true;
}
