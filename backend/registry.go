package backend

import (
	"context"
	"time"
)

// QueueRegistry is an optional capability: a Backend that keeps a list of
// the queues in use, so that a dashboard or a command can find every queue
// of the store without being told its name and without scanning the
// store, implements it. Callers find it by type assertion.
//
// The registry is not part of any queue: registering, listing and
// forgetting change no job, list, counter or setting of a queue, and no
// other Backend method changes the registry (Purge included: a purged
// queue stays registered, empty). On Redis it is one key outside every
// queue's hash tag (see the adapters).
//
// The root jobqueue.Queue registers its queue once per Queue value, after
// its first enqueue, and a Worker registers the queues it serves as it
// starts and then now and again while it runs, so a queue's LastSeen tells
// whether anything still uses it.
//
// Every method is idempotent by its nature and takes no request id (see
// "Lost replies and repeated calls"): a repeated RegisterQueue registers
// again, which only moves the queue's LastSeen to the time of the repeat,
// and a repeated ForgetQueue finds nothing to forget.
type QueueRegistry interface {
	// RegisterQueue records that queue is in use: it adds the queue to
	// the registry with LastSeen the current time on the backend's clock,
	// or, for a queue already registered, moves its LastSeen to that time.
	// LastSeen never moves back: a registration whose time is earlier
	// than the one recorded (the backend's clock stepped back) leaves it.
	// A name that ValidateQueueName refuses is refused with its error,
	// and nothing is written.
	RegisterQueue(ctx context.Context, queue string) error

	// Queues returns every registered queue, sorted by name (byte order),
	// each with its LastSeen. A queue with jobs that no call of
	// RegisterQueue named is not listed. It changes nothing.
	Queues(ctx context.Context) ([]QueueEntry, error)

	// ForgetQueue removes queue from the registry, and changes nothing
	// else: its jobs, lists, counters and settings stay, and a later
	// RegisterQueue (a Worker that still serves it, an enqueue of a
	// process that had not registered it yet) brings it back. Forgetting
	// a queue that is not registered changes nothing and is not an error.
	// A name that ValidateQueueName refuses is refused with its error.
	ForgetQueue(ctx context.Context, queue string) error
}

// QueueEntry is one queue of a QueueRegistry.
type QueueEntry struct {
	Name string
	// LastSeen is the time of the queue's latest registration, on the
	// backend's clock, to the millisecond.
	LastSeen time.Time
}
