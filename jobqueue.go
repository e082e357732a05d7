// Package jobqueue is a reliable background-job queue with pluggable storage.
//
// Producers enqueue a JSON payload and return at once. Workers claim jobs,
// route them by kind to their handlers and complete or fail them. Every
// claim carries a random token and every later state change checks it, so
// a worker that lost its claim (its lease expired and the job was
// reclaimed) can never complete, fail or extend the job again. Delivery is
// at least once.
//
// # Getting started
//
// Pick a backend — memory.New() in-process, goredis.New(client) or
// rueidis.New(client) on Redis — and open a queue on it:
//
//	q, err := jobqueue.New(memory.New(), "emails")
//	id, err := q.Enqueue(ctx, Email{To: "ada@example.com"})
//
//	jobs, err := q.Claim(ctx, 10, 5*time.Second)
//	for _, job := range jobs {
//		var e Email
//		if err := job.Decode(&e); err != nil {
//			job.Fail(ctx, jobqueue.Permanent(err))
//			continue
//		}
//		job.Complete(ctx, send(e))
//	}
//
// A job whose worker crashed or hung is returned to pending by Reclaim once
// its lease runs out; a long job keeps its lease with Extend. A failed job is
// retried with exponential backoff until it has used its attempts, then it
// is dead-lettered in the dead history, where RetryDead can send it back.
//
// # Errors and retries
//
// A call that failed on the way to the store (a dropped connection, a
// Redis failing over) fails with an error wrapping ErrUnavailable; the
// Queue repeats such a call a few times (WithRetries), with backoff and
// the same request id, so that a repeat of a call that did run changes
// nothing more: a retried Enqueue never stores a job twice. Every other
// error is permanent for that call.
//
// Redis replicates asynchronously, so a job the master acknowledged can be
// lost when it dies before its replica has it. WithDurability makes
// enqueues return only once n replicas have the jobs (WAIT), and
// WithAckDurability does the same for completions; a call not confirmed in
// time returns the ids with a *NotDurableError, whose Retry waits again.
//
// # Workers
//
// Most programs let a Worker do the claiming: q.Work(ctx, handler, opts)
// runs handler at a set concurrency, claims and acknowledges in batches,
// renews the leases of all its running jobs in one call per heartbeat,
// reclaims expired leases, rides out backend outages, and on shutdown
// releases what it could not finish:
//
//	err := q.Work(ctx, func(ctx context.Context, job *jobqueue.Job) (any, error) {
//		var e Email
//		if err := job.Decode(&e); err != nil {
//			return nil, jobqueue.Permanent(err)
//		}
//		return nil, send(ctx, e)
//	}, jobqueue.WorkerOptions{Concurrency: 32})
//
// # Kinds and the Mux
//
// A job has a kind, which names what it is. A payload type that has a
// Kind method (JobArgs) gives its jobs that kind, and a Mux routes each job
// to the handler of its kind, decoding its payload into the handler's type
// first:
//
//	type Email struct{ To string }
//
//	func (Email) Kind() string { return "email" }
//
//	mux := jobqueue.NewMux()
//	mux.Use(logging) // middleware around every kind
//	jobqueue.Register(mux, func(ctx context.Context, job *jobqueue.Job, e Email) error {
//		return send(ctx, e)
//	}, jobqueue.WithTimeout(time.Minute))
//
//	q.Enqueue(ctx, Email{To: "ada@example.com"}, jobqueue.Headers(map[string]string{"tenant": "acme"}))
//	err := q.Work(ctx, mux.ServeJob, jobqueue.WorkerOptions{})
//
// A job of a kind the Mux does not know fails its attempt with
// ErrUnknownKind and is retried with backoff, since a worker deployed
// later may know it; one whose payload does not decode is dead-lettered at
// once. Headers carry small metadata with a job (trace context, tenant),
// and EnqueueInterceptors (WithEnqueueInterceptor) see and change the
// outgoing jobs, as tracing does to inject its headers.
//
// A job may have a Priority level within its queue, a Timeout per attempt
// (or per kind, WithTimeout), and an expiry (ExpiresIn) past which it is
// dead-lettered rather than started. A handler that returns Snooze(d) puts
// its job back for d without using up an attempt.
//
// One Worker can serve several queues with one pool of handlers,
// sharing the claims by weight or draining them in order
// (WorkerOptions.StrictPriority):
//
//	w, err := jobqueue.NewWorker(mux.ServeJob, jobqueue.WorkerOptions{},
//		jobqueue.Serve(critical, 3), jobqueue.Serve(bulk, 1))
//
// # Policy and storage
//
// The Queue holds the policy, once: defaults, validation, retries and
// backoff, payload limits and retention. The backend.Backend holds the
// atomic state changes, and the conformance package pins down what every
// backend must do. Errors and types of the backend package are re-exported
// here, so callers rarely import it.
package jobqueue

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/warnlog"
)

// The errors a Queue returns, re-exported from the backend package so that
// errors.Is works whichever package the caller imports.
var (
	ErrUnavailable      = backend.ErrUnavailable
	ErrNotFound         = backend.ErrNotFound
	ErrLostClaim        = backend.ErrLostClaim
	ErrJobExists        = backend.ErrJobExists
	ErrWrongState       = backend.ErrWrongState
	ErrInvalidQueueName = backend.ErrInvalidQueueName
	ErrInvalidState     = backend.ErrInvalidState
	ErrInvalidArgument  = backend.ErrInvalidArgument
	ErrPayloadTooLarge  = backend.ErrPayloadTooLarge
	ErrCorruptJob       = backend.ErrCorruptJob
	ErrFull             = backend.ErrFull
	ErrNotPermitted     = backend.ErrNotPermitted
	// ErrNotDurable reports a write that was made but not confirmed as
	// durable as the Durability asked (WithDurability, Durable,
	// WithAckDurability); see NotDurableError.
	ErrNotDurable = backend.ErrNotDurable
)

// State is where a job is in its life cycle; see the constants.
type State = backend.State

// The job states.
const (
	StatePending    = backend.StatePending
	StateScheduled  = backend.StateScheduled
	StateProcessing = backend.StateProcessing
	StateCompleted  = backend.StateCompleted
	StateDead       = backend.StateDead
)

// JobInfo is one job's stored record, as Get returns it.
type JobInfo = backend.JobInfo

// Stats are a queue's depths and global counters, which every process
// using the queue shares, and the counters of this process.
type Stats struct {
	backend.Stats
	// Process counts what this Queue handle (and the Workers on it) did,
	// in this process, since it was opened.
	Process ProcessStats
}

// ProcessStats are the counters of one Queue handle in one process. Acks
// count when the backend accepted them.
type ProcessStats struct {
	Enqueued   int64
	Claimed    int64
	Completed  int64
	Retried    int64
	Snoozed    int64
	Dead       int64
	Released   int64
	Reclaimed  int64
	LostClaims int64
}

// counters are the live ProcessStats of a Queue.
type counters struct {
	enqueued, claimed, completed, retried, snoozed, dead, released, reclaimed, lost atomic.Int64
}

func (c *counters) snapshot() ProcessStats {
	return ProcessStats{
		Enqueued: c.enqueued.Load(), Claimed: c.claimed.Load(), Completed: c.completed.Load(),
		Retried: c.retried.Load(), Snoozed: c.snoozed.Load(), Dead: c.dead.Load(), Released: c.released.Load(),
		Reclaimed: c.reclaimed.Load(), LostClaims: c.lost.Load(),
	}
}

// ReclaimResult lists the jobs a Reclaim returned to pending or
// dead-lettered.
type ReclaimResult = backend.ReclaimResult

// Event is a state-change notification; it carries ids, never payloads.
type Event = backend.Event

// HistoryPoint is what happened to a queue in one minute; see
// Queue.History.
type HistoryPoint = backend.HistoryPoint

// EventKind names what happened to the jobs of an Event; see the
// constants.
type EventKind = backend.EventKind

// The event kinds.
const (
	EventEnqueued  = backend.EventEnqueued
	EventClaimed   = backend.EventClaimed
	EventCompleted = backend.EventCompleted
	EventRetrying  = backend.EventRetrying
	EventSnoozed   = backend.EventSnoozed
	EventDead      = backend.EventDead
	EventReclaimed = backend.EventReclaimed
	EventReleased  = backend.EventReleased
	EventRetried   = backend.EventRetried
	EventDeleted   = backend.EventDeleted
	EventPurged    = backend.EventPurged
)

// The defaults of a Queue, from the classic Redis job-queue recipe (whose
// "visibility timeout" is the lease here), except that dead-lettered jobs
// are kept much longer: a dead job must still be there to inspect and retry
// days later.
const (
	DefaultLease            = 5 * time.Second
	DefaultMaxAttempts      = 3
	DefaultCompletedMax     = 50
	DefaultCompletedTTL     = 300 * time.Second
	DefaultDeadMax          = 10_000
	DefaultDeadTTL          = 30 * 24 * time.Hour
	DefaultPayloadLimit     = 1 << 20
	DefaultReclaimBatch     = 1000
	DefaultBackoffBase      = time.Second
	DefaultBackoffMax       = 10 * time.Minute
	DefaultRetries          = 3
	defaultMaxBatchEnqueue  = 10_000
	defaultMaxClaim         = 10_000
	maxReclaimBatchesPerRun = 10_000
)

// Queue is a handle on one named queue of a backend. It is safe for
// concurrent use, and cheap: open as many as you like on one backend.
type Queue struct {
	b     backend.Backend
	name  string
	cfg   config
	count counters
	// reg is the registration of the queue (registry.go), and log where
	// a failed one is told.
	reg registration
	log *slog.Logger
}

type config struct {
	lease        time.Duration
	maxAttempts  int
	backoff      Backoff
	completed    backend.Retention
	dead         backend.Retention
	cancelled    *backend.Retention // nil: the defaults (see cancel.go)
	payloadLimit int
	reclaimBatch int
	retries      int
	interceptors []EnqueueInterceptor
	// durability applies to enqueues, ackDurability to Complete and Fail
	// (see durable.go).
	durability    backend.Durability
	ackDurability backend.Durability
	// unlisted keeps the queue out of the registry (WithoutRegistry).
	unlisted bool
}

// Option configures a Queue; see New.
type Option func(*config) error

// New opens the queue called name on b. The name must be 1 to 128
// characters from [A-Za-z0-9_.-]; anything else is refused with
// ErrInvalidQueueName, so a name can never break the backend's key layout.
// New does no I/O.
func New(b backend.Backend, name string, opts ...Option) (*Queue, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: nil backend", ErrInvalidArgument)
	}
	if err := backend.ValidateQueueName(name); err != nil {
		return nil, err
	}
	cfg := config{
		lease:        DefaultLease,
		maxAttempts:  DefaultMaxAttempts,
		backoff:      ExponentialBackoff{Base: DefaultBackoffBase, Max: DefaultBackoffMax, Jitter: 0.5},
		completed:    backend.Retention{Max: DefaultCompletedMax, TTL: DefaultCompletedTTL},
		dead:         backend.Retention{Max: DefaultDeadMax, TTL: DefaultDeadTTL},
		payloadLimit: DefaultPayloadLimit,
		reclaimBatch: DefaultReclaimBatch,
		retries:      DefaultRetries,
	}
	for _, o := range opts {
		if o == nil {
			continue
		}
		if err := o(&cfg); err != nil {
			return nil, err
		}
	}
	if cfg.durability.Enabled() || cfg.ackDurability.Enabled() {
		if err := canWaitDurable(b); err != nil {
			return nil, err
		}
	}
	return &Queue{b: b, name: name, cfg: cfg, log: warnlog.New()}, nil
}

// WithLease sets the lease of a claim (default 5 s; the recipe's
// visibility timeout): how long a claimed job may go without Complete, Fail
// or Extend before Reclaim hands it to another worker. At least 1 ms.
func WithLease(d time.Duration) Option {
	return func(c *config) error {
		if d < time.Millisecond {
			return fmt.Errorf("%w: lease %v, want at least 1ms", ErrInvalidArgument, d)
		}
		c.lease = d
		return nil
	}
}

// WithRetries sets how many times the Queue repeats a call that failed with
// ErrUnavailable before it returns the error (default 3; 0 never repeats).
// The repeats wait 50 ms, doubling, with jitter; none starts more than a
// second after the call first failed, nor after its context ended. A
// repeat carries the first call's request id, so a call that did run is
// not run twice (see the backend package's "Lost replies and repeated
// calls"). The repeats are for lost replies and blips; a Worker rides out
// longer outages on its own.
func WithRetries(n int) Option {
	return func(c *config) error {
		if n < 0 || n > maxRetries {
			return fmt.Errorf("%w: %d retries, want 0 to %d", ErrInvalidArgument, n, maxRetries)
		}
		c.retries = n
		return nil
	}
}

// maxRetries bounds WithRetries.
const maxRetries = 8

// retryBudget is how long after a call first failed the Queue may still
// start a repeat of it. It is counted from the failure, not the start, so
// that a claim that waited for work before its reply was lost is repeated
// too; with the client's own timeouts it keeps every repeat well within
// backend.RequestWindow.
const retryBudget = time.Second

// WithMaxAttempts sets how many times a job may be claimed in all before it
// is dead-lettered (default 3). Per-job MaxAttempts overrides it.
func WithMaxAttempts(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: max attempts %d, want at least 1", ErrInvalidArgument, n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithBackoff sets the delay before each retry (default: exponential from
// 1 s, capped at 10 min, with 50% jitter). A nil Backoff retries at once.
func WithBackoff(b Backoff) Option {
	return func(c *config) error {
		c.backoff = b
		return nil
	}
}

// WithCompletedRetention sets how many completed jobs the history keeps and
// for how long (default 50 and 300 s). Zero keeps none.
func WithCompletedRetention(keep int, ttl time.Duration) Option {
	return func(c *config) error {
		if keep < 0 || ttl < 0 {
			return fmt.Errorf("%w: completed retention %d/%v is negative", ErrInvalidArgument, keep, ttl)
		}
		c.completed = backend.Retention{Max: keep, TTL: ttl}
		return nil
	}
}

// WithDeadRetention sets how many dead-lettered jobs the dead history keeps
// and for how long (default 10,000 and 30 days). Zero keeps none. It
// applies to every way a job dies: a failure, a lease that ran out on the
// last attempt, and an expiry (ExpiresAt) that a claim meets.
func WithDeadRetention(keep int, ttl time.Duration) Option {
	return func(c *config) error {
		if keep < 0 || ttl < 0 {
			return fmt.Errorf("%w: dead retention %d/%v is negative", ErrInvalidArgument, keep, ttl)
		}
		c.dead = backend.Retention{Max: keep, TTL: ttl}
		return nil
	}
}

// WithPayloadLimit sets the largest encoded payload Enqueue accepts, in
// bytes (default 1 MiB). Larger payloads are refused with
// ErrPayloadTooLarge before anything is written.
func WithPayloadLimit(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: payload limit %d, want at least 1", ErrInvalidArgument, n)
		}
		c.payloadLimit = n
		return nil
	}
}

// WithoutRegistry keeps the queue out of its store's registry of queues
// (see Queues): neither its enqueues nor its Workers register it, so
// dashboards and "jobqueue queues" do not list it. For a short-lived
// queue, such as a benchmark's or a test's, that would otherwise stay
// listed after it is purged (a registration may still be on its way when
// the queue is done with).
func WithoutRegistry() Option {
	return func(c *config) error {
		c.unlisted = true
		return nil
	}
}

// WithReclaimBatch sets how many expired leases one backend call reclaims
// (default 1000), which bounds how long each call holds the store.
func WithReclaimBatch(n int) Option {
	return func(c *config) error {
		if n < 1 {
			return fmt.Errorf("%w: reclaim batch %d, want at least 1", ErrInvalidArgument, n)
		}
		c.reclaimBatch = n
		return nil
	}
}

// Name returns the queue's name.
func (q *Queue) Name() string { return q.name }

// Backend returns the backend the queue runs on.
func (q *Queue) Backend() backend.Backend { return q.b }

// Lease returns the lease length of the queue's claims.
func (q *Queue) Lease() time.Duration { return q.cfg.lease }

// EnqueueOption sets a per-job option of Enqueue and EnqueueBatch.
type EnqueueOption func(*enqueueConfig) error

type enqueueConfig struct {
	delay       time.Duration
	runAt       time.Time
	maxAttempts int
	id          string
	kind        string
	kindSet     bool
	headers     map[string]string
	priority    int
	timeout     time.Duration
	expiresIn   time.Duration
	expiresAt   time.Time
	unique      *backend.Unique
	shardKey    string
	// durability is the call's (Durable); nil for the queue's.
	durability *backend.Durability
}

// Delay makes the job claimable only after d has passed.
func Delay(d time.Duration) EnqueueOption {
	return func(c *enqueueConfig) error {
		if d < 0 {
			return fmt.Errorf("%w: negative delay %v", ErrInvalidArgument, d)
		}
		c.delay, c.runAt = d, time.Time{}
		return nil
	}
}

// At makes the job claimable only from t on. A time in the past means now.
func At(t time.Time) EnqueueOption {
	return func(c *enqueueConfig) error {
		if t.IsZero() {
			return fmt.Errorf("%w: zero run-at time", ErrInvalidArgument)
		}
		c.runAt, c.delay = t, 0
		return nil
	}
}

// MaxAttempts overrides the queue's max attempts for this job.
func MaxAttempts(n int) EnqueueOption {
	return func(c *enqueueConfig) error {
		if n < 1 {
			return fmt.Errorf("%w: max attempts %d, want at least 1", ErrInvalidArgument, n)
		}
		c.maxAttempts = n
		return nil
	}
}

// WithID gives the job a caller-chosen id instead of a random one. An
// enqueue of an id fails with ErrJobExists, storing nothing, exactly while
// the queue holds a record of that id: pending, scheduled or processing,
// and then completed or dead for as long as its history keeps it. The
// history is capped (WithCompletedRetention: by default the last 50
// completed jobs, for at most 300 s), so at 1,000 jobs/s a completed id is
// free again after some 50 ms; with a retention of zero, as soon as it
// completes. WithID alone is therefore "not twice at once", not "at most
// once": for at most once within a time, add Unique with the id as its key
// and that time as its window, which no history trimming shortens. With
// EnqueueBatch, give each job its own id (Item). The id is 1 to 256 bytes
// of printable ASCII other than space, and not "." or ".." (a URL cannot
// carry them): see backend.ValidateNewID.
func WithID(id string) EnqueueOption {
	return func(c *enqueueConfig) error {
		if err := backend.ValidateNewID(id); err != nil {
			return err
		}
		c.id = id
		return nil
	}
}

// ShardKey keeps the jobs of one key together on a sharded queue
// (package shard): they land on one shard, so they start in the order
// they were enqueued (within a priority level), as every job of an
// unsharded queue does. Without a key, the jobs of one call land together
// and calls are spread over the shards in turn. A job with a unique key
// is placed by that key instead, where the key is checked; a job with its
// own id (WithID) lands where that id falls, so ShardKey and WithID
// exclude each other. The key is 1 to 256 bytes of printable ASCII other
// than space; it is not stored. On an unsharded queue it changes nothing.
func ShardKey(key string) EnqueueOption {
	return func(c *enqueueConfig) error {
		if err := backend.ValidateUniqueKey(key); err != nil {
			return fmt.Errorf("shard key: %w", err)
		}
		c.shardKey = key
		return nil
	}
}

// Kind sets the job's kind, which a Mux routes it by, overriding the kind
// its payload names (JobArgs). The kind is empty or 1 to 64 characters
// from [A-Za-z0-9_.-].
func Kind(kind string) EnqueueOption {
	return func(c *enqueueConfig) error {
		if err := backend.ValidateKind(kind); err != nil {
			return err
		}
		c.kind, c.kindSet = kind, true
		return nil
	}
}

// Headers attaches h to the job: small string metadata (trace context,
// tenant, request id) that the handler finds in Job.Headers. The map is
// copied, once per job. Names are 1 to 64 characters from
// [A-Za-z0-9_.-]; values are UTF-8 without control characters; a job has
// at most 32 headers and 8 KiB of them (see backend.ValidateHeaders).
// Headers given twice are merged, the later value winning.
func Headers(h map[string]string) EnqueueOption {
	return func(c *enqueueConfig) error {
		if err := backend.ValidateHeaders(h); err != nil {
			return err
		}
		if len(h) == 0 {
			return nil
		}
		if c.headers == nil {
			c.headers = make(map[string]string, len(h))
		}
		for k, v := range h {
			c.headers[k] = v
		}
		return nil
	}
}

// MaxPriority is the highest priority level; see Priority.
const MaxPriority = backend.MaxPriority

// Priority sets the job's level within its queue, from 0 (the default and
// lowest) to MaxPriority: a claim takes the jobs of the highest level that
// has any first, oldest first within a level. A retried or snoozed job
// keeps its level. Priorities order the jobs of one queue; to weigh
// queues against each other, serve them from one Worker (Serve).
func Priority(level int) EnqueueOption {
	return func(c *enqueueConfig) error {
		if level < 0 || level > MaxPriority {
			return fmt.Errorf("%w: priority %d, want 0 to %d", ErrInvalidArgument, level, MaxPriority)
		}
		c.priority = level
		return nil
	}
}

// Timeout bounds each attempt of the job: a Worker ends the handler's
// context d after the attempt starts, and an attempt that fails then
// fails with an error that wraps context.DeadlineExceeded, and is retried
// as usual. A timeout of the job's kind (WithTimeout), when shorter,
// ends it first.
func Timeout(d time.Duration) EnqueueOption {
	return func(c *enqueueConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: timeout %v, want more than zero", ErrInvalidArgument, d)
		}
		c.timeout = d
		return nil
	}
}

// ExpiresIn makes the job expire d after the enqueue: a claim that meets
// it later, a retry's included, dead-letters it with a LastError saying it
// expired, instead of running it. It must be after the job's run time
// (Delay, At).
func ExpiresIn(d time.Duration) EnqueueOption {
	return func(c *enqueueConfig) error {
		if d <= 0 {
			return fmt.Errorf("%w: expires in %v, want more than zero", ErrInvalidArgument, d)
		}
		c.expiresIn, c.expiresAt = d, time.Time{}
		return nil
	}
}

// ExpiresAt makes the job expire at t; see ExpiresIn.
func ExpiresAt(t time.Time) EnqueueOption {
	return func(c *enqueueConfig) error {
		if t.IsZero() {
			return fmt.Errorf("%w: zero expiry time", ErrInvalidArgument)
		}
		c.expiresAt, c.expiresIn = t, 0
		return nil
	}
}

// JobArgs is a payload that names its kind. Enqueue gives a job whose
// payload implements it that kind (unless the Kind option overrides it),
// and Register routes the jobs of that kind to a typed handler. Kind
// must return a constant: Register calls it on the zero value.
//
//	type Email struct{ To string }
//
//	func (Email) Kind() string { return "email" }
type JobArgs interface {
	Kind() string
}

// NewJob is one job on its way to the backend, as an EnqueueInterceptor
// sees it.
type NewJob = backend.NewJob

// EnqueueFunc stores jobs: the Queue's own enqueue, or the next
// interceptor before it.
type EnqueueFunc func(ctx context.Context, jobs []NewJob) error

// EnqueueInterceptor wraps every Enqueue and EnqueueBatch of a Queue
// (WithEnqueueInterceptor). It sees the outgoing jobs, kind, headers,
// payload and options resolved, and may change them in place (tracing
// adds its headers there), refuse the call by returning an error without
// calling next (nothing is stored), or act around the call. It must pass
// next as many jobs as it was given, in the same order, since their ids
// are what Enqueue returns. The jobs are checked after every interceptor
// has run. An interceptor runs once per call, however often the Queue
// repeats the backend call after a lost reply.
type EnqueueInterceptor func(ctx context.Context, queue string, jobs []NewJob, next EnqueueFunc) error

// WithEnqueueInterceptor adds interceptors to the queue's enqueues, in
// order: the first added is the outermost, so it sees the jobs first.
func WithEnqueueInterceptor(ics ...EnqueueInterceptor) Option {
	return func(c *config) error {
		for _, ic := range ics {
			if ic == nil {
				return fmt.Errorf("%w: nil enqueue interceptor", ErrInvalidArgument)
			}
		}
		c.interceptors = append(c.interceptors, ics...)
		return nil
	}
}

// Enqueue adds one job whose payload is v encoded as JSON (a
// json.RawMessage or []byte holding JSON is stored as is) and returns its
// id. A v that implements JobArgs gives the job its kind. It returns as
// soon as the job is stored. The Queue repeats a call
// whose reply was lost (WithRetries) without ever storing the job twice.
//
// An error wrapping ErrUnavailable means the store could not be reached
// even after those repeats: the job may or may not have been stored. To
// try again yourself without risking a second job, give the job a unique
// key (Unique) whose window outlasts your tries, and take ErrDuplicate on
// a new try as done (WithID and ErrJobExists do the same only while the
// job's record is kept; see WithID).
//
// A job whose unique key (Unique, UniqueArgs) another job holds is not
// stored: Enqueue returns the holder's id with an error matching
// ErrDuplicate.
//
// On a queue or call made durable (WithDurability, Durable), Enqueue
// returns once the job is durable, or returns its id with a
// *NotDurableError (matching ErrNotDurable): the job is stored, but may be
// lost to a failover; see NotDurableError.
func (q *Queue) Enqueue(ctx context.Context, v any, opts ...EnqueueOption) (string, error) {
	ids, err := q.enqueue(ctx, []any{v}, opts, false)
	switch {
	case err == nil:
		return ids[0], nil
	case ids != nil:
		return ids[0], err
	}
	return duplicateOf(err), err
}

// EnqueueBatch adds many jobs in one atomic call: either all are stored or,
// on any error, none is. The options apply to every job; an element of vs
// made with Item carries options of its own, such as an id or a unique
// key. When any job's unique key is held, nothing is stored and the error
// is a *DuplicateError (matching ErrDuplicate) that lists every such job,
// by its index in vs, with the id of the job that holds its key: to store
// the others, leave those out and call again. Two jobs of one batch with
// the same id or key are refused with ErrInvalidArgument. A durable batch
// that is not confirmed durable returns every id with a
// *NotDurableError, as Enqueue does. On a sharded queue (package shard), a
// batch is atomic within a shard: one whose own ids or unique keys fall
// on several shards is not all or nothing (see the shard package doc).
func (q *Queue) EnqueueBatch(ctx context.Context, vs []any, opts ...EnqueueOption) ([]string, error) {
	if len(vs) == 0 {
		return nil, fmt.Errorf("%w: empty batch", ErrInvalidArgument)
	}
	if len(vs) > defaultMaxBatchEnqueue {
		return nil, fmt.Errorf("%w: batch of %d jobs, at most %d per call", ErrInvalidArgument, len(vs), defaultMaxBatchEnqueue)
	}
	return q.enqueue(ctx, vs, opts, true)
}

func (q *Queue) enqueue(ctx context.Context, vs []any, opts []EnqueueOption, batch bool) ([]string, error) {
	ec := enqueueConfig{maxAttempts: q.cfg.maxAttempts}
	if err := ec.apply(opts); err != nil {
		return nil, err
	}
	if batch && ec.id != "" {
		return nil, fmt.Errorf("%w: WithID applies to one job: give each job of a batch its own (Item)", ErrInvalidArgument)
	}
	if batch && ec.unique != nil {
		return nil, fmt.Errorf("%w: Unique applies to one job: give each job of a batch its own (Item)", ErrInvalidArgument)
	}
	durability := q.cfg.durability
	if ec.durability != nil {
		durability = *ec.durability
		if durability.Enabled() {
			if err := canWaitDurable(q.b); err != nil {
				return nil, err
			}
		}
	}
	now := time.Now()
	jobs := make([]backend.NewJob, len(vs))
	// The jobs that need an id, and their placement keys (IDMinter).
	var unnamed []int
	var keys []string
	for i, v := range vs {
		what := "payload"
		if batch {
			what = fmt.Sprintf("payload of job %d", i)
		}
		ec, v, err := ec.item(v)
		if err != nil {
			return nil, err
		}
		delay, expiry, err := ec.timing(now)
		if err != nil {
			return nil, err
		}
		payload, err := q.encode(v, what)
		if err != nil {
			return nil, err
		}
		kind := ec.kind
		if a, ok := v.(JobArgs); ok && !ec.kindSet {
			kind = a.Kind()
			if err := backend.ValidateKind(kind); err != nil {
				return nil, fmt.Errorf("%w (the Kind of %T)", err, v)
			}
		}
		if ec.id != "" && ec.shardKey != "" {
			return nil, fmt.Errorf("%w: WithID and ShardKey both place a job: give one", ErrInvalidArgument)
		}
		jobs[i] = backend.NewJob{
			ID: ec.id, Kind: kind, Payload: payload, Headers: maps.Clone(ec.headers), Priority: ec.priority,
			MaxAttempts: ec.maxAttempts, Delay: delay, Timeout: ec.timeout, Expiry: expiry,
		}
		if jobs[i].Unique, err = ec.uniqueOf(v, kind, payload, now); err != nil {
			return nil, err
		}
		if ec.id == "" {
			key := jobs[i].Unique.Key
			if key == "" {
				key = ec.shardKey
			}
			unnamed, keys = append(unnamed, i), append(keys, key)
		}
	}
	q.mintIDs(jobs, unnamed, keys)
	// One request id for the call, made before the interceptors run: an
	// interceptor that repeats next itself after a lost reply repeats the
	// same call, which then stores nothing twice.
	requestID := q.requestID()
	// sent is the backend call that stored the jobs, also when they were
	// not confirmed durable, for NotDurableError.Retry.
	var sent *backend.EnqueueParams
	store := func(ctx context.Context, jobs []NewJob) error {
		p, err := q.store(ctx, jobs, len(vs), requestID, durability)
		if err == nil || errors.Is(err, ErrNotDurable) {
			sent = &p
		}
		return err
	}
	var err error
	if len(q.cfg.interceptors) == 0 {
		err = store(ctx, jobs)
	} else {
		err = q.intercepted(store)(ctx, jobs)
	}
	if err != nil && (sent == nil || !errors.Is(err, ErrNotDurable)) {
		return nil, err
	}
	if sent == nil {
		return nil, fmt.Errorf("jobqueue: an enqueue interceptor returned no error without storing the jobs")
	}
	ids := make([]string, len(sent.Jobs))
	for i, j := range sent.Jobs {
		ids[i] = j.ID
	}
	q.count.enqueued.Add(int64(len(ids)))
	// The jobs are stored (durable or not): the queue is in use.
	q.registerInBackground(ctx)
	if err != nil {
		return ids, &NotDurableError{IDs: ids, err: err, q: q, p: *sent, began: now}
	}
	return ids, nil
}

// store sends the jobs of one enqueue, n of them, under its request id
// and with durability d, repeating the call as the Queue does, and
// returns the params it sent. It checks them first, after the
// interceptors, so that what they changed is refused as clearly, and with
// nothing written.
func (q *Queue) store(ctx context.Context, jobs []NewJob, n int, requestID string, d backend.Durability) (backend.EnqueueParams, error) {
	p := backend.EnqueueParams{Queue: q.name, Jobs: jobs, RequestID: requestID, Durability: d}
	if len(jobs) != n {
		return p, fmt.Errorf("%w: an enqueue interceptor passed on %d jobs of %d", ErrInvalidArgument, len(jobs), n)
	}
	if err := p.Validate(); err != nil {
		return p, err
	}
	if len(q.cfg.interceptors) > 0 {
		for _, j := range jobs {
			if err := q.checkJSON(j.Payload, fmt.Sprintf("payload of job %q after the enqueue interceptors", j.ID)); err != nil {
				return p, err
			}
		}
	}
	return p, retryErr(ctx, q, func() error { return q.b.Enqueue(ctx, p) })
}

// intercepted wraps store in the queue's enqueue interceptors, the first
// outermost.
func (q *Queue) intercepted(store EnqueueFunc) EnqueueFunc {
	for i := len(q.cfg.interceptors) - 1; i >= 0; i-- {
		ic, next := q.cfg.interceptors[i], store
		store = func(ctx context.Context, jobs []NewJob) error { return ic(ctx, q.name, jobs, next) }
	}
	return store
}

// encode turns a payload or a result (what names it in errors) into JSON
// and checks it against the limit.
func (q *Queue) encode(v any, what string) ([]byte, error) {
	var b []byte
	switch p := v.(type) {
	case json.RawMessage:
		b = p
	case []byte:
		b = p
	default:
		var err error
		if b, err = json.Marshal(v); err != nil {
			return nil, fmt.Errorf("%w: %s is not JSON-encodable: %v", ErrInvalidArgument, what, err)
		}
	}
	if err := q.checkJSON(b, what); err != nil {
		return nil, err
	}
	return b, nil
}

// checkJSON checks an encoded payload or result (what names it in errors)
// against the limit, and that it is JSON.
func (q *Queue) checkJSON(b []byte, what string) error {
	if len(b) > q.cfg.payloadLimit {
		return fmt.Errorf("%w: %s of %d bytes, limit %d", ErrPayloadTooLarge, what, len(b), q.cfg.payloadLimit)
	}
	if !json.Valid(b) {
		return fmt.Errorf("%w: %s is not valid JSON", ErrInvalidArgument, what)
	}
	return nil
}

// mintIDs gives the jobs at the indexes unnamed their ids: the backend's
// (backend.IDMinter), which places them by keys, or random ones.
func (q *Queue) mintIDs(jobs []backend.NewJob, unnamed []int, keys []string) {
	if len(unnamed) == 0 {
		return
	}
	m, ok := q.b.(backend.IDMinter)
	if !ok {
		for _, i := range unnamed {
			jobs[i].ID = newID()
		}
		return
	}
	ids := m.MintIDs(q.name, keys)
	for k, i := range unnamed {
		jobs[i].ID = ids[k]
	}
}

// newID returns a random id: 16 bytes of crypto randomness, hex.
func newID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails on supported platforms.
	return hex.EncodeToString(b[:])
}

// requestID returns a new request id for a mutating call, or none for a
// backend whose calls are never in doubt (backend.Local), which spares it
// remembering the id.
func (q *Queue) requestID() string {
	if _, local := q.b.(backend.Local); local {
		return ""
	}
	return newID()
}

// retry runs call, and again while it fails with ErrUnavailable, up to the
// queue's retries, waiting a backoff between tries; no repeat starts later
// than retryBudget after the first failure, and none after ctx ends. call
// must be safe to repeat: its params are the same every time, request id
// included.
func retry[T any](ctx context.Context, q *Queue, call func() (T, error)) (T, error) {
	return retryTimes(ctx, q.cfg.retries, call)
}

// retryTimes is retry with retries repeats at most, for a call made
// without a Queue.
func retryTimes[T any](ctx context.Context, retries int, call func() (T, error)) (T, error) {
	v, err := call()
	failed := time.Now()
	var pause backoffTimer
	for range retries {
		// The budget is checked after the pause, which may use it up.
		if !errors.Is(err, ErrUnavailable) || !pause.wait(ctx) || time.Since(failed) > retryBudget {
			break
		}
		v, err = call()
	}
	return v, err
}

// retryErr is retry for a call that returns only an error.
func retryErr(ctx context.Context, q *Queue, call func() error) error {
	_, err := retry(ctx, q, func() (struct{}, error) { return struct{}{}, call() })
	return err
}

// Claim takes up to limit jobs, the highest priority level first and
// oldest first within a level, leasing each for the queue's lease. A job
// that expired before a claim met it is dead-lettered, not returned. When none is ready it waits up to wait for one; it returns no jobs
// and a nil error when the wait runs out, and ctx.Err() at once when ctx is
// cancelled (no job is lost). Each job must then be completed, failed,
// released or extended before its lease runs out.
func (q *Queue) Claim(ctx context.Context, limit int, wait time.Duration) ([]*Job, error) {
	if limit < 1 || limit > defaultMaxClaim {
		return nil, fmt.Errorf("%w: claim limit %d, want 1 to %d", ErrInvalidArgument, limit, defaultMaxClaim)
	}
	if wait < 0 {
		return nil, fmt.Errorf("%w: negative wait %v", ErrInvalidArgument, wait)
	}
	p := backend.ClaimParams{Queue: q.name, Max: limit, Lease: q.cfg.lease, DeadRetention: q.cfg.dead, RequestID: q.requestID()}
	deadline := time.Now().Add(wait)
	claimed, err := retry(ctx, q, func() ([]backend.ClaimedJob, error) {
		// A repeat waits only for what is left of the wait.
		p.Wait = max(time.Until(deadline), 0)
		return q.b.Claim(ctx, p)
	})
	if err != nil {
		return nil, err
	}
	q.count.claimed.Add(int64(len(claimed)))
	jobs := make([]*Job, len(claimed))
	for i, c := range claimed {
		jobs[i] = &Job{
			ID:          c.ID,
			Kind:        c.Kind,
			Payload:     json.RawMessage(c.Payload),
			Headers:     c.Headers,
			Priority:    c.Priority,
			Timeout:     c.Timeout,
			Attempts:    c.Attempts,
			MaxAttempts: c.MaxAttempts,
			EnqueuedAt:  c.EnqueuedAt,
			LeaseUntil:  c.LeaseUntil,
			q:           q,
			token:       c.Token,
		}
	}
	return jobs, nil
}

// Reclaim returns every job whose lease has expired to pending, or
// dead-letters it when it has used all its attempts, in bounded batches so
// the store is never held for long. Any number of processes may reclaim
// the same queue at once. It returns what it did, also when ctx ends it
// part way.
func (q *Queue) Reclaim(ctx context.Context) (ReclaimResult, error) {
	var all ReclaimResult
	for range maxReclaimBatchesPerRun {
		p := backend.ReclaimParams{Queue: q.name, Max: q.cfg.reclaimBatch, DeadRetention: q.cfg.dead, RequestID: q.requestID()}
		r, err := retry(ctx, q, func() (backend.ReclaimResult, error) { return q.b.Reclaim(ctx, p) })
		all.Requeued = append(all.Requeued, r.Requeued...)
		all.Dead = append(all.Dead, r.Dead...)
		q.count.reclaimed.Add(int64(r.Len()))
		if err != nil {
			return all, err
		}
		if r.Len() < q.cfg.reclaimBatch {
			break
		}
	}
	return all, nil
}

// Get returns one job's record; ErrNotFound when the id is unknown or the
// job has expired.
func (q *Queue) Get(ctx context.Context, id string) (JobInfo, error) {
	return retry(ctx, q, func() (JobInfo, error) { return q.b.Get(ctx, q.name, id) })
}

// List returns the ids of jobs in one state, skipping offset and returning
// at most limit; see backend.Backend.List for the order.
func (q *Queue) List(ctx context.Context, state State, offset, limit int) ([]string, error) {
	p := backend.ListParams{Queue: q.name, State: state, Offset: offset, Limit: limit}
	return retry(ctx, q, func() ([]string, error) { return q.b.List(ctx, p) })
}

// CheckConfig asks the backend which settings of its store put jobs at
// risk (on Redis, a maxmemory-policy that may evict queue keys) and returns
// one human-readable warning for each. A backend that cannot check
// (backend.ConfigChecker; the memory backend) gives an error wrapping
// errors.ErrUnsupported. A Worker calls it as it starts and logs the
// warnings; call it yourself to stop a deployment on them.
func (q *Queue) CheckConfig(ctx context.Context) ([]string, error) {
	cc, ok := q.b.(backend.ConfigChecker)
	if !ok {
		return nil, fmt.Errorf("jobqueue: the backend cannot check its settings: %w", errors.ErrUnsupported)
	}
	return retry(ctx, q, func() ([]string, error) { return cc.CheckConfig(ctx) })
}

// Stats returns the queue's depths and global counters, and this process's
// counters.
func (q *Queue) Stats(ctx context.Context) (Stats, error) {
	s, err := retry(ctx, q, func() (backend.Stats, error) { return q.b.Stats(ctx, q.name) })
	return Stats{Stats: s, Process: q.count.snapshot()}, err
}

// Purge deletes every job and counter of this queue, and nothing of any
// other queue.
func (q *Queue) Purge(ctx context.Context) error {
	p := backend.PurgeParams{Queue: q.name, RequestID: q.requestID()}
	return retryErr(ctx, q, func() error { return q.b.Purge(ctx, p) })
}

// RetryDead sends a dead-lettered job back to pending with fresh attempts;
// ErrWrongState when the job is not dead.
func (q *Queue) RetryDead(ctx context.Context, id string) error {
	p := backend.RetryDeadParams{Queue: q.name, ID: id, RequestID: q.requestID()}
	return retryErr(ctx, q, func() error { return q.b.RetryDead(ctx, p) })
}

// Delete removes one job in any state. A worker still running it gets
// ErrNotFound when it acknowledges.
func (q *Queue) Delete(ctx context.Context, id string) error {
	p := backend.DeleteParams{Queue: q.name, ID: id, RequestID: q.requestID()}
	return retryErr(ctx, q, func() error { return q.b.Delete(ctx, p) })
}

// Events delivers the queue's state changes until ctx is done. It needs a
// backend that publishes events (every backend shipped with this module
// does); others return an error wrapping ErrUnsupported.
func (q *Queue) Events(ctx context.Context) (<-chan Event, error) {
	s, ok := q.b.(backend.Subscriber)
	if !ok {
		return nil, fmt.Errorf("jobqueue: %T does not publish events: %w", q.b, errors.ErrUnsupported)
	}
	return retry(ctx, q, func() (<-chan Event, error) { return s.Subscribe(ctx, q.name) })
}

// History returns what happened to the queue in each of its last minutes,
// 1 to 1440 of them: one point per minute, oldest first, the last being
// the current minute on the store's clock, still counting (see
// backend.Historian). The store keeps a day of them. It needs a backend
// that keeps the history (every backend shipped with this module does);
// others return an error wrapping errors.ErrUnsupported.
func (q *Queue) History(ctx context.Context, minutes int) ([]HistoryPoint, error) {
	h, ok := q.b.(backend.Historian)
	if !ok {
		return nil, fmt.Errorf("jobqueue: %T keeps no history: %w", q.b, errors.ErrUnsupported)
	}
	p := backend.HistoryParams{Queue: q.name, Minutes: minutes}
	return retry(ctx, q, func() ([]HistoryPoint, error) { return h.History(ctx, p) })
}
