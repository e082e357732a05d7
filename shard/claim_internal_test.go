package shard

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/memory"
)

// asked records the physical queues that Claim was called on, in order.
type asked struct {
	backend.Backend
	mu     sync.Mutex
	queues []string
}

func (a *asked) Claim(ctx context.Context, p backend.ClaimParams) ([]backend.ClaimedJob, error) {
	a.mu.Lock()
	a.queues = append(a.queues, p.Queue)
	a.mu.Unlock()
	return a.Backend.Claim(ctx, p)
}

// take returns the queues asked since the last take.
func (a *asked) take() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.queues
	a.queues = nil
	return q
}

// TestClaimStartsWhereJobsWere checks which shards a claim asks: home
// first, then the others in turn up to its Max, and, while home is
// thought empty, the shard that last had jobs first.
func TestClaimStartsWhereJobsWere(t *testing.T) {
	ctx := context.Background()
	inner := &asked{Backend: memory.New()}
	s, err := New(inner, map[string]int{"q": 3})
	require.NoError(t, err)
	s.home, s.recheck = 0, time.Hour
	parts := s.Shards("q")
	put := func(shard, n int) {
		t.Helper()
		jobs := make([]backend.NewJob, n)
		for k := range jobs {
			jobs[k] = backend.NewJob{ID: fmt.Sprintf("%d-%d-%d", shard, k, time.Now().UnixNano()), Payload: []byte("{}"), MaxAttempts: 1}
		}
		require.NoError(t, inner.Enqueue(ctx, backend.EnqueueParams{Queue: parts[shard], Jobs: jobs}))
	}
	claim := func(max, want int) []string {
		t.Helper()
		jobs, err := s.Claim(ctx, backend.ClaimParams{Queue: "q", Max: max, Lease: time.Minute})
		require.NoError(t, err)
		require.Len(t, jobs, want)
		return inner.take()
	}

	put(0, 1)
	put(2, 5)
	require.Equal(t, []string{parts[0]}, claim(1, 1), "home has a job: the claim takes it, and asks no other shard")
	require.Equal(t, []string{parts[0], parts[1], parts[2]}, claim(2, 2), "home and the next shard are empty")
	require.Equal(t, []string{parts[2]}, claim(2, 2), "home was found empty: the claim starts where jobs were")
	put(0, 1)
	require.Equal(t, []string{parts[2], parts[0]}, claim(2, 2), "the shard where jobs were has one: the claim fills up from home")
	put(1, 1)
	require.Equal(t, []string{parts[0], parts[1]}, claim(1, 1), "home had jobs again: it comes first")
	require.Equal(t, []string{parts[1], parts[2], parts[0]}, claim(1, 0), "home was found empty: the claim starts where jobs were, and finds none")
	put(1, 2)
	put(0, 1)
	require.Equal(t, []string{parts[0]}, claim(1, 1), "no shard had a job: home comes first again")

	s.recheck = 0
	require.Equal(t, []string{parts[0], parts[1]}, claim(1, 1), "home found empty")
	put(0, 1)
	require.Equal(t, []string{parts[0]}, claim(1, 1), "the recheck has passed: home comes first again")
}
