package jqotel

import (
	"context"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/internal/kindcap"
)

// NewObserver returns a Worker Observer (WorkerOptions.Observers) that
// traces each attempt in a consumer span, which the handler's context
// carries, and records the attempt metrics; see the package doc for the
// span tree, the events and the metric names.
func NewObserver(opts ...Option) jobqueue.Observer {
	c := newConfig(opts)
	m := c.meter()
	o := &observer{
		tracer: c.tracer(),
		prop:   c.prop,
		kinds:  kindcap.New(c.maxKinds),
	}
	o.key = attemptKey{o}
	o.duration = instrument(m.Float64Histogram("jobqueue.handler.duration",
		metric.WithUnit("s"),
		metric.WithDescription("How long handlers ran, middleware included, by queue, kind and outcome."),
		metric.WithExplicitBucketBoundaries(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)))
	o.attempts = instrument(m.Int64Counter("jobqueue.attempts",
		metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts ended, by queue, kind and outcome.")))
	o.inFlight = instrument(m.Int64UpDownCounter("jobqueue.in_flight",
		metric.WithUnit("{attempt}"),
		metric.WithDescription("Attempts running or waiting for their outcome to be recorded, by queue and kind.")))
	o.renewals = instrument(m.Int64Counter("jobqueue.lease.renewals",
		metric.WithUnit("{renewal}"),
		metric.WithDescription("Leases renewed by heartbeats, by queue.")))
	o.lost = instrument(m.Int64Counter("jobqueue.lease.lost",
		metric.WithUnit("{lease}"),
		metric.WithDescription("Leases a heartbeat found lost while the handler ran, by queue.")))
	return o
}

// instrument returns i, handing err to OpenTelemetry's error handler: a
// meter gives a usable instrument with its error.
func instrument[I any](i I, err error) I {
	if err != nil {
		otel.Handle(err)
	}
	return i
}

type observer struct {
	tracer   trace.Tracer
	prop     propagation.TextMapPropagator
	kinds    *kindcap.Cap
	key      attemptKey
	duration metric.Float64Histogram
	attempts metric.Int64Counter
	inFlight metric.Int64UpDownCounter
	renewals metric.Int64Counter
	lost     metric.Int64Counter
}

// attemptKey keys an attempt's state in the context AttemptStarted
// returns, one key per observer, so that another observer's span in the
// same context is never taken for ours.
type attemptKey struct{ o *observer }

// attempt is what AttemptEvent needs of AttemptStarted's work.
type attempt struct {
	span  trace.Span
	queue attribute.KeyValue
	kind  attribute.KeyValue // the metrics' kind, capped
}

func (o *observer) AttemptStarted(ctx context.Context, j *jobqueue.Job) context.Context {
	queue := queueName(j)
	opts := []trace.SpanStartOption{
		trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			system,
			semconv.MessagingDestinationName(queue),
			semconv.MessagingOperationTypeProcess,
			semconv.MessagingOperationName("process"),
			semconv.MessagingMessageID(j.ID),
			KindKey.String(j.Kind),
			AttemptKey.Int(j.Attempts),
			MaxAttemptsKey.Int(j.MaxAttempts),
		),
	}
	producer := trace.SpanContextFromContext(o.prop.Extract(context.Background(), propagation.MapCarrier(j.Headers)))
	switch {
	case producer.IsValid() && j.Attempts <= 1:
		// The first attempt (or one after snoozes only) belongs to the
		// producer's trace.
		ctx = trace.ContextWithRemoteSpanContext(ctx, producer)
	case producer.IsValid():
		opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: producer}))
	default:
		// Enqueued untraced: whatever span the Worker's context holds is
		// not this job's parent.
		opts = append(opts, trace.WithNewRoot())
	}
	ctx, span := o.tracer.Start(ctx, "process "+queue, opts...)
	if span.IsRecording() {
		span.AddEvent("claimed", trace.WithAttributes(LeaseUntilKey.String(formatTime(j.LeaseUntil))))
	}

	a := &attempt{
		span:  span,
		queue: semconv.MessagingDestinationName(queue),
		kind:  KindKey.String(o.kinds.Label(j.Kind)),
	}
	o.inFlight.Add(ctx, 1, metric.WithAttributes(a.queue, a.kind))
	return context.WithValue(ctx, o.key, a)
}

func (o *observer) AttemptEvent(ctx context.Context, j *jobqueue.Job, e jobqueue.AttemptEvent) {
	a, _ := ctx.Value(o.key).(*attempt)
	if a == nil {
		return // AttemptStarted was some other observer's
	}
	switch e.Kind {
	case jobqueue.AttemptLeaseRenewed:
		o.renewals.Add(ctx, 1, metric.WithAttributes(a.queue))
		a.span.AddEvent("lease_renewed", trace.WithAttributes(LeaseUntilKey.String(formatTime(e.LeaseUntil))))
	case jobqueue.AttemptLeaseLost:
		o.lost.Add(ctx, 1, metric.WithAttributes(a.queue))
		a.span.AddEvent("lease_lost", trace.WithAttributes(reason(e.Err)...))
	case jobqueue.AttemptEnded:
		o.ended(ctx, a, e)
	}
}

// ended records an attempt's outcome and ends its span.
func (o *observer) ended(ctx context.Context, a *attempt, e jobqueue.AttemptEvent) {
	outcome := OutcomeKey.String(string(e.Outcome))
	o.inFlight.Add(ctx, -1, metric.WithAttributes(a.queue, a.kind))
	o.attempts.Add(ctx, 1, metric.WithAttributes(a.queue, a.kind, outcome))
	if e.Outcome != jobqueue.OutcomeReleased {
		// A released attempt's handler had not returned: it has no
		// duration.
		o.duration.Record(ctx, e.Duration.Seconds(), metric.WithAttributes(a.queue, a.kind, outcome))
	}

	s := a.span
	s.SetAttributes(outcome)
	failed := false
	switch e.Outcome {
	case jobqueue.OutcomeCompleted:
		// Status left Unset: the OpenTelemetry spec reserves Ok for an
		// application's own decision, not an instrumentation library's.
	case jobqueue.OutcomeRetried:
		s.AddEvent("retry_scheduled", trace.WithAttributes(DelayKey.Int64(e.Delay.Milliseconds())))
		failed = true
	case jobqueue.OutcomeSnoozed:
		s.AddEvent("snoozed", trace.WithAttributes(DelayKey.Int64(e.Delay.Milliseconds())))
	case jobqueue.OutcomeDead:
		s.AddEvent("dead_lettered")
		failed = true
	case jobqueue.OutcomeReleased:
		s.AddEvent("released")
	case jobqueue.OutcomeLost:
		s.AddEvent("outcome_refused", trace.WithAttributes(reason(e.Err)...))
		failed = true
	case jobqueue.OutcomeAbandoned:
		s.AddEvent("outcome_abandoned", trace.WithAttributes(reason(e.Err)...))
		failed = true
	case jobqueue.OutcomeCancelled:
		// Someone's decision, not a failure of the attempt.
		s.AddEvent("cancelled")
	}
	if failed {
		msg := "attempt " + string(e.Outcome)
		if e.Err != nil {
			s.RecordError(e.Err)
			msg = e.Err.Error()
		}
		s.SetStatus(codes.Error, msg)
	}
	s.End()
}

func reason(err error) []attribute.KeyValue {
	if err == nil {
		return nil
	}
	return []attribute.KeyValue{ReasonKey.String(err.Error())}
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// queueName is the name of the queue the job was claimed from.
func queueName(j *jobqueue.Job) string {
	if q := j.Queue(); q != nil {
		return q.Name()
	}
	return ""
}
