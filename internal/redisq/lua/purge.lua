-- purge.lua deletes one batch of a queue's jobs; the caller repeats it
-- until it returns 0. Only ids this queue references are touched, and
-- every live record is referenced by exactly one of its lists or zsets, so
-- no SCAN is needed (SCAN is per node on a Cluster).
-- KEYS: the queue keys of lib.lua, and KEYS[11], the request record, when
--   the call has a request id.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: batch size.
-- Returns: 1 when more remains, 0 when the queue's keys are all gone. The
-- history hashes go with the last batch, the hours they may cover found
-- from TIME (lib.lua's hist_keys).
-- The batch that finishes a purge records it: a repeat of the whole purge
-- then returns 0 at once and deletes nothing enqueued since. A batch
-- repeated before that simply goes on with the purge. Request records
-- themselves are not purged; they expire. Nor are unique keys, whose
-- windows run on, except those that end with their jobs (lib.lua's
-- release_unique), which the purged jobs give up. Nor are the queue's
-- settings (control.lua).
if earlier_run() then
  return 0
end
local batch = tonumber(ARGV[3])
local function drop(ids)
  for _, id in ipairs(ids) do
    local k = job_key(id)
    release_unique(id, redis.call('HGET', k, 'unique'))
    redis.call('DEL', k)
  end
end
local lists = {K_COMPLETED, K_DEAD, cancelled_key()}
for l = 0, MAX_LEVEL do
  lists[#lists + 1] = K_LEVEL[l]
end
-- The kinds' kheld lists hold pending jobs too (lib.lua's kind_key).
local held = redis.call('SMEMBERS', kind_key('kheld'))
for _, kind in ipairs(held) do
  for _, list in ipairs(held_keys(kind)) do
    lists[#lists + 1] = list
  end
end
for _, list in ipairs(lists) do
  local ids = redis.call('LRANGE', list, 0, batch - 1)
  if #ids > 0 then
    drop(ids)
    redis.call('LTRIM', list, #ids, -1)
    return 1
  end
end
for _, zset in ipairs({K_SCHEDULED, K_PROCESSING}) do
  local ids = redis.call('ZRANGE', zset, 0, batch - 1)
  if #ids > 0 then
    drop(ids)
    redis.call('ZREMRANGEBYRANK', zset, 0, #ids - 1)
    return 1
  end
end
del_all(hist_keys(now_ms()))
-- The kinds' counts of processing jobs went with the jobs; their limits
-- and rate windows are settings, which a purge keeps, as the queue's.
local gone = {kind_key('kheld')}
for _, kind in ipairs(redis.call('HKEYS', kind_key('klimits'))) do
  gone[#gone + 1] = kind_key('krun', kind)
end
del_all(gone)
redis.call('DEL', K_STATS, K_MARKER, workers_key(), schedules_key())
remember('1')
publish_queue('purged')
return 0
