package goredis_test

import (
	"context"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// newClient returns a client with default options on the shared server.
func newClient(t *testing.T, srv *redistest.Server) *redis.Client {
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func newBackend(t *testing.T) *goredis.Backend {
	b := goredis.New(newClient(t, redistest.Shared(t)))
	t.Cleanup(b.Close)
	return b
}

func TestSmoke(t *testing.T)         { redisqtest.Smoke(t, newBackend(t)) }
func TestEvents(t *testing.T)        { redisqtest.Events(t, newBackend(t)) }
func TestBlockedClaims(t *testing.T) { redisqtest.BlockedClaims(t, newBackend(t)) }

func TestCommandCounts(t *testing.T) {
	c := newClient(t, redistest.Start(t))
	b := goredis.New(c)
	t.Cleanup(b.Close)
	counts := redisqtest.CommandCounts(t, b, func(ctx context.Context) (string, error) {
		return c.Info(ctx, "commandstats").Result()
	})
	for op, d := range counts {
		t.Logf("%s: %v", op, d)
	}
}

func TestRedisRestartUnderWorker(t *testing.T) {
	redisqtest.RedisRestart(t, func(t *testing.T, srv *redistest.Server) backend.Backend {
		b := goredis.New(newClient(t, srv))
		t.Cleanup(b.Close)
		return b
	})
}
