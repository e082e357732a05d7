-- claim.lua takes up to max claimable jobs, oldest first, and leases them.
-- KEYS: the queue keys of lib.lua, then
--   KEYS[8] queue:{q}:claim:<token base>, string: the ids this claim took.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: max jobs; ARGV[4]: lease ms; ARGV[5]: token base (random hex),
--   the i-th claimed job's token is base .. '.' .. i.
-- Returns: {now_ms, next_due_ms, more_pending, jobs} where next_due_ms is
-- the earliest run-at in scheduled (-1: none or not looked up), more_pending
-- is 1 when jobs are left in pending, and jobs is an array of
--   {id, token, payload, attempts, max_attempts, enqueued_at_ms, lease_until_ms}.
-- A popped id whose record is missing is skipped; a corrupt record is
-- dead-lettered with the reason. When the skip budget runs out, jobs may be
-- empty while more_pending is 1: the caller claims again.
--
-- A call is idempotent per token base: a client that lost the reply and
-- sends the same call again (go-redis retries on its own, and so does the
-- Engine once) gets back the jobs the first run took and still holds under
-- their tokens, instead of taking more jobs and spending an attempt on jobs
-- leased to nobody. KEYS[8] records them for one lease.
local max, lease, base = tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local K_CLAIM = KEYS[8]
local now = now_ms()

local function more_pending()
  if redis.call('LLEN', K_PENDING) > 0 then
    return 1
  end
  return 0
end

local taken = redis.call('GET', K_CLAIM)
if taken then
  local jobs, i = {}, 0
  for id in string.gmatch(taken, '%S+') do
    i = i + 1
    local token = base .. '.' .. i
    local f = redis.call('HMGET', job_key(id), 'status', 'claim_token', 'payload', 'attempts', 'max_attempts',
      'enqueued_at_ms', 'lease_until_ms')
    -- Acknowledged, reclaimed or deleted since: no longer this claim's.
    if f[1] == 'processing' and f[2] == token and f[3] then
      jobs[#jobs + 1] = {id, token, f[3], tonumber(f[4]), tonumber(f[5]), tonumber(f[6]), tonumber(f[7])}
    end
  end
  return {now, -1, more_pending(), jobs}
end

promote(now)

local jobs, ids, dead, reasons, seen = {}, {}, {}, {}, {}
local until_ms = now + lease
local now_s, until_s = fmt(now), fmt(until_ms)
-- Bounds the records skipped in one call, so a pending list full of
-- deleted ids cannot make the script run unbounded.
local budget = max + 1000
-- Set once an LPOP returns fewer ids than asked: pending is then empty,
-- and the LLEN of more_pending is not needed.
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
    local f = redis.call('HMGET', k, 'status', 'payload', 'attempts', 'max_attempts', 'enqueued_at_ms', 'acked')
    local status, payload = f[1], f[2]
    local attempts, max_attempts, enqueued = tonumber(f[3]), tonumber(f[4]), tonumber(f[5])
    if status == 'pending' and payload and attempts and max_attempts and enqueued then
      attempts = attempts + 1
      local token = base .. '.' .. (#jobs + 1)
      if f[6] and f[6] ~= '' then
        -- Overwritten rather than deleted: an empty acked is unset.
        redis.call('HSET', k, 'status', 'processing', 'attempts', attempts, 'claim_token', token,
          'claimed_at_ms', now_s, 'lease_until_ms', until_s, 'acked', '')
      else
        redis.call('HSET', k, 'status', 'processing', 'attempts', attempts, 'claim_token', token,
          'claimed_at_ms', now_s, 'lease_until_ms', until_s)
      end
      jobs[#jobs + 1] = {id, token, payload, attempts, max_attempts, enqueued, until_ms}
      ids[#ids + 1] = id
    elseif status or payload or f[3] or f[4] or f[5] then
      if (status == 'pending' or not status) and not seen[id] then
        -- A record that exists but cannot be decoded would fail every
        -- claimer forever: dead-letter it. This call knows no retention
        -- policy, so the record gets a fixed TTL and the history is not
        -- trimmed (see dead_letter).
        dead[#dead + 1] = id
        reasons[#dead] = 'jobqueue: corrupt job record: missing or malformed fields'
        -- Listed twice, it is dead-lettered once.
        seen[id] = true
      end
      -- Any other status means the id was listed twice; the record lives
      -- where its status says, so the stale entry is simply dropped.
    end
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
  redis.call('SET', K_CLAIM, table.concat(ids, ' '), 'PX', lease)
end
if #dead > 0 then
  dead_letter(dead, reasons, now, nil, 7 * 24 * 3600 * 1000)
end

local more = 0
if not drained then
  more = more_pending()
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

local next_due = -1
if #jobs == 0 then
  local first = redis.call('ZRANGE', K_SCHEDULED, 0, 0, 'WITHSCORES')
  if #first == 2 then
    next_due = tonumber(first[2])
  end
end

bump('claimed_total', #jobs)
bump('failed_total', #dead)
publish('claimed', ids)
publish('dead', dead)
return {now, next_due, more, jobs}
