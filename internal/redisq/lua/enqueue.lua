-- enqueue.lua adds the jobs of one or more Enqueue calls of a queue: the
-- calls that the Engine gathered while an earlier enqueue was in flight
-- (see enqueueGroup), each all or nothing on its own.
-- KEYS: the queue keys of lib.lua (KEYS[1]..KEYS[7 + MAX_LEVEL]), then the
--   request records of the calls that have a request id, in call order.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: m, the number of calls; then per call: r, the index in KEYS of
--   its request record (0: none), n, its number of jobs, and n groups of
--   10: id, payload, max_attempts, delay_ms (<= 0: pending now), priority
--   (0 to MAX_LEVEL), kind, headers (JSON, '' for none), timeout_ms (0:
--   none), expiry_ms (0: none; counted from now), unique ('' for none, or
--   "<window_ms> <on> <key>", on being '-' or the letters of the finished
--   states that end the hold, see lib.lua's release_unique).
-- Returns: an array of m replies, one per call: its n, "EXISTS <id>"
--   when any of its ids is already stored, or "DUPLICATE <i> <holder> ..."
--   listing each of its jobs (by 0-based index in the call) whose unique
--   key another job holds, with that job's id; then nothing of that call
--   was written.
-- A repeat of a call that stored its jobs (its request record exists)
-- succeeds without storing anything, even when those jobs have finished
-- and gone since, so a lost reply never makes a duplicate job. It renews
-- the record's expiry, its one write: a durable enqueue's WAIT after the
-- repeat then covers the first run's writes (see the redisq package's
-- durable.go), as it would not after a call that wrote nothing. The record is
-- written first, by the one command that also looks for it (first_run),
-- and taken back when the call is refused.
-- A unique key is taken (SET NX GET PX: the holder's id if held) after
-- the ids are checked; a call refused for a held key gives back the keys
-- it took, which no other call can have seen, since Redis runs one call
-- at a time.
local m = tonumber(ARGV[3])
local now = now_ms()
local now_s = fmt(now)
local replies, ids, ready, delayed = {}, {}, {}, {}
local a = 4
for c = 1, m do
  local r, n = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local first = a + 2
  a = first + 10 * n
  local key = r > 0 and KEYS[r]
  replies[c] = n
  if first_run(key, '1') then
    for b = first, a - 1, 10 do
      if redis.call('EXISTS', job_key(ARGV[b])) == 1 then
        forget(key)
        replies[c] = 'EXISTS ' .. ARGV[b]
        break
      end
    end
    local taken, dups = {}, {}
    if replies[c] == n then
      for b = first, a - 1, 10 do
        if ARGV[b + 9] ~= '' then
          local window, _, ukey = string.match(ARGV[b + 9], '^(%d+) (%S+) (.+)$')
          local uk = unique_key(ukey)
          local holder = redis.call('SET', uk, ARGV[b], 'NX', 'GET', 'PX', window)
          if holder then
            dups[#dups + 1] = fmt((b - first) / 10) .. ' ' .. holder
          else
            taken[#taken + 1] = uk
          end
        end
      end
      if #dups > 0 then
        del_all(taken)
        forget(key)
        replies[c] = 'DUPLICATE ' .. table.concat(dups, ' ')
      end
    end
    if replies[c] == n then
      for b = first, a - 1, 10 do
        local id, delay, priority = ARGV[b], tonumber(ARGV[b + 3]), ARGV[b + 4]
        local k = job_key(id)
        if delay <= 0 and priority == '0' and ARGV[b + 6] == '' and ARGV[b + 7] == '0' and ARGV[b + 8] == '0'
          and ARGV[b + 9] == '' then
          -- The common job, with no table to build: pending now at level
          -- 0, with a kind or none.
          if ARGV[b + 5] == '' then
            redis.call('HSET', k, 'id', id, 'payload', ARGV[b + 1], 'attempts', '0', 'max_attempts', ARGV[b + 2],
              'enqueued_at_ms', now_s, 'status', 'pending')
          else
            redis.call('HSET', k, 'id', id, 'payload', ARGV[b + 1], 'attempts', '0', 'max_attempts', ARGV[b + 2],
              'enqueued_at_ms', now_s, 'kind', ARGV[b + 5], 'status', 'pending')
          end
          add_at(ready, 0, id)
        else
          local fields = {'id', id, 'payload', ARGV[b + 1], 'attempts', '0', 'max_attempts', ARGV[b + 2],
            'enqueued_at_ms', now_s}
          -- The fields of features a job does not use are not written.
          if priority ~= '0' then
            fields[#fields + 1] = 'priority'
            fields[#fields + 1] = priority
          end
          if ARGV[b + 5] ~= '' then
            fields[#fields + 1] = 'kind'
            fields[#fields + 1] = ARGV[b + 5]
          end
          if ARGV[b + 6] ~= '' then
            fields[#fields + 1] = 'headers'
            fields[#fields + 1] = ARGV[b + 6]
          end
          if ARGV[b + 7] ~= '0' then
            fields[#fields + 1] = 'timeout_ms'
            fields[#fields + 1] = ARGV[b + 7]
          end
          local expiry = tonumber(ARGV[b + 8])
          if expiry > 0 then
            fields[#fields + 1] = 'expires_at_ms'
            fields[#fields + 1] = fmt(now + expiry)
          end
          -- A key held for its whole window needs nothing of the job.
          local on, ukey = string.match(ARGV[b + 9], '^%d+ (%S+) (.+)$')
          if on and on ~= '-' then
            fields[#fields + 1] = 'unique'
            fields[#fields + 1] = on .. ' ' .. ukey
          end
          fields[#fields + 1] = 'status'
          if delay > 0 then
            local run_at = fmt(now + delay)
            fields[#fields + 1] = 'scheduled'
            fields[#fields + 1] = 'run_at_ms'
            fields[#fields + 1] = run_at
            delayed[#delayed + 1] = run_at
            delayed[#delayed + 1] = id
          else
            fields[#fields + 1] = 'pending'
            add_at(ready, level_of(priority), id)
          end
          redis.call('HSET', k, unpack(fields))
        end
        ids[#ids + 1] = id
      end
    end
  else
    redis.call('PEXPIRE', key, REQUEST_WINDOW_MS)
  end
end
if #ids == 0 then
  return replies
end
call_chunked('ZADD', K_SCHEDULED, delayed)
-- The marker is armed only when a claimer may be blocked without one: a
-- pending level this push found empty (while any level holds jobs, a
-- wake-up is armed or in flight, since every claim that leaves jobs
-- pending re-arms it), or delayed jobs, since a blocked claimer then
-- re-reads the earliest run-at, which these jobs may have moved closer.
if push_levels(ready) or #delayed > 0 then
  arm_marker()
end
bump('enqueued_total', #ids, now)
publish('enqueued', ids)
return replies
