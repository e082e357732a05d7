-- claim.lua takes up to max claimable jobs, oldest first, and leases them.
-- KEYS: the queue keys of lib.lua, and KEYS[8], the request record, when
--   the call has a request id: it holds the ids the claim took.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: max jobs; ARGV[4]: lease ms; ARGV[5]: token base (the request
--   id, or random hex), the i-th claimed job's token is base .. '.' .. i.
-- Returns: {now_ms, next_due_ms, more_pending, jobs} where next_due_ms is
-- the earliest run-at in scheduled (-1: none, or not looked up because
-- more_pending is not 0), more_pending
-- is 1 when jobs are left in pending (-1: this call is a repeat, which
-- returns at once and never waits or claims again), and jobs is an array of
--   {id, token, payload, attempts, max_attempts, enqueued_at_ms, lease_until_ms}.
-- max_attempts and enqueued_at_ms are returned as the strings stored, so
-- that no value is rounded through a Lua double on its way.
-- A popped id whose record is missing is skipped; a corrupt record (one
-- decode.go would refuse: see is_count) is dead-lettered with the reason,
-- and its broken fields are reset so that it reads as a dead job. When
-- the skip budget runs out, jobs may be empty while more_pending is 1: the
-- caller claims again.
--
-- A repeat of a call that took jobs gets back those it still holds under
-- their tokens, and takes no more (backend.Backend's "Lost replies and
-- repeated calls"); the request record keeps their ids for the request
-- window, or the lease when that is longer.
local max, lease, base = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
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

-- corruption describes what is wrong with the record of a popped id whose
-- fields f (as read by the loop below) cannot be claimed. It returns the
-- reason, which keeps the values replaced, and the HSET arguments that
-- repair the record into a readable dead job: status dead, an empty
-- payload for a missing one, attempts 0, max_attempts 1, enqueued now, and
-- a broken claimed_at_ms, which has no stand-in, deleted (drop).
local function corruption(f, now_s)
  local problems, fix, drop = {}, {'status', 'dead'}, false
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
  if f[7] and not is_count(f[7], 15) then
    bad('claimed_at_ms', f[7])
    drop = true
  end
  return 'jobqueue: corrupt job record: ' .. table.concat(problems, ', '), fix, drop
end

local taken = earlier_run()
if taken then
  local jobs, i = {}, 0
  for id in string.gmatch(taken, '%S+') do
    i = i + 1
    local token = base .. '.' .. i
    local f = redis.call('HMGET', job_key(id), 'status', 'claim_token', 'payload', 'attempts', 'max_attempts',
      'enqueued_at_ms', 'lease_until_ms')
    -- Acknowledged, reclaimed or deleted since: no longer this claim's.
    -- The fields were checked, or written, by the first run.
    if f[1] == 'processing' and f[2] == token and f[3] and f[4] and f[5] and f[6] and f[7] then
      jobs[#jobs + 1] = {id, token, f[3], f[4], f[5], f[6], f[7]}
    end
  end
  return {now, -1, -1, jobs}
end

promote(now)

local jobs, ids, dead, reasons = {}, {}, {}, {}
local until_ms = now + lease
local now_s, until_s = fmt(now), fmt(until_ms)
-- Bounds the records skipped in one call, so a pending list full of
-- deleted ids cannot make the script run unbounded.
local budget = max + 1000
-- Set once an LPOP returns fewer ids than asked: pending is then empty,
-- and the LLEN below is not needed.
local drained = false
while #jobs < max and budget > 0 do
  -- Never more than the jobs still wanted: a popped id cannot be put back
  -- in its place.
  local want = math.min(max - #jobs, budget)
  local popped = redis.call('LPOP', K_PENDING, want)
  if not popped then
    drained = true
    break
  end
  budget = budget - #popped
  for _, id in ipairs(popped) do
    local k = job_key(id)
    local f = redis.call('HMGET', k, 'status', 'payload', 'attempts', 'max_attempts', 'enqueued_at_ms', 'acked',
      'claimed_at_ms')
    local status, payload = f[1], f[2]
    if status == 'pending' and payload and is_count(f[3], 15) and is_count(f[4], 19) and is_count(f[5], 15)
        and (not f[7] or is_count(f[7], 15)) then
      -- Saturated at the largest count is_count takes, so the record
      -- stays readable; no job is claimed 10^15 times but by hand.
      local attempts = math.min(tonumber(f[3]) + 1, 999999999999999)
      local token = base .. '.' .. (#jobs + 1)
      if f[6] and f[6] ~= '' then
        -- Overwritten rather than deleted: an empty acked is unset.
        redis.call('HSET', k, 'status', 'processing', 'attempts', attempts, 'claim_token', token,
          'claimed_at_ms', now_s, 'lease_until_ms', until_s, 'acked', '')
      else
        redis.call('HSET', k, 'status', 'processing', 'attempts', attempts, 'claim_token', token,
          'claimed_at_ms', now_s, 'lease_until_ms', until_s)
      end
      jobs[#jobs + 1] = {id, token, payload, attempts, f[4], f[5], until_ms}
      ids[#ids + 1] = id
    elseif (status == 'pending' or not STATES[status])
        and (status or payload or f[3] or f[4] or f[5] or f[7] or redis.call('EXISTS', k) == 1) then
      -- A record that exists but cannot be decoded would fail every
      -- claimer forever, and one whose status is no state is listed
      -- nowhere else: dead-letter it. The record is repaired at once, its
      -- status included, so the same id listed again in this call reads
      -- as dead and is dropped. This call knows no retention policy, so
      -- the record gets a fixed TTL and the history is not trimmed (see
      -- dead_letter).
      local reason, fix, drop = corruption(f, now_s)
      redis.call('HSET', k, unpack(fix))
      if drop then
        redis.call('HDEL', k, 'claimed_at_ms')
      end
      dead[#dead + 1] = id
      reasons[#dead] = reason
    end
    -- Any other status means the id was listed twice; the record lives
    -- where its status says, so the stale entry is simply dropped.
  end
  if #popped < want then
    drained = true
    break
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
end
if #dead > 0 then
  dead_letter(dead, reasons, now, nil, 7 * 24 * 3600 * 1000)
end

local more = 0
if not drained and redis.call('LLEN', K_PENDING) > 0 then
  more = 1
end
if more > 0 then
  -- Chain the wake-up: another waiting process takes what is left. Also
  -- when this call took nothing (its skip budget ran out): enqueue.lua
  -- arms the marker only on a pending list it finds empty, so a non-empty
  -- one must always have a wake-up armed or in flight. The marker is not
  -- cleared when pending is empty: it may also announce a new, earlier
  -- run-at that blocked claimers must see.
  arm_marker()
end

-- The earliest run-at is looked up whenever pending is left empty, also by
-- a call that took jobs: the caller then knows the queue's next work without
-- running this script again (see waitQueue.trustedEmpty).
local next_due = -1
if more == 0 then
  local first = redis.call('ZRANGE', K_SCHEDULED, 0, 0, 'WITHSCORES')
  if #first == 2 then
    next_due = tonumber(first[2])
  end
end

bump('claimed_total', #jobs)
bump('dead_total', #dead)
publish('claimed', ids)
publish('dead', dead)
return {now, next_due, more, jobs}
