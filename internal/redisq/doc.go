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
//	queue:{jobs}:pending      list    ids ready to run at priority level 0; RPUSH to enqueue, LMPOP to
//	                                  claim (FIFO), LPUSH to release
//	queue:{jobs}:pending:<l>  list    the same for priority levels 1 to 3; a claim's one LMPOP over
//	                                  all four takes from the highest level that has jobs
//	queue:{jobs}:processing   zset    claimed ids, score = lease deadline (ms, Redis TIME)
//	queue:{jobs}:scheduled    zset    delayed and backing-off ids, score = run-at (ms)
//	queue:{jobs}:completed    list    completed ids, most recent first, trimmed to the retention max
//	queue:{jobs}:dead         list    dead-lettered ids, most recent first, trimmed to the retention max
//	queue:{jobs}:job:<id>     hash    id, payload, status, attempts, max_attempts, enqueued_at_ms,
//	                                  run_at_ms, claimed_at_ms, lease_until_ms, claim_token, acked,
//	                                  finished_at_ms, result, last_error; kind, headers (JSON),
//	                                  priority, timeout_ms, expires_at_ms only when the job has them;
//	                                  ready_at_ms once a retry, snooze, reclaim or RetryDead has put
//	                                  it back to pending with no run time (see stats.lua)
//	                                  (an empty claim_token or acked means unset)
//	queue:{jobs}:req:<id>     string  the request record of a call that changed something, by its
//	                                  request id: what a repeat of the call returns; expires after
//	                                  backend.RequestWindow (a claim's: or its lease, if longer)
//	queue:{jobs}:stats        hash    enqueued_total, claimed_total, completed_total, retried_total,
//	                                  dead_total, reclaimed_total; completed_ttl_floor and
//	                                  dead_ttl_floor (the shortest TTL a history entry was given)
//	queue:{jobs}:hist:<hour>  hash    the per-minute history (backend.Historian) of the hour that starts
//	                                  at <hour> (Unix seconds): <counter>:<minute of the hour> = count,
//	                                  for enqueued, completed, failed, retried, dead, reclaimed;
//	                                  expires 25 hours after its hour began, once its last minute has
//	                                  left the retention
//	queue:{jobs}:marker       list    at most one element; armed by an enqueue that finds a level empty
//	                                  or adds delayed jobs, and by a claim that leaves jobs pending
//	queue:{jobs}:events       pubsub  "kind id1 id2 ...", one message per kind per call; "purged",
//	                                  "paused", "resumed" and "limits" alone, naming no job
//
// One key is outside every queue's hash tag, on purpose, for it is no
// queue's key but the list of them (backend.QueueRegistry):
//
//	jobqueue:queues           zset    queue name -> the time of its latest registration (ms, Redis
//	                                  TIME); only the registry's scripts touch it, with it as their
//	                                  one key, so every call still touches one Cluster slot
//
// The queue name is checked by backend.ValidateQueueName first, so it can
// never contain the braces or colons that would break the layout. Finished
// records expire with their history's TTL; ids whose records expired are
// pruned from the old end of the history lists by the next write to that
// history, and the reads skip them meanwhile (lib.lua, live_len).
//
// # Scripts
//
// Every state change is one Lua script (lua/*.lua, embedded), one round
// trip, atomic. Time is read with TIME inside the scripts, never from a
// client's clock. Per-item outcomes come back as codes in the reply
// array; whole-call failures as error replies whose first word is a code
// (NOTFOUND, EXISTS, WRONGSTATE, INVALIDSTATE), which ReplyError maps to
// the backend errors. enqueue.lua answers each call it runs on its own: its
// job count, "EXISTS <id>", or "DUPLICATE <index> <holder> ...", which
// decodeEnqueue turns into a *backend.DuplicateError.
//
// The scripts run as Redis Functions. script.go builds one library of
// them: lib.lua first (it documents the KEYS and ARGV every script
// shares), then each script's file as the body of one function. The
// library is named after a hash of its source, jobqueue_<hash>, and its
// functions after the library, so each version of jobqueue has its own on
// a shared Redis and none replaces another's. The Engine calls a function
// with FCALL and loads the library lazily: a call that Redis answers with
// "Function not found" did not run, so the Engine runs FUNCTION LOAD on
// every master and sends the call once more (Engine.call).
//
// The reads (get, summaries, list, stats, history, schedules, queues) are read-only
// functions: they declare the no-writes flag and go out as FCALL_RO, so
// Redis refuses any write inside them and a client may send them to a
// replica. They compute what they report without writing: a due
// scheduled job reads as pending, a history entry whose record expired is
// skipped. Only claims promote due jobs, and only writes prune the
// histories.
//
// A repeated call is answered as backend.Backend's "Lost replies and
// repeated calls" says: the mutating scripts that take a request id keep
// a request record (req:<id>) when they change something, and answer a
// repeat from it; the acknowledgements go by the claim tokens. The Engine
// never sends a call again itself, but for one that Redis refused without
// running it, for want of the library.
//
// # Memory
//
// Every function declares its flags as it is registered; functions need
// Redis 7.0 or later (or a fork that has them, such as Valkey). The flag
// that matters is allow-oom, for a Redis over its maxmemory under the
// noeviction policy: enqueue.lua and retry_dead.lua, which add work, lack
// it, and Redis refuses them whole before they run (the OOM error reply,
// backend.ErrFull), so a full Redis never holds half an enqueue; every
// other script has it, so claims, acknowledgements, heartbeats, reclaims
// and reads go on and the workers can drain the queue. script.go says why
// in detail. FUNCTION LOAD itself is refused while memory is full: a full
// Redis that lost the library (FUNCTION FLUSH) serves no call until memory
// is freed; a restart that keeps the data keeps the library too.
//
// Under any other maxmemory-policy Redis deletes keys when it is full:
// allkeys-* any key, jobs included; volatile-* the keys with a TTL, which
// are the records of finished jobs and the req:<id> request records.
// Engine.CheckConfig reads the policy of every master and warns about
// these; a Worker calls it as it starts.
//
// # Waiting
//
// A claim that finds nothing waits on a local channel; one goroutine per
// queue and Engine blocks on Redis (BLPOP on the marker) for all of them
// and wakes one local waiter per wake-up. The marker carries no job: the
// job is only ever taken by the claim script, so a waiter that gives up or
// dies after waking loses nothing. A claim that leaves jobs pending re-arms
// the marker (other processes) and wakes the next local waiter.
//
// The Engine never drops a wake-up it received: one that its claim no
// longer wants (the claim's context ended as it was woken) goes to the
// next local waiter or, when none waits, back to the marker; so does one
// whose BLPOP failed, since the marker may have been popped with the reply
// lost (any BLPOP error re-arms the marker). A spare wake-up costs one
// claim that finds nothing; a lost one would leave a claim elsewhere
// asleep for its whole wait while a job is pending.
//
// One case is out of its hands: a client that sends a BLPOP again by
// itself after a dropped connection (go-redis does, up to its MaxRetries)
// never reports the first BLPOP's failure, so the wake-up that BLPOP
// popped is lost. The claims of that process then wake with the next
// wake-up, or at the end of their wait. rueidis reports the failure.
//
// Delayed jobs announce no wake-up when they fall due. A claim that finds
// nothing claimable learns the earliest run-at and sets a local timer (the
// earliest reported wins); when it fires, it wakes a local waiter, or arms
// the marker when none waits, since this process may be the only one that
// learnt the run-at.
package redisq
