package jqprom

import (
	"context"
	"fmt"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/internal/kindcap"
)

// DefaultBuckets are the bounds, in seconds, of the handler duration
// histogram when WithBuckets is not given: from 5ms to 10 minutes.
var DefaultBuckets = []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// DefaultMaxKinds is how many distinct job kinds an Observer labels when
// WithMaxKinds is not given.
const DefaultMaxKinds = 100

// OtherKind is the kind label of the jobs whose kind came after the
// Observer's limit of distinct kinds was reached. No job kind can take this
// value (kinds are made of [A-Za-z0-9_.-]), so it never merges with a real
// kind. A job without a kind has the kind label "", which the limit does
// not count.
const OtherKind = kindcap.Other

// Observer is a jobqueue.Observer that counts and times the attempts of the
// Workers it is given to, and a prometheus.Collector of those metrics.
// Register it once (prometheus.Registerer.Register) and give it to any
// number of Workers of the process:
//
//	obs := jqprom.NewObserver()
//	reg.MustRegister(obs)
//	w, err := jobqueue.NewWorker(h, jobqueue.WorkerOptions{Observers: []jobqueue.Observer{obs}}, ...)
//
// Its series are labelled by queue and, for attempts, by job kind and
// outcome (the jobqueue.Outcome values: completed, retried, snoozed, dead,
// lost, released, abandoned, cancelled). Kinds come from the jobs, so their number is
// bounded (WithMaxKinds): the kinds seen after the limit was reached are
// labelled OtherKind. The counters of a queue and kind start at zero for
// every outcome on the first attempt seen, so that rate and increase see
// the first dead-letter too.
type Observer struct {
	duration   *prometheus.HistogramVec
	attempts   *prometheus.CounterVec
	inFlight   *prometheus.GaugeVec
	renewals   *prometheus.CounterVec
	leasesLost *prometheus.CounterVec

	kinds   *kindcap.Cap
	mu      sync.RWMutex
	started map[seriesKey]struct{} // queue and kind label pairs whose series exist
}

// seriesKey is a queue and a kind label.
type seriesKey struct{ queue, kind string }

var _ jobqueue.Observer = (*Observer)(nil)
var _ prometheus.Collector = (*Observer)(nil)

// An ObserverOption configures an Observer.
type ObserverOption func(*observerConfig)

type observerConfig struct {
	buckets  []float64
	maxKinds int
}

// WithBuckets sets the upper bounds, in seconds and increasing, of the
// handler duration histogram's buckets (DefaultBuckets by default).
func WithBuckets(b []float64) ObserverOption {
	return func(c *observerConfig) {
		if len(b) > 0 {
			c.buckets = append([]float64(nil), b...)
		}
	}
}

// WithMaxKinds sets how many distinct job kinds get a label of their own;
// the jobs of the kinds that come later are labelled OtherKind. Zero
// labels every job that has a kind OtherKind; a negative n keeps
// DefaultMaxKinds.
func WithMaxKinds(n int) ObserverOption {
	return func(c *observerConfig) {
		if n >= 0 {
			c.maxKinds = n
		}
	}
}

// NewObserver returns an Observer, which its caller registers. It panics
// when WithBuckets was given bounds that do not increase.
func NewObserver(opts ...ObserverOption) *Observer {
	cfg := observerConfig{buckets: DefaultBuckets, maxKinds: DefaultMaxKinds}
	for _, o := range opts {
		o(&cfg)
	}
	for i := 1; i < len(cfg.buckets); i++ {
		if cfg.buckets[i] <= cfg.buckets[i-1] {
			panic(fmt.Sprintf("jqprom: histogram buckets %v do not increase", cfg.buckets))
		}
	}
	return &Observer{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "jobqueue_handler_duration_seconds",
			Help: "How long handlers ran, middleware included, by the outcome of their attempt; " +
				"attempts cut off before their handler returned (released at shutdown) are not timed.",
			Buckets: cfg.buckets,
		}, []string{"queue", "kind", "outcome"}),
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_attempts_total",
			Help: "Attempts this process ended, by outcome: completed, retried, snoozed, dead, lost, released, abandoned.",
		}, []string{"queue", "kind", "outcome"}),
		inFlight: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "jobqueue_in_flight",
			Help: "Attempts this process has started and not yet ended.",
		}, []string{"queue", "kind"}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_lease_renewals_total",
			Help: "Leases renewed by this process's heartbeats, one per attempt per heartbeat.",
		}, []string{"queue"}),
		leasesLost: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "jobqueue_leases_lost_total",
			Help: "Attempts whose heartbeat found the lease lost (the job was reclaimed or deleted while its handler ran).",
		}, []string{"queue"}),
		kinds:   kindcap.New(cfg.maxKinds),
		started: map[seriesKey]struct{}{},
	}
}

// outcomes are the values of the outcome label, whose counters start at
// zero together.
var outcomes = []jobqueue.Outcome{
	jobqueue.OutcomeCompleted, jobqueue.OutcomeRetried, jobqueue.OutcomeSnoozed, jobqueue.OutcomeDead,
	jobqueue.OutcomeLost, jobqueue.OutcomeReleased, jobqueue.OutcomeAbandoned, jobqueue.OutcomeCancelled,
}

// Describe sends the descriptions of the Observer's metrics.
func (o *Observer) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range o.collectors() {
		c.Describe(ch)
	}
}

// Collect sends the Observer's metrics.
func (o *Observer) Collect(ch chan<- prometheus.Metric) {
	for _, c := range o.collectors() {
		c.Collect(ch)
	}
}

func (o *Observer) collectors() []prometheus.Collector {
	return []prometheus.Collector{o.duration, o.attempts, o.inFlight, o.renewals, o.leasesLost}
}

// AttemptStarted counts the attempt in flight. It returns ctx unchanged.
func (o *Observer) AttemptStarted(ctx context.Context, job *jobqueue.Job) context.Context {
	k := o.labels(job)
	o.inFlight.WithLabelValues(k.queue, k.kind).Inc()
	return ctx
}

// AttemptEvent counts lease renewals and losses, and an attempt's outcome
// and handler duration as it ends.
func (o *Observer) AttemptEvent(_ context.Context, job *jobqueue.Job, e jobqueue.AttemptEvent) {
	k := o.labels(job)
	switch e.Kind {
	case jobqueue.AttemptLeaseRenewed:
		o.renewals.WithLabelValues(k.queue).Inc()
	case jobqueue.AttemptLeaseLost:
		o.leasesLost.WithLabelValues(k.queue).Inc()
	case jobqueue.AttemptEnded:
		o.inFlight.WithLabelValues(k.queue, k.kind).Dec()
		o.attempts.WithLabelValues(k.queue, k.kind, string(e.Outcome)).Inc()
		if e.Duration > 0 {
			o.duration.WithLabelValues(k.queue, k.kind, string(e.Outcome)).Observe(e.Duration.Seconds())
		}
	}
}

// labels returns the queue and kind labels of job, creating their series
// the first time. A kind keeps the label it first got: a kind admitted
// stays admitted, and once the limit is reached no kind is admitted, so
// an attempt's end is counted under the labels of its start.
func (o *Observer) labels(job *jobqueue.Job) seriesKey {
	k := seriesKey{kind: job.Kind}
	if q := job.Queue(); q != nil {
		k.queue = q.Name()
	}
	k.kind = o.kinds.Label(k.kind)
	o.mu.RLock()
	_, known := o.started[k]
	o.mu.RUnlock()
	if known {
		return k
	}

	o.mu.Lock()
	defer o.mu.Unlock()
	if _, ok := o.started[k]; !ok {
		o.started[k] = struct{}{}
		for _, out := range outcomes {
			o.attempts.WithLabelValues(k.queue, k.kind, string(out))
		}
		o.inFlight.WithLabelValues(k.queue, k.kind)
		o.renewals.WithLabelValues(k.queue)
		o.leasesLost.WithLabelValues(k.queue)
	}
	return k
}
