package rueidis_test

import (
	"testing"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// TestMain gives the Examples a server of their own.
func TestMain(m *testing.M) {
	redistest.MainWithServer(m, func(s *redistest.Server) { redisAddr = s.Addr })
}

// newBackend returns a backend with default client options on the shared
// server.
func newBackend(t *testing.T) backend.Backend {
	b, _ := redisqtest.Rueidis(t, redistest.Shared(t).URL)
	return b
}

func TestBlockedClaims(t *testing.T)           { redisqtest.BlockedClaims(t, newBackend(t)) }
func TestCommandCounts(t *testing.T)           { redisqtest.CommandCounts(t, redisqtest.Rueidis) }
func TestRedisRestartUnderWorker(t *testing.T) { redisqtest.RedisRestart(t, redisqtest.Rueidis) }
func TestWritesStopped(t *testing.T)           { redisqtest.WritesStopped(t, redisqtest.Rueidis) }
func TestLibraryLost(t *testing.T)             { redisqtest.LibraryLost(t, redisqtest.Rueidis) }
func TestConnectionsKilled(t *testing.T)       { redisqtest.ConnectionsKilled(t, redisqtest.Rueidis) }
func TestDurableWithoutReplica(t *testing.T)   { redisqtest.DurableWithoutReplica(t, redisqtest.Rueidis) }
func TestDurableWithReplica(t *testing.T)      { redisqtest.DurableWithReplica(t, redisqtest.Rueidis) }
