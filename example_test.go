package jobqueue_test

import (
	"context"
	"fmt"
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
