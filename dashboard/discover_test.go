package dashboard_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/dashboard"
	bt "github.com/jobqueue-go/jobqueue/internal/browsertest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/memory"
)

// countedQueues counts the reads of a registry of queues.
type countedQueues struct {
	backend.Backend
	reg   backend.QueueRegistry
	reads atomic.Int64
}

func (c *countedQueues) Queues(ctx context.Context) ([]backend.QueueEntry, error) {
	c.reads.Add(1)
	return c.reg.Queues(ctx)
}

func (c *countedQueues) RegisterQueue(ctx context.Context, q string) error {
	return c.reg.RegisterQueue(ctx, q)
}

func (c *countedQueues) ForgetQueue(ctx context.Context, q string) error {
	return c.reg.ForgetQueue(ctx, q)
}

// overviewNames returns the names of the overview's queues, in order.
func overviewNames(t *testing.T, s *site) []string {
	t.Helper()
	code, body := s.get("api/overview", nil)
	must(t, "overview", code, body, http.StatusOK)
	var out []string
	for _, e := range body["queues"].([]any) {
		out = append(out, e.(map[string]any)["name"].(string))
	}
	return out
}

// waitOverview waits until the overview lists want, in order.
func waitOverview(t *testing.T, s *site, want []string, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for got := overviewNames(t, s); !slices.Equal(got, want); got = overviewNames(t, s) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: the overview lists %q, want %q", what, got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDiscover mounts a dashboard that discovers queues, on each backend
// with a store of its own, while producers with their own Queue values
// (and, on Redis, their own client: another process, in effect) start
// using queues: each appears in the overview, after the queue given to
// New and in name order, without restarting the handler, and can be
// opened; a forgotten queue leaves it. The registry is read at most once
// per interval, however often the page polls.
func TestDiscover(t *testing.T) {
	for _, tc := range []struct {
		name string
		open func(t *testing.T) (dashboardSide, producerSide backend.Backend)
	}{
		{"memory", func(*testing.T) (backend.Backend, backend.Backend) { b := memory.New(); return b, b }},
		{"goredis", func(t *testing.T) (backend.Backend, backend.Backend) {
			// Two clients: the dashboard's, and the producers'.
			srv := redistest.Start(t)
			mine, _ := redisqtest.GoRedis(t, srv.URL)
			producer, _ := redisqtest.GoRedis(t, srv.URL)
			return mine, producer
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			mine, producer := tc.open(t)
			enqueue := func(name string) {
				t.Helper()
				if _, err := newQueue(t, producer, name).Enqueue(ctx, map[string]any{"n": 1}); err != nil {
					t.Fatal(err)
				}
			}
			enqueue("disc-b")
			// The given queue is registered too: it is shown once, first.
			enqueue("zz-given")
			waitRegistered(t, producer, "disc-b", "zz-given")
			given := newQueue(t, mine, "zz-given")
			s := mount(t, dashboard.New([]*jobqueue.Queue{given}, dashboard.Discover(mine), dashboard.DiscoverEvery(20*time.Millisecond)))
			if got, want := overviewNames(t, s), []string{"zz-given", "disc-b"}; !slices.Equal(got, want) {
				t.Fatalf("the first overview lists %q, want %q", got, want)
			}

			enqueue("disc-a")
			waitOverview(t, s, []string{"zz-given", "disc-a", "disc-b"}, "after another producer's first enqueue to disc-a")
			code, body := s.get("api/queue", vals("queue", "disc-a"))
			must(t, "a discovered queue", code, body, http.StatusOK)
			if d := queueDepth(t, body, "pending"); d != 1 {
				t.Errorf("disc-a has %v pending jobs, want 1", d)
			}

			if err := jobqueue.ForgetQueue(ctx, producer, "disc-b"); err != nil {
				t.Fatal(err)
			}
			if err := jobqueue.ForgetQueue(ctx, producer, "zz-given"); err != nil {
				t.Fatal(err)
			}
			waitOverview(t, s, []string{"zz-given", "disc-a"}, "after disc-b and the given queue were forgotten")

			// At the interval of production, polls read the registry once.
			counted := &countedQueues{Backend: mine, reg: mine.(backend.QueueRegistry)}
			c := mount(t, dashboard.New(nil, dashboard.Discover(counted)))
			for range 5 {
				overviewNames(t, c)
			}
			code, body = c.get("api/queue", vals("queue", "disc-a"))
			must(t, "a discovered queue, without a queue given to New", code, body, http.StatusOK)
			if n := counted.reads.Load(); n != 1 {
				t.Errorf("six requests within %v read the registry %d times, want once", dashboard.DiscoverInterval, n)
			}
		})
	}
}

// waitRegistered waits until every name is registered in b's store.
func waitRegistered(t *testing.T, b backend.Backend, names ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		entries, err := jobqueue.Queues(context.Background(), b)
		if err != nil {
			t.Fatal(err)
		}
		missing := slices.DeleteFunc(slices.Clone(names), func(n string) bool {
			return slices.ContainsFunc(entries, func(e jobqueue.QueueEntry) bool { return e.Name == n })
		})
		if len(missing) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%q are not registered", missing)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestDiscoverMistakes: New refuses what can only be a mistake in the
// program, and a registry that cannot be read, with no queue to show,
// answers 503 rather than an empty overview.
func TestDiscoverMistakes(t *testing.T) {
	for what, f := range map[string]func(){
		"no queue, no Discover":      func() { dashboard.New(nil) },
		"Discover of nil":            func() { dashboard.New(nil, dashboard.Discover(nil)) },
		"a backend with no registry": func() { dashboard.New(nil, dashboard.Discover(struct{ backend.Backend }{memory.New()})) },
		"bad queue options":          func() { dashboard.New(nil, dashboard.Discover(memory.New(), jobqueue.WithLease(0))) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: New did not panic", what)
				}
			}()
			f()
		}()
	}

	srv := redistest.Start(t, redistest.RequireProcess())
	b := bt.FailFast(t, srv.URL)
	s := mount(t, dashboard.New(nil, dashboard.Discover(b), dashboard.Timeout(3*time.Second)))
	if got := overviewNames(t, s); len(got) != 0 {
		t.Fatalf("an empty registry: the overview lists %q", got)
	}
	srv.Kill(t)
	s = mount(t, dashboard.New(nil, dashboard.Discover(b), dashboard.Timeout(3*time.Second)))
	code, body := s.get("api/overview", nil)
	must(t, "overview with the registry unreadable", code, body, http.StatusServiceUnavailable)
	if body["since"] == nil || body["error"] == "" {
		t.Errorf("the 503 lacks its reason or start: %v", body)
	}
}

// gatedQueues holds every read of its registry until gate closes, saying
// on entered that one began.
type gatedQueues struct {
	*memory.Backend
	entered chan struct{}
	gate    chan struct{}
}

func (g *gatedQueues) Queues(ctx context.Context) ([]backend.QueueEntry, error) {
	select {
	case g.entered <- struct{}{}:
	default:
	}
	select {
	case <-g.gate:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.Backend.Queues(ctx)
}

// TestDiscoverFirstRead: the first read of the registry is the
// dashboard's, not the request's that began it: a page that goes away
// meanwhile does not make it fail (which the next requests would then
// see for DiscoverInterval), and a request that comes while it runs waits
// for it rather than show no queue.
func TestDiscoverFirstRead(t *testing.T) {
	g := &gatedQueues{Backend: memory.New(), entered: make(chan struct{}, 1), gate: make(chan struct{})}
	if err := g.RegisterQueue(context.Background(), "alpha"); err != nil {
		t.Fatal(err)
	}
	// gone is closed once the server has seen the first request go away.
	gone := make(chan struct{})
	var once sync.Once
	h := dashboard.New(nil, dashboard.Discover(g))
	s := mount(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Leaving") != "" {
			go func() { <-r.Context().Done(); once.Do(func() { close(gone) }) }()
		}
		h.ServeHTTP(w, r)
	}))

	leaving, leave := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(leaving, http.MethodGet, s.URL+"api/overview", nil)
		req.Header.Set("X-Leaving", "1")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
		}
		first <- err
	}()
	<-g.entered
	type reply struct {
		code int
		body map[string]any
	}
	second := make(chan reply, 1)
	go func() {
		code, body := s.get("api/overview", nil)
		second <- reply{code, body}
	}()
	leave()
	if err := <-first; err == nil {
		t.Fatal("the request that went away got a reply")
	}
	<-gone
	close(g.gate)
	r := <-second
	must(t, "the overview asked during the first read", r.code, r.body, http.StatusOK)
	if qs := r.body["queues"].([]any); len(qs) != 1 || qs[0].(map[string]any)["name"] != "alpha" {
		t.Errorf("a request made during the first read lists %v, want alpha", qs)
	}
	if got := overviewNames(t, s); !slices.Equal(got, []string{"alpha"}) {
		t.Errorf("after the first read, whose request went away: %q, want [alpha]", got)
	}
}
