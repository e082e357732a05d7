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
	c, err := q.controller()
	if err != nil {
		return err
	}
	p := backend.LimitParams{Queue: q.name, Limits: l}
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
