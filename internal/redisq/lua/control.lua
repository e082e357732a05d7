-- control.lua changes a queue's settings (backend.Controller), kept in
-- its control hash (lib.lua's control_key), which Purge leaves alone.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: 'pause', 'resume', 'limits' or 'klimits'; for 'limits', ARGV[4]
--   the concurrency limit, ARGV[5] the rate limit and ARGV[6] its period
--   in ms, '0' for none; 'klimits' takes the same for the kind ARGV[7].
-- Returns: 1. Error reply "TOOMANYKINDS <max>" when 'klimits' would give limits
-- to more than MAX_LIMITED_KINDS kinds.
-- A kind's limits live in the klimits hash (lib.lua's kind_key), and the
-- control hash's 'kinds' field tells claims to read it; the removal of
-- the last kind's limits clears it when no job is held, and otherwise
-- claim.lua does once none is. Removing a kind's
-- concurrency limit forgets its count of processing jobs (krun), as
-- removing its rate limit forgets its window.
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
if op == 'klimits' then
  local kind, limits = ARGV[7], kind_key('klimits')
  local was, value = redis.call('HGET', limits, kind), conc .. ' ' .. rate .. ' ' .. per
  if conc == '0' and rate == '0' then
    value = false
    redis.call('HDEL', limits, kind)
    redis.call('DEL', kind_key('krun', kind), kind_key('kstarts', kind))
    if redis.call('EXISTS', limits, kind_key('kheld')) == 0 then
      redis.call('HDEL', key, 'kinds')
    end
  else
    if redis.call('HEXISTS', limits, kind) == 0 and redis.call('HLEN', limits) >= MAX_LIMITED_KINDS then
      return redis.error_reply('TOOMANYKINDS ' .. MAX_LIMITED_KINDS)
    end
    redis.call('HSET', limits, kind, value)
    if conc == '0' then
      redis.call('DEL', kind_key('krun', kind))
    end
    if rate == '0' then
      redis.call('DEL', kind_key('kstarts', kind))
    end
    redis.call('HSET', key, 'kinds', '1')
  end
  arm_marker()
  if was ~= value then
    publish_queue('limits')
  end
  return 1
end
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
