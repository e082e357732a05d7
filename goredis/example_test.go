package goredis_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redis/go-redis/v9"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/goredis"
)

// redisAddr is the Redis server of the Examples; TestMain points it at a
// server of their own.
var redisAddr = "localhost:6379"

// Example runs a queue on Redis through go-redis: it enqueues a job and
// lets a worker pool run it.
func Example() {
	ctx := context.Background()

	client := redis.NewClient(&redis.Options{Addr: redisAddr})
	defer client.Close()
	b := goredis.New(client)
	defer b.Close() // deferred last, so it runs before client.Close

	q, err := jobqueue.New(b, "emails")
	if err != nil {
		log.Fatal(err)
	}
	id, err := q.Enqueue(ctx, map[string]string{"to": "ada@example.com", "subject": "Welcome"})
	if err != nil {
		log.Fatal(err)
	}

	// Work runs until its context is cancelled; a real program cancels it
	// on a signal, this one once its job has run.
	wctx, stop := context.WithCancel(ctx)
	err = q.Work(wctx, func(ctx context.Context, job *jobqueue.Job) (any, error) {
		var email map[string]string
		if err := job.Decode(&email); err != nil {
			return nil, jobqueue.Permanent(err)
		}
		fmt.Printf("sending %q to %s\n", email["subject"], email["to"])
		stop()
		return "sent", nil
	}, jobqueue.WorkerOptions{Concurrency: 10})
	if err != nil {
		log.Fatal(err)
	}

	info, err := q.Get(ctx, id)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(info.State, string(info.Result))
	// Output:
	// sending "Welcome" to ada@example.com
	// completed "sent"
}
