-- forget.lua removes a queue from the registry (backend.QueueRegistry's
-- ForgetQueue), and touches nothing of the queue itself.
-- KEYS[1]: jobqueue:queues, the registry (see register.lua).
-- ARGV[1]: the queue's name.
-- Returns: 1, whether the queue was registered or not: a repeat finds
-- nothing to remove.
redis.call('ZREM', KEYS[1], ARGV[1])
return 1
