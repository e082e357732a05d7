// Package redisq is everything the two Redis adapters (goredis and
// rueidis) share: the key layout, the Lua scripts, reply decoding, error
// mapping and the Backend logic itself. An adapter only implements Conn, the
// few calls that talk to its client, and wraps an Engine.
//
// # Key layout
//
// All keys of a queue carry the queue name as a Redis Cluster hash tag, so
// every script touches a single slot. For the queue "jobs":
//
//	queue:{jobs}:pending      list    ids ready to run; RPUSH to enqueue, LPOP to claim (FIFO), LPUSH to release
//	queue:{jobs}:processing   zset    claimed ids, score = lease deadline (ms, Redis TIME)
//	queue:{jobs}:scheduled    zset    delayed and backing-off ids, score = run-at (ms)
//	queue:{jobs}:completed    list    completed ids, most recent first, trimmed to the retention max
//	queue:{jobs}:failed       list    dead-lettered ids, most recent first, trimmed to the retention max
//	queue:{jobs}:job:<id>     hash    id, payload, status, attempts, max_attempts, enqueued_at_ms,
//	                                  run_at_ms, claimed_at_ms, lease_until_ms, claim_token, acked,
//	                                  finished_at_ms, result, last_error
//	queue:{jobs}:stats        hash    enqueued_total, claimed_total, completed_total, retried_total,
//	                                  failed_total, reclaimed_total
//	queue:{jobs}:marker       list    at most one element; armed when work may be claimable
//	queue:{jobs}:events       pubsub  "kind id1 id2 ...", one message per kind per call
//
// The queue name is checked by backend.ValidateQueueName first, so it can
// never contain the braces or colons that would break the layout. Finished
// records expire with their history's TTL; ids whose records expired are
// pruned from the old end of the history lists when they are read.
//
// # Scripts
//
// Every state change is one Lua script (lua/*.lua, embedded), one round
// trip, atomic. lib.lua is prepended to each script and documents the KEYS
// and ARGV every script shares. Time is read with TIME inside the scripts,
// never from a client's clock. Per-item outcomes come back as codes in the
// reply array; whole-call failures as error replies whose first word is a
// code (NOTFOUND, EXISTS, WRONGSTATE, INVALIDSTATE), which ReplyError maps
// to the backend errors.
//
// # Waiting
//
// A claim that finds nothing waits on a local channel; one goroutine per
// queue and Engine blocks on Redis (BLPOP on the marker) for all of them
// and wakes one local waiter per wake-up. The marker carries no job: the
// job is only ever taken by the claim script, so a waiter that gives up or
// dies after waking loses nothing. A claim that leaves jobs pending re-arms
// the marker (other processes) and wakes the next local waiter.
package redisq
