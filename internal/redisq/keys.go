package redisq

import (
	"strconv"

	"github.com/jobqueue-go/jobqueue/backend"
)

// RegistryKey is the registry of queues (backend.QueueRegistry), a zset:
// queue name -> the time of its latest registration in ms (Redis TIME).
// It is the one key outside every queue's hash tag, on purpose: it is no
// queue's key but the list of them, so no queue's slot is the right one
// for it. Only the registry's own scripts (register.lua, forget.lua,
// queues.lua) touch it, with it as their only key, so each call still
// touches one slot, on Redis Cluster too; and no queue's script touches
// it, so a queue's calls keep their one slot.
const RegistryKey = "jobqueue:queues"

// Keys are the Redis keys of one queue. They are built here and nowhere
// else.
type Keys struct {
	// Pending is the pending list of priority level 0, the default, which
	// kept its name when levels came, so a queue's existing jobs stay
	// valid.
	Pending string
	// Levels are the pending lists of every priority level, indexed by
	// level: Levels[0] is Pending, Levels[l] is Pending + ":<l>".
	Levels     [backend.MaxPriority + 1]string
	Processing string
	Scheduled  string
	Completed  string
	Dead       string
	Stats      string
	Marker     string
	// Workers is the zset of the processes that work the queue (see
	// beat.lua). It is not among the KEYS of a script: lib.lua's
	// workers_key derives it from JobPrefix, as it derives job keys.
	Workers string
	// Cancelled is the cancelled history (list, most recent first); like
	// Workers, lib.lua derives it (cancelled_key).
	Cancelled string
	// Control is the hash of the queue's settings, and Starts the zset of
	// the starts within its rate limit's window (see control.lua); lib.lua
	// derives them as it derives Workers.
	Control string
	Starts  string
	// Schedules is the hash of the queue's schedules (see schedule.lua),
	// derived in Lua as Workers is.
	Schedules string
	// Events is the PUBLISH channel of the queue.
	Events string
	// JobPrefix followed by a job id is the key of the job's hash.
	JobPrefix string
	// RequestPrefix followed by a request id is the key of the call's
	// request record, which answers a repeat of the call.
	RequestPrefix string
}

// KeysFor returns the keys of queue, which must already be a valid queue
// name (backend.ValidateQueueName).
func KeysFor(queue string) Keys {
	p := "queue:{" + queue + "}:"
	k := Keys{
		Pending:       p + "pending",
		Processing:    p + "processing",
		Scheduled:     p + "scheduled",
		Completed:     p + "completed",
		Dead:          p + "dead",
		Stats:         p + "stats",
		Marker:        p + "marker",
		Workers:       p + "workers",
		Cancelled:     p + "cancelled",
		Control:       p + "control",
		Starts:        p + "starts",
		Schedules:     p + "schedules",
		Events:        p + "events",
		JobPrefix:     p + "job:",
		RequestPrefix: p + "req:",
	}
	k.Levels[0] = k.Pending
	for l := 1; l < len(k.Levels); l++ {
		k.Levels[l] = k.Pending + ":" + strconv.Itoa(l)
	}
	return k
}

// Job returns the key of one job's hash.
func (k Keys) Job(id string) string { return k.JobPrefix + id }

// Request returns the key of the request record of the call whose request
// id is id.
func (k Keys) Request(id string) string { return k.RequestPrefix + id }

// scriptKeys is the KEYS array every script receives, in the order lib.lua
// documents: the queue's keys, the pending lists of levels 1 and up after
// the keys that came before levels, and the request record of a call made
// with requestID last.
func (k Keys) scriptKeys(requestID string) []string {
	keys := make([]string, 0, numQueueKeys+1)
	keys = append(keys, k.Pending, k.Processing, k.Scheduled, k.Completed, k.Dead, k.Stats, k.Marker)
	keys = append(keys, k.Levels[1:]...)
	if requestID != "" {
		keys = append(keys, k.Request(requestID))
	}
	return keys
}

// numQueueKeys is the number of queue keys in every script's KEYS, before
// any request record.
const numQueueKeys = 7 + backend.MaxPriority

// scriptArgs starts an ARGV array with the two arguments every script
// receives, leaving room for n more.
func (k Keys) scriptArgs(n int) []string {
	args := make([]string, 2, 2+n)
	args[0], args[1] = k.JobPrefix, k.Events
	return args
}
