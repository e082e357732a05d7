package jqotel_test

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/jqotel"
	"github.com/jobqueue-go/jobqueue/memory"
)

type email struct{ To string }

func (email) Kind() string { return "email" }

// traced is a handler that does its work in a child span, as a handler
// would with any instrumented client, and fails its job's first attempts.
func traced(tm *telemetry, failures int) jobqueue.Handler {
	return func(ctx context.Context, j *jobqueue.Job) (any, error) {
		_, span := tm.tracer.Start(ctx, "handler")
		defer span.End()
		if j.Attempts <= failures {
			return nil, errors.New("smtp: try again later")
		}
		return nil, nil
	}
}

// TestRetriedJobTrace runs a job that fails twice and then completes: the
// producer span is a child of the caller's span, the first attempt a child
// of the producer span, and each retry a new trace linked to the producer
// span. On Redis, this is the trace context's round trip through the
// job's headers.
func TestRetriedJobTrace(t *testing.T) {
	for _, bk := range backends {
		t.Run(bk.Name, func(t *testing.T) { testRetriedJobTrace(t, bk.Open(t)) })
	}
}

func testRetriedJobTrace(t *testing.T, b backend.Backend) {
	tm := newTelemetry(t)
	q := newQueue(t, b, jobqueue.WithEnqueueInterceptor(jqotel.EnqueueInterceptor(tm.opts...)),
		jobqueue.WithMaxAttempts(3), jobqueue.WithBackoff(jobqueue.ConstantBackoff(0)))
	ctx, request := tm.tracer.Start(context.Background(), "request")
	id, err := q.Enqueue(ctx, email{To: "ada@example.com"})
	require.NoError(t, err)
	request.End()

	work(t, q, traced(tm, 2), jqotel.NewObserver(tm.opts...))
	process := "process " + q.Name()
	attempts := tm.waitEnded(t, process, 3)
	require.Len(t, attempts, 3)
	sort.Slice(attempts, func(i, j int) bool {
		return attr(attempts[i], jqotel.AttemptKey).AsInt64() < attr(attempts[j], jqotel.AttemptKey).AsInt64()
	})

	publishes := tm.ended("publish " + q.Name())
	require.Len(t, publishes, 1)
	producer := publishes[0]
	assert.Equal(t, trace.SpanKindProducer, producer.SpanKind())
	assert.Equal(t, request.SpanContext().SpanID(), producer.Parent().SpanID(), "the producer span is the caller's span's child")
	assert.Equal(t, request.SpanContext().TraceID(), producer.SpanContext().TraceID())
	assert.Equal(t, "jobqueue", attr(producer, semconv.MessagingSystemKey).AsString())
	assert.Equal(t, q.Name(), attr(producer, semconv.MessagingDestinationNameKey).AsString())
	assert.Equal(t, id, attr(producer, semconv.MessagingMessageIDKey).AsString())
	assert.Equal(t, "email", attr(producer, jqotel.KindKey).AsString())

	first := attempts[0]
	assert.Equal(t, trace.SpanKindConsumer, first.SpanKind())
	assert.Equal(t, producer.SpanContext().TraceID(), first.SpanContext().TraceID(), "attempt 1 is in the producer's trace")
	assert.Equal(t, producer.SpanContext().SpanID(), first.Parent().SpanID(), "attempt 1 is the producer span's child")
	assert.Empty(t, first.Links())

	traces := map[trace.TraceID]bool{producer.SpanContext().TraceID(): true}
	for i, s := range attempts {
		n := i + 1
		assert.Equal(t, int64(n), attr(s, jqotel.AttemptKey).AsInt64())
		assert.Equal(t, int64(3), attr(s, jqotel.MaxAttemptsKey).AsInt64())
		assert.Equal(t, id, attr(s, semconv.MessagingMessageIDKey).AsString())
		assert.Equal(t, "email", attr(s, jqotel.KindKey).AsString())
		assert.Equal(t, q.Name(), attr(s, semconv.MessagingDestinationNameKey).AsString())
		assert.Equal(t, "claimed", events(s)[0], "attempt %d", n)
		assert.NotEmpty(t, event(t, s, "claimed").Attributes, "attempt %d: claimed carries the lease's end", n)
		if n == 1 {
			continue
		}
		assert.False(t, s.Parent().IsValid(), "attempt %d is a new trace's root", n)
		assert.False(t, traces[s.SpanContext().TraceID()], "attempt %d has a trace of its own", n)
		traces[s.SpanContext().TraceID()] = true
		if assert.Len(t, s.Links(), 1, "attempt %d", n) {
			link := s.Links()[0].SpanContext
			assert.Equal(t, producer.SpanContext().TraceID(), link.TraceID(), "attempt %d links the producer span", n)
			assert.Equal(t, producer.SpanContext().SpanID(), link.SpanID(), "attempt %d links the producer span", n)
		}
	}
	for _, s := range attempts[:2] {
		assert.Contains(t, events(s), "retry_scheduled")
		assert.Contains(t, events(s), "exception", "the handler's error is recorded")
		assert.Equal(t, codes.Error, s.Status().Code)
		assert.Equal(t, "smtp: try again later", s.Status().Description)
		assert.Equal(t, "retried", attr(s, jqotel.OutcomeKey).AsString())
	}
	last := attempts[2]
	assert.Equal(t, codes.Unset, last.Status().Code)
	assert.Equal(t, "completed", attr(last, jqotel.OutcomeKey).AsString())
	assert.Equal(t, []string{"claimed"}, events(last))

	// The handler's spans are children of their attempt's span.
	handlers := tm.waitEnded(t, "handler", 3)
	for _, a := range attempts {
		found := false
		for _, h := range handlers {
			if h.Parent().SpanID() == a.SpanContext().SpanID() {
				assert.Equal(t, a.SpanContext().TraceID(), h.SpanContext().TraceID())
				found = true
			}
		}
		assert.True(t, found, "attempt %v has a handler span", attr(a, jqotel.AttemptKey).AsInt64())
	}
}

// TestDeadLetteredSpan: a job's last failure ends its span with
// dead_lettered and status Error.
func TestDeadLetteredSpan(t *testing.T) {
	tm := newTelemetry(t)
	q := newQueue(t, memory.New(), jobqueue.WithEnqueueInterceptor(jqotel.EnqueueInterceptor(tm.opts...)),
		jobqueue.WithMaxAttempts(1))
	_, err := q.Enqueue(context.Background(), email{})
	require.NoError(t, err)
	work(t, q, traced(tm, 1), jqotel.NewObserver(tm.opts...))

	s := tm.waitEnded(t, "process "+q.Name(), 1)[0]
	assert.Equal(t, []string{"claimed", "dead_lettered", "exception"}, events(s))
	assert.Equal(t, codes.Error, s.Status().Code)
	assert.Equal(t, "dead", attr(s, jqotel.OutcomeKey).AsString())
}

// TestSnoozedThenFirstAttempt: a snooze gives the attempt back, so the
// run after it is attempt 1 again, and is a child of the producer span
// too (see the package doc).
func TestSnoozedThenFirstAttempt(t *testing.T) {
	tm := newTelemetry(t)
	q := newQueue(t, memory.New(), jobqueue.WithEnqueueInterceptor(jqotel.EnqueueInterceptor(tm.opts...)))
	_, err := q.Enqueue(context.Background(), email{})
	require.NoError(t, err)
	var snoozed atomic.Bool
	work(t, q, func(context.Context, *jobqueue.Job) (any, error) {
		if snoozed.CompareAndSwap(false, true) {
			return nil, jobqueue.Snooze(0)
		}
		return nil, nil
	}, jqotel.NewObserver(tm.opts...))

	spans := tm.waitEnded(t, "process "+q.Name(), 2)
	producer := tm.ended("publish " + q.Name())[0]
	outcomes := map[string]sdktrace.ReadOnlySpan{}
	for _, s := range spans {
		assert.Equal(t, int64(1), attr(s, jqotel.AttemptKey).AsInt64())
		assert.Equal(t, producer.SpanContext().SpanID(), s.Parent().SpanID())
		outcomes[attr(s, jqotel.OutcomeKey).AsString()] = s
	}
	require.Contains(t, outcomes, "snoozed")
	require.Contains(t, outcomes, "completed")
	assert.Equal(t, []string{"claimed", "snoozed"}, events(outcomes["snoozed"]))
	assert.Equal(t, codes.Unset, outcomes["snoozed"].Status().Code)
}

// TestLeaseEvents: a short lease is renewed while the handler runs; a job
// deleted under its handler loses its lease.
func TestLeaseEvents(t *testing.T) {
	tm := newTelemetry(t)
	q := newQueue(t, memory.New(), jobqueue.WithLease(600*time.Millisecond))
	renewed := make(chan struct{})
	lost := make(chan struct{})
	var once, lostOnce sync.Once
	watch := &outcomes{on: func(e jobqueue.AttemptEvent) {
		switch e.Kind {
		case jobqueue.AttemptLeaseRenewed:
			once.Do(func() { close(renewed) })
		case jobqueue.AttemptLeaseLost:
			lostOnce.Do(func() { close(lost) })
		}
	}}
	keep, err := q.Enqueue(context.Background(), email{}, jobqueue.WithID("keep"))
	require.NoError(t, err)
	work(t, q, func(ctx context.Context, j *jobqueue.Job) (any, error) {
		if j.ID == keep {
			<-renewed
			return nil, nil
		}
		<-ctx.Done()
		return nil, ctx.Err()
	}, jqotel.NewObserver(tm.opts...), watch)

	s := tm.waitEnded(t, "process "+q.Name(), 1)[0]
	assert.Equal(t, "lease_renewed", events(s)[1])
	assert.NotEmpty(t, event(t, s, "lease_renewed").Attributes)
	assert.Equal(t, codes.Unset, s.Status().Code)

	// A second job, deleted under its handler.
	id, err := q.Enqueue(context.Background(), email{})
	require.NoError(t, err)
	require.Eventually(t, func() bool {
		info, err := q.Get(context.Background(), id)
		return err == nil && info.State == jobqueue.StateProcessing
	}, 20*time.Second, 5*time.Millisecond)
	require.NoError(t, q.Delete(context.Background(), id))
	<-lost
	watch.wait(t, 2)
	var gone sdktrace.ReadOnlySpan
	for _, s := range tm.ended("process " + q.Name()) {
		if attr(s, semconv.MessagingMessageIDKey).AsString() == id {
			gone = s
		}
	}
	require.NotNil(t, gone)
	assert.Contains(t, events(gone), "lease_lost")
	assert.Contains(t, events(gone), "outcome_refused")
	assert.Equal(t, codes.Error, gone.Status().Code)
	assert.Equal(t, "lost", attr(gone, jqotel.OutcomeKey).AsString())

	m := tm.collect(t)
	assert.GreaterOrEqual(t, sum(t, m["jobqueue.lease.renewals"]), int64(1))
	assert.Equal(t, int64(1), sum(t, m["jobqueue.lease.lost"]))
}
