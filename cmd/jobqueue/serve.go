package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"time"

	"github.com/jobqueue-go/jobqueue"
)

const defaultAddr = "127.0.0.1:8798"

func runServe(ctx context.Context, e *cmdEnv, args []string) int {
	fs := e.flagSet("serve", "[flags]", "Serve the demo's page: enqueue demo jobs, run a mock worker pool, watch the queue.\n"+accessHelp)
	var qf queueFlags
	qf.register(fs)
	var acc access
	acc.register(fs, defaultAddr)
	leaseMS := fs.Int("lease-ms", int(jobqueue.DefaultLease.Milliseconds()), "lease of a claim in `ms`: how long a hung job waits before a reclaim sweep can take it back")
	workers := fs.Int("workers", 0, fmt.Sprintf("start this many mock workers at once (0 to %d)", maxPoolSize))
	fs.IntVar(&qf.memory.jobs, "memory-max-jobs", demoMaxJobs, "on the memory backend, refuse enqueues (HTTP 507) past this many stored `jobs`, finished ones kept in a history included; 0 for no bound")
	maxMiB := fs.Int64("memory-max-mib", demoMaxMiB, "on the memory backend, refuse enqueues (HTTP 507) past this many `MiB` of jobs, by the backend's estimate; 0 for no bound")
	schedules := fs.Bool("schedules", true, "run a Scheduler with the demo's schedules on the queue: a webhook \"heartbeat\" @every 30s and an email \"digest\" at */5 * * * * (UTC)")
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		e.errorf("serve takes no arguments, got %q", pos)
		return exitUsage
	}
	if *leaseMS < 1 || *leaseMS > 3_600_000 {
		e.errorf("-lease-ms must be from 1 to 3600000, got %d", *leaseMS)
		return exitUsage
	}
	if *workers < 0 || *workers > maxPoolSize {
		e.errorf("-workers must be from 0 to %d, got %d", maxPoolSize, *workers)
		return exitUsage
	}
	if qf.memory.jobs < 0 || *maxMiB < 0 || *maxMiB > math.MaxInt64>>20 {
		e.errorf("-memory-max-jobs and -memory-max-mib must be 0 (no bound) or more, got %d and %d", qf.memory.jobs, *maxMiB)
		return exitUsage
	}
	qf.memory.bytes = *maxMiB << 20
	if err := qf.check(); err != nil {
		return e.fail(err)
	}

	ln, code := acc.listen(e)
	if ln == nil {
		return code
	}
	q, ob, err := e.openQueue(ctx, qf, true,
		jobqueue.WithLease(time.Duration(*leaseMS)*time.Millisecond),
		jobqueue.WithBackoff(demoBackoff))
	if err != nil {
		ln.Close()
		return e.fail(err)
	}
	defer ob.Close()

	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	srv := newServer(q, ob.desc, log)
	srv.hosts = acc.hosts

	warnConfig(ctx, q, log)
	fmt.Fprintf(e.stderr, "jobqueue: dashboard at %s\n", dashboardURL(ln.Addr()))
	fmt.Fprintf(e.stderr, "jobqueue: Prometheus metrics at %smetrics\n", dashboardURL(ln.Addr()))
	if *schedules {
		if err := srv.runSchedules(defaultDemoSchedules); err != nil {
			ln.Close()
			e.errorf("%v", err)
			return exitError
		}
	}
	if *workers > 0 {
		srv.pool.setSize(*workers)
	}

	err = e.serveHTTP(ctx, ln, acc.wrap(srv.handler()), log)
	// Stopping the pool hands its in-flight jobs back to pending.
	srv.close()
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// warnConfig logs what the backend finds risky in its store's settings
// (a Redis whose maxmemory-policy may evict queue keys), as serve starts.
func warnConfig(ctx context.Context, q *jobqueue.Queue, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(ctx, redisTimeout)
	defer cancel()
	warnings, err := q.CheckConfig(ctx)
	switch {
	case errors.Is(err, errors.ErrUnsupported):
		return
	case err != nil:
		log.Info("jobqueue: could not check the backend's settings", "err", err)
		return
	}
	for _, w := range warnings {
		log.Warn(w)
	}
}

// dashboardURL is the address to open in a browser: an unspecified IP
// (":8798") is reachable as localhost.
func dashboardURL(addr net.Addr) string {
	tcp, ok := addr.(*net.TCPAddr)
	if !ok {
		return "http://" + addr.String() + "/"
	}
	host := tcp.IP.String()
	if tcp.IP.IsUnspecified() {
		host = "localhost"
	}
	return "http://" + net.JoinHostPort(host, fmt.Sprint(tcp.Port)) + "/"
}

// serveHTTP serves h on ln until the server fails or ctx ends, then shuts
// it down, giving requests in flight 5 s; it returns the server's error
// (http.ErrServerClosed after a shutdown). Its errors go to log at WARN.
func (e *cmdEnv) serveHTTP(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	hs := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		return err
	case <-ctx.Done():
		fmt.Fprintln(e.stderr, "jobqueue: shutting down")
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		return hs.Shutdown(sctx)
	}
}
