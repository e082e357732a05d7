-- register.lua records that a queue is in use (backend.QueueRegistry's
-- RegisterQueue) in the registry, the zset jobqueue:queues: queue name ->
-- the time of its latest registration, in ms on Redis's clock. GT keeps
-- that time from moving back (a clock stepped back), and still adds a
-- queue that is not registered yet.
-- KEYS[1]: jobqueue:queues, the registry, and no other key: unlike the
--          other scripts, the registry's (register, forget, queues) work on
--          no queue, so they get none of the queue keys of lib.lua. The
--          registry is the one key of the library outside every queue's
--          hash tag, on purpose: it is no queue's key, but the list of
--          them, and a Cluster keeps it in one slot of its own.
-- ARGV[1]: the queue's name (backend.ValidateQueueName checked it).
-- Returns: 1.
-- It takes no request id: a repeat registers again, which only moves the
-- time to that of the repeat.
redis.call('ZADD', KEYS[1], 'GT', now_ms(), ARGV[1])
return 1
