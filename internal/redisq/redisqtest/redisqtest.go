// Package redisqtest holds the tests that both Redis adapters run on their
// own client: the behaviour the shared conformance suite does not pin down,
// such as connection economics under many waiting claims.
package redisqtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// QueueName returns a queue name unique to this test run, so tests share a
// server without flushing it.
func QueueName(t testing.TB) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return "t-" + hex.EncodeToString(b[:])
}

// stallBound is generous on purpose: it detects a starved connection pool
// (calls queueing behind blocked claims for seconds), not slowness.
const stallBound = 2 * time.Second

// BlockedClaims runs 64 claims blocked on an empty queue while another
// goroutine enqueues, claims, extends and completes jobs on a second queue:
// none of those calls may stall behind the blocked claims. Then it feeds
// the blocked queue and checks that every blocked claim gets its job.
// b must use its client's default options.
func BlockedClaims(t *testing.T, b backend.Backend) {
	const waiting = 64
	ctx := context.Background()
	idle, busy := QueueName(t), QueueName(t)

	var wg sync.WaitGroup
	got := make(chan backend.ClaimedJob, waiting)
	errs := make(chan error, waiting)
	for range waiting {
		wg.Go(func() {
			jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: idle, Max: 1, Wait: 8 * time.Second, Lease: time.Minute})
			if err != nil {
				errs <- err
				return
			}
			for _, j := range jobs {
				got <- j
			}
		})
	}
	time.Sleep(200 * time.Millisecond) // let the claims block

	timed := func(what string, f func() error) {
		t.Helper()
		start := time.Now()
		if err := f(); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		if d := time.Since(start); d > stallBound {
			t.Errorf("%s took %v while %d claims were blocked", what, d, waiting)
		}
	}
	for i := range 20 {
		id := "busy-" + string(rune('a'+i))
		timed("enqueue", func() error {
			return b.Enqueue(ctx, backend.EnqueueParams{Queue: busy, Jobs: []backend.NewJob{{ID: id, Payload: []byte("x"), MaxAttempts: 1}}})
		})
		var job backend.ClaimedJob
		timed("claim", func() error {
			jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: busy, Max: 1, Lease: time.Minute})
			if err == nil && len(jobs) != 1 {
				err = errors.New("no job")
			}
			if err == nil {
				job = jobs[0]
			}
			return err
		})
		ack := backend.Ack{ID: job.ID, Token: job.Token}
		timed("extend", func() error {
			e, err := b.Extend(ctx, backend.ExtendParams{Queue: busy, Items: []backend.Ack{ack}, Lease: time.Minute})
			return errors.Join(err, errors.Join(e...))
		})
		timed("complete", func() error {
			e, err := b.Complete(ctx, backend.CompleteParams{Queue: busy, Items: []backend.Completion{{Ack: ack}},
				Retention: backend.Retention{Max: 10, TTL: time.Minute}})
			return errors.Join(err, errors.Join(e...))
		})
	}

	// Every blocked claim must now get one job, promptly.
	jobs := make([]backend.NewJob, waiting)
	for i := range jobs {
		jobs[i] = backend.NewJob{ID: "idle-" + hex.EncodeToString([]byte{byte(i)}), Payload: []byte("y"), MaxAttempts: 1}
	}
	timed("enqueue batch", func() error { return b.Enqueue(ctx, backend.EnqueueParams{Queue: idle, Jobs: jobs}) })
	start := time.Now()
	wg.Wait()
	close(got)
	close(errs)
	for err := range errs {
		t.Errorf("blocked claim: %v", err)
	}
	seen := map[string]bool{}
	for j := range got {
		if seen[j.ID] {
			t.Errorf("job %s handed out twice", j.ID)
		}
		seen[j.ID] = true
	}
	if len(seen) != waiting {
		t.Errorf("%d of %d blocked claims got a job", len(seen), waiting)
	}
	if d := time.Since(start); d > stallBound {
		t.Errorf("blocked claims took %v to drain %d jobs", d, waiting)
	}
	_ = b.Purge(ctx, backend.PurgeParams{Queue: idle})
	_ = b.Purge(ctx, backend.PurgeParams{Queue: busy})
}
