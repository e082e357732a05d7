-- delete.lua removes one job, in whatever state it is.
-- KEYS: the queue keys of lib.lua, and KEYS[11], the request record, when
--   the call has a request id.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: id.
-- Returns: 1. Error reply "NOTFOUND <id>".
-- A repeat of a call that deleted the job returns 1 and changes nothing,
-- even when the id was enqueued again since. A job whose unique key ends
-- with it gives the key up (lib.lua's release_unique), and one claimed
-- under its kind's limit its slot (lib.lua's kind_slot).
if earlier_run() then
  return 1
end
local id = ARGV[3]
local k = job_key(id)
local f = redis.call('HMGET', k, 'status', 'priority', 'unique', 'kind', 'kslot', 'claim_token')
local status = f[1]
if not status then
  return redis.error_reply('NOTFOUND ' .. id)
end
-- The lists cost O(n) to search; deleting one job is an operator's action.
if status == 'pending' then
  remove_pending(id, f[2], f[4])
elseif status == 'processing' then
  local freed = {}
  kind_slot(freed, id, f[4], f[5], f[6])
  release_kind_slots(freed)
elseif status == 'completed' then
  redis.call('LREM', K_COMPLETED, 0, id)
elseif status == 'dead' then
  redis.call('LREM', K_DEAD, 0, id)
elseif status == 'cancelled' then
  redis.call('LREM', cancelled_key(), 0, id)
end
redis.call('ZREM', K_SCHEDULED, id)
if redis.call('ZREM', K_PROCESSING, id) == 1 and slot_wanted() then
  -- A slot of the queue's concurrency limit freed (ack.lua).
  arm_marker()
end
redis.call('DEL', k)
release_unique(id, f[3])
remember('1')
publish('deleted', {id})
return 1
