-- reclaim.lua returns up to max jobs whose lease has expired to the tail
-- of their level of pending, earliest deadline first, or dead-letters
-- those out of attempts.
-- KEYS: the queue keys of lib.lua, and KEYS[11], the request record, when
--   the call has a request id.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: max jobs; ARGV[4]: dead history max; ARGV[5]: dead history TTL ms.
-- Returns: {requeued_ids, dead_ids}.
-- A job whose cancel was requested while it was claimed (lib.lua) ends
-- cancelled instead, in neither list, keeping its token with 'acked'
-- 'cancelled', so that its claim's late acknowledgements report
-- CANCELLED (ack.lua).
-- Each job frees its kind's slot (lib.lua's kind_slot).
-- The claim token is cleared (an empty one is unset), so the old claim's
-- acknowledgements report LOSTCLAIM from now on. A call that reclaimed
-- jobs records their ids, "requeued ids\ndead ids", and its repeat returns
-- them without reclaiming more; the record of another kind of call (a
-- request id reused by the caller) reads as a reclaim that took nothing.
local earlier = earlier_run()
if earlier then
  local cut = string.find(earlier, '\n', 1, true)
  local requeued, dead = {}, {}
  if not cut then
    return {requeued, dead}
  end
  for id in string.gmatch(string.sub(earlier, 1, cut - 1), '%S+') do
    requeued[#requeued + 1] = id
  end
  for id in string.gmatch(string.sub(earlier, cut + 1), '%S+') do
    dead[#dead + 1] = id
  end
  return {requeued, dead}
end

local max, dmax, dttl = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local now = now_ms()
local expired = redis.call('ZRANGEBYSCORE', K_PROCESSING, '-inf', now, 'LIMIT', 0, max)
local now_s = fmt(now)
local requeued, dead, reasons = {}, {}, {}
local by_level = {}
local cancelling = {}
local freed = {}
call_chunked('ZREM', K_PROCESSING, expired)
for _, id in ipairs(expired) do
  local k = job_key(id)
  local f = redis.call('HMGET', k, 'status', 'attempts', 'max_attempts', 'priority', 'cancel_requested', 'kind',
    'kslot', 'claim_token')
  if f[1] == 'processing' then
    kind_slot(freed, id, f[6], f[7], f[8])
  end
  -- Only a processing record is this entry's: any other status means the
  -- entry is stale (left behind by a state change that missed it), and
  -- re-pending it would run a job that is pending, done or dead again.
  if f[1] == 'processing' and f[5] then
    redis.call('HSET', k, 'acked', 'cancelled')
    add_at(cancelling, f[5], id)
  elseif f[1] == 'processing' then
    local attempts, max_attempts = tonumber(f[2]) or 0, tonumber(f[3]) or 0
    if attempts >= max_attempts then
      dead[#dead + 1] = id
      -- The stored strings: a Lua number would print a large count as 1e+15.
      reasons[#dead] = 'jobqueue: lease expired on attempt ' .. (f[2] or '0') .. ' of ' .. (f[3] or '0')
    else
      redis.call('HSET', k, 'status', 'pending', 'ready_at_ms', now_s, 'claim_token', '', 'acked', '')
      requeued[#requeued + 1] = id
      add_at(by_level, level_of(f[4]), id)
    end
  end
end
push_levels(by_level)
release_kind_slots(freed)
if #dead > 0 then
  dead_letter(dead, reasons, now, dmax, dttl)
end
if #requeued > 0 or (#dead > 0 and slot_wanted()) then
  arm_marker()
end
local cancelled = 0
for _, ids in pairs(cancelling) do
  cancelled = cancelled + #ids
end
end_cancelled(cancelling, now)
if #requeued + #dead + cancelled > 0 then
  remember(table.concat(requeued, ' ') .. '\n' .. table.concat(dead, ' '))
end
bump('reclaimed_total', #requeued + #dead, now)
bump('dead_total', #dead, now)
publish('reclaimed', requeued)
publish('dead', dead)
return {requeued, dead}
