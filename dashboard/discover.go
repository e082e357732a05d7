package dashboard

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// DiscoverInterval is how often, at most, a dashboard made with Discover
// reads the registry of queues again: one command, whatever the number
// of queues, however many pages poll it.
const DiscoverInterval = 10 * time.Second

// Discover adds to the dashboard every queue registered in the store of b
// (backend.QueueRegistry; see jobqueue.Queues), opened on b with
// queueOpts, besides the queues given to New: those come first, in the
// order given, then the registered ones not among them, by name. Queues
// register themselves as they are used (a Queue value's first enqueue, a
// Worker's start), so a queue that another process starts using appears
// within DiscoverInterval, without restarting the dashboard; one that is
// forgotten (jobqueue.ForgetQueue, "jobqueue queues -forget") leaves it
// as quickly, unless it was given to New. With Discover, New may be given
// no queue at all.
//
// New panics when b is nil or keeps no registry (every backend shipped
// with jobqueue keeps one): like a nil queue, that is a mistake in the
// program.
func Discover(b backend.Backend, queueOpts ...jobqueue.Option) Option {
	return func(c *config) {
		c.discover = &discovery{b: b, opts: slices.Clone(queueOpts)}
	}
}

// discovery is what Discover set.
type discovery struct {
	b    backend.Backend
	opts []jobqueue.Option
}

// queueSet is the dashboard's queues: those given to New and, with
// Discover, those of the registry as it was last read.
type queueSet struct {
	given []*jobqueue.Queue
	// reg is nil without Discover.
	reg   backend.QueueRegistry
	d     *discovery
	every time.Duration
	// timeout bounds a read of the registry (the dashboard's Timeout).
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	all    []*jobqueue.Queue
	byName map[string]*jobqueue.Queue
	// read is when the registry was last read, or tried; reading is open
	// while one request reads it, and closed when it is done: the others
	// use the list as it is, or, before the first read is done, wait.
	read    time.Time
	reading chan struct{}
	// err is why the last read failed; nil after one that succeeded.
	err error
}

// newQueueSet checks the queues given to New and what Discover set,
// panicking on a mistake in the program (see New and Discover).
func newQueueSet(given []*jobqueue.Queue, d *discovery, every, timeout time.Duration, log *slog.Logger) *queueSet {
	if len(given) == 0 && d == nil {
		panic("dashboard: New needs at least one queue, or Discover")
	}
	s := &queueSet{given: slices.Clone(given), d: d, every: every, timeout: timeout, log: log, byName: make(map[string]*jobqueue.Queue, len(given))}
	for _, q := range given {
		if q == nil {
			panic("dashboard: New given a nil queue")
		}
		if _, dup := s.byName[q.Name()]; dup {
			panic(fmt.Sprintf("dashboard: New given two queues named %q", q.Name()))
		}
		s.byName[q.Name()] = q
	}
	s.all = s.given
	if d != nil {
		if d.b == nil {
			panic("dashboard: Discover given a nil backend")
		}
		reg, ok := d.b.(backend.QueueRegistry)
		if !ok {
			panic(fmt.Sprintf("dashboard: Discover given %T, which keeps no registry of queues", d.b))
		}
		s.reg = reg
		// The options are checked now, as New would check them for a
		// queue given to it.
		if _, err := jobqueue.New(d.b, "dashboard-check", d.opts...); err != nil {
			panic(fmt.Sprintf("dashboard: Discover given queue options that jobqueue.New refuses: %v", err))
		}
	}
	return s
}

// list returns the queues to show, reading the registry first when it was
// last read DiscoverInterval ago or more and no other request reads it;
// and the error of the last read of the registry, nil when it succeeded
// or there is none. Until a first read is done, a request waits for the
// one in flight rather than show a list that lacks every registered
// queue. The read is the dashboard's, not the request's: a client that
// goes away does not make it fail for the requests of the next
// DiscoverInterval.
func (s *queueSet) list(ctx context.Context) ([]*jobqueue.Queue, error) {
	if s.reg == nil {
		return s.given, nil
	}
	s.mu.Lock()
	for s.reading != nil && s.read.IsZero() {
		wait := s.reading
		s.mu.Unlock()
		select {
		case <-wait:
		case <-ctx.Done():
			s.mu.Lock()
			defer s.mu.Unlock()
			return s.all, ctx.Err()
		}
		s.mu.Lock()
	}
	if s.reading != nil || (!s.read.IsZero() && time.Since(s.read) < s.every) {
		defer s.mu.Unlock()
		return s.all, s.err
	}
	done := make(chan struct{})
	s.reading = done
	s.mu.Unlock()

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.timeout)
	entries, err := s.reg.Queues(rctx)
	cancel()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.reading = nil
	close(done)
	s.read = time.Now()
	if err != nil {
		if s.err == nil {
			s.log.Warn("dashboard: the registry of queues could not be read; showing the queues known", "reason", reason(err))
		}
		s.err = err
		return s.all, err
	}
	if s.err != nil {
		s.log.Info("dashboard: the registry of queues read again")
	}
	s.err = nil
	all := slices.Clone(s.given)
	byName := make(map[string]*jobqueue.Queue, len(s.given)+len(entries))
	for _, q := range s.given {
		byName[q.Name()] = q
	}
	for _, e := range entries {
		if byName[e.Name] != nil {
			continue
		}
		// A queue already shown keeps its Queue value.
		q := s.byName[e.Name]
		if q == nil {
			var err error
			if q, err = jobqueue.New(s.d.b, e.Name, s.d.opts...); err != nil {
				continue // the options were checked in New; a name the registry should not hold
			}
		}
		byName[e.Name] = q
		all = append(all, q)
	}
	s.all, s.byName = all, byName
	return all, nil
}

// lookup returns the queue called name, reading the registry first as
// list does.
func (s *queueSet) lookup(ctx context.Context, name string) (*jobqueue.Queue, bool) {
	_, _ = s.list(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	q, ok := s.byName[name]
	return q, ok
}
