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
local ids = {}
for i = 0, n - 1 do
  local b = 5 + i * 4
  local id, payload, max_attempts, delay = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local k = job_key(id)
  if delay > 0 then
    redis.call('HSET', k, 'id', id, 'payload', payload, 'attempts', 0, 'max_attempts', max_attempts,
      'enqueued_at_ms', now, 'enqueue_nonce', nonce, 'status', 'scheduled', 'run_at_ms', now + delay)
    redis.call('ZADD', K_SCHEDULED, now + delay, id)
  else
    redis.call('HSET', k, 'id', id, 'payload', payload, 'attempts', 0, 'max_attempts', max_attempts,
      'enqueued_at_ms', now, 'enqueue_nonce', nonce, 'status', 'pending')
    redis.call('RPUSH', K_PENDING, id)
  end
  ids[#ids + 1] = id
end
-- Armed for delayed jobs too: a blocked claimer then re-reads the earliest
-- run-at, which this batch may have moved closer.
arm_marker()
bump('enqueued_total', n)
publish('enqueued', ids)
return n
