package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// A store whose backend implements backend.QueueRegistry keeps a list of
// the queues in use, which dashboards and the jobqueue command read
// (Queues) instead of being told every name. A Queue registers its queue
// once per Queue value, in the background after its first successful
// enqueue, and a Worker registers the queues it serves as it starts, and
// again every refreshEvery while it runs, so that a queue's LastSeen says
// whether a Worker still serves it. No enqueue ever waits for a
// registration or pays a command for it past the first, and a
// registration that fails (an ACL that does not grant the registry's key,
// say) fails nothing else: it is logged once per Queue value, and tried
// again, on a later enqueue at most every registerRetry, or by the
// Worker's next refresh.

const (
	// registerTimeout bounds one registration.
	registerTimeout = 5 * time.Second
	// registerRetry spaces the registrations an enqueue tries after one
	// failed.
	registerRetry = time.Minute
	// refreshEvery is how often a running Worker registers its queues
	// again, moving their LastSeen: rarely, since it only tells the
	// queues in use from those nothing serves any more.
	refreshEvery = time.Minute
)

// QueueEntry is one queue of a store's registry of queues: its name and
// when it was last registered, on the store's clock. See Queues.
type QueueEntry = backend.QueueEntry

// Queues returns the queues registered in b's store, sorted by name, each
// with the time of its latest registration (see backend.QueueRegistry): a
// queue is registered by the first enqueue of each Queue value, and by
// Workers, as they start and every minute while they run. A queue that
// nothing has enqueued to or worked since it was forgotten (ForgetQueue),
// or since before its store kept a registry, is not listed. A call that
// fails with ErrUnavailable is repeated as a Queue's calls are. It needs a
// backend that keeps a registry (every backend shipped with this module
// does); others return an error wrapping errors.ErrUnsupported.
func Queues(ctx context.Context, b backend.Backend) ([]QueueEntry, error) {
	r, err := registryOf(b)
	if err != nil {
		return nil, err
	}
	return retryTimes(ctx, DefaultRetries, func() ([]QueueEntry, error) { return r.Queues(ctx) })
}

// RegisterQueue registers the queue called name in the registry of b's
// store now, moving its LastSeen on, as a Queue's first enqueue does in
// the background. It is for a process that ends right after enqueuing (a
// command, a script), whose Queue would otherwise exit before its
// registration is made; open that Queue WithoutRegistry, and call this
// after the enqueue. It needs a backend that keeps a registry, as Queues
// does.
func RegisterQueue(ctx context.Context, b backend.Backend, name string) error {
	r, err := registryOf(b)
	if err != nil {
		return err
	}
	if err := backend.ValidateQueueName(name); err != nil {
		return err
	}
	_, err = retryTimes(ctx, DefaultRetries, func() (struct{}, error) { return struct{}{}, r.RegisterQueue(ctx, name) })
	return err
}

// ForgetQueue removes the queue called name from the registry of b's
// store, and changes nothing else: its jobs, counters and settings stay,
// and it is registered again by the next Worker that serves it or the
// first enqueue of a Queue value that had not registered it yet. Use it
// for a queue that nothing uses any more, after purging it if its jobs
// should go too. It needs a backend that keeps a registry, as Queues
// does.
func ForgetQueue(ctx context.Context, b backend.Backend, name string) error {
	r, err := registryOf(b)
	if err != nil {
		return err
	}
	if err := backend.ValidateQueueName(name); err != nil {
		return err
	}
	_, err = retryTimes(ctx, DefaultRetries, func() (struct{}, error) { return struct{}{}, r.ForgetQueue(ctx, name) })
	return err
}

func registryOf(b backend.Backend) (backend.QueueRegistry, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil backend", ErrInvalidArgument)
	}
	r, ok := b.(backend.QueueRegistry)
	if !ok {
		return nil, fmt.Errorf("jobqueue: %T keeps no registry of queues: %w", b, errors.ErrUnsupported)
	}
	return r, nil
}

// registration is the state of a Queue's registration of its queue.
type registration struct {
	// done is set once a registration succeeded: enqueues read it
	// without a lock.
	done atomic.Bool

	mu sync.Mutex
	// running is set while a registration is on its way.
	running bool
	// next is when an enqueue may try again after a failure.
	next time.Time
	// logged is set once a failure was logged.
	logged bool
}

// registerInBackground registers q's queue after an enqueue, in a
// goroutine, unless q registered it already, is registering it, or
// failed to less than registerRetry ago. It costs the enqueue one atomic
// load once the queue is registered.
func (q *Queue) registerInBackground(ctx context.Context) {
	if q.reg.done.Load() || q.cfg.unlisted {
		return
	}
	r, ok := q.b.(backend.QueueRegistry)
	if !ok {
		return
	}
	g := &q.reg
	g.mu.Lock()
	if g.done.Load() || g.running || time.Now().Before(g.next) {
		g.mu.Unlock()
		return
	}
	g.running = true
	g.mu.Unlock()
	// The enqueue's values (a trace, say) go along; its end does not.
	go q.registerWith(context.WithoutCancel(ctx), r, q.log, true)
}

// registerOnce registers q's queue unless q registered it already; a
// Worker calls it as it starts, logging a failure to log.
func (q *Queue) registerOnce(ctx context.Context, r backend.QueueRegistry, log *slog.Logger) {
	if q.reg.done.Load() {
		return
	}
	g := &q.reg
	g.mu.Lock()
	if g.done.Load() || g.running {
		g.mu.Unlock()
		return
	}
	g.running = true
	g.mu.Unlock()
	q.registerWith(ctx, r, log, true)
}

// registerWith registers q's queue with r, for registerTimeout at most,
// and records the outcome: done, or a failure, logged to log at WARN the
// first time and at DEBUG after. When claimed, the caller set
// q.reg.running, which registerWith clears.
func (q *Queue) registerWith(ctx context.Context, r backend.QueueRegistry, log *slog.Logger, claimed bool) {
	callCtx, cancel := context.WithTimeout(ctx, registerTimeout)
	err := r.RegisterQueue(callCtx, q.name)
	cancel()
	g := &q.reg
	g.mu.Lock()
	defer g.mu.Unlock()
	if claimed {
		g.running = false
	}
	if err == nil {
		g.done.Store(true)
		return
	}
	g.next = time.Now().Add(registerRetry)
	if errors.Is(err, context.Canceled) {
		return // a Worker stopping
	}
	if g.logged {
		log.Debug("jobqueue: queue registration failed", "queue", q.name, "error", err)
		return
	}
	g.logged = true
	log.Warn("jobqueue: the queue could not be registered, so dashboards and the jobqueue command do not list it (it works on); "+
		"registering is tried again later. On Redis with an ACL, grant the key jobqueue:queues", "queue", q.name, "error", err)
}

// refresh registers q's queue again, moving its LastSeen on: a running
// Worker calls it every refreshEvery.
func (q *Queue) refresh(ctx context.Context, r backend.QueueRegistry, log *slog.Logger) {
	q.registerWith(ctx, r, log, false)
}
