package goredis

import (
	"context"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.Canceller = (*Backend)(nil)

// Cancel cancels jobs with one function call, marking a processing job in
// its own record for its next heartbeat; see backend.Canceller.
func (b *Backend) Cancel(ctx context.Context, p backend.CancelParams) ([]error, error) {
	return b.e.Cancel(ctx, p)
}
