package goredis_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// newSentinelBackend returns a backend on a failover client that finds the
// master of s through its Sentinels, closed by the test's cleanup.
func newSentinelBackend(tb testing.TB, s *redistest.Sentinel) backend.Backend {
	client := redis.NewFailoverClient(&redis.FailoverOptions{MasterName: s.MasterName, SentinelAddrs: s.Addrs})
	tb.Cleanup(func() { _ = client.Close() })
	b := goredis.New(client)
	tb.Cleanup(b.Close)
	return b
}

func TestSentinelConformance(t *testing.T) { redisqtest.SentinelConformance(t, newSentinelBackend) }

func TestSentinelFailoverUnderWorker(t *testing.T) {
	redisqtest.SentinelFailover(t, newSentinelBackend)
}

func TestSentinelDurableFailover(t *testing.T) {
	redisqtest.SentinelDurableFailover(t, newSentinelBackend)
}

// TestReadsOnReplica lives with the Sentinel tests because it, too, needs
// a replica: reads must work through a client that knows only one.
func TestReadsOnReplica(t *testing.T) { redisqtest.ReadsOnReplica(t, redisqtest.GoRedis) }
