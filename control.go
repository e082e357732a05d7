package jobqueue

import (
	"context"
	"errors"
	"fmt"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Limits bound how a queue's jobs start, across every process that claims
// them: at most Concurrency in processing at once, and at most Rate claimed
// within any window of length Per. Zero fields set no limit. See
// backend.Limits.
type Limits = backend.Limits

// The events of Pause, Resume and SetLimits (Queue.Events), published
// only when the call changed the queue's settings. They name no jobs.
const (
	EventPaused  = backend.EventPaused
	EventResumed = backend.EventResumed
	EventLimits  = backend.EventLimits
)

// Pause stops the queue from handing out jobs, in every process that
// shares its store, until Resume: claims wait (a Worker's handlers stay
// idle), jobs already running go on, enqueues land. The setting is kept
// in the store and shown by Stats (Stats.Paused). It needs a backend that
// implements backend.Controller (every backend shipped with this module
// does); others return an error wrapping errors.ErrUnsupported.
func (q *Queue) Pause(ctx context.Context) error {
	c, err := q.controller()
	if err != nil {
		return err
	}
	return retryErr(ctx, q, func() error { return c.Pause(ctx, q.name) })
}

// Resume ends a pause; the claims waiting for the queue's jobs wake
// promptly, in every process.
func (q *Queue) Resume(ctx context.Context) error {
	c, err := q.controller()
	if err != nil {
		return err
	}
	return retryErr(ctx, q, func() error { return c.Resume(ctx, q.name) })
}

// SetLimits replaces the queue's limits, for every process that shares
// its store; Limits{} removes them. Every claim enforces them in the
// store, so they hold however many Workers run, and a claim that meets
// one waits until a job finishes or the rate allows the next start,
// without polling. Stats shows them (Stats.Limits).
func (q *Queue) SetLimits(ctx context.Context, l Limits) error {
	return q.setLimits(ctx, backend.LimitParams{Queue: q.name, Limits: l})
}

// SetKindLimits replaces the limits of the queue's jobs of one kind, for
// every process that shares its store; Limits{} removes them. They hold
// on top of the queue's own (SetLimits). A kind at its limit holds up
// only its own jobs: claims pass them by and take the other kinds' jobs
// behind them; the jobs passed by stay pending (Stats, List and Cancel
// see them) and start as the kind's slots free or its rate allows. At
// most backend.MaxLimitedKinds kinds of a queue have limits; one more is
// refused with an error matching backend.ErrTooManyLimitedKinds. Stats
// shows them (Stats.KindLimits).
func (q *Queue) SetKindLimits(ctx context.Context, kind string, l Limits) error {
	if kind == "" {
		return fmt.Errorf("%w: a kind's limits need a kind (SetLimits sets the queue's)", ErrInvalidArgument)
	}
	return q.setLimits(ctx, backend.LimitParams{Queue: q.name, Kind: kind, Limits: l})
}

func (q *Queue) setLimits(ctx context.Context, p backend.LimitParams) error {
	c, err := q.controller()
	if err != nil {
		return err
	}
	if err := p.Validate(); err != nil {
		return err
	}
	return retryErr(ctx, q, func() error { return c.SetLimits(ctx, p) })
}

func (q *Queue) controller() (backend.Controller, error) {
	c, ok := q.b.(backend.Controller)
	if !ok {
		return nil, fmt.Errorf("jobqueue: %T cannot pause or limit a queue: %w", q.b, errors.ErrUnsupported)
	}
	return c, nil
}
