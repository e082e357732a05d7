package main

import (
	"context"
	"encoding/json"

	"github.com/redis/go-redis/v9"
	rueidislib "github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/goredis"
	"github.com/jobqueue-go/jobqueue/rueidis"
)

// jobqueueSubject is jobqueue on either Redis adapter: the queue "bench"
// with the Queue's defaults, and a Worker with the Worker's defaults
// except Concurrency.
type jobqueueSubject struct {
	q *jobqueue.Queue
	// close closes the backend, then the client.
	close func()
}

func openJobqueueGoRedis(_ context.Context, addr string) (subject, error) {
	c := redis.NewClient(&redis.Options{Addr: addr})
	b := goredis.New(c)
	return newJobqueueSubject(b, func() { b.Close(); _ = c.Close() })
}

func openJobqueueRueidis(_ context.Context, addr string) (subject, error) {
	// DisableRetry as the README advises: the Queue repeats its calls
	// itself.
	c, err := rueidislib.NewClient(rueidislib.ClientOption{InitAddress: []string{addr}, DisableRetry: true})
	if err != nil {
		return nil, err
	}
	b := rueidis.New(c)
	return newJobqueueSubject(b, func() { b.Close(); c.Close() })
}

func newJobqueueSubject(b backend.Backend, close func()) (subject, error) {
	q, err := jobqueue.New(b, "bench")
	if err != nil {
		close()
		return nil, err
	}
	return &jobqueueSubject{q: q, close: close}, nil
}

func (s *jobqueueSubject) EnqueueOne(ctx context.Context, payload []byte) error {
	_, err := s.q.Enqueue(ctx, json.RawMessage(payload))
	return err
}

func (s *jobqueueSubject) EnqueueBatch(ctx context.Context, payloads [][]byte) error {
	vs := make([]any, len(payloads))
	for i, p := range payloads {
		vs[i] = json.RawMessage(p)
	}
	_, err := s.q.EnqueueBatch(ctx, vs)
	return err
}

func (s *jobqueueSubject) StartWorkers(ctx context.Context, n int, handler func([]byte)) (func(), error) {
	w, err := s.q.NewWorker(func(_ context.Context, j *jobqueue.Job) (any, error) {
		handler(j.Payload)
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: n})
	if err != nil {
		return nil, err
	}
	return runUntilStopped(ctx, func(ctx context.Context) { _ = w.Run(ctx) }), nil
}

func (s *jobqueueSubject) Close() error {
	s.close()
	return nil
}

// runUntilStopped runs run in a goroutine with a context that the
// returned stop cancels; stop returns once run has returned.
func runUntilStopped(ctx context.Context, run func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); run(ctx) }()
	return func() { cancel(); <-done }
}
