package reliability

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"go.uber.org/goleak"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// envChild carries a worker child's configuration, as JSON; its presence
// makes the test binary run as that worker instead of running tests.
const envChild = "JOBQUEUE_RELIABILITY_CHILD"

func isChild() bool { return os.Getenv(envChild) != "" }

// childConfig is what a worker child runs.
type childConfig struct {
	Adapter     string // "goredis" or "rueidis"
	URL         string
	Queue       string
	Concurrency int
	Visibility  time.Duration
	Heartbeat   time.Duration
	Reclaim     time.Duration
	ClaimWait   time.Duration
	// Work is how long each handler runs; it ignores its context, as a
	// handler stuck in a call without a deadline would, so a worker that
	// lost its lease still tries to complete.
	Work time.Duration
	// Records is the file the child appends its run records to; Log gets
	// its worker's log as JSON lines.
	Records, Log string
}

// A child's records file holds one line per handler start and, when the
// child stops gracefully, its final counters and leak check:
//
//	run <job id> <attempt>
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
	q, err := openQueue(b, cfg.Queue, cfg.Visibility)
	if err != nil {
		closeBackend()
		return err
	}
	pid := os.Getpid()
	w, err := q.NewWorker(func(ctx context.Context, job *jobqueue.Job) (any, error) {
		if _, err := fmt.Fprintf(records, "run %s %d\n", job.ID, job.Attempts); err != nil {
			return nil, err
		}
		time.Sleep(cfg.Work)
		return runResult{Attempt: job.Attempts, PID: pid}, nil
	}, jobqueue.WorkerOptions{
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
	runErr := w.Run(ctx)
	closeBackend()
	stats, _ := json.Marshal(w.Stats())
	fmt.Fprintf(records, "stats %s\n", stats)
	leaks := "none"
	if err := goleak.Find(baseline); err != nil {
		leaks = fmt.Sprintf("%q", err.Error())
	}
	fmt.Fprintf(records, "leaks %s\n", leaks)
	return runErr
}

// openQueue opens the scenario's queue with the policy every process of a
// scenario shares: history long enough to hold every job for the checks.
func openQueue(b backend.Backend, name string, visibility time.Duration) (*jobqueue.Queue, error) {
	return jobqueue.New(b, name,
		jobqueue.WithVisibility(visibility),
		jobqueue.WithCompletedRetention(1_000_000, time.Hour),
		jobqueue.WithFailedRetention(1_000_000, time.Hour),
		jobqueue.WithBackoff(jobqueue.ConstantBackoff(10*time.Millisecond)),
	)
}
