-- get.lua reads one job record.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: id.
-- Returns: the record as a flat array field, value, field, value...
-- Error reply "NOTFOUND <id>" when there is no record.
-- Due scheduled jobs are promoted first, so a job whose run-at has passed
-- reads as pending, as Claim would find it.
promote(now_ms())
local rec = redis.call('HGETALL', job_key(ARGV[3]))
if #rec == 0 then
  return redis.error_reply('NOTFOUND ' .. ARGV[3])
end
return rec
