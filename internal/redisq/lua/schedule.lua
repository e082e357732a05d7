-- schedule.lua records a schedule of the queue (backend.ScheduleKeeper's
-- MarkSchedule) in the hash queue:{q}:schedules (schedules_key): field
-- 'def:<name>' holds its definition, 'last:<name>' its last tick in ms.
-- The last tick only ever moves forward.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: schedule name.
-- ARGV[4]: definition.
-- ARGV[5]: tick in ms, or '0' to record the definition alone.
-- Returns: 1.
-- It takes no request id: a repeat writes the same definition and a tick
-- no later than the one recorded, which changes nothing.
local key = schedules_key()
local name, tick = ARGV[3], ARGV[5]
local fields = {'def:' .. name, ARGV[4]}
if tonumber(tick) > 0 then
  local last = redis.call('HGET', key, 'last:' .. name)
  if not last or tonumber(tick) > tonumber(last) then
    fields[3], fields[4] = 'last:' .. name, tick
  end
end
redis.call('HSET', key, unpack(fields))
return 1
