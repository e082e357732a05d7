-- history.lua reads the per-minute history of the last m minutes of a
-- queue, changing nothing (a read-only script).
-- KEYS: the queue keys of lib.lua (none is read: the history hashes are
--   derived from ARGV[1], see lib.lua's record).
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: m, the number of minutes, 1 to those of HISTORY_MS.
-- Returns: {now_ms, hour_ms, fields, hour_ms, fields, ...}: TIME, then
-- each hour that holds a minute of the window, oldest first, with its
-- hash as a flat field, value... array (empty when it does not exist).
-- The window ends with the minute of now_ms. One HGETALL per hour: at
-- most 25, of at most 60 fields per counter each.
local m = tonumber(ARGV[3])
local now = now_ms()
local first = now - now % MINUTE_MS - (m - 1) * MINUTE_MS
local out = {now}
for hour = first - first % HOUR_MS, now, HOUR_MS do
  out[#out + 1] = hour
  out[#out + 1] = redis.call('HGETALL', hist_key(hour))
end
return out
