-- lib.lua opens the jobqueue library of Redis Functions (script.go builds
-- it): the helpers and the argument layout below are written once, and
-- every other file of this directory is the body of one function, which
-- first calls bind.
--
-- Every script receives the same KEYS and the same first two ARGV:
--   KEYS[1] queue:{q}:pending     list, pending jobs of priority level 0, next
--                                 to claim on the left
--   KEYS[2] queue:{q}:processing  zset, score = lease deadline (ms)
--   KEYS[3] queue:{q}:scheduled   zset, score = run-at (ms)
--   KEYS[4] queue:{q}:completed   list, most recent first
--   KEYS[5] queue:{q}:dead        list, most recent first
--   KEYS[6] queue:{q}:stats       hash of counters
--   KEYS[7] queue:{q}:marker      list of at most one element: wakes blocked claimers
--   KEYS[8] queue:{q}:pending:1   list, pending jobs of priority level 1
--   KEYS[9] queue:{q}:pending:2   ... of level 2
--   KEYS[10] queue:{q}:pending:3  ... of level 3 (MAX_LEVEL), claimed first
--   KEYS[11] queue:{q}:req:<id>   string, the request record of this call; only
--                                 for a mutating call made with a request id
--   ARGV[1] job key prefix, "queue:{q}:job:" (job hashes share the hash tag)
--   ARGV[2] events channel, "queue:{q}:events"
-- Script-specific arguments start at ARGV[3]. The registry's scripts
-- (register.lua, forget.lua, queues.lua) are the exception: they work on
-- no queue, and receive the registry, jobqueue:queues, as their one key
-- and their own arguments from ARGV[1]; bind's names mean nothing there.
--
-- Besides KEYS, the scripts touch keys they derive, which share the
-- queue's hash tag and so its Cluster slot: the job hashes (ARGV[1] and
-- the id), the history hashes, queue:{q}:hist:<hour> (see record),
-- queue:{q}:workers (zset, process id -> expiry in ms, see beat.lua,
-- workers_key), queue:{q}:cancelled (list, see cancelled_key), the
-- settings of control.lua (control_key, starts_key) and those of kinds
-- (kind_key), the unique keys,
-- queue:{q}:unique:<key> (see unique_key), and queue:{q}:schedules (hash,
-- see schedule.lua, schedules_key).
--
-- REQUEST_WINDOW_MS, how long a request record lasts at least,
-- MAX_LEVEL, the highest priority level, HISTORY_MS, how long the
-- per-minute history is kept, MAX_LIMITED_KINDS, how many kinds may
-- have limits, and MAX_PREVIEWED, the largest payload a summary
-- previews, are defined on the lines before this file (script.go), from
-- backend.RequestWindow, backend.MaxPriority, backend.HistoryRetention,
-- backend.MaxLimitedKinds and backend.MaxPreviewedPayload.
--
-- A job's priority level (its 'priority' field, absent for 0) says which
-- pending list holds it: level 0 keeps the pending key of the time before
-- levels, so the jobs a queue held then stay valid. Every move to pending
-- goes to the job's own level; a claim reads the levels highest first.
--
-- The library is loaded once and its functions are called many times, so
-- the names below outlive a call: bind sets every one of them at the start
-- of each call, K_REQUEST to nil when the call has no request record.
-- Redis runs one function at a time, so no call sees another's. enqueue.lua
-- runs several callers' calls at once and finds their request records in
-- KEYS itself; K_REQUEST is not its record.
--
-- Time is always read with TIME, never passed by a client, so clock skew
-- between worker hosts cannot expire a lease early. Numbers are handed to
-- redis.call as Lua numbers (formatted by Redis without exponent) or, when
-- one is passed many times per call, formatted once by fmt; never through
-- tostring, which would turn large millisecond stamps into 1.7e+12.
--
-- Every list, zset and counter write is made once per call with all the
-- ids it concerns, not once per job: Redis's cost is mostly per command.

local K_PROCESSING, K_SCHEDULED
local K_COMPLETED, K_DEAD, K_STATS, K_MARKER
local K_REQUEST
local JOB_PREFIX, CHANNEL
-- HIST_DATED is set once a call has given this hour's history hash its
-- expiry (see record); bind clears it.
local HIST_DATED
-- K_LEVEL[l] is the pending list of level l, 0 to MAX_LEVEL (KEYS[1] for
-- level 0). The table is kept across calls and refilled by bind.
local K_LEVEL = {}

local function bind(keys, args)
  K_PROCESSING, K_SCHEDULED = keys[2], keys[3]
  K_COMPLETED, K_DEAD, K_STATS, K_MARKER = keys[4], keys[5], keys[6], keys[7]
  K_LEVEL[0] = keys[1]
  for l = 1, MAX_LEVEL do
    K_LEVEL[l] = keys[7 + l]
  end
  K_REQUEST = keys[8 + MAX_LEVEL]
  JOB_PREFIX, CHANNEL = args[1], args[2]
  HIST_DATED = false
end

-- Bounds keep every call's cost proportional to its own batch.
local PROMOTE_BATCH = 1000
local PRUNE_BATCH = 100

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function job_key(id)
  return JOB_PREFIX .. id
end

-- read_status is the status a read reports of a record whose status and
-- run_at_ms fields are status and run_at (either may be nil): a scheduled
-- job whose run time has come reads as pending, as a claim would find it,
-- while its record stays as it is until a claim or a reclaim promotes it.
-- now is the time in ms, or nil to read it only for a scheduled job.
local function read_status(status, run_at, now)
  if status == 'scheduled' then
    local t = tonumber(run_at)
    if t and t <= (now or now_ms()) then
      return 'pending'
    end
  end
  return status
end

-- workers_key is queue:{q}:workers: JOB_PREFIX, queue:{q}:job:, less its
-- last four characters, 'job:'.
local function workers_key()
  return string.sub(JOB_PREFIX, 1, -5) .. 'workers'
end

-- control_key is queue:{q}:control, the queue's settings (control.lua):
-- paused, conc, rate and per_ms, and slot_wanted (see claim.lua); and
-- starts_key is queue:{q}:starts, the zset of the starts (claim token ->
-- claim time in ms) within the rate limit's window. Both are derived as
-- workers_key is.
local function control_key()
  return string.sub(JOB_PREFIX, 1, -5) .. 'control'
end

local function starts_key()
  return string.sub(JOB_PREFIX, 1, -5) .. 'starts'
end

-- slot_wanted reports whether a claim met the queue's concurrency limit
-- while jobs were pending: a call that takes jobs out of processing then
-- arms the marker, so that a waiting claimer takes the freed slot.
local function slot_wanted()
  return redis.call('HGET', control_key(), 'slot_wanted') == '1'
end

-- unique_key is queue:{q}:unique:<key>, a string holding the id of the job
-- that holds the unique key (backend.Unique) for its window (PX). It is
-- derived as workers_key is.
local function unique_key(key)
  return string.sub(JOB_PREFIX, 1, -5) .. 'unique:' .. key
end

-- release_unique gives up the unique key of job id, whose 'unique' field
-- is field ("<on> <key>", on: the letters of the finished states that end
-- the hold, c for completed and d for dead; the field is written only
-- when on is not empty), as the job enters the state of letter, or is
-- deleted or purged (letter nil). Only a key the job still holds is
-- deleted: once its window ended, another job may hold it.
local function release_unique(id, field, letter)
  if not field then
    return
  end
  local on, key = string.match(field, '^(%a+) (.+)$')
  if key and (not letter or string.find(on, letter, 1, true)) then
    local k = unique_key(key)
    if redis.call('GET', k) == id then
      redis.call('DEL', k)
    end
  end
end

-- schedules_key is queue:{q}:schedules, derived as workers_key is (see
-- schedule.lua).
local function schedules_key()
  return string.sub(JOB_PREFIX, 1, -5) .. 'schedules'
end

-- earlier_run returns what the first run of this very call recorded (see
-- remember), or false when the call has no request id or has not changed
-- anything before. backend.Backend's "Lost replies and repeated calls"
-- says what a repeat returns.
local function earlier_run()
  if not K_REQUEST then
    return false
  end
  return redis.call('GET', K_REQUEST)
end

-- remember records that this call changed something, and value, what a
-- repeat needs to answer as the first run did. The record lasts the request
-- window, or min_ms when that is longer (a claim's lease).
local function remember(value, min_ms)
  if K_REQUEST then
    redis.call('SET', K_REQUEST, value, 'PX', math.max(REQUEST_WINDOW_MS, min_ms or 0))
  end
end

-- first_run is earlier_run and remember in one command, for the hot path
-- of a call that usually succeeds (enqueue), whose request record is key
-- (false when the call has none): it records the call, with value, before
-- it runs and reports whether this is its first run. A first run that then
-- fails must forget key, since a call that changed nothing leaves no
-- record.
local function first_run(key, value)
  if not key then
    return true
  end
  return not redis.call('SET', key, value, 'NX', 'GET', 'PX', REQUEST_WINDOW_MS)
end

local function forget(key)
  if key then
    redis.call('DEL', key)
  end
end

-- arm_marker lets one blocked claimer (BLPOP on the marker) wake up. The
-- marker never holds more than one element and carries no job: the job is
-- only ever taken by claim.lua, so a claimer that dies after waking loses
-- nothing.
local function arm_marker()
  -- Already armed is the common case under load: one LLEN, no write.
  if redis.call('LLEN', K_MARKER) == 0 then
    redis.call('LPUSH', K_MARKER, '1')
  end
end

-- The limits of kinds (backend.LimitParams.Kind) keep, with the
-- queue's hash tag, derived as workers_key is:
--   queue:{q}:klimits         hash, kind -> "conc rate per_ms" ('0' for
--                             none), written by control.lua
--   queue:{q}:krun:<kind>     zset, the jobs in processing that were
--                             claimed under the kind's limit (id -> claim
--                             time in ms); their 'kslot' field holds the
--                             token they were claimed with
--   queue:{q}:kstarts:<kind>  zset, the kind's starts within its rate's
--                             window (claim token -> claim time in ms)
--   queue:{q}:kheld:<kind>:<level>
--                             list, pending jobs of the kind and priority
--                             level that a claim passed by while the kind
--                             was at its limit, oldest first (claim.lua;
--                             see held_key)
--   queue:{q}:kheld           set, the kinds whose kheld lists may exist
-- The control hash's 'kinds' field is set while klimits or kheld may
-- hold anything, so that a claim on a queue without them reads neither.
local function kind_key(name, kind)
  local k = string.sub(JOB_PREFIX, 1, -5) .. name
  if kind then
    k = k .. ':' .. kind
  end
  return k
end

-- held_key is the kheld list of kind at level (kinds have no ':'), and
-- held_keys(kind) those of every level, the highest first.
local function held_key(kind, level)
  return kind_key('kheld', kind) .. ':' .. level
end

local function held_keys(kind)
  local keys = {}
  for l = MAX_LEVEL, 0, -1 do
    keys[#keys + 1] = held_key(kind, l)
  end
  return keys
end

-- publish sends one event message, "kind id1 id2 ...". Ids never contain
-- spaces (backend.ValidateID), and payloads are never included.
local function publish(kind, ids)
  if #ids > 0 then
    redis.call('PUBLISH', CHANNEL, kind .. ' ' .. table.concat(ids, ' '))
  end
end

-- publish_queue sends an event about the whole queue, which names no job:
-- "purged", or a change of its settings ("paused", "resumed", "limits").
local function publish_queue(kind)
  redis.call('PUBLISH', CHANNEL, kind)
end

-- CHUNK bounds the arguments of one multi-value command built with
-- unpack, which Lua's C stack limits to a few thousand values.
local CHUNK = 1000

-- call_chunked runs cmd key v1 v2 ... over vals in chunks of CHUNK values
-- and returns the first chunk's reply (nil when vals is empty).
local function call_chunked(cmd, key, vals)
  local first
  for i = 1, #vals, CHUNK do
    local r = redis.call(cmd, key, unpack(vals, i, math.min(i + CHUNK - 1, #vals)))
    if i == 1 then
      first = r
    end
  end
  return first
end

-- del_all deletes keys, CHUNK keys per DEL.
local function del_all(keys)
  for i = 1, #keys, CHUNK do
    redis.call('DEL', unpack(keys, i, math.min(i + CHUNK - 1, #keys)))
  end
end

-- fmt formats a whole number once for the redis.call arguments that use
-- it many times; '%d' never writes an exponent.
local function fmt(n)
  return string.format('%d', n)
end

-- The per-minute history (backend.Historian) is one hash per hour,
-- queue:{q}:hist:<the hour's start, Unix seconds>, whose fields are
-- <counter>:<minute of the hour, 0 to 59>. Each hash expires HISTORY_MS
-- and one hour after its hour began, just after the last of its minutes
-- has left the window, so the whole window stays readable.
local MINUTE_MS, HOUR_MS = 60000, 3600000

-- hist_key returns the key of the history hash of the hour that starts
-- at hour (ms). The queue's prefix is the job key prefix less 'job:'.
local function hist_key(hour)
  return string.sub(JOB_PREFIX, 1, -5) .. 'hist:' .. fmt(hour / 1000)
end

-- record adds n to the counter name of the minute of now in the history.
-- HINCRBY answers n when the field is new, and only then can the hash be
-- new: its expiry (absolute, so setting it again changes nothing) is set
-- then, at most once per call. So a counter costs one command, and one
-- more in its first call of a minute.
local function record(name, n, now)
  if n <= 0 then
    return
  end
  local hour = now - now % HOUR_MS
  local key = hist_key(hour)
  local v = redis.call('HINCRBY', key, name .. ':' .. fmt((now - hour - now % MINUTE_MS) / MINUTE_MS), n)
  if v == n and not HIST_DATED then
    redis.call('PEXPIREAT', key, hour + HISTORY_MS + HOUR_MS)
    HIST_DATED = true
  end
end

-- hist_keys returns the keys of every history hash of the queue that may
-- exist at now: the 25 hours that the window touches (an older one has
-- expired), and the next, in case TIME stepped back since it was written.
local function hist_keys(now)
  local keys, hour = {}, now - now % HOUR_MS
  for h = hour - HISTORY_MS, hour + HOUR_MS, HOUR_MS do
    keys[#keys + 1] = hist_key(h)
  end
  return keys
end

-- bump adds n to the stats counter field (<name>_total); with now, it
-- also records n under <name> in the history of the minute of now.
local function bump(field, n, now)
  if n > 0 then
    redis.call('HINCRBY', K_STATS, field, n)
    if now then
      record(string.sub(field, 1, -7), n, now)
    end
  end
end

-- is_level reports whether a priority field holds a level as the scripts
-- write it: one digit, 0 to MAX_LEVEL (parsePriority in decode.go).
local function is_level(p)
  return #p == 1 and p >= '0' and p <= string.char(48 + MAX_LEVEL)
end

-- level_of is the level of a job whose priority field is p (nil: absent,
-- level 0). A field that is no level reads as 0: the record is corrupt,
-- and a claim that meets it dead-letters it.
local function level_of(p)
  if p and is_level(p) then
    return string.byte(p) - 48
  end
  return 0
end

-- add_at appends id to by_level[level], a table of id lists by level.
local function add_at(by_level, level, id)
  local ids = by_level[level]
  if not ids then
    ids = {}
    by_level[level] = ids
  end
  ids[#ids + 1] = id
end

-- kind_slot notes in freed (a table of id lists by kind, see add_at) that
-- job id, of the given kind, frees its kind's slot as it leaves
-- processing with the claim token: when its kslot field equals token, it
-- was claimed under its kind's limit. release_kind_slots then frees them,
-- one ZREM per kind, and arms the marker when jobs of a kind wait in its
-- kheld lists.
local function kind_slot(freed, id, kind, kslot, token)
  if kslot and kind and kslot == token then
    add_at(freed, kind, id)
  end
end

local function release_kind_slots(freed)
  local wake = false
  for kind, ids in pairs(freed) do
    call_chunked('ZREM', kind_key('krun', kind), ids)
    wake = wake or redis.call('EXISTS', unpack(held_keys(kind))) > 0
  end
  if wake then
    arm_marker()
  end
end

-- push_levels pushes the ids of by_level (see add_at) to the tail of their
-- level's pending list, or, when at_head, to its head in the order given
-- (LPUSH puts its last argument first), one push per level. It reports
-- whether it found any of those lists empty.
local function push_levels(by_level, at_head)
  local found_empty = false
  for l = MAX_LEVEL, 0, -1 do
    local ids = by_level[l]
    if ids then
      local len
      if at_head then
        local rev = {}
        for i = #ids, 1, -1 do
          rev[#rev + 1] = ids[i]
        end
        len = call_chunked('LPUSH', K_LEVEL[l], rev)
      else
        len = call_chunked('RPUSH', K_LEVEL[l], ids)
      end
      if len == math.min(#ids, CHUNK) then
        found_empty = true
      end
    end
  end
  return found_empty
end

-- remove_pending takes pending job id, of priority field p and kind
-- kind, out of its level's list, or else out of its kind's kheld list of
-- that level (claim.lua): O(n) in the list, for an operator's action.
local function remove_pending(id, p, kind)
  local level = level_of(p)
  if redis.call('LREM', K_LEVEL[level], 0, id) == 0 and kind then
    redis.call('LREM', held_key(kind, level), 0, id)
  end
end

-- promote moves scheduled jobs that are due to the tail of their level of
-- pending, oldest run-at first, and arms the marker when it moved any.
local function promote(now)
  local due = redis.call('ZRANGEBYSCORE', K_SCHEDULED, '-inf', now, 'LIMIT', 0, PROMOTE_BATCH)
  if #due == 0 then
    return 0
  end
  redis.call('ZREM', K_SCHEDULED, unpack(due))
  local by_level, moved = {}, 0
  for _, id in ipairs(due) do
    local k = job_key(id)
    -- A missing record must not be recreated as a partial hash by HSET. A
    -- live record always has a status, so the EXISTS is only paid for a
    -- record that lacks one, which is promoted for a claim to dead-letter.
    local f = redis.call('HMGET', k, 'status', 'priority')
    if f[1] or redis.call('EXISTS', k) == 1 then
      redis.call('HSET', k, 'status', 'pending')
      add_at(by_level, level_of(f[2]), id)
      moved = moved + 1
    end
  end
  if moved > 0 then
    push_levels(by_level)
    arm_marker()
  end
  return moved
end

-- prune_tail drops ids from the old end of a history whose records have
-- expired (their TTL ran out), so depths and listings do not count them.
-- It returns the id and finished_at_ms of the live record at the old end,
-- false when the list is empty, or nil when its budget ran out.
local function prune_tail(list, state)
  for _ = 1, PRUNE_BATCH do
    local id = redis.call('LINDEX', list, -1)
    if not id then
      return false
    end
    local f = redis.call('HMGET', job_key(id), 'status', 'finished_at_ms')
    if f[1] == state then
      return id, tonumber(f[2])
    end
    redis.call('RPOP', list)
  end
  return nil
end

-- add_history records finished jobs (state 'completed' or 'dead'), in
-- the order given, at the recent end of their history list under a
-- retention of max entries and ttl ms; their records are already in that
-- state, finished at now. The list is pushed, trimmed and pruned once per
-- call, not once per job. Max or TTL 0 keeps nothing: the records are
-- deleted at once. A nil max trims nothing (see dead_letter).
--
-- An id enqueued again after its record expired may still be listed from
-- its earlier finish: that entry must go first, or the id would be listed
-- twice and trimming the stale entry would delete the fresh record. LREM
-- finds it, at O(list) per id, so it is skipped when no listed record can
-- have expired: the list is in finishing order, so every entry finished no
-- earlier than the old end's (its record's finished_at_ms: a live record
-- in the list's state is always listed by its own entry), and each was
-- given a TTL of at least the floor that the stats hash keeps per history
-- (<state>_ttl_floor, the least TTL pushed since the list was last empty).
-- This call's own ids are excluded from that test, since their records
-- already read as finished before their entries are pushed. The test
-- trusts Redis TIME not to step backwards.
local function add_history(list, state, ids, max, ttl, now)
  if #ids == 0 then
    return
  end
  if max and (max <= 0 or ttl <= 0) then
    local keys = {}
    for i, id in ipairs(ids) do
      keys[i] = job_key(id)
    end
    del_all(keys)
    return
  end
  local mine = {}
  for _, id in ipairs(ids) do
    mine[id] = true
  end
  local tail, tail_at = prune_tail(list, state)
  local floor_field = state .. '_ttl_floor'
  local floor = tonumber(redis.call('HGET', K_STATS, floor_field))
  local dedupe = true
  if tail == false then
    dedupe = false
  elseif tail and not mine[tail] and floor and tail_at and now < tail_at + floor then
    dedupe = false
  end
  if tail == false or not floor or ttl < floor then
    redis.call('HSET', K_STATS, floor_field, fmt(ttl))
  end
  local ttl_s = fmt(ttl)
  for _, id in ipairs(ids) do
    redis.call('PEXPIRE', job_key(id), ttl_s)
    if dedupe then
      redis.call('LREM', list, 0, id)
    end
  end
  -- LPUSH answers the list's new length, so the trim needs no LLEN and,
  -- with RPOP, one command that both reads and removes what goes.
  local len = 0
  for i = 1, #ids, CHUNK do
    len = redis.call('LPUSH', list, unpack(ids, i, math.min(i + CHUNK - 1, #ids)))
  end
  if max and len > max then
    local extra = redis.call('RPOP', list, len - max)
    -- The ids of this call that stay listed; no other entry can name them.
    local kept = {}
    for i = #ids, math.max(1, #ids - max + 1), -1 do
      kept[ids[i]] = true
    end
    local gone = {}
    for _, old in ipairs(extra) do
      local ok = job_key(old)
      -- The id may have been enqueued again since it expired: only a
      -- record still in this history is deleted with its entry.
      if not kept[old] and redis.call('HGET', ok, 'status') == state then
        gone[#gone + 1] = ok
      end
    end
    if #gone > 0 then
      del_all(gone)
    end
  end
end

-- dead_letter moves jobs (already out of pending, scheduled and
-- processing) to the dead history, each with its own reason. A nil max
-- means the caller knows no retention policy (claim.lua's corrupt
-- records): the jobs are kept for ttl ms and the history is not trimmed,
-- since any max guessed here could delete dead jobs that the queue's own
-- retention keeps. An empty claim_token or acked is unset (see ack.lua);
-- overwriting saves the HDEL.
local function dead_letter(ids, reasons, now, max, ttl)
  local now_s = fmt(now)
  for i, id in ipairs(ids) do
    local k = job_key(id)
    -- One more read per job, on these rare paths only (expiry, a lease
    -- run out on the last attempt, corruption).
    release_unique(id, redis.call('HGET', k, 'unique'), 'd')
    redis.call('HSET', k, 'status', 'dead', 'last_error', reasons[i], 'finished_at_ms', now_s,
      'claim_token', '', 'acked', '')
  end
  add_history(K_DEAD, 'dead', ids, max, ttl, now)
end

-- cancelled_key is queue:{q}:cancelled, the cancelled history (list,
-- most recent first; backend.Canceller), derived as workers_key is.
local function cancelled_key()
  return string.sub(JOB_PREFIX, 1, -5) .. 'cancelled'
end

-- A cancel requested while a job is processing is its cancel_requested
-- field, '<max> <ttl ms>': the retention of the cancelled history it
-- joins when its claim ends (ack.lua, reclaim.lua; cancel.lua).
--
-- end_cancelled ends jobs cancelled: by_ret holds their ids (already out
-- of pending, scheduled and processing) by their cancel_requested value
-- (see add_at), each group joins the cancelled history under its own
-- retention. They count in cancelled_total and the history's cancelled,
-- and are published in one cancelled event.
local function end_cancelled(by_ret, now)
  local all, now_s = {}, fmt(now)
  for ret, ids in pairs(by_ret) do
    for _, id in ipairs(ids) do
      local k = job_key(id)
      redis.call('HSET', k, 'status', 'cancelled', 'finished_at_ms', now_s)
      -- A cancelled job never runs: like a deleted one, it gives up a
      -- unique key it would give up on finishing.
      release_unique(id, redis.call('HGET', k, 'unique'), nil)
      all[#all + 1] = id
    end
    local max, ttl = string.match(ret, '^(%d+) (%d+)$')
    if max then
      add_history(cancelled_key(), 'cancelled', ids, tonumber(max), tonumber(ttl), now)
    else
      -- A corrupt field: kept a day, untrimmed, as dead_letter's nil max.
      add_history(cancelled_key(), 'cancelled', ids, nil, HISTORY_MS, now)
    end
  end
  bump('cancelled_total', #all, now)
  publish('cancelled', all)
end

-- The helpers below only read: the read-only scripts (get, list, stats)
-- use them, and they may run on a replica.

-- in_history reports whether the history entry id still has its record,
-- in the history's state.
local function in_history(id, state)
  return redis.call('HGET', job_key(id), 'status') == state
end

-- live_len counts the entries of a history whose records are still there,
-- without pruning the others (prune_tail does that on the next write). The
-- entries are in finishing order and, as a queue gives every job of a
-- history the same TTL, the expired ones form the old end of the list: the
-- count is LLEN when the oldest entry is live, the common case, and is
-- otherwise found by a binary search in log2(LLEN) steps. Under mixed TTLs
-- the count may be off by the entries that expired out of order, until a
-- write prunes them.
local function live_len(list, state)
  local n = redis.call('LLEN', list)
  if n == 0 or in_history(redis.call('LINDEX', list, -1), state) then
    return n
  end
  -- The entries before lo are live; the entry at hi is not.
  local lo, hi = 0, n - 1
  while lo < hi do
    local mid = math.floor((lo + hi) / 2)
    if in_history(redis.call('LINDEX', list, mid), state) then
      lo = mid + 1
    else
      hi = mid
    end
  end
  return lo
end
