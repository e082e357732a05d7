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
	"github.com/jobqueue-go/jobqueue/internal/redisq"
)

// defaultDashboardAddr is where the dashboard command listens by
// default: beside serve's port.
const defaultDashboardAddr = "127.0.0.1:8799"

func runDashboard(ctx context.Context, e *cmdEnv, args []string) int {
	fs := e.flagSet("dashboard", "[flags]", "Serve the dashboard (the dashboard package) of real queues: no mock workers, no enqueue, read-only unless -actions.\n"+
		"Without -queue it shows every queue registered in the store, and those registered while it runs.\n"+accessHelp)
	var queues listFlag
	fs.Var(&queues, "queue", "a queue to show, by `name`; repeat for several (default: every queue registered in the store, as \"jobqueue queues\" lists them)")
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
		return e.fail(memoryRefused("the dashboard's queues"))
	}
	// Without -queue, the dashboard shows every queue of the registry.
	discover := len(queues) == 0
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

	b, closeB, err := e.storeBackend(ctx, *backendKind, "the dashboard's queues")
	if err != nil {
		ln.Close()
		return e.fail(err)
	}
	defer closeB()
	qs, err := dashboardQueues(b, queues)
	if err != nil {
		ln.Close()
		return e.fail(err)
	}

	log := slog.New(slog.NewTextHandler(e.stderr, nil))
	opts := []dashboard.Option{dashboard.Logger(log), dashboard.AllowedHosts(acc.hosts...)}
	if !*actions {
		opts = append(opts, dashboard.ReadOnly())
	}
	var shown string
	if discover {
		// The registry is read once now, so that a store where it cannot
		// be read (an ACL without it) is told at once, with the way out.
		entries, err := jobqueue.Queues(ctx, b)
		if err != nil {
			ln.Close()
			return e.fail(fmt.Errorf("%w (name the queues with -queue; an ACL user needs ~%s)", err, redisq.RegistryKey))
		}
		opts = append(opts, dashboard.Discover(b))
		shown = fmt.Sprintf("every queue registered in the store (%d now), read again every %v", len(entries), dashboard.DiscoverInterval)
	} else {
		names := make([]string, len(qs))
		for i, q := range qs {
			names[i] = q.Name()
		}
		shown = "queues " + strings.Join(names, ", ")
	}
	h := acc.wrap(dashboard.New(qs, opts...))
	mode := "read-only (-actions allows changes)"
	if *actions {
		mode = "with actions"
	}
	fmt.Fprintf(e.stderr, "jobqueue: %s, %s\n", shown, mode)
	fmt.Fprintf(e.stderr, "jobqueue: dashboard at %s\n", dashboardURL(ln.Addr()))

	err = e.serveHTTP(ctx, ln, h, log)
	if err != nil && !errors.Is(err, http.ErrServerClosed) {
		e.errorf("%v", err)
		return exitError
	}
	return exitOK
}

// dashboardQueues opens the queues named on b, each once.
func dashboardQueues(b backend.Backend, names []string) ([]*jobqueue.Queue, error) {
	qs := make([]*jobqueue.Queue, 0, len(names))
	seen := map[string]bool{}
	for _, name := range names {
		if seen[name] {
			continue
		}
		seen[name] = true
		// The queue gets the adapter itself, so it sees the adapter's
		// optional capabilities (history, pause, cancel).
		q, err := jobqueue.New(b, name)
		if err != nil {
			return nil, err
		}
		qs = append(qs, q)
	}
	return qs, nil
}

// memoryRefused is the error of a command that shows what is kept in
// Redis (what) given -backend memory: another process's memory cannot
// be reached, and this one's is empty.
func memoryRefused(what string) error {
	return usagef("%s are kept in Redis; -backend memory would show this process's own, which are none", what)
}

// storeBackend opens the Redis backend kind names (a dashboard's, or the
// registry's), never falling back to memory: an empty in-process store
// would show nothing true. It says on stderr, or in e.store for --json,
// which store it opened, for what. A test's e.queue stands for the store.
func (e *cmdEnv) storeBackend(ctx context.Context, kind, what string) (backend.Backend, func(), error) {
	desc := memoryDesc
	var b backend.Backend
	closeB := func() {}
	switch {
	case e.queue != nil:
		b, e.store = e.queue.Backend(), backendMemory
	case kind == backendMemory:
		return nil, nil, memoryRefused(what)
	default:
		ob, err := openBackend(ctx, kind, e.getenv("REDIS_URL"), e.getenv("REDIS_CA_FILE"), memoryBounds{})
		if err != nil {
			return nil, nil, err
		}
		if ob.note != "" {
			ob.Close()
			e.store = ob.tried
			return nil, nil, fmt.Errorf("jobqueue: %s; this command needs the Redis that holds the queues", ob.note)
		}
		sb, err := e.sharded(ob.Backend, "", 0)
		if err != nil {
			ob.Close()
			return nil, nil, err
		}
		b, closeB, e.store, desc = sb, ob.Close, ob.store, ob.desc
	}
	if !e.json {
		fmt.Fprintf(e.stderr, "jobqueue: %s on %s\n", what, desc)
	}
	return b, closeB, nil
}
