package rueidis_test

import (
	"context"
	"fmt"
	"log"

	"github.com/redis/rueidis"

	"github.com/jobqueue-go/jobqueue"
	jqrueidis "github.com/jobqueue-go/jobqueue/rueidis"
)

// redisAddr is the Redis server of the Examples; TestMain points it at a
// server of their own.
var redisAddr = "localhost:6379"

// Example runs a queue on Redis through rueidis: it enqueues a job and
// lets a worker pool run it. This package and the client library have the
// same name, so one of them is imported under another.
func Example() {
	ctx := context.Background()

	client, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress:  []string{redisAddr},
		DisableRetry: true, // the Queue repeats its calls itself
	})
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	b := jqrueidis.New(client)
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
