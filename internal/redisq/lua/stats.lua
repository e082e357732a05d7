-- stats.lua reads a queue's depths and counters.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- Returns: {pending, scheduled, processing, completed, failed, counters}
-- where counters is the stats hash as a flat array field, value...
promote(now_ms())
prune_tail(K_COMPLETED, 'completed')
prune_tail(K_FAILED, 'failed')
return {
  redis.call('LLEN', K_PENDING),
  redis.call('ZCARD', K_SCHEDULED),
  redis.call('ZCARD', K_PROCESSING),
  redis.call('LLEN', K_COMPLETED),
  redis.call('LLEN', K_FAILED),
  redis.call('HGETALL', K_STATS),
}
