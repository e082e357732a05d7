package reliability

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

// adapters are the Redis adapters every scenario runs on.
var adapters = []string{"goredis", "rueidis"}

// openAdapter connects the named adapter, with its client's default
// options, to the server at url; close closes the backend, then the client.
func openAdapter(name, url string) (b backend.Backend, close func(), err error) {
	switch name {
	case "goredis":
		opt, err := redis.ParseURL(url)
		if err != nil {
			return nil, nil, err
		}
		c := redis.NewClient(opt)
		gb := goredis.New(c)
		return gb, func() { gb.Close(); _ = c.Close() }, nil
	case "rueidis":
		opt, err := rueidislib.ParseURL(url)
		if err != nil {
			return nil, nil, err
		}
		c, err := rueidislib.NewClient(opt)
		if err != nil {
			return nil, nil, err
		}
		rb := rueidis.New(c)
		return rb, func() { rb.Close(); c.Close() }, nil
	}
	return nil, nil, fmt.Errorf("unknown adapter %q", name)
}

// fleet is a set of worker processes running one childConfig, and the
// test's own connection to their queue.
type fleet struct {
	t   *testing.T
	cfg childConfig
	dir string
	// q is the test's own view of the queue, connected straight to the
	// server (never through a scenario's proxy).
	q *jobqueue.Queue

	mu   sync.Mutex
	kids []*kid
}

// kid is one worker process.
type kid struct {
	n       int
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	records string
	done    chan struct{}
}

func (k *kid) exited() bool {
	select {
	case <-k.done:
		return true
	default:
		return false
	}
}

// signal sends sig to the process unless it has exited.
func (k *kid) signal(sig syscall.Signal) {
	if !k.exited() {
		_ = k.cmd.Process.Signal(sig)
	}
}

// newFleet prepares worker processes for cfg; serverURL is the server the
// test itself talks to, which may differ from cfg.URL when the workers go
// through a proxy. cfg's zero fields get the scenario defaults.
func newFleet(t *testing.T, serverURL string, cfg childConfig) *fleet {
	t.Helper()
	if cfg.Queue == "" {
		cfg.Queue = "rel"
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = 32
	}
	if cfg.Lease == 0 {
		cfg.Lease = 2 * time.Second
	}
	if cfg.Reclaim == 0 {
		cfg.Reclaim = time.Second
	}
	if cfg.ClaimWait == 0 {
		cfg.ClaimWait = time.Second
	}
	b, closeBackend, err := openAdapter(cfg.Adapter, serverURL)
	if err != nil {
		t.Fatal(err)
	}
	q, err := openQueue(b, cfg)
	if err != nil {
		closeBackend()
		t.Fatal(err)
	}
	f := &fleet{t: t, cfg: cfg, dir: t.TempDir(), q: q}
	t.Cleanup(func() {
		f.mu.Lock()
		kids := f.kids
		f.mu.Unlock()
		for _, k := range kids {
			k.signal(syscall.SIGKILL)
			_ = k.stdin.Close()
			<-k.done
		}
		if t.Failed() {
			f.logTails()
		}
		closeBackend()
	})
	return f
}

// spawn starts n more worker processes.
func (f *fleet) spawn(n int) {
	f.t.Helper()
	for range n {
		f.start(f.cfg)
	}
}

// spawnManual starts one process that claims and completes jobs itself,
// with no heartbeat (childConfig.Manual).
func (f *fleet) spawnManual() *kid {
	f.t.Helper()
	cfg := f.cfg
	cfg.Manual = true
	return f.start(cfg)
}

func (f *fleet) start(cfg childConfig) *kid {
	f.t.Helper()
	f.mu.Lock()
	num := len(f.kids)
	f.mu.Unlock()
	cfg.Records = filepath.Join(f.dir, fmt.Sprintf("kid-%d.records", num))
	cfg.Log = filepath.Join(f.dir, fmt.Sprintf("kid-%d.log", num))
	raw, err := json.Marshal(cfg)
	if err != nil {
		f.t.Fatal(err)
	}
	out, err := os.Create(filepath.Join(f.dir, fmt.Sprintf("kid-%d.out", num)))
	if err != nil {
		f.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+string(raw))
	cmd.Stdout, cmd.Stderr = out, out
	stdin, err := cmd.StdinPipe()
	if err != nil {
		f.t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		f.t.Fatal(err)
	}
	k := &kid{n: num, cmd: cmd, stdin: stdin, records: cfg.Records, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		out.Close()
		close(k.done)
	}()
	f.mu.Lock()
	f.kids = append(f.kids, k)
	f.mu.Unlock()
	return k
}

// alive returns the worker processes that have not exited.
func (f *fleet) alive() []*kid {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ks []*kid
	for _, k := range f.kids {
		if !k.exited() {
			ks = append(ks, k)
		}
	}
	return ks
}

// killRandom SIGKILLs one running worker process and waits until it is gone.
func (f *fleet) killRandom() *kid {
	ks := f.alive()
	if len(ks) == 0 {
		f.t.Fatal("no worker process left to kill")
	}
	return f.kill(ks[rand.N(len(ks))])
}

// kill SIGKILLs the worker process k and waits until it is gone.
func (f *fleet) kill(k *kid) *kid {
	k.signal(syscall.SIGKILL)
	<-k.done
	return k
}

// stop asks every running worker process to shut down (SIGTERM) and waits
// for them; one that does not exit within 30 s is killed and fails the
// test.
func (f *fleet) stop() {
	f.t.Helper()
	ks := f.alive()
	for _, k := range ks {
		k.signal(syscall.SIGTERM)
	}
	for _, k := range ks {
		select {
		case <-k.done:
			if code := k.cmd.ProcessState.ExitCode(); code != 0 {
				f.t.Errorf("worker process %d exited with %d", k.n, code)
			}
		case <-time.After(30 * time.Second):
			k.signal(syscall.SIGKILL)
			f.t.Errorf("worker process %d did not stop within 30 s of SIGTERM", k.n)
		}
	}
}

// logTails shows what each worker process printed and the end of its log.
func (f *fleet) logTails() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range f.kids {
		for _, ext := range []string{".out", ".log"} {
			b, _ := os.ReadFile(strings.TrimSuffix(k.records, ".records") + ext)
			if len(b) > 3000 {
				b = b[len(b)-3000:]
			}
			if len(b) > 0 {
				f.t.Logf("worker process %d%s:\n%s", k.n, ext, b)
			}
		}
	}
}

// enqueue adds n jobs in batches, each with opts (such as a Kind), and
// returns their ids.
func (f *fleet) enqueue(n int, opts ...jobqueue.EnqueueOption) []string {
	f.t.Helper()
	ctx := context.Background()
	ids := make([]string, 0, n)
	for len(ids) < n {
		batch := make([]any, min(1000, n-len(ids)))
		for i := range batch {
			batch[i] = map[string]int{"n": len(ids) + i}
		}
		got, err := f.q.EnqueueBatch(ctx, batch, opts...)
		if err != nil {
			f.t.Fatal(err)
		}
		ids = append(ids, got...)
	}
	return ids
}

// waitDrained waits until nothing is pending, scheduled or processing and
// at least want jobs have finished, failing the test after within. It
// returns how long that took. Errors while the server is away are waited
// out.
func (f *fleet) waitDrained(want int, within time.Duration) time.Duration {
	f.t.Helper()
	start := time.Now()
	for {
		s, err := f.q.Stats(context.Background())
		if err == nil && s.Pending+s.Scheduled+s.Processing == 0 && s.CompletedTotal+s.DeadTotal >= int64(want) {
			return time.Since(start)
		}
		if time.Since(start) > within {
			f.t.Fatalf("queue not drained within %v: %+v (err %v)", within, s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// aftermath is how soon the queue must drain once a fault ends: a lease
// held by a worker that vanished runs out, the reclaimer notices, and the
// job runs elsewhere; and a wake-up lost with a killed connection or
// process (a marker popped and never handed on) delays a job by up to
// redisq.EmptyTrust, the time a process trusts a queue it found empty.
func (f *fleet) aftermath() time.Duration {
	return f.cfg.Lease + f.cfg.Reclaim + redisq.EmptyTrust + 5*time.Second
}

// records is what the worker processes wrote down.
type records struct {
	runs  map[string]int // handler starts per job id
	stats []jobqueue.WorkerStats
	// stopped counts processes that stopped gracefully (wrote their stats).
	stopped int
	leaks   []string
	acks    []ackRecord
}

// ackRecord is one completion a Manual worker process sent.
type ackRecord struct {
	kid  int
	id   string
	said string // "ok", "refused" or an error
	// started is when the job's handler started, sent when its
	// completion was sent.
	started, sent time.Time
}

func (f *fleet) records() records {
	f.t.Helper()
	r := records{runs: make(map[string]int)}
	f.mu.Lock()
	kids := f.kids
	f.mu.Unlock()
	for _, k := range kids {
		file, err := os.Open(k.records)
		if errors.Is(err, os.ErrNotExist) {
			continue // killed before its first job
		}
		if err != nil {
			f.t.Fatal(err)
		}
		sc := bufio.NewScanner(file)
		for sc.Scan() {
			kind, rest, _ := strings.Cut(sc.Text(), " ")
			switch kind {
			case "run":
				id, _, _ := strings.Cut(rest, " ")
				r.runs[id]++
			case "ack":
				var a ackRecord
				var attempt int
				var started, sent int64
				if _, err := fmt.Sscan(rest, &a.id, &attempt, &a.said, &started, &sent); err != nil {
					f.t.Fatalf("%s: %q: %v", k.records, rest, err)
				}
				a.kid, a.started, a.sent = k.n, time.Unix(0, started), time.Unix(0, sent)
				r.acks = append(r.acks, a)
			case "stats":
				var s jobqueue.WorkerStats
				if err := json.Unmarshal([]byte(rest), &s); err != nil {
					f.t.Fatalf("%s: %v", k.records, err)
				}
				r.stats = append(r.stats, s)
				r.stopped++
			case "leaks":
				if rest != "none" {
					r.leaks = append(r.leaks, fmt.Sprintf("worker process %d: %s", k.n, rest))
				}
			}
		}
		file.Close()
		if err := sc.Err(); err != nil {
			f.t.Fatal(err)
		}
	}
	return r
}

// total sums one counter over the processes that stopped gracefully.
func (r records) total(counter func(jobqueue.WorkerStats) int64) int64 {
	var n int64
	for _, s := range r.stats {
		n += counter(s)
	}
	return n
}

// outcome is what check found.
type outcome struct {
	jobs, completed, dead, lost int
	// duplicates counts runs beyond the first of each job.
	duplicates int
	// reclaimed is the queue's count of expired leases taken back;
	// released counts jobs handed back at shutdown.
	reclaimed, released int64
	// refused counts outcomes the backend refused because the worker's
	// lease had been lost (stale tokens), over the processes that stopped
	// gracefully.
	refused int64
	// lostIDs are the jobs that did not finish.
	lostIDs []string
	stats   jobqueue.Stats
}

// checkOptions relax check for scenarios whose fault may lose writes.
type checkOptions struct {
	// mayLose lets jobs vanish (the server lost acknowledged writes); they
	// are counted, not failed on. The global counters are then not
	// compared with the jobs, since they lost writes too.
	mayLose bool
	// mayDie lets jobs be dead-lettered.
	mayDie bool
}

// check verifies the invariants every scenario ends with, once the queue has
// drained and the worker processes have stopped:
//   - every job ends completed (or dead, when allowed), exactly once in the
//     completed history, and the global counters agree;
//   - the completion accepted is that of the job's latest claim, so no
//     completion from a stale token was accepted;
//   - every completed job ran, and runs beyond the first are no more than
//     the reclaims and shutdown releases;
//   - no worker process leaked a goroutine.
func (f *fleet) check(ids []string, opt checkOptions) outcome {
	f.t.Helper()
	t := f.t
	ctx := context.Background()
	rec := f.records()
	o := outcome{jobs: len(ids)}
	for _, l := range rec.leaks {
		t.Errorf("goroutine leak: %s", l)
	}
	infos := make([]jobqueue.JobInfo, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	const getters = 16
	for g := range getters {
		wg.Go(func() {
			for i := g; i < len(ids); i += getters {
				infos[i], errs[i] = f.q.Get(ctx, ids[i])
			}
		})
	}
	wg.Wait()

	history, err := f.q.List(ctx, jobqueue.StateCompleted, 0, len(ids)+1000)
	if err != nil {
		t.Fatal(err)
	}
	inHistory := make(map[string]int, len(history))
	for _, id := range history {
		inHistory[id]++
	}
	complaints := 0
	complain := func(format string, args ...any) {
		complaints++
		if complaints <= 20 {
			t.Errorf(format, args...)
		}
	}
	for i, id := range ids {
		info, err := infos[i], errs[i]
		switch {
		case errors.Is(err, jobqueue.ErrNotFound):
			o.lost++
			o.lostIDs = append(o.lostIDs, id)
			continue
		case err != nil:
			t.Fatalf("get %s: %v", id, err)
		}
		if rec.runs[id] > 1 {
			o.duplicates += rec.runs[id] - 1
		}
		switch info.State {
		case jobqueue.StateCompleted:
			o.completed++
			if inHistory[id] != 1 {
				complain("job %s is %d times in the completed history, want once", id, inHistory[id])
			}
			var r runResult
			if err := json.Unmarshal(info.Result, &r); err != nil {
				complain("job %s: result %q: %v", id, info.Result, err)
			} else if r.Attempt != info.Attempts {
				complain("job %s: the completion accepted came from attempt %d, but attempt %d holds the claim: a stale token was accepted", id, r.Attempt, info.Attempts)
			}
			if rec.runs[id] == 0 {
				complain("job %s completed without a recorded run", id)
			}
		case jobqueue.StateDead:
			o.dead++
			if !opt.mayDie {
				complain("job %s was dead-lettered: %s", id, info.LastError)
			}
		default:
			o.lost++
			o.lostIDs = append(o.lostIDs, id)
			if !opt.mayLose {
				complain("job %s ended %s, want completed", id, info.State)
			}
		}
	}
	if o.lost > 0 && !opt.mayLose {
		t.Errorf("%d of %d jobs lost, e.g. %v", o.lost, len(ids), o.lostIDs[:min(5, len(o.lostIDs))])
	}

	o.stats, err = f.q.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	o.reclaimed = o.stats.ReclaimedTotal
	o.released = rec.total(func(s jobqueue.WorkerStats) int64 { return s.Released })
	o.refused = rec.total(func(s jobqueue.WorkerStats) int64 { return s.LostClaims })
	if !opt.mayLose {
		if got := o.stats.CompletedTotal + o.stats.DeadTotal; got != int64(o.completed+o.dead) {
			t.Errorf("the counters record %d finished jobs (%d completed, %d dead), the records %d: an outcome was accepted twice", got, o.stats.CompletedTotal, o.stats.DeadTotal, o.completed+o.dead)
		}
		if bound := o.reclaimed + o.released; int64(o.duplicates) > bound {
			t.Errorf("%d duplicate runs, more than the %d reclaims and %d shutdown releases", o.duplicates, o.reclaimed, o.released)
		}
	}
	return o
}

// result words an outcome for the reliability table.
func (o outcome) result(extra ...string) string {
	parts := []string{fmt.Sprintf("%d completed", o.completed)}
	if o.dead > 0 {
		parts = append(parts, fmt.Sprintf("%d dead", o.dead))
	}
	parts = append(parts, "reclaims "+strconv.FormatInt(o.reclaimed, 10))
	if o.refused > 0 {
		parts = append(parts, fmt.Sprintf("%d stale outcomes refused", o.refused))
	}
	for _, e := range extra {
		if e != "" {
			parts = append(parts, e)
		}
	}
	return strings.Join(parts, ", ")
}

// producer enqueues jobs one by one at a steady pace, as a web front end
// would, riding out errors: a failed enqueue is repeated with the same id
// until it is stored, and "already exists" means an earlier try was.
type producer struct {
	mu     sync.Mutex
	ids    []string
	acked  []time.Time // when each id was acknowledged
	errs   int
	sample error
	// slowest is the longest an enqueue call took, so an outage the
	// Queue's repeats waited out shows.
	slowest time.Duration
	done    chan struct{}
}

// produce enqueues up to rate jobs per second until ctx ends.
func (f *fleet) produce(ctx context.Context, prefix string, rate int) *producer {
	p := &producer{done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(time.Second / time.Duration(rate))
		defer tick.Stop()
		for seq := 0; ; seq++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			id := fmt.Sprintf("%s-%d", prefix, seq)
			stored := func() {
				p.mu.Lock()
				p.ids = append(p.ids, id)
				p.acked = append(p.acked, time.Now())
				p.mu.Unlock()
			}
			for {
				// A call once sent is let finish, so its outcome is known.
				sent := time.Now()
				_, err := f.q.Enqueue(context.WithoutCancel(ctx), map[string]int{"n": seq}, jobqueue.WithID(id))
				p.mu.Lock()
				p.slowest = max(p.slowest, time.Since(sent))
				p.mu.Unlock()
				if err == nil || errors.Is(err, jobqueue.ErrJobExists) {
					stored()
					break
				}
				if ctx.Err() != nil {
					// The failed call may still have stored the job; the
					// checks must count it if it did.
					if _, err := f.q.Get(context.WithoutCancel(ctx), id); err == nil {
						stored()
					}
					return
				}
				p.mu.Lock()
				p.errs++
				p.sample = err
				p.mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}
	}()
	return p
}

// stop waits for the producer to end (its context must be done) and returns
// the ids it got acknowledged.
func (p *producer) stop() []string {
	<-p.done
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.ids
}

// ackedAt says when id was acknowledged.
func (p *producer) ackedAt(id string) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, x := range p.ids {
		if x == id {
			return p.acked[i]
		}
	}
	return time.Time{}
}

// logged counts the lines of the worker processes' logs that contain s.
func (f *fleet) logged(s string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, k := range f.kids {
		b, _ := os.ReadFile(strings.TrimSuffix(k.records, ".records") + ".log")
		n += strings.Count(string(b), s)
	}
	return n
}

// drainHere drains q with a Worker of the given concurrency in this
// process, until nothing is pending, scheduled or processing and at least
// want jobs have finished, failing the test after within. It returns each
// job's runs and the Worker's counters.
func drainHere(t *testing.T, ctx context.Context, q *jobqueue.Queue, concurrency, want int, within time.Duration) (map[string]int, jobqueue.WorkerStats) {
	t.Helper()
	var mu sync.Mutex
	runs := map[string]int{}
	w, err := q.NewWorker(func(_ context.Context, j *jobqueue.Job) (any, error) {
		mu.Lock()
		runs[j.ID]++
		mu.Unlock()
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: concurrency, ClaimWait: 100 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(wctx) }()
	deadline := time.Now().Add(within)
	for {
		s, err := q.Stats(ctx)
		if err == nil && s.Pending+s.Scheduled+s.Processing == 0 && s.CompletedTotal+s.DeadTotal >= int64(want) {
			break
		}
		if time.Now().After(deadline) {
			stop()
			<-ran
			t.Fatalf("the queue did not drain within %v: %+v, %v", within, s, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
	if err := <-ran; err != nil {
		t.Fatalf("worker: %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	return runs, w.Stats()
}
