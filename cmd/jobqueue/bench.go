package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"io"
	"os"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/internal/load"
)

// runBench is "jobqueue bench": the load generator of internal/load pointed
// at the backend the flags choose. It works in a fresh queue of its own,
// which it removes at the end, so it can run against a Redis that serves
// other queues, and leaves no key behind; Redis-wide figures (commands, CPU) include whatever else
// that server does meanwhile.
func runBench(ctx context.Context, e *cmdEnv, args []string) int {
	fs := e.flagSet("bench", "[flags]", "Enqueue jobs from producers, drain them with a worker pool, and print a report.")
	var qf queueFlags
	qf.register(fs)
	jobs := fs.Int("jobs", load.DefaultJobs, "jobs to enqueue and drain (throughput mode)")
	producers := fs.Int("producers", load.DefaultProducers, "goroutines enqueuing (throughput mode)")
	batch := fs.Int("batch", 1, "jobs per enqueue call; more than 1 uses EnqueueBatch")
	workers := fs.Int("workers", load.DefaultWorkers, "worker concurrency")
	payload := fs.Int("payload", load.DefaultPayload, "payload size in `bytes`")
	rate := fs.Float64("rate", 0, "latency mode: offer this many jobs per second from one paced producer instead")
	duration := fs.Duration("duration", load.DefaultDuration, "how long the latency mode offers jobs")
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	for _, c := range []struct {
		name string
		ok   bool
	}{{"-jobs", *jobs > 0}, {"-producers", *producers > 0}, {"-batch", *batch > 0}, {"-workers", *workers > 0},
		{"-payload", *payload > 0}, {"-rate", *rate >= 0}, {"-duration", *duration > 0}} {
		if !c.ok {
			e.errorf("%s must be positive", c.name)
			return exitUsage
		}
	}
	// A queue of its own: the load generator refuses a queue with work in
	// it, and the purge at the end must not touch anyone else's jobs.
	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	qf.queue += "-bench-" + hex.EncodeToString(suffix[:])

	// Unlisted: a registration still on its way when the run ends would
	// list the queue again after its removal.
	q, ob, err := e.openQueue(ctx, qf, true, jobqueue.WithLease(30*time.Second), jobqueue.WithoutRegistry())
	if err != nil {
		return e.fail(err)
	}
	defer func() {
		pctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		if err := ob.Remove(pctx, q); err != nil {
			e.errorf("removing %s: %v", q.Name(), err)
		}
		ob.Close()
	}()

	rep, err := load.Run(ctx, load.Config{
		Name: ob.kind, Queue: q, Info: ob.info,
		Jobs: *jobs, Producers: *producers, Batch: *batch, Workers: *workers, Payload: *payload,
		Rate: *rate, Duration: *duration,
	}, e.progress())
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if err := rep.WriteTable(e.stdout); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// progress is where the load generator draws its progress bar: stderr when
// it is a terminal, nowhere otherwise.
func (e *cmdEnv) progress() io.Writer {
	if f, ok := e.stderr.(*os.File); ok {
		if w := load.Terminal(f); w != nil {
			return w
		}
	}
	return nil
}
