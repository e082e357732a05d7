-- summaries.lua reads the summaries of a page of jobs, changing nothing (a
-- read-only script): each record less its payload and result, with the
-- payload's size and first bytes, so that what a page sends does not grow
-- with its payloads.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: preview bytes, 0 to backend.MaxPreviewBytes.
-- ARGV[4...]: ids, at most backend.MaxSummaries, each once.
-- Returns: one entry per id that has a record, in the order of ARGV, each
-- {id, payload size, {field, value, field, value...}}: the fields of
-- get.lua's reply but payload and result, and, when the record has a
-- payload, payload holding its first bytes. An id without a record is
-- left out.
-- A scheduled job whose run time has come reads as pending (read_status).
-- Redis reads no range of a hash field: HGET copies a payload into the
-- script, within the server, to cut its preview, and only the preview
-- leaves the server. A payload over MAX_PREVIEWED gets no preview, so
-- that the copies of a call stay small (about 1.4 ms of server time a
-- MiB).
local n = tonumber(ARGV[3])
local now = now_ms()
local out = {}
for i = 4, #ARGV do
  local key = job_key(ARGV[i])
  local names = redis.call('HKEYS', key)
  if #names > 0 then
    local fields, has_payload = {}, false
    for _, f in ipairs(names) do
      if f == 'payload' then
        has_payload = true
      elseif f ~= 'result' then
        fields[#fields + 1] = f
      end
    end
    local rec, status_at, run_at = {}, nil, nil
    if #fields > 0 then
      local values = redis.call('HMGET', key, unpack(fields))
      for k, f in ipairs(fields) do
        rec[#rec + 1] = f
        rec[#rec + 1] = values[k]
        if f == 'status' then
          status_at = #rec
        elseif f == 'run_at_ms' then
          run_at = values[k]
        end
      end
    end
    if status_at then
      rec[status_at] = read_status(rec[status_at], run_at, now)
    end
    local size = 0
    if has_payload then
      size = redis.call('HSTRLEN', key, 'payload')
      local preview = ''
      if n > 0 and size > 0 and size <= MAX_PREVIEWED then
        preview = string.sub(redis.call('HGET', key, 'payload'), 1, n)
      end
      rec[#rec + 1] = 'payload'
      rec[#rec + 1] = preview
    end
    out[#out + 1] = {ARGV[i], size, rec}
  end
end
return out
