-- list.lua returns a page of the ids in one state, in the state's order,
-- changing nothing (a read-only script).
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: state (pending, scheduled, processing, completed, dead,
--   cancelled);
-- ARGV[4]: offset; ARGV[5]: limit.
-- Returns: an array of ids. Error reply "INVALIDSTATE <state>" for an
-- unknown state.
-- Pending lists the priority levels, highest first, then the jobs held
-- for their kinds (claim.lua), then the scheduled
-- jobs whose run time has come, in the order a claim would promote them
-- (each to the tail of its own level); history
-- entries whose records expired are left out (see live_len).
local state, offset, limit = ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local last = offset + limit - 1

local function history(list)
  local live = live_len(list, state)
  if offset >= live then
    return {}
  end
  return redis.call('LRANGE', list, offset, math.min(last, live - 1))
end

if state == 'pending' then
  -- skip is what is left of offset after the lists before this one.
  local ids, skip = {}, offset
  local function page(list)
    local n = redis.call('LLEN', list)
    if skip < n then
      for _, id in ipairs(redis.call('LRANGE', list, skip, skip + limit - #ids - 1)) do
        ids[#ids + 1] = id
      end
      skip = 0
    else
      skip = skip - n
    end
  end
  local lists = {}
  for l = MAX_LEVEL, 0, -1 do
    lists[#lists + 1] = K_LEVEL[l]
  end
  -- Then the jobs held for their kinds (claim.lua), kind by kind in name
  -- order, each kind's levels highest first.
  local held = redis.call('SMEMBERS', kind_key('kheld'))
  table.sort(held)
  for _, kind in ipairs(held) do
    for _, list in ipairs(held_keys(kind)) do
      lists[#lists + 1] = list
    end
  end
  for _, list in ipairs(lists) do
    if #ids == limit then
      return ids
    end
    page(list)
  end
  if #ids < limit then
    local due = redis.call('ZRANGEBYSCORE', K_SCHEDULED, '-inf', fmt(now_ms()), 'LIMIT', skip, limit - #ids)
    for _, id in ipairs(due) do
      ids[#ids + 1] = id
    end
  end
  return ids
elseif state == 'scheduled' then
  return redis.call('ZRANGEBYSCORE', K_SCHEDULED, '(' .. fmt(now_ms()), '+inf', 'LIMIT', offset, limit)
elseif state == 'processing' then
  return redis.call('ZRANGE', K_PROCESSING, offset, last)
elseif state == 'completed' then
  return history(K_COMPLETED)
elseif state == 'dead' then
  return history(K_DEAD)
elseif state == 'cancelled' then
  return history(cancelled_key())
end
return redis.error_reply('INVALIDSTATE ' .. state)
