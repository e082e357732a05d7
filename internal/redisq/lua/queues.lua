-- queues.lua reads the registry (backend.QueueRegistry's Queues).
-- KEYS[1]: jobqueue:queues, the registry (see register.lua).
-- Returns: name, time of its latest registration in ms, for each queue,
-- flat (ZRANGE WITHSCORES, in time order; the Engine sorts by name).
return redis.call('ZRANGE', KEYS[1], 0, -1, 'WITHSCORES')
