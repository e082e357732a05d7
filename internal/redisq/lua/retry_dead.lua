-- retry_dead.lua sends one dead-lettered job back to pending, attempts 0.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: id.
-- Returns: 1. Error reply "NOTFOUND <id>" or "WRONGSTATE <id> <status>".
local id = ARGV[3]
local k = job_key(id)
local status = redis.call('HGET', k, 'status')
if not status then
  return redis.error_reply('NOTFOUND ' .. id)
end
if status ~= 'failed' then
  return redis.error_reply('WRONGSTATE ' .. id .. ' is ' .. status)
end
-- O(failed history), which is capped; this is an operator's action.
redis.call('LREM', K_FAILED, 0, id)
redis.call('PERSIST', k)
redis.call('HSET', k, 'status', 'pending', 'attempts', 0)
redis.call('HDEL', k, 'claim_token', 'acked', 'finished_at_ms')
redis.call('RPUSH', K_PENDING, id)
arm_marker()
publish('retried', {id})
return 1
