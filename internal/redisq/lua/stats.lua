-- stats.lua reads a queue's depths, counters and latency, changing
-- nothing (a read-only script).
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- Returns: {pending, scheduled, processing, completed, dead, counters,
-- latency_ms, workers, cancelled, control, kind_limits} where counters is the stats
-- hash as a flat array field, value..., and control the settings hash
-- (control.lua) as one, and kind_limits the kinds' limits (lib.lua's
-- kind_key) as one. Pending counts every priority level, and the scheduled jobs
-- whose run time has come; processing counts every claimed job, expired
-- leases not yet reclaimed included.
--
-- latency_ms is how long the longest-waiting claimable job has waited
-- (backend.Stats.Latency): a job became claimable at the latest of its
-- enqueued_at_ms, run_at_ms (a delayed job or retry, due) and ready_at_ms
-- (written by the moves to the tail of pending that have no run time: a
-- retry or snooze without delay, a reclaim, a RetryDead), since each move
-- writes a time later than the ones before it. A release keeps the time
-- its job had. Each level waits in that order, so its head has waited
-- longest, and so has the earliest due scheduled job among the due ones:
-- a few commands per level, whatever the depth.
--
-- workers counts the processes whose beat has not run out (beat.lua): the
-- zset may still hold expired ones, which the next beat drops.
local now = now_ms()
local due = redis.call('ZCOUNT', K_SCHEDULED, '-inf', fmt(now))
local pending = due
local oldest = now
-- The jobs held for their kinds (claim.lua) are pending too, each kheld
-- list in the order its jobs were passed by. The kinds' keys are read
-- only while the settings' 'kinds' field says there may be some, as
-- claims do.
local control = redis.call('HGETALL', control_key())
local kind_limits, lists = {}, {}
for l = 0, MAX_LEVEL do
  lists[#lists + 1] = K_LEVEL[l]
end
for i = 1, #control, 2 do
  if control[i] == 'kinds' then
    kind_limits = redis.call('HGETALL', kind_key('klimits'))
    for _, kind in ipairs(redis.call('SMEMBERS', kind_key('kheld'))) do
      for _, list in ipairs(held_keys(kind)) do
        lists[#lists + 1] = list
      end
    end
  end
end
for _, list in ipairs(lists) do
  local n = redis.call('LLEN', list)
  pending = pending + n
  if n > 0 then
    local f = redis.call('HMGET', job_key(redis.call('LINDEX', list, 0)), 'enqueued_at_ms', 'run_at_ms', 'ready_at_ms')
    local at = math.max(tonumber(f[1]) or 0, tonumber(f[2]) or 0, tonumber(f[3]) or 0)
    if at > 0 then
      oldest = math.min(oldest, at)
    end
  end
end
if due > 0 then
  local first = redis.call('ZRANGE', K_SCHEDULED, 0, 0, 'WITHSCORES')
  oldest = math.min(oldest, tonumber(first[2]))
end
return {
  pending,
  redis.call('ZCARD', K_SCHEDULED) - due,
  redis.call('ZCARD', K_PROCESSING),
  live_len(K_COMPLETED, 'completed'),
  live_len(K_DEAD, 'dead'),
  redis.call('HGETALL', K_STATS),
  now - oldest,
  redis.call('ZCOUNT', workers_key(), '(' .. fmt(now), '+inf'),
  live_len(cancelled_key(), 'cancelled'),
  control,
  kind_limits,
}
