package redisqtest

import (
	"testing"

	"github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/load"
	"github.com/jobqueue-go/jobqueue/memory"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

// Open connects one Redis adapter, with its client's default options, to
// the server at url. It returns the backend and a reader of that server's
// INFO; tb's cleanup closes both the backend and the client.
type Open func(tb testing.TB, url string) (backend.Backend, load.InfoFunc)

// GoRedis is the Open of the go-redis adapter.
func GoRedis(tb testing.TB, url string) (backend.Backend, load.InfoFunc) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c := redis.NewClient(opt)
	b := goredis.New(c)
	// The backend goes first: it may still use the client while closing.
	tb.Cleanup(func() { b.Close(); _ = c.Close() })
	return b, load.GoRedisInfo(c)
}

// Rueidis is the Open of the rueidis adapter.
func Rueidis(tb testing.TB, url string) (backend.Backend, load.InfoFunc) {
	opt, err := rueidislib.ParseURL(url)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := rueidislib.NewClient(opt)
	if err != nil {
		tb.Fatal(err)
	}
	b := rueidis.New(c)
	tb.Cleanup(func() { b.Close(); c.Close() })
	return b, load.RueidisInfo(c)
}

// Shipped is one backend this module ships, opened for a test.
type Shipped struct {
	Name string
	Open func(t *testing.T) backend.Backend
}

// ShippedBackends lists the backends this module ships: memory, and the
// two Redis adapters on the server whose URL server gives (a server of
// the test's own, or a shared one), for tests that must hold on each.
func ShippedBackends(server func(t *testing.T) string) []Shipped {
	return []Shipped{
		{"memory", func(*testing.T) backend.Backend { return memory.New() }},
		{"goredis", func(t *testing.T) backend.Backend { b, _ := GoRedis(t, server(t)); return b }},
		{"rueidis", func(t *testing.T) backend.Backend { b, _ := Rueidis(t, server(t)); return b }},
	}
}
