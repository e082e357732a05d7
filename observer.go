package jobqueue

import (
	"context"
	"time"
)

// An Observer is told what happens to each attempt a Worker runs: its
// start, the renewals and the loss of its lease, and its outcome once the
// backend has recorded it (or refused it). Metrics and tracing plug in
// here (the jqprom and jqotel packages); WorkerOptions.Observers lists a
// Worker's observers.
//
// Middleware sees a handler's return; an Observer sees what the queue made
// of it: whether a failed attempt was retried or dead-lettered, whether a
// completion was accepted or refused because the lease had been lost, and
// the heartbeats in between.
//
// The methods are called from the Worker's goroutines, several at once,
// and on its hot paths (the handler's goroutine, the heartbeat, the
// acknowledgements): they must be safe for concurrent use, quick, and must
// not block.
type Observer interface {
	// AttemptStarted is called in the handler's goroutine as an attempt
	// starts, before the handler and any middleware run. The context it
	// returns, which must be ctx or derived from it, is the handler's: a
	// tracer puts its span there.
	AttemptStarted(ctx context.Context, job *Job) context.Context

	// AttemptEvent is called with the context AttemptStarted returned
	// (which may be done by then: use it for its values) for each later
	// step of the attempt, in order: AttemptLeaseRenewed and, at most
	// once, AttemptLeaseLost, from the heartbeat; then, exactly once,
	// AttemptEnded with the attempt's outcome. Nothing follows
	// AttemptEnded.
	AttemptEvent(ctx context.Context, job *Job, e AttemptEvent)
}

// AttemptEvent is one step of an attempt, told to an Observer.
type AttemptEvent struct {
	Kind AttemptEventKind
	// LeaseUntil is the lease's new end (AttemptLeaseRenewed), on the
	// local clock.
	LeaseUntil time.Time
	// Outcome is what became of the attempt (AttemptEnded).
	Outcome Outcome
	// Duration is how long the handler ran, middleware included
	// (AttemptEnded; zero for an attempt whose handler had not returned
	// when it ended, as a released one).
	Duration time.Duration
	// Err is the handler's error for a failed attempt (OutcomeRetried,
	// OutcomeDead, OutcomeSnoozed), the reason the outcome was not
	// recorded (OutcomeLost, OutcomeAbandoned, OutcomeCancelled), and nil
	// otherwise.
	Err error
	// Delay is how long the job waits before its next attempt
	// (OutcomeRetried and OutcomeSnoozed; zero for at once).
	Delay time.Duration
}

// AttemptEventKind names the steps of an attempt.
type AttemptEventKind int

// The steps of an attempt after its start.
const (
	// AttemptLeaseRenewed: a heartbeat renewed the attempt's lease.
	AttemptLeaseRenewed AttemptEventKind = iota + 1
	// AttemptLeaseLost: a heartbeat found the lease lost (the job was
	// reclaimed or deleted); the handler's context is cancelled.
	AttemptLeaseLost
	// AttemptEnded: the attempt is over; Outcome says how.
	AttemptEnded
)

// String returns the kind's name, as in "lease_renewed".
func (k AttemptEventKind) String() string {
	switch k {
	case AttemptLeaseRenewed:
		return "lease_renewed"
	case AttemptLeaseLost:
		return "lease_lost"
	case AttemptEnded:
		return "ended"
	}
	return "unknown"
}

// Outcome is what became of an attempt.
type Outcome string

// The outcomes of an attempt.
const (
	// OutcomeCompleted: the handler succeeded and the completion was
	// recorded.
	OutcomeCompleted Outcome = "completed"
	// OutcomeRetried: the handler failed and the job will be tried again.
	OutcomeRetried Outcome = "retried"
	// OutcomeSnoozed: the handler returned Snooze; the job comes back
	// without using up an attempt.
	OutcomeSnoozed Outcome = "snoozed"
	// OutcomeDead: the handler failed for the last time (or permanently)
	// and the job was dead-lettered.
	OutcomeDead Outcome = "dead"
	// OutcomeLost: the lease had been lost, so the outcome was refused
	// (or never sent): another claim owns the job now.
	OutcomeLost Outcome = "lost"
	// OutcomeReleased: the Worker shut down while the handler ran and
	// handed the job back to pending.
	OutcomeReleased Outcome = "released"
	// OutcomeAbandoned: the outcome could not be recorded (the backend
	// stayed away through a shutdown, or refused the call for good); the
	// job returns through the reclaimer once its lease runs out.
	OutcomeAbandoned Outcome = "abandoned"
	// OutcomeCancelled: the job was cancelled (Queue.Cancel) while the
	// attempt ran, so its outcome was refused; the job is cancelled, never
	// retried.
	OutcomeCancelled Outcome = "cancelled"
)

// observers is a Worker's Observers as one; nil when there are none, so
// that a Worker without any pays one nil check per step.
type observers []Observer

func (os observers) started(ctx context.Context, j *Job) context.Context {
	for _, o := range os {
		ctx = o.AttemptStarted(ctx, j)
	}
	return ctx
}

func (os observers) event(ctx context.Context, j *Job, e AttemptEvent) {
	for _, o := range os {
		o.AttemptEvent(ctx, j, e)
	}
}
