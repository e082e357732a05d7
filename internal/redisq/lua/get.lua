-- get.lua reads one job record, changing nothing (a read-only script).
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: id.
-- Returns: the record as a flat array field, value, field, value...
-- Error reply "NOTFOUND <id>" when there is no record.
-- A scheduled job whose run time has come reads as pending, as a claim
-- would find it; its record stays as it is until a claim or a reclaim
-- promotes it.
local rec = redis.call('HGETALL', job_key(ARGV[3]))
if #rec == 0 then
  return redis.error_reply('NOTFOUND ' .. ARGV[3])
end
local status_at, run_at
for i = 1, #rec, 2 do
  if rec[i] == 'status' then
    status_at = i + 1
  elseif rec[i] == 'run_at_ms' then
    run_at = tonumber(rec[i + 1])
  end
end
if status_at and rec[status_at] == 'scheduled' and run_at and run_at <= now_ms() then
  rec[status_at] = 'pending'
end
return rec
