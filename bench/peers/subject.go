package main

import (
	"context"
	"errors"
)

// subject is one queue library opened on one Redis server, driven through
// the library's own public API with its defaults. A subject is opened for
// one workload and closed after it.
type subject interface {
	// EnqueueOne stores one job with the library's single-job call.
	EnqueueOne(ctx context.Context, payload []byte) error
	// EnqueueBatch stores the jobs with the library's batch call, one
	// round trip for all of them; errNoBatch when it has none.
	EnqueueBatch(ctx context.Context, payloads [][]byte) error
	// StartWorkers starts the library's workers with n handlers, each job
	// running handler with the payload it was enqueued with. stop stops
	// them and returns once they have stopped.
	StartWorkers(ctx context.Context, n int, handler func(payload []byte)) (stop func(), err error)
	// Close releases the subject's clients; the workers are stopped
	// first.
	Close() error
}

// errNoBatch is EnqueueBatch's error for a library with no batch call
// that takes one round trip.
var errNoBatch = errors.New("no one-round-trip batch enqueue")

// library names a subject and opens one on a server.
type library struct {
	name string
	// peer is false for jobqueue itself.
	peer bool
	open func(ctx context.Context, addr string) (subject, error)
}

// libraries are the subjects of the comparison, in the order of the
// table.
var libraries = []library{
	{"jobqueue (go-redis)", false, openJobqueueGoRedis},
	{"jobqueue (rueidis)", false, openJobqueueRueidis},
	{"asynq v0.26.0", true, openAsynq},
	{"gocraft/work v0.5.1", true, openGocraft},
	{"rmq v5.2.0", true, openRmq},
	{"BLMOVE recipe (go-redis)", true, openRecipe},
}
