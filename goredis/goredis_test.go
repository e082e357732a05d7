package goredis_test

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
	b, _ := redisqtest.GoRedis(t, redistest.Shared(t).URL)
	return b
}

func TestBlockedClaims(t *testing.T)           { redisqtest.BlockedClaims(t, newBackend(t)) }
func TestCommandCounts(t *testing.T)           { redisqtest.CommandCounts(t, redisqtest.GoRedis) }
func TestRedisRestartUnderWorker(t *testing.T) { redisqtest.RedisRestart(t, redisqtest.GoRedis) }
func TestWritesStopped(t *testing.T)           { redisqtest.WritesStopped(t, redisqtest.GoRedis) }
func TestLibraryLost(t *testing.T)             { redisqtest.LibraryLost(t, redisqtest.GoRedis) }
func TestConnectionsKilled(t *testing.T)       { redisqtest.ConnectionsKilled(t, redisqtest.GoRedis) }
func TestDurableWithoutReplica(t *testing.T)   { redisqtest.DurableWithoutReplica(t, redisqtest.GoRedis) }
func TestDurableWithReplica(t *testing.T)      { redisqtest.DurableWithReplica(t, redisqtest.GoRedis) }
