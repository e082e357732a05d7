package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// maxStdin bounds what enqueue reads from stdin.
const maxStdin = 64 << 20

// inspection is what every inspection subcommand parses first.
type inspection struct {
	qf   queueFlags
	json bool
	fs   *flag.FlagSet
}

func (e *cmdEnv) inspection(name, args, about string) *inspection {
	in := &inspection{fs: e.flagSet(name, args, about)}
	in.qf.register(in.fs)
	in.fs.BoolVar(&in.json, "json", false, "print JSON instead of a table")
	return in
}

// open parses args and opens the queue, returning the positional
// arguments; on failure it returns the exit code.
func (in *inspection) open(ctx context.Context, e *cmdEnv, args []string, minPos, maxPos int) (*jobqueue.Queue, func(), []string, int) {
	pos, code, ok := parse(in.fs, args)
	if !ok {
		return nil, nil, nil, code
	}
	if len(pos) < minPos || (maxPos >= 0 && len(pos) > maxPos) {
		in.fs.Usage()
		return nil, nil, nil, exitUsage
	}
	q, closeQ, err := e.inspectQueue(ctx, in.qf)
	if err != nil {
		e.errorf("%v", err)
		return nil, nil, nil, exitError
	}
	return q, closeQ, pos, exitOK
}

func (e *cmdEnv) printJSON(v any) {
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

func runStats(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("stats", "[flags]", "Print a queue's depths and counters.")
	q, closeQ, _, code := in.open(ctx, e, args, 0, 0)
	if q == nil {
		return code
	}
	defer closeQ()
	st, err := q.Stats(ctx)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if in.json {
		e.printJSON(newQueueStats(q.Name(), st))
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "queue\t%s\n\n", q.Name())
	fmt.Fprintf(tw, "STATE\tJOBS\n")
	for _, r := range []struct {
		name string
		n    int64
	}{{"pending", st.Pending}, {"scheduled", st.Scheduled}, {"processing", st.Processing}, {"completed", st.Completed}, {"dead", st.Dead}, {"cancelled", st.Cancelled}} {
		fmt.Fprintf(tw, "%s\t%d\n", r.name, r.n)
	}
	fmt.Fprintf(tw, "\nqueue latency\t%v\n", st.Latency.Round(time.Millisecond))
	fmt.Fprintf(tw, "workers\t%d\n", st.Workers)
	fmt.Fprintf(tw, "state\t%s\n", stateWord(st.Paused))
	fmt.Fprintf(tw, "limits\t%s\n", st.Limits)
	for _, k := range slices.Sorted(maps.Keys(st.KindLimits)) {
		fmt.Fprintf(tw, "limits of kind %s\t%s\n", k, st.KindLimits[k])
	}
	fmt.Fprintf(tw, "\nCOUNTER\tTOTAL\n")
	for _, r := range []struct {
		name string
		n    int64
	}{{"enqueued", st.EnqueuedTotal}, {"claimed", st.ClaimedTotal}, {"completed", st.CompletedTotal}, {"retried", st.RetriedTotal}, {"dead", st.DeadTotal}, {"reclaimed", st.ReclaimedTotal}, {"cancelled", st.CancelledTotal}} {
		fmt.Fprintf(tw, "%s\t%d\n", r.name, r.n)
	}
	tw.Flush()
	return exitOK
}

// queueStats is a queue's depths and counters, as "jobqueue stats --json"
// prints them and the HTTP API reports them, so that one reader serves
// both. The JSON names are the classic demo's, which its clients read:
// failed_depth and failed_total count dead jobs.
type queueStats struct {
	Queue           string `json:"queue"`
	PendingDepth    int64  `json:"pending_depth"`
	ScheduledDepth  int64  `json:"scheduled_depth"`
	ProcessingDepth int64  `json:"processing_depth"`
	CompletedDepth  int64  `json:"completed_depth"`
	DeadDepth       int64  `json:"failed_depth"`
	EnqueuedTotal   int64  `json:"enqueued_total"`
	ClaimedTotal    int64  `json:"claimed_total"`
	CompletedTotal  int64  `json:"completed_total"`
	RetriedTotal    int64  `json:"retried_total"`
	DeadTotal       int64  `json:"failed_total"`
	ReclaimedTotal  int64  `json:"reclaimed_total"`
	// QueueLatencyMS is how long the longest-waiting claimable job has
	// waited, in milliseconds (Stats.Latency).
	QueueLatencyMS int64 `json:"queue_latency_ms"`
	// Workers counts the Worker processes working the queue
	// (Stats.Workers).
	Workers int64 `json:"workers"`
	// CancelledDepth and CancelledTotal count cancelled jobs
	// (Stats.Cancelled, Stats.CancelledTotal).
	CancelledDepth int64 `json:"cancelled_depth"`
	CancelledTotal int64 `json:"cancelled_total"`
	// Paused and the limits are the queue's settings (Stats.Paused,
	// Stats.Limits).
	Paused bool `json:"paused"`
	limitsJSON
	// KindLimits holds the limits of each kind that has some
	// (Stats.KindLimits).
	KindLimits map[string]limitsJSON `json:"kind_limits,omitempty"`
}

// newQueueStats returns st, the stats of the queue named queue, as a
// queueStats.
func newQueueStats(queue string, st jobqueue.Stats) queueStats {
	return queueStats{
		Queue:           queue,
		PendingDepth:    st.Pending,
		ScheduledDepth:  st.Scheduled,
		ProcessingDepth: st.Processing,
		CompletedDepth:  st.Completed,
		DeadDepth:       st.Dead,
		EnqueuedTotal:   st.EnqueuedTotal,
		ClaimedTotal:    st.ClaimedTotal,
		CompletedTotal:  st.CompletedTotal,
		RetriedTotal:    st.RetriedTotal,
		DeadTotal:       st.DeadTotal,
		ReclaimedTotal:  st.ReclaimedTotal,
		QueueLatencyMS:  st.Latency.Milliseconds(),
		Workers:         st.Workers,
		CancelledDepth:  st.Cancelled,
		CancelledTotal:  st.CancelledTotal,
		Paused:          st.Paused,
		limitsJSON:      newLimitsJSON(st.Limits),
		KindLimits:      newKindLimitsJSON(st.KindLimits),
	}
}

func runList(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("list", "STATE [flags]", "List the jobs in one state: "+stateNames()+".")
	limit := in.fs.Int("limit", 50, "the most jobs to list")
	offset := in.fs.Int("offset", 0, "jobs to skip first")
	q, closeQ, pos, code := in.open(ctx, e, args, 1, 1)
	if q == nil {
		return code
	}
	defer closeQ()
	state, err := backend.ParseState(pos[0])
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	if *limit < 1 || *offset < 0 {
		e.errorf("-limit must be at least 1 and -offset at least 0")
		return exitUsage
	}
	ids, err := q.List(ctx, state, *offset, *limit)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	jobs := make([]jobDetail, 0, len(ids))
	for _, id := range ids {
		info, err := q.Get(ctx, id)
		if errors.Is(err, jobqueue.ErrNotFound) {
			continue // finished or expired since the list
		}
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		jobs = append(jobs, detail(info))
	}
	if in.json {
		e.printJSON(jobs)
		return exitOK
	}
	if len(jobs) == 0 {
		fmt.Fprintf(e.stdout, "no %s jobs in queue %q\n", state, q.Name())
		return exitOK
	}
	tw := tabwriter.NewWriter(e.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "ID\tKIND\tPRI\tATTEMPTS\t%s\tPAYLOAD\tLAST ERROR\n", strings.ToUpper(timeColumn(state)))
	for _, j := range jobs {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d/%d\t%s\t%s\t%s\n", j.ID, orDefault(j.Kind, "-"), j.Priority, j.Attempts, j.MaxAttempts,
			ago(stateTime(j, state)), clip(compactJSON(j.Payload), 48), clip(j.LastError, 40))
	}
	tw.Flush()
	return exitOK
}

// stateNames lists the names of the states, as "list" takes them.
func stateNames() string {
	names := make([]string, len(backend.States))
	for i, s := range backend.States {
		names[i] = string(s)
	}
	return strings.Join(names, ", ")
}

// timeColumn names the time that matters most in a state.
func timeColumn(s jobqueue.State) string {
	switch s {
	case jobqueue.StateScheduled:
		return "runs"
	case jobqueue.StateProcessing:
		return "lease ends"
	case jobqueue.StateCompleted, jobqueue.StateDead, jobqueue.StateCancelled:
		return "finished"
	}
	return "enqueued"
}

func stateTime(j jobDetail, s jobqueue.State) *time.Time {
	switch s {
	case jobqueue.StateScheduled:
		return j.RunAt
	case jobqueue.StateProcessing:
		return j.LeaseUntil
	case jobqueue.StateCompleted, jobqueue.StateDead, jobqueue.StateCancelled:
		return j.FinishedAt
	}
	return j.EnqueuedAt
}

// ago says how far t is from now, in a few characters.
func ago(t *time.Time) string {
	if t == nil {
		return "-"
	}
	d := time.Until(*t)
	suffix := "from now"
	if d < 0 {
		d, suffix = -d, "ago"
	}
	switch {
	case d < time.Second:
		return fmt.Sprintf("%dms %s", d.Milliseconds(), suffix)
	case d < time.Minute:
		return fmt.Sprintf("%.1fs %s", d.Seconds(), suffix)
	case d < time.Hour:
		return fmt.Sprintf("%dm %s", int(d.Minutes()), suffix)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh %s", int(d.Hours()), suffix)
	}
	return t.Local().Format("2006-01-02 15:04")
}

func compactJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Compact(&buf, b) != nil {
		return string(b)
	}
	return buf.String()
}

// clip shortens s to n runes on one line.
func clip(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	if s == "" {
		return "-"
	}
	return s
}

func runShow(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("show", "ID [flags]", "Print one job's record: payload, attempts, last error, result and timestamps.")
	q, closeQ, pos, code := in.open(ctx, e, args, 1, 1)
	if q == nil {
		return code
	}
	defer closeQ()
	info, err := q.Get(ctx, pos[0])
	if err != nil {
		e.errorf("%v (in queue %q; -queue names another)", err, q.Name())
		return exitError
	}
	d := detail(info)
	if in.json {
		e.printJSON(d)
		return exitOK
	}
	row := func(name, value string) { fmt.Fprintf(e.stdout, "%-12s %s\n", name, value) }
	row("id", d.ID)
	row("state", d.State)
	if d.Kind != "" {
		row("kind", d.Kind)
	}
	row("priority", strconv.Itoa(d.Priority))
	row("attempts", fmt.Sprintf("%d of %d", d.Attempts, d.MaxAttempts))
	if d.TimeoutMS > 0 {
		row("timeout", (time.Duration(d.TimeoutMS) * time.Millisecond).String())
	}
	for _, name := range slices.Sorted(maps.Keys(d.Headers)) {
		row("header", name+": "+d.Headers[name])
	}
	for _, r := range []struct {
		name string
		t    *time.Time
	}{{"enqueued", d.EnqueuedAt}, {"runs at", d.RunAt}, {"expires", d.ExpiresAt}, {"claimed", d.ClaimedAt}, {"lease until", d.LeaseUntil}, {"finished", d.FinishedAt}} {
		if r.t != nil {
			row(r.name, fmt.Sprintf("%s (%s)", r.t.Local().Format(time.RFC3339Nano), ago(r.t)))
		}
	}
	if d.LastError != "" {
		row("last error", d.LastError)
	}
	fmt.Fprintf(e.stdout, "payload\n%s\n", indentJSON(d.Payload))
	if len(d.Result) > 0 {
		fmt.Fprintf(e.stdout, "result\n%s\n", indentJSON(d.Result))
	}
	return exitOK
}

func indentJSON(b []byte) string {
	var buf bytes.Buffer
	if json.Indent(&buf, b, "  ", "  ") != nil {
		return "  " + string(b)
	}
	return "  " + buf.String()
}

func runEnqueue(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("enqueue", "[JSON] [flags]",
		"Enqueue one job whose payload is the JSON argument, or, without one (or with -),\none job per JSON value read from stdin, all in one atomic batch.")
	delay := in.fs.Duration("delay", 0, "make the jobs claimable only after this `duration`")
	maxAttempts := in.fs.Int("max-attempts", 0, "claims allowed per job (default: the queue's, 3)")
	id := in.fs.String("id", "", "the job's `id`, for a single job; enqueuing an id the queue holds fails")
	var uf uniqueFlags
	uf.register(in.fs)
	pos, code, ok := parse(in.fs, args)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		e.errorf("enqueue takes at most one JSON argument; quote it, or send several values on stdin")
		return exitUsage
	}
	unique, err := uf.option()
	if err != nil {
		e.errorf("%v", err)
		return exitUsage
	}
	var payloads []json.RawMessage
	if len(pos) == 1 && pos[0] != "-" {
		if !json.Valid([]byte(pos[0])) {
			e.errorf("the argument is not valid JSON: %s", clip(pos[0], 60))
			return exitUsage
		}
		payloads = append(payloads, json.RawMessage(pos[0]))
	} else {
		if payloads, err = readJSONValues(io.LimitReader(e.stdin, maxStdin)); err != nil {
			e.errorf("stdin: %v", err)
			return exitUsage
		}
		if len(payloads) == 0 {
			e.errorf("no JSON on stdin (give the payload as an argument, or pipe it in)")
			return exitUsage
		}
	}
	var opts []jobqueue.EnqueueOption
	if *delay != 0 {
		opts = append(opts, jobqueue.Delay(*delay))
	}
	if *maxAttempts != 0 {
		opts = append(opts, jobqueue.MaxAttempts(*maxAttempts))
	}
	if *id != "" {
		if len(payloads) != 1 {
			e.errorf("-id names one job, but stdin held %d", len(payloads))
			return exitUsage
		}
		opts = append(opts, jobqueue.WithID(*id))
	}
	if unique != nil {
		if len(payloads) != 1 {
			e.errorf("-unique names one job's key, but stdin held %d", len(payloads))
			return exitUsage
		}
		opts = append(opts, unique)
	}
	q, closeQ, err := e.inspectQueue(ctx, in.qf)
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	defer closeQ()
	var ids []string
	if len(payloads) == 1 {
		var one string
		one, err = q.Enqueue(ctx, payloads[0], opts...)
		ids = []string{one}
	} else {
		vs := make([]any, len(payloads))
		for i, p := range payloads {
			vs[i] = p
		}
		ids, err = q.EnqueueBatch(ctx, vs, opts...)
	}
	if errors.Is(err, jobqueue.ErrDuplicate) && len(ids) == 1 && ids[0] != "" {
		// Nothing was stored, as for an id the queue holds, so the exit
		// code is an error's; stdout names the job that holds the key,
		// which is what a script that wants one such job looks for.
		if in.json {
			e.printJSON(map[string]any{"queue": q.Name(), "enqueued": []string{}, "duplicate": true, "existing_id": ids[0]})
		} else {
			fmt.Fprintln(e.stdout, ids[0])
		}
		e.errorf("duplicate: job %s holds unique key %q in queue %q; nothing enqueued", ids[0], uf.key, q.Name())
		return exitError
	}
	if err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if in.json {
		e.printJSON(map[string]any{"queue": q.Name(), "enqueued": ids, "duplicate": false})
		return exitOK
	}
	for _, id := range ids {
		fmt.Fprintln(e.stdout, id)
	}
	return exitOK
}

// readJSONValues reads a stream of JSON values (one document, or many such
// as JSON lines).
func readJSONValues(r io.Reader) ([]json.RawMessage, error) {
	dec := json.NewDecoder(r)
	var out []json.RawMessage
	for {
		var v json.RawMessage
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("value %d is not valid JSON: %w", len(out)+1, err)
		}
		out = append(out, v)
	}
}

func runRetry(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("retry", "ID... | --all-dead [flags]", "Send dead jobs back to pending with fresh attempts.")
	allDead := in.fs.Bool("all-dead", false, "retry every dead job")
	q, closeQ, ids, code := in.open(ctx, e, args, 0, -1)
	if q == nil {
		return code
	}
	defer closeQ()
	if *allDead == (len(ids) > 0) {
		e.errorf("give job ids or --all-dead, not both or neither")
		return exitUsage
	}
	var retried, failed []string
	retry := func(id string) {
		if err := q.RetryDead(ctx, id); err != nil {
			e.errorf("retry %s: %v", id, err)
			failed = append(failed, id)
			return
		}
		retried = append(retried, id)
	}
	if *allDead {
		// Collect every dead id first, then retry them: retrying while
		// paging would shift the pages under the loop.
		var dead []string
		for offset := 0; ; offset += 500 {
			batch, err := q.List(ctx, jobqueue.StateDead, offset, 500)
			if err != nil {
				e.errorf("%v", err)
				return exitError
			}
			dead = append(dead, batch...)
			if len(batch) < 500 {
				break
			}
		}
		for _, id := range slices.Compact(dead) {
			retry(id)
		}
	} else {
		for _, id := range ids {
			retry(id)
		}
	}
	if in.json {
		e.printJSON(map[string]any{"retried": nonNil(retried), "failed": nonNil(failed)})
	} else {
		fmt.Fprintf(e.stdout, "retried %d %s\n", len(retried), plural(len(retried), "job", "jobs"))
	}
	if len(failed) > 0 {
		return exitError
	}
	return exitOK
}

func runDelete(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("delete", "ID... [flags]", "Delete jobs, in whatever state they are.")
	q, closeQ, ids, code := in.open(ctx, e, args, 1, -1)
	if q == nil {
		return code
	}
	defer closeQ()
	var deleted, failed []string
	for _, id := range ids {
		if err := q.Delete(ctx, id); err != nil {
			e.errorf("delete %s: %v", id, err)
			failed = append(failed, id)
			continue
		}
		deleted = append(deleted, id)
	}
	if in.json {
		e.printJSON(map[string]any{"deleted": nonNil(deleted), "failed": nonNil(failed)})
	} else {
		fmt.Fprintf(e.stdout, "deleted %d %s\n", len(deleted), plural(len(deleted), "job", "jobs"))
	}
	if len(failed) > 0 {
		return exitError
	}
	return exitOK
}

func runCancel(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("cancel", "ID... [flags]", "Cancel jobs: a pending or scheduled job never runs; a running one is told at its worker's next heartbeat, and ends cancelled.")
	q, closeQ, ids, code := in.open(ctx, e, args, 1, -1)
	if q == nil {
		return code
	}
	defer closeQ()
	var cancelled, failed []string
	for _, id := range ids {
		if err := q.Cancel(ctx, id); err != nil {
			e.errorf("cancel %s: %v", id, err)
			failed = append(failed, id)
			continue
		}
		cancelled = append(cancelled, id)
	}
	if in.json {
		e.printJSON(map[string]any{"cancelled": nonNil(cancelled), "failed": nonNil(failed)})
	} else {
		fmt.Fprintf(e.stdout, "cancelled %d %s\n", len(cancelled), plural(len(cancelled), "job", "jobs"))
	}
	if len(failed) > 0 {
		return exitError
	}
	return exitOK
}

func runPurge(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("purge", "[--yes] [flags]", "Delete every job and counter of a queue, and nothing of any other queue.")
	yes := in.fs.Bool("yes", false, "do not ask for confirmation")
	q, closeQ, _, code := in.open(ctx, e, args, 0, 0)
	if q == nil {
		return code
	}
	defer closeQ()
	if !*yes {
		st, err := q.Stats(ctx)
		if err != nil {
			e.errorf("%v", err)
			return exitError
		}
		n := st.Pending + st.Scheduled + st.Processing + st.Completed + st.Dead + st.Cancelled
		fmt.Fprintf(e.stderr, "Purge queue %q: delete its %d %s and every counter? Type yes to confirm: ", q.Name(), n, plural(int(n), "job", "jobs"))
		line, _ := bufio.NewReader(e.stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(line)); a != "yes" && a != "y" {
			fmt.Fprintln(e.stderr, "jobqueue: not purged")
			return exitError
		}
	}
	if err := q.Purge(ctx); err != nil {
		e.errorf("%v", err)
		return exitError
	}
	if in.json {
		e.printJSON(map[string]any{"purged": q.Name()})
	} else {
		fmt.Fprintf(e.stdout, "purged queue %q\n", q.Name())
	}
	return exitOK
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
