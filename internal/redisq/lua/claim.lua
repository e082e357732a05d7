-- claim.lua takes up to max claimable jobs, the highest priority level
-- first and oldest first within a level, and leases them.
-- KEYS: the queue keys of lib.lua, and KEYS[11], the request record, when
--   the call has a request id: it holds the ids the claim took.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: max jobs; ARGV[4]: lease ms; ARGV[5]: token base (the request
--   id, or random hex), the i-th claimed job's token is base .. '.' .. i.
-- ARGV[6]: dead history max, ARGV[7]: dead history TTL ms, for the
--   expired jobs the claim dead-letters.
-- Returns: {now_ms, next_due_ms, more_pending, jobs} where next_due_ms is
-- the earliest run-at in scheduled (-1: none, or not looked up because
-- more_pending is not 0), or, for a claim that the rate limit stopped,
-- when the limit lets the next job start; more_pending
-- is 1 when jobs are left in pending that the queue's settings let the
-- next claim take (0 when paused or stopped by a limit, see below; -1:
-- this call is a repeat, which returns at once and never waits or claims
-- again), and jobs is an array of
--   {id, token, payload, attempts, max_attempts, enqueued_at_ms, lease_until_ms,
--    kind, headers, priority, timeout_ms}
-- (kind and headers '' for none, priority and timeout_ms '0').
-- max_attempts, enqueued_at_ms and the fields after lease_until_ms are
-- returned as the strings stored, so that no value is rounded through a
-- Lua double on its way.
-- A popped id whose record is missing is skipped; a corrupt record (one
-- decode.go would refuse: see is_count) is dead-lettered with the reason,
-- and its broken fields are reset so that it reads as a dead job. A job
-- whose expires_at_ms has come is dead-lettered too, under the dead
-- retention of ARGV[6] and ARGV[7]; neither counts toward max. When the
-- skip budget runs out, jobs may be empty while more_pending is 1: the
-- caller claims again.
--
-- A job whose kind is at its limit (backend.LimitParams.Kind) is passed
-- by: it moves, still pending, to its kind's kheld list of its level
-- (lib.lua's kind_key), and the claim goes on to the jobs behind it. The
-- next claims give the held jobs back to the head of their levels as
-- their kind's room allows, the highest level first, before they pop
-- anything. Parking counts toward the skip budget, not toward max.
--
-- A repeat of a call that took jobs gets back those it still holds under
-- their tokens, and takes no more (backend.Backend's "Lost replies and
-- repeated calls"); the request record keeps their ids for the request
-- window, or the lease when that is longer.
local max, lease, base = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local dmax, dttl = tonumber(ARGV[6]), tonumber(ARGV[7])
local now = now_ms()

-- is_count mirrors parseCount in decode.go: a number field as the scripts
-- write it, 1 to digits decimal digits within int64. tonumber alone would
-- take ' 1', '0x10', '1e3', '1.5' and 'nan', which the Go decoder refuses.
local function is_count(s, digits)
  if not s or #s == 0 or #s > digits or not string.find(s, '^%d+$') then
    return false
  end
  -- Equal-length digit strings compare as their numbers do.
  return #s < 19 or s <= '9223372036854775807'
end

local STATES = {pending = true, scheduled = true, processing = true, completed = true, dead = true}

-- is_headers mirrors parseHeaders in decode.go: a JSON object whose values
-- are all strings, as json.Marshal writes it: its brace first, and no
-- control byte anywhere (cjson would take one inside a string, Go's
-- decoder would not).
local function is_headers(s)
  if string.sub(s, 1, 1) ~= '{' or string.find(s, '[%z\1-\31]') then
    return false
  end
  local ok, h = pcall(cjson.decode, s)
  if not ok or type(h) ~= 'table' then
    return false
  end
  for name, value in pairs(h) do
    if type(name) ~= 'string' or type(value) ~= 'string' then
      return false
    end
  end
  return true
end

-- FIELDS are the fields a claim reads of each popped job, with one HMGET;
-- f[i] below is the value of FIELDS[i].
local FIELDS = {'status', 'payload', 'attempts', 'max_attempts', 'enqueued_at_ms', 'acked', 'claimed_at_ms',
  'kind', 'headers', 'priority', 'timeout_ms', 'expires_at_ms'}

-- claimable reports whether the fields f of a popped job hold a record a
-- claim may hand out: one decode.go reads (see is_count, is_headers,
-- is_level), in the pending state.
local function claimable(f)
  return f[1] == 'pending' and f[2] and is_count(f[3], 15) and is_count(f[4], 19) and is_count(f[5], 15)
    and (not f[7] or is_count(f[7], 15)) and (not f[9] or is_headers(f[9])) and (not f[10] or is_level(f[10]))
    and (not f[11] or is_count(f[11], 15)) and (not f[12] or is_count(f[12], 15))
end

-- corruption describes what is wrong with the record of a popped id whose
-- fields f (as read by the loop below) cannot be claimed. It returns the
-- reason, which keeps the values replaced, and the HSET arguments that
-- repair the record into a readable dead job: status dead, an empty
-- payload for a missing one, attempts 0, max_attempts 1, enqueued now, and
-- the broken optional fields, which have no stand-in, deleted (drop, a
-- list of fields, empty for none).
local function corruption(f, now_s)
  local problems, fix, drop = {}, {'status', 'dead'}, {}
  local function bad(field, v, repl)
    if not v then
      problems[#problems + 1] = field .. ' is missing'
    else
      if #v > 64 then
        v = string.sub(v, 1, 64) .. '...'
      end
      problems[#problems + 1] = field .. ' is ' .. string.format('%q', v)
    end
    if repl then
      fix[#fix + 1] = field
      fix[#fix + 1] = repl
    end
  end
  if f[1] ~= 'pending' then
    bad('status', f[1])
  end
  if not f[2] then
    bad('payload', f[2], '')
  end
  if not is_count(f[3], 15) then
    bad('attempts', f[3], '0')
  end
  if not is_count(f[4], 19) then
    bad('max_attempts', f[4], '1')
  end
  if not is_count(f[5], 15) then
    bad('enqueued_at_ms', f[5], now_s)
  end
  local function optional(i, ok)
    if f[i] and not ok(f[i]) then
      bad(FIELDS[i], f[i])
      drop[#drop + 1] = FIELDS[i]
    end
  end
  local function count(s)
    return is_count(s, 15)
  end
  optional(7, count)
  optional(9, is_headers)
  optional(10, is_level)
  optional(11, count)
  optional(12, count)
  return 'jobqueue: corrupt job record: ' .. table.concat(problems, ', '), fix, drop
end

local taken = earlier_run()
if taken then
  local jobs, i = {}, 0
  for id in string.gmatch(taken, '%S+') do
    i = i + 1
    local token = base .. '.' .. i
    local f = redis.call('HMGET', job_key(id), 'status', 'claim_token', 'payload', 'attempts', 'max_attempts',
      'enqueued_at_ms', 'lease_until_ms', 'kind', 'headers', 'priority', 'timeout_ms')
    -- Acknowledged, reclaimed or deleted since: no longer this claim's.
    -- The fields were checked, or written, by the first run.
    if f[1] == 'processing' and f[2] == token and f[3] and f[4] and f[5] and f[6] and f[7] then
      jobs[#jobs + 1] = {id, token, f[3], f[4], f[5], f[6], f[7], f[8] or '', f[9] or '', f[10] or '0',
        f[11] or '0'}
    end
  end
  return {now, -1, -1, jobs}
end

-- The queue's settings (control.lua), read once per call: one HMGET, which
-- finds nothing on a queue that has none. A paused queue hands out
-- nothing; its resume arms the marker.
local ctl = redis.call('HMGET', control_key(), 'paused', 'conc', 'rate', 'per_ms', 'slot_wanted', 'kinds')
if ctl[1] then
  return {now, -1, 0, {}}
end

-- The kinds' limits (lib.lua's kind_key), read only while the control
-- hash's 'kinds' field says there may be some: KL[kind] = {conc, rate,
-- per_ms}, 0 for none; and held, the kinds whose kheld lists may hold
-- jobs that a claim passed by.
local KL, held = {}, {}
if ctl[6] then
  local raw = redis.call('HGETALL', kind_key('klimits'))
  for i = 1, #raw, 2 do
    local c, r, p = string.match(raw[i + 1], '^(%d+) (%d+) (%d+)$')
    if c then
      KL[raw[i]] = {tonumber(c), tonumber(r), tonumber(p)}
    end
  end
  held = redis.call('SMEMBERS', kind_key('kheld'))
  if #raw == 0 and #held == 0 then
    redis.call('HDEL', control_key(), 'kinds')
  end
end
-- room[kind] is how many more jobs of a limited kind this call may
-- start, and conc_room[kind] what of it the concurrency limit alone
-- allows, read at the kind's first job; window[kind] is how many starts
-- its rate's window held then.
local room, conc_room, window = {}, {}, {}
local function kind_room(kind)
  local l = KL[kind]
  if not l then
    return nil
  end
  if room[kind] then
    return room[kind]
  end
  local r = math.huge
  if l[1] > 0 then
    r = l[1] - redis.call('ZCARD', kind_key('krun', kind))
  end
  conc_room[kind] = r
  if l[2] > 0 then
    local starts = kind_key('kstarts', kind)
    redis.call('ZREMRANGEBYSCORE', starts, '-inf', now - l[3])
    window[kind] = redis.call('ZCARD', starts)
    r = math.min(r, l[2] - window[kind])
  end
  room[kind] = math.max(r, 0)
  return room[kind]
end
-- allowed is what the limits let this call start: the free slots of the
-- concurrency limit (processing counts an expired lease until a reclaim
-- takes it back), and what is left of the rate limit's window,
-- (now - per_ms, now], which holds one entry per start.
local allowed = max
local conc, rate, per = tonumber(ctl[2]), tonumber(ctl[3]), tonumber(ctl[4])
local free, in_window
if conc then
  free = conc - redis.call('ZCARD', K_PROCESSING)
  allowed = math.min(allowed, math.max(free, 0))
end
if rate then
  redis.call('ZREMRANGEBYSCORE', starts_key(), '-inf', now - per)
  in_window = redis.call('ZCARD', starts_key())
  allowed = math.min(allowed, math.max(rate - in_window, 0))
end

promote(now)

-- The jobs held for their kinds go back to the head of their levels, as
-- many of each kind as this call may start, the highest level first:
-- they were passed by before the jobs now at the heads. held_left[kind]
-- is false once the kind's kheld lists are known to be empty.
local held_left = {}
if #held > 0 then
  local back = {}
  for _, kind in ipairs(held) do
    local n = math.min(kind_room(kind) or allowed, allowed)
    held_left[kind] = true
    if n > 0 then
      for l = MAX_LEVEL, 0, -1 do
        local ids = redis.call('LPOP', held_key(kind, l), n) or {}
        n = n - #ids
        for _, id in ipairs(ids) do
          add_at(back, l, id)
        end
        if n == 0 then
          break
        end
      end
      if n > 0 then
        held_left[kind] = false
        redis.call('SREM', kind_key('kheld'), kind)
      end
    end
  end
  push_levels(back, true)
end
-- parked holds, by kheld list, the jobs this call passes by because their
-- kind is at its limit, and parked_kinds their kinds; kruns and kstarts
-- the members it adds to the kinds' krun and kstarts zsets.
local parked, parked_kinds, kruns, kstarts = {}, {}, {}, {}

local jobs, ids, dead, reasons = {}, {}, {}, {}
local expired, expired_why = {}, {}
local until_ms = now + lease
local now_s, until_s = fmt(now), fmt(until_ms)
-- Bounds the records skipped in one call (missing, corrupt or expired),
-- so a pending list full of them cannot make the script run unbounded.
local budget = max + 1000
-- The levels above top are empty. One LMPOP pops from the highest
-- non-empty level at or below it; a pop that returns fewer ids than asked
-- emptied its level, and the next one looks below it.
local top = MAX_LEVEL
-- Set once the levels are all empty: the EXISTS below is then not needed.
local drained = false
while #jobs < allowed and budget > 0 do
  -- Never more than the jobs still wanted: a popped id cannot be put back
  -- in its place.
  local want = math.min(allowed - #jobs, budget)
  local args = {top + 1}
  for l = top, 0, -1 do
    args[#args + 1] = K_LEVEL[l]
  end
  args[#args + 1] = 'LEFT'
  args[#args + 1] = 'COUNT'
  args[#args + 1] = want
  local r = redis.call('LMPOP', unpack(args))
  if not r then
    drained = true
    break
  end
  local level = top
  while level > 0 and K_LEVEL[level] ~= r[1] do
    level = level - 1
  end
  local popped = r[2]
  budget = budget - #popped
  for _, id in ipairs(popped) do
    local k = job_key(id)
    local f = redis.call('HMGET', k, unpack(FIELDS))
    local ok = claimable(f)
    if ok and f[12] and tonumber(f[12]) <= now then
      -- Numbers as stored or formatted by fmt: a Lua number would print
      -- a large count as 1e+15.
      expired[#expired + 1] = id
      -- No instant in the text: a repeat of this claim, or the same
      -- scenario on another backend, reads the same record.
      expired_why[#expired] = 'jobqueue: expired before attempt ' .. fmt(tonumber(f[3]) + 1) .. ' of ' .. f[4]
        .. ' could start'
    elseif ok then
      -- Saturated at the largest count is_count takes, so the record
      -- stays readable; no job is claimed 10^15 times but by hand.
      local attempts = math.min(tonumber(f[3]) + 1, 999999999999999)
      local kind = f[8]
      local r = kind and kind_room(kind)
      if r == 0 then
        -- Its kind is at its limit: the job waits in the kind's kheld
        -- list of its level, and the claim goes on to the jobs behind it.
        add_at(parked, held_key(kind, level_of(f[10])), id)
        parked_kinds[kind] = true
      else
        local token = base .. '.' .. (#jobs + 1)
        local set = {'status', 'processing', 'attempts', attempts, 'claim_token', token, 'claimed_at_ms', now_s,
          'lease_until_ms', until_s}
        if f[6] and f[6] ~= '' then
          -- Overwritten rather than deleted: an empty acked is unset.
          set[#set + 1], set[#set + 2] = 'acked', ''
        end
        if r then
          -- Claimed under its kind's limit: kslot names the claim that
          -- holds the kind's slot (lib.lua's kind_slot).
          room[kind] = r - 1
          set[#set + 1], set[#set + 2] = 'kslot', token
          add_at(kruns, kind, now_s)
          add_at(kruns, kind, id)
          add_at(kstarts, kind, now_s)
          add_at(kstarts, kind, token)
        end
        redis.call('HSET', k, unpack(set))
        jobs[#jobs + 1] = {id, token, f[2], attempts, f[4], f[5], until_ms, f[8] or '', f[9] or '', f[10] or '0',
          f[11] or '0'}
        ids[#ids + 1] = id
      end
    elseif (f[1] == 'pending' or not STATES[f[1]])
        and (f[1] or f[2] or f[3] or f[4] or f[5] or f[7] or redis.call('EXISTS', k) == 1) then
      -- A record that exists but cannot be decoded would fail every
      -- claimer forever, and one whose status is no state is listed
      -- nowhere else: dead-letter it. The record is repaired at once, its
      -- status included, so the same id listed again in this call reads
      -- as dead and is dropped. The record gets a fixed TTL and the
      -- history is not trimmed (see dead_letter): the retention this call
      -- is given is for expired jobs, and a corrupt record may be no job
      -- of this queue's making.
      local reason, fix, drop = corruption(f, now_s)
      redis.call('HSET', k, unpack(fix))
      if #drop > 0 then
        redis.call('HDEL', k, unpack(drop))
      end
      dead[#dead + 1] = id
      reasons[#dead] = reason
    end
    -- Any other status means the id was listed twice; the record lives
    -- where its status says, so the stale entry is simply dropped.
  end
  if #popped < want then
    if level == 0 then
      drained = true
      break
    end
    top = level - 1
  else
    top = level
  end
end

if #ids > 0 then
  local scored = {}
  for _, id in ipairs(ids) do
    scored[#scored + 1] = until_s
    scored[#scored + 1] = id
  end
  call_chunked('ZADD', K_PROCESSING, scored)
  remember(table.concat(ids, ' '), lease)
  if rate then
    local started = {}
    for _, job in ipairs(jobs) do
      started[#started + 1] = now_s
      started[#started + 1] = job[2]
    end
    call_chunked('ZADD', starts_key(), started)
  end
end
for kind, members in pairs(kruns) do
  if KL[kind][1] > 0 then
    call_chunked('ZADD', kind_key('krun', kind), members)
  end
  if KL[kind][2] > 0 then
    call_chunked('ZADD', kind_key('kstarts', kind), kstarts[kind])
  end
end
for list, held_ids in pairs(parked) do
  call_chunked('RPUSH', list, held_ids)
end
for kind in pairs(parked_kinds) do
  if not held_left[kind] then
    redis.call('SADD', kind_key('kheld'), kind)
    held_left[kind] = true
  end
end
if #dead > 0 then
  dead_letter(dead, reasons, now, nil, 7 * 24 * 3600 * 1000)
end
if #expired > 0 then
  dead_letter(expired, expired_why, now, dmax, dttl)
  for _, id in ipairs(expired) do
    dead[#dead + 1] = id
  end
end

-- One EXISTS of the levels at or below the last one popped tells whether
-- any holds jobs (an empty list does not exist); the levels above were
-- empty when it was popped.
local more = 0
if not drained then
  local levels = {}
  for l = top, 0, -1 do
    levels[#levels + 1] = K_LEVEL[l]
  end
  if redis.call('EXISTS', unpack(levels)) > 0 then
    more = 1
  end
end
-- Jobs held for a kind that may start more of them (one without limits
-- now, or one this call stopped short of its room) are jobs the next
-- claim takes, as pending ones are. Otherwise the held kinds wait: for a
-- freed slot of their own, which release_kind_slots announces, or for
-- kind_due, when the first kind whose rate holds it back allows its next
-- start.
local kind_due
for kind, left in pairs(held_left) do
  local l = KL[kind]
  local used = #(kruns[kind] or {}) / 2
  if left and (not l or room[kind] > 0) then
    more = 1
  elseif left and l[2] > 0 and conc_room[kind] - used > 0 and window[kind] + used >= l[2] then
    -- The rate, not the concurrency, holds the kind back: the start that
    -- must leave the window for one more to fit.
    local i = window[kind] + used - l[2]
    local at = tonumber(redis.call('ZRANGE', kind_key('kstarts', kind), i, i, 'WITHSCORES')[2]) + l[3]
    kind_due = math.min(kind_due or at, at)
  end
end
-- A claim that a limit stopped while jobs are left is throttled: it chains
-- no wake-up, since the claimers it would wake could take nothing, and
-- reports no jobs left, so that its caller waits: for a freed slot, which
-- an acknowledgement or a reclaim announces while slot_wanted is set
-- (ack.lua, reclaim.lua), and for next_due, when the rate's window lets
-- the next job start (the start that must leave it first, plus per_ms).
local conc_full = conc and free - #jobs <= 0
local rate_full = rate and in_window + #jobs >= rate
local throttled = more > 0 and (conc_full or rate_full)
local want_slot = throttled and conc_full
if want_slot and ctl[5] ~= '1' then
  redis.call('HSET', control_key(), 'slot_wanted', '1')
elseif ctl[5] and not want_slot then
  redis.call('HDEL', control_key(), 'slot_wanted')
end
if more > 0 and not throttled then
  -- Chain the wake-up: another waiting process takes what is left. Also
  -- when this call took nothing (its skip budget ran out): enqueue.lua
  -- arms the marker only on a pending level it finds empty, so while any
  -- level holds jobs, a wake-up must be armed or in flight. The marker is not
  -- cleared when pending is empty: it may also announce a new, earlier
  -- run-at that blocked claimers must see.
  arm_marker()
end

-- The earliest run-at is looked up whenever pending is left empty, also by
-- a call that took jobs: the caller then knows the queue's next work without
-- running this script again (see waitQueue.trustedEmpty).
local next_due = -1
if throttled then
  more = 0
  if rate_full then
    local i = in_window + #jobs - rate
    next_due = tonumber(redis.call('ZRANGE', starts_key(), i, i, 'WITHSCORES')[2]) + per
  end
elseif more == 0 then
  local first = redis.call('ZRANGE', K_SCHEDULED, 0, 0, 'WITHSCORES')
  if #first == 2 then
    next_due = tonumber(first[2])
  end
  if kind_due and (next_due < 0 or kind_due < next_due) then
    next_due = kind_due
  end
end

-- Claims are not in the history: it costs the hot path nothing.
bump('claimed_total', #jobs)
bump('dead_total', #dead, now)
publish('claimed', ids)
publish('dead', dead)
return {now, next_due, more, jobs}
