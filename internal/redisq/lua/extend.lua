-- extend.lua renews the leases of claimed jobs (a heartbeat).
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: lease ms, counted from now; ARGV[4]: n; then n pairs id, token.
-- Returns: an array of n codes, 'OK', 'NOTFOUND', 'LOSTCLAIM' or
--   'CANCELLED' (the job's cancel was requested, or ended its claim: see
--   ack.lua), which renews nothing.
-- Publishes nothing: a heartbeat is not a state change.
local lease, n = tonumber(ARGV[3]), tonumber(ARGV[4])
local now = now_ms()
local until_ms = now + lease
local codes = {}
for i = 0, n - 1 do
  local id, token = ARGV[5 + i * 2], ARGV[6 + i * 2]
  local k = job_key(id)
  local f = redis.call('HMGET', k, 'status', 'claim_token', 'acked', 'cancel_requested')
  if not f[1] then
    codes[#codes + 1] = 'NOTFOUND'
  elseif f[2] == token and (f[3] == 'cancelled' or (f[1] == 'processing' and f[4] and (f[3] or '') == '')) then
    codes[#codes + 1] = 'CANCELLED'
  elseif f[1] ~= 'processing' or f[2] ~= token or (f[3] and f[3] ~= '') then
    codes[#codes + 1] = 'LOSTCLAIM'
  else
    redis.call('ZADD', K_PROCESSING, until_ms, id)
    redis.call('HSET', k, 'lease_until_ms', until_ms)
    codes[#codes + 1] = 'OK'
  end
end
return codes
