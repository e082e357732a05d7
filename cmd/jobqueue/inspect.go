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
	"time"

	"github.com/jobqueue-go/jobqueue"
	"github.com/jobqueue-go/jobqueue/backend"
)

// maxStdin bounds what enqueue reads from stdin.
const maxStdin = 64 << 20

// inspection is what every inspection subcommand parses first.
type inspection struct {
	e    *cmdEnv
	args string // the arguments of the usage line
	qf   queueFlags
	json bool
	fs   *flag.FlagSet
}

func (e *cmdEnv) inspection(name, args, about string) *inspection {
	in := &inspection{e: e, args: args, fs: e.flagSet(name, args, about)}
	in.qf.register(in.fs)
	in.fs.BoolVar(&in.json, "json", false, "print JSON instead of a table (errors too, on stderr)")
	return in
}

// parse parses args and checks the number of positional arguments, which
// it returns, and the queue flags; when ok is false the command ends with
// code.
func (in *inspection) parse(args []string, minPos, maxPos int) (pos []string, code int, ok bool) {
	pos, code, ok = in.e.parseFlags(in.fs, args)
	if !ok {
		return nil, code, false
	}
	if len(pos) < minPos || (maxPos >= 0 && len(pos) > maxPos) {
		return nil, in.e.badArgs(in.fs, fmt.Sprintf("%d %s given; usage: jobqueue %s %s",
			len(pos), plural(len(pos), "argument", "arguments"), in.fs.Name(), in.args)), false
	}
	if err := in.qf.check(); err != nil {
		return nil, in.e.fail(err), false
	}
	return pos, exitOK, true
}

// queue opens the queue; on failure it reports why and returns nil and
// the exit code.
func (in *inspection) queue(ctx context.Context) (*jobqueue.Queue, func(), int) {
	q, closeQ, err := in.e.inspectQueue(ctx, in.qf)
	if err != nil {
		return nil, nil, in.e.fail(err)
	}
	return q, closeQ, exitOK
}

// open parses args and opens the queue, returning the positional
// arguments; on failure it returns the exit code.
func (in *inspection) open(ctx context.Context, e *cmdEnv, args []string, minPos, maxPos int) (*jobqueue.Queue, func(), []string, int) {
	pos, code, ok := in.parse(args, minPos, maxPos)
	if !ok {
		return nil, nil, nil, code
	}
	q, closeQ, code := in.queue(ctx)
	return q, closeQ, pos, code
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
		return e.fail(err)
	}
	if in.json {
		e.printJSON(newQueueStats(q.Name(), st))
		return exitOK
	}
	// Four blocks of two columns, each aligned on its own; a long queue
	// name, kind or limit wraps within its column.
	block := func(label, value string, rows [][]string) {
		writeTable(e.stdout, e.width(), []column{{header: label, min: 16}, {header: value, min: 16}}, rows)
	}
	block("", "", [][]string{{"queue", q.Name()}})
	fmt.Fprintln(e.stdout)
	block("STATE", "JOBS", [][]string{
		{"pending", thousands(st.Pending)}, {"scheduled", thousands(st.Scheduled)}, {"processing", thousands(st.Processing)},
		{"completed", thousands(st.Completed)}, {"dead", thousands(st.Dead)}, {"cancelled", thousands(st.Cancelled)},
	})
	fmt.Fprintln(e.stdout)
	settings := [][]string{
		{"queue latency", st.Latency.Round(time.Millisecond).String()},
		{"workers", thousands(st.Workers)},
		{"state", stateWord(st.Paused)},
		{"limits", st.Limits.String()},
	}
	for _, k := range slices.Sorted(maps.Keys(st.KindLimits)) {
		settings = append(settings, []string{"limits of kind " + k, st.KindLimits[k].String()})
	}
	block("", "", settings)
	fmt.Fprintln(e.stdout)
	block("COUNTER", "TOTAL", [][]string{
		{"enqueued", thousands(st.EnqueuedTotal)}, {"claimed", thousands(st.ClaimedTotal)}, {"completed", thousands(st.CompletedTotal)},
		{"retried", thousands(st.RetriedTotal)}, {"dead", thousands(st.DeadTotal)}, {"reclaimed", thousands(st.ReclaimedTotal)},
		{"cancelled", thousands(st.CancelledTotal)},
	})
	return exitOK
}

// thousands writes n with thousands separators: 12,000.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	if neg {
		s = "-" + s
	}
	return s
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

// jobList is one page of a state's jobs, as "jobqueue list --json"
// prints it.
type jobList struct {
	Queue  string `json:"queue"`
	State  string `json:"state"`
	Offset int    `json:"offset"`
	// Total is the state's depth (Stats), for "50 of 12,000".
	Total int64       `json:"total"`
	Jobs  []jobDetail `json:"jobs"`
}

func runList(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("list", "STATE [flags]", "List the jobs in one state: "+stateNames()+".")
	limit := in.fs.Int("limit", 50, "the most jobs to list")
	offset := in.fs.Int("offset", 0, "jobs to skip first")
	pos, code, ok := in.parse(args, 1, 1)
	if !ok {
		return code
	}
	state, err := backend.ParseState(pos[0])
	if err != nil {
		return e.fail(err)
	}
	if *limit < 1 || *offset < 0 {
		return e.fail(usagef("-limit must be at least 1 and -offset at least 0"))
	}
	q, closeQ, code := in.queue(ctx)
	if q == nil {
		return code
	}
	defer closeQ()
	ids, err := q.List(ctx, state, *offset, *limit)
	if err != nil {
		return e.fail(err)
	}
	jobs := make([]jobDetail, 0, len(ids))
	for _, id := range ids {
		info, err := q.Get(ctx, id)
		if errors.Is(err, jobqueue.ErrNotFound) {
			continue // finished or expired since the list
		}
		if err != nil {
			return e.fail(err)
		}
		jobs = append(jobs, detail(info))
	}
	st, err := q.Stats(ctx)
	if err != nil {
		return e.fail(err)
	}
	// The depth is read after the page: jobs may have come meanwhile.
	total := max(depth(st, state), int64(*offset+len(ids)))
	if in.json {
		e.printJSON(jobList{Queue: q.Name(), State: string(state), Offset: *offset, Total: total, Jobs: jobs})
		return exitOK
	}
	if len(jobs) == 0 {
		if *offset > 0 && total > 0 {
			fmt.Fprintf(e.stdout, "no %s jobs in queue %q from offset %s; it holds %s\n", state, q.Name(), thousands(int64(*offset)), thousands(total))
		} else {
			fmt.Fprintf(e.stdout, "no %s jobs in queue %q\n", state, q.Name())
		}
		return exitOK
	}
	writeJobTable(e.stdout, e.width(), state, jobs)
	fmt.Fprintln(e.stdout, listFooter(state, *offset, len(ids), total))
	return exitOK
}

// writeJobTable writes jobs, which are in state, as a table. The columns
// of kinds, priorities and errors show when a job has one; payloads and
// errors are clipped, and left out, errors last, when the ids leave too
// little room for them.
func writeJobTable(w io.Writer, width int, state jobqueue.State, jobs []jobDetail) {
	var kinds, priorities, errs bool
	for _, j := range jobs {
		kinds = kinds || j.Kind != ""
		priorities = priorities || j.Priority != 0
		errs = errs || j.LastError != ""
	}
	cols := []column{{header: "ID", min: 12}}
	cell := []func(jobDetail) string{func(j jobDetail) string { return j.ID }}
	add := func(c column, f func(jobDetail) string) {
		cols = append(cols, c)
		cell = append(cell, f)
	}
	if kinds {
		add(column{header: "KIND", min: 8}, func(j jobDetail) string { return orDefault(j.Kind, "-") })
	}
	if priorities {
		add(column{header: "PRI", drop: 3}, func(j jobDetail) string { return strconv.Itoa(j.Priority) })
	}
	add(column{header: "ATTEMPTS"}, func(j jobDetail) string { return fmt.Sprintf("%d/%d", j.Attempts, j.MaxAttempts) })
	add(column{header: strings.ToUpper(timeColumn(state))}, func(j jobDetail) string { return ago(stateTime(j, state)) })
	add(column{header: "PAYLOAD", min: 12, clip: true, drop: 2}, func(j jobDetail) string { return clip(compactJSON(j.Payload), 200) })
	if errs {
		add(column{header: "LAST ERROR", min: 16, clip: true, drop: 1}, func(j jobDetail) string { return clip(j.LastError, 200) })
	}
	rows := make([][]string, len(jobs))
	for i, j := range jobs {
		rows[i] = make([]string, len(cell))
		for c, f := range cell {
			rows[i][c] = f(j)
		}
	}
	writeTable(w, width, cols, rows)
}

// listFooter says which of the state's jobs a page of n at offset shows:
// "50 of 12,000 dead jobs; -offset 50 for the next".
func listFooter(state jobqueue.State, offset, n int, total int64) string {
	shown := thousands(int64(n))
	switch {
	case offset > 0 && n == 1:
		shown = "job " + thousands(int64(offset+1))
	case offset > 0:
		shown = thousands(int64(offset+1)) + "–" + thousands(int64(offset+n))
	}
	s := fmt.Sprintf("%s of %s %s %s", shown, thousands(total), state, plural(int(total), "job", "jobs"))
	if next := int64(offset + n); next < total {
		s += fmt.Sprintf("; -offset %d for the next", next)
	}
	return s
}

// depth returns the number of jobs in state.
func depth(st jobqueue.Stats, state jobqueue.State) int64 {
	switch state {
	case jobqueue.StatePending:
		return st.Pending
	case jobqueue.StateScheduled:
		return st.Scheduled
	case jobqueue.StateProcessing:
		return st.Processing
	case jobqueue.StateCompleted:
		return st.Completed
	case jobqueue.StateDead:
		return st.Dead
	case jobqueue.StateCancelled:
		return st.Cancelled
	}
	return 0
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
	in := e.inspection("show", "ID [flags]", "Print one job's record: payload, attempts, last error, result and timestamps.\nID may be the start of the job's id, as the dashboard shows it, when no other job's starts so.")
	q, closeQ, pos, code := in.open(ctx, e, args, 1, 1)
	if q == nil {
		return code
	}
	defer closeQ()
	id, err := e.resolveID(ctx, q, pos[0], false)
	if err != nil {
		return e.fail(err)
	}
	info, err := q.Get(ctx, id)
	if err != nil {
		e.errorf("%v (in queue %q; -queue names another)", err, q.Name())
		return exitCode(err)
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
	maxAttempts := in.fs.Int("max-attempts", 0, "claims allowed per job, at least 1 (default: the queue's, 3)")
	id := in.fs.String("id", "", "the job's `id`, for a single job; enqueuing an id the queue holds fails")
	var uf uniqueFlags
	uf.register(in.fs)
	replicas := in.fs.Int("replicas", 0, "return only once this many replicas have the jobs (WAIT), or exit 1 saying they may be lost to a failover")
	aof := in.fs.Bool("aof", false, "return only once the jobs are in the append-only file on disk (WAITAOF: Redis 7.2 or later, appendonly yes)")
	durableTimeout := in.fs.Duration("durable-timeout", time.Second, "how long -replicas and -aof wait")
	pos, code, ok := in.parse(args, 0, -1)
	if !ok {
		return code
	}
	if len(pos) > 1 {
		return e.fail(usagef("enqueue takes at most one JSON argument; quote it, or send several values on stdin"))
	}
	unique, err := uf.option()
	if err != nil {
		return e.fail(usageError{err})
	}
	durability := jobqueue.Durability{Replicas: *replicas, AOF: *aof, Timeout: *durableTimeout}
	if durability.Replicas == 0 && !durability.AOF {
		durability = jobqueue.Durability{}
	}
	if err := durability.Validate(); err != nil {
		return e.fail(usagef("-replicas/-aof/-durable-timeout: %s", strings.TrimPrefix(err.Error(), "jobqueue: invalid argument: ")))
	}
	set := map[string]bool{}
	in.fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var opts []jobqueue.EnqueueOption
	switch {
	case *delay < 0:
		return e.fail(usagef("-delay must not be negative, got %v", *delay))
	case *delay > 0:
		opts = append(opts, jobqueue.Delay(*delay))
	}
	switch {
	case set["max-attempts"] && *maxAttempts < 1:
		// 0 would otherwise read as "not given", the queue's default.
		return e.fail(usagef("-max-attempts must be at least 1, got %d", *maxAttempts))
	case set["max-attempts"]:
		opts = append(opts, jobqueue.MaxAttempts(*maxAttempts))
	}
	if set["id"] {
		if err := backend.ValidateNewID(*id); err != nil {
			return e.fail(usagef("-id: %s", strings.TrimPrefix(err.Error(), "jobqueue: ")))
		}
	}
	var payloads []json.RawMessage
	if len(pos) == 1 && pos[0] != "-" {
		if !json.Valid([]byte(pos[0])) {
			return e.fail(usagef("the argument is not valid JSON: %s", clip(pos[0], 60)))
		}
		payloads = append(payloads, json.RawMessage(pos[0]))
	} else {
		if e.stdinIsTerminal() {
			e.notef("reading the payload from stdin, one or more JSON values (Ctrl-D to end, Ctrl-C to cancel)")
		}
		payloads, err = readStdin(ctx, func() ([]json.RawMessage, error) {
			return readJSONValues(io.LimitReader(e.stdin, maxStdin))
		})
		if err = interrupted(ctx, err); errors.Is(err, errInterrupted) {
			return e.fail(fmt.Errorf("%w; nothing enqueued", err))
		}
		if err != nil {
			return e.fail(usagef("stdin: %v", err))
		}
		if len(payloads) == 0 {
			return e.fail(usagef("no JSON on stdin (give the payload as an argument, or pipe it in)"))
		}
	}
	if set["id"] {
		if len(payloads) != 1 {
			return e.fail(usagef("-id names one job, but stdin held %d", len(payloads)))
		}
		opts = append(opts, jobqueue.WithID(*id))
	}
	if unique != nil {
		if len(payloads) != 1 {
			return e.fail(usagef("-unique names one job's key, but stdin held %d", len(payloads)))
		}
		opts = append(opts, unique)
	}
	if durability.Enabled() {
		opts = append(opts, jobqueue.Durable(durability))
	}
	q, closeQ, code := in.queue(ctx)
	if q == nil {
		return code
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
	// Jobs stored but not confirmed durable are printed like stored ones
	// (they are in the queue), and the exit code is an error's.
	notDurable := errors.Is(err, jobqueue.ErrNotDurable) && len(ids) > 0
	if err != nil && !notDurable {
		return e.fail(err)
	}
	// Registered now, as a Queue's first enqueue would in the background
	// (the command opened it WithoutRegistry: it ends before a background
	// registration would be made). A failure fails nothing else.
	if rerr := jobqueue.RegisterQueue(ctx, q.Backend(), q.Name()); rerr != nil && !errors.Is(rerr, errors.ErrUnsupported) {
		e.warnf("queue %q not registered, so dashboards and \"jobqueue queues\" do not list it: %v", q.Name(), rerr)
	}
	if in.json {
		out := map[string]any{"queue": q.Name(), "enqueued": ids, "duplicate": false}
		if durability.Enabled() {
			out["durable"] = !notDurable
		}
		e.printJSON(out)
	} else {
		for _, id := range ids {
			fmt.Fprintln(e.stdout, id)
		}
	}
	if notDurable {
		e.errorf("not durable: %d job(s) stored in queue %q, but %s; a failover before the replicas have them may lose them",
			len(ids), q.Name(), strings.TrimPrefix(err.Error(), jobqueue.ErrNotDurable.Error()+": "))
		return exitError
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
	in := e.inspection("retry", "ID... | --all-dead [flags]", "Send dead jobs back to pending with fresh attempts. An ID may be the start of a job's id, when no other job's starts so.")
	allDead := in.fs.Bool("all-dead", false, "retry every dead job")
	pos, code, ok := in.parse(args, 0, -1)
	if !ok {
		return code
	}
	if *allDead == (len(pos) > 0) {
		return e.fail(usagef("give job ids or --all-dead, not both or neither"))
	}
	q, closeQ, code := in.queue(ctx)
	if q == nil {
		return code
	}
	defer closeQ()
	var ids []string
	if *allDead {
		// Collect every dead id first, then retry them: retrying while
		// paging would shift the pages under the loop.
		for offset := 0; ; offset += 500 {
			batch, err := q.List(ctx, jobqueue.StateDead, offset, 500)
			if err != nil {
				return e.fail(err)
			}
			ids = append(ids, batch...)
			if len(batch) < 500 {
				break
			}
		}
		ids = slices.Compact(ids)
	} else {
		ids = pos
	}
	r := e.eachJob(ctx, q, ids, !*allDead, "retry", q.RetryDead)
	if in.json {
		e.printJSON(map[string]any{"retried": nonNil(r.done), "failed": nonNil(r.failed)})
	} else {
		fmt.Fprintf(e.stdout, "retried %d %s\n", len(r.done), plural(len(r.done), "job", "jobs"))
	}
	return r.code
}

// jobsDone is what eachJob did: the ids it acted on, the arguments it
// could not act on, and the exit code.
type jobsDone struct {
	done, failed []string
	code         int
}

// eachJob runs act, named verb in messages, on the job of each argument:
// an id, or the start of one when prefixes is set. It reports each
// failure; the exit code is the gravest failure's (a usage error's over
// another's).
func (e *cmdEnv) eachJob(ctx context.Context, q *jobqueue.Queue, args []string, prefixes bool, verb string, act func(context.Context, string) error) jobsDone {
	var r jobsDone
	for _, arg := range args {
		id, err := arg, error(nil)
		if prefixes {
			id, err = e.resolveID(ctx, q, arg, true)
		}
		if err == nil {
			err = act(ctx, id)
		}
		if err != nil {
			e.errorf("%s %s: %v", verb, arg, err)
			r.failed = append(r.failed, arg)
			r.code = max(r.code, exitCode(err))
			continue
		}
		r.done = append(r.done, id)
	}
	return r
}

func runDelete(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("delete", "ID... [flags]", "Delete jobs, in whatever state they are. An ID may be the start of a job's id, when no other job's starts so.")
	q, closeQ, ids, code := in.open(ctx, e, args, 1, -1)
	if q == nil {
		return code
	}
	defer closeQ()
	r := e.eachJob(ctx, q, ids, true, "delete", q.Delete)
	if in.json {
		e.printJSON(map[string]any{"deleted": nonNil(r.done), "failed": nonNil(r.failed)})
	} else {
		fmt.Fprintf(e.stdout, "deleted %d %s\n", len(r.done), plural(len(r.done), "job", "jobs"))
	}
	return r.code
}

func runCancel(ctx context.Context, e *cmdEnv, args []string) int {
	in := e.inspection("cancel", "ID... [flags]", "Cancel jobs: a pending or scheduled job never runs; a running one is told at its worker's next heartbeat, and ends cancelled.\nAn ID may be the start of a job's id, when no other job's starts so.")
	q, closeQ, ids, code := in.open(ctx, e, args, 1, -1)
	if q == nil {
		return code
	}
	defer closeQ()
	r := e.eachJob(ctx, q, ids, true, "cancel", func(ctx context.Context, id string) error { return q.Cancel(ctx, id) })
	if in.json {
		e.printJSON(map[string]any{"cancelled": nonNil(r.done), "failed": nonNil(r.failed)})
	} else {
		fmt.Fprintf(e.stdout, "cancelled %d %s\n", len(r.done), plural(len(r.done), "job", "jobs"))
	}
	return r.code
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
			return e.fail(err)
		}
		n := st.Pending + st.Scheduled + st.Processing + st.Completed + st.Dead + st.Cancelled
		// The question is for whoever types the answer: plain text, even
		// with --json.
		fmt.Fprintf(e.stderr, "Purge queue %q on %s: delete its %s %s and every counter? Type yes to confirm: ",
			q.Name(), e.store, thousands(n), plural(int(n), "job", "jobs"))
		line, err := readStdin(ctx, func() (string, error) { return bufio.NewReader(e.stdin).ReadString('\n') })
		if errors.Is(interrupted(ctx, err), errInterrupted) {
			fmt.Fprintln(e.stderr)
			e.errorf("interrupted; not purged")
			return exitError
		}
		if strings.TrimSpace(line) != "yes" {
			e.errorf("not purged: the answer was not yes")
			return exitError
		}
	}
	if err := q.Purge(ctx); err != nil {
		return e.fail(err)
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
