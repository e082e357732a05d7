package memory

import (
	"cmp"
	"context"
	"slices"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

var _ backend.QueueRegistry = (*Backend)(nil)

// registry is the Backend's registry of queues (backend.QueueRegistry):
// queue name -> the time of its latest registration. It is apart from
// the queues, as a Redis backend keeps it apart from every queue's keys:
// registering creates no queue, and forgetting one deletes nothing of it.
type registry struct {
	mu   sync.Mutex
	seen map[string]time.Time
}

// RegisterQueue implements backend.QueueRegistry, with the process clock
// kept to the millisecond as a Redis backend keeps it.
func (b *Backend) RegisterQueue(ctx context.Context, queue string) error {
	return b.editRegistry(ctx, queue, func(seen map[string]time.Time) {
		// later keeps the time from moving back, and the zero time of a
		// queue not registered yet is earlier than any.
		seen[queue] = later(seen[queue], time.Now())
	})
}

// editRegistry checks queue and ctx, then runs edit on the registry,
// locked.
func (b *Backend) editRegistry(ctx context.Context, queue string, edit func(seen map[string]time.Time)) error {
	if err := backend.ValidateQueueName(queue); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	r := &b.registry
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = make(map[string]time.Time)
	}
	edit(r.seen)
	return nil
}

// Queues implements backend.QueueRegistry.
func (b *Backend) Queues(ctx context.Context) ([]backend.QueueEntry, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r := &b.registry
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]backend.QueueEntry, 0, len(r.seen))
	for name, t := range r.seen {
		out = append(out, backend.QueueEntry{Name: name, LastSeen: t})
	}
	slices.SortFunc(out, func(a, b backend.QueueEntry) int { return cmp.Compare(a.Name, b.Name) })
	return out, nil
}

// ForgetQueue implements backend.QueueRegistry.
func (b *Backend) ForgetQueue(ctx context.Context, queue string) error {
	return b.editRegistry(ctx, queue, func(seen map[string]time.Time) { delete(seen, queue) })
}
