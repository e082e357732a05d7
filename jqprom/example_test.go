package jqprom_test

import (
	"context"
	"fmt"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/jqprom"
	"github.com/jobqueue-go/jobqueue/memory"
)

// Example exports a queue's metrics: a Collector reads the queue's shared
// state at each scrape, and an Observer counts what this process's Worker
// does. With Redis, only the backend changes.
func Example() {
	q, err := jobqueue.New(memory.New(), "emails")
	if err != nil {
		panic(err)
	}
	obs := jqprom.NewObserver()
	reg := prometheus.NewRegistry()
	reg.MustRegister(jqprom.NewCollector([]*jobqueue.Queue{q}), obs)
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))

	w, err := q.NewWorker(func(ctx context.Context, j *jobqueue.Job) (any, error) {
		return nil, nil // send the email
	}, jobqueue.WorkerOptions{Observers: []jobqueue.Observer{obs}})
	if err != nil {
		panic(err)
	}
	_ = w // go w.Run(ctx); http.ListenAndServe(":9090", mux)

	if _, err := q.Enqueue(context.Background(), map[string]string{"to": "ada@example.com"}); err != nil {
		panic(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		panic(err)
	}
	for _, f := range fams {
		for _, m := range f.GetMetric() {
			if f.GetName() == "jobqueue_jobs" && m.GetGauge().GetValue() > 0 || f.GetName() == "jobqueue_up" {
				fmt.Print(f.GetName())
				for _, l := range m.GetLabel() {
					fmt.Printf(" %s=%s", l.GetName(), l.GetValue())
				}
				fmt.Println("", m.GetGauge().GetValue())
			}
		}
	}
	// Output:
	// jobqueue_jobs queue=emails state=pending 1
	// jobqueue_up queue=emails 1
}
