// Package jqotel traces and measures jobqueue with OpenTelemetry.
//
// It has three parts, each wired on its own:
//
//   - EnqueueInterceptor, for a Queue (jobqueue.WithEnqueueInterceptor),
//     starts a producer span for each Enqueue and EnqueueBatch call and
//     injects its trace context (W3C traceparent and tracestate) into the
//     headers of every job it stores.
//   - NewObserver, for a Worker (WorkerOptions.Observers), starts a
//     consumer span for each attempt, puts it in the handler's context,
//     and records the attempt metrics.
//   - RegisterQueueMetrics reports the depths, counters, latency and
//     workers of queues (Queue.Stats) at each collection.
//
// # Traces
//
// A job's first attempt is a child of the span that enqueued it, in the
// same trace; so the handler's own spans are too:
//
//	publish emails                 (producer; the caller's span is its parent)
//	└── process emails             (consumer, attempt 1)
//	    └── spans of the handler and its middleware
//
// Every later attempt starts a trace of its own, with a link to the
// producer span, so that a job retried for hours does not stretch its
// producer's trace over hours. The attempt number is Job.Attempts, which
// a snooze gives back: a job snoozed before its first failure runs again
// as attempt 1, and that attempt too is a child of the producer span (the
// snoozed one is marked by its snoozed event and outcome).
//
// Span names and attributes follow the OpenTelemetry messaging semantic
// conventions: the spans are named "publish <queue>" and "process <queue>",
// messaging.system is "jobqueue", messaging.destination.name the queue,
// messaging.message.id the job id (messaging.batch.message_count for a
// batch); jobqueue.job.kind, jobqueue.job.attempt,
// jobqueue.job.max_attempts and jobqueue.outcome are this package's own.
//
// An attempt's span records events: claimed (with the lease's end),
// lease_renewed, lease_lost, and, as it ends, one of retry_scheduled (with
// the delay), snoozed, dead_lettered, released, outcome_refused (the lease
// had been lost, so the outcome was not recorded) or outcome_abandoned. A
// retried, dead, lost or abandoned attempt ends with status Error and its
// error recorded; the others leave the status Unset, as the OpenTelemetry
// spec asks of instrumentation libraries.
//
// # Metrics
//
// The Observer records jobqueue.handler.duration (s, histogram),
// jobqueue.attempts (counter), jobqueue.in_flight (up-down counter), by
// queue, kind and, once ended, outcome; and jobqueue.lease.renewals and
// jobqueue.lease.lost (counters) by queue. The kind attribute takes at
// most WithMaxKinds distinct values per Observer; the kinds seen after
// that are reported as "(other)", so that a producer that makes up kinds
// cannot grow the metrics without bound.
//
// RegisterQueueMetrics adds jobqueue.queue.jobs (by state),
// jobqueue.queue.latency, jobqueue.queue.workers, jobqueue.queue.up and
// the counters jobqueue.queue.enqueued, .claimed, .completed, .retried,
// .dead and .reclaimed.
//
// Only this package imports OpenTelemetry: a program that uses the
// jobqueue package alone does not build it.
package jqotel

import (
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobqueue-go/jobqueue/internal/kindcap"
)

// ScopeName is the instrumentation scope of the tracer and meter.
const ScopeName = "github.com/jobqueue-go/jobqueue/jqotel"

// DefaultMaxKinds is how many distinct kinds an Observer's metrics tell
// apart unless WithMaxKinds says otherwise.
const DefaultMaxKinds = 100

// OtherKind is the kind attribute of the jobs whose kind came after the
// first WithMaxKinds. No job kind can take this value (kinds are made of
// [A-Za-z0-9_.-]), so it never merges with a real kind.
const OtherKind = kindcap.Other

// maxListed bounds what one span lists per job: the ids of a batch, the
// jobs whose headers had no room for the trace context.
const maxListed = 16

// An Option configures EnqueueInterceptor, NewObserver and
// RegisterQueueMetrics.
type Option func(*config)

type config struct {
	tp       trace.TracerProvider
	mp       metric.MeterProvider
	prop     propagation.TextMapPropagator
	maxKinds int
}

func newConfig(opts []Option) config {
	c := config{maxKinds: DefaultMaxKinds}
	for _, o := range opts {
		if o != nil {
			o(&c)
		}
	}
	if c.tp == nil {
		c.tp = otel.GetTracerProvider()
	}
	if c.mp == nil {
		c.mp = otel.GetMeterProvider()
	}
	if c.prop == nil {
		c.prop = propagation.TraceContext{}
	}
	return c
}

func (c config) tracer() trace.Tracer { return c.tp.Tracer(ScopeName) }
func (c config) meter() metric.Meter  { return c.mp.Meter(ScopeName) }

// WithTracerProvider sets where spans go (default otel.GetTracerProvider(),
// read when the interceptor or Observer is made).
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *config) { c.tp = tp }
}

// WithMeterProvider sets where metrics go (default otel.GetMeterProvider(),
// read when the Observer is made or the queue metrics registered).
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *config) { c.mp = mp }
}

// WithPropagator sets how the trace context is written into and read from
// a job's headers (default the W3C Trace Context, propagation.TraceContext).
// Pass otel.GetTextMapPropagator() to use the global one. The header names
// it writes must be valid job header names (backend.ValidateHeaders).
func WithPropagator(p propagation.TextMapPropagator) Option {
	return func(c *config) { c.prop = p }
}

// WithMaxKinds sets how many distinct kinds the Observer's metrics tell
// apart (default DefaultMaxKinds); later kinds are reported as OtherKind.
// Spans always carry the job's own kind.
func WithMaxKinds(n int) Option {
	return func(c *config) {
		if n >= 0 {
			c.maxKinds = n
		}
	}
}

// Attribute keys of this package, next to the semantic conventions'.
const (
	KindKey        = attribute.Key("jobqueue.job.kind")
	AttemptKey     = attribute.Key("jobqueue.job.attempt")
	MaxAttemptsKey = attribute.Key("jobqueue.job.max_attempts")
	OutcomeKey     = attribute.Key("jobqueue.outcome")
	StateKey       = attribute.Key("jobqueue.state")
	// IDsKey lists the ids of a batch's first jobs on its producer span.
	IDsKey = attribute.Key("jobqueue.job.ids")
	// LeaseUntilKey is the lease's end (RFC 3339) on claimed and
	// lease_renewed events.
	LeaseUntilKey = attribute.Key("jobqueue.lease.until")
	// DelayKey is the wait before the next attempt, in milliseconds, on
	// retry_scheduled and snoozed events.
	DelayKey = attribute.Key("jobqueue.delay_ms")
	// ReasonKey says why, on lease_lost, outcome_refused,
	// outcome_abandoned and trace_context_not_injected events.
	ReasonKey = attribute.Key("jobqueue.reason")
	// NotInjectedKey counts, on a producer span, the jobs whose headers
	// did not take the trace context.
	NotInjectedKey = attribute.Key("jobqueue.trace_context.not_injected")
	// StoredKey is true on a producer span whose enqueue stored its jobs
	// but did not confirm them durable (ErrNotDurable): the span's status
	// is an error, yet the jobs are in the queue.
	StoredKey = attribute.Key("jobqueue.stored")
)

// system is messaging.system; the conventions list no value for us.
var system = semconv.MessagingSystemKey.String("jobqueue")
