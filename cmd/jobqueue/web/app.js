// The jobqueue demo's page: polls GET /api/jobs every 800 ms and drives
// the demo's API (/api/) with form posts. No framework, no network beyond
// this server. The helpers, the API calls (request) and the outage banner
// are base.js's, which the dashboard's page shares.
"use strict";

// The board's states. The HTTP API keeps the classic demo's words so that
// its clients keep working: "failed" for the dead state (its lists, job
// states, failed_depth, failed_total), which apiWord and pageWord
// translate, and visibility_ms for the lease.
const STATES = ["pending", "scheduled", "processing", "completed", "dead"];
const apiWord = (w) => w.replace(/^dead(?=_|$)/, "failed");
const pageWord = (w) => w.replace(/^failed(?=_|$)/, "dead");
const REFRESH_MS = 800;
// The per-minute chart is read from the store (GET /api/history), so it
// survives a reload; it changes once a minute at most, so it is read every
// HISTORY_EVERY-th poll.
const HISTORY_MINUTES = 60;
const HISTORY_EVERY = 6;
// The schedules (GET /api/schedules) are read at the same slow rate, and
// sooner when a listed tick is past, so the next one shows; between reads
// only their relative times move.
const SCHEDULES_EVERY = 6;
// How long after a tick the page waits before reading the schedules
// again: the Scheduler's time to enqueue it and record it.
const TICK_SETTLE_MS = 1000;
const ICONS = {
  email: '<svg viewBox="0 0 24 24"><rect x="3" y="5" width="18" height="14" rx="2"/><path d="m3 7 9 6 9-6"/></svg>',
  webhook: '<svg viewBox="0 0 24 24"><path d="M10 14a4 4 0 0 0 5.7 0l3-3a4 4 0 0 0-5.7-5.7l-1 1"/><path d="M14 10a4 4 0 0 0-5.7 0l-3 3a4 4 0 0 0 5.7 5.7l1-1"/></svg>',
  thumbnail: '<svg viewBox="0 0 24 24"><rect x="3" y="4" width="18" height="16" rx="2"/><circle cx="9" cy="10" r="2"/><path d="m21 17-5-5-9 8"/></svg>',
  invoice: '<svg viewBox="0 0 24 24"><path d="M6 3h12v18l-3-2-3 2-3-2-3 2z"/><path d="M9 8h6M9 12h6"/></svg>',
  other: '<svg viewBox="0 0 24 24"><rect x="4" y="4" width="16" height="16" rx="3"/></svg>',
};

const state = {
  last: null,         // the latest GET /api/jobs reply
  openId: null,       // the job shown in the drawer
  samples: [],        // [time, completed_total] for the throughput line
  poolRunning: false,
  knobTimer: null,
  knobEdited: 0,      // when the user last moved a knob
  polls: 0,           // polls since the chart was last read
  schedules: null,    // the latest GET /api/schedules rows, null until read
  schedPolls: 0,      // polls since the schedules were last read
};

// ---------- helpers ----------

function highlight(value) {
  const json = esc(JSON.stringify(value, null, 2));
  return json.replace(/(&quot;(?:\\.|[^&\\]|&(?!quot;))*&quot;)(\s*:)?|\b(true|false|null)\b|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g,
    (m, str, colon, lit) => {
      if (str) return colon ? `<span class="k">${str}</span>${colon}` : `<span class="s">${str}</span>`;
      if (lit) return `<span class="b">${m}</span>`;
      return `<span class="n">${m}</span>`;
    });
}

// ---------- rendering ----------

function setStat(key, value) {
  const el = document.getElementById("stat-" + key);
  if (!el) return;
  const text = String(value);
  if (el.textContent !== text) {
    el.textContent = text;
    const card = el.closest(".stat");
    if (card && card.classList.contains("stat") && !card.classList.contains("totals")) {
      card.classList.remove("bump");
      void card.offsetWidth; // restart the animation
      card.classList.add("bump");
    }
  }
}

// limitText writes one set of limits (the API's limit fields) the short
// way: "5 at once, 200/1.0s"; "" for none.
function limitText(l) {
  const parts = [];
  if (l.concurrency_limit) parts.push(`${l.concurrency_limit} at once`);
  if (l.rate_limit) parts.push(`${l.rate_limit}/${dur(l.rate_per_ms)}`);
  return parts.join(", ");
}

// renderLimits shows the queue's limits and its kinds' in the top bar's
// limits chip, hidden while there are none.
function renderLimits(s) {
  const parts = [];
  const own = limitText(s);
  if (own) parts.push(`queue ${own}`);
  for (const kind of Object.keys(s.kind_limits || {}).sort()) {
    parts.push(`${kind} ${limitText(s.kind_limits[kind])}`);
  }
  $("#limits-chip").hidden = parts.length === 0;
  $("#limits").textContent = parts.join(" · ");
}

function renderStats(s) {
  for (const k of ["pending_depth", "scheduled_depth", "processing_depth", "completed_depth", "dead_depth",
    "enqueued_total", "completed_total", "retried_total", "dead_total", "reclaimed_total", "hung_total"]) {
    setStat(k, s[apiWord(k)]);
  }
  $("#queue-name").textContent = s.queue;
  $("#paused-badge").hidden = !s.paused;
  renderLimits(s);
  document.title = `${s.queue} · jobqueue`;
  const chip = $("#backend-chip");
  const isMemory = /memory/.test(s.backend);
  chip.classList.toggle("memory", isMemory);
  chip.classList.toggle("redis", !isMemory);
  $("#backend-name").textContent = isMemory ? "in-memory backend" : s.backend;
  chip.title = s.backend;
  $("#lease").textContent = dur(s.visibility_ms); // the API's name for the lease

  // Throughput over the last ~5 s, and a one-minute sparkline.
  const t = Date.now();
  state.samples.push([t, s.completed_total]);
  while (state.samples.length > 80) state.samples.shift();
  const recent = state.samples.filter(([ts]) => t - ts <= 5000);
  let rate = 0;
  if (recent.length > 1) {
    const [t0, c0] = recent[0];
    rate = Math.max(0, (s.completed_total - c0) / ((t - t0) / 1000));
  }
  $("#rate").textContent = rate.toFixed(1);
  const rates = [];
  for (let i = 1; i < state.samples.length; i++) {
    const [ta, ca] = state.samples[i - 1], [tb, cb] = state.samples[i];
    rates.push(Math.max(0, (cb - ca) / Math.max(0.001, (tb - ta) / 1000)));
  }
  const peak = Math.max(1, ...rates);
  const pts = rates.map((r, i) => `${(i / Math.max(1, rates.length - 1)) * 120},${26 - (r / peak) * 24}`).join(" ");
  $("#spark-line").setAttribute("points", pts);
}

// renderPool shows the worker pool: its size, each worker and the knobs.
// The pool runs in the server's process, so the server reports it even
// while the store does not answer; p is null when the server itself does
// not answer, and the pool's state is unknown.
function renderPool(p) {
  const tag = $("#pool-state");
  if (!p) {
    tag.textContent = "unknown";
    tag.classList.remove("on");
    return;
  }
  state.poolRunning = p.running > 0;
  tag.textContent = state.poolRunning ? `${p.running} running` : "stopped";
  tag.classList.toggle("on", state.poolRunning);
  $("#stop-btn").disabled = !state.poolRunning;
  $("#start-btn").textContent = state.poolRunning ? "Restart with size" : "Start workers";
  const dots = $("#worker-dots");
  const html = p.workers.map((w) =>
    `<span class="wdot ${esc(w.state)}" title="worker ${w.id}: ${esc(w.state)}${w.job ? " " + esc(w.job.slice(0, 8)) : ""} · ${w.served} served"></span>`).join("");
  if (dots.dataset.html !== html) { dots.innerHTML = html; dots.dataset.html = html; }
  // Keep the knobs in step with the server unless the user is moving one.
  if (!state.knobTimer && Date.now() - state.knobEdited > 2000 && document.activeElement?.type !== "range") {
    setKnob("#latency", p.work_latency_ms);
    setKnob("#fail-rate", p.fail_rate);
    setKnob("#hang-rate", p.hang_rate);
    const size = $("#pool-size");
    if (state.poolRunning && document.activeElement !== size && size.value !== String(p.running)) {
      size.value = p.running;
    }
  }
}

function setKnob(sel, v) {
  const el = $(sel);
  if (String(el.value) !== String(v)) { el.value = v; showKnob(el); }
}

function showKnob(el) {
  const pct = ((el.value - el.min) / (el.max - el.min)) * 100;
  el.style.setProperty("--fill", `${pct}%`);
  const out = document.getElementById(el.id + "-out");
  out.textContent = el.id === "latency" ? `${el.value} ms` : `${Math.round(el.value * 100)}%`;
}

function cardHTML(j, st) {
  const kind = j.kind || "job";
  let foot = `<span class="pill${j.attempts > 1 ? " warn" : ""}" title="attempts used of allowed">${j.attempts}/${j.max_attempts}</span>`;
  if (j.priority) foot += `<span class="pill prio" title="priority level: higher runs first">P${Number(j.priority)}</span>`;
  let extra = "";
  if (st === "processing") {
    const left = j.lease_until_ms - now();
    if (j.hung) foot += `<span class="badge">hung</span>`;
    foot += `<span class="when">${left > 0 ? "lease " + dur(left) : "lease expired"}</span>`;
    extra = `<div class="lease"><i></i></div>`;
  } else if (st === "scheduled") {
    foot += `<span class="when">runs ${rel(j.run_at_ms)}</span>`;
  } else if (st === "completed" || st === "dead") {
    foot += `<span class="when">${rel(j.finished_at_ms)}</span>`;
  } else {
    foot += `<span class="when">queued ${rel(j.enqueued_at_ms)}</span>`;
  }
  const err = j.last_error && st !== "completed" ? `<div class="err" title="${esc(j.last_error)}">${esc(j.last_error)}</div>` : "";
  return `<div class="top"><span class="kind">${(Object.hasOwn(ICONS, kind) && ICONS[kind]) || ICONS.other}${esc(kind)}</span><span class="id">${esc(j.id.slice(0, 8))}</span></div>` +
    (j.recipient ? `<div class="who" title="${esc(j.recipient)}">${esc(j.recipient)}</div>` : "") +
    err + extra + `<div class="foot">${foot}</div>`;
}

function renderColumn(st, jobs, depth) {
  const col = document.getElementById("col-" + st);
  const box = col.querySelector(".cards");
  $("#count-" + st).textContent = depth > jobs.length ? `${jobs.length} of ${depth}` : String(depth);
  col.classList.toggle("has-jobs", jobs.length > 0);

  const existing = new Map();
  for (const el of box.querySelectorAll(".job")) existing.set(el.dataset.id, el);
  const lease = state.last ? state.last.stats.visibility_ms : 5000;
  let prev = null;
  for (const j of jobs) {
    let el = existing.get(j.id);
    if (el) {
      existing.delete(j.id);
      el.classList.remove("new");
    } else {
      el = document.createElement("button");
      el.type = "button";
      el.className = "job new";
      el.dataset.id = j.id;
      el.addEventListener("click", () => openDrawer(j.id));
    }
    el.dataset.state = st;
    const html = cardHTML(j, st);
    if (el.dataset.html !== html) { el.innerHTML = html; el.dataset.html = html; }
    const expired = st === "processing" && j.lease_until_ms <= now();
    el.classList.toggle("hung", !!j.hung);
    el.classList.toggle("expired", expired);
    const bar = el.querySelector(".lease i");
    if (bar) {
      const left = Math.max(0, j.lease_until_ms - now());
      bar.style.width = `${Math.min(100, (left / lease) * 100)}%`;
    }
    const want = prev ? prev.nextSibling : box.firstChild;
    if (want !== el) box.insertBefore(el, want);
    prev = el;
  }
  for (const el of existing.values()) el.remove();
}

function render(data) {
  state.last = data;
  setServerTime(data.now_ms);
  renderStats(data.stats);
  renderPool(data.pool);
  for (const st of STATES) renderColumn(st, data[apiWord(st)] || [], data.stats[apiWord(st) + "_depth"]);
}

// renderHistory draws completed and failed jobs per minute as bars, two
// per minute, scaled to the busiest minute. Minutes with nothing draw no
// bar; the chart's data attributes say what it shows.
function renderHistory(points) {
  const svg = $("#history-chart");
  const W = 600, H = 80, n = Math.max(1, points.length), slot = W / n;
  const peak = Math.max(1, ...points.map((p) => Math.max(p.completed, p.failed)));
  let html = `<line class="base" x1="0" y1="${H - 0.5}" x2="${W}" y2="${H - 0.5}"/>`;
  let completed = 0, failed = 0, active = 0;
  points.forEach((p, i) => {
    completed += p.completed;
    failed += p.failed;
    if (p.completed + p.failed > 0) active++;
    const at = new Date(Date.parse(p.minute)).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    const tip = `${at}: ${p.completed} completed, ${p.failed} failed, ${p.enqueued} enqueued, ${p.retried} retried, ${p.dead} dead, ${p.reclaimed} reclaimed`;
    const bar = (cls, v, x) => {
      if (v <= 0) return "";
      const h = Math.max(2, (v / peak) * (H - 4));
      return `<rect class="${cls}" data-minute="${esc(p.minute)}" data-n="${v}" x="${x.toFixed(2)}" y="${(H - h).toFixed(2)}" width="${(slot * 0.4).toFixed(2)}" height="${h.toFixed(2)}"><title>${esc(tip)}</title></rect>`;
    };
    html += bar("bar-completed", p.completed, i * slot + slot * 0.08) + bar("bar-failed", p.failed, i * slot + slot * 0.52);
  });
  if (svg.dataset.html !== html) { svg.innerHTML = html; svg.dataset.html = html; }
  svg.dataset.minutes = String(points.length);
  svg.dataset.completed = String(completed);
  svg.dataset.failed = String(failed);
  svg.dataset.active = String(active);
  $("#history-from").textContent = `${points.length} min ago`;
}

async function pollHistory() {
  state.polls = 0;
  try {
    const r = await request("GET", "/api/history", { minutes: HISTORY_MINUTES });
    renderHistory(r.points);
  } catch (e) {
    $("#history-note").textContent = e.message;
  }
}

// nextTick returns the first of a schedule's next ticks still ahead, in
// ms, or 0 when all are past (the page has yet to read the next ones).
function nextTick(sc) {
  for (const t of sc.next || []) {
    const ms = Date.parse(t);
    if (ms > now()) return ms;
  }
  return 0;
}

function localTime(ms) {
  return new Date(ms).toLocaleString([], { hour12: false });
}

// renderSchedules lists the schedules: name, spec and zone, the last tick
// enqueued and the next one, both relative to now and absolute in the
// cell's title, or "abandoned" for a schedule no Scheduler has recorded
// for two ticks (whose next tick no one will enqueue). The rows' data
// attributes carry the times as RFC 3339.
function renderSchedules() {
  if (!state.schedules) return; // not read yet: neither rows nor "none"
  const panel = $("#schedules");
  const body = $("#schedules-body");
  panel.dataset.count = String(state.schedules.length);
  const rows = new Map();
  for (const tr of body.querySelectorAll("tr")) rows.set(tr.dataset.name, tr);
  let prev = null;
  for (const sc of state.schedules) {
    let tr = rows.get(sc.name);
    if (tr) {
      rows.delete(sc.name);
    } else {
      tr = document.createElement("tr");
      tr.dataset.name = sc.name;
      tr.innerHTML = `<td class="s-name"></td><td class="s-spec"></td><td class="s-last"></td><td class="s-next"></td>`;
    }
    tr.querySelector(".s-name").textContent = sc.name;
    const spec = `<code>${esc(sc.spec || "?")}</code>${sc.tz ? ` <small>${esc(sc.tz)}</small>` : ""}`;
    const specCell = tr.querySelector(".s-spec");
    if (specCell.dataset.html !== spec) { specCell.innerHTML = spec; specCell.dataset.html = spec; }
    specCell.title = `missed ticks: ${sc.missed || "?"}`;

    const last = sc.last_tick ? Date.parse(sc.last_tick) : 0;
    tr.dataset.last = sc.last_tick || "";
    const lastCell = tr.querySelector(".s-last");
    lastCell.textContent = last ? rel(last) : "never";
    const seen = sc.seen ? Date.parse(sc.seen) : 0;
    lastCell.title = (last ? localTime(last) : "no tick enqueued yet") + (seen ? `; a Scheduler last seen running it ${localTime(seen)}` : "");
    lastCell.classList.toggle("never", !last);
    tr.dataset.abandoned = sc.abandoned ? "true" : "false";

    const nextCell = tr.querySelector(".s-next");
    const next = nextTick(sc);
    tr.dataset.next = next ? new Date(next).toISOString() : "";
    nextCell.classList.toggle("unreadable", !!sc.error);
    nextCell.classList.toggle("abandoned", !sc.error && !!sc.abandoned);
    if (sc.error) {
      nextCell.textContent = "unreadable";
      nextCell.title = sc.error;
    } else if (sc.abandoned) {
      nextCell.textContent = "abandoned";
      nextCell.title = `no Scheduler has recorded it since ${seen ? localTime(seen) : "?"}: its ticks are not enqueued (jobqueue schedules -rm ${sc.name} removes it)`;
    } else {
      nextCell.textContent = next ? rel(next) : (sc.next && sc.next.length ? "due" : "none");
      nextCell.title = next ? localTime(next) : "";
    }
    const want = prev ? prev.nextSibling : body.firstChild;
    if (want !== tr) body.insertBefore(tr, want);
    prev = tr;
  }
  for (const tr of rows.values()) tr.remove();
}

// schedulesStale reports whether a listed tick is past by more than the
// Scheduler needs to record it, so that reading again shows its last run
// and the ticks after it.
function schedulesStale() {
  return (state.schedules || []).some((sc) => !sc.error && sc.next && sc.next.length && Date.parse(sc.next[0]) < now() - TICK_SETTLE_MS);
}

async function pollSchedules() {
  state.schedPolls = 0;
  try {
    const r = await request("GET", "/api/schedules");
    state.schedules = r.schedules || [];
    $("#schedules-note").textContent = "from the store";
    $("#schedules-note").classList.remove("error");
  } catch (e) {
    $("#schedules-note").textContent = e.message;
    $("#schedules-note").classList.add("error");
  }
  renderSchedules();
}

// ---------- polling ----------

async function poll() {
  try {
    const data = await request("GET", "/api/jobs");
    render(data);
    clearOutage();
    $(".controls").inert = false;
    if (state.openId) await refreshDrawer();
    if (++state.polls >= HISTORY_EVERY) await pollHistory();
    if (++state.schedPolls >= SCHEDULES_EVERY || (state.schedPolls >= 2 && schedulesStale())) await pollSchedules();
    else renderSchedules();
  } catch (e) {
    const o = outageOf(e);
    if (o) {
      showStale(o, e);
    } else {
      document.body.classList.remove("loading");
      $("#live").classList.add("down");
      $("#live-text").textContent = e.message;
    }
  } finally {
    setTimeout(poll, REFRESH_MS);
  }
}

// showStale shows an outage (base.js): the last numbers stay, greyed; the
// controls take no input; the pool shows as the server reports it in its
// 503, or as unknown when the server itself does not answer.
function showStale(o, e) {
  showOutage(o);
  $(".controls").inert = true;
  renderPool(o.server ? null : (e.body && e.body.pool) || null);
}

// ---------- drawer ----------

async function openDrawer(id) {
  state.openId = id;
  showDrawer(id);
  await refreshDrawer();
}

function closeDrawer() {
  state.openId = null;
  hideDrawer();
}

function fact(label, iso) {
  if (!iso) return "";
  const ms = Date.parse(iso);
  return `<dt>${label}</dt><dd>${esc(new Date(ms).toLocaleTimeString([], { hour12: false }))}.${String(ms % 1000).padStart(3, "0")} <small>${rel(ms)}</small></dd>`;
}

async function refreshDrawer() {
  const id = state.openId;
  let j;
  try {
    j = await request("GET", "/api/job", { id });
  } catch (e) {
    if (id !== state.openId) return;
    $("#drawer-kind").innerHTML = "";
    $("#drawer-body").innerHTML = e instanceof ApiError && e.status === 404
      ? `<p class="gone">${esc(e.message)}. The job was deleted, or it finished and its record expired.</p>`
      : `<p class="gone">Not read: ${esc(e.message)}</p>`;
    $("#drawer-actions").hidden = true;
    return;
  }
  if (id !== state.openId) return;
  const kind = j.kind || "job";
  const st = pageWord(j.state);
  $("#drawer-kind").innerHTML = `<span class="state-tag st-${esc(st)}">${esc(st)}</span>${(Object.hasOwn(ICONS, kind) && ICONS[kind]) || ICONS.other}<span>${esc(kind)}</span>`;
  let html = "";
  if (j.hung) {
    html += `<div class="hungbox"><b>A hung worker abandoned this job.</b> Nobody heartbeats it any more; once its lease runs out, <b>Run reclaim sweep</b> sends it back to pending.</div>`;
  }
  html += `<dl class="facts">
    ${j.recipient ? `<dt>recipient</dt><dd>${esc(j.recipient)}</dd>` : ""}
    <dt>attempts</dt><dd>${j.attempts} of ${j.max_attempts}</dd>
    <dt>priority</dt><dd>${Number(j.priority || 0)}</dd>
    ${j.timeout_ms ? `<dt>timeout</dt><dd>${dur(j.timeout_ms)}</dd>` : ""}${fact("expires", j.expires_at)}
    ${fact("enqueued", j.enqueued_at)}${fact("runs at", j.run_at)}${fact("last claimed", j.claimed_at)}
    ${fact("lease until", j.lease_until)}${fact("finished", j.finished_at)}
  </dl>`;
  if (j.last_error) html += `<div><p class="section-title">Last error</p><div class="errbox">${esc(j.last_error)}</div></div>`;
  html += `<div><p class="section-title">Payload</p><pre class="json">${highlight(j.payload)}</pre></div>`;
  if (j.result !== undefined) html += `<div><p class="section-title">Result</p><pre class="json">${highlight(j.result)}</pre></div>`;
  const body = $("#drawer-body");
  if (body.dataset.html !== html) { body.innerHTML = html; body.dataset.html = html; }
  $("#drawer-actions").hidden = false;
  $("#retry-btn").hidden = st !== "dead";
  $("#delete-btn").textContent = st === "dead" ? "Delete" : "Delete job…";
}

// ---------- actions ----------

async function act(btn, fn) {
  if (btn) btn.disabled = true;
  try {
    return await fn();
  } catch (e) {
    toast(e.message, true);
  } finally {
    if (btn) btn.disabled = false;
  }
}

function enqueue(count) {
  const fields = {
    kind: document.querySelector('input[name="kind"]:checked').value,
    recipient: $("#recipient").value.trim(),
    priority: $("#priority").value,
    count: String(count),
  };
  return act($("#enqueue-btn"), async () => {
    const r = await request("POST", "/api/enqueue", fields);
    toast(`Enqueued ${r.enqueued.length} ${fields.kind} ${r.enqueued.length === 1 ? "job" : "jobs"}`);
    poll.now();
  });
}

function knobFields(withSize) {
  const f = {
    work_latency_ms: $("#latency").value,
    fail_rate: $("#fail-rate").value,
    hang_rate: $("#hang-rate").value,
  };
  if (withSize) f.size = $("#pool-size").value;
  return f;
}

function applyKnobs() {
  state.knobEdited = Date.now();
  clearTimeout(state.knobTimer);
  state.knobTimer = setTimeout(async () => {
    try {
      await request("POST", "/api/workers/configure", knobFields(state.poolRunning));
      $("#pool-hint").textContent = state.poolRunning ? "Applied to the running pool." : "Saved; used when the pool starts.";
    } catch (e) {
      toast(e.message, true);
    } finally {
      state.knobTimer = null;
    }
  }, 200);
}

function setup() {
  for (const sel of ["#latency", "#fail-rate", "#hang-rate"]) showKnob($(sel));
  $("#enqueue-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    enqueue($("#count").value);
  });
  for (const b of document.querySelectorAll(".quick")) {
    b.addEventListener("click", () => enqueue(b.dataset.count));
  }
  $("#pool-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    act($("#start-btn"), async () => {
      const r = await request("POST", "/api/workers/start", knobFields(true));
      toast(`${r.stats.workers_running} workers running`);
      poll.now();
    });
  });
  $("#stop-btn").addEventListener("click", () => act($("#stop-btn"), async () => {
    await request("POST", "/api/workers/stop");
    toast("Workers stopped; their jobs went back to pending");
    poll.now();
  }));
  $("#pool-size").addEventListener("change", () => { if (state.poolRunning) applyKnobs(); });
  for (const sel of ["#latency", "#fail-rate", "#hang-rate"]) {
    $(sel).addEventListener("input", (ev) => { showKnob(ev.target); applyKnobs(); });
  }
  $("#reclaim-btn").addEventListener("click", () => act($("#reclaim-btn"), async () => {
    const r = await request("POST", "/api/reclaim");
    const n = r.reclaimed.length;
    const msg = n === 0 ? "Sweep found no expired lease."
      : `Reclaimed ${n} ${n === 1 ? "job" : "jobs"}: ${r.requeued.length} back to pending, ${r.dead.length} dead-lettered.`;
    $("#last-sweep").innerHTML = `<b>${new Date().toLocaleTimeString([], { hour12: false })}</b> — ${esc(msg)}`;
    toast(msg);
    poll.now();
  }));
  $("#reset-btn").addEventListener("click", () => {
    if (!confirm("Delete every job and counter of this queue?")) return;
    act($("#reset-btn"), async () => {
      await request("POST", "/api/reset");
      state.samples = [];
      $("#last-sweep").textContent = "No sweep yet.";
      pollHistory();
      pollSchedules();
      toast("Queue reset");
      poll.now();
    });
  });
  $("#drawer-close").addEventListener("click", closeDrawer);
  $("#scrim").addEventListener("click", closeDrawer);
  document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") closeDrawer(); });
  $("#retry-btn").addEventListener("click", () => act($("#retry-btn"), async () => {
    await request("POST", "/api/job/retry", { id: state.openId });
    toast("Job sent back to pending with fresh attempts");
    await refreshDrawer();
    poll.now();
  }));
  $("#delete-btn").addEventListener("click", () => {
    const j = state.openId;
    const st = document.querySelector(`.job[data-id="${CSS.escape(j)}"]`)?.dataset.state;
    if (st !== "dead" && !confirm("This job is not dead. Delete it anyway?")) return;
    act($("#delete-btn"), async () => {
      await request("POST", "/api/job/delete", { id: j });
      toast("Job deleted");
      closeDrawer();
      poll.now();
    });
  });
}

// poll.now refreshes at once after an action, without waiting for the timer.
poll.now = async () => {
  try { render(await request("GET", "/api/jobs")); } catch { /* the timer retries */ }
};

document.addEventListener("DOMContentLoaded", () => {
  setup();
  pollHistory();
  pollSchedules();
  poll();
});
