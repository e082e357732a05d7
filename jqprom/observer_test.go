package jqprom_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/jqprom"
	"github.com/jobqueue-go/jobqueue/memory"
)

// attemptsText is the expected exposition of jobqueue_attempts_total for
// queue: every outcome of every kind listed, zero but for those in n
// (by kind, then outcome).
func attemptsText(queue string, n map[string]map[jobqueue.Outcome]int) string {
	var sb strings.Builder
	sb.WriteString("# HELP jobqueue_attempts_total Attempts this process ended, by outcome: completed, retried, snoozed, dead, lost, released, abandoned.\n")
	sb.WriteString("# TYPE jobqueue_attempts_total counter\n")
	for kind, byOutcome := range n {
		for _, o := range []jobqueue.Outcome{"completed", "retried", "snoozed", "dead", "lost", "released", "abandoned", "cancelled"} {
			fmt.Fprintf(&sb, "jobqueue_attempts_total{kind=%q,outcome=%q,queue=%q} %d\n", kind, o, queue, byOutcome[o])
		}
	}
	return sb.String()
}

// TestObserverWorker runs jobs to each outcome under a Worker and checks
// what the Observer counted.
func TestObserverWorker(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t, memory.New(), "work", jobqueue.WithLease(2*time.Second),
		jobqueue.WithBackoff(jobqueue.ConstantBackoff(time.Millisecond)))
	obs := jqprom.NewObserver()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(obs)
	scrape := func() []*dto.MetricFamily {
		fams, err := reg.Gather()
		if err != nil {
			t.Error(err)
		}
		return fams
	}
	has := func(name string, labels ...string) bool {
		for _, f := range scrape() {
			if f.GetName() != name {
				continue
			}
			for _, m := range f.GetMetric() {
				ok := true
				for i := 0; i+1 < len(labels); i += 2 {
					ok = ok && label(m, labels[i]) == labels[i+1]
				}
				if ok {
					return true
				}
			}
		}
		return false
	}

	// A lease long enough that only a deletion loses one, whatever the
	// load on the machine.
	slowRunning, slowGo := make(chan struct{}), make(chan struct{})
	var slowOnce sync.Once
	doomed := make(chan string, 1)
	handler := func(ctx context.Context, j *jobqueue.Job) (any, error) {
		switch j.Kind {
		case "email":
			return nil, nil
		case "flaky":
			if j.Attempts == 1 {
				return nil, errors.New("not yet")
			}
			return nil, nil
		case "slow":
			slowOnce.Do(func() { close(slowRunning) })
			<-slowGo
			return nil, nil
		case "doomed":
			select {
			case doomed <- j.ID:
			default:
			}
			<-ctx.Done() // the lease is lost
			return nil, ctx.Err()
		}
		return nil, jobqueue.Permanent(errors.New("no kind"))
	}
	enqueue := func(kind string) string {
		t.Helper()
		opts := []jobqueue.EnqueueOption{jobqueue.MaxAttempts(2)}
		if kind != "" {
			opts = append(opts, jobqueue.Kind(kind))
		}
		id, err := q.Enqueue(ctx, "x", opts...)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	for _, k := range []string{"email", "email", "flaky", "", "slow", "doomed"} {
		enqueue(k)
	}

	w, err := jobqueue.NewWorker(handler, jobqueue.WorkerOptions{Concurrency: 8, Logger: quiet, Observers: []jobqueue.Observer{obs}},
		jobqueue.Serve(q, 1))
	if err != nil {
		t.Fatal(err)
	}
	wctx, stop := context.WithCancel(ctx)
	ran := make(chan error, 1)
	go func() { ran <- w.Run(wctx) }()
	defer func() {
		stop()
		if err := <-ran; err != nil {
			t.Error(err)
		}
	}()

	// A running handler is in flight, and its lease is renewed.
	<-slowRunning
	if v := value(t, scrape(), "jobqueue_in_flight", "kind", "slow"); v != 1 {
		t.Errorf(`jobqueue_in_flight{kind="slow"} %v while its handler runs, want 1`, v)
	}
	waitFor(t, "a lease renewal", func() bool { return value(t, scrape(), "jobqueue_lease_renewals_total", "queue", "work") >= 1 })
	close(slowGo)
	// A job deleted while its handler runs loses its lease at the next
	// heartbeat.
	if err := q.Delete(ctx, <-doomed); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "every attempt to end", func() bool {
		return has("jobqueue_attempts_total", "kind", "doomed", "outcome", "lost") &&
			value(t, scrape(), "jobqueue_attempts_total", "kind", "doomed", "outcome", "lost") == 1 &&
			sum(scrape(), "jobqueue_in_flight") == 0 &&
			value(t, scrape(), "jobqueue_attempts_total", "kind", "email", "outcome", "completed") == 2 &&
			value(t, scrape(), "jobqueue_attempts_total", "kind", "flaky", "outcome", "completed") == 1
	})

	want := attemptsText("work", map[string]map[jobqueue.Outcome]int{
		"email":  {"completed": 2},
		"flaky":  {"retried": 1, "completed": 1},
		"":       {"dead": 1},
		"slow":   {"completed": 1},
		"doomed": {"lost": 1},
	})
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "jobqueue_attempts_total"); err != nil {
		t.Error(err)
	}
	wantLost := `
# HELP jobqueue_leases_lost_total Attempts whose heartbeat found the lease lost (the job was reclaimed or deleted while its handler ran).
# TYPE jobqueue_leases_lost_total counter
jobqueue_leases_lost_total{queue="work"} 1
# HELP jobqueue_in_flight Attempts this process has started and not yet ended.
# TYPE jobqueue_in_flight gauge
jobqueue_in_flight{kind="",queue="work"} 0
jobqueue_in_flight{kind="doomed",queue="work"} 0
jobqueue_in_flight{kind="email",queue="work"} 0
jobqueue_in_flight{kind="flaky",queue="work"} 0
jobqueue_in_flight{kind="slow",queue="work"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(wantLost), "jobqueue_leases_lost_total", "jobqueue_in_flight"); err != nil {
		t.Error(err)
	}
	// Every ended attempt was timed, under its outcome.
	fams := scrape()
	for _, c := range []struct {
		kind, outcome string
		n             float64
	}{{"email", "completed", 2}, {"flaky", "retried", 1}, {"flaky", "completed", 1}, {"", "dead", 1}, {"slow", "completed", 1}, {"doomed", "lost", 1}} {
		if v := value(t, fams, "jobqueue_handler_duration_seconds", "queue", "work", "kind", c.kind, "outcome", c.outcome); v != c.n {
			t.Errorf("jobqueue_handler_duration_seconds{kind=%q,outcome=%q} counted %v attempts, want %v", c.kind, c.outcome, v, c.n)
		}
	}
	if n := testutil.CollectAndCount(obs, "jobqueue_handler_duration_seconds"); n != 6 {
		t.Errorf("%d handler duration series, want 6", n)
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// sum adds up the values of every series of the counter or gauge family
// name.
func sum(fams []*dto.MetricFamily, name string) float64 {
	var n float64
	for _, f := range fams {
		if f.GetName() == name {
			for _, m := range f.GetMetric() {
				n += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return n
}

// TestObserverKindLimit checks that kinds past the limit are counted as
// OtherKind, that a kind keeps the label it was first given, and that
// jobs without a kind do not use up the limit.
func TestObserverKindLimit(t *testing.T) {
	ctx := context.Background()
	q := newQueue(t, memory.New(), "kinds")
	obs := jqprom.NewObserver(jqprom.WithMaxKinds(2))
	run := func(kinds ...string) {
		t.Helper()
		for _, k := range kinds {
			var opts []jobqueue.EnqueueOption
			if k != "" {
				opts = append(opts, jobqueue.Kind(k))
			}
			if _, err := q.Enqueue(ctx, "x", opts...); err != nil {
				t.Fatal(err)
			}
		}
		jobs, err := q.Claim(ctx, len(kinds), 0)
		if err != nil || len(jobs) != len(kinds) {
			t.Fatalf("claimed %d jobs, %v", len(jobs), err)
		}
		for _, j := range jobs {
			actx := obs.AttemptStarted(ctx, j)
			obs.AttemptEvent(actx, j, jobqueue.AttemptEvent{Kind: jobqueue.AttemptEnded, Outcome: jobqueue.OutcomeCompleted, Duration: time.Millisecond})
		}
	}
	run("", "a", "b", "c", "")
	run("a", "d", "b")

	want := attemptsText("kinds", map[string]map[jobqueue.Outcome]int{
		"":               {"completed": 2},
		"a":              {"completed": 2},
		"b":              {"completed": 2},
		jqprom.OtherKind: {"completed": 2},
	})
	if err := testutil.CollectAndCompare(obs, strings.NewReader(want), "jobqueue_attempts_total"); err != nil {
		t.Error(err)
	}
}

// TestObserverConcurrent runs attempts of many kinds from many goroutines,
// as a Worker does: every attempt is counted, none stays in flight, and
// the kinds stay within the limit.
func TestObserverConcurrent(t *testing.T) {
	const goroutines, each, kinds, limit = 8, 500, 40, 10
	obs := jqprom.NewObserver(jqprom.WithMaxKinds(limit))
	ctx := context.Background()
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Go(func() {
			for i := range each {
				j := &jobqueue.Job{ID: fmt.Sprint(g, "-", i), Kind: fmt.Sprint("k", (g*each+i)%kinds)}
				actx := obs.AttemptStarted(ctx, j)
				obs.AttemptEvent(actx, j, jobqueue.AttemptEvent{Kind: jobqueue.AttemptLeaseRenewed})
				obs.AttemptEvent(actx, j, jobqueue.AttemptEvent{Kind: jobqueue.AttemptEnded, Outcome: jobqueue.OutcomeCompleted, Duration: time.Millisecond})
			}
		})
	}
	wg.Wait()
	fams := gather(t, obs)
	attempts, inFlight := sum(fams, "jobqueue_attempts_total"), sum(fams, "jobqueue_in_flight")
	labels := map[string]bool{}
	for _, f := range fams {
		if f.GetName() == "jobqueue_attempts_total" {
			for _, m := range f.GetMetric() {
				labels[label(m, "kind")] = true
			}
		}
	}
	if attempts != goroutines*each || inFlight != 0 {
		t.Errorf("%v attempts, %v in flight; want %d and 0", attempts, inFlight, goroutines*each)
	}
	if len(labels) != limit+1 || !labels[jqprom.OtherKind] {
		t.Errorf("kind labels %v, want %d kinds and %q", labels, limit, jqprom.OtherKind)
	}
	if v := value(t, fams, "jobqueue_lease_renewals_total"); v != goroutines*each {
		t.Errorf("%v lease renewals, want %d", v, goroutines*each)
	}
}
