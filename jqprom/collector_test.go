package jqprom_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/jqprom"
	"github.com/jobqueue-go/jobqueue/memory"
)

// TestMain stops the shared Redis server the tests start.
func TestMain(m *testing.M) { redistest.Main(m) }

// backends open each shipped backend, the Redis ones on the shared server.
var backends = redisqtest.ShippedBackends(func(t *testing.T) string { return redistest.Shared(t).URL })

var quiet = slog.New(slog.DiscardHandler)

func newQueue(t *testing.T, b backend.Backend, name string, opts ...jobqueue.Option) *jobqueue.Queue {
	t.Helper()
	q, err := jobqueue.New(b, name, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return q
}

// waitFor polls cond until it holds, failing the test after a generous
// while: it waits on a condition, it does not time anything.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCollectorSequence runs a known sequence of jobs on each backend and
// compares the whole scrape with what the sequence leaves.
func TestCollectorSequence(t *testing.T) {
	for _, bc := range backends {
		t.Run(bc.Name, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			b := bc.Open(t)
			name := redisqtest.QueueName(t)
			// A retried job waits an hour, in scheduled; a claim lasts an
			// hour, in processing.
			q := newQueue(t, b, name, jobqueue.WithLease(time.Hour), jobqueue.WithBackoff(jobqueue.ConstantBackoff(time.Hour)))
			// A handle whose claims expire at once, for a reclaim.
			short := newQueue(t, b, name, jobqueue.WithLease(time.Millisecond))

			// Each count differs from the others, so that no two series
			// can be swapped unseen.
			before := time.Now()
			vs := make([]any, 16)
			for i := range vs {
				vs[i] = i
			}
			ids, err := q.EnqueueBatch(ctx, vs)
			if err != nil {
				t.Fatal(err)
			}
			if err := q.Cancel(ctx, ids[15]); err != nil {
				t.Fatal(err)
			}
			jobs, err := q.Claim(ctx, 10, 0)
			if err != nil || len(jobs) != 10 {
				t.Fatalf("claimed %d jobs, %v", len(jobs), err)
			}
			for i, j := range jobs[:9] {
				switch {
				case i < 4:
					err = j.Complete(ctx, nil)
				case i < 6:
					err = j.Fail(ctx, errors.New("try again"))
				default:
					err = j.Fail(ctx, jobqueue.Permanent(errors.New("give up")))
				}
				if err != nil {
					t.Fatal(err)
				}
			}
			if jobs, err := short.Claim(ctx, 1, 0); err != nil || len(jobs) != 1 {
				t.Fatalf("claimed %d jobs, %v", len(jobs), err)
			}
			waitFor(t, "a reclaim of the expired lease", func() bool {
				r, err := q.Reclaim(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return r.Len() == 1
			})

			c := jqprom.NewCollector([]*jobqueue.Queue{q})
			// Pending: the reclaimed job and the four never claimed;
			// scheduled: the retried ones; processing: the tenth.
			want := strings.ReplaceAll(`
# HELP jobqueue_cancelled_total Jobs that became cancelled (Queue.Cancel), by every process.
# TYPE jobqueue_cancelled_total counter
jobqueue_cancelled_total{queue="Q"} 1
# HELP jobqueue_claimed_total Claims of jobs, repeated claims of one job included, by every process.
# TYPE jobqueue_claimed_total counter
jobqueue_claimed_total{queue="Q"} 11
# HELP jobqueue_completed_total Jobs completed, by every process.
# TYPE jobqueue_completed_total counter
jobqueue_completed_total{queue="Q"} 4
# HELP jobqueue_dead_total Jobs dead-lettered (by a failure, a reclaim, an expiry or a corrupt record), by every process.
# TYPE jobqueue_dead_total counter
jobqueue_dead_total{queue="Q"} 3
# HELP jobqueue_enqueued_total Jobs enqueued, by every process.
# TYPE jobqueue_enqueued_total counter
jobqueue_enqueued_total{queue="Q"} 16
# HELP jobqueue_jobs Jobs of the queue in each state. pending, scheduled and processing are exact; completed, dead and cancelled count what the queue's histories keep, which are capped by their retention (WithCompletedRetention, WithDeadRetention, WithCancelledRetention), so use the _total counters for rates.
# TYPE jobqueue_jobs gauge
jobqueue_jobs{queue="Q",state="cancelled"} 1
jobqueue_jobs{queue="Q",state="completed"} 4
jobqueue_jobs{queue="Q",state="dead"} 3
jobqueue_jobs{queue="Q",state="pending"} 5
jobqueue_jobs{queue="Q",state="processing"} 1
jobqueue_jobs{queue="Q",state="scheduled"} 2
# HELP jobqueue_reclaimed_total Expired leases taken back by a reclaim (requeued or dead-lettered), by every process.
# TYPE jobqueue_reclaimed_total counter
jobqueue_reclaimed_total{queue="Q"} 1
# HELP jobqueue_retried_total Failed attempts sent back for another try (reclaims not included), by every process.
# TYPE jobqueue_retried_total counter
jobqueue_retried_total{queue="Q"} 2
# HELP jobqueue_up 1 when the queue's stats were read in this scrape, 0 when the backend failed or ran out of time.
# TYPE jobqueue_up gauge
jobqueue_up{queue="Q"} 1
# HELP jobqueue_workers Processes working the queue (Workers whose last beat has not run out); 0 on a backend that does not track them.
# TYPE jobqueue_workers gauge
jobqueue_workers{queue="Q"} 0
`, `"Q"`, fmt.Sprintf("%q", name))
			exact := []string{
				"jobqueue_jobs", "jobqueue_enqueued_total", "jobqueue_claimed_total", "jobqueue_completed_total",
				"jobqueue_retried_total", "jobqueue_dead_total", "jobqueue_cancelled_total", "jobqueue_reclaimed_total", "jobqueue_workers", "jobqueue_up",
			}
			if err := testutil.CollectAndCompare(c, strings.NewReader(want), exact...); err != nil {
				t.Error(err)
			}

			// The latency grows: the jobs never claimed have waited since
			// their enqueue, at least the millisecond the reclaimed lease
			// took.
			fams := gather(t, c)
			latency := value(t, fams, "jobqueue_queue_latency_seconds", "queue", name)
			elapsed := time.Since(before) + time.Millisecond // the backends count whole milliseconds
			if latency <= 0 || latency > elapsed.Seconds() {
				t.Errorf("jobqueue_queue_latency_seconds %v, want above 0 and at most %v", latency, elapsed.Seconds())
			}
			if d := value(t, fams, "jobqueue_scrape_duration_seconds", "queue", name); d < 0 {
				t.Errorf("jobqueue_scrape_duration_seconds %v", d)
			}
			if n := testutil.CollectAndCount(c); n != 17 {
				t.Errorf("a scrape of one queue has %d series, want 17", n)
			}
		})
	}
}

// stuck is a backend whose Stats waits until its context ends.
type stuck struct{ backend.Backend }

func (stuck) Stats(ctx context.Context, _ string) (backend.Stats, error) {
	<-ctx.Done()
	return backend.Stats{}, ctx.Err()
}

// TestCollectorQueueDown checks that queues whose backend is away (a
// closed port, a stopped server, a backend that does not answer within the
// timeout) report jobqueue_up 0 and nothing else, while a healthy queue
// still reports.
func TestCollectorQueueDown(t *testing.T) {
	ctx := context.Background()
	up := newQueue(t, memory.New(), "up")
	if _, err := up.Enqueue(ctx, "x"); err != nil {
		t.Fatal(err)
	}

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := ln.Addr().String()
	ln.Close()
	srv := redistest.Start(t)
	stopped, _ := redisqtest.GoRedis(t, srv.URL)
	// The stopped server has served the queue before it went away.
	stoppedQ := newQueue(t, stopped, "stopped", jobqueue.WithRetries(0))
	if _, err := stoppedQ.Enqueue(ctx, "x"); err != nil {
		t.Fatal(err)
	}
	srv.Stop(t)

	closed := redis.NewClient(&redis.Options{Addr: closedAddr, MaxRetries: -1})
	t.Cleanup(func() { _ = closed.Close() })
	closedB := goredis.New(closed)
	t.Cleanup(closedB.Close)

	c := jqprom.NewCollector([]*jobqueue.Queue{
		up,
		newQueue(t, closedB, "closed", jobqueue.WithRetries(0)),
		stoppedQ,
		newQueue(t, stuck{memory.New()}, "stuck"),
	}, jqprom.WithTimeout(200*time.Millisecond), jqprom.WithLogger(quiet))

	want := `
# HELP jobqueue_up 1 when the queue's stats were read in this scrape, 0 when the backend failed or ran out of time.
# TYPE jobqueue_up gauge
jobqueue_up{queue="closed"} 0
jobqueue_up{queue="stopped"} 0
jobqueue_up{queue="stuck"} 0
jobqueue_up{queue="up"} 1
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "jobqueue_up"); err != nil {
		t.Error(err)
	}
	// The healthy queue reports everything; the others only their up and
	// scrape duration.
	fams := gather(t, c)
	if v := value(t, fams, "jobqueue_jobs", "queue", "up", "state", "pending"); v != 1 {
		t.Errorf(`jobqueue_jobs{queue="up",state="pending"} %v, want 1`, v)
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			q := label(m, "queue")
			if q != "up" && f.GetName() != "jobqueue_up" && f.GetName() != "jobqueue_scrape_duration_seconds" {
				t.Errorf("%s of the unavailable queue %q: %v", f.GetName(), q, m)
			}
		}
	}
	if n := testutil.CollectAndCount(c, "jobqueue_scrape_duration_seconds"); n != 4 {
		t.Errorf("%d scrape durations, want one per queue", n)
	}
}

// TestNewCollectorRefusesDuplicates checks that two queues of one name,
// which would make one series twice, are refused at once.
func TestNewCollectorRefusesDuplicates(t *testing.T) {
	b := memory.New()
	defer func() {
		if recover() == nil {
			t.Error("NewCollector accepted a queue name given twice")
		}
	}()
	jqprom.NewCollector([]*jobqueue.Queue{newQueue(t, b, "a"), newQueue(t, b, "a")})
}

// TestCollectorRegisters checks that the Collector's descriptions match
// what it sends, which a pedantic registry verifies.
func TestCollectorRegisters(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(jqprom.NewCollector([]*jobqueue.Queue{newQueue(t, memory.New(), "a"), newQueue(t, memory.New(), "b")}))
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(fams) != 12 {
		t.Errorf("%d metric families, want 12", len(fams))
	}
	if problems, err := testutil.GatherAndLint(reg); err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}
}

// gather collects c once through a registry of its own.
func gather(t *testing.T, c prometheus.Collector) []*dto.MetricFamily {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	return fams
}

// value returns the value of the one series of the family name whose
// labels include the given name, value pairs; it fails the test when there
// is none.
func value(t *testing.T, fams []*dto.MetricFamily, name string, labels ...string) float64 {
	t.Helper()
	for _, f := range fams {
		if f.GetName() != name {
			continue
		}
	metrics:
		for _, m := range f.GetMetric() {
			for i := 0; i+1 < len(labels); i += 2 {
				if label(m, labels[i]) != labels[i+1] {
					continue metrics
				}
			}
			switch {
			case m.Gauge != nil:
				return m.Gauge.GetValue()
			case m.Counter != nil:
				return m.Counter.GetValue()
			case m.Histogram != nil:
				return float64(m.Histogram.GetSampleCount())
			}
		}
	}
	t.Fatalf("no series %s%v", name, labels)
	return 0
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
