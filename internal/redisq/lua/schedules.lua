-- schedules.lua reads the schedules of the queue (backend.ScheduleKeeper's
-- Schedules): the hash queue:{q}:schedules that schedule.lua writes.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- Returns: the hash's fields and values, flat (HGETALL).
return redis.call('HGETALL', schedules_key())
