package memory_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/memory"
)

// A backend bounded to two jobs refuses the third enqueue with ErrFull,
// and stores nothing of it; a purge makes room again.
func ExampleWithMaxJobs() {
	ctx := context.Background()
	q, err := jobqueue.New(memory.New(memory.WithMaxJobs(2), memory.WithMaxBytes(64<<20)), "emails")
	if err != nil {
		panic(err)
	}
	for i := range 3 {
		_, err := q.Enqueue(ctx, i)
		fmt.Printf("job %d: full %v\n", i, errors.Is(err, jobqueue.ErrFull))
	}
	if err := q.Purge(ctx); err != nil {
		panic(err)
	}
	_, err = q.Enqueue(ctx, 3)
	fmt.Println("after a purge:", err)
	// Output:
	// job 0: full false
	// job 1: full false
	// job 2: full true
	// after a purge: <nil>
}
