-- retry_dead.lua sends one dead-lettered job back to the tail of its level
-- of pending, attempts 0 and no expiry (a job sent back by hand runs).
-- KEYS: the queue keys of lib.lua, and KEYS[11], the request record, when
--   the call has a request id.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: id.
-- Returns: 1. Error reply "NOTFOUND <id>" or "WRONGSTATE <id> <status>".
-- A repeat of a call that retried the job returns 1 and changes nothing.
if earlier_run() then
  return 1
end
local id = ARGV[3]
local k = job_key(id)
local f = redis.call('HMGET', k, 'status', 'priority')
local status = f[1]
if not status then
  return redis.error_reply('NOTFOUND ' .. id)
end
if status ~= 'dead' then
  return redis.error_reply('WRONGSTATE ' .. id .. ' is ' .. status)
end
-- O(dead history), which is capped; this is an operator's action.
redis.call('LREM', K_DEAD, 0, id)
redis.call('PERSIST', k)
redis.call('HSET', k, 'status', 'pending', 'attempts', 0, 'ready_at_ms', fmt(now_ms()))
redis.call('HDEL', k, 'claim_token', 'acked', 'finished_at_ms', 'expires_at_ms')
redis.call('RPUSH', K_LEVEL[level_of(f[2])], id)
arm_marker()
remember('1')
publish('retried', {id})
return 1
