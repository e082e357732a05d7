package rueidis_test

import (
	"testing"

	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// newSentinelBackend returns a backend on a client that finds the master
// of s through its Sentinels, closed by the test's cleanup.
func newSentinelBackend(tb testing.TB, s *redistest.Sentinel) backend.Backend {
	return newBackendWith(tb, rueidislib.ClientOption{
		InitAddress: s.Addrs,
		Sentinel:    rueidislib.SentinelOption{MasterSet: s.MasterName},
	})
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
func TestReadsOnReplica(t *testing.T) { redisqtest.ReadsOnReplica(t, redisqtest.Rueidis) }
