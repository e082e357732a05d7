-- delete.lua removes one job, in whatever state it is.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: id.
-- Returns: 1. Error reply "NOTFOUND <id>".
local id = ARGV[3]
local k = job_key(id)
local status = redis.call('HGET', k, 'status')
if not status then
  return redis.error_reply('NOTFOUND ' .. id)
end
-- The lists cost O(n) to search; deleting one job is an operator's action.
if status == 'pending' then
  redis.call('LREM', K_PENDING, 0, id)
elseif status == 'completed' then
  redis.call('LREM', K_COMPLETED, 0, id)
elseif status == 'failed' then
  redis.call('LREM', K_FAILED, 0, id)
end
redis.call('ZREM', K_SCHEDULED, id)
redis.call('ZREM', K_PROCESSING, id)
redis.call('DEL', k)
publish('deleted', {id})
return 1
