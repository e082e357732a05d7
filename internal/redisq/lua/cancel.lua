-- cancel.lua cancels jobs (backend.Canceller).
-- KEYS: the queue keys of lib.lua, and KEYS[11], the request record, when
--   the call has a request id.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: cancelled history max; ARGV[4]: its TTL ms; ARGV[5]: n; then
--   n ids.
-- Returns: an array of n codes, 'OK', 'NOTFOUND' or 'WRONGSTATE'.
-- A pending or scheduled job ends cancelled at once (end_cancelled). A
-- processing one gets its cancel_requested field (lib.lua), which
-- extend.lua refuses and which ends it cancelled when its claim ends
-- (ack.lua, reclaim.lua); nothing else is written, so the cancel reaches
-- its worker with the heartbeat, whatever pub/sub delivered. A job
-- already cancelled, or marked, is 'OK' and changes nothing.
-- A call that changed something records its codes, and its repeat returns
-- them; the record of another kind of call (a request id reused by the
-- caller) reads as a cancel that found every job cancelled.
local n = tonumber(ARGV[5])
local earlier = earlier_run()
if earlier then
  local codes = {}
  for c in string.gmatch(earlier, '%S+') do
    codes[#codes + 1] = c
  end
  if #codes ~= n then
    codes = {}
    for i = 1, n do
      codes[i] = 'OK'
    end
  end
  return codes
end

local ret = ARGV[3] .. ' ' .. ARGV[4]
local codes, changed = {}, false
local pending, scheduled, ended = {}, {}, {}
for i = 1, n do
  local id = ARGV[5 + i]
  local k = job_key(id)
  local f = redis.call('HMGET', k, 'status', 'priority', 'cancel_requested', 'kind')
  local status = f[1]
  codes[i] = 'OK'
  if not status then
    codes[i] = 'NOTFOUND'
  elseif status == 'pending' then
    pending[#pending + 1] = {id, f[2], f[4]}
    ended[#ended + 1] = id
  elseif status == 'scheduled' then
    scheduled[#scheduled + 1] = id
    ended[#ended + 1] = id
  elseif status == 'processing' then
    if not f[3] then
      redis.call('HSET', k, 'cancel_requested', ret)
      changed = true
    end
  elseif status ~= 'cancelled' then
    codes[i] = 'WRONGSTATE'
  end
end
-- O(pending level) per pending job, as delete.lua: an operator's action.
for _, p in ipairs(pending) do
  remove_pending(p[1], p[2], p[3])
end
call_chunked('ZREM', K_SCHEDULED, scheduled)
if #ended > 0 then
  end_cancelled({[ret] = ended}, now_ms())
  changed = true
end
if changed then
  remember(table.concat(codes, ' '))
end
return codes
