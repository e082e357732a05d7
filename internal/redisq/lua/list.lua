-- list.lua returns a page of the ids in one state, in the state's order.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: state (pending, scheduled, processing, completed, failed);
-- ARGV[4]: offset; ARGV[5]: limit.
-- Returns: an array of ids. Error reply "INVALIDSTATE <state>" for an
-- unknown state.
local state, offset, limit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local last = offset + limit - 1
promote(now_ms())
if state == 'pending' then
  return redis.call('LRANGE', K_PENDING, offset, last)
elseif state == 'scheduled' then
  return redis.call('ZRANGE', K_SCHEDULED, offset, last)
elseif state == 'processing' then
  return redis.call('ZRANGE', K_PROCESSING, offset, last)
elseif state == 'completed' then
  prune_tail(K_COMPLETED, 'completed')
  return redis.call('LRANGE', K_COMPLETED, offset, last)
elseif state == 'failed' then
  prune_tail(K_FAILED, 'failed')
  return redis.call('LRANGE', K_FAILED, offset, last)
end
return redis.error_reply('INVALIDSTATE ' .. state)
