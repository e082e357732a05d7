package redisq

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
)

// gateConn is a Conn on a real Redis that counts its script calls, can
// lose a reply, and can hold them: while hold is set, each call waits until release is closed or
// its context ends, and reports which of the two it saw. It implements only
// what the tests of this package use.
type gateConn struct {
	rdb     *redis.Client
	calls   atomic.Int32
	hold    atomic.Bool
	lose    atomic.Bool // the next claim runs, and its reply is lost
	release chan struct{}
	ended   chan error // a held call's context error, or nil when released
}

func (c *gateConn) Call(ctx context.Context, f *Function, keys, args []string) (any, error) {
	c.calls.Add(1)
	if c.hold.Load() {
		select {
		case <-c.release:
			c.ended <- nil
		case <-ctx.Done():
			c.ended <- ctx.Err()
			return nil, ctx.Err()
		}
	}
	a := make([]any, len(args))
	for i, x := range args {
		a[i] = x
	}
	v, err := c.reply(c.rdb.FCall(ctx, f.Name, keys, a...).Result())
	if err == nil && f == scriptClaim && c.lose.CompareAndSwap(true, false) {
		return nil, RoundTripError(errors.New("the reply was lost"))
	}
	return v, err
}

// CallWait sends f and WAIT on one pinned connection, as the goredis
// adapter does; it counts as a script call.
func (c *gateConn) CallWait(ctx context.Context, f *Function, keys, args []string, w Wait) (any, Waited, error) {
	c.calls.Add(1)
	if w.AOF {
		return nil, Waited{}, errors.ErrUnsupported
	}
	cn := c.rdb.Conn()
	defer cn.Close()
	a := make([]any, len(args))
	for i, x := range args {
		a[i] = x
	}
	v, err := c.reply(cn.FCall(ctx, f.Name, keys, a...).Result())
	if err != nil {
		return nil, Waited{}, err
	}
	var waited Waited
	waited.Reply, waited.Err = c.reply(cn.Wait(ctx, w.Replicas, w.Timeout).Result())
	return v, waited, nil
}

// reply maps a go-redis reply as an adapter does, for the replies these
// tests get: flat arrays of integers and strings.
func (c *gateConn) reply(v any, err error) (any, error) {
	var re redis.Error
	switch {
	case errors.As(err, &re):
		return nil, ReplyError(re.Error())
	case err != nil:
		return nil, RoundTripError(err)
	}
	return v, nil
}

func (c *gateConn) BlockPop(ctx context.Context, key string, timeout time.Duration) (bool, error) {
	err := c.rdb.BLPop(ctx, timeout, key).Err()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	return err == nil, err
}

func (c *gateConn) Subscribe(context.Context, string) (<-chan string, error) {
	return nil, errors.ErrUnsupported
}

func (c *gateConn) Nodes(context.Context) ([]Node, error) {
	return []Node{{Do: func(ctx context.Context, args ...string) (any, error) {
		a := make([]any, len(args))
		for i, x := range args {
			a[i] = x
		}
		return c.reply(c.rdb.Do(ctx, a...).Result())
	}}}, nil
}

func newGateEngine(t *testing.T) (*Engine, *gateConn) {
	return gateEngineOn(t, redistest.Start(t))
}

// gateEngineOn is newGateEngine on srv, for one more process.
func gateEngineOn(t *testing.T, srv *redistest.Server) (*Engine, *gateConn) {
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opt)
	t.Cleanup(func() { _ = rdb.Close() })
	c := &gateConn{rdb: rdb, release: make(chan struct{}), ended: make(chan error, 100)}
	e := NewEngine(c)
	t.Cleanup(e.Close)
	// Loaded ahead, so that the tests count only the calls they make.
	if err := e.loadLibrary(context.Background(), e.loads.Load()); err != nil {
		t.Fatal(err)
	}
	return e, c
}

// waitingEnqueues waits until n calls wait in queue's group.
func waitingEnqueues(t *testing.T, e *Engine, queue string, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		e.gmu.Lock()
		w := 0
		if g := e.groups[queue]; g != nil {
			w = len(g.waiting)
		}
		e.gmu.Unlock()
		if w == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d enqueue calls wait, want %d", w, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func oneJob(queue, id, req string) backend.EnqueueParams {
	return backend.EnqueueParams{Queue: queue, RequestID: req,
		Jobs: []backend.NewJob{{ID: id, Payload: []byte(`{"n":"` + id + `"}`), MaxAttempts: 3}}}
}

// TestEnqueueGathersConcurrentCalls holds one enqueue in flight while 40
// more arrive: they wait, one of them gives up, and the rest go out as one
// script call in which each call keeps its own outcome; a repeat of one of
// them then stores nothing more.
func TestEnqueueGathersConcurrentCalls(t *testing.T) {
	e, c := newGateEngine(t)
	ctx := context.Background()
	const queue = "gather"
	if err := e.Enqueue(ctx, oneJob(queue, "taken", "")); err != nil {
		t.Fatal(err)
	}
	c.calls.Store(0)
	c.hold.Store(true)

	first := make(chan error, 1)
	go func() { first <- e.Enqueue(ctx, oneJob(queue, "first", "req-first")) }()
	for c.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	const n = 40
	errs := make([]error, n)
	var wg sync.WaitGroup
	quitter, quit := context.WithCancel(ctx)
	for i := range n {
		p := oneJob(queue, fmt.Sprintf("j%d", i), fmt.Sprintf("req-%d", i))
		cctx := ctx
		switch i {
		case 7:
			p.Jobs = append(p.Jobs, oneJob(queue, "taken", "").Jobs[0]) // refused whole
		case 9:
			cctx = quitter // gives up while it waits
		}
		wg.Go(func() { errs[i] = e.Enqueue(cctx, p) })
	}
	waitingEnqueues(t, e, queue, n)
	quit()
	waitingEnqueues(t, e, queue, n-1)
	c.hold.Store(false)
	close(c.release)
	if err := <-first; err != nil {
		t.Fatalf("the call in flight: %v", err)
	}
	wg.Wait()

	if got := c.calls.Load(); got != 2 {
		t.Errorf("%d script calls for %d Enqueue calls, want 2: the one in flight and the %d that waited for it", got, n, n-2)
	}
	for i, err := range errs {
		var want error
		switch i {
		case 7:
			want = backend.ErrJobExists
		case 9:
			want = context.Canceled
		}
		if !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("call %d: %v, want %v", i, err, want)
		}
	}
	for i := range n {
		stored := c.rdb.Exists(ctx, KeysFor(queue).Job(fmt.Sprintf("j%d", i))).Val() == 1
		if stored != (i != 7 && i != 9) {
			t.Errorf("job j%d stored: %v", i, stored)
		}
	}
	if got := c.rdb.LLen(ctx, KeysFor(queue).Pending).Val(); got != 1+1+n-2 {
		t.Errorf("%d jobs pending, want %d", got, n)
	}
	total := c.rdb.HGet(ctx, KeysFor(queue).Stats, "enqueued_total").Val()
	if total != fmt.Sprint(n) {
		t.Errorf("enqueued_total %s, want %d", total, n)
	}

	// A repeat of a call that went out gathered is answered from its own
	// request record.
	if err := e.Enqueue(ctx, oneJob(queue, "j3", "req-3")); err != nil {
		t.Errorf("repeat of a gathered call: %v", err)
	}
	if got := c.rdb.LLen(ctx, KeysFor(queue).Pending).Val(); got != int64(n) {
		t.Errorf("after the repeat %d jobs pending, want %d", got, n)
	}
}

// TestEnqueueGatheredCallEndsWithItsCallers checks that the script call of
// gathered calls is cancelled once every caller has given up, and not
// before.
func TestEnqueueGatheredCallEndsWithItsCallers(t *testing.T) {
	e, c := newGateEngine(t)
	const queue = "gather-cancel"
	c.hold.Store(true)
	ctx, cancelFirst := context.WithCancel(context.Background())
	first := make(chan error, 1)
	go func() { first <- e.Enqueue(ctx, oneJob(queue, "first", "r0")) }()
	for c.calls.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	var cancels []context.CancelFunc
	done := make(chan error, 3)
	for i := range 3 {
		cctx, cancel := context.WithCancel(context.Background())
		cancels = append(cancels, cancel)
		go func() { done <- e.Enqueue(cctx, oneJob(queue, fmt.Sprint("w", i), fmt.Sprint("r", i+1))) }()
	}
	waitingEnqueues(t, e, queue, 3)
	cancelFirst()
	if err := <-first; !errors.Is(err, context.Canceled) {
		t.Fatalf("the first call, cancelled: %v", err)
	}
	if err := <-c.ended; !errors.Is(err, context.Canceled) {
		t.Fatalf("the first call's script call saw %v, want its cancellation", err)
	}
	// The three waiting calls now go out together, and are held.
	for c.calls.Load() < 2 {
		time.Sleep(time.Millisecond)
	}
	cancels[0]()
	cancels[1]()
	for range 2 {
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("a cancelled caller: %v", err)
		}
	}
	select {
	case err := <-c.ended:
		t.Fatalf("the gathered script call ended (%v) while a caller still waits", err)
	default:
	}
	cancels[2]()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Errorf("the last caller: %v", err)
	}
	if err := <-c.ended; !errors.Is(err, context.Canceled) {
		t.Errorf("the gathered script call saw %v, want it cancelled with its last caller", err)
	}
}
