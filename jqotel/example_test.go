package jqotel_test

import (
	"context"
	"log"

	"go.opentelemetry.io/otel"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/jqotel"
	"github.com/jobqueue-go/jobqueue/memory"
)

// Example traces a queue's producers and workers and reports its metrics,
// through the global providers (otel.SetTracerProvider,
// otel.SetMeterProvider, set up with their exporters as usual). With
// Redis, only the backend changes.
func Example() {
	ctx := context.Background()
	q, err := jobqueue.New(memory.New(), "emails",
		jobqueue.WithEnqueueInterceptor(jqotel.EnqueueInterceptor()))
	if err != nil {
		log.Fatal(err)
	}
	reg, err := jqotel.RegisterQueueMetrics([]*jobqueue.Queue{q})
	if err != nil {
		log.Fatal(err)
	}
	defer func() { _ = reg.Unregister() }()

	// The producer span is a child of the span in ctx, if any.
	if _, err := q.Enqueue(ctx, map[string]string{"to": "ada@example.com"}, jobqueue.Kind("email")); err != nil {
		log.Fatal(err)
	}

	tracer := otel.Tracer("example")
	err = q.Work(ctx, func(ctx context.Context, job *jobqueue.Job) (any, error) {
		// ctx carries the attempt's span: this span is its child.
		_, span := tracer.Start(ctx, "send email")
		defer span.End()
		return nil, nil
	}, jobqueue.WorkerOptions{Observers: []jobqueue.Observer{jqotel.NewObserver()}})
	if err != nil {
		log.Fatal(err)
	}
}
