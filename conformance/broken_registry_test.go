package conformance_test

import (
	"context"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// registryBroken are the broken backends of the registry of queues
// (backend.QueueRegistry).
func registryBroken() []brokenBackend {
	mem := memory.New
	return []brokenBackend{
		{"registry-forget-purges", "Registry/ForgetChangesNothingElse", func() backend.Backend { return forgetPurges{mem()} }},
		{"registry-last-seen-stuck", "Registry/LastSeenMovesForward", func() backend.Backend { return &stuckLastSeen{Backend: mem()} }},
	}
}

// forgetPurges breaks "ForgetQueue changes nothing else": it purges the
// queue it forgets.
type forgetPurges struct{ *memory.Backend }

func (b forgetPurges) ForgetQueue(ctx context.Context, queue string) error {
	if err := b.Backend.ForgetQueue(ctx, queue); err != nil {
		return err
	}
	return b.Backend.Purge(ctx, backend.PurgeParams{Queue: queue})
}

// stuckLastSeen breaks "a registration moves LastSeen to its time": a
// queue keeps the time of its first registration.
type stuckLastSeen struct {
	*memory.Backend
	mu    sync.Mutex
	first map[string]time.Time
}

func (b *stuckLastSeen) Queues(ctx context.Context) ([]backend.QueueEntry, error) {
	entries, err := b.Backend.Queues(ctx)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.first == nil {
		b.first = map[string]time.Time{}
	}
	for i, e := range entries {
		if t, ok := b.first[e.Name]; ok {
			entries[i].LastSeen = t
		} else {
			b.first[e.Name] = e.LastSeen
		}
	}
	return entries, err
}

func (b *stuckLastSeen) ForgetQueue(ctx context.Context, queue string) error {
	err := b.Backend.ForgetQueue(ctx, queue)
	if err == nil {
		b.mu.Lock()
		defer b.mu.Unlock()
		delete(b.first, queue)
	}
	return err
}
