package backend

import (
	"context"
	"fmt"
	"time"
)

// Controller is an optional capability: a Backend that can pause a queue
// and bound how fast and how many of its jobs start, for every process
// that shares the store, implements it. Callers find it by type
// assertion. The settings live in the store with the queue, so they hold
// for every process at once, and they outlive Purge (they are no job,
// list or counter). Stats reads them back (Stats.Paused, Stats.Limits).
//
// A paused queue, or one at a limit, has no claimable job for Claim, much
// as a queue whose only jobs are delayed: Claim hands out nothing that
// breaks a setting, and waits within its p.Wait (without polling the
// store in a busy loop) until the queue is resumed, a slot frees or the
// rate allows the next start, taking the jobs then. A claim met by a rate
// limit learns when the next start is allowed and sleeps exactly until
// then (or until something else wakes it). Enqueues land as usual; a
// claim's repeat (see "Lost replies and repeated calls") returns what its
// first run took, whatever the settings say now.
//
// A call that changes the settings publishes one event, with no ids
// (when the backend implements Subscriber): EventPaused, EventResumed or
// EventLimits. A call that changes nothing, such as a Pause of a paused
// queue or SetLimits with the limits the queue has, publishes nothing.
//
// Every method is idempotent by its nature: a repeat sets the same
// setting again and changes nothing more (a repeated Resume may wake a
// claimer that then finds nothing, and publishes nothing). They take no
// request id.
type Controller interface {
	// Pause stops the queue's claims from handing out jobs until Resume.
	// Jobs already claimed run on; enqueues, acknowledgements, reclaims
	// and reads go on as usual.
	Pause(ctx context.Context, queue string) error

	// Resume ends a pause, and wakes the claims that wait for the
	// queue's jobs (in every process) promptly. Resuming a queue that is
	// not paused changes nothing.
	Resume(ctx context.Context, queue string) error

	// SetLimits replaces the queue's limits with p.Limits, or, when
	// p.Kind is set, the limits of that kind's jobs; zero fields remove
	// the limit they set. Lowering a limit takes nothing back from claims
	// already made: the queue (or kind) starts nothing more until it is
	// under the new limit again.
	//
	// A kind's limits bound its jobs on top of the queue's: a claim takes
	// a job of a limited kind only while both allow it. A kind at its
	// limit holds up only its own jobs: a claim passes them by and takes
	// the jobs of other kinds behind them, and the passed-by jobs, still
	// pending, start as their kind's slots free or its rate allows, in
	// the order they were passed by. Within a kind, jobs start in
	// priority order and, at one level, roughly in enqueue order (a job
	// passed by may start after a later job of its kind that no claim
	// had reached yet). A kind's concurrency counts only the jobs claimed
	// while its limit was set: removing a limit forgets its count, so a
	// limit set again counts from the next claim. At most MaxLimitedKinds
	// kinds of a queue have limits at once.
	SetLimits(ctx context.Context, p LimitParams) error
}

// Limits bound how a queue's jobs start, across every process that claims
// them. The zero value means no limit.
//
// Concurrency is the most jobs in processing at once: a claim takes no
// more than Concurrency minus Stats.Processing. A slot frees when its job
// leaves processing (completed, failed, released, reclaimed, deleted).
// Since an expired lease counts until a Reclaim takes it back, a
// process that dies holding jobs holds their slots until then; and a
// handler still running after its lease was reclaimed no longer counts.
//
// Rate and Per bound the starts: at most Rate jobs are claimed within any
// window of length Per, on the backend's clock (a sliding window, exact:
// a burst of Rate jobs at once is allowed, and then nothing until the
// oldest start of the window is Per old). Rate and Per are set together
// or not at all.
type Limits struct {
	Concurrency int
	Rate        int
	Per         time.Duration
}

// The bounds of Limits. A rate's window keeps one entry per start, so
// MaxRate bounds what it costs the store.
const (
	MaxConcurrency = 1_000_000
	MaxRate        = 100_000
	MaxRatePer     = 24 * time.Hour
	// MaxLimitedKinds bounds the kinds of one queue that have limits: a
	// claim reads every kind's settings.
	MaxLimitedKinds = 100
)

// IsZero reports whether l sets no limit.
func (l Limits) IsZero() bool { return l == Limits{} }

// Validate checks l; the error wraps ErrInvalidArgument.
func (l Limits) Validate() error {
	if l.Concurrency < 0 || l.Concurrency > MaxConcurrency {
		return fmt.Errorf("%w: concurrency limit %d, want 0 (none) to %d", ErrInvalidArgument, l.Concurrency, MaxConcurrency)
	}
	if l.Rate < 0 || l.Rate > MaxRate {
		return fmt.Errorf("%w: rate limit %d, want 0 (none) to %d", ErrInvalidArgument, l.Rate, MaxRate)
	}
	switch {
	case l.Rate == 0 && l.Per != 0:
		return fmt.Errorf("%w: rate period %v without a rate", ErrInvalidArgument, l.Per)
	case l.Rate > 0 && (l.Per < time.Millisecond || l.Per > MaxRatePer || l.Per%time.Millisecond != 0):
		return fmt.Errorf("%w: rate period %v, want whole milliseconds from 1ms to %v", ErrInvalidArgument, l.Per, MaxRatePer)
	}
	return nil
}

// String writes l as the command line and the dashboard show it.
func (l Limits) String() string {
	if l.IsZero() {
		return "none"
	}
	s := ""
	if l.Concurrency > 0 {
		s = fmt.Sprintf("concurrency %d", l.Concurrency)
	}
	if l.Rate > 0 {
		if s != "" {
			s += ", "
		}
		s += fmt.Sprintf("rate %d per %v", l.Rate, l.Per)
	}
	return s
}

// LimitParams are the inputs of Controller.SetLimits.
type LimitParams struct {
	Queue string
	// Kind, when not empty, names the kind whose limits these are;
	// empty sets the queue's own.
	Kind string
	Limits
}

// Validate checks p; the error wraps ErrInvalidQueueName or
// ErrInvalidArgument.
func (p LimitParams) Validate() error {
	if err := ValidateQueueName(p.Queue); err != nil {
		return err
	}
	if err := ValidateKind(p.Kind); err != nil {
		return err
	}
	return p.Limits.Validate()
}

// ErrTooManyLimitedKinds is the error of a SetLimits that would give a
// limit to one kind more than MaxLimitedKinds; it wraps
// ErrInvalidArgument.
var ErrTooManyLimitedKinds = fmt.Errorf("%w: more than %d kinds with limits", ErrInvalidArgument, MaxLimitedKinds)
