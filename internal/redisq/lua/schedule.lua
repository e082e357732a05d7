-- schedule.lua records a schedule of the queue (backend.ScheduleKeeper's
-- MarkSchedule) in the hash queue:{q}:schedules (schedules_key): field
-- 'def:<name>' holds its definition, 'last:<name>' its last tick in ms,
-- 'seen:<name>' when a scheduler last ran it, in ms on the scheduler's
-- clock. The last tick and the seen time only ever move forward.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: schedule name.
-- ARGV[4]: definition.
-- ARGV[5]: tick in ms, or '0' to record none.
-- ARGV[6]: seen time in ms, or '0' to record none.
-- Returns: 1.
-- It takes no request id: a repeat writes the same definition, and a tick
-- and a seen time no later than those recorded, which changes nothing.
local key = schedules_key()
local name = ARGV[3]
local fields = {'def:' .. name, ARGV[4]}
local tick, seen = tonumber(ARGV[5]), tonumber(ARGV[6])
if tick > 0 or seen > 0 then
  local rec = redis.call('HMGET', key, 'last:' .. name, 'seen:' .. name)
  if tick > 0 and (not rec[1] or tick > tonumber(rec[1])) then
    fields[#fields + 1], fields[#fields + 2] = 'last:' .. name, ARGV[5]
  end
  if seen > 0 and (not rec[2] or seen > tonumber(rec[2])) then
    fields[#fields + 1], fields[#fields + 2] = 'seen:' .. name, ARGV[6]
  end
end
redis.call('HSET', key, unpack(fields))
return 1
