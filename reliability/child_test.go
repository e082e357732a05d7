package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"go.uber.org/goleak"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/shard"
)

// envChild carries a worker child's configuration, as JSON; its presence
// makes the test binary run as that worker instead of running tests.
const envChild = "JOBQUEUE_RELIABILITY_CHILD"

func isChild() bool { return os.Getenv(envChild) != "" }

// childConfig is what a worker child runs.
type childConfig struct {
	Adapter string // "goredis" or "rueidis"
	URL     string
	Queue   string
	// Shards, when 2 or more, shards the queue (package shard) over that
	// many physical queues of the one server.
	Shards      int
	Concurrency int
	Lease       time.Duration
	Heartbeat   time.Duration
	Reclaim     time.Duration
	ClaimWait   time.Duration
	// Work is how long each handler runs; it ignores its context, as a
	// handler stuck in a call without a deadline would, so a worker that
	// lost its lease still tries to complete.
	Work time.Duration
	// Manual makes the child claim and complete jobs itself, with no
	// Worker and so no heartbeat: a worker that only ever sends its
	// outcome, however late. Its completions are recorded one by one.
	Manual bool
	// Records is the file the child appends its run records to; Log gets
	// its worker's log as JSON lines.
	Records, Log string
}

// A child's records file holds one line per handler start and end and, when the
// child stops gracefully, its final counters and leak check:
//
//	run <job id> <attempt> <start, Unix ns> <the claim's lease end, Unix ms on the store's clock>
//	stop <job id> <attempt> <end, Unix ns>   (when the handler returns)
//	ack <job id> <attempt> ok|refused|<error> <run start> <when sent>   (Manual only)
//	stats <WorkerStats as JSON>
//	leaks <goleak's report, or "none">
//
// Each line is one write(2) to a file opened for appending, so lines of a
// child killed at any moment are whole, and the kernel keeps them.

// runResult is what every handler returns; the completed job keeps it, so
// the checker can tell which claim's completion was accepted.
type runResult struct {
	Attempt int `json:"attempt"`
	PID     int `json:"pid"`
}

// runChild is the worker process: it drains the queue until SIGTERM, or
// until its stdin (a pipe from the test) closes because the test died.
func runChild() int {
	var cfg childConfig
	if err := json.Unmarshal([]byte(os.Getenv(envChild)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child: bad config:", err)
		return 2
	}
	if err := child(cfg); err != nil {
		fmt.Fprintln(os.Stderr, "child:", err)
		return 1
	}
	return 0
}

func child(cfg childConfig) error {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(3) // the test is gone
	}()
	baseline := goleak.IgnoreCurrent()

	records, err := os.OpenFile(cfg.Records, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer records.Close()
	logFile, err := os.OpenFile(cfg.Log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	logger := slog.New(slog.NewJSONHandler(logFile, &slog.HandlerOptions{Level: slog.LevelDebug}))

	b, closeBackend, err := openAdapter(cfg.Adapter, cfg.URL)
	if err != nil {
		return err
	}
	q, err := openQueue(b, cfg)
	if err != nil {
		closeBackend()
		return err
	}
	pid := os.Getpid()
	handler := func(ctx context.Context, job *jobqueue.Job) (any, error) {
		if _, err := fmt.Fprintf(records, "run %s %d %d %d\n", job.ID, job.Attempts, time.Now().UnixNano(), job.LeaseUntil.UnixMilli()); err != nil {
			return nil, err
		}
		time.Sleep(cfg.Work)
		if _, err := fmt.Fprintf(records, "stop %s %d %d\n", job.ID, job.Attempts, time.Now().UnixNano()); err != nil {
			return nil, err
		}
		return runResult{Attempt: job.Attempts, PID: pid}, nil
	}
	var stats jobqueue.WorkerStats
	var runErr error
	if cfg.Manual {
		runErr = manual(ctx, q, cfg, handler, records)
	} else {
		w, err := q.NewWorker(handler, jobqueue.WorkerOptions{
			Concurrency:       cfg.Concurrency,
			ClaimWait:         cfg.ClaimWait,
			HeartbeatInterval: cfg.Heartbeat,
			ReclaimInterval:   cfg.Reclaim,
			ShutdownGrace:     10 * time.Second,
			Logger:            logger,
		})
		if err != nil {
			closeBackend()
			return err
		}
		runErr = w.Run(ctx)
		stats = w.Stats()
	}
	closeBackend()
	raw, _ := json.Marshal(stats)
	fmt.Fprintf(records, "stats %s\n", raw)
	leaks := "none"
	if err := findLeaks(baseline); err != nil {
		leaks = fmt.Sprintf("%q", err.Error())
	}
	fmt.Fprintf(records, "leaks %s\n", leaks)
	return runErr
}

// manual claims up to cfg.Concurrency jobs at a time, runs them at once
// and completes each as its handler returns, recording what the backend said,
// until ctx ends.
func manual(ctx context.Context, q *jobqueue.Queue, cfg childConfig, h jobqueue.Handler, records *os.File) error {
	for ctx.Err() == nil {
		jobs, err := q.Claim(ctx, cfg.Concurrency, cfg.ClaimWait)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			time.Sleep(50 * time.Millisecond)
			continue
		}
		var wg sync.WaitGroup
		for _, job := range jobs {
			wg.Go(func() {
				started := time.Now().UnixNano()
				result, _ := h(ctx, job)
				sent := time.Now().UnixNano()
				said := "ok"
				switch err := job.Complete(context.WithoutCancel(ctx), result); {
				case errors.Is(err, jobqueue.ErrLostClaim):
					said = "refused"
				case err != nil:
					said = strconv.Quote(err.Error())
				}
				fmt.Fprintf(records, "ack %s %d %s %d %d\n", job.ID, job.Attempts, said, started, sent)
			})
		}
		wg.Wait()
	}
	return nil
}

// openQueue opens the scenario's queue with the policy every process of a
// scenario shares: history long enough to hold every job for the checks.
func openQueue(b backend.Backend, cfg childConfig) (*jobqueue.Queue, error) {
	if cfg.Shards > 1 {
		sb, err := shard.New(b, map[string]int{cfg.Queue: cfg.Shards})
		if err != nil {
			return nil, err
		}
		b = sb
	}
	return jobqueue.New(b, cfg.Queue,
		jobqueue.WithLease(cfg.Lease),
		jobqueue.WithCompletedRetention(1_000_000, time.Hour),
		jobqueue.WithDeadRetention(1_000_000, time.Hour),
		jobqueue.WithBackoff(jobqueue.ConstantBackoff(10*time.Millisecond)),
	)
}
