package jqotel_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/jqotel"
	"github.com/jobqueue-go/jobqueue/memory"
)

func kind(k string) attribute.KeyValue    { return jqotel.KindKey.String(k) }
func outcome(o string) attribute.KeyValue { return jqotel.OutcomeKey.String(o) }

// TestAttemptMetrics runs a known sequence: one job completes, one fails
// once and then completes, one is dead-lettered.
func TestAttemptMetrics(t *testing.T) {
	tm := newTelemetry(t)
	q := newQueue(t, memory.New(), jobqueue.WithBackoff(jobqueue.ConstantBackoff(0)))
	ctx := context.Background()
	_, err := q.Enqueue(ctx, email{}, jobqueue.Kind("ok"))
	require.NoError(t, err)
	_, err = q.Enqueue(ctx, email{}, jobqueue.Kind("flaky"))
	require.NoError(t, err)
	_, err = q.Enqueue(ctx, email{}, jobqueue.Kind("bad"), jobqueue.MaxAttempts(1))
	require.NoError(t, err)

	watch := &outcomes{}
	work(t, q, func(_ context.Context, j *jobqueue.Job) (any, error) {
		if j.Kind == "bad" || (j.Kind == "flaky" && j.Attempts == 1) {
			return nil, errors.New("no")
		}
		return nil, nil
	}, jqotel.NewObserver(tm.opts...), watch)
	watch.wait(t, 4)

	m := tm.collect(t)
	queue := semconv.MessagingDestinationName(q.Name())
	attempts := m["jobqueue.attempts"]
	assert.Equal(t, int64(1), sum(t, attempts, queue, kind("ok"), outcome("completed")))
	assert.Equal(t, int64(1), sum(t, attempts, queue, kind("flaky"), outcome("retried")))
	assert.Equal(t, int64(1), sum(t, attempts, queue, kind("flaky"), outcome("completed")))
	assert.Equal(t, int64(1), sum(t, attempts, queue, kind("bad"), outcome("dead")))
	assert.Equal(t, int64(4), sum(t, attempts))

	inFlight := m["jobqueue.in_flight"]
	for _, k := range []string{"ok", "flaky", "bad"} {
		assert.Equal(t, int64(0), sum(t, inFlight, queue, kind(k)), "kind %s back to 0", k)
	}
	assert.Len(t, inFlight.Data.(metricdata.Sum[int64]).DataPoints, 3, "one series per kind")

	hist, ok := m["jobqueue.handler.duration"].Data.(metricdata.Histogram[float64])
	require.True(t, ok, "jobqueue.handler.duration is a float64 histogram")
	assert.Equal(t, "s", m["jobqueue.handler.duration"].Unit)
	var count uint64
	for _, p := range hist.DataPoints {
		count += p.Count
	}
	assert.Equal(t, uint64(4), count)
}

// TestKindsCapped: kinds past WithMaxKinds are "(other)" in the metrics,
// and themselves in the spans. An untraced job's attempt is a trace root
// even when the Worker's context holds a span.
func TestKindsCapped(t *testing.T) {
	tm := newTelemetry(t)
	o := jqotel.NewObserver(append(tm.opts, jqotel.WithMaxKinds(2))...)
	ctx, worker := tm.tracer.Start(context.Background(), "worker")
	defer worker.End()
	for _, k := range []string{"a", "b", "c", "d", "a"} {
		j := &jobqueue.Job{ID: "job-" + k, Kind: k, Attempts: 1, MaxAttempts: 1}
		actx := o.AttemptStarted(ctx, j)
		o.AttemptEvent(actx, j, jobqueue.AttemptEvent{Kind: jobqueue.AttemptEnded, Outcome: jobqueue.OutcomeCompleted, Duration: time.Millisecond})
	}
	attempts := tm.collect(t)["jobqueue.attempts"]
	assert.Equal(t, int64(2), sum(t, attempts, kind("a")))
	assert.Equal(t, int64(1), sum(t, attempts, kind("b")))
	assert.Equal(t, int64(2), sum(t, attempts, kind(jqotel.OtherKind)))
	assert.Zero(t, sum(t, attempts, kind("c")))

	spans := tm.ended("process ")
	require.Len(t, spans, 5)
	assert.Equal(t, "c", attr(spans[2], jqotel.KindKey).AsString())
	for _, s := range spans {
		assert.False(t, s.Parent().IsValid(), "an untraced job's attempt is a root")
		assert.Empty(t, s.Links())
	}
}

// TestQueueMetrics reads the queue's depths and counters after a known
// sequence, and up = 0 for a queue whose stats cannot be read.
func TestQueueMetrics(t *testing.T) {
	tm := newTelemetry(t)
	ctx := context.Background()
	q := newQueue(t, memory.New())
	for range 3 {
		_, err := q.Enqueue(ctx, email{})
		require.NoError(t, err)
	}
	_, err := q.Enqueue(ctx, email{}, jobqueue.Delay(time.Hour))
	require.NoError(t, err)
	jobs, err := q.Claim(ctx, 2, 0)
	require.NoError(t, err)
	require.Len(t, jobs, 2)
	require.NoError(t, jobs[0].Complete(ctx, nil))

	broken := &failingStats{Backend: memory.New()}
	bq, err := jobqueue.New(broken, "broken")
	require.NoError(t, err)

	reg, err := jqotel.RegisterQueueMetrics([]*jobqueue.Queue{q, bq}, tm.opts...)
	require.NoError(t, err)
	m := tm.collect(t)
	queue := semconv.MessagingDestinationName(q.Name())
	state := func(s backend.State) attribute.KeyValue { return jqotel.StateKey.String(string(s)) }
	jobsM := m["jobqueue.queue.jobs"]
	assert.Equal(t, int64(1), sum(t, jobsM, queue, state(backend.StatePending)))
	assert.Equal(t, int64(1), sum(t, jobsM, queue, state(backend.StateScheduled)))
	assert.Equal(t, int64(1), sum(t, jobsM, queue, state(backend.StateProcessing)))
	assert.Equal(t, int64(1), sum(t, jobsM, queue, state(backend.StateCompleted)))
	assert.Equal(t, int64(0), sum(t, jobsM, queue, state(backend.StateDead)))
	assert.Equal(t, int64(4), sum(t, m["jobqueue.queue.enqueued"], queue))
	assert.Equal(t, int64(2), sum(t, m["jobqueue.queue.claimed"], queue))
	assert.Equal(t, int64(1), sum(t, m["jobqueue.queue.completed"], queue))
	assert.Equal(t, int64(1), sum(t, m["jobqueue.queue.up"], queue))
	assert.Equal(t, int64(0), sum(t, m["jobqueue.queue.up"], semconv.MessagingDestinationName("broken")))
	assert.Len(t, jobsM.Data.(metricdata.Sum[int64]).DataPoints, 5, "the broken queue reports no depths")
	lat, ok := m["jobqueue.queue.latency"].Data.(metricdata.Gauge[float64])
	require.True(t, ok)
	assert.Len(t, lat.DataPoints, 1)
	assert.Equal(t, int64(1), broken.calls.Load(), "one Stats call per queue per collection")

	require.NoError(t, reg.Unregister())
	assert.NotContains(t, tm.collect(t), "jobqueue.queue.up", "nothing is reported once unregistered")

	_, err = jqotel.RegisterQueueMetrics([]*jobqueue.Queue{q, q}, tm.opts...)
	assert.Error(t, err, "a queue given twice")
}

// failingStats is a backend whose Stats always fails.
type failingStats struct {
	backend.Backend
	calls atomic.Int64
}

func (f *failingStats) Stats(context.Context, string) (backend.Stats, error) {
	f.calls.Add(1)
	return backend.Stats{}, errors.New("stats: no")
}
