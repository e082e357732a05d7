-- enqueue.lua adds the jobs of one or more Enqueue calls of a queue: the
-- calls that the Engine gathered while an earlier enqueue was in flight
-- (see enqueueGroup), each all or nothing on its own.
-- KEYS: the queue keys of lib.lua (KEYS[1]..KEYS[7]), then the request
--   records of the calls that have a request id, in call order.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: m, the number of calls; then per call: r, the index in KEYS of
--   its request record (0: none), n, its number of jobs, and n groups of
--   4: id, payload, max_attempts, delay_ms (<= 0: pending now).
-- Returns: an array of m replies, one per call: its n, or "EXISTS <id>"
--   when any of its ids is already stored, in which case nothing of that
--   call was written.
-- A repeat of a call that stored its jobs (its request record exists)
-- succeeds without writing, even when those jobs have finished and gone
-- since, so a lost reply never makes a duplicate job. The record is
-- written first, by the one command that also looks for it (first_run),
-- and taken back when the call is refused.
local m = tonumber(ARGV[3])
local now = now_ms()
local now_s = fmt(now)
local replies, ids, ready, delayed = {}, {}, {}, {}
local a = 4
for c = 1, m do
  local r, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local first = a + 2
  a = first + 4 * n
  local key = r > 0 and KEYS[r]
  replies[c] = n
  if first_run(key, '1') then
    for b = first, a - 1, 4 do
      if redis.call('EXISTS', job_key(ARGV[b])) == 1 then
        forget(key)
        replies[c] = 'EXISTS ' .. ARGV[b]
        break
      end
    end
    if replies[c] == n then
      for b = first, a - 1, 4 do
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
    end
  end
end
if #ids == 0 then
  return replies
end
call_chunked('ZADD', K_SCHEDULED, delayed)
-- The marker is armed only when a claimer may be blocked without one: a
-- pending list this push found empty (a non-empty one already has a
-- wake-up armed or in flight, since every claim that leaves jobs pending
-- re-arms it), or delayed jobs, since a blocked claimer then re-reads the
-- earliest run-at, which these jobs may have moved closer.
local pushed = call_chunked('RPUSH', K_PENDING, ready)
if #delayed > 0 or pushed == math.min(#ready, CHUNK) then
  arm_marker()
end
bump('enqueued_total', #ids)
publish('enqueued', ids)
return replies
