-- unschedule.lua forgets a schedule of the queue (backend.ScheduleKeeper's
-- RemoveSchedule): its fields in the hash queue:{q}:schedules that
-- schedule.lua writes, and nothing else.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: schedule name.
-- Returns: 1, whether the schedule was recorded or not.
-- It takes no request id: a repeat finds nothing to delete.
local name = ARGV[3]
redis.call('HDEL', schedules_key(), 'def:' .. name, 'last:' .. name, 'seen:' .. name)
return 1
