package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"reflect"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/warnlog"
)

// Handler runs one job. A nil error completes the job with result stored as
// JSON (nil stores none; a result that cannot be stored — not JSON, over
// the payload limit — is dropped, and the completed job's LastError says
// why); an error fails this attempt, and the queue's retry policy decides
// what follows (wrap it with Permanent to skip the retries).
// A panic fails the attempt like an error; its stack goes to the log, not to
// the store.
//
// ctx is cancelled when the job's lease is lost (the job was reclaimed, so
// any outcome would be refused), when the job is cancelled (Queue.Cancel;
// context.Cause(ctx) is then ErrCancelled, within one HeartbeatInterval
// of the cancel, and the outcome is refused) and when a shutdown's grace
// period runs out.
// A handler should return soon after. It ends too at the job's Timeout,
// counted from the start of the attempt (and at its kind's, under a Mux):
// an attempt that then fails, fails with an error that wraps
// context.DeadlineExceeded. A handler that returns Snooze
// puts its job back for later without using up an attempt.
type Handler func(ctx context.Context, job *Job) (result any, err error)

// WorkerOptions configure a Worker. The zero value is usable: every field
// has a default.
type WorkerOptions struct {
	// Concurrency is how many handlers run at once (default 10).
	Concurrency int
	// ClaimBatch is the most jobs one claim call takes (default
	// Concurrency). Claims never take more jobs than there are free
	// handlers.
	ClaimBatch int
	// ClaimWait is how long one claim call blocks on an empty queue
	// (default 5 s). An idle worker costs one claim call per ClaimWait; on
	// Redis, one that found the queue empty and heard of no work since
	// waits again without asking Redis, for up to 10 s.
	ClaimWait time.Duration
	// HeartbeatInterval is how often the leases of all in-flight jobs are
	// renewed, in one batched call per queue (default a third of the
	// shortest lease of the queues served). It must be below half of
	// every lease, so that one late or failed heartbeat does not lose a
	// lease.
	HeartbeatInterval time.Duration
	// ReclaimInterval is how often this worker returns expired leases to
	// pending, on each queue it serves (default the queue's lease); the
	// constant NoReclaim disables it. Many workers reclaiming one queue at
	// once is safe.
	ReclaimInterval time.Duration
	// ShutdownGrace is how long Run waits for running handlers once its
	// context is cancelled (default 10 s). Jobs still running after it are
	// released back to pending at once, not left to wait out their lease.
	ShutdownGrace time.Duration
	// AckBatch is the most acknowledgements sent in one call (default
	// 256). Acks are batched only when they queue up, so a lone job is
	// acknowledged without delay.
	AckBatch int
	// StrictPriority makes a Worker of several queues (Serve) drain them
	// in order of weight, the highest first (queues of equal weight in the
	// order given): a queue is claimed from only while every queue above
	// it is out of claimable jobs. Without it, the weights are shares of
	// the claims.
	//
	// A queue whose claim call has been in flight for more than a quarter
	// of a second (its store partitioned, failing over, timing out) holds
	// back no queue below it until that claim returns, so that one hung
	// store does not stop the whole Worker; its claim keeps the handler
	// slots it was given, so a ClaimBatch below Concurrency leaves slots
	// to the others meanwhile. Weighted sharing treats such a claim the
	// same way.
	StrictPriority bool
	// Logger receives the worker's logs. One line at WARN is logged when
	// the backend becomes unavailable (ErrUnavailable) and one when it is
	// back, for each queue of a Worker of several; one line at ERROR for
	// each kind of permanent error (any other error of a backend call); a
	// WARN when a reclaim dead-letters poison jobs (their lease ran out on
	// their last attempt); and, as Run starts, a WARN for each setting of
	// the store that puts jobs at risk (backend.ConfigChecker: on Redis, a
	// maxmemory-policy other than noeviction).
	//
	// When Logger is nil, the records at WARN and above go to
	// slog.Default(), read at each record, so a default logger set after
	// the Worker was made is used; the INFO and DEBUG records are dropped.
	// To silence the Worker, pass slog.New(slog.DiscardHandler).
	Logger *slog.Logger
	// Observers are told of every attempt's start, lease renewals and
	// outcome (see Observer), in the order given: metrics and tracing
	// plug in here.
	Observers []Observer
}

// NoReclaim is the ReclaimInterval of a Worker that reclaims nothing
// itself, because another process does.
const NoReclaim time.Duration = -1

// WorkerStats are the counters of one Worker, in this process. The queue's
// global counters, shared by every process, are in Queue.Stats.
type WorkerStats struct {
	// Running is how many handlers are running now.
	Running int64
	// Claimed counts jobs this worker claimed.
	Claimed int64
	// Completed counts completions the backend accepted.
	Completed int64
	// Retried counts failed attempts sent back for another try.
	Retried int64
	// Snoozed counts jobs put back by Snooze, without using an attempt.
	Snoozed int64
	// Dead counts jobs this worker dead-lettered.
	Dead int64
	// Panics counts handler panics.
	Panics int64
	// LostClaims counts outcomes refused, or handlers cancelled, because
	// the job's lease had been lost.
	LostClaims int64
	// Released counts jobs handed back at shutdown.
	Released int64
	// Reclaimed counts expired leases this worker's reclaim loop took back.
	Reclaimed int64
	// Errors counts backend calls that failed with a permanent error (one
	// that does not wrap ErrUnavailable), which the worker does not repeat.
	Errors int64
	// DroppedResults counts completions whose result could not be stored.
	DroppedResults int64
	// Cancelled counts attempts that ended because their job was
	// cancelled (Queue.Cancel): their outcome was refused.
	Cancelled int64
}

// Worker runs a handler over the jobs of one or more queues at a set
// concurrency: it claims in batches, renews the leases of its in-flight
// jobs with one heartbeat call per queue and interval, acknowledges in
// batches, reclaims expired leases, rides out backend outages, and shuts
// down without losing a job.
//
// A Worker of several queues (NewWorker with Serve) shares one pool of
// handlers among them. Each queue has one claimer, so a Worker never has
// more than one claim call in flight, nor more than one blocking wait for
// work, on a queue. While several queues have a backlog, their claims are
// shared in proportion to their weights (a queue of weight 3 has three
// jobs claimed for every one of a queue of weight 1), or, with
// StrictPriority, the heaviest queue is drained first; a queue with no
// work leaves its share to the others, and holds a single handler slot
// while it waits for work. Each queue's acknowledgements, heartbeats and
// claims go their own way, so that a queue whose store is away or hangs
// leaves the others running; such a queue stops claiming while its
// acknowledgements do not get through.
type Worker struct {
	queues []served
	h      Handler
	o      WorkerOptions
	log    *slog.Logger
	obs    observers

	stats struct {
		running, claimed, completed, retried, snoozed, dead, panics, lost, released, reclaimed, errors, dropped, cancelled atomic.Int64
	}
	errs    errorLog
	started atomic.Bool

	// flushTimeout bounds how long a shutdown waits for cancelled handlers
	// to return, and then for their outcomes to be recorded; tests shorten
	// it.
	flushTimeout time.Duration
	// beatEvery is how often the Worker beats (see presence.go); tests
	// shorten it.
	beatEvery time.Duration
	// refreshEvery is how often the Worker registers its queues again
	// (see registry.go); tests shorten it.
	refreshEvery time.Duration
}

// flight is one claimed job, from its claim until its outcome is recorded.
type flight struct {
	job    *Job
	cancel context.CancelCauseFunc
	// returned is set when the handler has returned: the lease still needs
	// renewing until the outcome is recorded, but a refused renewal then
	// only means the outcome got there first.
	returned atomic.Bool
	// released is set when shutdown hands the job back: a renewal refused
	// after that is the release, not a lost lease. handedBack is set once
	// the backend accepted the release.
	released, handedBack atomic.Bool
	// cancelSeen is set when a heartbeat first finds the job cancelled;
	// cancelEnded when a release at shutdown made it cancelled instead.
	cancelSeen, cancelEnded atomic.Bool

	// The attempt as the Worker's Observers see it (only when it has
	// some): octx is the context the observers returned, took how long
	// the handler ran. mu orders the events and ended makes AttemptEnded
	// the last of them.
	octx  context.Context
	took  time.Duration
	mu    sync.Mutex
	ended bool
}

// observe tells the Worker's observers of a step of f's attempt, unless
// the attempt has ended. A Worker with no observers does nothing.
func (w *Worker) observe(f *flight, e AttemptEvent) {
	if w.obs == nil || f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ended {
		return
	}
	if e.Kind == AttemptEnded {
		f.ended = true
		if e.Outcome != OutcomeReleased {
			e.Duration = f.took
		}
	}
	w.obs.event(f.octx, f.job, e)
}

// end tells the observers the outcome of f's attempt.
func (w *Worker) end(f *flight, outcome Outcome, err error) {
	w.observe(f, AttemptEvent{Kind: AttemptEnded, Outcome: outcome, Err: err})
}

// lane is one served queue's way through a running Worker: its jobs in
// flight, its outcomes on their way to its own acker, and its own health.
// Each queue's acks, heartbeats, releases and claims go through its lane
// alone, so that a queue whose store is away (one Cluster master down)
// holds back no other queue.
type lane struct {
	served
	running  sync.Map // *flight by *Job; read by the heartbeat
	outcomes chan outcome
	health   health
	// unacked counts the lane's jobs from their claim until their outcome
	// is settled or dropped. The claimer stops claiming at maxUnacked, so
	// that a queue whose acks do not get through stops taking work rather
	// than filling outcomes: a handler's send to it never blocks, and
	// never holds a slot another queue could use.
	unacked    atomic.Int64
	maxUnacked int64
	// settled is signalled when unacked falls.
	settled chan struct{}
}

// newLane returns the lane of sq for one Run.
func (w *Worker) newLane(sq served) *lane {
	// As many as a lane had before it stopped claiming for its acks: its
	// handlers, a full channel of outcomes and a batch on its way.
	most := 2*w.o.Concurrency + w.o.AckBatch
	l := &lane{served: sq, maxUnacked: int64(most), settled: make(chan struct{}, 1)}
	// Room for every unacked job: the claimer checks maxUnacked before
	// each claim of up to ClaimBatch jobs.
	l.outcomes = make(chan outcome, most+w.o.ClaimBatch)
	l.health.log = w.log
	if len(w.queues) > 1 {
		l.health.log = w.log.With("queue", sq.q.name)
	}
	return l
}

// forget ends n of the lane's jobs' time in the Worker.
func (l *lane) forget(n int) {
	l.unacked.Add(-int64(n))
	select {
	case l.settled <- struct{}{}:
	default:
	}
}

// claim is one claimed job on its way to a handler, with its lane.
type claim struct {
	job  *Job
	lane *lane
}

// outcome is one finished handler's result, on its way to its lane's
// acker.
type outcome struct {
	job    *Job
	result []byte
	// note says why a result was dropped, kept as the job's LastError.
	note string
	err  error
}

// defaultFlushTimeout is a Worker's flushTimeout.
const defaultFlushTimeout = 10 * time.Second

var errLeaseLost = fmt.Errorf("%w: lease lost, the job was reclaimed", ErrLostClaim)

// ServedQueue is a queue that a Worker serves, with its weight; see Serve.
type ServedQueue struct {
	q      *Queue
	weight int
}

// Serve names a queue for NewWorker, with its weight, at least 1: the
// share of the claims the queue gets while the Worker's queues all have a
// backlog, or its rank under WorkerOptions.StrictPriority.
func Serve(q *Queue, weight int) ServedQueue { return ServedQueue{q: q, weight: weight} }

// served is one queue of a Worker, with the settings derived from it.
type served struct {
	q       *Queue
	weight  int
	reclaim time.Duration
}

// NewWorker returns a Worker that runs h on q's jobs. It does nothing until
// Run. It is NewWorker(h, o, Serve(q, 1)).
func (q *Queue) NewWorker(h Handler, o WorkerOptions) (*Worker, error) {
	return NewWorker(h, o, Serve(q, 1))
}

// NewWorker returns a Worker that runs h on the jobs of the queues given,
// which share its Concurrency by their weights (see Worker). Each queue
// keeps its own lease, retry policy and retention. The queues must differ
// and number at most Concurrency, since a queue that waits for work holds
// a handler slot. It does nothing until Run.
func NewWorker(h Handler, o WorkerOptions, queues ...ServedQueue) (*Worker, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidArgument)
	}
	if len(queues) == 0 {
		return nil, fmt.Errorf("%w: a Worker with no queue to serve", ErrInvalidArgument)
	}
	if o.Concurrency < 0 || o.ClaimBatch < 0 || o.AckBatch < 0 || o.ClaimWait < 0 || o.HeartbeatInterval < 0 || o.ShutdownGrace < 0 {
		return nil, fmt.Errorf("%w: negative worker option in %+v", ErrInvalidArgument, o)
	}
	if o.ReclaimInterval < 0 && o.ReclaimInterval != NoReclaim {
		return nil, fmt.Errorf("%w: ReclaimInterval %v; use NoReclaim to turn reclaiming off", ErrInvalidArgument, o.ReclaimInterval)
	}
	names := make([]string, len(queues))
	shortest := time.Duration(0)
	for i, sq := range queues {
		if sq.q == nil {
			return nil, fmt.Errorf("%w: nil queue to serve", ErrInvalidArgument)
		}
		if sq.weight < 1 {
			return nil, fmt.Errorf("%w: queue %s has weight %d, want at least 1", ErrInvalidArgument, sq.q.name, sq.weight)
		}
		for _, other := range queues[:i] {
			if other.q == sq.q || other.q.name == sq.q.name && sameBackend(other.q.b, sq.q.b) {
				return nil, fmt.Errorf("%w: queue %s is served twice", ErrInvalidArgument, sq.q.name)
			}
		}
		if o.HeartbeatInterval > 0 && o.HeartbeatInterval >= sq.q.cfg.lease/2 {
			return nil, fmt.Errorf("%w: HeartbeatInterval %v is not below half the lease %v of queue %s: one late heartbeat would lose the lease",
				ErrInvalidArgument, o.HeartbeatInterval, sq.q.cfg.lease, sq.q.name)
		}
		if shortest == 0 || sq.q.cfg.lease < shortest {
			shortest = sq.q.cfg.lease
		}
		names[i] = sq.q.name
	}
	if o.Concurrency == 0 {
		o.Concurrency = max(10, len(queues))
	}
	if o.Concurrency < len(queues) {
		return nil, fmt.Errorf("%w: Concurrency %d below the %d queues served: each queue waiting for work holds a handler slot",
			ErrInvalidArgument, o.Concurrency, len(queues))
	}
	if o.ClaimBatch == 0 || o.ClaimBatch > o.Concurrency {
		o.ClaimBatch = o.Concurrency
	}
	o.ClaimBatch = min(o.ClaimBatch, defaultMaxClaim)
	if o.ClaimWait == 0 {
		o.ClaimWait = 5 * time.Second
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = max(shortest/3, time.Millisecond)
	}
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = 10 * time.Second
	}
	if o.AckBatch == 0 {
		o.AckBatch = 256
	}
	log := o.Logger
	if log == nil {
		log = warnlog.New()
	}
	if len(queues) == 1 {
		log = log.With("queue", names[0])
	} else {
		log = log.With("queues", names)
	}
	for _, ob := range o.Observers {
		if ob == nil {
			return nil, fmt.Errorf("%w: nil Observer", ErrInvalidArgument)
		}
	}
	w := &Worker{h: h, o: o, log: log, flushTimeout: defaultFlushTimeout, beatEvery: beatInterval(o.HeartbeatInterval),
		refreshEvery: refreshEvery}
	if len(o.Observers) > 0 {
		w.obs = observers(slices.Clone(o.Observers))
	}
	for _, sq := range queues {
		reclaim := o.ReclaimInterval
		if reclaim == 0 {
			reclaim = sq.q.cfg.lease
		}
		w.queues = append(w.queues, served{q: sq.q, weight: sq.weight, reclaim: reclaim})
	}
	w.errs.log = log
	return w, nil
}

// sameBackend reports whether a and b are one backend. Two backends whose
// values cannot be compared (a struct holding a map, say) count as
// different: comparing them with == would panic.
func sameBackend(a, b backend.Backend) bool {
	return reflect.TypeOf(a) == reflect.TypeOf(b) &&
		reflect.ValueOf(a).Comparable() && reflect.ValueOf(b).Comparable() && a == b
}

// errRunTwice reports a second Run of one Worker.
var errRunTwice = fmt.Errorf("%w: a Worker runs once; make a new one with Queue.NewWorker", ErrInvalidArgument)

// Work runs h over the queue's jobs until ctx is cancelled, then shuts down
// gracefully; see Worker.
func (q *Queue) Work(ctx context.Context, h Handler, o WorkerOptions) error {
	w, err := q.NewWorker(h, o)
	if err != nil {
		return err
	}
	return w.Run(ctx)
}

// Stats returns this worker's counters.
func (w *Worker) Stats() WorkerStats {
	s := &w.stats
	return WorkerStats{
		Running: s.running.Load(), Claimed: s.claimed.Load(), Completed: s.completed.Load(),
		Retried: s.retried.Load(), Snoozed: s.snoozed.Load(), Dead: s.dead.Load(), Panics: s.panics.Load(),
		LostClaims: s.lost.Load(), Released: s.released.Load(), Reclaimed: s.reclaimed.Load(),
		Errors: s.errors.Load(), DroppedResults: s.dropped.Load(), Cancelled: s.cancelled.Load(),
	}
}

// Run claims and runs jobs until ctx is cancelled. Then it stops claiming at
// once, waits up to ShutdownGrace for running handlers, cancels the ones
// still running and releases their jobs to pending, flushes pending
// acknowledgements, and returns nil.
//
// A backend that is unavailable (ErrUnavailable) never ends Run: it backs
// off and claims again until the backend answers. A claim that fails with
// a permanent error (Redis refusing the scripts to an ACL user, a store
// that is not what the backend expects) does: Run shuts down as above and
// returns that error, since no later claim can succeed. A Worker runs once:
// a second Run returns an error wrapping ErrInvalidArgument.
func (w *Worker) Run(ctx context.Context) error {
	if !w.started.CompareAndSwap(false, true) {
		return errRunTwice
	}
	// The Worker counts among its queues' processes until Run returns.
	stopPresence := w.startPresence(ctx)
	defer stopPresence()
	// The claim and reclaim loops end with ctx, or when claims are refused
	// for good.
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	// Acks, heartbeats and releases must outlive ctx: they are how the
	// shutdown finishes its work.
	life, endLife := context.WithCancel(context.WithoutCancel(ctx))
	defer endLife()
	handlerCtx, cancelHandlers := context.WithCancel(life)
	defer cancelHandlers()

	// Each queue has its own acker, heartbeat and reclaimer.
	lanes := make([]*lane, len(w.queues))
	stopAckers := make(chan struct{})
	var loops, ackers sync.WaitGroup
	for i, sq := range w.queues {
		l := w.newLane(sq)
		lanes[i] = l
		ackers.Add(1)
		go func() { defer ackers.Done(); w.ackLoop(life, l, stopAckers) }()
		loops.Add(1)
		go func() { defer loops.Done(); w.heartbeatLoop(life, l) }()
		if sq.reclaim > 0 {
			loops.Add(1)
			go func() { defer loops.Done(); w.reclaimLoop(ctx, l) }()
		}
		loops.Add(1)
		go func() { defer loops.Done(); w.checkConfig(ctx, sq.q) }()
	}
	ackersDone := make(chan struct{})
	go func() { ackers.Wait(); close(ackersDone) }()

	// Long-lived handler goroutines, one per unit of concurrency: a
	// goroutine per job would pay for its start and stack growth every time.
	weights := make([]int, len(w.queues))
	for i, sq := range w.queues {
		weights[i] = sq.weight
	}
	sched := newScheduler(w.o.Concurrency, w.o.ClaimBatch, w.o.StrictPriority, weights)
	claimed := make(chan claim, w.o.Concurrency)
	var handlers sync.WaitGroup
	for range w.o.Concurrency {
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			for c := range claimed {
				w.run(handlerCtx, life, c.job, c.lane)
				sched.release()
			}
		}()
	}
	// One claimer per queue; the first that fails for good stops them all.
	var (
		claimers sync.WaitGroup
		stopOnce sync.Once
		stopped  error
	)
	for i, l := range lanes {
		claimers.Add(1)
		go func() {
			defer claimers.Done()
			if err := w.claimLoop(ctx, i, l, sched, claimed); err != nil {
				stopOnce.Do(func() { stopped = err; stop() })
			}
		}()
	}
	claimers.Wait()
	stop()
	close(claimed)

	// Shutdown: give running handlers their grace period, then release the
	// jobs of those still running and cancel them.
	done := make(chan struct{})
	go func() { handlers.Wait(); close(done) }()
	grace := time.NewTimer(w.o.ShutdownGrace)
	defer grace.Stop()
	select {
	case <-done:
	case <-grace.C:
		w.releaseRunning(life, lanes)
		cancelHandlers()
	}
	// Cancelled handlers get a bounded time to return, and queued outcomes
	// a bounded time to reach the backend. Past that (a handler that
	// ignores its context, a backend that stays away), Run returns anyway:
	// those jobs come back through the reclaimer, like a crashed worker's.
	bound := time.NewTimer(w.flushTimeout)
	defer bound.Stop()
	select {
	case <-done:
	case <-bound.C:
		w.log.Error("jobqueue: handlers still running after their context was cancelled; abandoning them", "handlers", w.stats.running.Load())
	}
	close(stopAckers)
	flush := time.NewTimer(w.flushTimeout)
	defer flush.Stop()
	select {
	case <-ackersDone:
	case <-flush.C:
		w.log.Error("jobqueue: backend unreachable at shutdown; unacknowledged jobs return after their lease")
	}
	endLife()
	<-ackersDone
	loops.Wait()
	return stopped
}

// claimLoop claims the jobs of the i-th queue while the scheduler gives it
// free slots, until ctx ends or a claim fails permanently (whose error it
// returns), and hands them to the handlers; a slot is freed when a handler
// is done.
func (w *Worker) claimLoop(ctx context.Context, i int, l *lane, sched *scheduler, claimed chan<- claim) error {
	q := l.q
	retry := backoffTimer{}
	for {
		if l.unacked.Load() >= l.maxUnacked {
			// The queue's acks are behind, or not getting through: it
			// takes no more work until they catch up.
			sched.pause(i)
			for l.unacked.Load() >= l.maxUnacked && ctx.Err() == nil {
				select {
				case <-l.settled:
				case <-ctx.Done():
				}
			}
			sched.resume(i)
		}
		n, busy, ok := sched.acquire(ctx, i)
		if !ok {
			return nil
		}
		wait := w.o.ClaimWait
		if busy && len(w.queues) > 1 {
			// A busy queue claims without waiting: should it have run out,
			// its slots go back to the other queues at once.
			wait = 0
		}
		jobs, err := q.Claim(ctx, n, wait)
		sched.claimed(i, n, len(jobs), busy, err != nil)
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case !errors.Is(err, ErrUnavailable):
				w.permanent("claim", err)
				w.log.Error("jobqueue: claims refused for good; the worker stops", "queue", q.name, "err", err)
				return err
			}
			l.health.failed("claim", err)
			if !retry.wait(ctx) {
				return nil
			}
			continue
		}
		l.health.ok()
		retry.reset()
		w.stats.claimed.Add(int64(len(jobs)))
		l.unacked.Add(int64(len(jobs)))
		for _, j := range jobs {
			claimed <- claim{job: j, lane: l} // never blocks: each job holds a slot
		}
	}
}

// run runs one job's handler and hands its outcome to its lane's acker,
// unless the worker's life ends first.
func (w *Worker) run(ctx, life context.Context, j *Job, l *lane) {
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	f := &flight{job: j, cancel: cancel}
	hctx := jctx
	if w.obs != nil {
		hctx = w.obs.started(jctx, j)
		f.octx = hctx
	}
	l.running.Store(j, f)
	w.stats.running.Add(1)
	defer w.stats.running.Add(-1)

	start := time.Now()
	result, err := w.call(hctx, j)
	f.took = time.Since(start)
	f.returned.Store(true)
	if context.Cause(jctx) == errLeaseLost || ctx.Err() != nil {
		// The claim is gone (reclaimed, or released at shutdown): the
		// token check would refuse any outcome.
		l.running.Delete(j)
		l.forget(1)
		switch {
		case context.Cause(jctx) == errLeaseLost:
			w.end(f, OutcomeLost, errLeaseLost)
		case f.handedBack.Load():
			w.end(f, OutcomeReleased, nil)
		case f.cancelEnded.Load():
			w.stats.cancelled.Add(1)
			w.end(f, OutcomeCancelled, ErrCancelled)
		default:
			w.end(f, OutcomeAbandoned, errShutdownDropped)
		}
		return
	}
	o := outcome{job: j, err: err}
	if err == nil && result != nil {
		if o.result, err = j.q.encode(result, "result"); err != nil {
			// The work is done: the job completes, without its result.
			o.note = "jobqueue: result dropped: " + strings.TrimPrefix(err.Error(), "jobqueue: ")
			w.stats.dropped.Add(1)
			w.log.Warn("jobqueue: handler result cannot be stored; completing the job without it", "job", j.ID, "err", err)
		}
	}
	select {
	case l.outcomes <- o: // never blocks while the lane has room; see lane
	case <-life.Done():
		l.running.Delete(j)
		l.forget(1)
		w.end(f, OutcomeAbandoned, errShutdownDropped)
	}
}

// errShutdownDropped is why a Worker's shutdown dropped an attempt's
// outcome: the attempt's job returns through the reclaimer.
var errShutdownDropped = errors.New("jobqueue: the worker shut down before the outcome was recorded")

// call runs the handler, within the job's timeout, turning a panic into an
// error.
func (w *Worker) call(ctx context.Context, j *Job) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			w.stats.panics.Add(1)
			w.log.Error("jobqueue: handler panicked", "job", j.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, err = nil, fmt.Errorf("jobqueue: handler panicked: %v", p)
		}
	}()
	if j.Timeout > 0 {
		at := time.Now().Add(j.Timeout)
		return timed(context.WithValue(ctx, jobDeadlineKey{}, at), at, j.Timeout, j, w.h)
	}
	return w.h(ctx, j)
}

// jobDeadlineKey keys, in an attempt's context, the instant its job's
// Timeout ends it, so that a Mux's route can apply that deadline next to
// the kind's handler.
type jobDeadlineKey struct{}

// timed runs h with a context that ends at deadline, d after its timeout
// started. When a timeout (this one, or one applied further in or out)
// ended the attempt and h fails, the error says so, once, and wraps
// context.DeadlineExceeded; the end of ctx for any other reason (a lost
// lease, a shutdown) is no timeout.
func timed(ctx context.Context, deadline time.Time, d time.Duration, j *Job, h Handler) (any, error) {
	tctx, cancel := context.WithDeadlineCause(ctx, deadline, &timeoutCause{d: d})
	defer cancel()
	result, err := h(tctx, j)
	var cause *timeoutCause
	if err != nil && errors.As(context.Cause(tctx), &cause) && !errors.As(err, new(*timeoutError)) {
		err = &timeoutError{d: cause.d, err: err}
	}
	return result, err
}

// timeoutCause is the cause of an attempt's context that a timeout of d
// ended.
type timeoutCause struct{ d time.Duration }

func (c *timeoutCause) Error() string {
	return fmt.Sprintf("jobqueue: attempt timed out after %v", c.d)
}

// timeoutError is an attempt that its timeout ended.
type timeoutError struct {
	d   time.Duration
	err error
}

func (e *timeoutError) Error() string {
	return fmt.Sprintf("jobqueue: attempt timed out after %v: %s", e.d, strings.TrimPrefix(e.err.Error(), "jobqueue: "))
}

func (e *timeoutError) Unwrap() []error { return []error{context.DeadlineExceeded, e.err} }

// maxAckBytes bounds the results carried by one acknowledgement call, so a
// batch of large results cannot make a call too big to ever get through.
const maxAckBytes = 4 << 20

// ackLoop sends a lane's outcomes to the backend, batching those that
// queue up, until stop is closed; then it sends what is queued and returns.
func (w *Worker) ackLoop(ctx context.Context, l *lane, stop <-chan struct{}) {
	for {
		var o outcome
		select {
		case o = <-l.outcomes:
		case <-stop:
			for {
				select {
				case o := <-l.outcomes:
					w.ack(ctx, l, w.batch(o, l.outcomes))
				default:
					return
				}
			}
		}
		w.ack(ctx, l, w.batch(o, l.outcomes))
	}
}

// batch adds to o the outcomes already queued, up to AckBatch of them and
// maxAckBytes of results.
func (w *Worker) batch(o outcome, outcomes <-chan outcome) []outcome {
	batch := []outcome{o}
	size := len(o.result)
	for len(batch) < w.o.AckBatch && size < maxAckBytes {
		select {
		case o := <-outcomes:
			batch = append(batch, o)
			size += len(o.result)
		default:
			return batch
		}
	}
	return batch
}

// ack records one batch of a lane's outcomes: completions in one call and
// failures in another. A call that fails as a whole is retried until it
// gets through, which is safe because acknowledgements are idempotent.
func (w *Worker) ack(ctx context.Context, l *lane, batch []outcome) {
	q := l.q
	var done []backend.Completion
	var doneJobs, failedJobs []*Job
	var failed []backend.Failure
	var causes []error
	for _, o := range batch {
		if o.err == nil {
			done = append(done, backend.Completion{Ack: o.job.ack(), Result: o.result, Error: o.note})
			doneJobs = append(doneJobs, o.job)
		} else {
			failed = append(failed, q.failure(o.job.ack(), o.job.Attempts, o.job.MaxAttempts, o.err))
			failedJobs = append(failedJobs, o.job)
			causes = append(causes, o.err)
		}
	}
	if len(done) > 0 {
		errs, err := w.untilAccepted(ctx, l, "complete", func() ([]error, error) {
			return q.complete(ctx, done)
		})
		w.settle(l, doneJobs, errs, err, func(int) AttemptEvent {
			w.stats.completed.Add(1)
			return AttemptEvent{Outcome: OutcomeCompleted}
		})
	}
	if len(failed) > 0 {
		errs, err := w.untilAccepted(ctx, l, "fail", func() ([]error, error) {
			return q.fail(ctx, failed)
		})
		w.settle(l, failedJobs, errs, err, func(i int) AttemptEvent {
			e := AttemptEvent{Err: causes[i], Delay: failed[i].Delay}
			switch {
			case failed[i].Dead:
				w.stats.dead.Add(1)
				e.Outcome = OutcomeDead
			case failed[i].Snooze:
				w.stats.snoozed.Add(1)
				e.Outcome = OutcomeSnoozed
			default:
				w.stats.retried.Add(1)
				e.Outcome = OutcomeRetried
			}
			return e
		})
	}
}

// settle forgets acknowledged jobs, counts each item's result, and tells
// the observers each attempt's outcome. errs are the call's per-item
// results, nil when the call as a whole failed with err.
func (w *Worker) settle(l *lane, jobs []*Job, errs []error, err error, accepted func(i int) AttemptEvent) {
	var notDurable []string
	var notDurableErr error
	for i, j := range jobs {
		v, _ := l.running.LoadAndDelete(j)
		f, _ := v.(*flight)
		var e AttemptEvent
		switch {
		case errs == nil:
			// The worker is shutting down and the backend never answered,
			// or the call was refused for good.
			e = AttemptEvent{Outcome: OutcomeAbandoned, Err: err}
		case errs[i] == nil:
			e = accepted(i)
		case errors.Is(errs[i], ErrNotDurable):
			// Recorded, though not confirmed on the replicas
			// (WithAckDurability). A repeat would only wait again, and
			// hold up the lane's other acknowledgements meanwhile.
			notDurable = append(notDurable, j.ID)
			notDurableErr = errs[i]
			e = accepted(i)
		case errors.Is(errs[i], ErrCancelled):
			// Refused: the job was cancelled while it ran, and is now.
			w.stats.cancelled.Add(1)
			e = AttemptEvent{Outcome: OutcomeCancelled, Err: errs[i]}
		case errors.Is(errs[i], ErrLostClaim), errors.Is(errs[i], ErrNotFound):
			w.stats.lost.Add(1)
			w.log.Warn("jobqueue: outcome refused", "job", j.ID, "err", errs[i])
			e = AttemptEvent{Outcome: OutcomeLost, Err: errs[i]}
			if f != nil && f.handedBack.Load() {
				// Refused because the shutdown handed the job back.
				e = AttemptEvent{Outcome: OutcomeReleased}
			}
		default:
			w.permanent("outcome", errs[i])
			e = AttemptEvent{Outcome: OutcomeAbandoned, Err: errs[i]}
		}
		e.Kind = AttemptEnded
		w.observe(f, e)
	}
	if len(notDurable) > 0 {
		w.log.Warn("jobqueue: outcomes recorded but not confirmed durable; a failover may run these jobs again",
			"queue", l.q.name, "jobs", len(notDurable), "ids", notDurable[:min(len(notDurable), 10)], "err", notDurableErr)
	}
	l.forget(len(jobs))
}

// untilAccepted repeats call while it fails as a whole with ErrUnavailable,
// until ctx ends. Any other error is permanent: it is logged and counted,
// and the call given up on; the jobs return through the reclaimer. When
// the call was given up on, the per-item results are nil and the error
// says why.
func (w *Worker) untilAccepted(ctx context.Context, l *lane, what string, call func() ([]error, error)) ([]error, error) {
	retry := backoffTimer{}
	for {
		errs, err := call()
		if err == nil {
			l.health.ok()
			return errs, nil
		}
		if ctx.Err() != nil {
			// Shutting down: the call was cut short, not refused.
			return nil, fmt.Errorf("%w: %w", errShutdownDropped, err)
		}
		if !errors.Is(err, ErrUnavailable) {
			w.permanent(what, err)
			return nil, err
		}
		l.health.failed(what, err)
		if !retry.wait(ctx) {
			return nil, fmt.Errorf("%w: %w", errShutdownDropped, err)
		}
	}
}

// heartbeatLoop renews the leases of a lane's running jobs, in one call
// per interval, and cancels the handlers whose lease was lost. Each lane
// has its own, so a queue whose renewals hang costs no other queue a
// lease.
func (w *Worker) heartbeatLoop(ctx context.Context, l *lane) {
	every(ctx, w.o.HeartbeatInterval, func() {
		var flights []*flight
		l.running.Range(func(_, v any) bool {
			flights = append(flights, v.(*flight))
			return true
		})
		w.heartbeat(ctx, l, flights)
	})
}

// heartbeat renews the leases of one lane's running jobs.
func (w *Worker) heartbeat(ctx context.Context, l *lane, flights []*flight) {
	for len(flights) > 0 {
		chunk := flights[:min(len(flights), 1000)]
		flights = flights[len(chunk):]
		acks := make([]backend.Ack, len(chunk))
		for i, f := range chunk {
			acks[i] = f.job.ack()
		}
		until := time.Now().Add(l.q.cfg.lease)
		errs, err := l.q.extend(ctx, acks)
		if err != nil {
			w.backendFailed(ctx, l, "heartbeat", err)
			return
		}
		l.health.ok()
		for i, e := range errs {
			f := chunk[i]
			switch {
			case e == nil:
				w.observe(f, AttemptEvent{Kind: AttemptLeaseRenewed, LeaseUntil: until})
			case errors.Is(e, ErrLostClaim) || errors.Is(e, ErrNotFound):
				if _, still := l.running.Load(f.job); still && !f.returned.Load() && !f.released.Load() {
					w.stats.lost.Add(1)
					w.log.Warn("jobqueue: lease lost, cancelling handler", "job", f.job.ID)
					w.observe(f, AttemptEvent{Kind: AttemptLeaseLost, Err: e})
					f.cancel(errLeaseLost)
				}
			case errors.Is(e, ErrCancelled):
				// The cancel lives in the job's record, so every heartbeat
				// until the outcome sees it; the handler is told once.
				if _, still := l.running.Load(f.job); still && !f.returned.Load() && !f.released.Load() && f.cancelSeen.CompareAndSwap(false, true) {
					w.log.Info("jobqueue: job cancelled, cancelling its handler", "job", f.job.ID)
					f.cancel(ErrCancelled)
				}
			}
		}
	}
}

// every calls f every interval until ctx ends.
func every(ctx context.Context, interval time.Duration, f func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// reclaimLoop returns a lane's expired leases to pending every
// ReclaimInterval.
func (w *Worker) reclaimLoop(ctx context.Context, l *lane) {
	every(ctx, l.reclaim, func() {
		r, err := l.q.Reclaim(ctx)
		w.stats.reclaimed.Add(int64(r.Len()))
		switch {
		case len(r.Dead) > 0:
			w.log.Warn("jobqueue: reclaimed expired leases; jobs whose last attempt's lease ran out were dead-lettered", "queue", l.q.name, "requeued", len(r.Requeued), "dead", len(r.Dead), "ids", r.Dead[:min(len(r.Dead), 10)])
		case len(r.Requeued) > 0:
			w.log.Info("jobqueue: reclaimed expired leases", "queue", l.q.name, "requeued", len(r.Requeued))
		}
		if err != nil {
			w.backendFailed(ctx, l, "reclaim", err)
		}
	})
}

// backendFailed notes a failed call of a loop that calls again at its next
// tick anyway: an outage for the lane's health log, any other error as
// permanent.
func (w *Worker) backendFailed(ctx context.Context, l *lane, op string, err error) {
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, ErrUnavailable):
		l.health.failed(op, err)
	default:
		w.permanent(op, err)
	}
}

// permanent counts a permanent error of a backend call and logs it, at
// ERROR, the first time its kind (the operation and errorClass) is seen.
func (w *Worker) permanent(op string, err error) {
	w.stats.errors.Add(1)
	w.errs.once(op, err)
}

// errorLog logs each kind of permanent error once. It remembers at most
// maxErrorKinds kinds; past that it says so once and logs no more.
type errorLog struct {
	log  *slog.Logger
	mu   sync.Mutex
	seen map[string]bool
}

const maxErrorKinds = 100

// errorClasses are the errors an error is classed by when it wraps one,
// so that errors that differ only in the job they name are one kind.
var errorClasses = []error{
	ErrNotFound, ErrLostClaim, ErrJobExists, ErrWrongState, ErrInvalidQueueName, ErrInvalidState,
	ErrInvalidArgument, ErrPayloadTooLarge, ErrCorruptJob, ErrFull, ErrCancelled, context.Canceled, context.DeadlineExceeded,
}

// errorClass is the text of the first of errorClasses that err wraps, or
// else err's own text (a Redis reply such as NOPERM or a script error,
// which names no job).
func errorClass(err error) string {
	for _, c := range errorClasses {
		if errors.Is(err, c) {
			return c.Error()
		}
	}
	return err.Error()
}

func (l *errorLog) once(op string, err error) {
	kind := op + "\x00" + errorClass(err)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen[kind] || len(l.seen) > maxErrorKinds {
		return
	}
	if l.seen == nil {
		l.seen = map[string]bool{}
	}
	l.seen[kind] = true
	if len(l.seen) > maxErrorKinds {
		l.log.Error("jobqueue: more kinds of permanent backend errors than are logged; see WorkerStats.Errors")
		return
	}
	l.log.Error("jobqueue: backend call failed; not repeated (logged once per kind, counted in WorkerStats.Errors)", "op", op, "err", err)
}

// configCheckTimeout bounds the start-up check of the backend's settings.
const configCheckTimeout = 10 * time.Second

// checkConfig logs, as a warning each, what a backend that can check its
// store's settings (backend.ConfigChecker) finds risky: a Redis that may
// evict queue keys loses jobs without a trace, and the worker is what an
// operator watches. It runs beside the loops, so a slow or absent backend
// never holds up the work; a check that fails is only noted.
func (w *Worker) checkConfig(ctx context.Context, q *Queue) {
	cctx, cancel := context.WithTimeout(ctx, configCheckTimeout)
	defer cancel()
	warnings, err := q.CheckConfig(cctx)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return
	case err != nil:
		if ctx.Err() == nil {
			w.log.Info("jobqueue: could not check the backend's settings", "err", err)
		}
		return
	}
	for _, msg := range warnings {
		w.log.Warn(msg)
	}
	w.log.Debug("jobqueue: checked the backend's settings", "warnings", len(warnings))
}

// releaseRunning hands every job whose handler is still running back to
// pending, at the end of a shutdown's grace period, each lane at once so
// that a queue whose store is away costs the others no time. Jobs whose
// handler has returned keep their claim: their outcome is on its way.
func (w *Worker) releaseRunning(ctx context.Context, lanes []*lane) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range lanes {
		wg.Add(1)
		go func() { defer wg.Done(); w.release(ctx, l) }()
	}
	wg.Wait()
}

// release hands one lane's running jobs back to pending.
func (w *Worker) release(ctx context.Context, l *lane) {
	var acks []backend.Ack
	var flights []*flight
	l.running.Range(func(_, v any) bool {
		if f := v.(*flight); !f.returned.Load() {
			f.released.Store(true)
			acks = append(acks, f.job.ack())
			flights = append(flights, f)
		}
		return true
	})
	if len(acks) == 0 {
		return
	}
	errs, err := l.q.release(ctx, acks)
	if err != nil {
		w.log.Error("jobqueue: could not release running jobs at shutdown; they return after their lease", "queue", l.q.name, "jobs", len(acks), "err", err)
		return
	}
	for i, e := range errs {
		switch {
		case e == nil:
			w.stats.released.Add(1)
			flights[i].handedBack.Store(true)
		case errors.Is(e, ErrCancelled):
			// The job was cancelled while it ran: the release made it
			// cancelled, and its handler's context says why.
			flights[i].cancelEnded.Store(true)
			flights[i].cancel(ErrCancelled)
		}
	}
	w.log.Info("jobqueue: released running jobs at shutdown", "queue", l.q.name, "jobs", len(acks))
}

// health logs one line when the backend starts failing and one when it
// answers again, however many calls fail in between. Failures within
// outageSettle of a recovery (a connection pool shedding its broken
// connections) belong to the outage just ended and are not logged again.
type health struct {
	log       *slog.Logger
	isDown    atomic.Bool // mirrors down, so ok() costs one load when healthy
	mu        sync.Mutex
	down      bool
	since     time.Time // when the outage began
	recovered time.Time
}

const outageSettle = 5 * time.Second

func (h *health) failed(what string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down || time.Since(h.recovered) < outageSettle {
		return
	}
	h.down = true
	h.since = time.Now()
	h.isDown.Store(true)
	h.log.Warn("jobqueue: backend unavailable, retrying with backoff", "op", what, "err", err)
}

func (h *health) ok() {
	if !h.isDown.Load() {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.down {
		h.down = false
		h.isDown.Store(false)
		h.recovered = time.Now()
		// WARN, like the outage's start, so that a log kept at WARN shows
		// both ends of it.
		h.log.Warn("jobqueue: backend available again", "after", h.recovered.Sub(h.since).Round(time.Millisecond))
	}
}

// backoffTimer paces retries after errors: 50 ms doubling to 2 s, jittered.
type backoffTimer struct{ n int }

func (b *backoffTimer) reset() { b.n = 0 }

// wait sleeps for the next delay; false when ctx ended first.
func (b *backoffTimer) wait(ctx context.Context) bool {
	d := min(50*time.Millisecond<<min(b.n, 6), 2*time.Second)
	b.n++
	d = d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
