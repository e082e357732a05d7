package goredis

import (
	"context"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.QueueRegistry = (*Backend)(nil)

// RegisterQueue records that queue is in use, with Redis's time, in the
// registry of queues; see backend.QueueRegistry. The registry is the key
// jobqueue:queues, the one key outside every queue's hash tag: on
// Cluster it lives in a slot of its own, and an ACL user needs
// ~jobqueue:queues besides the queues' keys for discovery to work.
func (b *Backend) RegisterQueue(ctx context.Context, queue string) error {
	return b.e.RegisterQueue(ctx, queue)
}

// Queues returns every registered queue, by name, with the time it was
// last registered; see backend.QueueRegistry. A replica may answer it.
func (b *Backend) Queues(ctx context.Context) ([]backend.QueueEntry, error) {
	return b.e.Queues(ctx)
}

// ForgetQueue removes queue from the registry of queues, and nothing of
// the queue itself; see backend.QueueRegistry.
func (b *Backend) ForgetQueue(ctx context.Context, queue string) error {
	return b.e.ForgetQueue(ctx, queue)
}
