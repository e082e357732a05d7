package main

import (
	"context"
	"flag"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// limitsJSON is a queue's limits as the command and the HTTP API print
// them, flat among the stats; zero means none.
type limitsJSON struct {
	ConcurrencyLimit int   `json:"concurrency_limit"`
	RateLimit        int   `json:"rate_limit"`
	RatePerMS        int64 `json:"rate_per_ms"`
}

func newLimitsJSON(l jobqueue.Limits) limitsJSON {
	return limitsJSON{ConcurrencyLimit: l.Concurrency, RateLimit: l.Rate, RatePerMS: l.Per.Milliseconds()}
}

func runPause(ctx context.Context, e *cmdEnv, args []string) int {
	return e.pauseOrResume(ctx, args, "pause", "Pause a queue: no process's claim hands out its jobs until resume; enqueues land, running jobs finish.",
		(*jobqueue.Queue).Pause)
}

func runResume(ctx context.Context, e *cmdEnv, args []string) int {
	return e.pauseOrResume(ctx, args, "resume", "Resume a paused queue; the waiting workers of every process start at once.",
		(*jobqueue.Queue).Resume)
}

func (e *cmdEnv) pauseOrResume(ctx context.Context, args []string, name, about string, do func(*jobqueue.Queue, context.Context) error) int {
	in := e.inspection(name, "[flags]", about)
	q, closeQ, _, code := in.open(ctx, e, args, 0, 0)
	if q == nil {
		return code
	}
	defer closeQ()
	if err := do(q, ctx); err != nil {
		e.errorf("%s %s: %v", name, q.Name(), err)
		return exitCode(err)
	}
	st, err := q.Stats(ctx)
	if err != nil {
		return e.fail(err)
	}
	if in.json {
		e.printJSON(map[string]any{"queue": q.Name(), "paused": st.Paused})
		return exitOK
	}
	state := "running"
	if st.Paused {
		state = "paused"
	}
	fmt.Fprintf(e.stdout, "queue %s is %s\n", q.Name(), state)
	return exitOK
}

func runLimits(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("limits", "[-kind KIND] [-concurrency N] [-rate N -per DURATION] [flags]",
		"Show a queue's limits, or change those given (0 removes one). They hold for every process: at most\n"+
			"-concurrency jobs in processing at once, at most -rate jobs started within any -per window.\n"+
			"With -kind, the limits of that kind's jobs, on top of the queue's; jobs of a kind at its limit\n"+
			"wait while the other kinds' jobs start.")
	kind := in.fs.String("kind", "", "show or change the limits of this job `KIND` instead of the queue's")
	conc := in.fs.Int("concurrency", 0, "the most jobs in processing at once, `N`; 0 for no limit")
	rate := in.fs.Int("rate", 0, "the most jobs started within any -per window, `N`; 0 for no limit")
	per := in.fs.Duration("per", 0, "the rate limit's window, such as 1s or 1m (whole milliseconds)")
	if _, code, ok := in.parse(args, 0, 0); !ok {
		return code
	}
	set := map[string]bool{}
	in.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	// The limits the flags give are checked before the store is
	// contacted: a mistake in them is a usage error.
	if set["kind"] {
		if *kind == "" {
			return e.fail(usagef("limits: -kind needs a kind"))
		}
		if err := backend.ValidateKind(*kind); err != nil {
			return e.fail(usagef("-kind: %s", strings.TrimPrefix(err.Error(), "jobqueue: ")))
		}
	}
	if set["rate"] && *rate > 0 && !set["per"] {
		return e.fail(usagef("-rate %d needs -per, the window it counts in, such as -per 1s", *rate))
	}
	// The flags give the whole rate limit (-rate 0 alone removes it) and
	// the concurrency limit when set.
	given := jobqueue.Limits{Concurrency: *conc, Rate: *rate, Per: *per}
	if err := given.Validate(); err != nil {
		return e.fail(usagef("%s", strings.TrimPrefix(err.Error(), "jobqueue: ")))
	}
	q, closeQ, code := in.queue(ctx)
	if q == nil {
		return code
	}
	defer closeQ()
	st, err := q.Stats(ctx)
	if err != nil {
		return e.fail(err)
	}
	l := st.Limits
	if *kind != "" {
		l = st.KindLimits[*kind]
	}
	if set["concurrency"] || set["rate"] || set["per"] {
		if set["concurrency"] {
			l.Concurrency = *conc
		}
		if set["rate"] || set["per"] {
			l.Rate, l.Per = given.Rate, given.Per
		}
		if *kind != "" {
			err = q.SetKindLimits(ctx, *kind, l)
		} else {
			err = q.SetLimits(ctx, l)
		}
		if err != nil {
			e.errorf("limits %s: %v", q.Name(), err)
			return exitCode(err)
		}
	}
	if *kind != "" {
		if in.json {
			e.printJSON(struct {
				Queue string `json:"queue"`
				Kind  string `json:"kind"`
				limitsJSON
			}{q.Name(), *kind, newLimitsJSON(l)})
			return exitOK
		}
		fmt.Fprintf(e.stdout, "queue %s kind %s limits: %s\n", q.Name(), *kind, l)
		return exitOK
	}
	if in.json {
		e.printJSON(struct {
			Queue string `json:"queue"`
			limitsJSON
			Kinds map[string]limitsJSON `json:"kind_limits,omitempty"`
		}{q.Name(), newLimitsJSON(l), newKindLimitsJSON(st.KindLimits)})
		return exitOK
	}
	fmt.Fprintf(e.stdout, "queue %s limits: %s\n", q.Name(), l)
	for _, k := range slices.Sorted(maps.Keys(st.KindLimits)) {
		fmt.Fprintf(e.stdout, "  kind %s: %s\n", k, st.KindLimits[k])
	}
	return exitOK
}

// newKindLimitsJSON returns the kinds' limits as the command and the HTTP
// API print them; none is nil.
func newKindLimitsJSON(kinds map[string]jobqueue.Limits) map[string]limitsJSON {
	if len(kinds) == 0 {
		return nil
	}
	out := make(map[string]limitsJSON, len(kinds))
	for k, l := range kinds {
		out[k] = newLimitsJSON(l)
	}
	return out
}

// stateWord is how stats shows whether a queue is paused.
func stateWord(paused bool) string {
	if paused {
		return "paused"
	}
	return "running"
}
