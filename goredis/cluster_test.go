package goredis_test

import (
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// newClusterBackend returns a backend on a Cluster client seeded with
// every node of c, closed by the test's cleanup.
func newClusterBackend(tb testing.TB, c *redistest.Cluster) backend.Backend {
	client := redis.NewClusterClient(&redis.ClusterOptions{Addrs: c.Addrs})
	tb.Cleanup(func() { _ = client.Close() })
	b := goredis.New(client)
	tb.Cleanup(b.Close)
	return b
}

func TestClusterConformance(t *testing.T) { redisqtest.ClusterConformance(t, newClusterBackend) }

func TestClusterFailoverUnderWorker(t *testing.T) { redisqtest.ClusterFailover(t, newClusterBackend) }

func TestClusterDurableFailover(t *testing.T) {
	redisqtest.ClusterDurableFailover(t, newClusterBackend)
}

func TestClusterLibraryLost(t *testing.T) { redisqtest.ClusterLibraryLost(t, newClusterBackend) }

func BenchmarkClusterDrain(b *testing.B) { redisqtest.ClusterDrain(b, newClusterBackend) }

func TestClusterSharded(t *testing.T) { redisqtest.ClusterSharded(t, newClusterBackend) }

func BenchmarkClusterShardedDrain(b *testing.B) {
	redisqtest.ClusterShardedDrain(b, newClusterBackend)
}
