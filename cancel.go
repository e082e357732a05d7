package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// ErrCancelled reports a job cancelled (Queue.Cancel) while it was
// claimed: its heartbeat and its outcome are refused with it. A Worker
// cancels the handler's context with it as the cause, so a handler tells
// a cancel from a shutdown with context.Cause(ctx) == ErrCancelled.
var ErrCancelled = backend.ErrCancelled

// StateCancelled is the state of a cancelled job: never claimed again,
// never retried, kept in the cancelled history (WithCancelledRetention).
const StateCancelled = backend.StateCancelled

// EventCancelled is the event of jobs that became cancelled.
const EventCancelled = backend.EventCancelled

// The defaults of the cancelled history: cancels are an operator's
// actions, kept for a week to see what was cancelled and when.
const (
	DefaultCancelledMax = 10_000
	DefaultCancelledTTL = 7 * 24 * time.Hour
)

// WithCancelledRetention sets how many cancelled jobs the cancelled
// history keeps and for how long (default 10,000 and 7 days). Zero keeps
// none: a cancelled job's record is deleted when it becomes cancelled.
func WithCancelledRetention(keep int, ttl time.Duration) Option {
	return func(c *config) error {
		if keep < 0 || ttl < 0 {
			return fmt.Errorf("%w: cancelled retention %d/%v is negative", ErrInvalidArgument, keep, ttl)
		}
		c.cancelled = &backend.Retention{Max: keep, TTL: ttl}
		return nil
	}
}

// cancelledRetention is the queue's retention of cancelled jobs.
func (q *Queue) cancelledRetention() backend.Retention {
	if q.cfg.cancelled != nil {
		return *q.cfg.cancelled
	}
	return backend.Retention{Max: DefaultCancelledMax, TTL: DefaultCancelledTTL}
}

// Cancel cancels jobs by id, each on its own, in one backend call.
//
// A pending or scheduled job becomes cancelled at once (StateCancelled):
// it never runs. A job being processed is marked in the store, in its own
// record: the next heartbeat of the Worker running it (every
// HeartbeatInterval, so within one interval, on whichever process runs
// it) reports ErrCancelled, and the Worker cancels the handler's context
// with ErrCancelled as its cause. The handler's outcome is then refused and
// the job becomes cancelled, never retried and never dead-lettered; should
// the worker die instead, the reclaim that meets its expired lease makes
// it cancelled. No message is involved, so a cancel cannot be lost by a
// missed notification. A handler that ignores its context runs on until
// it returns, but its outcome is refused all the same.
//
// A job already cancelled is a no-op. A completed or dead job is an error
// wrapping ErrWrongState, an unknown one ErrNotFound; the errors of the
// ids, each naming its id, are joined (errors.Join), and the other ids are
// cancelled all the same. It needs a backend that can cancel
// (backend.Canceller; every backend shipped with this module can);
// others return an error wrapping errors.ErrUnsupported.
func (q *Queue) Cancel(ctx context.Context, ids ...string) error {
	c, ok := q.b.(backend.Canceller)
	if !ok {
		return fmt.Errorf("jobqueue: %T cannot cancel jobs: %w", q.b, errors.ErrUnsupported)
	}
	p := backend.CancelParams{Queue: q.name, IDs: ids, Retention: q.cancelledRetention(), RequestID: q.requestID()}
	if err := p.Validate(); err != nil {
		return err
	}
	errs, err := retry(ctx, q, func() ([]error, error) { return c.Cancel(ctx, p) })
	if err != nil {
		return err
	}
	return errors.Join(errs...)
}
