-- get.lua reads one job record, changing nothing (a read-only script).
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: id.
-- Returns: the record as a flat array field, value, field, value...
-- Error reply "NOTFOUND <id>" when there is no record.
-- A scheduled job whose run time has come reads as pending (read_status).
local rec = redis.call('HGETALL', job_key(ARGV[3]))
if #rec == 0 then
  return redis.error_reply('NOTFOUND ' .. ARGV[3])
end
local status_at, run_at
for i = 1, #rec, 2 do
  if rec[i] == 'status' then
    status_at = i + 1
  elseif rec[i] == 'run_at_ms' then
    run_at = rec[i + 1]
  end
end
if status_at then
  rec[status_at] = read_status(rec[status_at], run_at)
end
return rec
