-- delete.lua removes one job, in whatever state it is.
-- KEYS: the queue keys of lib.lua, and KEYS[11], the request record, when
--   the call has a request id.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: id.
-- Returns: 1. Error reply "NOTFOUND <id>".
-- A repeat of a call that deleted the job returns 1 and changes nothing,
-- even when the id was enqueued again since. A job whose unique key ends
-- with it gives the key up (lib.lua's release_unique).
if earlier_run() then
  return 1
end
local id = ARGV[3]
local k = job_key(id)
local f = redis.call('HMGET', k, 'status', 'priority', 'unique')
local status = f[1]
if not status then
  return redis.error_reply('NOTFOUND ' .. id)
end
-- The lists cost O(n) to search; deleting one job is an operator's action.
if status == 'pending' then
  redis.call('LREM', K_LEVEL[level_of(f[2])], 0, id)
elseif status == 'completed' then
  redis.call('LREM', K_COMPLETED, 0, id)
elseif status == 'dead' then
  redis.call('LREM', K_DEAD, 0, id)
end
redis.call('ZREM', K_SCHEDULED, id)
redis.call('ZREM', K_PROCESSING, id)
redis.call('DEL', k)
release_unique(id, f[3])
remember('1')
publish('deleted', {id})
return 1
