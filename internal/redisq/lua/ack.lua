-- ack.lua records the outcome of claimed jobs: complete, fail or release.
-- KEYS: the queue keys of lib.lua.
-- ARGV[1], ARGV[2]: job key prefix, events channel (lib.lua).
-- ARGV[3]: mode, 'complete' | 'fail' | 'release'.
-- ARGV[4]: history max, ARGV[5]: history TTL ms (complete: the completed
--   history; fail: the dead history; unused by release).
-- ARGV[6]: n, the number of items; then n groups of 6:
--   id, token, text (the result or the error), note (complete: kept as
--   last_error when not empty), outcome (fail: 'retry', 'dead' or
--   'snooze'), delay_ms (fail: of the retry or the snooze).
-- Returns: an array of n codes, 'OK', 'NOTFOUND', 'LOSTCLAIM' or
--   'CANCELLED'.
-- A job retried, snoozed or released stays on its priority level: retried
-- and snoozed jobs join the tail of its pending list, released ones its
-- head.
-- The job's 'acked' field records which outcome its current token got, so
-- repeating the same outcome with the same token is an 'OK' that changes
-- nothing, and any other outcome with it is 'LOSTCLAIM'. The repeat
-- writes the field again, as it is: a durable acknowledgement's WAIT after
-- the repeat then covers the first run's writes (see the redisq package's
-- durable.go). An empty 'acked'
-- is unset: claim.lua overwrites it rather than spend an HDEL.
-- A job whose cancel was requested while it was claimed (its
-- cancel_requested field, lib.lua) takes no outcome: it ends cancelled
-- (end_cancelled), with 'acked' 'cancelled', which any acknowledgement
-- with its token then reports as 'CANCELLED'.
-- A job that finishes gives up its unique key when its 'unique' field
-- says so (lib.lua's release_unique). Every job that leaves processing
-- frees its kind's slot, when it was claimed under its kind's limit
-- (lib.lua's kind_slot).
-- The lists and zsets are written once per call, not once per job.
local mode = ARGV[3]
local hmax, httl = tonumber(ARGV[4]), tonumber(ARGV[5])
local n = tonumber(ARGV[6])
local now = now_ms()
local now_s = fmt(now)

local codes = {}
local done, completed, retrying, snoozed, dead, released = {}, {}, {}, {}, {}, {}
-- By level (see add_at): the jobs back to pending's tail, and released.
local repending, releasing = {}, {}
local rescheduled = {}
-- By cancel_requested (see end_cancelled): the jobs whose cancel ends them.
local cancelling = {}
-- By kind: the jobs that free a slot of their kind's limit.
local freed = {}
for i = 0, n - 1 do
  local b = 7 + i * 6
  local id, token, text = ARGV[b], ARGV[b + 1], ARGV[b + 2]
  local k = job_key(id)
  local f = redis.call('HMGET', k, 'status', 'claim_token', 'acked', 'attempts', 'priority', 'cancel_requested', 'unique',
    'kind', 'kslot')
  local status, current, acked = f[1], f[2], f[3]
  if not status then
    codes[#codes + 1] = 'NOTFOUND'
  elseif current ~= token then
    codes[#codes + 1] = 'LOSTCLAIM'
  elseif acked == 'cancelled' then
    codes[#codes + 1] = 'CANCELLED'
  elseif acked and acked ~= '' then
    if acked == mode then
      redis.call('HSET', k, 'acked', acked)
      codes[#codes + 1] = 'OK'
    else
      codes[#codes + 1] = 'LOSTCLAIM'
    end
  elseif status ~= 'processing' then
    codes[#codes + 1] = 'LOSTCLAIM'
  elseif f[6] then
    done[#done + 1] = id
    kind_slot(freed, id, f[8], f[9], token)
    redis.call('HSET', k, 'acked', 'cancelled')
    add_at(cancelling, f[6], id)
    codes[#codes + 1] = 'CANCELLED'
  else
    done[#done + 1] = id
    kind_slot(freed, id, f[8], f[9], token)
    if mode == 'complete' then
      local note = ARGV[b + 3]
      if note == '' then
        redis.call('HSET', k, 'status', 'completed', 'acked', mode, 'finished_at_ms', now_s, 'result', text)
      else
        redis.call('HSET', k, 'status', 'completed', 'acked', mode, 'finished_at_ms', now_s, 'result', text,
          'last_error', note)
      end
      completed[#completed + 1] = id
      release_unique(id, f[7], 'c')
    elseif mode == 'release' then
      redis.call('HSET', k, 'status', 'pending', 'acked', mode, 'attempts', (tonumber(f[4]) or 1) - 1)
      released[#released + 1] = id
      add_at(releasing, level_of(f[5]), id)
    else
      local outcome, delay = ARGV[b + 4], tonumber(ARGV[b + 5])
      if outcome == 'dead' then
        redis.call('HSET', k, 'acked', mode, 'last_error', text, 'status', 'dead', 'finished_at_ms', now_s)
        dead[#dead + 1] = id
        release_unique(id, f[7], 'd')
      else
        -- A retry records its error; a snooze gives its attempt back, as a
        -- release does, and keeps the last error it had.
        local set = {'acked', mode}
        if outcome == 'snooze' then
          set[3], set[4] = 'attempts', (tonumber(f[4]) or 1) - 1
          snoozed[#snoozed + 1] = id
        else
          set[3], set[4] = 'last_error', text
          retrying[#retrying + 1] = id
        end
        if delay > 0 then
          local run_at = fmt(now + delay)
          redis.call('HSET', k, 'status', 'scheduled', 'run_at_ms', run_at, unpack(set))
          rescheduled[#rescheduled + 1] = run_at
          rescheduled[#rescheduled + 1] = id
        else
          redis.call('HSET', k, 'status', 'pending', 'ready_at_ms', now_s, unpack(set))
          add_at(repending, level_of(f[5]), id)
        end
      end
    end
    codes[#codes + 1] = 'OK'
  end
end

call_chunked('ZREM', K_PROCESSING, done)
release_kind_slots(freed)
call_chunked('ZADD', K_SCHEDULED, rescheduled)
push_levels(repending)
add_history(K_COMPLETED, 'completed', completed, hmax, httl, now)
add_history(K_DEAD, 'dead', dead, hmax, httl, now)
-- Released jobs go ahead of every pending job of their level, in the
-- order given.
push_levels(releasing, true)
end_cancelled(cancelling, now)
if #released > 0 or #retrying > 0 or #snoozed > 0 or (#done > 0 and slot_wanted()) then
  arm_marker()
end
bump('completed_total', #completed, now)
bump('retried_total', #retrying, now)
bump('dead_total', #dead, now)
-- Failed has no stats total: the attempts this call ended with an error.
record('failed', #retrying + #dead, now)
publish('completed', completed)
publish('retrying', retrying)
publish('snoozed', snoozed)
publish('dead', dead)
publish('released', released)
return codes
