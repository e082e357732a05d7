-- control.lua changes a queue's settings (backend.Controller), kept in
-- its control hash (lib.lua's control_key), which Purge leaves alone.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: 'pause', 'resume' or 'limits'; for 'limits', ARGV[4] the
--   concurrency limit, ARGV[5] the rate limit and ARGV[6] its period in
--   ms, '0' for none.
-- Returns: 1.
-- A resume that ends a pause, and every change of limits, arms the
-- marker: a waiting claimer looks again at once, and claim.lua chains the
-- wake-up on while jobs are left and the settings allow. Removing the rate
-- limit deletes its window (starts_key). A repeat sets the same again.
-- A call that changes the settings publishes "paused", "resumed" or
-- "limits" (naming no job); one that leaves them as they were, a repeat
-- included, publishes nothing.
local op, key = ARGV[3], control_key()
if op == 'pause' then
  if redis.call('HSET', key, 'paused', '1') == 1 then
    publish_queue('paused')
  end
  return 1
elseif op == 'resume' then
  if redis.call('HDEL', key, 'paused') == 1 then
    arm_marker()
    publish_queue('resumed')
  end
  return 1
end
local conc, rate, per = ARGV[4], ARGV[5], ARGV[6]
-- The fields hold what this script wrote, so comparing the strings
-- compares the limits; a missing field is no limit, '0'. A period counts
-- only with a rate.
local was = redis.call('HMGET', key, 'conc', 'rate', 'per_ms')
local changed = (was[1] or '0') ~= conc or (was[2] or '0') ~= rate or (rate ~= '0' and was[3] ~= per)
if conc == '0' then
  redis.call('HDEL', key, 'conc', 'slot_wanted')
else
  redis.call('HSET', key, 'conc', conc)
end
if rate == '0' then
  redis.call('HDEL', key, 'rate', 'per_ms')
  redis.call('DEL', starts_key())
else
  redis.call('HSET', key, 'rate', rate, 'per_ms', per)
end
arm_marker()
if changed then
  publish_queue('limits')
end
return 1
