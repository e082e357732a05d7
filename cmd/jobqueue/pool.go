package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

// poolConfig are the knobs of the mock worker pool.
type poolConfig struct {
	// Latency is the mean time a job takes; each job takes between half
	// and one and a half of it.
	Latency time.Duration
	// FailRate is the chance that a job fails its attempt.
	FailRate float64
	// HangRate is the chance that a worker hangs on a job: it abandons the
	// job without completing or failing it and stops heartbeating it, so
	// only a reclaim sweep can bring the job back.
	HangRate float64
}

// Limits of the pool's knobs. The dashboard's API refuses values outside;
// the classic endpoints clamp them.
const (
	maxPoolSize = 64
	maxLatency  = 60 * time.Second
)

var defaultPoolConfig = poolConfig{Latency: 400 * time.Millisecond}

// pool is the demo's mock worker pool. Its workers claim one job at a time,
// heartbeat it while they "work", then complete it, fail it, or hang on it.
//
// It is built on Claim and the Job methods rather than on jobqueue.Worker,
// because a hung worker must stop heartbeating its job while the others
// keep theirs alive, and a Worker heartbeats every job it holds.
type pool struct {
	q   *jobqueue.Queue
	log *slog.Logger
	// obs, when set, is told of each attempt as a Worker tells its
	// Observers: its start, lease renewals and loss, and its outcome.
	obs jobqueue.Observer
	// claimWait is how long one claim call waits on an empty queue.
	claimWait time.Duration

	resize sync.Mutex // serializes changes of the worker set
	closed bool       // set by close, under resize: no worker starts after it

	mu      sync.Mutex
	cfg     poolConfig
	workers []*mockWorker
	nextID  int
	hung    map[string]struct{} // ids abandoned by a hung worker

	hangs atomic.Int64
	// processed counts the jobs the workers completed.
	processed atomic.Int64
}

// mockWorker is one worker goroutine of the pool.
type mockWorker struct {
	id     int
	cancel context.CancelFunc
	done   chan struct{}

	mu     sync.Mutex
	state  string // idle, working or hung
	job    string
	served int
}

func newPool(q *jobqueue.Queue, log *slog.Logger) *pool {
	return &pool{q: q, log: log, claimWait: time.Second, cfg: defaultPoolConfig, hung: map[string]struct{}{}}
}

// config returns the pool's knobs.
func (p *pool) config() poolConfig {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cfg
}

// setConfig changes the knobs; running workers use them from their next job.
func (p *pool) setConfig(c poolConfig) {
	p.mu.Lock()
	p.cfg = c
	p.mu.Unlock()
}

// size returns how many workers run.
func (p *pool) size() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.workers)
}

// setSize starts or stops workers until n run. Stopped workers hand their
// job back to pending at once, so a resize loses no job; it returns once
// they have.
func (p *pool) setSize(n int) {
	p.resize.Lock()
	defer p.resize.Unlock()
	if p.closed {
		n = 0
	}
	p.mu.Lock()
	var stopping []*mockWorker
	for len(p.workers) < n {
		p.nextID++
		ctx, cancel := context.WithCancel(context.Background())
		w := &mockWorker{id: p.nextID, cancel: cancel, done: make(chan struct{}), state: "idle"}
		p.workers = append(p.workers, w)
		go p.work(ctx, w)
	}
	if len(p.workers) > n {
		stopping = slices.Clone(p.workers[n:])
		p.workers = p.workers[:n]
	}
	p.mu.Unlock()
	for _, w := range stopping {
		w.cancel()
	}
	for _, w := range stopping {
		<-w.done
	}
}

// stop stops every worker.
func (p *pool) stop() { p.setSize(0) }

// close stops every worker for good: a request still in flight when the
// server shuts down cannot start workers on a backend about to be closed.
func (p *pool) close() {
	p.resize.Lock()
	p.closed = true
	p.resize.Unlock()
	p.stop()
}

// poolState is the pool as the page shows it. The pool runs in this
// process, so its state is known even while the store does not answer:
// the replies carry it apart from the queue's stats, a 503 included.
type poolState struct {
	Running int `json:"running"`
	// Processed counts the jobs the workers completed since the server
	// started or was last reset, Hung the jobs a hung worker abandoned.
	Processed int64        `json:"processed_total"`
	Hung      int64        `json:"hung_total"`
	LatencyMS int64        `json:"work_latency_ms"`
	FailRate  float64      `json:"fail_rate"`
	HangRate  float64      `json:"hang_rate"`
	Workers   []workerInfo `json:"workers"`
}

// state returns the pool's state.
func (p *pool) state() poolState {
	cfg := p.config()
	ws := p.snapshot()
	return poolState{
		Running:   len(ws),
		Processed: p.processed.Load(),
		Hung:      p.hangs.Load(),
		LatencyMS: cfg.Latency.Milliseconds(),
		FailRate:  cfg.FailRate,
		HangRate:  cfg.HangRate,
		Workers:   ws,
	}
}

// workerInfo is one worker as the dashboard shows it.
type workerInfo struct {
	ID     int    `json:"id"`
	State  string `json:"state"`
	Job    string `json:"job,omitempty"`
	Served int    `json:"served"`
}

func (p *pool) snapshot() []workerInfo {
	p.mu.Lock()
	ws := slices.Clone(p.workers)
	p.mu.Unlock()
	out := make([]workerInfo, len(ws))
	for i, w := range ws {
		w.mu.Lock()
		out[i] = workerInfo{ID: w.id, State: w.state, Job: w.job, Served: w.served}
		w.mu.Unlock()
	}
	return out
}

// isHung reports whether a hung worker abandoned the job id and no reclaim
// has taken it back since.
func (p *pool) isHung(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.hung[id]
	return ok
}

// forget drops ids from the set of abandoned jobs, once a reclaim or a
// reset has taken them away.
func (p *pool) forget(ids ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, id := range ids {
		delete(p.hung, id)
	}
}

// resetCounters zeroes the pool's own counters, for a reset of the demo.
func (p *pool) resetCounters() {
	p.hangs.Store(0)
	p.processed.Store(0)
	p.mu.Lock()
	clear(p.hung)
	p.mu.Unlock()
}

func (w *mockWorker) set(state, job string) {
	w.mu.Lock()
	w.state, w.job = state, job
	if state == "idle" && job == "" {
		w.served++
	}
	w.mu.Unlock()
}

func (p *pool) work(ctx context.Context, w *mockWorker) {
	defer close(w.done)
	for ctx.Err() == nil {
		jobs, err := p.q.Claim(ctx, 1, p.claimWait)
		if ctx.Err() != nil {
			// A claim that raced with the stop may still have taken jobs;
			// hand them straight back.
			for _, j := range jobs {
				p.release(j)
			}
			return
		}
		if err != nil {
			p.log.Warn("claim failed", "worker", w.id, "err", err)
			sleep(ctx, 500*time.Millisecond)
			continue
		}
		for _, j := range jobs {
			p.process(ctx, w, j)
		}
	}
}

// attempt is one job's attempt as the pool's observer sees it.
type attempt struct {
	obs jobqueue.Observer
	ctx context.Context
	job *jobqueue.Job
}

// start tells the pool's observer, if any, that j's attempt starts.
func (p *pool) start(ctx context.Context, j *jobqueue.Job) attempt {
	a := attempt{obs: p.obs, ctx: ctx, job: j}
	if a.obs != nil {
		a.ctx = a.obs.AttemptStarted(ctx, j)
	}
	return a
}

func (a attempt) event(e jobqueue.AttemptEvent) {
	if a.obs != nil {
		a.obs.AttemptEvent(a.ctx, a.job, e)
	}
}

// end tells the observer the attempt's outcome; took is how long the
// mock handler ran, zero when it was cut off.
func (a attempt) end(o jobqueue.Outcome, took time.Duration, err error) {
	a.event(jobqueue.AttemptEvent{Kind: jobqueue.AttemptEnded, Outcome: o, Duration: took, Err: err})
}

// errHung is why a hung worker's attempt ended without an outcome.
var errHung = errors.New("jobqueue: the mock worker hung; the job returns when a reclaim finds its lease run out")

// process works on one job until its outcome, a hang or a stop.
func (p *pool) process(ctx context.Context, w *mockWorker, j *jobqueue.Job) {
	p.forget(j.ID) // claimed again, so no longer abandoned
	a := p.start(ctx, j)
	cfg := p.config()
	work := cfg.Latency/2 + rand.N(cfg.Latency+1)
	roll := rand.Float64()
	if roll < cfg.HangRate {
		p.hangs.Add(1)
		p.mu.Lock()
		p.hung[j.ID] = struct{}{}
		p.mu.Unlock()
		w.set("hung", j.ID)
		// The worker is stuck for a while, then "restarts" without the
		// job; nothing is ever said about the job again.
		sleep(ctx, work)
		w.set("idle", "")
		a.end(jobqueue.OutcomeAbandoned, 0, errHung)
		return
	}
	w.set("working", j.ID)
	defer w.set("idle", "")
	started := time.Now()

	heartbeat := time.NewTicker(max(p.q.Lease()/3, time.Millisecond))
	defer heartbeat.Stop()
	done := time.NewTimer(work)
	defer done.Stop()
	for {
		select {
		case <-ctx.Done():
			a.end(p.release(j), 0, nil)
			return
		case <-heartbeat.C:
			err := j.Extend(ctx)
			switch {
			case err == nil:
				a.event(jobqueue.AttemptEvent{Kind: jobqueue.AttemptLeaseRenewed, LeaseUntil: j.LeaseUntil})
			case ctx.Err() != nil:
			case errors.Is(err, jobqueue.ErrLostClaim) || errors.Is(err, jobqueue.ErrNotFound):
				p.log.Info("heartbeat refused; dropping job", "job", j.ID, "err", err)
				a.event(jobqueue.AttemptEvent{Kind: jobqueue.AttemptLeaseLost, Err: err})
				a.end(jobqueue.OutcomeLost, 0, err)
				return
			default:
				// A transient failure: the next tick tries again.
				p.log.Warn("heartbeat failed; retrying", "job", j.ID, "err", err)
			}
		case <-done.C:
			p.finish(ctx, a, roll < cfg.HangRate+cfg.FailRate*(1-cfg.HangRate), started)
			return
		}
	}
}

// finish completes or fails a's job. It is not cut short by a stop: the
// work is done, so its outcome is worth recording.
func (p *pool) finish(ctx context.Context, a attempt, fail bool, started time.Time) {
	j := a.job
	took := time.Since(started)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	var payload demoPayload
	_ = j.Decode(&payload)
	// The job's own kind decides; the payload's copy is for the classic
	// page and for jobs enqueued before kinds.
	payload.Kind = orDefault(j.Kind, payload.Kind)
	if fail {
		cause := fmt.Errorf("simulated %s failure on attempt %d of %d", orDefault(payload.Kind, "job"), j.Attempts, j.MaxAttempts)
		err := j.Fail(ctx, cause)
		if err != nil && !errors.Is(err, jobqueue.ErrNotFound) {
			p.log.Info("fail refused", "job", j.ID, "err", err)
		}
		// The queue's policy: the last attempt's failure dead-letters.
		o := jobqueue.OutcomeRetried
		if j.Attempts >= j.MaxAttempts {
			o = jobqueue.OutcomeDead
		}
		o = recorded(o, err)
		if err == nil {
			err = cause // an accepted failure's event carries its cause
		}
		a.end(o, took, err)
		return
	}
	err := j.Complete(ctx, demoResult(payload, started))
	if err == nil {
		p.processed.Add(1)
	} else if !errors.Is(err, jobqueue.ErrNotFound) {
		p.log.Info("complete refused", "job", j.ID, "err", err)
	}
	a.end(recorded(jobqueue.OutcomeCompleted, err), took, err)
}

// recorded is the outcome of an attempt whose acknowledgement returned err:
// o when it was accepted, lost when the claim was gone, abandoned when the
// backend did not take it (the job comes back through a reclaim).
func recorded(o jobqueue.Outcome, err error) jobqueue.Outcome {
	switch {
	case err == nil:
		return o
	case errors.Is(err, jobqueue.ErrLostClaim), errors.Is(err, jobqueue.ErrNotFound):
		return jobqueue.OutcomeLost
	}
	return jobqueue.OutcomeAbandoned
}

// release hands j back to pending at once, for a worker that stops, and
// returns the attempt's outcome.
func (p *pool) release(j *jobqueue.Job) jobqueue.Outcome {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := j.Release(ctx)
	if err != nil && !errors.Is(err, jobqueue.ErrNotFound) {
		p.log.Warn("release failed; the job will be reclaimed when its lease runs out", "job", j.ID, "err", err)
	}
	return recorded(jobqueue.OutcomeReleased, err)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
