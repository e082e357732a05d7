package jobqueue

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue/backend"
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
// any outcome would be refused) and when a shutdown's grace period runs out.
// A handler should return soon after.
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
	// renewed, in one batched call (default a third of the lease). It must
	// be below half the lease, so that one late or failed heartbeat does
	// not lose a lease.
	HeartbeatInterval time.Duration
	// ReclaimInterval is how often this worker returns expired leases to
	// pending (default the lease); the constant NoReclaim disables it. Many
	// workers reclaiming one queue at once is safe.
	ReclaimInterval time.Duration
	// ShutdownGrace is how long Run waits for running handlers once its
	// context is cancelled (default 10 s). Jobs still running after it are
	// released back to pending at once, not left to wait out their lease.
	ShutdownGrace time.Duration
	// AckBatch is the most acknowledgements sent in one call (default
	// 256). Acks are batched only when they queue up, so a lone job is
	// acknowledged without delay.
	AckBatch int
	// Logger receives the worker's logs (default: none). One line is
	// logged when the backend becomes unavailable (ErrUnavailable) and one
	// when it is back; one line at ERROR for each kind of permanent error
	// (any other error of a backend call); and, as Run starts, a warning
	// for each setting of the store that puts jobs at risk
	// (backend.ConfigChecker: on Redis, a maxmemory-policy other than
	// noeviction).
	Logger *slog.Logger
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
}

// Worker runs a handler over a queue's jobs at a set concurrency: it claims
// in batches, renews the leases of its in-flight jobs with one heartbeat
// call per interval, acknowledges in batches, reclaims expired leases, rides
// out backend outages, and shuts down without losing a job.
type Worker struct {
	q   *Queue
	h   Handler
	o   WorkerOptions
	log *slog.Logger

	running sync.Map // *flight by claim token; read by the heartbeat
	stats   struct {
		running, claimed, completed, retried, dead, panics, lost, released, reclaimed, errors, dropped atomic.Int64
	}
	health  health
	errs    errorLog
	started atomic.Bool

	// flushTimeout bounds how long a shutdown waits for cancelled handlers
	// to return, and then for their outcomes to be recorded; tests shorten
	// it.
	flushTimeout time.Duration
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
	// after that is the release, not a lost lease.
	released atomic.Bool
}

// outcome is one finished handler's result, on its way to the acker.
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

// NewWorker returns a Worker that runs h on q's jobs. It does nothing until
// Run.
func (q *Queue) NewWorker(h Handler, o WorkerOptions) (*Worker, error) {
	if h == nil {
		return nil, fmt.Errorf("%w: nil handler", ErrInvalidArgument)
	}
	if o.Concurrency < 0 || o.ClaimBatch < 0 || o.AckBatch < 0 || o.ClaimWait < 0 || o.HeartbeatInterval < 0 || o.ShutdownGrace < 0 {
		return nil, fmt.Errorf("%w: negative worker option in %+v", ErrInvalidArgument, o)
	}
	if o.ReclaimInterval < 0 && o.ReclaimInterval != NoReclaim {
		return nil, fmt.Errorf("%w: ReclaimInterval %v; use NoReclaim to turn reclaiming off", ErrInvalidArgument, o.ReclaimInterval)
	}
	if o.HeartbeatInterval > 0 && o.HeartbeatInterval >= q.cfg.lease/2 {
		return nil, fmt.Errorf("%w: HeartbeatInterval %v is not below half the lease %v: one late heartbeat would lose the lease",
			ErrInvalidArgument, o.HeartbeatInterval, q.cfg.lease)
	}
	if o.Concurrency == 0 {
		o.Concurrency = 10
	}
	if o.ClaimBatch == 0 || o.ClaimBatch > o.Concurrency {
		o.ClaimBatch = o.Concurrency
	}
	o.ClaimBatch = min(o.ClaimBatch, defaultMaxClaim)
	if o.ClaimWait == 0 {
		o.ClaimWait = 5 * time.Second
	}
	if o.HeartbeatInterval == 0 {
		o.HeartbeatInterval = max(q.cfg.lease/3, time.Millisecond)
	}
	if o.ReclaimInterval == 0 {
		o.ReclaimInterval = q.cfg.lease
	}
	if o.ShutdownGrace == 0 {
		o.ShutdownGrace = 10 * time.Second
	}
	if o.AckBatch == 0 {
		o.AckBatch = 256
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	log = log.With("queue", q.name)
	w := &Worker{q: q, h: h, o: o, log: log, flushTimeout: defaultFlushTimeout}
	w.health.log = log
	w.errs.log = log
	return w, nil
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
		Retried: s.retried.Load(), Dead: s.dead.Load(), Panics: s.panics.Load(),
		LostClaims: s.lost.Load(), Released: s.released.Load(), Reclaimed: s.reclaimed.Load(),
		Errors: s.errors.Load(), DroppedResults: s.dropped.Load(),
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

	outcomes := make(chan outcome, w.o.Concurrency)
	stopAcker := make(chan struct{})
	var loops sync.WaitGroup
	ackerDone := make(chan struct{})
	go func() { defer close(ackerDone); w.ackLoop(life, outcomes, stopAcker) }()
	loops.Add(1)
	go func() { defer loops.Done(); w.heartbeatLoop(life) }()
	if w.o.ReclaimInterval > 0 {
		loops.Add(1)
		go func() { defer loops.Done(); w.reclaimLoop(ctx) }()
	}
	loops.Add(1)
	go func() { defer loops.Done(); w.checkConfig(ctx) }()

	// Long-lived handler goroutines, one per unit of concurrency: a
	// goroutine per job would pay for its start and stack growth every time.
	slots := make(chan struct{}, w.o.Concurrency)
	claimed := make(chan *Job, w.o.Concurrency)
	var handlers sync.WaitGroup
	for range w.o.Concurrency {
		handlers.Add(1)
		go func() {
			defer handlers.Done()
			for j := range claimed {
				w.run(handlerCtx, life, j, outcomes)
				<-slots
			}
		}()
	}
	stopped := w.claimLoop(ctx, slots, claimed)
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
		w.releaseRunning(life)
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
	close(stopAcker)
	flush := time.NewTimer(w.flushTimeout)
	defer flush.Stop()
	select {
	case <-ackerDone:
	case <-flush.C:
		w.log.Error("jobqueue: backend unreachable at shutdown; unacknowledged jobs return after their lease")
	}
	endLife()
	<-ackerDone
	loops.Wait()
	return stopped
}

// claimLoop claims jobs while there are free slots, until ctx ends or a
// claim fails permanently (whose error it returns), and hands them to the
// handlers; a slot is freed when a handler is done.
func (w *Worker) claimLoop(ctx context.Context, slots chan struct{}, claimed chan<- *Job) error {
	retry := backoffTimer{}
	for {
		select {
		case <-ctx.Done():
			return nil
		case slots <- struct{}{}:
		}
		n := 1
	more:
		for n < w.o.ClaimBatch {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break more
			}
		}
		jobs, err := w.q.Claim(ctx, n, w.o.ClaimWait)
		for range n - len(jobs) {
			<-slots
		}
		if err != nil {
			switch {
			case ctx.Err() != nil:
				return nil
			case !errors.Is(err, ErrUnavailable):
				w.permanent("claim", err)
				w.log.Error("jobqueue: claims refused for good; the worker stops", "err", err)
				return err
			}
			w.health.failed("claim", err)
			if !retry.wait(ctx) {
				return nil
			}
			continue
		}
		w.health.ok()
		retry.reset()
		w.stats.claimed.Add(int64(len(jobs)))
		for _, j := range jobs {
			claimed <- j // never blocks: each job holds a slot
		}
	}
}

// run runs one job's handler and hands its outcome to the acker, unless the
// worker's life ends first.
func (w *Worker) run(ctx, life context.Context, j *Job, outcomes chan<- outcome) {
	jctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	f := &flight{job: j, cancel: cancel}
	w.running.Store(j.token, f)
	w.stats.running.Add(1)
	defer w.stats.running.Add(-1)

	result, err := w.call(jctx, j)
	f.returned.Store(true)
	if context.Cause(jctx) == errLeaseLost || ctx.Err() != nil {
		// The claim is gone (reclaimed, or released at shutdown): the
		// token check would refuse any outcome.
		w.running.Delete(j.token)
		return
	}
	o := outcome{job: j, err: err}
	if err == nil && result != nil {
		if o.result, err = w.q.encode(result, "result"); err != nil {
			// The work is done: the job completes, without its result.
			o.note = "jobqueue: result dropped: " + strings.TrimPrefix(err.Error(), "jobqueue: ")
			w.stats.dropped.Add(1)
			w.log.Warn("jobqueue: handler result cannot be stored; completing the job without it", "job", j.ID, "err", err)
		}
	}
	select {
	case outcomes <- o:
	case <-life.Done():
		w.running.Delete(j.token)
	}
}

// call runs the handler, turning a panic into an error.
func (w *Worker) call(ctx context.Context, j *Job) (result any, err error) {
	defer func() {
		if p := recover(); p != nil {
			w.stats.panics.Add(1)
			w.log.Error("jobqueue: handler panicked", "job", j.ID, "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			result, err = nil, fmt.Errorf("jobqueue: handler panicked: %v", p)
		}
	}()
	return w.h(ctx, j)
}

// maxAckBytes bounds the results carried by one acknowledgement call, so a
// batch of large results cannot make a call too big to ever get through.
const maxAckBytes = 4 << 20

// ackLoop sends outcomes to the backend, batching those that queue up,
// until stop is closed; then it sends what is queued and returns.
func (w *Worker) ackLoop(ctx context.Context, outcomes <-chan outcome, stop <-chan struct{}) {
	for {
		var o outcome
		select {
		case o = <-outcomes:
		case <-stop:
			for {
				select {
				case o := <-outcomes:
					w.ack(ctx, w.batch(o, outcomes))
				default:
					return
				}
			}
		}
		w.ack(ctx, w.batch(o, outcomes))
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

// ack records one batch of outcomes: completions in one call, failures in
// another. A call that fails as a whole is retried until it gets through,
// which is safe because acknowledgements are idempotent.
func (w *Worker) ack(ctx context.Context, batch []outcome) {
	var done []backend.Completion
	var doneJobs, failedJobs []*Job
	var failed []backend.Failure
	for _, o := range batch {
		if o.err == nil {
			done = append(done, backend.Completion{Ack: o.job.ack(), Result: o.result, Error: o.note})
			doneJobs = append(doneJobs, o.job)
			continue
		}
		failed = append(failed, w.q.failure(o.job.ack(), o.job.Attempts, o.job.MaxAttempts, o.err))
		failedJobs = append(failedJobs, o.job)
	}
	if len(done) > 0 {
		errs := w.untilAccepted(ctx, "complete", func() ([]error, error) {
			return w.q.complete(ctx, done)
		})
		w.settle(doneJobs, errs, func(int) { w.stats.completed.Add(1) })
	}
	if len(failed) > 0 {
		errs := w.untilAccepted(ctx, "fail", func() ([]error, error) {
			return w.q.fail(ctx, failed)
		})
		w.settle(failedJobs, errs, func(i int) {
			if failed[i].Dead {
				w.stats.dead.Add(1)
			} else {
				w.stats.retried.Add(1)
			}
		})
	}
}

// settle forgets acknowledged jobs and counts each item's result.
func (w *Worker) settle(jobs []*Job, errs []error, accepted func(i int)) {
	for i, j := range jobs {
		w.running.Delete(j.token)
		switch {
		case errs == nil:
			// The worker is shutting down and the backend never answered.
		case errs[i] == nil:
			accepted(i)
		case errors.Is(errs[i], ErrLostClaim), errors.Is(errs[i], ErrNotFound):
			w.stats.lost.Add(1)
			w.log.Warn("jobqueue: outcome refused", "job", j.ID, "err", errs[i])
		default:
			w.permanent("outcome", errs[i])
		}
	}
}

// untilAccepted repeats call while it fails as a whole with ErrUnavailable,
// until ctx ends. Any other error is permanent: it is logged and counted,
// and the call given up on; the jobs return through the reclaimer.
func (w *Worker) untilAccepted(ctx context.Context, what string, call func() ([]error, error)) []error {
	retry := backoffTimer{}
	for {
		errs, err := call()
		if err == nil {
			w.health.ok()
			return errs
		}
		if ctx.Err() != nil {
			// Shutting down: the call was cut short, not refused.
			return nil
		}
		if !errors.Is(err, ErrUnavailable) {
			w.permanent(what, err)
			return nil
		}
		w.health.failed(what, err)
		if !retry.wait(ctx) {
			return nil
		}
	}
}

// heartbeatLoop renews the leases of every running job, in one call per
// interval, and cancels the handlers whose lease was lost.
func (w *Worker) heartbeatLoop(ctx context.Context) {
	every(ctx, w.o.HeartbeatInterval, func() {
		var flights []*flight
		w.running.Range(func(_, v any) bool {
			flights = append(flights, v.(*flight))
			return true
		})
		for len(flights) > 0 {
			chunk := flights[:min(len(flights), 1000)]
			flights = flights[len(chunk):]
			acks := make([]backend.Ack, len(chunk))
			for i, f := range chunk {
				acks[i] = f.job.ack()
			}
			errs, err := w.q.extend(ctx, acks)
			if err != nil {
				w.backendFailed(ctx, "heartbeat", err)
				break
			}
			w.health.ok()
			for i, e := range errs {
				if e != nil && (errors.Is(e, ErrLostClaim) || errors.Is(e, ErrNotFound)) {
					if _, still := w.running.Load(chunk[i].job.token); still && !chunk[i].returned.Load() && !chunk[i].released.Load() {
						w.stats.lost.Add(1)
						w.log.Warn("jobqueue: lease lost, cancelling handler", "job", chunk[i].job.ID)
						chunk[i].cancel(errLeaseLost)
					}
				}
			}
		}
	})
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

// reclaimLoop returns expired leases to pending every ReclaimInterval.
func (w *Worker) reclaimLoop(ctx context.Context) {
	every(ctx, w.o.ReclaimInterval, func() {
		r, err := w.q.Reclaim(ctx)
		w.stats.reclaimed.Add(int64(r.Len()))
		if r.Len() > 0 {
			w.log.Info("jobqueue: reclaimed expired leases", "requeued", len(r.Requeued), "dead", len(r.Dead))
		}
		if err != nil {
			w.backendFailed(ctx, "reclaim", err)
		}
	})
}

// backendFailed notes a failed call of a loop that calls again at its next
// tick anyway: an outage for the health log, any other error as permanent.
func (w *Worker) backendFailed(ctx context.Context, op string, err error) {
	switch {
	case ctx.Err() != nil:
	case errors.Is(err, ErrUnavailable):
		w.health.failed(op, err)
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
	ErrInvalidArgument, ErrPayloadTooLarge, ErrCorruptJob, ErrFull, context.Canceled, context.DeadlineExceeded,
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
func (w *Worker) checkConfig(ctx context.Context) {
	cctx, cancel := context.WithTimeout(ctx, configCheckTimeout)
	defer cancel()
	warnings, err := w.q.CheckConfig(cctx)
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
// pending, at the end of a shutdown's grace period. Jobs whose handler has
// returned keep their claim: their outcome is on its way.
func (w *Worker) releaseRunning(ctx context.Context) {
	var acks []backend.Ack
	w.running.Range(func(_, v any) bool {
		if f := v.(*flight); !f.returned.Load() {
			f.released.Store(true)
			acks = append(acks, f.job.ack())
		}
		return true
	})
	if len(acks) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	errs, err := w.q.release(ctx, acks)
	if err != nil {
		w.log.Error("jobqueue: could not release running jobs at shutdown; they return after their lease", "jobs", len(acks), "err", err)
		return
	}
	for _, e := range errs {
		if e == nil {
			w.stats.released.Add(1)
		}
	}
	w.log.Info("jobqueue: released running jobs at shutdown", "jobs", len(acks))
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
		h.log.Info("jobqueue: backend available again")
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
