package jqotel

import (
	"context"
	"errors"
	"maps"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// EnqueueInterceptor returns an interceptor (jobqueue.WithEnqueueInterceptor)
// that wraps each Enqueue and EnqueueBatch call in a producer span, a child
// of the span in the caller's context, and writes that span's trace
// context into every job's headers, where NewObserver finds it.
//
// A header the caller set is never overwritten: a job that already has a
// header of the propagator's (its own traceparent), or whose headers have
// no room left for the trace context (backend.ValidateHeaders: 32 headers,
// 8 KiB), is stored without it, and the span says so with a
// trace_context_not_injected event and the count in
// jobqueue.trace_context.not_injected. A failed call ends the span with
// status Error.
func EnqueueInterceptor(opts ...Option) jobqueue.EnqueueInterceptor {
	c := newConfig(opts)
	tracer := c.tracer()
	return func(ctx context.Context, queue string, jobs []jobqueue.NewJob, next jobqueue.EnqueueFunc) error {
		ctx, span := tracer.Start(ctx, "publish "+queue,
			trace.WithSpanKind(trace.SpanKindProducer),
			trace.WithAttributes(publishAttributes(queue, jobs)...))
		defer span.End()

		skipped := 0
		for i := range jobs {
			reason := inject(ctx, c.prop, &jobs[i])
			if reason == "" {
				continue
			}
			skipped++
			if skipped <= maxListed {
				span.AddEvent("trace_context_not_injected", trace.WithAttributes(
					semconv.MessagingMessageID(jobs[i].ID), ReasonKey.String(reason)))
			}
		}
		if skipped > 0 {
			span.SetAttributes(NotInjectedKey.Int(skipped))
		}

		if err := next(ctx, jobs); err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, err.Error())
			if errors.Is(err, jobqueue.ErrNotDurable) {
				span.SetAttributes(StoredKey.Bool(true))
			}
			return err
		}
		return nil
	}
}

// publishAttributes describes an enqueue call: the job's id, or a batch's
// size and its first ids; the kind when every job has the same.
func publishAttributes(queue string, jobs []jobqueue.NewJob) []attribute.KeyValue {
	attrs := []attribute.KeyValue{
		system,
		semconv.MessagingDestinationName(queue),
		semconv.MessagingOperationTypeSend,
		semconv.MessagingOperationName("publish"),
	}
	if len(jobs) == 1 {
		attrs = append(attrs, semconv.MessagingMessageID(jobs[0].ID))
	} else {
		ids := make([]string, 0, min(len(jobs), maxListed))
		for _, j := range jobs[:min(len(jobs), maxListed)] {
			ids = append(ids, j.ID)
		}
		attrs = append(attrs, semconv.MessagingBatchMessageCount(len(jobs)), IDsKey.StringSlice(ids))
	}
	if len(jobs) > 0 {
		kind := jobs[0].Kind
		for _, j := range jobs[1:] {
			if j.Kind != kind {
				return attrs
			}
		}
		if kind != "" {
			attrs = append(attrs, KindKey.String(kind))
		}
	}
	return attrs
}

// inject writes the trace context of ctx into the job's headers, all of it
// or none, and returns why it did not, or "" when it did (or there was
// none to write).
func inject(ctx context.Context, p propagation.TextMapPropagator, j *jobqueue.NewJob) string {
	carrier := propagation.MapCarrier{}
	p.Inject(ctx, carrier)
	if len(carrier) == 0 {
		return ""
	}
	for k := range carrier {
		if _, set := j.Headers[k]; set {
			return "the job already has a " + k + " header"
		}
	}
	h := make(map[string]string, len(j.Headers)+len(carrier))
	maps.Copy(h, j.Headers)
	maps.Copy(h, carrier)
	if err := backend.ValidateHeaders(h); err != nil {
		return "no room in the job's headers: " + err.Error()
	}
	j.Headers = h
	return ""
}
