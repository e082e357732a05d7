// The jobqueue dashboard's page. It polls the dashboard's API every 2 s
// (only while the tab is visible) and posts forms to change queues. Every
// URL is relative, so the page works under whatever prefix the dashboard
// is mounted at. No framework, no network beyond its own server. The
// helpers, the API calls and the outage banner are base.js's.
"use strict";

const REFRESH_MS = 2000;
// The hour's chart changes once a minute at most: it is read on the first
// poll of a queue and then every HISTORY_EVERY-th.
const HISTORY_EVERY = 15;
// A page of jobs costs one read of its jobs' summaries (never their
// payloads): it is read on the first poll of a list, after every change
// made from the page, and then every LIST_EVERY-th poll; the counts are
// read on every poll.
const LIST_EVERY = 5;
// The two charts of a queue's history: the last hour, a bar a minute,
// and the last day, a bar each 10 minutes (the server sums the minutes).
// The day is read when it is shown and then once a minute at most
// (DAY_EVERY_MS), not on every poll: a ten-minute bar grows by one
// minute's counts in a minute, while the read covers the 1,440 minutes
// the store keeps (25 hashes of an hour each), for a chart that moves by
// a pixel. Ticks mark the clock every `every` minutes.
const CHARTS = {
  hour: {
    minutes: 60, step: 1, every: 15, svg: "#history-chart", axis: "#hour-axis", view: "#hour-view",
    title: "Last hour", note: "kept by the store for a day",
    tip: (ms) => hhmm(ms),
    tick: (ms) => hhmm(ms),
  },
  day: {
    minutes: 1440, step: 10, every: 180, svg: "#day-chart", axis: "#day-axis", view: "#day-view",
    title: "Last day", note: "10 minutes a bar, the store's whole history",
    tip: (ms) => `${weekday(ms)} ${hhmm(ms)}–${hhmm(ms + CHARTS.day.step * 60000)}`,
    // Midnight is named by its day, so the day's turn shows.
    tick: (ms) => (new Date(ms).getHours() === 0 ? weekday(ms) : hhmm(ms)),
  },
};
const DAY_EVERY_MS = 60000;
const STATES = ["pending", "scheduled", "processing", "completed", "dead", "cancelled"];

const S = {
  queue: null,          // the queue shown, null for the overview
  state: "pending",     // its list shown
  cursors: [""],        // the cursors of the pages walked to; the last is shown
  next: "",             // the shown page's next cursor
  search: "",           // id prefix searched for
  kind: "",             // kind filtered on
  readOnly: true,       // until the server says otherwise, no action shows
  seen: {},             // the last good view of each queue, by name
  polls: 0,             // polls of the shown queue
  listDue: true,        // read the page of jobs on the next poll
  gen: 0,               // bumped when the route changes, to drop stale replies
  timer: null,
  inflight: false,      // a poll is running
  again: false,         // poll again as soon as it ends
  openId: null,         // the job shown in the drawer
  range: "hour",        // the chart shown: "hour" or "day" (CHARTS)
  dayAt: 0,             // when the day's chart was read (ms), 0 to read it on the next poll
  noHistory: false,     // the shown queue's backend keeps no history
};

// ---------- helpers ----------

function num(n) { return typeof n === "number" ? n.toLocaleString("en-US") : "—"; }

// api calls the dashboard's API at path (relative, under api/).
function api(method, path, params) {
  return request(method, "api/" + path, params);
}

function hhmm(ms) {
  return new Date(ms).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
}

function weekday(ms) {
  return new Date(ms).toLocaleDateString([], { weekday: "short" });
}

// showStale shows an outage (base.js) and, where nothing was read yet,
// says so rather than showing an empty list.
function showStale(o) {
  showOutage(o);
  const empty = S.queue ? $("#jobs-empty") : $("#queues-empty");
  if (!(S.queue ? $("#jobs-body") : $("#queues-body")).children.length) {
    empty.hidden = false;
    empty.textContent = "Not available: the store does not answer.";
  }
}

// ---------- routing ----------

// The route lives in the fragment: "#q=NAME&s=STATE", or nothing for
// the overview.
function readRoute() {
  const p = new URLSearchParams(location.hash.slice(1));
  const queue = p.get("q") || null;
  const state = STATES.includes(p.get("s")) ? p.get("s") : "pending";
  if (queue !== S.queue || state !== S.state) {
    if (queue !== S.queue) {
      S.dayAt = 0;
      S.noHistory = false;
      setRange(S.range);
    }
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
  setServerTime(r.now_ms);
  const rows = r.queues.map((e) => {
    const down = !!e.error;
    if (!down) S.seen[e.name] = e;
    const v = down ? S.seen[e.name] : e;
    const cell = (f) => (v ? f(v) : "—");
    const limits = v ? [limitText(v.limits), ...Object.keys(v.kind_limits || {}).sort().map((k) => `${k}: ${limitText(v.kind_limits[k])}`)].filter(Boolean).join(" · ") : "";
    return `<tr data-queue="${esc(e.name)}" class="${down ? "down" : ""}">
      <td><a href="#q=${encodeURIComponent(e.name)}">${esc(e.name)}</a>${v && v.paused ? ' <span class="badge paused">paused</span>' : ""}${down ? ` <span class="badge down" title="${esc(e.error)}">${e.since ? `unreachable since ${esc(clock(Date.parse(e.since)))}` : "not readable"}</span>` : ""}</td>
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
  setServerTime(r.now_ms);
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

// ticks returns the times strictly between start and end (ms) at which
// the local clock reads a multiple of every minutes since midnight.
function ticks(start, end, every) {
  const out = [];
  for (let t = Math.floor(start / 60000) * 60000 + 60000; t < end; t += 60000) {
    const d = new Date(t);
    if ((d.getHours() * 60 + d.getMinutes()) % every === 0) out.push(t);
  }
  return out;
}

// fitAxis hides the tick labels of a shown axis that would cover an end's
// label or the tick before, however wide the chart is drawn.
function fitAxis(axis) {
  if (axis.offsetParent === null) return;
  const ends = [...axis.querySelectorAll(".end")].map((e) => e.getBoundingClientRect());
  let prev = null;
  for (const e of axis.querySelectorAll(".tick")) {
    e.hidden = false;
    const r = e.getBoundingClientRect();
    const covers = (o) => o && r.left < o.right + 6 && o.left < r.right + 6;
    e.hidden = ends.some(covers) || covers(prev);
    if (!e.hidden) prev = r;
  }
}

// renderChart draws c's chart (CHARTS) of points, a minute or a step of
// minutes each: completed and failed jobs as bars, two per point, scaled
// to the busiest; points with nothing draw no bar. Dashed lines and the
// axis's labels mark the ticks. The chart's data attributes say what it
// shows, and each bar's its count and the start of its point.
function renderChart(c, points) {
  const svg = $(c.svg);
  const W = 600, H = 80, n = Math.max(1, points.length), slot = W / n;
  const peak = Math.max(1, ...points.map((p) => Math.max(p.completed, p.failed)));
  const start = points.length ? Date.parse(points[0].minute) : 0;
  const end = points.length ? Date.parse(points[points.length - 1].minute) + c.step * 60000 : 0;
  const marks = points.length ? ticks(start, end, c.every) : [];
  let html = `<line class="base" x1="0" y1="${H - 0.5}" x2="${W}" y2="${H - 0.5}"/>`;
  for (const t of marks) {
    const x = (((t - start) / (end - start)) * W).toFixed(2);
    html += `<line class="tick" x1="${x}" y1="0" x2="${x}" y2="${H}"/>`;
  }
  let completed = 0, failed = 0;
  points.forEach((p, i) => {
    completed += p.completed;
    failed += p.failed;
    const tip = `${c.tip(Date.parse(p.minute))}: ${p.completed} completed, ${p.failed} failed, ${p.enqueued} enqueued, ${p.retried} retried, ${p.dead} dead, ${p.cancelled} cancelled`;
    const bar = (cls, v, x) => {
      if (v <= 0) return "";
      const h = Math.max(2, (v / peak) * (H - 4));
      return `<rect class="${cls}" data-n="${v}" data-at="${esc(p.minute)}" x="${x.toFixed(2)}" y="${(H - h).toFixed(2)}" width="${(slot * 0.4).toFixed(2)}" height="${h.toFixed(2)}"><title>${esc(tip)}</title></rect>`;
    };
    html += bar("bar-completed", p.completed, i * slot + slot * 0.08) + bar("bar-failed", p.failed, i * slot + slot * 0.52);
  });
  if (svg.dataset.html !== html) { svg.innerHTML = html; svg.dataset.html = html; }
  svg.dataset.minutes = String(points.length * c.step);
  svg.dataset.points = String(points.length);
  svg.dataset.completed = String(completed);
  svg.dataset.failed = String(failed);
  // The labels are placed through the CSSOM: the page's CSP allows no
  // style attribute in markup.
  const axis = $(c.axis);
  for (const e of axis.querySelectorAll(".tick")) e.remove();
  for (const t of marks) {
    const e = document.createElement("span");
    e.className = "tick";
    e.dataset.at = new Date(t).toISOString();
    e.textContent = c.tick(t);
    e.style.left = `${(((t - start) / (end - start)) * 100).toFixed(2)}%`;
    axis.appendChild(e);
  }
  fitAxis(axis);
}

// setRange shows the chart of range ("hour" or "day").
function setRange(range) {
  S.range = range;
  for (const b of document.querySelectorAll("#history-range [data-range]")) {
    b.setAttribute("aria-pressed", String(b.dataset.range === range));
  }
  for (const [name, c] of Object.entries(CHARTS)) $(c.view).hidden = name !== range;
  fitAxis($(CHARTS[range].axis));
  $("#history-title").textContent = CHARTS[range].title;
  $("#history-note").textContent = S.noHistory ? "this backend keeps no history" : CHARTS[range].note;
}

// readHistory reads and draws the chart of range, unless the route
// changed meanwhile (gen).
async function readHistory(range, gen) {
  const c = CHARTS[range];
  const params = { queue: S.queue, minutes: c.minutes };
  if (c.step > 1) params.step = c.step;
  try {
    const h = await api("GET", "history", params);
    if (gen === S.gen) renderChart(c, h.points);
  } catch (e) {
    if (!(e instanceof ApiError) || e.status !== 501) throw e;
    S.noHistory = true;
    setRange(S.range);
  }
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
        await readHistory("hour", gen);
        try {
          const sc = await api("GET", "schedules", { queue: S.queue });
          if (gen === S.gen) renderSchedules(sc.schedules);
        } catch (e) {
          if (!(e instanceof ApiError) || e.status !== 501) throw e;
          renderSchedules([]);
        }
      }
      if (S.range === "day" && Date.now() - S.dayAt >= DAY_EVERY_MS) {
        await readHistory("day", gen);
        if (gen === S.gen) S.dayAt = Date.now();
      }
      if (S.openId) await refreshDrawer();
    }
    if (clearOutage()) S.listDue = true;
  } catch (e) {
    if (gen !== S.gen) { S.again = true; return; }
    const o = outageOf(e);
    if (o) {
      showStale(o);
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
  showDrawer(id);
  for (const b of ["#retry-btn", "#cancel-btn", "#delete-btn"]) $(b).hidden = true;
  try {
    await refreshDrawer();
  } catch (e) {
    if (S.openId === id) $("#drawer-body").innerHTML = `<p class="gone">${esc(e.message)}</p>`;
  }
}

function closeDrawer() {
  S.openId = null;
  hideDrawer();
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
  window.addEventListener("resize", () => fitAxis($(CHARTS[S.range].axis)));
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
  $("#history-range").addEventListener("click", (ev) => {
    const b = ev.target.closest("[data-range]");
    if (!b) return;
    setRange(b.dataset.range);
    // A day not read yet, or read over a minute ago, is read at once.
    if (S.range === "day" && Date.now() - S.dayAt >= DAY_EVERY_MS) poll();
  });
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
