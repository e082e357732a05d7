// The jobqueue dashboard's page. It polls the dashboard's API every 2 s
// (only while the tab is visible) and posts forms to change queues. Every
// URL is relative, so the page works under whatever prefix the dashboard
// is mounted at. No framework, no network beyond its own server.
"use strict";

const REFRESH_MS = 2000;
// The chart changes once a minute at most: it is read on the first poll
// of a queue and then every HISTORY_EVERY-th.
const HISTORY_EVERY = 15;
// A page of jobs costs a read of each job's whole record (payload
// included): it is read on the first poll of a list, after every change
// made from the page, and then every LIST_EVERY-th poll; the counts are
// read on every poll.
const LIST_EVERY = 5;
const HISTORY_MINUTES = 60;
const STATES = ["pending", "scheduled", "processing", "completed", "dead", "cancelled"];

const $ = (sel) => document.querySelector(sel);
const S = {
  queue: null,          // the queue shown, null for the overview
  state: "pending",     // its list shown
  cursors: [""],        // the cursors of the pages walked to; the last is shown
  next: "",             // the shown page's next cursor
  search: "",           // id prefix searched for
  kind: "",             // kind filtered on
  readOnly: true,       // until the server says otherwise, no action shows
  seen: {},             // the last good view of each queue, by name
  outage: null,         // {reason, since (ms), server} while something does not answer
  polls: 0,             // polls of the shown queue
  listDue: true,        // read the page of jobs on the next poll
  gen: 0,               // bumped when the route changes, to drop stale replies
  timer: null,
  inflight: false,      // a poll is running
  again: false,         // poll again as soon as it ends
  openId: null,         // the job shown in the drawer
  skew: 0,              // server clock minus ours
};

// ---------- helpers ----------

function esc(s) {
  return String(s ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
}

function num(n) { return typeof n === "number" ? n.toLocaleString("en-US") : "—"; }

function now() { return Date.now() + S.skew; }

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

// ApiError is a reply that was not 2xx: its status and body.
class ApiError extends Error {
  constructor(status, body) {
    super((body && body.error) || `HTTP ${status}`);
    this.status = status;
    this.body = body;
  }
}

// api calls the dashboard's API at path (relative, under api/), with
// params in the query of a GET or the form of a POST.
async function api(method, path, params) {
  const qs = new URLSearchParams(params || {});
  let url = "api/" + path;
  const opts = { method, headers: {} };
  if (method === "GET") {
    if ([...qs].length) url += "?" + qs;
  } else {
    opts.body = qs;
  }
  const res = await fetch(url, opts);
  let body = null;
  try { body = await res.json(); } catch { /* an empty or non-JSON reply */ }
  if (!res.ok) throw new ApiError(res.status, body);
  return body;
}

// ---------- outages ----------

// outageOf returns the outage an error reports: a 503 of the API (the
// store did not answer), or no reply at all (the dashboard's own server
// did not); null for any other error.
function outageOf(e) {
  if (e instanceof ApiError) {
    if (e.status === 503 && e.body && e.body.since) {
      return { reason: e.body.error, since: Date.parse(e.body.since), server: false };
    }
    return null;
  }
  const since = S.outage && S.outage.server ? S.outage.since : Date.now();
  return { reason: `the dashboard's server did not answer (${e.message})`, since, server: true };
}

function showOutage(o) {
  S.outage = o;
  const el = $("#outage");
  el.hidden = false;
  el.dataset.since = new Date(o.since).toISOString();
  el.dataset.reason = o.reason;
  $("#outage-title").textContent = o.server ? "The dashboard's server is not answering" : "The queue's store is not answering";
  $("#outage-when").textContent = `since ${clock(o.since)} (${dur(Date.now() - o.since)})`;
  $("#outage-reason").textContent = o.reason;
  document.body.classList.add("stale");
  $("#live").classList.add("down");
  $("#live-text").textContent = o.server ? "server unreachable" : "store unreachable";
  if (!S.queue) {
    if (!$("#queues-body").children.length) {
      $("#queues-empty").hidden = false;
      $("#queues-empty").textContent = "Not available: the store does not answer.";
    }
    return;
  }
  if (!$("#jobs-body").children.length) {
    $("#jobs-empty").hidden = false;
    $("#jobs-empty").textContent = "Not available: the store does not answer.";
  }
}

function clearOutage() {
  if (S.outage) {
    toast(`Answering again after ${dur(Date.now() - S.outage.since)}.`);
    S.listDue = true;
  }
  S.outage = null;
  $("#outage").hidden = true;
  $("#outage").dataset.since = "";
  $("#outage").dataset.reason = "";
  document.body.classList.remove("stale", "loading");
  $("#live").classList.remove("down");
  $("#live-text").textContent = "live";
}

// ---------- routing ----------

// The route lives in the fragment: "#q=NAME&s=STATE", or nothing for
// the overview.
function readRoute() {
  const p = new URLSearchParams(location.hash.slice(1));
  const queue = p.get("q") || null;
  const state = STATES.includes(p.get("s")) ? p.get("s") : "pending";
  if (queue !== S.queue || state !== S.state) {
    S.queue = queue;
    S.state = state;
    S.cursors = [""];
    S.next = "";
    S.polls = 0;
    S.gen++;
    S.listDue = true;
    $("#jobs-body").innerHTML = "";
    $("#schedules").hidden = true;
    $("#jobs-empty").hidden = true;
  }
  $("#overview").hidden = !!queue;
  $("#queue-view").hidden = !queue;
  $("#crumb-sep").hidden = !queue;
  $("#crumb-queue").hidden = !queue;
  $("#crumb-queue").textContent = queue || "";
  document.title = queue ? `${queue} · jobqueue` : "queues · jobqueue";
  for (const b of document.querySelectorAll("#tabs [data-state]")) {
    b.setAttribute("aria-selected", String(b.dataset.state === state));
  }
  document.body.dataset.state = state;
}

function go(queue, state) {
  const p = new URLSearchParams();
  if (queue) p.set("q", queue);
  if (queue && state && state !== "pending") p.set("s", state);
  location.hash = p.toString();
}

// ---------- rendering ----------

function setReadOnly(ro) {
  S.readOnly = ro;
  document.body.classList.toggle("readonly", ro);
  $("#readonly-chip").hidden = !ro;
}

function limitText(l) {
  const parts = [];
  if (l && l.concurrency) parts.push(`${l.concurrency} at once`);
  if (l && l.rate) parts.push(`${l.rate}/${dur(l.per_ms)}`);
  return parts.join(", ");
}

function rate(v) { return typeof v === "number" ? (v < 10 ? v.toFixed(1) : Math.round(v).toLocaleString("en-US")) : "—"; }

function renderOverview(r) {
  setReadOnly(r.read_only);
  S.skew = r.now_ms - Date.now();
  const rows = r.queues.map((e) => {
    const down = !!e.error;
    if (!down) S.seen[e.name] = e;
    const v = down ? S.seen[e.name] : e;
    const cell = (f) => (v ? f(v) : "—");
    const limits = v ? [limitText(v.limits), ...Object.keys(v.kind_limits || {}).sort().map((k) => `${k}: ${limitText(v.kind_limits[k])}`)].filter(Boolean).join(" · ") : "";
    return `<tr data-queue="${esc(e.name)}" class="${down ? "down" : ""}">
      <td><a href="#q=${encodeURIComponent(e.name)}">${esc(e.name)}</a>${v && v.paused ? ' <span class="badge paused">paused</span>' : ""}${down ? ` <span class="badge down" title="${esc(e.error)}">unreachable since ${esc(clock(Date.parse(e.since)))}</span>` : ""}</td>
      <td class="num c-pending">${cell((x) => num(x.depth.pending))}</td>
      <td class="num">${cell((x) => num(x.depth.scheduled))}</td>
      <td class="num">${cell((x) => num(x.depth.processing))}</td>
      <td class="num c-dead">${cell((x) => num(x.depth.dead))}</td>
      <td class="num">${cell((x) => dur(x.latency_ms))}</td>
      <td class="num">${cell((x) => num(x.workers))}</td>
      <td class="num">${cell((x) => rate(x.rates && x.rates.completed))}</td>
      <td class="num">${cell((x) => rate(x.rates && x.rates.failed))}</td>
      <td class="lim">${esc(limits) || '<span class="muted">none</span>'}</td>
    </tr>`;
  }).join("");
  const body = $("#queues-body");
  if (body.dataset.html !== rows) { body.innerHTML = rows; body.dataset.html = rows; }
  // A dashboard that discovers queues may have none yet.
  $("#queues-empty").hidden = rows !== "";
  if (rows === "") $("#queues-empty").textContent = "No queue yet: a queue is listed once something enqueues to it or a Worker starts on it.";
}

function renderQueue(r) {
  setReadOnly(r.read_only);
  S.skew = r.now_ms - Date.now();
  const v = r.queue;
  S.seen[v.name] = v;
  $("#q-name").textContent = v.name;
  $("#q-paused").hidden = !v.paused;
  $("#pause-btn").hidden = v.paused;
  $("#resume-btn").hidden = !v.paused;
  for (const st of STATES) {
    $("#d-" + st).textContent = num(v.depth[st]);
    const tab = $(`#tabs [data-state="${st}"]`);
    tab.textContent = `${st[0].toUpperCase()}${st.slice(1)} ${num(v.depth[st])}`;
  }
  $("#f-latency").textContent = dur(v.latency_ms);
  $("#f-workers").textContent = num(v.workers);
  $("#f-lease").textContent = dur(v.lease_ms);
  $("#t-enqueued").textContent = num(v.totals.enqueued);
  $("#t-completed").textContent = num(v.totals.completed);
  $("#t-dead").textContent = num(v.totals.dead);
  const rows = [];
  if (limitText(v.limits)) rows.push(["the queue", v.limits]);
  for (const k of Object.keys(v.kind_limits || {}).sort()) rows.push([`kind ${k}`, v.kind_limits[k]]);
  $("#limits-body").innerHTML = rows.map(([of, l]) =>
    `<tr><td>${esc(of)}</td><td>${l.concurrency ? num(l.concurrency) : "—"}</td><td>${l.rate ? `${num(l.rate)} per ${esc(dur(l.per_ms))}` : "—"}</td></tr>`).join("");
  $("#limits-empty").hidden = rows.length > 0;
}

// when returns a job's time worth showing in its state's list.
function when(j) {
  switch (j.state) {
    case "pending": return ["enqueued", j.enqueued_at_ms];
    case "scheduled": return ["runs", j.run_at_ms];
    case "processing": return ["lease ends", j.lease_until_ms];
    default: return [j.state, j.finished_at_ms];
  }
}

function renderJobs(r) {
  S.next = r.next_cursor;
  const v = S.seen[S.queue];
  const depth = v ? v.depth[S.state] : undefined;
  const rows = r.jobs.map((j) => {
    const [label, t] = when(j);
    const err = j.last_error ? `<div class="err">${esc(j.last_error)}</div>` : "";
    return `<tr class="job" data-id="${esc(j.id)}" tabindex="0">
      <td class="id" title="${esc(j.id)}">${esc(j.id.length > 12 ? j.id.slice(0, 8) + "…" : j.id)}</td>
      <td>${j.kind ? `<span class="kind">${esc(j.kind)}</span>` : '<span class="muted">—</span>'}</td>
      <td class="num">${j.attempts}/${j.max_attempts}</td>
      <td class="when" title="${t ? esc(new Date(t).toISOString()) : ""}">${t ? `${esc(label)} ${esc(rel(t))}` : ""}</td>
      <td class="preview">${err}<code>${esc(j.preview)}</code>${j.payload_bytes > 200 ? ` <span class="muted">(${num(j.payload_bytes)} bytes)</span>` : ""}</td>
    </tr>`;
  }).join("");
  const body = $("#jobs-body");
  if (body.dataset.html !== rows) { body.innerHTML = rows; body.dataset.html = rows; }
  const from = r.offset + 1, to = r.offset + r.scanned;
  let info;
  if (r.prefix) {
    info = `Searched ${S.state} ids ${num(from)}–${num(to)}${depth !== undefined ? ` of ${num(depth)}` : ""}: ${r.jobs.length} start with “${r.prefix}”`;
  } else if (r.scanned === 0) {
    info = "";
  } else {
    info = `${S.state} jobs ${num(from)}–${num(to)}${depth !== undefined ? ` of ${num(depth)}` : ""}`;
  }
  if (r.kind) info += ` · kind “${r.kind}” on this page: ${r.jobs.length}`;
  $("#page-info").textContent = info;
  const empty = $("#jobs-empty");
  empty.hidden = r.jobs.length > 0;
  if (r.prefix) empty.textContent = `No id in this window starts with “${r.prefix}”.` + (r.next_cursor ? " Search the next ids with Next →." : "");
  else if (r.kind && r.scanned > 0) empty.textContent = `No job of kind “${r.kind}” on this page.`;
  else empty.textContent = `No ${S.state} jobs.`;
  $("#first-btn").disabled = S.cursors.length <= 1;
  $("#prev-btn").disabled = S.cursors.length <= 1;
  $("#next-btn").disabled = !r.next_cursor;
}

// renderHistory draws completed and failed jobs per minute as bars, two
// per minute, scaled to the busiest minute; minutes with nothing draw no
// bar. The chart's data attributes say what it shows.
function renderHistory(points) {
  const svg = $("#history-chart");
  const W = 600, H = 80, n = Math.max(1, points.length), slot = W / n;
  const peak = Math.max(1, ...points.map((p) => Math.max(p.completed, p.failed)));
  let html = `<line class="base" x1="0" y1="${H - 0.5}" x2="${W}" y2="${H - 0.5}"/>`;
  let completed = 0, failed = 0;
  points.forEach((p, i) => {
    completed += p.completed;
    failed += p.failed;
    const at = new Date(Date.parse(p.minute)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    const tip = `${at}: ${p.completed} completed, ${p.failed} failed, ${p.enqueued} enqueued, ${p.retried} retried, ${p.dead} dead, ${p.cancelled} cancelled`;
    const bar = (cls, v, x) => {
      if (v <= 0) return "";
      const h = Math.max(2, (v / peak) * (H - 4));
      return `<rect class="${cls}" data-n="${v}" x="${x.toFixed(2)}" y="${(H - h).toFixed(2)}" width="${(slot * 0.4).toFixed(2)}" height="${h.toFixed(2)}"><title>${esc(tip)}</title></rect>`;
    };
    html += bar("bar-completed", p.completed, i * slot + slot * 0.08) + bar("bar-failed", p.failed, i * slot + slot * 0.52);
  });
  if (svg.dataset.html !== html) { svg.innerHTML = html; svg.dataset.html = html; }
  svg.dataset.minutes = String(points.length);
  svg.dataset.completed = String(completed);
  svg.dataset.failed = String(failed);
  $("#history-note").textContent = "kept by the store for a day";
}

// renderSchedules lists the queue's schedules; the panel shows only when
// the queue has some.
function renderSchedules(rows) {
  const panel = $("#schedules");
  panel.dataset.count = String(rows.length);
  panel.hidden = rows.length === 0;
  $("#schedules-body").innerHTML = rows.map((r) => {
    const next = r.next.map((t) => Date.parse(t)).find((ms) => ms > now());
    const last = r.last_tick ? Date.parse(r.last_tick) : 0;
    return `<tr data-name="${esc(r.name)}">
      <td class="mono">${esc(r.name)}${r.abandoned ? ' <span class="badge down" title="No Scheduler has recorded it for two of its ticks">abandoned</span>' : ""}${r.error ? ` <span class="badge down">${esc(r.error)}</span>` : ""}</td>
      <td class="mono">${esc(r.spec)} <span class="muted">${esc(r.tz)}</span></td>
      <td title="${esc(r.last_tick || "")}">${last ? esc(rel(last)) : '<span class="muted">never</span>'}</td>
      <td title="${esc(r.next.join(" "))}">${next ? esc(rel(next)) : "—"}</td>
    </tr>`;
  }).join("");
}

// ---------- polling ----------

function jobsParams() {
  const p = { queue: S.queue, state: S.state, cursor: S.cursors[S.cursors.length - 1] };
  if (S.search) p.prefix = S.search;
  if (S.kind) p.kind = S.kind;
  return p;
}

async function poll() {
  // One poll at a time: a call made meanwhile (an action, a new route)
  // runs as soon as the current one ends.
  if (S.inflight) { S.again = true; return; }
  clearTimeout(S.timer);
  S.inflight = true;
  S.again = false;
  const gen = S.gen;
  try {
    if (document.hidden) return;
    if (!S.queue) {
      const r = await api("GET", "overview");
      if (gen !== S.gen) { S.again = true; return; }
      renderOverview(r);
    } else {
      const n = S.polls++;
      const list = S.listDue || n % LIST_EVERY === 0;
      S.listDue = false;
      let qr, jr;
      try {
        [qr, jr] = await Promise.all([api("GET", "queue", { queue: S.queue }), list ? api("GET", "jobs", jobsParams()) : null]);
      } catch (e) {
        S.listDue = list || S.listDue;
        throw e;
      }
      if (gen !== S.gen) { S.again = true; return; }
      renderQueue(qr);
      if (jr) renderJobs(jr);
      if (n % HISTORY_EVERY === 0) {
        try {
          const h = await api("GET", "history", { queue: S.queue, minutes: HISTORY_MINUTES });
          if (gen === S.gen) renderHistory(h.points);
        } catch (e) {
          if (!(e instanceof ApiError) || e.status !== 501) throw e;
          $("#history-note").textContent = "this backend keeps no history";
        }
        try {
          const sc = await api("GET", "schedules", { queue: S.queue });
          if (gen === S.gen) renderSchedules(sc.schedules);
        } catch (e) {
          if (!(e instanceof ApiError) || e.status !== 501) throw e;
          renderSchedules([]);
        }
      }
      if (S.openId) await refreshDrawer();
    }
    clearOutage();
  } catch (e) {
    if (gen !== S.gen) { S.again = true; return; }
    const o = outageOf(e);
    if (o) {
      showOutage(o);
    } else {
      // Not an outage: a queue this dashboard does not have, a refusal.
      document.body.classList.remove("loading");
      $("#live-text").textContent = e.message;
      $("#live").classList.add("down");
    }
  } finally {
    S.inflight = false;
    if (S.again) poll();
    else S.timer = setTimeout(poll, REFRESH_MS);
  }
}

// refresh reads everything shown again at once, the page of jobs
// included, dropping any reply to an earlier request.
function refresh() {
  S.gen++;
  S.listDue = true;
  poll();
}

// ---------- drawer ----------

async function openDrawer(id) {
  S.openId = id;
  $("#drawer").classList.add("open");
  $("#drawer").setAttribute("aria-hidden", "false");
  $("#scrim").hidden = false;
  $("#drawer-title").textContent = id;
  $("#drawer-kind").innerHTML = "";
  $("#drawer-body").innerHTML = `<p class="muted">Loading…</p>`;
  for (const b of ["#retry-btn", "#cancel-btn", "#delete-btn"]) $(b).hidden = true;
  try {
    await refreshDrawer();
  } catch (e) {
    if (S.openId === id) $("#drawer-body").innerHTML = `<p class="gone">${esc(e.message)}</p>`;
  }
}

function closeDrawer() {
  S.openId = null;
  $("#drawer").classList.remove("open");
  $("#drawer").setAttribute("aria-hidden", "true");
  $("#scrim").hidden = true;
}

function fact(label, ms) {
  if (!ms) return "";
  return `<dt>${label}</dt><dd>${esc(new Date(ms).toLocaleString([], { hour12: false }))} <small>${esc(rel(ms))}</small></dd>`;
}

function pretty(v) {
  return typeof v === "string" ? v : JSON.stringify(v, null, 2);
}

async function refreshDrawer() {
  const id = S.openId;
  let j;
  try {
    // The id goes in the query, never in the path, where a browser would
    // resolve "." and "..".
    j = await api("GET", "job", { queue: S.queue, id });
  } catch (e) {
    if (S.openId !== id) return;
    if (e instanceof ApiError && e.status === 404) {
      $("#drawer-body").innerHTML = `<p class="gone">This job is gone: deleted, or its history expired.</p>`;
      $("#drawer-kind").innerHTML = "";
      for (const b of ["#retry-btn", "#cancel-btn", "#delete-btn"]) $(b).hidden = true;
      return;
    }
    throw e;
  }
  if (S.openId !== id) return;
  $("#drawer-kind").innerHTML = `<span class="state-tag st-${esc(j.state)}">${esc(j.state)}</span> ${j.kind ? `<span class="kind">${esc(j.kind)}</span>` : ""}`;
  let html = `<dl class="facts">
    <dt>Id</dt><dd class="mono">${esc(j.id)}</dd>
    <dt>Attempts</dt><dd>${j.attempts} of ${j.max_attempts}</dd>
    ${j.priority ? `<dt>Priority</dt><dd>${j.priority}</dd>` : ""}
    ${fact("Enqueued", j.enqueued_at_ms)}${fact("Runs at", j.run_at_ms)}${fact("Claimed", j.claimed_at_ms)}
    ${fact("Lease until", j.lease_until_ms)}${fact("Finished", j.finished_at_ms)}${fact("Expires", j.expires_at_ms)}
    ${j.timeout_ms ? `<dt>Timeout</dt><dd>${esc(dur(j.timeout_ms))}</dd>` : ""}
  </dl>`;
  if (j.last_error) html += `<h3>Last attempt's error <small class="muted">(the store keeps the last one)</small></h3><pre class="err">${esc(j.last_error)}</pre>`;
  html += `<h3>Payload <small class="muted">${num(j.payload_bytes)} bytes${j.payload_cut ? ", cut" : ""}</small></h3><pre class="json">${esc(pretty(j.payload))}</pre>`;
  if (j.result !== undefined) html += `<h3>Result${j.result_cut ? " <small class=\"muted\">cut</small>" : ""}</h3><pre class="json">${esc(pretty(j.result))}</pre>`;
  if (j.headers && Object.keys(j.headers).length) {
    html += `<h3>Headers</h3><dl class="facts">${Object.keys(j.headers).sort().map((k) => `<dt>${esc(k)}</dt><dd class="mono">${esc(j.headers[k])}</dd>`).join("")}</dl>`;
  }
  const body = $("#drawer-body");
  if (body.dataset.html !== html) { body.innerHTML = html; body.dataset.html = html; }
  $("#retry-btn").hidden = j.state !== "dead";
  $("#cancel-btn").hidden = !["pending", "scheduled", "processing"].includes(j.state);
  $("#delete-btn").hidden = false;
}

// ---------- actions ----------

async function act(btn, path, fields, done) {
  if (S.readOnly) return;
  btn.disabled = true;
  try {
    const r = await api("POST", path, { queue: S.queue, ...fields });
    if (done) toast(done(r));
  } catch (e) {
    toast(e.message, true);
  } finally {
    btn.disabled = false;
    refresh();
  }
}

// bulk repeats a dead-list action until no dead job is left, or a round
// does nothing (jobs arriving as fast as they go).
async function bulk(btn, path, verb) {
  if (S.readOnly) return;
  const label = btn.textContent;
  btn.disabled = true;
  let total = 0;
  try {
    for (;;) {
      const r = await api("POST", path, { queue: S.queue });
      total += r.done;
      btn.textContent = `${verb} ${num(total)}…`;
      if (r.remaining === 0 || r.done === 0) break;
    }
    toast(`${verb} ${num(total)} dead ${total === 1 ? "job" : "jobs"}.`);
  } catch (e) {
    toast(e.message, true);
  } finally {
    btn.textContent = label;
    btn.disabled = false;
    refresh();
  }
}

// search looks the text up as a whole id first, which opens the job
// wherever it is, and lists the jobs of the shown state whose id starts
// with it.
async function search(text) {
  S.search = text;
  S.kind = $("#kind").value.trim();
  S.cursors = [""];
  if (text) {
    try {
      await api("GET", "job", { queue: S.queue, id: text });
      openDrawer(text);
    } catch { /* not a whole id: the prefix search below says what matched */ }
  }
  refresh();
}

function setup() {
  window.addEventListener("hashchange", () => { readRoute(); closeDrawer(); poll(); });
  document.addEventListener("visibilitychange", () => { if (!document.hidden) poll(); });
  $("#home-link").addEventListener("click", (ev) => { ev.preventDefault(); go(null); });
  for (const b of document.querySelectorAll("#tabs [data-state], .stats .stat[data-state]")) {
    b.addEventListener("click", () => go(S.queue, b.dataset.state));
  }
  $("#queues-body").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-queue]");
    if (tr && !ev.target.closest("a")) go(tr.dataset.queue);
  });
  $("#jobs-body").addEventListener("click", (ev) => {
    const tr = ev.target.closest("tr[data-id]");
    if (tr) openDrawer(tr.dataset.id);
  });
  $("#jobs-body").addEventListener("keydown", (ev) => {
    const tr = ev.target.closest("tr[data-id]");
    if (tr && ev.key === "Enter") openDrawer(tr.dataset.id);
  });
  $("#search-form").addEventListener("submit", (ev) => { ev.preventDefault(); search($("#search").value.trim()); });
  $("#clear-btn").addEventListener("click", () => { $("#search").value = ""; $("#kind").value = ""; search(""); });
  $("#next-btn").addEventListener("click", () => { if (S.next) { S.cursors.push(S.next); refresh(); } });
  $("#prev-btn").addEventListener("click", () => { if (S.cursors.length > 1) { S.cursors.pop(); refresh(); } });
  $("#first-btn").addEventListener("click", () => { S.cursors = [""]; refresh(); });
  $("#pause-btn").addEventListener("click", (ev) => act(ev.currentTarget, "pause", {}, () => `${S.queue} paused: no process hands out its jobs.`));
  $("#resume-btn").addEventListener("click", (ev) => act(ev.currentTarget, "resume", {}, () => `${S.queue} resumed.`));
  $("#retry-all-btn").addEventListener("click", (ev) => bulk(ev.currentTarget, "dead/retry", "Retried"));
  $("#delete-all-btn").addEventListener("click", (ev) => {
    if (confirm(`Delete every dead job of ${S.queue}? This cannot be undone.`)) bulk(ev.currentTarget, "dead/delete", "Deleted");
  });
  const drawerAct = (path, verb) => (ev) => {
    const id = S.openId;
    act(ev.currentTarget, path, { id }, () => `${verb} ${id}.`).then(() => { if (S.openId === id) refreshDrawer(); });
  };
  $("#retry-btn").addEventListener("click", drawerAct("jobs/retry", "Retried"));
  $("#cancel-btn").addEventListener("click", drawerAct("jobs/cancel", "Cancelled"));
  $("#delete-btn").addEventListener("click", drawerAct("jobs/delete", "Deleted"));
  $("#drawer-close").addEventListener("click", closeDrawer);
  $("#scrim").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDrawer(); });
  setReadOnly(true);
  readRoute();
  poll();
}

setup();
