package goredis_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// newSentinelBackend returns a backend on a failover client that finds the
// master of s through its Sentinels, closed by the test's cleanup.
func newSentinelBackend(t *testing.T, s *redistest.Sentinel) backend.Backend {
	client := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs})
	t.Cleanup(func() { _ = client.Close() })
	b := goredis.New(client)
	t.Cleanup(b.Close)
	return b
}

// TestSentinelConformance runs the shared suite through a Sentinel failover
// client.
func TestSentinelConformance(t *testing.T) {
	b := newSentinelBackend(t, redistest.StartSentinel(t))
	conformance.Run(t, conformance.Harness{NewBackend: func(*testing.T) backend.Backend { return b }})
}

// TestSentinelFailoverUnderWorker kills the master under a worker pool; the
// Sentinels promote the replica, the client follows, and the pool finishes
// the jobs.
func TestSentinelFailoverUnderWorker(t *testing.T) {
	s := redistest.StartSentinel(t)
	b := newSentinelBackend(t, s)
	redisqtest.DrainThroughFailover(t, b, "failover", func() { s.WaitReplicated(t) }, func() {
		old := s.KillMaster(t)
		t.Logf("killed master %s; the Sentinels promoted %s", old, s.WaitFailover(t, old))
	})
}
