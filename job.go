package jobqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Job is one claimed job. Its methods acknowledge it, fenced by the token of
// this claim: once the lease has expired and the job was reclaimed, they
// change nothing and return ErrLostClaim. A Job is not safe for concurrent
// use.
type Job struct {
	// ID is the job's id within its queue.
	ID string
	// Kind is what the job is, which a Mux routes it by; empty when it
	// was enqueued without one.
	Kind string
	// Payload is the JSON the job was enqueued with.
	Payload json.RawMessage
	// Headers are the metadata the job was enqueued with (Headers); nil
	// when it has none.
	Headers map[string]string
	// Priority is the job's level within its queue (Priority).
	Priority int
	// Timeout bounds each attempt of the job (Timeout); zero for none.
	Timeout time.Duration
	// Attempts counts the claims of this job, this one included.
	Attempts int
	// MaxAttempts is how many claims the job may have in all.
	MaxAttempts int
	// EnqueuedAt is when the job was enqueued.
	EnqueuedAt time.Time
	// LeaseUntil is when this claim's lease runs out, on the backend's
	// clock; Extend moves it (estimated on the local clock).
	LeaseUntil time.Time

	q     *Queue
	token string
}

// Queue returns the queue the job was claimed from.
func (j *Job) Queue() *Queue { return j.q }

// Decode unmarshals the job's JSON payload into v.
func (j *Job) Decode(v any) error {
	if j == nil {
		return fmt.Errorf("%w: nil job", ErrInvalidArgument)
	}
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return fmt.Errorf("jobqueue: decode payload of job %s: %w", j.ID, err)
	}
	return nil
}

func (j *Job) check() error {
	if j == nil || j.q == nil || j.token == "" {
		return fmt.Errorf("%w: nil job, or a job that was not claimed", ErrInvalidArgument)
	}
	return nil
}

func (j *Job) ack() backend.Ack { return backend.Ack{ID: j.ID, Token: j.token} }

// first returns the only per-item error of a one-item batch call.
func first(errs []error, err error) error {
	if err != nil {
		return err
	}
	if len(errs) != 1 {
		return fmt.Errorf("jobqueue: backend returned %d results for 1 job", len(errs))
	}
	return errs[0]
}

// Complete finishes the job, storing result encoded as JSON (nil stores
// nothing). Repeating it after a lost reply is safe, and the Queue does so
// itself on ErrUnavailable (WithRetries). A repeat after the first took
// effect returns nil while the job is still where the first put it; if
// it has moved on since (its record expired, with a retention that keeps
// none, or it was claimed again after a retry), the repeat returns
// ErrNotFound or ErrLostClaim, though the first took effect. The same
// holds for Fail and Release.
//
// On a queue with WithAckDurability, Complete returns once the outcome is
// durable, or an error matching ErrNotDurable: the outcome is recorded,
// but a failover may lose it, and the job then runs again. Calling
// Complete again (a repeat, as above) waits again. The same holds for
// Fail and Snooze.
func (j *Job) Complete(ctx context.Context, result any) error {
	if err := j.check(); err != nil {
		return err
	}
	var res []byte
	if result != nil {
		var err error
		if res, err = j.q.encode(result, "result of job "+j.ID); err != nil {
			return err
		}
	}
	return first(j.q.complete(ctx, []backend.Completion{{Ack: j.ack(), Result: res}}))
}

// Fail ends this attempt with cause. The job is retried after the queue's
// backoff while it has attempts left, and dead-lettered otherwise, or at
// once when cause is marked Permanent. Repeating it after a lost reply is
// safe (see Complete for what a late repeat returns).
func (j *Job) Fail(ctx context.Context, cause error) error {
	if err := j.check(); err != nil {
		return err
	}
	return first(j.q.fail(ctx, []backend.Failure{j.q.failure(j.ack(), j.Attempts, j.MaxAttempts, cause)}))
}

// Snooze puts the job back for d without using up an attempt: it is
// scheduled to run again after d (at once for d <= 0), keeps its priority
// level and its LastError, and is counted as snoozed, not retried. It is
// what a handler's returning Snooze(d) does under a Worker. Repeating it
// after a lost reply is safe (see Complete).
func (j *Job) Snooze(ctx context.Context, d time.Duration) error {
	if err := j.check(); err != nil {
		return err
	}
	return first(j.q.fail(ctx, []backend.Failure{j.q.failure(j.ack(), j.Attempts, j.MaxAttempts, Snooze(d))}))
}

// failure applies the retry policy to one failed attempt.
func (q *Queue) failure(a backend.Ack, attempts, maxAttempts int, cause error) backend.Failure {
	var s *snoozeError
	if errors.As(cause, &s) {
		return backend.Failure{Ack: a, Snooze: true, Delay: max(s.d, 0)}
	}
	f := backend.Failure{Ack: a, Error: errorText(cause)}
	switch {
	case IsPermanent(cause), attempts >= maxAttempts:
		f.Dead = true
	case q.cfg.backoff != nil:
		f.Delay = max(q.cfg.backoff.Delay(attempts), 0)
	}
	return f
}

// maxErrorText bounds the error text stored with a job.
const maxErrorText = 4 << 10

func errorText(err error) string {
	if err == nil {
		return "jobqueue: failed without an error"
	}
	s := err.Error()
	if len(s) > maxErrorText {
		s = s[:maxErrorText] + "…"
	}
	return s
}

// Extend renews the job's lease for another lease from now;
// workers call it as a heartbeat while a job runs long.
func (j *Job) Extend(ctx context.Context) error {
	if err := j.check(); err != nil {
		return err
	}
	err := first(j.q.extend(ctx, []backend.Ack{j.ack()}))
	if err == nil {
		j.LeaseUntil = time.Now().Add(j.q.cfg.lease)
	}
	return err
}

// Release hands the job back to pending at once, ahead of other pending
// jobs, without using up an attempt; for a worker shutting down.
// Repeating it after a lost reply is safe (see Complete).
func (j *Job) Release(ctx context.Context) error {
	if err := j.check(); err != nil {
		return err
	}
	return first(j.q.release(ctx, []backend.Ack{j.ack()}))
}

// snoozeError asks for the job to be put back for d; see Snooze.
type snoozeError struct{ d time.Duration }

func (e *snoozeError) Error() string { return fmt.Sprintf("jobqueue: job snoozed for %v", e.d) }

// Snooze returns an error that a handler returns, as is or wrapped, to put
// its job back for d without using up an attempt: the Worker schedules the
// job to run again after d (at once for d <= 0), with its attempts, its
// priority level and its LastError as they were (see Job.Snooze). Snooze
// is for "not now" (a rate limit, a resource still busy), not for
// failures: a job may be snoozed any number of times. A snooze wins over
// Permanent when an error carries both.
func Snooze(d time.Duration) error { return &snoozeError{d: d} }

// permanentError marks an error that retrying cannot fix.
type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// Permanent marks err as not worth retrying: a job failed with it is
// dead-lettered at once, whatever attempts it has left. Permanent(nil) is
// nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &permanentError{err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked with
// Permanent.
func IsPermanent(err error) bool {
	var p *permanentError
	return errors.As(err, &p)
}

// The batch acknowledgements below are the one path from a Queue to its
// backend's Complete, Fail, Extend and Release, shared by Job and Worker, so
// that the process counters count every accepted outcome once. They repeat
// a call that failed with ErrUnavailable (see retry): the claim tokens make
// a repeat of a recorded outcome a no-op.

func (q *Queue) complete(ctx context.Context, items []backend.Completion) ([]error, error) {
	p := backend.CompleteParams{Queue: q.name, Items: items, Retention: q.cfg.completed, Durability: q.cfg.ackDurability}
	errs, err := retry(ctx, q, func() ([]error, error) { return q.b.Complete(ctx, p) })
	q.tally(errs, err, func(int) { q.count.completed.Add(1) })
	return errs, err
}

func (q *Queue) fail(ctx context.Context, items []backend.Failure) ([]error, error) {
	p := backend.FailParams{Queue: q.name, Items: items, Retention: q.cfg.dead, Durability: q.cfg.ackDurability}
	errs, err := retry(ctx, q, func() ([]error, error) { return q.b.Fail(ctx, p) })
	q.tally(errs, err, func(i int) {
		switch {
		case items[i].Dead:
			q.count.dead.Add(1)
		case items[i].Snooze:
			q.count.snoozed.Add(1)
		default:
			q.count.retried.Add(1)
		}
	})
	return errs, err
}

func (q *Queue) extend(ctx context.Context, acks []backend.Ack) ([]error, error) {
	p := backend.ExtendParams{Queue: q.name, Items: acks, Lease: q.cfg.lease}
	errs, err := retry(ctx, q, func() ([]error, error) { return q.b.Extend(ctx, p) })
	q.tally(errs, err, func(int) {})
	return errs, err
}

func (q *Queue) release(ctx context.Context, acks []backend.Ack) ([]error, error) {
	p := backend.ReleaseParams{Queue: q.name, Items: acks}
	errs, err := retry(ctx, q, func() ([]error, error) { return q.b.Release(ctx, p) })
	q.tally(errs, err, func(int) { q.count.released.Add(1) })
	return errs, err
}

// tally counts the per-item results of one batch call. An outcome not
// confirmed durable (ErrNotDurable) was recorded, and counts.
func (q *Queue) tally(errs []error, err error, accepted func(i int)) {
	if err != nil {
		return
	}
	for i, e := range errs {
		switch {
		case e == nil, errors.Is(e, ErrNotDurable):
			accepted(i)
		case errors.Is(e, ErrLostClaim):
			q.count.lost.Add(1)
		}
	}
}
