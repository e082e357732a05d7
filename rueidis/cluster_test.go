package rueidis_test

import (
	"testing"

	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

// newClusterBackend returns a backend on a client seeded with every node
// of c (rueidis finds out that they form a Cluster), closed by the test's
// cleanup.
func newClusterBackend(tb testing.TB, c *redistest.Cluster) backend.Backend {
	return newBackendWith(tb, rueidislib.ClientOption{InitAddress: c.Addrs})
}

// newBackendWith returns a backend on a client made with opt; the test's
// cleanup closes both.
func newBackendWith(tb testing.TB, opt rueidislib.ClientOption) backend.Backend {
	client, err := rueidislib.NewClient(opt)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(client.Close)
	b := rueidis.New(client)
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
