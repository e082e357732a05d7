package jqotel_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/conformance/redistest"
	"github.com/jobqueue-go/jobqueue/internal/redisq/redisqtest"
	"github.com/jobqueue-go/jobqueue/jqotel"
)

// backends opens each backend the traces must survive: the headers
// round-trip through Redis on the two adapters.
var backends = redisqtest.ShippedBackends(func(t *testing.T) string { return redistest.Start(t).URL })

// telemetry is an SDK that keeps every span and metric in memory.
type telemetry struct {
	spans  *tracetest.SpanRecorder
	reader *sdkmetric.ManualReader
	opts   []jqotel.Option
	tracer trace.Tracer
}

func newTelemetry(t *testing.T) *telemetry {
	spans := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans))
	reader := sdkmetric.NewManualReader()
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader))
	t.Cleanup(func() {
		_ = tp.Shutdown(context.Background())
		_ = mp.Shutdown(context.Background())
	})
	return &telemetry{
		spans:  spans,
		reader: reader,
		opts:   []jqotel.Option{jqotel.WithTracerProvider(tp), jqotel.WithMeterProvider(mp)},
		tracer: tp.Tracer("test"),
	}
}

// ended returns the ended spans called name.
func (tm *telemetry) ended(name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range tm.spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// waitEnded waits until n spans called name have ended and returns them.
func (tm *telemetry) waitEnded(t *testing.T, name string, n int) []sdktrace.ReadOnlySpan {
	t.Helper()
	require.Eventually(t, func() bool { return len(tm.ended(name)) >= n }, 20*time.Second, 5*time.Millisecond,
		"%d spans %q ended", n, name)
	return tm.ended(name)
}

// collect reads every metric.
func (tm *telemetry) collect(t *testing.T) map[string]metricdata.Metrics {
	t.Helper()
	var rm metricdata.ResourceMetrics
	require.NoError(t, tm.reader.Collect(context.Background(), &rm))
	out := map[string]metricdata.Metrics{}
	for _, sm := range rm.ScopeMetrics {
		for _, m := range sm.Metrics {
			out[m.Name] = m
		}
	}
	return out
}

// sum adds up the points of an int64 sum or gauge whose attributes
// include attrs.
func sum(t *testing.T, m metricdata.Metrics, attrs ...attribute.KeyValue) int64 {
	t.Helper()
	var n int64
	add := func(set attribute.Set, v int64) {
		for _, kv := range attrs {
			if got, ok := set.Value(kv.Key); !ok || got != kv.Value {
				return
			}
		}
		n += v
	}
	switch d := m.Data.(type) {
	case metricdata.Sum[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes, p.Value)
		}
	case metricdata.Gauge[int64]:
		for _, p := range d.DataPoints {
			add(p.Attributes, p.Value)
		}
	default:
		t.Fatalf("metric %s: %T, want int64 sum or gauge", m.Name, m.Data)
	}
	return n
}

// newQueue opens a queue named after the test.
func newQueue(t *testing.T, b backend.Backend, opts ...jobqueue.Option) *jobqueue.Queue {
	t.Helper()
	name := strings.NewReplacer("/", ".", " ", "_").Replace(t.Name())
	q, err := jobqueue.New(b, name, opts...)
	require.NoError(t, err)
	return q
}

// work runs a Worker on q until the test ends.
func work(t *testing.T, q *jobqueue.Queue, h jobqueue.Handler, observers ...jobqueue.Observer) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- q.Work(ctx, h, jobqueue.WorkerOptions{
			Concurrency: 2, ClaimWait: 100 * time.Millisecond, Observers: observers,
		})
	}()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
			t.Errorf("worker: %v", err)
		}
	})
}

// outcomes is an Observer, listed after jqotel's, that tells the test of
// each step once jqotel has recorded it.
type outcomes struct {
	mu    sync.Mutex
	ended int
	on    func(jobqueue.AttemptEvent)
}

func (o *outcomes) AttemptStarted(ctx context.Context, _ *jobqueue.Job) context.Context { return ctx }

func (o *outcomes) AttemptEvent(_ context.Context, _ *jobqueue.Job, e jobqueue.AttemptEvent) {
	o.mu.Lock()
	if e.Kind == jobqueue.AttemptEnded {
		o.ended++
	}
	on := o.on
	o.mu.Unlock()
	if on != nil {
		on(e)
	}
}

// wait waits until n attempts have ended.
func (o *outcomes) wait(t *testing.T, n int) {
	t.Helper()
	require.Eventually(t, func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.ended >= n
	}, 20*time.Second, 5*time.Millisecond, "%d attempts ended", n)
}

// traceContext reads the trace context the job's headers carry.
func traceContext(h map[string]string) trace.SpanContext {
	return trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(), propagation.MapCarrier(h)))
}

// attr returns a span's attribute.
func attr(s sdktrace.ReadOnlySpan, k attribute.Key) attribute.Value {
	for _, kv := range s.Attributes() {
		if kv.Key == k {
			return kv.Value
		}
	}
	return attribute.Value{}
}

// events returns the names of a span's events.
func events(s sdktrace.ReadOnlySpan) []string {
	var out []string
	for _, e := range s.Events() {
		out = append(out, e.Name)
	}
	return out
}

// event returns a span's event called name.
func event(t *testing.T, s sdktrace.ReadOnlySpan, name string) sdktrace.Event {
	t.Helper()
	for _, e := range s.Events() {
		if e.Name == name {
			return e
		}
	}
	t.Fatalf("span %s has no %s event; it has %v", s.Name(), name, events(s))
	return sdktrace.Event{}
}
