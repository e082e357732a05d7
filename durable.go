package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Durability asks a write to be acknowledged only once it is durable
// beyond the primary: once it has reached Replicas replicas (Redis WAIT)
// or, with AOF, the append-only file of the master and of Replicas
// replicas (WAITAOF, Redis 7.2 and later), within Timeout. The zero value
// asks for nothing. See WithDurability, Durable and WithAckDurability.
//
// Redis replicates asynchronously: without a Durability, a write the
// master acknowledged and had not yet sent to a replica is lost when the
// master dies and the replica takes over.
type Durability = backend.Durability

// WithDurability makes the queue's Enqueue and EnqueueBatch return only
// once their jobs are durable as d says, or return the ids with a
// *NotDurableError after d.Timeout (see NotDurableError). Durable sets it
// for one call. The zero Durability, the default, waits for nothing. The
// backend must implement backend.DurableWriter (every backend shipped
// with this module does; the memory backend has no replicas to wait for,
// and meets any Durability at once); New refuses it otherwise, with an
// error wrapping errors.ErrUnsupported.
//
// A durable enqueue costs a wait for the replicas, about one round trip
// from the master to them, on top of the enqueue; concurrent enqueues of
// a queue share it (they are written together, and wait together). While
// fewer than d.Replicas replicas are connected, every durable enqueue
// waits its whole Timeout.
func WithDurability(d Durability) Option {
	return func(c *config) error {
		if err := d.Validate(); err != nil {
			return err
		}
		c.durability = d
		return nil
	}
}

// WithAckDurability makes the queue's Complete and Fail (and a Snooze,
// and the acknowledgements of a Worker) return only once the outcome is
// durable as d says, or report ErrNotDurable for it after d.Timeout: the
// outcome is recorded on the master, but a failover before the replicas
// have it brings the job back to processing, and, once its lease runs
// out, to another run. It is for handlers that must not run twice after a
// failover. A Worker takes an outcome not confirmed durable as recorded,
// and logs a warning. Extend and Release do not wait. The backend must
// implement backend.DurableWriter, as for WithDurability.
func WithAckDurability(d Durability) Option {
	return func(c *config) error {
		if err := d.Validate(); err != nil {
			return err
		}
		c.ackDurability = d
		return nil
	}
}

// Durable sets the durability of one Enqueue or EnqueueBatch, in place of
// the queue's (WithDurability); Durable(Durability{}) makes the call wait
// for nothing. It applies to the whole call: an Item of a batch may not
// carry it.
func Durable(d Durability) EnqueueOption {
	return func(c *enqueueConfig) error {
		if err := d.Validate(); err != nil {
			return err
		}
		c.durability = &d
		return nil
	}
}

// canWaitDurable reports why b cannot honour a Durability, or nil.
func canWaitDurable(b backend.Backend) error {
	if _, ok := b.(backend.DurableWriter); !ok {
		return fmt.Errorf("jobqueue: %T cannot wait for durable writes (backend.DurableWriter): %w", b, errors.ErrUnsupported)
	}
	return nil
}

// NotDurableError is the error of an Enqueue or EnqueueBatch whose jobs
// were stored, but not confirmed durable within the Durability's Timeout:
// fewer replicas than asked acknowledged them, or the wait for them
// failed (the master died while it waited). It matches ErrNotDurable, and
// the call returns the jobs' ids with it. The jobs are stored on the
// master; they survive a failover only if a replica that takes over has
// them.
//
// To find out, call Retry, which repeats the call, safely. Enqueueing the
// jobs again would not be safe: that is a new call, with new jobs.
type NotDurableError struct {
	// IDs are the ids of the stored jobs, as the call returned them.
	IDs []string

	err   error
	q     *Queue
	p     backend.EnqueueParams
	began time.Time
}

func (e *NotDurableError) Error() string { return e.err.Error() }
func (e *NotDurableError) Unwrap() error { return e.err }

// Retry waits again for the jobs to become durable. It repeats the
// backend call with the same request id, which the store answers without
// storing the jobs twice, and waits as the call's Durability says: nil
// means the jobs are durable now, an error matching ErrNotDurable that
// they still are not, any other error that the repeat did not get
// through (ErrUnavailable: the Queue repeated it as WithRetries says). A
// repeat that lands on a new master that never had the jobs stores them
// there, under the same ids. The enqueue interceptors do not run again.
//
// Retry refuses once half of backend.RequestWindow (30 s) has passed since
// the call began: the store forgets a request after that window, and a
// repeat could then store the jobs a second time.
func (e *NotDurableError) Retry(ctx context.Context) error {
	if e.p.RequestID == "" {
		// A backend.Local store gets no request ids: nothing recognises
		// a repeat (and none of it reports ErrNotDurable).
		return fmt.Errorf("jobqueue: %T keeps no request ids, so its enqueue cannot be repeated safely", e.q.b)
	}
	if since := time.Since(e.began); since > retryDurableWithin {
		return fmt.Errorf("jobqueue: the enqueue began %v ago; a repeat later than %v could store its jobs twice",
			since.Round(time.Millisecond), retryDurableWithin)
	}
	return retryErr(ctx, e.q, func() error { return e.q.b.Enqueue(ctx, e.p) })
}

// retryDurableWithin bounds NotDurableError.Retry: well within the
// request window, counted from the start of the call on this process's
// clock, while the store's record of it is written later.
const retryDurableWithin = backend.RequestWindow / 2
