package rueidis_test

import (
	"context"
	"strings"
	"testing"

	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

func TestMain(m *testing.M) { redistest.Main(m) }

// newClient returns a client with default options on srv.
func newClient(t *testing.T, srv *redistest.Server) rueidislib.Client {
	opt, err := rueidislib.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c, err := rueidislib.NewClient(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func newBackend(t *testing.T) *rueidis.Backend {
	b := rueidis.New(newClient(t, redistest.Shared(t)))
	t.Cleanup(b.Close)
	return b
}

func TestSmoke(t *testing.T)         { redisqtest.Smoke(t, newBackend(t)) }
func TestEvents(t *testing.T)        { redisqtest.Events(t, newBackend(t)) }
func TestBlockedClaims(t *testing.T) { redisqtest.BlockedClaims(t, newBackend(t)) }

func TestCommandCounts(t *testing.T) {
	c := newClient(t, redistest.Start(t))
	b := rueidis.New(c)
	t.Cleanup(b.Close)
	counts := redisqtest.CommandCounts(t, b, func(ctx context.Context) (string, error) {
		s, err := c.Do(ctx, c.B().Info().Section("commandstats").Build()).ToString()
		return strings.ReplaceAll(s, "\r", ""), err
	})
	for op, d := range counts {
		t.Logf("%s: %v", op, d)
	}
}

func TestRedisRestartUnderWorker(t *testing.T) {
	redisqtest.RedisRestart(t, func(t *testing.T, srv *redistest.Server) backend.Backend {
		b := rueidis.New(newClient(t, srv))
		t.Cleanup(b.Close)
		return b
	})
}
