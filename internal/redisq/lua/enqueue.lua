-- enqueue.lua adds a batch of jobs, all or nothing.
-- KEYS: the queue keys of lib.lua, and KEYS[8], the request record, when
--   the call has a request id.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: n, the number of jobs; then n groups of 4: id, payload,
--   max_attempts, delay_ms (<= 0: pending now).
-- Returns: n. Error reply "EXISTS <id>" when any id is already stored, in
-- which case nothing was written.
-- A repeat of a call that stored its jobs (its request record exists)
-- succeeds without writing, even when those jobs have finished and gone
-- since, so a lost reply never makes a duplicate job. The record is
-- written first, by the one command that also looks for it (first_run),
-- and taken back when the call is refused.
local n = tonumber(ARGV[3])
if not first_run('1') then
  return n
end
for i = 0, n - 1 do
  if redis.call('EXISTS', job_key(ARGV[4 + i * 4])) == 1 then
    forget()
    return redis.error_reply('EXISTS ' .. ARGV[4 + i * 4])
  end
end

local now = now_ms()
local now_s = fmt(now)
local ids, ready, delayed = {}, {}, {}
for i = 0, n - 1 do
  local b = 4 + i * 4
  local id, payload, max_attempts, delay = ARGV[b], ARGV[b + 1], ARGV[b + 2], tonumber(ARGV[b + 3])
  local k = job_key(id)
  if delay > 0 then
    local run_at = fmt(now + delay)
    redis.call('HSET', k, 'id', id, 'payload', payload, 'attempts', 0, 'max_attempts', max_attempts,
      'enqueued_at_ms', now_s, 'status', 'scheduled', 'run_at_ms', run_at)
    delayed[#delayed + 1] = run_at
    delayed[#delayed + 1] = id
  else
    redis.call('HSET', k, 'id', id, 'payload', payload, 'attempts', 0, 'max_attempts', max_attempts,
      'enqueued_at_ms', now_s, 'status', 'pending')
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
