package backend

import (
	"errors"
	"fmt"
	"time"
)

// ErrNotDurable reports a write that the store made, but could not
// confirm as durable as the call's Durability asked within its Timeout:
// fewer replicas acknowledged it, or the wait for them failed. The write
// stands on the primary (the jobs are stored, the outcome recorded), and a
// failover before the replicas have it may lose it. Repeating the call
// with the same params is safe, as for a lost reply (see "Lost replies and
// repeated calls"): the repeat changes nothing more, and waits again.
var ErrNotDurable = errors.New("jobqueue: write not confirmed durable")

// Durability asks a write to be acknowledged only once it is durable
// beyond the store's primary: the call makes its write, then waits until
// the write has reached Replicas replicas (with AOF: until it is in the
// append-only file of the primary and of Replicas replicas), or Timeout
// has passed, when it reports ErrNotDurable. The zero value asks for
// nothing: the write is acknowledged as soon as the primary has it.
//
// On Redis the wait is WAIT Replicas Timeout, or WAITAOF 1 Replicas
// Timeout with AOF, sent on the connection that made the write, right
// after it.
type Durability struct {
	// Replicas is how many replicas must have the write.
	Replicas int
	// AOF asks, besides, that the write be on disk: fsynced to the
	// append-only file of the primary and of Replicas replicas. On Redis
	// it needs 7.2 or later (WAITAOF) and appendonly yes on those
	// servers; an older server refuses it, writing nothing.
	AOF bool
	// Timeout bounds the wait; at least 1 ms.
	Timeout time.Duration
}

// Enabled reports whether d asks for anything.
func (d Durability) Enabled() bool { return d != Durability{} }

// Validate checks d: the zero value, or a positive Timeout with Replicas
// or AOF to wait for. The error wraps ErrInvalidArgument.
func (d Durability) Validate() error {
	switch {
	case !d.Enabled():
		return nil
	case d.Replicas < 0:
		return fmt.Errorf("%w: durability: %d replicas is negative", ErrInvalidArgument, d.Replicas)
	case d.Replicas == 0 && !d.AOF:
		return fmt.Errorf("%w: durability asks for no replica and no AOF: nothing to wait for (the zero Durability asks for nothing)", ErrInvalidArgument)
	case d.Timeout < time.Millisecond:
		return fmt.Errorf("%w: durability timeout %v, want at least 1ms", ErrInvalidArgument, d.Timeout)
	}
	return nil
}

// DurableWriter is an optional capability: a Backend that honours the
// Durability of EnqueueParams, CompleteParams and FailParams implements
// it. Callers find it by type assertion; the root jobqueue.Queue refuses
// a Durability for a backend without it, rather than let it be ignored.
//
// With a Durability enabled, a call makes its write as it would without
// one, then waits as the Durability says:
//
//   - Enqueue returns nil once its jobs are durable, or an error wrapping
//     ErrNotDurable, with every job stored. A call refused (ErrJobExists,
//     a *DuplicateError, ErrFull, invalid params) returns its own error,
//     having stored nothing.
//   - Complete and Fail report, for each item whose outcome they recorded,
//     nil once it is durable, or an error wrapping ErrNotDurable. Items
//     refused (ErrLostClaim, ErrNotFound, ErrCancelled) keep their own
//     error. The call's own error is for a failure of the whole call, as
//     without a Durability.
//   - A repeat (see "Lost replies and repeated calls") waits too, and its
//     nil means that what the first run wrote is durable: the repeat of an
//     Enqueue, or of an acknowledgement whose outcome its token already
//     recorded, succeeds only once the first run's write is durable.
//
// A backend without replicas to lose a write to (the memory backend) may
// report every write durable at once.
type DurableWriter interface {
	// DurableWrites marks the backend; it does nothing.
	DurableWrites()
}
