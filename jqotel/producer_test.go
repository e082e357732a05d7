package jqotel_test

import (
	"context"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/jqotel"
	"github.com/jobqueue-go/jobqueue/memory"
)

func tracedQueue(t *testing.T, tm *telemetry) *jobqueue.Queue {
	return newQueue(t, memory.New(), jobqueue.WithEnqueueInterceptor(jqotel.EnqueueInterceptor(tm.opts...)))
}

// TestBatchInjectsEveryJob: one span for the call, and its trace context
// in every job of the batch.
func TestBatchInjectsEveryJob(t *testing.T) {
	tm := newTelemetry(t)
	q := tracedQueue(t, tm)
	ids, err := q.EnqueueBatch(context.Background(), []any{email{}, email{}, email{}},
		jobqueue.Headers(map[string]string{"tenant": "acme"}))
	require.NoError(t, err)

	spans := tm.ended("publish " + q.Name())
	require.Len(t, spans, 1)
	s := spans[0]
	assert.Equal(t, int64(3), attr(s, semconv.MessagingBatchMessageCountKey).AsInt64())
	assert.Equal(t, ids, attr(s, jqotel.IDsKey).AsStringSlice())
	assert.Equal(t, "email", attr(s, jqotel.KindKey).AsString())
	assert.Equal(t, attribute.EMPTY, attr(s, semconv.MessagingMessageIDKey).Type(), "a batch has no single message id")
	for _, id := range ids {
		info, err := q.Get(context.Background(), id)
		require.NoError(t, err)
		sc := traceContext(info.Headers)
		assert.Equal(t, s.SpanContext().TraceID(), sc.TraceID(), "job %s", id)
		assert.Equal(t, s.SpanContext().SpanID(), sc.SpanID(), "job %s", id)
		assert.Equal(t, "acme", info.Headers["tenant"], "job %s keeps its own headers", id)
	}
}

// TestBatchListsBoundedIDs: a large batch lists only its first ids.
func TestBatchListsBoundedIDs(t *testing.T) {
	tm := newTelemetry(t)
	q := tracedQueue(t, tm)
	vs := make([]any, 100)
	for i := range vs {
		vs[i] = email{}
	}
	ids, err := q.EnqueueBatch(context.Background(), vs)
	require.NoError(t, err)
	s := tm.ended("publish " + q.Name())[0]
	assert.Equal(t, int64(100), attr(s, semconv.MessagingBatchMessageCountKey).AsInt64())
	listed := attr(s, jqotel.IDsKey).AsStringSlice()
	assert.Less(t, len(listed), 100)
	assert.Equal(t, ids[:len(listed)], listed)
	info, err := q.Get(context.Background(), ids[99])
	require.NoError(t, err)
	assert.Equal(t, s.SpanContext().SpanID(), traceContext(info.Headers).SpanID(), "every job is injected, listed or not")
}

// TestHeadersNotBroken: a job whose headers have no room for the trace
// context, or that carries its own, is stored with its headers as they
// were, and the span says so.
func TestHeadersNotBroken(t *testing.T) {
	full := map[string]string{}
	for i := range backend.MaxHeaders {
		full[fmt.Sprintf("h%d", i)] = "v"
	}
	// Room for another header, but not for 55 more bytes.
	big := map[string]string{
		"a": strings.Repeat("v", 4<<10),
		"b": strings.Repeat("v", backend.MaxHeaderBytes-4<<10-2-20),
	}
	own := map[string]string{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}
	for name, h := range map[string]map[string]string{"full": full, "big": big, "own traceparent": own} {
		t.Run(name, func(t *testing.T) {
			require.NoError(t, backend.ValidateHeaders(h))
			tm := newTelemetry(t)
			q := tracedQueue(t, tm)
			id, err := q.Enqueue(context.Background(), email{}, jobqueue.Headers(h))
			require.NoError(t, err, "the job is enqueued, without the trace context")
			info, err := q.Get(context.Background(), id)
			require.NoError(t, err)
			assert.Equal(t, h, info.Headers, "the headers are stored as the caller set them")

			s := tm.ended("publish " + q.Name())[0]
			assert.Equal(t, int64(1), attr(s, jqotel.NotInjectedKey).AsInt64())
			e := event(t, s, "trace_context_not_injected")
			assert.Contains(t, fmt.Sprint(e.Attributes), id)
			assert.Equal(t, codes.Unset, s.Status().Code)
		})
	}
}

// TestHeadersNotShared: the interceptor writes each job's own copy, never
// the map the caller passed.
func TestHeadersNotShared(t *testing.T) {
	tm := newTelemetry(t)
	q := tracedQueue(t, tm)
	h := map[string]string{"tenant": "acme"}
	before := maps.Clone(h)
	_, err := q.EnqueueBatch(context.Background(), []any{email{}, email{}}, jobqueue.Headers(h))
	require.NoError(t, err)
	assert.Equal(t, before, h)
}

// TestEnqueueFailed: a refused enqueue ends its span with status Error.
func TestEnqueueFailed(t *testing.T) {
	tm := newTelemetry(t)
	q := tracedQueue(t, tm)
	_, err := q.Enqueue(context.Background(), email{}, jobqueue.WithID("once"))
	require.NoError(t, err)
	_, err = q.Enqueue(context.Background(), email{}, jobqueue.WithID("once"))
	require.ErrorIs(t, err, jobqueue.ErrJobExists)

	spans := tm.ended("publish " + q.Name())
	require.Len(t, spans, 2)
	assert.Equal(t, codes.Unset, spans[0].Status().Code)
	assert.Equal(t, codes.Error, spans[1].Status().Code)
	assert.Contains(t, events(spans[1]), "exception")
}

// TestEnqueueNotDurable: an enqueue that stored its job but could not
// confirm it on a replica (there is none) ends its span with an error
// that says the job is stored.
func TestEnqueueNotDurable(t *testing.T) {
	for _, sb := range backends[1:] {
		t.Run(sb.Name, func(t *testing.T) {
			tm := newTelemetry(t)
			q := newQueue(t, sb.Open(t), jobqueue.WithEnqueueInterceptor(jqotel.EnqueueInterceptor(tm.opts...)))
			id, err := q.Enqueue(context.Background(), email{}, jobqueue.Durable(jobqueue.Durability{Replicas: 1, Timeout: 10 * time.Millisecond}))
			require.ErrorIs(t, err, jobqueue.ErrNotDurable)
			require.NotEmpty(t, id)
			_, err = q.Enqueue(context.Background(), email{})
			require.NoError(t, err)

			spans := tm.ended("publish " + q.Name())
			require.Len(t, spans, 2)
			assert.Equal(t, codes.Error, spans[0].Status().Code)
			assert.Equal(t, attribute.BoolValue(true), attr(spans[0], jqotel.StoredKey))
			assert.Equal(t, codes.Unset, spans[1].Status().Code)
			assert.Equal(t, attribute.Value{}, attr(spans[1], jqotel.StoredKey))
		})
	}
}
