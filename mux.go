package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
)

// Middleware wraps a Handler: logging, metrics, tracing and the like run
// around every job the Handler it returns is given. It is called when a
// Mux builds its chains (at each Handle and Use, once per kind), never
// once per job.
type Middleware func(Handler) Handler

// ErrUnknownKind is the cause of an attempt that a Mux has no handler
// for. The attempt fails and is retried with the queue's backoff, since a
// worker deployed later may know the kind; once the job has used its
// attempts it is dead-lettered, and RetryDead sends it back.
var ErrUnknownKind = errors.New("jobqueue: no handler for the job's kind")

// Mux routes each job to the handler registered for its Kind. Register a
// handler per kind with Handle, Register or RegisterKind, add middleware
// with Use, and run it with a Worker:
//
//	mux := jobqueue.NewMux()
//	jobqueue.Register(mux, sendEmail)
//	w, err := q.NewWorker(mux.ServeJob, jobqueue.WorkerOptions{})
//
// Registering is for program start: a kind registered twice, a kind that
// is not valid, and a nil handler or middleware are programming errors,
// and panic, as net/http's ServeMux does. No recovery middleware is
// needed under a Worker, which turns a panic of a handler or a middleware
// into a failed attempt. A Mux is safe for concurrent
// use; kinds and middleware added while it serves apply to the jobs that
// start afterwards.
type Mux struct {
	mu     sync.RWMutex
	routes map[string]*route
	mw     []Middleware
	// unknown is the chain for kinds without a route.
	unknown Handler
}

// route is one kind's handler, with its own options, and the whole chain
// built from it.
type route struct {
	inner Handler // the handler inside the kind's middleware and timeout
	chain Handler // inner inside the Mux's middleware
}

// NewMux returns an empty Mux.
func NewMux() *Mux {
	m := &Mux{routes: map[string]*route{}}
	m.unknown = unknownKind
	return m
}

// KindOption configures one kind of a Mux; see Handle.
type KindOption func(*kindConfig)

type kindConfig struct {
	timeout time.Duration
	mw      []Middleware
}

// WithTimeout bounds each attempt of the jobs of one kind: the handler's
// context ends d after the handler starts (or at the job's own Timeout, if
// that is sooner), and an attempt that then fails fails with an error that
// wraps context.DeadlineExceeded, and is retried as usual. Both timeouts
// are applied next to the handler, inside all middleware, so middleware
// sees the error of either the same way; the job's Timeout still counts
// from the start of the attempt, middleware included.
func WithTimeout(d time.Duration) KindOption {
	if d <= 0 {
		panic(fmt.Sprintf("jobqueue: WithTimeout(%v): the timeout must be positive", d))
	}
	return func(c *kindConfig) { c.timeout = d }
}

// WithMiddleware wraps one kind's handler in mw, inside the Mux's own
// middleware (Use); the first is the outermost.
func WithMiddleware(mw ...Middleware) KindOption {
	checkMiddleware(mw)
	return func(c *kindConfig) { c.mw = append(c.mw, mw...) }
}

// Handle registers h for the jobs of kind. The empty kind is the kind of
// jobs enqueued without one, so Handle("", h) serves a queue's untyped
// jobs beside its typed ones. It panics when kind is not valid (1 to 64
// characters from [A-Za-z0-9_.-], or empty) or already registered, or h is
// nil.
func (m *Mux) Handle(kind string, h Handler, opts ...KindOption) {
	if err := backend.ValidateKind(kind); err != nil {
		panic(fmt.Sprintf("jobqueue: Mux.Handle: %v", err))
	}
	if h == nil {
		panic(fmt.Sprintf("jobqueue: Mux.Handle(%q): nil handler", kind))
	}
	var c kindConfig
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	r := &route{inner: wrap(bounded(h, c.timeout), c.mw)}
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.routes[kind]; dup {
		panic(fmt.Sprintf("jobqueue: Mux.Handle: kind %q registered twice", kind))
	}
	r.chain = wrap(r.inner, m.mw)
	m.routes[kind] = r
}

// Use adds middleware around the handlers of every kind, registered
// already or later, and around the failure of a job of a kind the Mux does
// not know. The first middleware of the first Use is the outermost: it
// sees each job first and its outcome last. Middleware of one kind
// (WithMiddleware) runs inside it.
func (m *Mux) Use(mw ...Middleware) {
	checkMiddleware(mw)
	m.mu.Lock()
	defer m.mu.Unlock()
	all := append(slices.Clip(m.mw), mw...)
	// Built in full before anything changes, so that a middleware that
	// panics leaves the Mux as it was.
	chains := make(map[string]Handler, len(m.routes))
	for k, r := range m.routes {
		chains[k] = wrap(r.inner, all)
	}
	m.unknown = wrap(unknownKind, all)
	m.mw = all
	for k, r := range m.routes {
		r.chain = chains[k]
	}
}

// Kinds returns the registered kinds, sorted.
func (m *Mux) Kinds() []string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	kinds := make([]string, 0, len(m.routes))
	for k := range m.routes {
		kinds = append(kinds, k)
	}
	slices.Sort(kinds)
	return kinds
}

// ServeJob runs the handler of job's kind, inside the middleware; it is a
// Handler, for a Worker. A job of a kind with no handler fails with an
// error wrapping ErrUnknownKind.
func (m *Mux) ServeJob(ctx context.Context, job *Job) (any, error) {
	if job == nil {
		return nil, fmt.Errorf("%w: nil job", ErrInvalidArgument)
	}
	m.mu.RLock()
	h := m.unknown
	if r, ok := m.routes[job.Kind]; ok {
		h = r.chain
	}
	m.mu.RUnlock()
	return h(ctx, job)
}

// bounded applies an attempt's timeouts to h: its kind's, d from now
// (none when d is 0), and its job's own, which ends at the deadline the
// Worker put in ctx (or Timeout from now, outside a Worker), whichever is
// sooner.
func bounded(h Handler, d time.Duration) Handler {
	return func(ctx context.Context, job *Job) (any, error) {
		var deadline time.Time
		if d > 0 {
			deadline = time.Now().Add(d)
		}
		limit := d
		if job.Timeout > 0 {
			at, ok := ctx.Value(jobDeadlineKey{}).(time.Time)
			if !ok {
				at = time.Now().Add(job.Timeout)
			}
			if limit == 0 || at.Before(deadline) {
				deadline, limit = at, job.Timeout
			}
		}
		if limit == 0 {
			return h(ctx, job)
		}
		return timed(ctx, deadline, limit, job, h)
	}
}

// unknownKind is the handler of the kinds a Mux does not know.
func unknownKind(_ context.Context, job *Job) (any, error) {
	return nil, fmt.Errorf("%w %q (job %s)", ErrUnknownKind, job.Kind, job.ID)
}

// wrap builds h inside mw, the first outermost.
func wrap(h Handler, mw []Middleware) Handler {
	for i := len(mw) - 1; i >= 0; i-- {
		h = mw[i](h)
		if h == nil {
			panic("jobqueue: a middleware returned a nil Handler")
		}
	}
	return h
}

func checkMiddleware(mw []Middleware) {
	for _, f := range mw {
		if f == nil {
			panic("jobqueue: nil middleware")
		}
	}
}

// Register registers fn for the jobs of T's kind (T's Kind method, called
// on T's zero value). The payload of each job is decoded into a T before
// fn runs; a payload that does not decode fails the job permanently, since
// no retry can make it decode. fn's nil error completes the job, without a
// result (Handle takes a Handler, which may store one). Register panics as
// Handle does.
//
//	type Email struct{ To, Subject string }
//
//	func (Email) Kind() string { return "email" }
//
//	jobqueue.Register(mux, func(ctx context.Context, job *jobqueue.Job, e Email) error {
//		return send(ctx, e)
//	})
func Register[T JobArgs](m *Mux, fn func(ctx context.Context, job *Job, args T) error, opts ...KindOption) {
	var zero T
	RegisterKind(m, zero.Kind(), fn, opts...)
}

// RegisterKind is Register for a kind named here rather than by T: for a
// payload type that is not yours to add a Kind method to, or one type
// that several kinds share.
func RegisterKind[T any](m *Mux, kind string, fn func(ctx context.Context, job *Job, args T) error, opts ...KindOption) {
	if fn == nil {
		panic(fmt.Sprintf("jobqueue: Register(%q): nil function", kind))
	}
	m.Handle(kind, func(ctx context.Context, job *Job) (any, error) {
		var args T
		if err := job.Decode(&args); err != nil {
			return nil, Permanent(fmt.Errorf("%w (as %T)", err, args))
		}
		return nil, fn(ctx, job, args)
	}, opts...)
}
