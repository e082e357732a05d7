-- enqueue.lua adds a batch of jobs, all or nothing.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: n, the number of jobs; ARGV[4]: nonce, random per call; then n
--   groups of 4: id, payload, max_attempts, delay_ms (<= 0: pending now).
-- Returns: n. Error reply "EXISTS <id>" when any id is already stored, in
-- which case nothing was written.
-- Each record keeps the nonce of the call that stored it, so the same call
-- sent again after a lost reply (go-redis retries on its own) finds its own
-- jobs and succeeds without writing, instead of reporting EXISTS for jobs
-- it did store. The batch is atomic, so one id with this nonce means the
-- first run stored them all.
local n, nonce = tonumber(ARGV[3]), ARGV[4]
for i = 0, n - 1 do
  local k = job_key(ARGV[5 + i * 4])
  if redis.call('EXISTS', k) == 1 then
    if redis.call('HGET', k, 'enqueue_nonce') == nonce then
      return n
    end
    return redis.error_reply('EXISTS ' .. ARGV[5 + i * 4])
  end
end

local now = now_ms()
local now_s = fmt(now)
local ids, ready, delayed = {}, {}, {}
for i = 0, n - 1 do
  local b = 5 + i * 4
  local id, payload, max_attempts, delay = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local k = job_key(id)
  if delay > 0 then
    local run_at = fmt(now + delay)
    redis.call('HSET', k, 'id', id, 'payload', payload, 'attempts', 0, 'max_attempts', max_attempts,
      'enqueued_at_ms', now_s, 'enqueue_nonce', nonce, 'status', 'scheduled', 'run_at_ms', run_at)
    delayed[#delayed + 1] = run_at
    delayed[#delayed + 1] = id
  else
    redis.call('HSET', k, 'id', id, 'payload', payload, 'attempts', 0, 'max_attempts', max_attempts,
      'enqueued_at_ms', now_s, 'enqueue_nonce', nonce, 'status', 'pending')
    ready[#ready + 1] = id
  end
  ids[#ids + 1] = id
end
call_chunked('ZADD', K_SCHEDULED, delayed)
-- The marker is armed only when a claimer may be blocked without one: a
-- pending list this push found empty (a non-empty one already has a
-- wake-up armed or in flight, since every claim that leaves jobs pending
-- re-arms it), or delayed jobs, since a blocked claimer then re-reads the
-- earliest run-at, which this batch may have moved closer.
local first = call_chunked('RPUSH', K_PENDING, ready)
if #delayed > 0 or first == math.min(#ready, CHUNK) then
  arm_marker()
end
bump('enqueued_total', n)
publish('enqueued', ids)
return n
