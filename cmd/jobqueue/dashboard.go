package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/dashboard"
)

// defaultDashboardAddr is where the dashboard command listens by
// default: beside serve's port.
const defaultDashboardAddr = "127.0.0.1:8799"

func runDashboard(ctx context.Context, e *cmdEnv, args []string) int {
	fs := e.flagSet("dashboard", "[flags]", "Serve the dashboard (the dashboard package) of real queues: no mock workers, no enqueue, read-only unless -actions.\n"+accessHelp)
	var queues listFlag
	fs.Var(&queues, "queue", "a queue to show, by `name`; repeat for several (default "+defaultQueue+")")
	backendKind := fs.String("backend", backendAuto, "the Redis adapter: auto (go-redis; never falls back to memory), goredis or rueidis")
	actions := fs.Bool("actions", false, "allow changes: retry, delete and cancel jobs, retry or delete every dead job, pause and resume")
	var acc access
	acc.register(fs, defaultDashboardAddr)
	pos, code, ok := parse(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		e.errorf("dashboard takes no arguments, got %q", pos)
		return exitUsage
	}
	if *backendKind == backendMemory {
		// Another process's in-memory queue cannot be reached: the
		// dashboard would show an empty queue of its own.
		e.errorf("the dashboard shows queues kept in Redis; -backend memory would show an empty queue of this process")
		return exitUsage
	}
	if len(queues) == 0 {
		queues = listFlag{defaultQueue}
	}
	for _, name := range queues {
		if err := backend.ValidateQueueName(name); err != nil {
			e.errorf("-queue: %v", err)
			return exitUsage
		}
	}

	ln, code := acc.listen(e)
	if ln == nil {
		return code
	}

	qs, closeQs, err := e.dashboardQueues(ctx, *backendKind, queues)
	if err != nil {
		ln.Close()
		e.errorf("%v", err)
		return exitError
	}
	defer closeQs()

	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	opts := []dashboard.Option{dashboard.Logger(log), dashboard.AllowedHosts(acc.hosts...)}
	if !*actions {
		opts = append(opts, dashboard.ReadOnly())
	}
	h := acc.wrap(dashboard.New(qs, opts...))
	names := make([]string, len(qs))
	for i, q := range qs {
		names[i] = q.Name()
	}
	mode := "read-only (-actions allows changes)"
	if *actions {
		mode = "with actions"
	}
	fmt.Fprintf(e.stderr, "jobqueue: queues %s, %s\n", strings.Join(names, ", "), mode)
	fmt.Fprintf(e.stderr, "jobqueue: dashboard at %s\n", dashboardURL(ln.Addr()))

	err = e.serveHTTP(ctx, ln, h, log)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// dashboardQueues opens the queues named, all on one backend, or the one
// a test put in e.queue. The dashboard never falls back to memory: an
// empty in-process queue would show nothing true.
func (e *cmdEnv) dashboardQueues(ctx context.Context, kind string, names []string) ([]*jobqueue.Queue, func(), error) {
	if e.queue != nil {
		return []*jobqueue.Queue{e.queue}, func() {}, nil
	}
	ob, err := openBackend(ctx, kind, e.getenv("REDIS_URL"), e.getenv("REDIS_CA_FILE"), memoryBounds{})
	if err != nil {
		return nil, nil, err
	}
	if ob.note != "" {
		ob.Close()
		return nil, nil, fmt.Errorf("jobqueue: %s; the dashboard needs the Redis that holds the queues", ob.note)
	}
	fmt.Fprintf(e.stderr, "jobqueue: on %s\n", ob.desc)
	qs := make([]*jobqueue.Queue, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		// The queue gets the adapter itself, so it sees the adapter's
		// optional capabilities (history, pause, cancel).
		q, err := jobqueue.New(ob.Backend, name)
		if err != nil {
			ob.Close()
			return nil, nil, err
		}
		qs = append(qs, q)
	}
	return qs, ob.Close, nil
}
