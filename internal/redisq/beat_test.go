package redisq_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// TestBeatKeepsWorkersBounded pins down the workers zset that beat.lua
// keeps: score = expiry on Redis's clock, a TTL of zero removes, and every
// beat drops the processes whose beats ran out, which Stats no longer
// counts even before that. Purge deletes the zset with the rest of the
// queue.
func TestBeatKeepsWorkersBounded(t *testing.T) {
	bothAdapters(t, func(t *testing.T, b backend.Backend, raw *redis.Client, q string) {
		ctx := context.Background()
		tr := b.(backend.WorkerTracker)
		k := redisq.KeysFor(q)
		beat := func(id string, ttl time.Duration) {
			t.Helper()
			if err := tr.Beat(ctx, backend.BeatParams{Queue: q, ID: id, TTL: ttl}); err != nil {
				t.Fatalf("beat %s: %v", id, err)
			}
		}
		workers := func() int64 {
			t.Helper()
			s, err := b.Stats(ctx, q)
			if err != nil {
				t.Fatal(err)
			}
			return s.Workers
		}

		before := raw.Time(ctx).Val()
		beat("p1", time.Minute)
		after := raw.Time(ctx).Val()
		score := raw.ZScore(ctx, k.Workers, "p1").Val()
		if least, most := float64(before.Add(time.Minute).UnixMilli()), float64(after.Add(time.Minute).UnixMilli()); score < least || score > most {
			t.Errorf("p1's expiry is %.0f, want a minute after the beat on Redis's clock, %.0f to %.0f", score, least, most)
		}

		// A process whose beat ran out long ago, as a crashed one leaves
		// it: Stats does not count it, and the next beat drops it.
		raw.ZAdd(ctx, k.Workers, redis.Z{Score: 1, Member: "crashed"})
		if got := workers(); got != 1 {
			t.Errorf("Workers = %d with an expired entry, want 1", got)
		}
		beat("p2", time.Minute)
		if got := raw.ZRange(ctx, k.Workers, 0, -1).Val(); !slices.Equal(slices.Sorted(slices.Values(got)), []string{"p1", "p2"}) {
			t.Errorf("workers zset after a beat = %v, want p1 and p2 only", got)
		}
		if got := workers(); got != 2 {
			t.Errorf("Workers = %d, want 2", got)
		}

		beat("p1", 0)
		if got := raw.ZRange(ctx, k.Workers, 0, -1).Val(); len(got) != 1 || got[0] != "p2" {
			t.Errorf("workers zset after p1's TTL-0 beat = %v, want p2 only", got)
		}

		enqueueJobs(t, b, q, backend.NewJob{ID: "j1"})
		if err := b.Purge(ctx, backend.PurgeParams{Queue: q}); err != nil {
			t.Fatal(err)
		}
		if left := raw.Keys(ctx, "queue:{"+q+"}:*").Val(); len(left) != 0 {
			t.Errorf("keys left after Purge: %v", left)
		}
		if got := workers(); got != 0 {
			t.Errorf("Workers = %d after Purge", got)
		}
	})
}
