// Package load is a load generator for jobqueue: it enqueues jobs from many
// producers, drains them with a jobqueue.Worker and reports throughput,
// enqueue-to-start latency, and what each job cost Redis and this process.
//
// It runs in one of two modes. The throughput mode (Config.Rate zero)
// enqueues Config.Jobs jobs with no worker running, then starts the worker
// and times the drain, so each phase is measured on its own. The latency mode
// (Config.Rate positive) starts the worker first and lets it go idle, then
// offers Rate jobs per second from one paced producer for Config.Duration:
// what it measures is how soon an idle pool starts a job that arrives.
//
// Redis figures come from INFO, read through an InfoFunc the caller supplies,
// so this package works with any client and any backend; without one the
// report has throughput, latency and client CPU only.
package load

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

// Defaults of Config.
const (
	DefaultJobs      = 50_000
	DefaultProducers = 16
	DefaultWorkers   = 32
	DefaultPayload   = 100
	DefaultDuration  = 10 * time.Second
)

// minPayload is the smallest payload that holds the enqueue timestamp.
const minPayload = len(`{"t":1234567890123456789,"p":""}`)

// stallTimeout ends a drain that has made no progress for this long: jobs
// that never complete would otherwise hang the run.
const stallTimeout = 30 * time.Second

// Config describes one load run.
type Config struct {
	// Name labels the report, for example the backend's name.
	Name string
	// Queue is the queue to load. It must be empty: Run refuses a queue
	// that holds pending, scheduled or processing jobs. Run leaves the
	// completed jobs behind; the caller purges.
	Queue *jobqueue.Queue
	// Info reads Redis INFO sections; nil when the backend is not Redis.
	// Commands and CPU are read as deltas over the whole server, so other
	// clients of the same server inflate them.
	Info InfoFunc

	// Jobs is how many jobs the throughput mode enqueues and drains
	// (default DefaultJobs).
	Jobs int
	// Producers is how many goroutines enqueue in the throughput mode
	// (default DefaultProducers). The latency mode uses one paced
	// producer.
	Producers int
	// Batch is how many jobs one enqueue call carries: 1 (the default)
	// uses Queue.Enqueue, more uses Queue.EnqueueBatch.
	Batch int
	// Workers is the worker's concurrency (default DefaultWorkers).
	Workers int
	// Worker holds the other worker options; its Concurrency is replaced
	// by Workers.
	Worker jobqueue.WorkerOptions
	// Payload is the size of each job's JSON payload in bytes (default
	// DefaultPayload, at least enough for the timestamp it carries).
	Payload int

	// Rate, when positive, selects the latency mode: jobs offered per
	// second by one paced producer.
	Rate float64
	// Duration is how long the latency mode offers jobs (default
	// DefaultDuration).
	Duration time.Duration
}

// Mode names what a run measured.
type Mode string

// The modes of a run.
const (
	ModeThroughput Mode = "throughput"
	ModeLatency    Mode = "latency"
)

// Report is the outcome of a run.
type Report struct {
	Name string
	Mode Mode
	// Config is the configuration with its defaults filled in.
	Config Config

	// Enqueue is the enqueue phase; in the latency mode, the paced
	// producer's run.
	Enqueue Phase
	// Drain is the drain phase; in the latency mode, from the first
	// enqueue to the last completion.
	Drain Phase
	// Total is the whole life cycle of the jobs, from the first enqueue to
	// the last completion.
	Total Phase
	// Latency is the time from each job's enqueue call to the start of its
	// handler. In the throughput mode it includes the time jobs wait while
	// the enqueue phase runs, so it only means something in the latency
	// mode.
	Latency Latency
}

// Phase is one timed part of a run and what it cost.
type Phase struct {
	Jobs    int
	Elapsed time.Duration
	// Usage is nil when the phase overlaps another (the latency mode
	// measures Total only).
	Usage *Usage
}

// JobsPerSecond is the phase's throughput.
func (p Phase) JobsPerSecond() float64 {
	if p.Elapsed <= 0 {
		return 0
	}
	return float64(p.Jobs) / p.Elapsed.Seconds()
}

// Usage is what a phase cost, as deltas of counters.
type Usage struct {
	// Redis reports whether the Redis fields were measured.
	Redis bool
	// Commands is the sum of calls of every Redis command, those run
	// inside scripts included, less the INFO calls of the measurement.
	Commands int64
	// Scripts counts function and script calls (FCALL, FCALL_RO).
	Scripts int64
	// Reads is the socket reads Redis served, less those that carried the
	// measurement's INFO calls: about one per round trip, whatever the
	// client library (see Counters.Reads).
	Reads int64
	// RedisCPU is the server's user and system CPU time.
	RedisCPU time.Duration
	// ClientCPU is this process's user and system CPU time.
	ClientCPU time.Duration
}

// Latency is a distribution of enqueue-to-start times.
type Latency struct {
	Count              int
	P50, P90, P99, Max time.Duration
}

// Run executes the load described by cfg. Progress goes to progress as one
// line redrawn with carriage returns, or nowhere when progress is nil (see
// Terminal). ctx bounds the whole run; the worker is stopped before Run
// returns.
func Run(ctx context.Context, cfg Config, progress io.Writer) (Report, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return Report{}, err
	}
	st, err := cfg.Queue.Stats(ctx)
	if err != nil {
		return Report{}, err
	}
	if n := st.Pending + st.Scheduled + st.Processing; n > 0 {
		return Report{}, fmt.Errorf("jobqueue: load: queue %q holds %d unfinished jobs; purge it first", cfg.Queue.Name(), n)
	}
	r := &runner{cfg: cfg, progress: progress}
	if cfg.Rate > 0 {
		return r.latency(ctx)
	}
	return r.throughput(ctx)
}

func (c Config) withDefaults() (Config, error) {
	if c.Queue == nil {
		return c, fmt.Errorf("%w: load: nil queue", jobqueue.ErrInvalidArgument)
	}
	if c.Jobs < 0 || c.Producers < 0 || c.Batch < 0 || c.Workers < 0 || c.Payload < 0 || c.Rate < 0 || c.Duration < 0 {
		return c, fmt.Errorf("%w: load: negative setting", jobqueue.ErrInvalidArgument)
	}
	if c.Name == "" {
		c.Name = c.Queue.Name()
	}
	if c.Jobs == 0 {
		c.Jobs = DefaultJobs
	}
	if c.Producers == 0 {
		c.Producers = DefaultProducers
	}
	c.Batch = max(c.Batch, 1)
	if c.Workers == 0 {
		c.Workers = DefaultWorkers
	}
	if c.Payload == 0 {
		c.Payload = DefaultPayload
	}
	c.Payload = max(c.Payload, minPayload)
	if c.Duration == 0 {
		c.Duration = DefaultDuration
	}
	if c.Rate > 0 {
		c.Producers = 1
		c.Jobs = max(int(c.Rate*c.Duration.Seconds()), 1)
	}
	c.Worker.Concurrency = c.Workers
	return c, nil
}

// runner holds one run's state.
type runner struct {
	cfg      Config
	progress io.Writer

	enqueued  atomic.Int64
	latencies []int64 // ns, one per started job
	started   atomic.Int64
}

func (r *runner) throughput(ctx context.Context) (Report, error) {
	rep := r.report()
	s0, err := r.sample(ctx)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	stop := r.showProgress("enqueue", r.enqueued.Load)
	err = r.produce(ctx)
	stop()
	if err != nil {
		return rep, err
	}
	mid := time.Now()
	s1, err := r.sample(ctx)
	if err != nil {
		return rep, err
	}

	w, err := r.cfg.Queue.NewWorker(r.handle, r.cfg.Worker)
	if err != nil {
		return rep, err
	}
	s1b, err := r.sample(ctx)
	if err != nil {
		return rep, err
	}
	drainStart := time.Now()
	stop = r.showProgress("drain", func() int64 { return w.Stats().Completed })
	end, err := r.drain(ctx, w)
	stop()
	if err != nil {
		return rep, err
	}
	s2, err := r.sample(ctx)
	if err != nil {
		return rep, err
	}
	n := r.cfg.Jobs
	rep.Enqueue = Phase{Jobs: n, Elapsed: mid.Sub(start), Usage: s1.minus(s0)}
	rep.Drain = Phase{Jobs: n, Elapsed: end.Sub(drainStart), Usage: s2.minus(s1b)}
	total := rep.Enqueue.Usage.plus(rep.Drain.Usage)
	rep.Total = Phase{Jobs: n, Elapsed: rep.Enqueue.Elapsed + rep.Drain.Elapsed, Usage: total}
	rep.Latency = r.distribution()
	return rep, nil
}

func (r *runner) latency(ctx context.Context) (Report, error) {
	rep := r.report()
	w, err := r.cfg.Queue.NewWorker(r.handle, r.cfg.Worker)
	if err != nil {
		return rep, err
	}
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	defer func() { stopWorker(); <-done }()
	// Let every claim find the queue empty and block, so the run measures
	// idle workers being woken rather than busy ones polling.
	if err := Sleep(ctx, 300*time.Millisecond); err != nil {
		return rep, err
	}

	s0, err := r.sample(ctx)
	if err != nil {
		return rep, err
	}
	start := time.Now()
	stop := r.showProgress("offer", func() int64 { return w.Stats().Completed })
	err = r.pace(ctx)
	produced := time.Now()
	if err == nil {
		err = r.waitCompleted(ctx, w)
	}
	end := time.Now()
	stop()
	if err != nil {
		return rep, err
	}
	s1, err := r.sample(ctx)
	if err != nil {
		return rep, err
	}
	n := r.cfg.Jobs
	rep.Enqueue = Phase{Jobs: n, Elapsed: produced.Sub(start)}
	rep.Drain = Phase{Jobs: n, Elapsed: end.Sub(start)}
	rep.Total = Phase{Jobs: n, Elapsed: end.Sub(start), Usage: s1.minus(s0)}
	rep.Latency = r.distribution()
	return rep, nil
}

func (r *runner) report() Report {
	r.latencies = make([]int64, r.cfg.Jobs)
	mode := ModeThroughput
	if r.cfg.Rate > 0 {
		mode = ModeLatency
	}
	return Report{Name: r.cfg.Name, Mode: mode, Config: r.cfg}
}

// handle is the no-op handler: it records when the job started.
func (r *runner) handle(_ context.Context, j *jobqueue.Job) (any, error) {
	now := time.Now().UnixNano()
	if t, ok := stamp(j.Payload); ok {
		if i := r.started.Add(1) - 1; int(i) < len(r.latencies) {
			r.latencies[i] = now - t
		}
	}
	return nil, nil
}

// produce enqueues cfg.Jobs from cfg.Producers goroutines, which take
// batches from one shared counter so the total is exact.
func (r *runner) produce(ctx context.Context) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range r.cfg.Producers {
		wg.Go(func() {
			batch := make([]any, 0, r.cfg.Batch)
			for ctx.Err() == nil {
				from := int(next.Add(int64(r.cfg.Batch))) - r.cfg.Batch
				if from >= r.cfg.Jobs {
					return
				}
				n := min(r.cfg.Batch, r.cfg.Jobs-from)
				if err := r.enqueue(ctx, batch[:0], n); err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// enqueue sends n jobs in one call, each stamped just before the call.
func (r *runner) enqueue(ctx context.Context, batch []any, n int) error {
	t := time.Now().UnixNano()
	var err error
	if r.cfg.Batch == 1 {
		_, err = r.cfg.Queue.Enqueue(ctx, Payload(t, r.cfg.Payload))
	} else {
		for range n {
			batch = append(batch, Payload(t, r.cfg.Payload))
		}
		_, err = r.cfg.Queue.EnqueueBatch(ctx, batch)
	}
	if err == nil {
		r.enqueued.Add(int64(n))
	}
	return err
}

// pace offers jobs at cfg.Rate. A producer that falls behind sends at once
// instead of skipping, so the offered count is exact.
func (r *runner) pace(ctx context.Context) error {
	interval := time.Duration(float64(time.Second) / r.cfg.Rate)
	start := time.Now()
	batch := make([]any, 0, r.cfg.Batch)
	for i := 0; i < r.cfg.Jobs; i += r.cfg.Batch {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			if err := Sleep(ctx, d); err != nil {
				return err
			}
		}
		if err := r.enqueue(ctx, batch[:0], min(r.cfg.Batch, r.cfg.Jobs-i)); err != nil {
			return err
		}
	}
	return nil
}

// drain runs w until it has completed cfg.Jobs jobs and returns when that
// happened; w is stopped before drain returns.
func (r *runner) drain(ctx context.Context, w *jobqueue.Worker) (time.Time, error) {
	wctx, stopWorker := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = w.Run(wctx) }()
	err := r.waitCompleted(ctx, w)
	end := time.Now()
	stopWorker()
	<-done
	return end, err
}

// waitCompleted polls the worker's counter, which costs a few atomic loads
// per millisecond and no store round trip.
func (r *runner) waitCompleted(ctx context.Context, w *jobqueue.Worker) error {
	t := time.NewTicker(time.Millisecond)
	defer t.Stop()
	last, lastChange := int64(-1), time.Now()
	for {
		s := w.Stats()
		if s.Completed >= int64(r.cfg.Jobs) {
			return nil
		}
		if got := s.Completed + s.Dead + s.Retried; got != last {
			last, lastChange = got, time.Now()
		} else if time.Since(lastChange) > stallTimeout {
			return fmt.Errorf("jobqueue: load: drain stalled at %d of %d jobs completed", s.Completed, r.cfg.Jobs)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

func (r *runner) distribution() Latency {
	n := min(int(r.started.Load()), len(r.latencies))
	l := slices.Clone(r.latencies[:n])
	slices.Sort(l)
	if n == 0 {
		return Latency{}
	}
	at := func(q float64) time.Duration {
		return time.Duration(l[min(int(q*float64(n)), n-1)])
	}
	return Latency{Count: n, P50: at(0.50), P90: at(0.90), P99: at(0.99), Max: time.Duration(l[n-1])}
}

// Payload returns a JSON payload of size bytes that carries the enqueue
// time t (Unix nanoseconds), padded with a filler string.
func Payload(t int64, size int) json.RawMessage {
	b := make([]byte, 0, max(size, minPayload))
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"p":"`...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// stamp reads the time Payload wrote, without a JSON decoder, so the
// handler costs the measurement as little as possible.
func stamp(p []byte) (int64, bool) {
	const prefix = `{"t":`
	if len(p) < len(prefix) || string(p[:len(prefix)]) != prefix {
		return 0, false
	}
	p = p[len(prefix):]
	end := 0
	for end < len(p) && p[end] >= '0' && p[end] <= '9' {
		end++
	}
	t, err := strconv.ParseInt(string(p[:end]), 10, 64)
	return t, err == nil
}

// Sleep waits d, or until ctx ends, which it returns. A d not above zero
// returns at once.
func Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// errNoInfo marks an InfoFunc reply without the expected fields.
var errNoInfo = errors.New("jobqueue: load: INFO reply lacks commandstats, cpu or stats fields")
