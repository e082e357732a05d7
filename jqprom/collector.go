// Package jqprom exports jobqueue metrics to Prometheus.
//
// Two parts, each a prometheus.Collector that you register yourself:
//
//   - Collector reads the queues' shared state (depths, counters, queue
//     latency, working processes) from the backend at each scrape, with
//     one Queue.Stats call per queue. It sees every process's work, and
//     its cost does not grow with the queues' depths.
//   - Observer is a jobqueue.Observer: given to a Worker
//     (WorkerOptions.Observers), it times that process's handlers and
//     counts their outcomes and lease heartbeats.
//
// Run one Collector per set of queues (in one process, or every process:
// the series are the same, so aggregate with max or avg by queue), and one
// Observer in each process that runs Workers (aggregate with sum).
//
// Metric names are stable: a rename is a breaking change of this package.
package jqprom

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobqueue-go/jobqueue"
)

// DefaultTimeout bounds one scrape of a Collector when WithTimeout is not
// given: below Prometheus's default scrape timeout (10s), so that a queue
// whose backend is away is reported down rather than failing the scrape.
const DefaultTimeout = 5 * time.Second

// Collector is a prometheus.Collector of the shared state of some queues.
// At each scrape it calls Queue.Stats once per queue, all queues at once,
// each bounded by the Collector's timeout. A queue whose Stats fails or
// runs out of time reports jobqueue_up 0 and none of its other series;
// the others report as usual, and the scrape succeeds.
type Collector struct {
	queues  []*jobqueue.Queue
	timeout time.Duration
	log     *slog.Logger
}

// A CollectorOption configures a Collector.
type CollectorOption func(*Collector)

// WithTimeout bounds how long a scrape waits for a queue's Stats (retries
// by the Queue included); a non-positive d keeps DefaultTimeout.
func WithTimeout(d time.Duration) CollectorOption {
	return func(c *Collector) {
		if d > 0 {
			c.timeout = d
		}
	}
}

// WithLogger sets where the Collector says why a queue's stats could not be
// read (one warning per queue per failed scrape); by default, the default
// logger at the time the Collector was made. To silence it, pass
// slog.New(slog.DiscardHandler).
func WithLogger(l *slog.Logger) CollectorOption {
	return func(c *Collector) {
		if l != nil {
			c.log = l
		}
	}
}

// NewCollector returns a Collector of queues. Their names must differ,
// since the name is the queue label; NewCollector panics on a nil queue or
// a name given twice, as prometheus.MustRegister does on a mistake of the
// same sort. A registry takes one Collector, since all describe the same
// metrics: give it every queue to export, whatever their backends.
func NewCollector(queues []*jobqueue.Queue, opts ...CollectorOption) *Collector {
	seen := make(map[string]bool, len(queues))
	for _, q := range queues {
		if q == nil {
			panic("jqprom: nil queue")
		}
		if seen[q.Name()] {
			panic(fmt.Sprintf("jqprom: queue %q given twice", q.Name()))
		}
		seen[q.Name()] = true
	}
	c := &Collector{queues: append([]*jobqueue.Queue(nil), queues...), timeout: DefaultTimeout, log: slog.Default()}
	for _, o := range opts {
		o(c)
	}
	return c
}

// The descriptions of the Collector's metrics.
var (
	jobsDesc = prometheus.NewDesc("jobqueue_jobs",
		"Jobs of the queue in each state. pending, scheduled and processing are exact; "+
			"completed, dead and cancelled count what the queue's histories keep, which are capped by "+
			"their retention (WithCompletedRetention, WithDeadRetention, WithCancelledRetention), so use the _total counters for rates.",
		[]string{"queue", "state"}, nil)
	enqueuedDesc = prometheus.NewDesc("jobqueue_enqueued_total",
		"Jobs enqueued, by every process.", []string{"queue"}, nil)
	claimedDesc = prometheus.NewDesc("jobqueue_claimed_total",
		"Claims of jobs, repeated claims of one job included, by every process.", []string{"queue"}, nil)
	completedDesc = prometheus.NewDesc("jobqueue_completed_total",
		"Jobs completed, by every process.", []string{"queue"}, nil)
	retriedDesc = prometheus.NewDesc("jobqueue_retried_total",
		"Failed attempts sent back for another try (reclaims not included), by every process.", []string{"queue"}, nil)
	deadDesc = prometheus.NewDesc("jobqueue_dead_total",
		"Jobs dead-lettered (by a failure, a reclaim, an expiry or a corrupt record), by every process.", []string{"queue"}, nil)
	cancelledDesc = prometheus.NewDesc("jobqueue_cancelled_total",
		"Jobs that became cancelled (Queue.Cancel), by every process.", []string{"queue"}, nil)
	reclaimedDesc = prometheus.NewDesc("jobqueue_reclaimed_total",
		"Expired leases taken back by a reclaim (requeued or dead-lettered), by every process.", []string{"queue"}, nil)
	latencyDesc = prometheus.NewDesc("jobqueue_queue_latency_seconds",
		"How long the longest-waiting claimable job has been waiting; 0 when none is claimable.", []string{"queue"}, nil)
	workersDesc = prometheus.NewDesc("jobqueue_workers",
		"Processes working the queue (Workers whose last beat has not run out); 0 on a backend that does not track them.", []string{"queue"}, nil)
	upDesc = prometheus.NewDesc("jobqueue_up",
		"1 when the queue's stats were read in this scrape, 0 when the backend failed or ran out of time.", []string{"queue"}, nil)
	scrapeDurationDesc = prometheus.NewDesc("jobqueue_scrape_duration_seconds",
		"How long reading the queue's stats took in this scrape.", []string{"queue"}, nil)
)

// stateValues are the values of jobqueue_jobs's state label, in the order
// of a Stats' depths.
var stateValues = []jobqueue.State{
	jobqueue.StatePending, jobqueue.StateScheduled, jobqueue.StateProcessing, jobqueue.StateCompleted, jobqueue.StateDead,
	jobqueue.StateCancelled,
}

// Describe sends the descriptions of every metric the Collector makes.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		jobsDesc, enqueuedDesc, claimedDesc, completedDesc, retriedDesc, deadDesc, cancelledDesc, reclaimedDesc,
		latencyDesc, workersDesc, upDesc, scrapeDurationDesc,
	} {
		ch <- d
	}
}

// Collect reads every queue's stats, at once, and sends their metrics.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, q := range c.queues {
		wg.Go(func() { c.collectQueue(ctx, q, ch) })
	}
	wg.Wait()
}

// collectQueue sends one queue's metrics, or only its jobqueue_up 0 and
// scrape duration when its stats could not be read.
func (c *Collector) collectQueue(ctx context.Context, q *jobqueue.Queue, ch chan<- prometheus.Metric) {
	name := q.Name()
	start := time.Now()
	s, err := q.Stats(ctx)
	took := time.Since(start)
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, append([]string{name}, labels...)...)
	}
	counter := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), name)
	}
	gauge(scrapeDurationDesc, took.Seconds())
	if err != nil {
		c.log.Warn("jobqueue: metrics: cannot read the queue's stats", "queue", name, "err", err)
		gauge(upDesc, 0)
		return
	}
	gauge(upDesc, 1)
	depths := []int64{s.Pending, s.Scheduled, s.Processing, s.Completed, s.Dead, s.Cancelled}
	for i, st := range stateValues {
		gauge(jobsDesc, float64(depths[i]), string(st))
	}
	counter(enqueuedDesc, s.EnqueuedTotal)
	counter(claimedDesc, s.ClaimedTotal)
	counter(completedDesc, s.CompletedTotal)
	counter(retriedDesc, s.RetriedTotal)
	counter(deadDesc, s.DeadTotal)
	counter(cancelledDesc, s.CancelledTotal)
	counter(reclaimedDesc, s.ReclaimedTotal)
	gauge(latencyDesc, s.Latency.Seconds())
	gauge(workersDesc, float64(s.Workers))
}
