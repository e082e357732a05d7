package reliability

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
)

// TestUniqueRace races two producers, each with its own adapter, client
// and connections (goredis and rueidis), enqueuing 1,000 jobs each over
// the same 100 unique keys, 16 at a time, while a proxy in front of one of
// them drops the replies of some of its enqueue calls, which its Queue
// then repeats. Exactly 100 jobs must be stored, one per key; every
// enqueue must return its own id with no error, or ErrDuplicate with the id
// of its key's one job; and no repeat of a call that stored its job may
// report that job as its own duplicate.
func TestUniqueRace(t *testing.T) {
	const keys, perProducer, parallel = 100, 1000, 16
	srv := redistest.Start(t, redistest.RequireProcess())
	redisqtest.LoadLibrary(t, srv.URL)
	proxy, lossy := startProxy(t, srv)
	queue := "unique-race"
	urls := map[string]string{"goredis": lossy, "rueidis": srv.URL}

	type outcome struct {
		key, own, got string
		err           error
	}
	var mu sync.Mutex
	var outcomes []outcome
	var wg sync.WaitGroup
	start := make(chan struct{})
	for _, adapter := range adapters {
		b, closeBackend, err := openAdapter(adapter, urls[adapter])
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(closeBackend)
		q, err := jobqueue.New(b, queue)
		if err != nil {
			t.Fatal(err)
		}
		for g := range parallel {
			wg.Go(func() {
				<-start
				for i := g; i < perProducer; i += parallel {
					key := fmt.Sprintf("key-%d", i%keys)
					own := fmt.Sprintf("%s-%d", adapter, i)
					got, err := q.Enqueue(t.Context(), map[string]int{"i": i}, jobqueue.WithID(own), jobqueue.Unique(key, time.Hour))
					mu.Lock()
					outcomes = append(outcomes, outcome{key, own, got, err})
					mu.Unlock()
				}
			})
		}
	}
	enqueue := redisqtest.CallPattern(t, "enqueue")
	close(start)
	lost := 0
	for range 10 {
		before := proxy.Lost()
		proxy.LoseReplyTo(enqueue)
		for deadline := time.Now().Add(time.Second); proxy.Lost() == before && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		lost += proxy.Lost() - before
	}
	proxy.LoseReplyTo("\x00never") // disarm
	wg.Wait()

	winners := map[string]string{}
	for _, o := range outcomes {
		if o.err == nil {
			if o.got != o.own {
				t.Errorf("%s: stored, with the id %q returned", o.own, o.got)
			}
			if w, ok := winners[o.key]; ok {
				t.Errorf("%s: two jobs stored, %s and %s", o.key, w, o.own)
			}
			winners[o.key] = o.own
		}
	}
	for _, o := range outcomes {
		switch {
		case o.err == nil:
		case !errors.Is(o.err, jobqueue.ErrDuplicate):
			t.Errorf("%s: %v", o.own, o.err)
		case o.got == o.own:
			t.Errorf("%s: reported as a duplicate of itself (a repeat that missed its first run): %v", o.own, o.err)
		case o.got != winners[o.key]:
			t.Errorf("%s: a duplicate of %s, but %s holds %s", o.own, o.got, winners[o.key], o.key)
		}
	}
	if len(outcomes) != 2*perProducer || len(winners) != keys {
		t.Errorf("%d enqueues, %d keys with a job; want %d and %d", len(outcomes), len(winners), 2*perProducer, keys)
	}
	b, closeBackend, err := openAdapter("goredis", srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBackend()
	q, err := jobqueue.New(b, queue)
	if err != nil {
		t.Fatal(err)
	}
	st, err := q.Stats(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if st.Pending != keys || st.EnqueuedTotal != keys {
		t.Errorf("the queue holds %d jobs and counted %d enqueued; want %d", st.Pending, st.EnqueuedTotal, keys)
	}
	t.Logf("%d enqueues, %d replies lost and repeated, %d jobs stored", len(outcomes), lost, st.Pending)
	if lost == 0 {
		t.Error("the proxy lost no enqueue reply")
	}
}
