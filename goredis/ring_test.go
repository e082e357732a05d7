package goredis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// TestRingLoadsEveryShard runs queues on a Ring of two fresh servers: the
// first call loads the function library on both shards, so a queue on
// either works at once.
func TestRingLoadsEveryShard(t *testing.T) {
	ctx := context.Background()
	shards := map[string]string{}
	var servers []*redistest.Server
	for i := range 2 {
		s := redistest.Start(t)
		servers = append(servers, s)
		shards[fmt.Sprintf("shard%d", i)] = s.Addr
	}
	ring := redis.NewRing(&redis.RingOptions{Addrs: shards})
	t.Cleanup(func() { _ = ring.Close() })
	b := goredis.New(ring)
	t.Cleanup(b.Close)

	for i := range 16 {
		q := fmt.Sprintf("ring-%d", i)
		err := b.Enqueue(ctx, backend.EnqueueParams{Queue: q, Jobs: []backend.NewJob{{ID: "j", Payload: []byte("{}"), MaxAttempts: 1}}})
		if err != nil {
			t.Fatalf("enqueue on %s: %v", q, err)
		}
		jobs, err := b.Claim(ctx, backend.ClaimParams{Queue: q, Max: 1, Lease: time.Minute})
		if err != nil || len(jobs) != 1 {
			t.Fatalf("claim on %s: %v, %v", q, jobs, err)
		}
	}
	for _, s := range servers {
		c := redis.NewClient(&redis.Options{Addr: s.Addr})
		t.Cleanup(func() { _ = c.Close() })
		libs, err := c.FunctionList(ctx, redis.FunctionListQuery{LibraryNamePattern: redisq.FunctionLibrary().Name}).Result()
		if err != nil || len(libs) != 1 {
			t.Errorf("shard %s: FUNCTION LIST %v, %v; want the library", s.Addr, libs, err)
		}
		if n, err := c.DBSize(ctx).Result(); err != nil || n == 0 {
			t.Errorf("shard %s holds %d keys (%v); the queues should spread over both", s.Addr, n, err)
		}
	}
}
