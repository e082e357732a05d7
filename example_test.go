package jobqueue_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/memory"
)

type Email struct {
	To      string `json:"to"`
	Subject string `json:"subject"`
}

// Example enqueues a job, claims it and completes it on the in-memory
// backend. With Redis, only the backend changes: goredis.New(client) or
// rueidis.New(client).
func Example() {
	ctx := context.Background()
	q, err := jobqueue.New(memory.New(), "emails", jobqueue.WithLease(30*time.Second))
	if err != nil {
		panic(err)
	}

	id, err := q.Enqueue(ctx, Email{To: "ada@example.com", Subject: "Welcome"})
	if err != nil {
		panic(err)
	}

	jobs, err := q.Claim(ctx, 10, time.Second)
	if err != nil {
		panic(err)
	}
	for _, job := range jobs {
		var e Email
		if err := job.Decode(&e); err != nil {
			_ = job.Fail(ctx, jobqueue.Permanent(err))
			continue
		}
		fmt.Printf("sending %q to %s (attempt %d of %d)\n", e.Subject, e.To, job.Attempts, job.MaxAttempts)
		if err := job.Complete(ctx, map[string]string{"status": "sent"}); err != nil {
			panic(err)
		}
	}

	info, err := q.Get(ctx, id)
	if err != nil {
		panic(err)
	}
	stats, err := q.Stats(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("state:", info.State, "result:", string(info.Result))
	fmt.Println("completed:", stats.CompletedTotal, "pending:", stats.Pending)
	// Output:
	// sending "Welcome" to ada@example.com (attempt 1 of 3)
	// state: completed result: {"status":"sent"}
	// completed: 1 pending: 0
}

// ExampleJob_Fail shows the retry policy: a failed job is retried after the
// queue's backoff until it has used its attempts, then dead-lettered, where
// RetryDead can send it back.
func ExampleJob_Fail() {
	ctx := context.Background()
	q, _ := jobqueue.New(memory.New(), "webhooks",
		jobqueue.WithMaxAttempts(2),
		jobqueue.WithBackoff(nil), // retry at once; the default backs off exponentially
	)
	id, _ := q.Enqueue(ctx, map[string]string{"url": "https://example.com/hook"})

	for range 2 {
		jobs, _ := q.Claim(ctx, 1, time.Second)
		_ = jobs[0].Fail(ctx, fmt.Errorf("endpoint answered 503"))
	}
	info, _ := q.Get(ctx, id)
	fmt.Println(info.State, info.Attempts, info.LastError)

	_ = q.RetryDead(ctx, id)
	info, _ = q.Get(ctx, id)
	fmt.Println(info.State, info.Attempts)
	// Output:
	// dead 2 endpoint answered 503
	// pending 0
}

// Resize names no kind of its own: RegisterKind gives it one.
type Resize struct {
	Width int `json:"width"`
}

// ExampleRegister routes jobs by kind to typed handlers, with middleware
// around all of them and around one kind.
func ExampleRegister() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	q, _ := jobqueue.New(memory.New(), "app")

	mux := jobqueue.NewMux()
	logged := func(next jobqueue.Handler) jobqueue.Handler {
		return func(ctx context.Context, job *jobqueue.Job) (any, error) {
			res, err := next(ctx, job)
			fmt.Printf("%s done, err=%v\n", job.Kind, err)
			return res, err
		}
	}
	mux.Use(logged)
	// Email has a Kind method, which names its kind: "email".
	jobqueue.Register(mux, func(ctx context.Context, job *jobqueue.Job, e Email) error {
		fmt.Printf("sending %q to %s for tenant %s\n", e.Subject, e.To, job.Headers["tenant"])
		return nil
	}, jobqueue.WithTimeout(30*time.Second))
	jobqueue.RegisterKind(mux, "resize", func(ctx context.Context, job *jobqueue.Job, r Resize) error {
		fmt.Println("resizing to", r.Width)
		cancel() // the last job: stop the worker
		return nil
	})

	_, _ = q.Enqueue(ctx, Email{To: "ada@example.com", Subject: "Welcome"}, jobqueue.Headers(map[string]string{"tenant": "acme"}))
	_, _ = q.Enqueue(ctx, Resize{Width: 640}, jobqueue.Kind("resize"))

	// One handler at a time, so that the output keeps its order.
	if err := q.Work(ctx, mux.ServeJob, jobqueue.WorkerOptions{Concurrency: 1}); err != nil {
		panic(err)
	}
	// Output:
	// sending "Welcome" to ada@example.com for tenant acme
	// email done, err=<nil>
	// resizing to 640
	// resize done, err=<nil>
}

// ExamplePriority enqueues jobs at two levels: a claim takes the higher
// level first, oldest first within a level.
func ExamplePriority() {
	ctx := context.Background()
	q, _ := jobqueue.New(memory.New(), "reports")
	_, _ = q.Enqueue(ctx, "nightly report")
	_, _ = q.Enqueue(ctx, "report a customer waits for", jobqueue.Priority(jobqueue.MaxPriority))
	_, _ = q.Enqueue(ctx, "weekly report")

	jobs, _ := q.Claim(ctx, 3, time.Second)
	for _, job := range jobs {
		var name string
		_ = job.Decode(&name)
		fmt.Println(job.Priority, name)
		_ = job.Complete(ctx, nil)
	}
	// Output:
	// 3 report a customer waits for
	// 0 nightly report
	// 0 weekly report
}

// ExampleQueue_SetKindLimits lets at most one "video" job run at once,
// in every process, while the queue's other kinds run freely: the video
// jobs a claim cannot start wait, pending, and the jobs behind them start.
func ExampleQueue_SetKindLimits() {
	ctx := context.Background()
	q, _ := jobqueue.New(memory.New(), "media")
	_ = q.SetKindLimits(ctx, "video", jobqueue.Limits{Concurrency: 1})
	_, _ = q.Enqueue(ctx, "transcode a.mp4", jobqueue.Kind("video"))
	_, _ = q.Enqueue(ctx, "transcode b.mp4", jobqueue.Kind("video"))
	_, _ = q.Enqueue(ctx, "resize a.png", jobqueue.Kind("image"))

	jobs, _ := q.Claim(ctx, 10, 0)
	for _, job := range jobs {
		var name string
		_ = job.Decode(&name)
		fmt.Println(job.Kind, name)
	}
	st, _ := q.Stats(ctx)
	fmt.Println("pending:", st.Pending, "limits:", st.KindLimits)

	_ = jobs[0].Complete(ctx, nil) // frees the video slot
	jobs, _ = q.Claim(ctx, 10, 0)
	var name string
	_ = jobs[0].Decode(&name)
	fmt.Println(jobs[0].Kind, name)
	// Output:
	// video transcode a.mp4
	// image resize a.png
	// pending: 1 limits: map[video:concurrency 1]
	// video transcode b.mp4
}

// ExampleNewWorker serves two queues from one Worker: while both have a
// backlog, "critical" gets three claims for every one of "bulk"; an idle
// queue leaves its share to the other. One claimer per queue waits for
// work, however many handlers run.
func ExampleNewWorker() {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b := memory.New()
	critical, _ := jobqueue.New(b, "critical")
	bulk, _ := jobqueue.New(b, "bulk")
	_, _ = critical.EnqueueBatch(ctx, []any{1, 2, 3})
	_, _ = bulk.EnqueueBatch(ctx, []any{1, 2, 3})

	var handled atomic.Int32
	w, err := jobqueue.NewWorker(func(ctx context.Context, job *jobqueue.Job) (any, error) {
		if handled.Add(1) == 6 {
			cancel()
		}
		return nil, nil
	}, jobqueue.WorkerOptions{Concurrency: 4},
		jobqueue.Serve(critical, 3), jobqueue.Serve(bulk, 1))
	if err != nil {
		panic(err)
	}
	if err := w.Run(ctx); err != nil {
		panic(err)
	}
	fmt.Println("handled", handled.Load(), "jobs, completed", w.Stats().Completed)
	// Output:
	// handled 6 jobs, completed 6
}

// ExampleWithDurability makes a queue's enqueues and completions wait
// until one replica has them, and shows what to do with a job that was
// stored but not confirmed durable in time. The memory backend has no
// replicas and meets any Durability at once; on Redis, the wait is WAIT
// (see the README's "Durable enqueue").
func ExampleWithDurability() {
	ctx := context.Background()
	oneReplica := jobqueue.Durability{Replicas: 1, Timeout: time.Second}
	q, err := jobqueue.New(memory.New(), "payments",
		jobqueue.WithDurability(oneReplica),
		jobqueue.WithAckDurability(oneReplica))
	if err != nil {
		panic(err)
	}

	id, err := q.Enqueue(ctx, map[string]int{"cents": 1999})
	var nd *jobqueue.NotDurableError
	if errors.As(err, &nd) {
		// Stored on the master, not yet on a replica: wait once more. The
		// repeat carries the call's request id, so it stores nothing twice.
		err = nd.Retry(ctx)
	}
	if err != nil {
		// Still not durable, or not stored at all: the caller decides.
		panic(err)
	}
	fmt.Println("enqueued", id != "")

	jobs, err := q.Claim(ctx, 1, 0)
	if err != nil {
		panic(err)
	}
	// A completion not confirmed durable is recorded; completing again
	// waits again.
	if err := jobs[0].Complete(ctx, "charged"); err != nil && !errors.Is(err, jobqueue.ErrNotDurable) {
		panic(err)
	}
	info, err := q.Get(ctx, id)
	if err != nil {
		panic(err)
	}
	fmt.Println(info.State)
	// Output:
	// enqueued true
	// completed
}
