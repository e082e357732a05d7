package jqotel

import (
	"context"
	"errors"
	"fmt"

	"go.opentelemetry.io/otel/metric"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// RegisterQueueMetrics reports the state of queues at each collection of
// the meter (WithMeterProvider), from one Queue.Stats call per queue, under
// the attribute messaging.destination.name:
//
//	jobqueue.queue.jobs        jobs by jobqueue.state (pending, scheduled, processing, completed, dead)
//	jobqueue.queue.latency     s, how long the longest-waiting claimable job has waited
//	jobqueue.queue.workers     processes working the queue
//	jobqueue.queue.up          1 when the Stats call succeeded, 0 when it failed
//	jobqueue.queue.enqueued, .claimed, .completed, .retried, .dead, .reclaimed
//	                           the queue's global counters, shared by every process
//
// A queue whose Stats call fails reports only jobqueue.queue.up = 0 at
// that collection. The calls run one after another, within the
// collection's context. Unregister the returned Registration to stop.
// Each queue must have a distinct name.
func RegisterQueueMetrics(queues []*jobqueue.Queue, opts ...Option) (metric.Registration, error) {
	seen := make(map[string]bool, len(queues))
	for _, q := range queues {
		if q == nil {
			return nil, errors.New("jqotel: nil queue")
		}
		if seen[q.Name()] {
			return nil, fmt.Errorf("jqotel: queue %q given twice", q.Name())
		}
		seen[q.Name()] = true
	}
	m := newConfig(opts).meter()
	var errs []error
	gauge := func(name, unit, desc string) metric.Int64ObservableGauge {
		g, err := m.Int64ObservableGauge(name, metric.WithUnit(unit), metric.WithDescription(desc))
		errs = append(errs, err)
		return g
	}
	counter := func(name, desc string) metric.Int64ObservableCounter {
		c, err := m.Int64ObservableCounter(name, metric.WithUnit("{job}"), metric.WithDescription(desc))
		errs = append(errs, err)
		return c
	}
	jobs, err := m.Int64ObservableUpDownCounter("jobqueue.queue.jobs", metric.WithUnit("{job}"),
		metric.WithDescription("Jobs in the queue by state; completed and dead count the jobs their histories keep."))
	errs = append(errs, err)
	latency, err := m.Float64ObservableGauge("jobqueue.queue.latency", metric.WithUnit("s"),
		metric.WithDescription("How long the longest-waiting claimable job has been waiting; 0 when none is."))
	errs = append(errs, err)
	qm := queueMetrics{
		jobs:      jobs,
		latency:   latency,
		workers:   gauge("jobqueue.queue.workers", "{worker}", "Processes working the queue."),
		up:        gauge("jobqueue.queue.up", "1", "Whether the queue's stats could be read (1) or not (0)."),
		enqueued:  counter("jobqueue.queue.enqueued", "Jobs enqueued."),
		claimed:   counter("jobqueue.queue.claimed", "Claims, repeated claims of a job included."),
		completed: counter("jobqueue.queue.completed", "Jobs completed."),
		retried:   counter("jobqueue.queue.retried", "Failed attempts sent back for another try."),
		dead:      counter("jobqueue.queue.dead", "Jobs dead-lettered."),
		reclaimed: counter("jobqueue.queue.reclaimed", "Expired leases reclaimed."),
	}
	if err := errors.Join(errs...); err != nil {
		return nil, fmt.Errorf("jqotel: queue metrics: %w", err)
	}
	qs := append([]*jobqueue.Queue(nil), queues...)
	reg, err := m.RegisterCallback(func(ctx context.Context, o metric.Observer) error {
		for _, q := range qs {
			qm.observe(ctx, o, q)
		}
		return nil
	}, qm.jobs, qm.latency, qm.workers, qm.up,
		qm.enqueued, qm.claimed, qm.completed, qm.retried, qm.dead, qm.reclaimed)
	if err != nil {
		return nil, fmt.Errorf("jqotel: queue metrics: %w", err)
	}
	return reg, nil
}

type queueMetrics struct {
	jobs                                                   metric.Int64ObservableUpDownCounter
	latency                                                metric.Float64ObservableGauge
	workers, up                                            metric.Int64ObservableGauge
	enqueued, claimed, completed, retried, dead, reclaimed metric.Int64ObservableCounter
}

// observe reports one queue, from one Stats call.
func (qm *queueMetrics) observe(ctx context.Context, o metric.Observer, q *jobqueue.Queue) {
	name := semconv.MessagingDestinationName(q.Name())
	at := metric.WithAttributes(name)
	s, err := q.Stats(ctx)
	if err != nil {
		o.ObserveInt64(qm.up, 0, at)
		return
	}
	o.ObserveInt64(qm.up, 1, at)
	for _, st := range []struct {
		state backend.State
		n     int64
	}{
		{backend.StatePending, s.Pending},
		{backend.StateScheduled, s.Scheduled},
		{backend.StateProcessing, s.Processing},
		{backend.StateCompleted, s.Completed},
		{backend.StateDead, s.Dead},
	} {
		o.ObserveInt64(qm.jobs, st.n, metric.WithAttributes(name, StateKey.String(string(st.state))))
	}
	o.ObserveFloat64(qm.latency, s.Latency.Seconds(), at)
	o.ObserveInt64(qm.workers, s.Workers, at)
	o.ObserveInt64(qm.enqueued, s.EnqueuedTotal, at)
	o.ObserveInt64(qm.claimed, s.ClaimedTotal, at)
	o.ObserveInt64(qm.completed, s.CompletedTotal, at)
	o.ObserveInt64(qm.retried, s.RetriedTotal, at)
	o.ObserveInt64(qm.dead, s.DeadTotal, at)
	o.ObserveInt64(qm.reclaimed, s.ReclaimedTotal, at)
}
