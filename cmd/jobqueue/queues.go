package main

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
	"github.com/jobqueue-go/jobqueue/internal/webui"
)

// queueRow is one registered queue, as "jobqueue queues --json" prints
// it.
type queueRow struct {
	Name       string    `json:"name"`
	Pending    int64     `json:"pending"`
	Processing int64     `json:"processing"`
	Dead       int64     `json:"dead"`
	Paused     bool      `json:"paused"`
	LastSeen   time.Time `json:"last_seen"`
	// Error says why the queue's stats could not be read (an ACL that
	// grants the registry but not the queue's keys, say); its counts
	// are then zero.
	Error string `json:"error,omitempty"`
}

// queuesJSON is what "jobqueue queues --json" prints.
type queuesJSON struct {
	Queues []queueRow `json:"queues"`
}

// statsConcurrency bounds the Stats calls "jobqueue queues" makes at once.
const statsConcurrency = 8

// recentlySeen is how recently a queue seen is likely still in use: a
// running Worker registers its queues every minute.
const recentlySeen = 2 * time.Minute

func runQueues(ctx context.Context, e *cmdEnv, args []string) int {
	fs := e.flagSet("queues", "[-forget NAME] [flags]", "List the queues registered in the store, by name, with their pending, processing and dead jobs,\n"+
		"whether they are paused, and when they were last seen. A queue registers itself as it is used: the first\n"+
		"enqueue of each Queue value, and a Worker as it starts and every minute while it runs.\n"+
		"-forget removes one queue from the registry, and nothing else: its jobs stay.")
	kind := fs.String("backend", backendAuto, "the Redis adapter: auto (go-redis; never falls back to memory), goredis or rueidis")
	forget := fs.String("forget", "", "remove queue `NAME` from the registry instead of listing (its jobs, counters and settings stay)")
	asJSON := fs.Bool("json", false, "print JSON instead of a table (errors too, on stderr)")
	pos, code, ok := e.parseFlags(fs, args)
	if !ok {
		return code
	}
	if len(pos) > 0 {
		return e.badArgs(fs, fmt.Sprintf("queues takes no arguments, got %q", pos))
	}
	if *forget != "" {
		if err := backend.ValidateQueueName(*forget); err != nil {
			return e.fail(usagef("-forget: %v", err))
		}
	}
	b, closeB, err := e.storeBackend(ctx, *kind, "the registry of queues")
	if err != nil {
		return e.fail(err)
	}
	defer closeB()
	entries, err := jobqueue.Queues(ctx, b)
	if err != nil {
		return e.fail(err)
	}
	if *forget != "" {
		return forgetQueue(ctx, e, b, entries, *forget, *asJSON)
	}
	rows, failed := queueRows(ctx, b, entries)
	// A queue whose stats were not read is listed all the same, saying
	// why; the exit code is then an error's.
	code = exitOK
	if failed > 0 {
		code = exitError
		for _, r := range rows {
			if r.Error != "" {
				e.errorf("queue %q: %s", r.Name, r.Error)
			}
		}
	}
	if *asJSON {
		e.printJSON(queuesJSON{Queues: rows})
		return code
	}
	if len(rows) == 0 {
		fmt.Fprintln(e.stdout, "no queue registered: a queue is registered by its first enqueue, or when a Worker starts on it")
		return exitOK
	}
	cols := []column{
		{header: "QUEUE", min: 12},
		{header: "PENDING"},
		{header: "PROCESSING"},
		{header: "DEAD"},
		{header: "STATE"},
		{header: "LAST SEEN"},
	}
	cells := make([][]string, len(rows))
	for i, r := range rows {
		seen := r.LastSeen
		cells[i] = []string{r.Name, thousands(r.Pending), thousands(r.Processing), thousands(r.Dead), stateWord(r.Paused), ago(&seen)}
		if r.Error != "" {
			cells[i] = []string{r.Name, "—", "—", "—", "unreadable", ago(&seen)}
		}
	}
	writeTable(e.stdout, e.width(), cols, cells)
	return code
}

// queueRows reads the stats of every registered queue, a few at once,
// and counts those it could not read (their rows say why).
func queueRows(ctx context.Context, b backend.Backend, entries []jobqueue.QueueEntry) ([]queueRow, int) {
	rows := make([]queueRow, len(entries))
	slots := make(chan struct{}, statsConcurrency)
	var wg sync.WaitGroup
	for i, ent := range entries {
		wg.Go(func() {
			slots <- struct{}{}
			defer func() { <-slots }()
			rows[i] = queueRow{Name: ent.Name, LastSeen: ent.LastSeen}
			q, err := jobqueue.New(b, ent.Name)
			if err == nil {
				var st jobqueue.Stats
				if st, err = q.Stats(ctx); err == nil {
					rows[i].Pending, rows[i].Processing, rows[i].Dead, rows[i].Paused = st.Pending, st.Processing, st.Dead, st.Paused
				}
			}
			if err != nil {
				rows[i].Error = webui.OneLine(err)
			}
		})
	}
	wg.Wait()
	failed := 0
	for _, r := range rows {
		if r.Error != "" {
			failed++
		}
	}
	return rows, failed
}

// forgetQueue removes name, one of entries, from the registry.
func forgetQueue(ctx context.Context, e *cmdEnv, b backend.Backend, entries []jobqueue.QueueEntry, name string, asJSON bool) int {
	i := slices.IndexFunc(entries, func(ent jobqueue.QueueEntry) bool { return ent.Name == name })
	if i < 0 {
		e.errorf("no queue %q is registered", name)
		return exitError
	}
	if seen := entries[i].LastSeen; time.Since(seen) < recentlySeen {
		e.warnf("queue %q was seen %s: a Worker that still serves it registers it again within a minute", name, ago(&seen))
	}
	if err := jobqueue.ForgetQueue(ctx, b, name); err != nil {
		return e.fail(err)
	}
	if asJSON {
		e.printJSON(map[string]any{"forgotten": name})
	} else {
		fmt.Fprintf(e.stdout, "forgot queue %q (its jobs stay; purge them first if they should go)\n", name)
	}
	return exitOK
}
