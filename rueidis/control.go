package rueidis

import (
	"context"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Controller = (*Backend)(nil)

// Pause stops the queue's claims from handing out jobs, in every process,
// until Resume; see backend.Controller. The setting is kept in the
// queue's control hash.
func (b *Backend) Pause(ctx context.Context, queue string) error { return b.e.Pause(ctx, queue) }

// Resume ends a pause and wakes the claims that wait for the queue's jobs;
// see backend.Controller.
func (b *Backend) Resume(ctx context.Context, queue string) error { return b.e.Resume(ctx, queue) }

// SetLimits replaces the queue's concurrency and rate limits, which every
// claim enforces; see backend.Controller.
func (b *Backend) SetLimits(ctx context.Context, p backend.LimitParams) error {
	return b.e.SetLimits(ctx, p)
}
