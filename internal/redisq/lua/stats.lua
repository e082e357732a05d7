-- stats.lua reads a queue's depths and counters, changing nothing (a
-- read-only script).
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- Returns: {pending, scheduled, processing, completed, dead, counters}
-- where counters is the stats hash as a flat array field, value...
-- Pending counts every priority level, and the scheduled jobs whose run
-- time has come; processing
-- counts every claimed job, expired leases not yet reclaimed included.
local due = redis.call('ZCOUNT', K_SCHEDULED, '-inf', fmt(now_ms()))
local pending = due
for l = 0, MAX_LEVEL do
  pending = pending + redis.call('LLEN', K_LEVEL[l])
end
return {
  pending,
  redis.call('ZCARD', K_SCHEDULED) - due,
  redis.call('ZCARD', K_PROCESSING),
  live_len(K_COMPLETED, 'completed'),
  live_len(K_DEAD, 'dead'),
  redis.call('HGETALL', K_STATS),
}
