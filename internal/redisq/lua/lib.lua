-- lib.lua is prepended to every other script of this directory, so the
-- helpers and the argument layout below are written once.
--
-- Every script receives the same KEYS and the same first two ARGV:
--   KEYS[1] queue:{q}:pending     list, next job to claim on the left
--   KEYS[2] queue:{q}:processing  zset, score = lease deadline (ms)
--   KEYS[3] queue:{q}:scheduled   zset, score = run-at (ms)
--   KEYS[4] queue:{q}:completed   list, most recent first
--   KEYS[5] queue:{q}:failed      list, most recent first
--   KEYS[6] queue:{q}:stats       hash of counters
--   KEYS[7] queue:{q}:marker      list of at most one element: wakes blocked claimers
--   ARGV[1] job key prefix, "queue:{q}:job:" (job hashes share the hash tag)
--   ARGV[2] events channel, "queue:{q}:events"
-- Script-specific arguments start at ARGV[3]; a script with keys of its own
-- takes them after these (claim.lua: KEYS[8]).
--
-- Time is always read with TIME, never passed by a client, so clock skew
-- between worker hosts cannot expire a lease early. Numbers are handed to
-- redis.call as Lua numbers (formatted by Redis without exponent), never
-- through tostring, which would turn large millisecond stamps into 1.7e+12.

local K_PENDING, K_PROCESSING, K_SCHEDULED = KEYS[1], KEYS[2], KEYS[3]
local K_COMPLETED, K_FAILED, K_STATS, K_MARKER = KEYS[4], KEYS[5], KEYS[6], KEYS[7]
local JOB_PREFIX, CHANNEL = ARGV[1], ARGV[2]

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

-- arm_marker lets one blocked claimer (BLPOP on the marker) wake up. The
-- marker never holds more than one element and carries no job: the job is
-- only ever taken by claim.lua, so a claimer that dies after waking loses
-- nothing.
local function arm_marker()
  redis.call('LPUSH', K_MARKER, '1')
  redis.call('LTRIM', K_MARKER, 0, 0)
end

-- publish sends one event message, "kind id1 id2 ...". Ids never contain
-- spaces (backend.ValidateID), and payloads are never included.
local function publish(kind, ids)
  if #ids > 0 then
    redis.call('PUBLISH', CHANNEL, kind .. ' ' .. table.concat(ids, ' '))
  end
end

local function bump(field, n)
  if n > 0 then
    redis.call('HINCRBY', K_STATS, field, n)
  end
end

-- promote moves scheduled jobs that are due to the tail of pending, oldest
-- run-at first, and arms the marker when it moved any.
local function promote(now)
  local due = redis.call('ZRANGEBYSCORE', K_SCHEDULED, '-inf', now, 'LIMIT', 0, PROMOTE_BATCH)
  if #due == 0 then
    return 0
  end
  redis.call('ZREM', K_SCHEDULED, unpack(due))
  local moved = 0
  for _, id in ipairs(due) do
    local k = job_key(id)
    -- A missing record must not be recreated as a partial hash by HSET.
    if redis.call('EXISTS', k) == 1 then
      redis.call('HSET', k, 'status', 'pending')
      redis.call('RPUSH', K_PENDING, id)
      moved = moved + 1
    end
  end
  if moved > 0 then
    arm_marker()
  end
  return moved
end

-- prune_tail drops ids from the old end of a history whose records have
-- expired (their TTL ran out), so depths and listings do not count them.
local function prune_tail(list, state)
  for _ = 1, PRUNE_BATCH do
    local id = redis.call('LINDEX', list, -1)
    if not id then
      return
    end
    if redis.call('HGET', job_key(id), 'status') == state then
      return
    end
    redis.call('RPOP', list)
  end
end

-- push_history puts id at the recent end of a history list and lets its
-- record expire after ttl ms. An id enqueued again after its record expired
-- may still be listed from its earlier finish: that entry is removed first,
-- or the id would be listed twice and trimming the stale entry would delete
-- the fresh record. LREM is O(list), which the retention max bounds.
local function push_history(list, id, ttl)
  redis.call('PEXPIRE', job_key(id), ttl)
  redis.call('LREM', list, 0, id)
  redis.call('LPUSH', list, id)
end

-- add_history records a finished job (state 'completed' or 'failed') in
-- its history list under a retention of max entries and ttl ms. Max or TTL
-- 0 keeps nothing: the record is deleted at once.
local function add_history(list, state, id, max, ttl)
  local k = job_key(id)
  if max <= 0 or ttl <= 0 then
    redis.call('DEL', k)
    return
  end
  push_history(list, id, ttl)
  local extra = redis.call('LRANGE', list, max, -1)
  if #extra > 0 then
    redis.call('LTRIM', list, 0, max - 1)
    for _, old in ipairs(extra) do
      local ok = job_key(old)
      -- The id may have been enqueued again since it expired: only a
      -- record still in this history is deleted with its entry.
      if old ~= id and redis.call('HGET', ok, 'status') == state then
        redis.call('DEL', ok)
      end
    end
  end
  prune_tail(list, state)
end

-- dead_letter moves a job (already out of pending, scheduled and
-- processing) to the failed history. A nil max means the caller knows no
-- retention policy (claim.lua's corrupt records): the job is kept for ttl
-- ms and the history is not trimmed, since any max guessed here could
-- delete dead jobs that the queue's own retention keeps.
local function dead_letter(id, now, reason, max, ttl)
  redis.call('HSET', job_key(id), 'status', 'failed', 'last_error', reason, 'finished_at_ms', now)
  redis.call('HDEL', job_key(id), 'claim_token', 'acked')
  if max then
    add_history(K_FAILED, 'failed', id, max, ttl)
  else
    push_history(K_FAILED, id, ttl)
  end
end
