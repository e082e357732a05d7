package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue/internal/load"
)

// config is one comparison's settings; see the flags in main.go.
type config struct {
	jobs      int     // jobs of the enqueue and drain workloads
	payload   int     // payload size in bytes
	producers int     // goroutines enqueuing
	handlers  int     // handlers of the workers
	batch     int     // jobs per batch enqueue call
	rate      float64 // jobs/s offered in the steady workload
	steadyFor time.Duration
	idleFor   time.Duration
	// settle is how long workers run on an empty queue before the steady
	// and idle workloads are measured, so that they are idle.
	settle time.Duration
	// stall ends a workload that has handled no new job for this long.
	stall time.Duration
}

// measured is one measured stretch of a workload.
type measured struct {
	jobs    int
	elapsed time.Duration
	cost    cost
}

// perSecond is jobs per second; for the idle workload, whose jobs are
// zero, use cost figures over elapsed instead.
func (m measured) perSecond() float64 {
	if m.elapsed <= 0 {
		return 0
	}
	return float64(m.jobs) / m.elapsed.Seconds()
}

// result is what one run measured of one library.
type result struct {
	single, batch, drain, steady, idle measured
	// batchOK is false when the library has no one-round-trip batch.
	batchOK bool
	// p50 and p99 are the steady workload's enqueue-to-start latencies.
	p50, p99 time.Duration
	// problems lists jobs lost, run twice or unreadable, by workload.
	problems []string
}

// runner runs the workloads of one library on one server.
type runner struct {
	cfg   config
	lib   library
	addr  string
	probe *probe
}

// run runs every workload once. An error ends the run; jobs lost or run
// twice are not errors but problems in the result.
func (r *runner) run(ctx context.Context) (result, error) {
	var res result
	steps := []struct {
		name string
		run  func(context.Context, *result) (*tracker, error)
	}{
		{"single enqueue + drain", r.singleAndDrain},
		{"batch enqueue", r.batchEnqueue},
		{"steady rate", r.steadyRate},
		{"idle", r.idle},
	}
	for _, step := range steps {
		if err := r.probe.flush(ctx); err != nil {
			return res, err
		}
		tr, err := step.run(ctx, &res)
		if err != nil {
			return res, fmt.Errorf("%s: %s: %w", r.lib.name, step.name, err)
		}
		if p := tr.problems(); p != "" {
			res.problems = append(res.problems, step.name+": "+p)
		}
	}
	return res, nil
}

// withSubject opens the library for one workload and closes it after.
func (r *runner) withSubject(ctx context.Context, f func(subject) error) error {
	s, err := r.lib.open(ctx, r.addr)
	if err != nil {
		return err
	}
	err = f(s)
	if cerr := s.Close(); cerr != nil {
		err = errors.Join(err, fmt.Errorf("close: %w", cerr))
	}
	return err
}

// singleAndDrain times cfg.jobs single enqueues from cfg.producers
// goroutines with no worker running, then the drain of those jobs by
// cfg.handlers handlers started after the first reading.
func (r *runner) singleAndDrain(ctx context.Context, res *result) (*tracker, error) {
	tr := newTracker(r.cfg.jobs)
	return tr, r.withSubject(ctx, func(s subject) error {
		m, err := r.measure(ctx, r.cfg.jobs, func() error { return r.produce(ctx, s, tr, 1) })
		if err != nil {
			return err
		}
		res.single = m
		var stop func()
		defer func() {
			if stop != nil {
				stop()
			}
		}()
		res.drain, err = r.measure(ctx, r.cfg.jobs, func() error {
			var err error
			if stop, err = s.StartWorkers(ctx, r.cfg.handlers, tr.handle); err != nil {
				return err
			}
			return tr.wait(ctx, r.cfg.stall)
		})
		return err
	})
}

// batchEnqueue times cfg.jobs enqueued cfg.batch per call, then drains
// them unmeasured to check that each arrived once.
func (r *runner) batchEnqueue(ctx context.Context, res *result) (*tracker, error) {
	tr := newTracker(r.cfg.jobs)
	return tr, r.withSubject(ctx, func(s subject) error {
		m, err := r.measure(ctx, r.cfg.jobs, func() error { return r.produce(ctx, s, tr, r.cfg.batch) })
		if errors.Is(err, errNoBatch) {
			tr.expect(0)
			return nil
		}
		if err != nil {
			return err
		}
		res.batch, res.batchOK = m, true
		stop, err := s.StartWorkers(ctx, r.cfg.handlers, tr.handle)
		if err != nil {
			return err
		}
		defer stop()
		return tr.wait(ctx, r.cfg.stall)
	})
}

// steadyRate starts the workers, lets them go idle, then offers cfg.rate
// jobs per second from one paced producer for cfg.steadyFor, and measures
// until the last job has started.
func (r *runner) steadyRate(ctx context.Context, res *result) (*tracker, error) {
	n := max(int(r.cfg.rate*r.cfg.steadyFor.Seconds()), 1)
	tr := newTracker(n)
	return tr, r.withSubject(ctx, func(s subject) error {
		stop, err := r.startIdle(ctx, s, tr)
		if err != nil {
			return err
		}
		defer stop()
		res.steady, err = r.measure(ctx, n, func() error {
			if err := r.pace(ctx, s, tr, n); err != nil {
				return err
			}
			return tr.wait(ctx, r.cfg.stall)
		})
		res.p50, res.p99 = tr.latency(0.50), tr.latency(0.99)
		return err
	})
}

// idle measures workers on an empty queue for cfg.idleFor, after they had
// cfg.settle to go idle.
func (r *runner) idle(ctx context.Context, res *result) (*tracker, error) {
	tr := newTracker(0)
	return tr, r.withSubject(ctx, func(s subject) error {
		stop, err := r.startIdle(ctx, s, tr)
		if err != nil {
			return err
		}
		defer stop()
		res.idle, err = r.measure(ctx, 0, func() error { return load.Sleep(ctx, r.cfg.idleFor) })
		return err
	})
}

// startIdle starts the workers and lets them run on the empty queue for
// cfg.settle, so that they are idle when a measurement starts.
func (r *runner) startIdle(ctx context.Context, s subject, tr *tracker) (stop func(), err error) {
	stop, err = s.StartWorkers(ctx, r.cfg.handlers, tr.handle)
	if err != nil {
		return nil, err
	}
	if err := load.Sleep(ctx, r.cfg.settle); err != nil {
		stop()
		return nil, err
	}
	return stop, nil
}

// measure runs f between two readings and returns its duration and cost.
func (r *runner) measure(ctx context.Context, jobs int, f func() error) (measured, error) {
	before, err := r.probe.read(ctx)
	if err != nil {
		return measured{}, err
	}
	start := time.Now()
	if err := f(); err != nil {
		return measured{}, err
	}
	elapsed := time.Since(start)
	after, err := r.probe.read(ctx)
	if err != nil {
		return measured{}, err
	}
	return measured{jobs: jobs, elapsed: elapsed, cost: after.since(before)}, nil
}

// produce enqueues the tracker's jobs from cfg.producers goroutines,
// batch jobs per call (1: the single-job call). The goroutines take job
// numbers from one counter, so every job is enqueued once.
func (r *runner) produce(ctx context.Context, s subject, tr *tracker, batch int) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range r.cfg.producers {
		wg.Go(func() {
			payloads := make([][]byte, batch)
			for ctx.Err() == nil {
				from := int(next.Add(int64(batch))) - batch
				if from >= tr.n {
					return
				}
				n := min(batch, tr.n-from)
				t := time.Now().UnixNano()
				for i := range n {
					payloads[i] = encodePayload(t, from+i, r.cfg.payload)
				}
				var err error
				if batch == 1 {
					err = s.EnqueueOne(ctx, payloads[0])
				} else {
					err = s.EnqueueBatch(ctx, payloads[:n])
				}
				if err != nil {
					cancel(err)
					return
				}
			}
		})
	}
	wg.Wait()
	return context.Cause(ctx)
}

// pace enqueues n jobs one at a time at cfg.rate. A producer that falls
// behind enqueues at once rather than skip, so exactly n are offered.
func (r *runner) pace(ctx context.Context, s subject, tr *tracker, n int) error {
	interval := time.Duration(float64(time.Second) / r.cfg.rate)
	start := time.Now()
	for i := range n {
		if err := load.Sleep(ctx, time.Until(start.Add(time.Duration(i)*interval))); err != nil {
			return err
		}
		if err := s.EnqueueOne(ctx, encodePayload(time.Now().UnixNano(), i, r.cfg.payload)); err != nil {
			return err
		}
	}
	return nil
}

// tracker counts the handler calls of one workload by job number, so a
// job lost and one run twice cannot cancel out, and keeps each job's
// enqueue-to-start latency.
type tracker struct {
	n int
	// runs counts the handler calls of each job.
	runs []atomic.Int32
	// distinct counts jobs run at least once.
	distinct atomic.Int64
	// latencies are each job's time from its enqueue call to its first
	// handler start, in nanoseconds.
	latencies []int64
	// unreadable counts handler calls with a payload that is not one of
	// this workload's.
	unreadable atomic.Int64
}

func newTracker(n int) *tracker {
	return &tracker{n: n, runs: make([]atomic.Int32, n), latencies: make([]int64, n)}
}

// expect changes the number of jobs the workload expects, before any ran.
func (t *tracker) expect(n int) {
	t.n, t.runs, t.latencies = n, t.runs[:n], t.latencies[:n]
}

// handle is the handler of every library: it does nothing but record.
func (t *tracker) handle(payload []byte) {
	now := time.Now().UnixNano()
	at, i, ok := decodePayload(payload)
	if !ok || i < 0 || i >= t.n {
		t.unreadable.Add(1)
		return
	}
	if t.runs[i].Add(1) == 1 {
		t.latencies[i] = now - at
		t.distinct.Add(1)
	}
}

// wait returns once every job has run, or with an error when none has run
// for stall.
func (t *tracker) wait(ctx context.Context, stall time.Duration) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	last, since := int64(-1), time.Now()
	for {
		got := t.distinct.Load()
		if got >= int64(t.n) {
			return nil
		}
		if got != last {
			last, since = got, time.Now()
		} else if time.Since(since) > stall {
			return fmt.Errorf("stalled: %d of %d jobs ran, none for %v", got, t.n, stall)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// problems describes jobs lost, run twice or unreadable; "" when each job
// ran once.
func (t *tracker) problems() string {
	var lost, twice int
	for i := range t.runs {
		switch n := t.runs[i].Load(); {
		case n == 0:
			lost++
		case n > 1:
			twice += int(n) - 1
		}
	}
	var s []string
	if lost > 0 {
		s = append(s, fmt.Sprintf("%d of %d jobs never ran", lost, t.n))
	}
	if twice > 0 {
		s = append(s, fmt.Sprintf("%d extra runs", twice))
	}
	if u := t.unreadable.Load(); u > 0 {
		s = append(s, fmt.Sprintf("%d runs of unknown jobs", u))
	}
	return strings.Join(s, ", ")
}

// latency is the q quantile of the jobs' latencies; call it after wait.
func (t *tracker) latency(q float64) time.Duration {
	if t.n == 0 {
		return 0
	}
	l := slices.Clone(t.latencies)
	slices.Sort(l)
	return time.Duration(l[min(int(q*float64(t.n)), t.n-1)])
}

// encodePayload returns a JSON payload of size bytes (or the least that
// holds them) carrying the enqueue time t in Unix nanoseconds and the job
// number i: {"t":…,"i":…,"p":"xxx…"}.
func encodePayload(t int64, i, size int) []byte {
	b := make([]byte, 0, max(size, 48))
	b = append(b, `{"t":`...)
	b = strconv.AppendInt(b, t, 10)
	b = append(b, `,"i":`...)
	b = strconv.AppendInt(b, int64(i), 10)
	b = append(b, `,"p":"`...)
	for len(b) < size-2 {
		b = append(b, 'x')
	}
	return append(b, `"}`...)
}

// decodePayload reads what encodePayload wrote, without a JSON decoder, so
// the handler costs the measurement little.
func decodePayload(p []byte) (t int64, i int, ok bool) {
	t, p, ok = field(p, `{"t":`)
	if !ok {
		return 0, 0, false
	}
	n, _, ok := field(p, `,"i":`)
	return t, int(n), ok
}

// field reads the integer that follows prefix at the start of p and
// returns the rest of p after it.
func field(p []byte, prefix string) (int64, []byte, bool) {
	if len(p) < len(prefix) || string(p[:len(prefix)]) != prefix {
		return 0, nil, false
	}
	p = p[len(prefix):]
	end := 0
	for end < len(p) && p[end] >= '0' && p[end] <= '9' {
		end++
	}
	n, err := strconv.ParseInt(string(p[:end]), 10, 64)
	return n, p[end:], err == nil
}
