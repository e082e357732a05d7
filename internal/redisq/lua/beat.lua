-- beat.lua records that a process works the queue (backend.WorkerTracker):
-- it sets the process's expiry in the workers zset (workers_key), or
-- removes the process, and drops every process whose beat has run out, so
-- the zset holds only the processes that beat within their TTL.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: process id.
-- ARGV[4]: TTL in ms; 0 removes the process.
-- Returns: 1.
-- A beat takes no request id: a repeat after a lost reply beats again,
-- which only sets the expiry once more, TTL after the repeat.
local now = now_ms()
local key = workers_key()
local ttl = tonumber(ARGV[4])
if ttl > 0 then
  redis.call('ZADD', key, now + ttl, ARGV[3])
else
  redis.call('ZREM', key, ARGV[3])
end
redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
return 1
